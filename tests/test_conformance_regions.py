"""Conformance of the region commands: pycxl in-process against the upstream binary.

For every preset, one sequence of command lines (regions of 1, 2, 3, 4, 8 and 16 ways, ram
and pmem, across host bridges and switches; default and explicit size, granularity, target
order; disable, enable, destroy; memdev and port disable/enable; reserve and free DPA) runs
twice on twin platforms (tests/twin.py): by pycxl in this process on twin A, and by Debian's
``/usr/bin/cxl`` 76.1 on the FUSE mount of twin B. Each step must print the same (stdout,
messages, exit status), and at each checkpoint ``cxl list -vvv -BPEMDRT -i`` and the
sysfs trees below /sys/bus/cxl and /sys/devices must be identical, and ``fake-sysfs check``
must pass on both.

What v76.1 and v81 legitimately differ in, and how it is handled:

* v76.1 has no ram path in create-region ("region type 'ram' not supported yet"): a ram
  creation runs on twin B with pycxl through the mount (plain file I/O on the mounted
  /sys, so every store still goes through the FUSE frontend); the two pycxl runs must agree
  exactly, and the oracle then lists, disables, enables and destroys those regions.
* A failed create-region exits 0 in v76.1 (cxl-cli.md §5.3, quirk a), 1 in v81.
* v81 adds keys to the JSON and usage lines (tests/compat_v76.py), and the available space
  to the "exceeds max available space" message (tests/twin.py).
* A pmem region's uuid is random on each side: its value is masked.
* Mailbox data (``-H -I -A``, part of ``-vvv``): the oracle cannot reach the emulated
  mailbox through the mount (an ioctl on /dev/cxl/memN; oracle.md), so its listing lacks
  ``health``, ``partition_info``, ``alert_config`` and its stderr has libcxl's open
  failures; both are removed (tests/twin.py).
* v81's disable-memdev checks ``decoders_committed`` and says "is part of an active
  region" / "Forcing ... disable" before a forced disable; v76.1 does neither.
* v76.1's create-region says "create_region: create_region: unable to determine region
  size" (the function name twice).
* v81 builds every listed region's mappings (for ``qos_class_mismatch``), v76.1 only with
  -T: only v81 reports an empty target slot ("lookup failure") in a plain ``list -R``.

Ways covered: x1 (qemu-pmem pmem, qemu-vmem ram), x2 (qemu-interleave, qemu-mixed,
cxl_test), x3 (scale:3x1 ram and pmem, cxl_test-xor), x4 (qemu-switch through a switch,
qemu-interleave, scale:4x2x2, cxl_test-xor XOR), x6 (cxl_test-xor), x8 (cxl_test,
scale:2x2x2 ram and pmem), x16 (scale:4x4 ram and pmem, scale-64 below one bridge's
switches). Refused as the kernel refuses: x8 and x16 over scale:4x2x2's x4 window at 4k
(the switches would need a granularity beyond 16k).

The oracle walks the FUSE mount at about 1 ms per file operation, so its full listing of
scale-256 takes about 23 s and of scale-1024 about 90 s. For those two presets the
commands still run through the mount (pycxl on twin B, the oracle's listing on a static
export of twin B): what is checked there is that the in-process and the FUSE paths make the
same kernel, and that the oracle lists it as pycxl does.

Needs root, FUSE and the oracle: skipped without them, except under CI=true.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_sysfs.check import check
from fake_sysfs.frontends.export import export
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests import compat_v76
from tests.helpers import Result, run_cxl
from tests.oracle import require_oracle, run_upstream, unavailable_reason
from tests.twin import (
    Twin,
    init_state,
    interleave_order,
    listing_text,
    same_step,
    tree_diff,
    unavailable,
    without_mailbox_data,
)

LIST = ["-vvv", "-BPEMDRT", "-i"]


@dataclass(frozen=True)
class Step:
    """A command line after ``cxl`` (or a function of twin A's state giving one).

    ``ram``: v76.1 cannot do it, so twin B gets it from pycxl through the mount.
    ``check``: not a command, a checkpoint (listing, trees, fake-sysfs check)."""

    line: str | Callable[[Path], str] = ""
    ram: bool = False
    check: bool = False
    #: pycxl's (v81) exit status: the sequences are meant to succeed, but for the failures
    #: they contain on purpose.
    rc: int = 0


CHECK = Step(check=True)


def ram(line: str | Callable[[Path], str] | Step) -> Step:
    if isinstance(line, Step):
        return Step(line.line, ram=True, rc=line.rc)
    return Step(line, ram=True)


def ordered(
    decoder: str, ways: int, rest: str = "", type_: str = "pmem", exclude: tuple[str, ...] = ()
) -> Callable[[Path], str]:
    """create-region on ``decoder`` over ``ways`` memdevs (not those of ``exclude``) in an
    order the kernel accepts."""

    def line(state: Path) -> str:
        mems = " ".join(interleave_order(state, decoder, ways, exclude))
        return f"create-region -d {decoder} -t {type_} {rest} -m {mems}".replace("  ", " ")

    return line


# One sequence per preset (two for qemu-mixed and cxl_test): each twin pair boots once.
# Ram is allocated before pmem on a memdev (the kernel allocates DPA in decoder order, ram
# first: a ram allocation after a pmem one fails with ENOSPC, as a real device would).
SEQUENCES: dict[str, list[Step]] = {
    # x1, one device (256 MiB of pmem): default size, then explicit size and granularity;
    # the whole region life cycle; DPA; the memdev and its port.
    "qemu-pmem": [
        Step("create-region -d decoder0.0 -t pmem"),
        CHECK,
        Step("disable-region region0"),
        Step("enable-region region0"),
        Step("disable-region region0"),
        Step("destroy-region region0"),
        Step("create-region -d decoder0.0 -t pmem -m mem0 -s 256M -g 4096"),
        Step("destroy-region -f region0"),
        Step("reserve-dpa mem0 -t pmem -s 256M"),
        Step("free-dpa mem0 -t pmem"),
        Step("disable-memdev -f mem0"),
        Step("enable-memdev mem0"),
        Step("disable-port -f port1"),
        Step("enable-port -m port1"),
        Step("create-region -d decoder0.0 -t pmem -m mem0"),
        CHECK,
    ],
    # A volatile device: a ram region (default size), its life cycle by the oracle; a pmem
    # region it has no capacity for.
    "qemu-vmem": [
        ram("create-region -d decoder0.0 -t ram"),
        CHECK,
        Step("disable-region region0"),
        Step("enable-region region0"),
        Step("destroy-region -f region0"),
        Step("create-region -d decoder0.0 -t pmem -m mem0", rc=1),
        Step("reserve-dpa mem0 -t ram -s 256M"),
        Step("free-dpa mem0 -t ram"),
        ram("create-region -d decoder0.0 -t ram -m mem0 -s 256M"),
        CHECK,
    ],
    # Two host bridges, x2 window: the walk order (fails: an HB1 device at position 0), x2
    # twice, then x4 over the same devices after both are destroyed.
    "qemu-interleave": [
        Step("create-region -d decoder0.0 -t pmem", rc=1),
        Step("create-region -d decoder0.0 -t pmem -m mem2 mem0 -s 512M"),
        Step(ordered("decoder0.0", 2, "-s 512M -g 8192", exclude=("mem0", "mem2"))),
        CHECK,
        Step("destroy-region -f region0"),
        Step("destroy-region -f region1"),
        Step(ordered("decoder0.0", 4)),
        Step("disable-region all"),
        Step("enable-region all"),
        CHECK,
    ],
    # Volatile + persistent: ram x2, pmem x1 on the host bridges' own windows.
    "qemu-mixed": [
        ram(ordered("decoder0.0", 2, "-s 512M", "ram")),
        ram("create-region -d decoder0.1 -t ram -m mem2 -s 256M"),
        Step("create-region -d decoder0.1 -t pmem -m mem3 -s 256M"),
        Step("create-region -d decoder0.2 -t pmem -m mem1"),
        CHECK,
        Step("disable-memdev -f mem3"),
        Step("enable-memdev mem3"),
        Step("destroy-region -f region2"),
        Step("reserve-dpa mem3 -t pmem -s 256M"),
        Step("free-dpa mem3 -t pmem"),
        CHECK,
    ],
    # A switch below one host bridge: x4 through it, then x2 and x1 side by side.
    "qemu-switch": [
        Step("create-region -d decoder0.0 -t pmem -m mem0 mem1 mem2 mem3"),
        CHECK,
        Step("destroy-region -f region0"),
        Step("create-region -d decoder0.0 -t pmem -m mem1 mem3 -s 512M -g 4096"),
        Step("create-region -d decoder0.0 -t pmem -m mem0 -s 256M"),
        Step("disable-port -f port2"),
        Step("enable-port -m port2"),
        Step("disable-region region1"),
        CHECK,
    ],
    # cxl_test: its auto region torn down, a ram x2, x8 pmem across host bridges and
    # switches, x1 on the single-port host bridge; ports, DPA.
    "cxl_test": [
        Step("disable-region region0"),
        Step("destroy-region region0"),
        ram(ordered("decoder0.1", 2, "-s 512M", "ram")),
        Step(ordered("decoder0.3", 8)),
        Step("create-region -d decoder0.4 -t pmem -m mem8 -s 256M -g 1024"),
        CHECK,
        Step("disable-region region1"),
        Step("enable-region region1"),
        Step("destroy-region -f region2"),
        Step("reserve-dpa mem9 -t pmem -s 256M"),
        Step("free-dpa mem9 -t pmem"),
        Step("disable-memdev -f mem9"),
        Step("enable-memdev mem9"),
        CHECK,
    ],
    # XOR windows: x1, x4 over two host bridges, x3 over three (in window order: regions
    # join a port in increasing HPA order, and the windows are in that order); then x6.
    "cxl_test-xor": [
        Step("create-region -d decoder0.0 -t pmem -m mem2 -s 512M"),
        Step(ordered("decoder0.1", 4, "-s 1G")),
        Step(ordered("decoder0.2", 3, "-s 768M")),
        CHECK,
        # Newest first: DPA is freed from the last allocated decoder of each port down.
        Step("destroy-region -f region2"),
        Step("destroy-region -f region1"),
        Step("destroy-region -f region0"),
        Step(ordered("decoder0.2", 6)),
        CHECK,
    ],
    # Three host bridges: ram and pmem x3.
    "scale:3x1": [
        ram(ordered("decoder0.0", 3, "", "ram")),
        Step(ordered("decoder0.0", 3)),
        CHECK,
        Step("disable-region all"),
        # region0 first would fail: its endpoint decoders are not the last allocated on
        # their ports (hdm_end), so freeing their DPA is refused (EBUSY).
        # The pmem region is region4: each of the four root decoders holds an id.
        Step("destroy-region region4"),
        Step("destroy-region region0"),
        CHECK,
    ],
    # Two host bridges x two root ports x two switch ports: ram and pmem x8.
    "scale:2x2x2": [
        ram(ordered("decoder0.0", 8, "-s 2G", "ram")),
        Step(ordered("decoder0.0", 8)),
        CHECK,
        Step("disable-port -f port1"),
        Step("enable-port -m port1"),
        CHECK,
    ],
    # Four host bridges x two root ports x two switch ports. x16 and x8 over the x4
    # window are refused at the last target: below an x4 root at 4k the host bridges
    # decode at 16k, and the switches below would need 16k x (the bridge's ways), beyond
    # the 16k a decoder can encode (cxl_port_setup_targets). x4 (one device per bridge)
    # works (ram), and pmem x4 through both switches of one bridge.
    "scale:4x2x2": [
        ram(Step(ordered("decoder0.0", 16, "-s 4G", "ram"), rc=1)),
        Step(ordered("decoder0.0", 8), rc=1),
        ram(ordered("decoder0.0", 4, "-s 1G", "ram")),
        Step(ordered("decoder0.1", 4, "-s 1G")),
        CHECK,
        Step("destroy-region -f region1"),
        CHECK,
    ],
    # ram and pmem x16 over four host bridges of four root ports each (no switches).
    "scale:4x4": [
        ram(ordered("decoder0.0", 16, "", "ram")),
        Step(ordered("decoder0.0", 16)),
        CHECK,
    ],
    # 4 x 4 x 4: ram x4 over the four bridges, pmem x16 below one host bridge (four root
    # ports, four switch ports each).
    "scale-64": [
        ram(ordered("decoder0.0", 4, "-s 1G", "ram")),
        Step(ordered("decoder0.1", 16, "-s 4G")),
        CHECK,
    ],
    # Option spellings and filters (decoder "0.0" and "root", comma lists, hex and
    # lower-case sizes, -w with one target, -b), region actions over "all" and -d, DPA by
    # decoder and serial, memdevs and ports by lists, -e and -m.
    "qemu-mixed/options": [
        Step("create-region -d 0.0 -t pmem -m mem2,mem0 -s 0x20000000"),
        Step("create-region -d decoder0.1 -w 1 -t pmem -m mem3 -s 256m"),
        Step("create-region -d decoder0.2 -t pmem -m mem1 -s 256M -g 1024 -w 1"),
        Step("create-region -d decoder0.2 mem0", rc=1),
        Step("create-region -d decoder0.2 -b ACPI.CXL -t pmem -m mem0 -s 256M"),
        Step("create-region -d decoder0.2 -b nobus -t pmem -m mem0 -s 256M", rc=1),
        ram(Step("create-region -d root -t volatile -m mem0", rc=1)),
        Step("list -R -u"),
        CHECK,
        Step("disable-region -d decoder0.0 all"),
        Step("enable-region -d 0.0 all"),
        Step("disable-region -b ACPI.CXL region0 region1"),
        Step("enable-region all"),
        Step("destroy-region -d decoder0.1 all", rc=1),
        Step("destroy-region -f region1 region99"),
        Step("reserve-dpa mem3 -t pmem -s 256M -d decoder5.1", rc=1),
        Step("reserve-dpa mem3 -t pmem -s 256M"),
        Step("free-dpa mem3 -t pmem -d decoder5.1", rc=1),
        Step("free-dpa mem3"),
        Step("reserve-dpa mem3 -t ram"),
        Step("free-dpa mem3 -t ram"),
        Step("reserve-dpa -S 3 -t pmem -s 256M", rc=1),
        Step("disable-memdev -f mem0 mem1"),
        Step("enable-memdev mem0 mem1"),
        Step("disable-memdev -f all"),
        Step("enable-memdev all"),
        Step("disable-port -f -e port1"),
        Step("enable-port -e port1"),
        Step("disable-port port2", rc=1),
        Step("disable-port -f port2"),
        Step("enable-port port2"),
        Step("enable-port -m port2"),
        CHECK,
    ],
    # cxl_test: x4 over both bridges, one that no longer fits, x1 at granularities the
    # x1 window allows; regions whose memdev or port went away; region actions by
    # decoder; DPA on two memdevs at once; the bus.
    "cxl_test/options": [
        Step("create-region -d decoder0.3 -t pmem -m mem0 mem1 mem4 mem5"),
        Step("create-region -d decoder0.3 -t pmem -m mem2 mem3 mem6 mem7 -w 4 -s 1G", rc=1),
        Step("create-region -d decoder0.4 -t pmem -m mem8 -g 8192 -s 256M"),
        Step("create-region -d decoder0.4 -t pmem -m mem9 -g 256 -s 256M"),
        Step("create-region -d decoder0.2 -t pmem -m mem2 -s 256M", rc=1),
        Step("list -R -u -T"),
        # mem8's endpoint decoders go with it: its region loses a target for good.
        Step("disable-memdev -f mem8"),
        Step("enable-region all", rc=1),
        CHECK,
        Step("destroy-region -f all", rc=1),
        Step("enable-memdev mem8"),
        Step("disable-port -f port1"),
        Step("enable-region all", rc=1),
        Step("enable-port -m port1"),
        Step("enable-region all", rc=1),
        Step("disable-region -d decoder0.0 all"),
        Step("destroy-region -d decoder0.0 all", rc=1),
        Step("destroy-region -f -d decoder0.0 all", rc=1),
        Step("reserve-dpa mem0 mem4 -t ram -s 512M"),
        Step("free-dpa mem0 mem4 -t ram"),
        CHECK,
        Step("disable-bus -f root0"),
        Step("list -B -i"),
        CHECK,
    ],
    # cxl_test: a region whose host bridge goes away; ports by lists, the root and an
    # endpoint; memdevs by serial and in lists with an unknown one; a region disabled,
    # enabled and destroyed twice over.
    "cxl_test/ports": [
        Step("create-region -d decoder0.4 -t pmem -m mem8 mem9 -s 512M"),
        Step("disable-port -f port3"),
        Step("list -R -i -T"),
        Step("enable-region all", rc=1),
        Step("destroy-region -f all", rc=1),
        Step("enable-port port3"),
        Step("enable-port -m port3"),
        Step("list -M -p port3"),
        CHECK,
        Step("disable-port -f port1 port2"),
        Step("enable-port -m port1 port2"),
        Step("disable-memdev -f -S 1"),
        Step("enable-memdev -S 1"),
        Step("disable-memdev -f mem0 mem99"),
        Step("enable-memdev mem99 mem0"),
        Step("disable-port -f root0"),
        Step("disable-port -f endpoint5"),
        Step("enable-port endpoint5"),
        Step("create-region -d decoder0.3 -t pmem -m mem0 mem1"),
        Step("create-region -d decoder0.3 -t pmem -m mem0 mem1", rc=1),
        Step("disable-region region3"),
        Step("disable-region region3"),
        Step("enable-region region3"),
        Step("enable-region region3"),
        Step("destroy-region region3", rc=1),
        Step("destroy-region -f region3"),
        Step("destroy-region -f region0"),
        Step("list -R -i"),
        CHECK,
    ],
}

#: Presets whose oracle listing through the mount is too slow for CI (see the docstring):
#: pycxl creates on twin A in-process, the oracle lists a static export of it.
EXPORTED = {
    # 4 x 4 x 16: ram x4 over the bridges, pmem x16 below one bridge's switches.
    "scale-256": [ordered("decoder0.0", 4, "-s 1G", "ram"), ordered("decoder0.1", 16, "-s 4G")],
    # 8 x 8 x 16: the x8 window at 4k has no region the kernel can program (its host
    # bridges would decode at 32k); ram x4 and pmem x16 below single bridges.
    "scale-1024": [ordered("decoder0.1", 4, "-s 1G", "ram"), ordered("decoder0.2", 16, "-s 4G")],
}
#: scale-1024 costs about a minute (export and staging of ~170,000 entries): opt in.
LARGE = os.environ.get("PYCXL_CONFORMANCE_LARGE") == "1"


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[Callable[[str], Twin]]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"conformance needs FUSE and the oracle in CI: {reason}")
        pytest.skip(reason)
    made: list[Twin] = []

    def make(preset: str) -> Twin:
        made.append(Twin(preset, tmp_path))
        return made[-1]

    yield make
    for twin in made:
        twin.close()


def _diff(ours: str, theirs: str) -> str:
    lines = difflib.unified_diff(
        ours.splitlines(keepends=True), theirs.splitlines(keepends=True), "pycxl", "oracle"
    )
    return "".join(list(lines)[:60])


def _line(step: Step, state: Path) -> list[str]:
    line = step.line(state) if callable(step.line) else step.line
    return line.split()


def _checkpoint(twin: Twin) -> None:
    ours, theirs = twin.listing()
    assert ours == theirs, _diff(ours, theirs)
    a, b = twin.trees()
    assert a == b, "\n".join(tree_diff(a, b))
    twin.check()


def run_sequence(twin: Twin, steps: list[Step]) -> None:
    """Run ``steps`` on both twins, comparing each step and each checkpoint."""
    pending: list[tuple[list[str], Result]] = []  # oracle steps not run yet

    def flush() -> None:
        if not pending:
            return
        results = twin.oracle([["cxl", *argv] for argv, _ in pending])
        for (argv, ours), theirs in zip(pending, results, strict=True):
            same_step(argv, ours, theirs, oracle=True)
        pending.clear()

    for step in steps:
        if step.check:
            flush()
            _checkpoint(twin)
            continue
        argv = _line(step, twin.a)
        ours = twin.pycxl(*argv)
        assert ours.rc == step.rc, f"cxl {' '.join(argv)}: {ours.err.decode()}"
        if step.ram:
            flush()
            same_step(argv, ours, twin.pycxl_on_mount(*argv), oracle=False)
        else:
            pending.append((argv, ours))
    flush()


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_sequence_matches_the_oracle(twins: Callable[[str], Twin], name: str) -> None:
    run_sequence(twins(name.split("/")[0]), SEQUENCES[name])


@pytest.mark.parametrize("preset", list(EXPORTED))
def test_large_preset_matches_the_oracle(preset: str, tmp_path: Path) -> None:
    if unavailable_reason() is not None:
        require_oracle()
    if preset == "scale-1024" and not LARGE:
        pytest.skip("scale-1024 takes minutes: set PYCXL_CONFORMANCE_LARGE=1")
    state = tmp_path / "state"
    init_state(state, preset)
    env: dict[str, str | None] = {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}
    for line in EXPORTED[preset]:
        r = run_cxl(line(state).split(), env)
        assert r.rc == 0, r.err.decode()
    kernel, _ = StateStore(state).load()
    view = View(kernel)
    assert check(view).problems == []
    export(view, tmp_path / "tree")
    lines = compat_v76.command_lines(LIST)
    assert lines is not None
    ours = run_cxl(["list", *lines[0]], env)
    (theirs,) = run_upstream(tmp_path / "tree", [["cxl", "list", *lines[1]]])
    assert ours.rc == theirs.rc == 0
    mine = listing_text(without_mailbox_data(ours.out))
    upstream = listing_text(without_mailbox_data(theirs.out))
    assert mine == upstream, _diff(mine, upstream)


#: Sequences pycxl also runs on the mount, to compare with itself in-process.
ON_THE_MOUNT = ["cxl_test", "cxl_test/options", "qemu-mixed/options"]


@pytest.mark.parametrize("name", ON_THE_MOUNT)
def test_pycxl_on_the_mount_matches_pycxl_in_process(
    twins: Callable[[str], Twin], name: str
) -> None:
    """The same sequence by pycxl on both twins: in-process on A, with plain file I/O on
    the mounted /sys of B (every store a FUSE write, as on a real /sys). Nothing may
    differ: not a message, not an exit status, not an attribute."""
    twin = twins(name.split("/")[0])
    for step in SEQUENCES[name]:
        if step.check:
            continue
        argv = _line(step, twin.a)
        same_step(argv, twin.pycxl(*argv), twin.pycxl_on_mount(*argv), oracle=False)
    a, b = twin.trees()
    assert a == b, "\n".join(tree_diff(a, b))
    listing = ["list", "-vv", "-BPEMDRT", "-i"]
    assert listing_text(twin.pycxl(*listing).out) == listing_text(twin.pycxl_on_mount(*listing).out)
    twin.check()
