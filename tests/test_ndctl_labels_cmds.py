"""``ndctl zero-labels``, ``write-labels``, ``init-labels`` (and ``read-labels`` /
``check-labels`` over the same transport) on the emulated platform.

Expected messages, summaries, exit codes and the order of checks are upstream v81's
(ndctl/dimm.c dimm_action and the actions, libndctl's config-data commands), read from its
source; those reported before any ioctl are also compared with Debian's 76.1 binary in
test_oracle_agrees_before_the_ioctls (the binary cannot reach /dev/nmemN of an emulation).
Index layout: ndctl-daxctl.md 7.4.

Most tests use cxl_test (128 KiB label areas, a 4 KiB payload); the active-DIMM refusals use
the qemu-mixed pmem region of tests/nd_helpers.py.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

import pytest

from fake_sysfs.check import check
from fake_sysfs.frontends.export import export
from fake_sysfs.kernel import nd_ioctl
from fake_sysfs.kernel.lsa import lsa_read
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from pycxl.ndctl.commands.labels import USAGE, index_size
from tests.helpers import Result
from tests.nd_helpers import pmem_state, run_ndctl
from tests.oracle import require_oracle, run_upstream

AREA = 128 << 10


@cache
def _mock_template(root: str) -> Path:
    state = Path(root) / "cxl_test"
    StateStore(state, create=True).init(
        load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True
    )
    return state


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ndlabels")


@pytest.fixture
def mock(tmp_path: Path, template_root: Path) -> Path:
    import shutil

    state = tmp_path / "state"
    shutil.copytree(_mock_template(str(template_root)), state)
    return state


@pytest.fixture
def active(tmp_path: Path, template_root: Path) -> Path:
    """qemu-mixed with region0 (mem2 and mem0) enabled: nmem0 is active."""
    return pmem_state(tmp_path, template_root)


def nd(state: Path, *argv: str, stdin: bytes | None = None) -> Result:
    if stdin is None:
        return run_ndctl(list(argv), state)
    import sys
    from io import BytesIO, TextIOWrapper

    saved = sys.stdin
    sys.stdin = TextIOWrapper(BytesIO(stdin))
    try:
        return run_ndctl(list(argv), state)
    finally:
        sys.stdin = saved


def area(state: Path, name: str) -> bytes:
    k = StateStore(state).load()[0]
    nmem = nd_ioctl.nmem_named(k, name)
    assert nmem is not None
    mem = k.memdevs[nmem.memdev]
    return lsa_read(k, mem, 0, mem.lsa_size)


def usage_of(cmd: str) -> bytes:
    from pycxl.ndctl.commands.labels import OPTIONS
    from pycxl.util.parse_options import usage_text

    return usage_text([USAGE[cmd]], OPTIONS[cmd]).encode()


# -- write, read, zero -------------------------------------------------------------------------


def test_write_then_read_round_trip_and_zero(mock: Path, tmp_path: Path) -> None:
    data = os.urandom(AREA)
    src = tmp_path / "lsa"
    src.write_bytes(data)
    wrote = nd(mock, "write-labels", "-i", str(src), "nmem3")
    assert (wrote.rc, wrote.err) == (0, b"wrote 1 nmem\n")
    assert area(mock, "nmem3") == data
    out = tmp_path / "back"
    read = nd(mock, "read-labels", "-o", str(out), "nmem3")
    assert (read.rc, read.err) == (0, b"read 1 nmem\n")
    assert out.read_bytes() == data
    # The other DIMMs are untouched.
    assert area(mock, "nmem2") == bytes(AREA)
    zeroed = nd(mock, "zero-labels", "nmem3")
    assert (zeroed.rc, zeroed.err) == (0, b"zeroed 1 nmem\n")
    assert area(mock, "nmem3") == bytes(AREA)
    assert nd(mock, "read-labels", "nmem3").out == bytes(AREA)
    # The rebinds left a consistent kernel (fake-sysfs check).
    assert check(View(StateStore(mock).load()[0])).problems == []


def test_write_reads_stdin_and_keeps_the_rest_of_the_area(mock: Path) -> None:
    first = nd(mock, "write-labels", "nmem1", stdin=b"\xaa" * AREA)
    assert (first.rc, first.err) == (0, b"wrote 1 nmem\n")
    short = nd(mock, "write-labels", "nmem1", stdin=b"\x55" * 5000)
    assert short.err == b"wrote 1 nmem\n"
    assert area(mock, "nmem1") == b"\x55" * 5000 + b"\xaa" * (AREA - 5000)
    # An empty input writes nothing, and still counts the DIMM.
    empty = nd(mock, "write-labels", "nmem1", stdin=b"")
    assert (empty.rc, empty.err) == (0, b"wrote 1 nmem\n")
    assert area(mock, "nmem1")[:5000] == b"\x55" * 5000


def test_write_rebinds_the_dimm(mock: Path) -> None:
    result = nd(mock, "write-labels", "-v", "nmem1", stdin=b"x")
    assert b"libndctl: ndctl_dimm_disable: nmem1: disabled\n" in result.err
    assert b"libndctl: ndctl_dimm_enable: nmem1: enabled\n" in result.err
    k = StateStore(mock).load()[0]
    nmem = nd_ioctl.nmem_named(k, "nmem1")
    assert nmem is not None and k.dev(nmem).driver == "nvdimm"


def test_an_unbound_dimm_is_written_and_left_unbound(mock: Path) -> None:
    from pycxl.sysfs.select import open_sysfs
    from tests.helpers import environment

    with environment({"FAKE_SYSFS_STATE": str(mock)}):
        sysfs = open_sysfs()
        sysfs.write("/sys/bus/nd/devices/nmem1/driver/unbind", b"nmem1")
        sysfs.close()
    result = nd(mock, "zero-labels", "-v", "nmem1")
    assert result.rc == 0 and b"disabled" not in result.err
    k = StateStore(mock).load()[0]
    nmem = nd_ioctl.nmem_named(k, "nmem1")
    assert nmem is not None and not k.dev(nmem).driver


def test_write_labels_takes_a_single_dimm(mock: Path) -> None:
    for argv in (["nmem0", "nmem1"], ["all"]):
        result = nd(mock, "write-labels", *argv, stdin=b"x")
        assert result.rc == 129
        assert result.err == (
            b"  Error: write-labels only supports writing a single dimm\n\n"
            + usage_of("write-labels")
        )
    assert area(mock, "nmem0") == bytes(AREA)


def test_several_dimms_and_the_plural(mock: Path) -> None:
    result = nd(mock, "zero-labels", "nmem0", "nmem1", "nmem2")
    assert (result.rc, result.err) == (0, b"zeroed 3 nmems\n")
    assert nd(mock, "zero-labels", "nmem0", "nmem0").err == b"zeroed 2 nmems\n"


# -- init and check ----------------------------------------------------------------------------


def test_init_then_check(mock: Path) -> None:
    fresh = nd(mock, "check-labels", "nmem4")
    assert (fresh.rc, fresh.err) == (1, b"successfully verified 0 nmem label\n")
    init = nd(mock, "init-labels", "nmem4", "nmem5")
    assert (init.rc, init.err) == (0, b"initialized 2 nmems\n")
    check = nd(mock, "check-labels", "nmem4", "nmem5", "nmem6")
    assert (check.rc, check.err) == (0, b"successfully verified 2 nmem labels\n")
    again = nd(mock, "init-labels", "nmem4")
    assert (again.rc, again.err) == (
        1,
        b"nmem4: error: labels already initialized\ninitialized 0 nmem\n",
    )
    forced = nd(mock, "init-labels", "-f", "nmem4")
    assert (forced.rc, forced.err) == (0, b"initialized 1 nmem\n")


def test_init_lays_out_the_index_blocks(mock: Path) -> None:
    """7.4 and 7.3 step 4: 128-byte labels for 1.1, seq 3 then 2, every slot free."""
    assert nd(mock, "init-labels", "nmem2").rc == 0
    data = area(mock, "nmem2")
    size, nslot = index_size(AREA, 128)
    assert (size, nslot) == (256, 1020)
    for which, seq in ((0, 3), (1, 2)):
        block = data[which * size : (which + 1) * size]
        assert block[:16] == b"NAMESPACE_INDEX\0"
        assert block[19] == 0  # labelsize code: 128 bytes
        assert int.from_bytes(block[20:24], "little") == seq
        assert int.from_bytes(block[24:32], "little") == which * size  # myoff
        assert int.from_bytes(block[40:48], "little") == (1 - which) * size  # otheroff
        assert int.from_bytes(block[48:56], "little") == 2 * size  # labeloff
        assert int.from_bytes(block[56:60], "little") == nslot
        assert block[60:64] == b"\x01\x00\x01\x00"  # version 1.1
        # ALIGN(nslot, 64) bits of the free bitmap are set (libndctl sets whole longs).
        assert block[72 : 72 + 128] == b"\xff" * 128
    index = json.loads(nd(mock, "read-labels", "-I", "-j", "nmem2").out)
    assert [(b["major"], b["minor"], b["labelsize"], b["seq"]) for b in index[0]["index"]] == [
        (1, 1, 128, 3),
        (1, 1, 128, 2),
    ]


def test_init_version_1_2_gives_256_byte_labels(mock: Path) -> None:
    assert nd(mock, "init-labels", "-V", "v1.2", "nmem7").err == b"initialized 1 nmem\n"
    shown = json.loads(nd(mock, "read-labels", "-j", "nmem7").out)[0]
    assert [(b["major"], b["minor"], b["labelsize"]) for b in shown["index"]] == [(1, 2, 256)] * 2
    assert shown["index"][0]["nslot"] == index_size(AREA, 256)[1]
    # 256-byte labels carry the two guids.
    assert {"type_guid", "abstraction_guid"} <= set(shown["label"][0])
    assert nd(mock, "check-labels", "nmem7").err == b"successfully verified 1 nmem label\n"


def test_check_labels_says_why_with_verbose(mock: Path) -> None:
    result = nd(mock, "check-labels", "-v", "nmem0")
    assert b"libndctl: __label_validate: nsindex0 signature invalid\n" in result.err
    assert result.err.endswith(b"successfully verified 0 nmem label\n")


def test_bad_label_versions(mock: Path) -> None:
    for version in ("2", "1.3", "v1", ""):
        result = nd(mock, "init-labels", "-V", version, "nmem0")
        assert (result.rc, result.err) == (
            1,
            f"'{version}' is not a valid label version\ninitialized 0 nmem\n".encode(),
        )
    assert area(mock, "nmem0") == bytes(AREA)


# -- refusals ----------------------------------------------------------------------------------


def test_an_active_dimm_is_refused(active: Path) -> None:
    before = StateStore(active).load()[0].memdevs[0].lsa
    zero = nd(active, "zero-labels", "nmem0")
    assert (zero.rc, zero.err) == (1, b"nmem0: regions active, abort label write\nzeroed 0 nmem\n")
    init = nd(active, "init-labels", "-f", "nmem0")
    assert (init.rc, init.err) == (
        1,
        b"nmem0: regions active, abort label write\ninitialized 0 nmem\n",
    )
    # Upstream counts the single DIMM of write-labels before the write is refused.
    write = nd(active, "write-labels", "nmem0", stdin=b"x")
    assert (write.rc, write.err) == (0, b"dimm is active, abort label write\nwrote 1 nmem\n")
    assert StateStore(active).load()[0].memdevs[0].lsa == before


def test_bad_names(mock: Path) -> None:
    for cmd in ("zero-labels", "write-labels", "init-labels"):
        result = nd(mock, cmd, "foo")
        assert result.rc == 129
        assert result.err == b"'foo' is not a valid dimm name\n" + usage_of(cmd)
        none = nd(mock, cmd)
        assert (none.rc, none.err) == (129, usage_of(cmd))
    # A well-formed name that matches nothing: nothing attempted.
    assert nd(mock, "zero-labels", "nmem99").err == b"zeroed 0 nmem\n"
    assert nd(mock, "zero-labels", "nmem99").rc == 0


def test_extents_beyond_the_area(mock: Path) -> None:
    for argv in (["-s", str(AREA + 1)], ["-O", "8", "-s", str(AREA)], ["-O", "1"]):
        result = nd(mock, "zero-labels", *argv, "nmem0")
        assert (result.rc, result.err) == (1, b"zeroed 0 nmem\n"), argv
        read = nd(mock, "read-labels", *argv, "nmem0")
        assert (read.rc, read.err, read.out) == (1, b"read 0 nmem\n", b""), argv
    verbose = nd(mock, "zero-labels", "-v", "-s", str(AREA + 1), "nmem0")
    assert (
        f"libndctl: ndctl_cmd_cfg_read_set_extent: read {AREA + 1} from 0 exceeds {AREA}\n"
    ).encode() in verbose.err
    assert area(mock, "nmem0") == bytes(AREA)


def test_libndctl_offset_arithmetic(mock: Path) -> None:
    """libndctl v81 transfers [0, size) and prints from the offset (config_data's note):
    --size must reach past --offset, and a print whose next 4 KiB step passes the size
    fails with EINVAL (after printing what it had)."""
    data = bytes(range(256)) * 32
    assert nd(mock, "write-labels", "nmem0", stdin=data).rc == 0
    within = nd(mock, "read-labels", "-O", "100", "-s", "8000", "nmem0")
    assert (within.rc, within.out) == (0, data[100:8000])
    empty = nd(mock, "read-labels", "-O", "100", "-s", "100", "nmem0")
    assert (empty.rc, empty.err, empty.out) == (0, b"read 1 nmem\n", b"")
    past = nd(mock, "read-labels", "-O", "100", "-s", "50", "nmem0")
    assert (past.rc, past.err, past.out) == (1, b"read 0 nmem\n", b"")
    late = nd(mock, "read-labels", "-O", "5000", "-s", "8000", "nmem0")
    assert (late.rc, late.err, late.out) == (1, b"read 0 nmem\n", data[5000:8000])


def test_a_missing_input_file(mock: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such"
    result = nd(mock, "write-labels", "-i", str(missing), "nmem0")
    assert (result.rc, result.err) == (
        1,
        f"failed to open: {missing}: (No such file or directory)\nwrote 0 nmem\n".encode(),
    )


# -- upstream's binary, where no ioctl is needed -----------------------------------------------

#: Command lines whose whole outcome is decided before the first ioctl (usage, names, the
#: label version, the input file, the single-DIMM rule, an active DIMM), run on an exported
#: twin of the active platform.
BEFORE_IOCTLS = [
    ["zero-labels", "-h"],
    ["write-labels", "-h"],
    ["init-labels", "-h"],
    ["zero-labels"],
    ["zero-labels", "foo", "bar"],
    ["init-labels", "foo"],
    ["init-labels", "-V", "3", "nmem0"],
    ["write-labels", "-i", "/nonexistent/lsa", "nmem0"],
    ["write-labels", "nmem0", "nmem1"],
    ["write-labels", "-i", "/dev/null", "nmem0"],
    ["zero-labels", "nmem0"],
    ["zero-labels", "nmem9"],
    ["zero-labels", "-b", "foo", "all"],
]


def test_oracle_agrees_before_the_ioctls(active: Path, tmp_path: Path) -> None:
    require_oracle()
    tree = tmp_path / "tree"
    export(View(StateStore(active).load()[0]), tree)
    upstream = run_upstream(tree, [["/usr/bin/ndctl", *argv] for argv in BEFORE_IOCTLS])
    for argv, up in zip(BEFORE_IOCTLS, upstream, strict=True):
        mine = nd(active, *argv, stdin=b"")
        assert (mine.out, mine.err, mine.rc) == (up.out, up.err, up.rc), argv
