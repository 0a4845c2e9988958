"""The device ioctls against upstream: Debian's ``cxl`` and ``ndctl`` (76.1) talk to the
emulated devices through ``fake-sysfs run``'s ioctl shim (fake_sysfs/frontends/devioctl.py),
and pycxl, in process, to its twin platform.

Both sides run one session on ``cxl_test``: the mailbox listings (health, partition and
identify, alert configuration), the CXL label commands (refused while the nvdimm bridge
holds the memdev, then through, then zeroed), a partition change the mock device refuses,
and the ND label commands (init, check, write, zero, read in binary and JSON, the
refusals). Every step must print the same and exit the same, files written with ``-o``
must hold the same bytes, and at the end both kernels must hold the same state.

Normalized, each for a documented reason: v81-only listing keys and usage lines
(tests/compat_v76.py). Needs root, FUSE, a C compiler and the Debian packages: skipped
otherwise, required in CI.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.frontends import devioctl
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests import compat_v76
from tests.helpers import Result, run_cxl
from tests.nd_helpers import run_ndctl
from tests.oracle import require_oracle
from tests.test_fuse_mount import require_fuse
from tests.upstream_session import run_session

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
UNBIND = "echo pmem0 > /sys/bus/cxl/drivers/cxl_nvdimm/unbind"
BIND = "echo pmem0 > /sys/bus/cxl/drivers/cxl_nvdimm/bind"

#: The session: ``{out}`` is each side's own output directory, ``{data}`` the shared input.
SESSION = [
    "cxl list -M -H -I -A",
    "cxl list -M -H -I -A -u",
    "cxl list -m mem9 -I -H -u",
    "cxl read-labels mem0 -o {out}/mem0.lsa",
    "cxl read-labels mem1 -s 64 -O 128",
    "cxl read-labels mem0 -s 64 -O 131072",
    "cxl read-labels mem99",
    "cxl write-labels mem0 -i {data}/random",
    "cxl zero-labels mem0",
    "cxl set-partition mem0 -t pmem -s 256M",
    f"sh -c '{UNBIND}'",
    "cxl write-labels mem0 -i {data}/random",
    "cxl read-labels mem0 -s 4096 -o {out}/mem0.back",
    "cxl zero-labels mem0 -s 2048 -O 1024",
    "cxl read-labels mem0 -s 4096 -o {out}/mem0.zeroed",
    "cxl write-labels mem0 -s 512 -O 4096 -i {data}/random",
    "cxl read-labels mem0 -s 8192",
    # Bad input: beyond the label area, bad offsets and sizes, a missing file, partitions
    # the device cannot take; the device must be left as it was.
    "cxl read-labels mem0 -O 131072 -s 1",
    "cxl read-labels mem0 -O 131071 -s 2",
    "cxl read-labels mem0 -s 0x20001",
    "cxl zero-labels mem0 -s 999999999",
    "cxl write-labels mem0 -O 131000 -i {data}/random",
    "cxl write-labels mem0 -i /nonexistent/labels",
    "cxl write-labels mem0 mem1 -i {data}/random",
    "cxl read-labels mem0 -O x",
    "cxl set-partition mem0 -t pmem -s 100M",
    "cxl set-partition mem0 -t pmem -s 64G",
    "cxl set-partition mem0 -t volatile",
    "cxl set-partition mem0 -t ram -s 0",
    "cxl set-partition mem99 -t ram",
    "cxl read-labels mem0 -s 4096 -o {out}/mem0.after-bad-input",
    f"sh -c '{BIND}'",
    "ndctl read-labels nmem1 -j -I",
    "ndctl init-labels nmem1",
    "ndctl check-labels nmem1",
    "ndctl read-labels nmem1 -j",
    "ndctl init-labels nmem1",
    "ndctl init-labels -f -V 1.2 nmem1",
    "ndctl read-labels nmem1 -u",
    "ndctl check-labels nmem1 nmem2",
    "ndctl write-labels nmem2 -i {data}/random",
    "ndctl read-labels nmem2 -s 4096 -o {out}/nmem2.lsa",
    "ndctl zero-labels nmem2 -s 1024",
    "ndctl read-labels nmem2 -s 2048",
    "ndctl read-labels nmem3 -O 200000 -s 16",
    "ndctl zero-labels nmem9 nmem8",
    "cxl list -M -H -I -A",
]

#: The same on QEMU's type-3 devices (no health record, alert configuration supported, a
#: 256 MiB label area), in small steps.
QEMU_SESSION = [
    "cxl list -M -H -I -A",
    "cxl list -M -H -I -A -u",
    "cxl read-labels mem0 -s 256 -o {out}/mem0.lsa",
    "cxl read-labels mem1 -s 64 -O 268435440",
    "cxl set-partition mem3 -t ram -s 256M",
    "cxl set-partition mem3 -t pmem -s 1G",
    "ndctl read-labels nmem0 -j -I",
    "ndctl write-labels nmem0 -s 4096 -i {data}/random",
    "ndctl read-labels nmem0 -s 4096 -o {out}/nmem0.lsa",
    "ndctl init-labels -f nmem0",
    "ndctl read-labels nmem0 -j -u -I",
    "cxl list -M -I",
]


def _boot(state: Path, preset: str) -> None:
    state.mkdir(mode=0o700)
    StateStore(state).init(load_preset(preset), Origin("preset", preset), force=True)


def _line(line: str, out: Path, data: Path) -> list[str]:
    return shlex.split(line.format(out=out, data=data))


def _pycxl(argv: list[str], state: Path, tmpdir: Path | None = None) -> Result:
    tool, rest = argv[0], argv[1:]
    if tool == "ndctl":
        return run_ndctl(rest, state)
    if tool == "cxl":
        return run_cxl(rest, {"FAKE_SYSFS_STATE": str(state)})
    env = None if tmpdir is None else {**os.environ, "TMPDIR": str(tmpdir)}
    proc = subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", *argv],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return Result(proc.stdout, proc.stderr, proc.returncode)


def _stored(state: Path) -> str:
    data = StateStore(state).load()[0].to_json()
    del data["log"], data["printed_once"]
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize(
    ("preset", "session", "files"),
    [
        (
            "cxl_test",
            SESSION,
            ("mem0.lsa", "mem0.back", "mem0.zeroed", "mem0.after-bad-input", "nmem2.lsa"),
        ),
        ("qemu-mixed", QEMU_SESSION, ("mem0.lsa", "nmem0.lsa")),
    ],
)
def test_device_ioctls_twins(
    tmp_path: Path, preset: str, session: list[str], files: tuple[str, ...]
) -> None:
    require_oracle()
    require_fuse()
    if devioctl.shim_library(str(tmp_path)) is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no C compiler to build the ioctl shim (apt-get install gcc)")
        pytest.skip("no C compiler to build the ioctl shim")
    data = tmp_path / "data"
    data.mkdir()
    (data / "random").write_bytes(os.urandom(8192))
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    _boot(ours, preset)
    _boot(theirs, preset)
    out_up, out_py = tmp_path / "out-upstream", tmp_path / "out-pycxl"
    out_up.mkdir()
    out_py.mkdir()

    upstream = run_session(
        [_line(line, out_up, data) for line in session], theirs, tmp_path / "results"
    )
    for line, up in zip(session, upstream, strict=True):
        mine = _pycxl(_line(line, out_py, data), ours)
        # The commands that print memdev objects print v81's keys.
        prints_memdevs = line.startswith(("cxl list", "cxl set-partition"))
        mine_out = compat_v76.stdout(mine.out) if prints_memdevs else mine.out
        memdev_command = line.startswith("cxl") and not line.startswith("cxl list")
        mine_err = (compat_v76.memdev_stderr if memdev_command else compat_v76.stderr)(mine.err)
        assert (mine_out, mine_err, mine.rc) == (up.out, up.err, up.rc), line

    for name in files:
        assert (out_py / name).read_bytes() == (out_up / name).read_bytes(), name
    assert _stored(ours) == _stored(theirs)


@pytest.mark.parametrize("deep", [False, True], ids=["tmp", "deep-tmpdir"])
def test_pycxl_real_ioctl_path_meets_the_emulated_device(tmp_path: Path, deep: bool) -> None:
    """pycxl on a real /sys (``PYCXL_SYSFS_ROOT=/sys`` under ``fake-sysfs run``) sends the
    real ioctls (pycxl/sysfs/ioctl.py, ndioctl.py), which the shim carries to the emulated
    device: the same answers as pycxl's in-process route to it. ``deep``: the run's
    directory (TMPDIR) is too deep for a socket address, which both ends must get around."""
    require_fuse()
    if devioctl.shim_library(str(tmp_path)) is None:
        pytest.skip("no C compiler to build the ioctl shim")
    state = tmp_path / "state"
    _boot(state, "cxl_test")
    tmpdir = None
    if deep:
        tmpdir = tmp_path / ("d" * 60) / ("e" * 60)
        tmpdir.mkdir(parents=True)
    bindir = Path(sys.executable).parent
    for argv in (
        ["cxl", "list", "-M", "-H", "-I", "-A", "-F", "-u"],
        ["ndctl", "read-labels", "-j", "nmem0", "nmem1"],
    ):
        line = ["env", "PYCXL_SYSFS_ROOT=/sys", str(bindir / argv[0]), *argv[1:]]
        real = _pycxl(line, state, tmpdir)
        emulated = (
            run_cxl(argv[1:], {"FAKE_SYSFS_STATE": str(state)})
            if argv[0] == "cxl"
            else (run_ndctl(argv[1:], state))
        )
        assert (real.out, real.err, real.rc) == (emulated.out, emulated.err, emulated.rc), argv
