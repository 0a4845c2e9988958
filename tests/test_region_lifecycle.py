"""Region, memdev and port lifecycles with the tools, on the emulated kernel.

pycxl's own commands run in-process against a state directory (tests/helpers.run_cxl):
create-region (ram and pmem; 1, 2, 3, 4, 6, 8 and 12 ways across host bridges and switches;
default and explicit size and granularity), list, disable/enable/destroy-region,
disable/enable-memdev, disable/enable-port, reserve/free-dpa. The kernel's reactions are
checked where they show in /sys.

The same command lines then run with the upstream binary (Debian's cxl 76.1) through
``fake-sysfs run`` (a FUSE mount of a twin state as /sys), and ``cxl list -vv -BPEMDRT -i``
afterwards must match pycxl's, modulo the documented v76.1/v81 differences
(tests/compat_v76.py). Needs root, FUSE and the binary: skipped without them, except under
CI=true. v76.1 cannot create ram regions, so ram lifecycles are pycxl's only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fake_sysfs.check import check
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests import compat_v76
from tests.helpers import Result, run_cxl
from tests.oracle import require_oracle
from tests.test_fuse_mount import FAKE_SYSFS, require_fuse

CXL = "/sys/bus/cxl/devices"
#: Everything but the device mailbox's data (-vvv adds -H -I -A), which the upstream binary
#: cannot get on the FUSE mount (its ioctls need a character device) and pycxl gets from
#: the emulated device (tests/test_mailbox_list.py).
LIST = ["-vv", "-BPEMDRT", "-i"]
TIMEOUT = 300


@dataclass(frozen=True)
class Step:
    """One command line (after ``cxl``) and its exit status: pycxl's (v81), and v76.1's
    where the two versions differ (cxl-cli.md §5.3: a failed create-region exits 0 in
    v76.1)."""

    cmd: str
    rc: int = 0
    rc76: int | None = None


def init(state: Path, preset: str) -> StateStore:
    store = StateStore(state, create=True)
    store.init(load_preset(preset), Origin("preset", preset), force=True)
    return store


def pycxl(state: Path, args: list[str]) -> Result:
    return run_cxl(args, {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None})


def cxl(state: Path, line: str) -> Result:
    """pycxl's ``cxl`` with the words of ``line``."""
    return pycxl(state, line.split())


def view(store: StateStore) -> View:
    return View(store.load()[0])


def read(v: View, path: str) -> str:
    full = path if path.startswith("/") else f"{CXL}/{path}"
    return v.read(full).decode().rstrip("\n")


def run_steps(state: Path, steps: list[Step]) -> list[Result]:
    results = []
    for step in steps:
        r = pycxl(state, step.cmd.split())
        assert r.rc == step.rc, f"cxl {step.cmd}: rc {r.rc}\n{r.err.decode()}"
        results.append(r)
    return results


# -- scenarios run by both pycxl and the upstream binary ---------------------------------------


def _mems(n: int) -> str:
    return " ".join(f"mem{i}" for i in range(n))


SCENARIOS: dict[str, tuple[str, list[Step]]] = {
    # cxl_test: x2 across host bridges and switches (default size and granularity), x2 on
    # the single-port host bridge (explicit size), x1 with an explicit granularity;
    # disable/enable/destroy, a memdev lost under a committed region, ports, DPA.
    "cxl_test": (
        "cxl_test",
        [
            # Regions join a port in increasing HPA order: decoder0.2's window is below
            # decoder0.3's, so its region comes first on HB0.
            Step("create-region -d decoder0.2 -m mem2 -s 256M -g 1024"),
            Step("create-region -d decoder0.3 -m mem0 mem1"),
            Step("create-region -d decoder0.4 -m mem8 mem9 -s 512M"),
            Step("disable-region region3"),
            Step("enable-region region3"),
            Step("destroy-region -f region2"),
            Step("disable-memdev -f mem9"),
            Step("enable-memdev mem9"),
            # region4 lost target1 with mem9: destroy stops at the empty slot.
            Step("destroy-region -f region4", rc=1),
            Step("disable-port -f port2"),
            Step("enable-port -m port2"),
            Step("reserve-dpa mem5 -t pmem -s 256M"),
            Step("free-dpa mem5 -t pmem"),
            # Below region3 on HB0: refused by the HPA order (v76.1 still exits 0).
            Step("create-region -d decoder0.2 -m mem6 -s 512M", rc=1, rc76=0),
            Step("create-region -d decoder0.4 -m mem8 -s 256M"),
            Step("disable-region region3"),
        ],
    ),
    # The 2.7.2 worked example: the default (walk) order puts an HB1 device at position 0
    # and fails (leaving mode and DPA on the first decoder); the right order works.
    "qemu-interleave": (
        "qemu-interleave",
        [
            Step("create-region -d decoder0.0", rc=1, rc76=0),
            Step("create-region -d decoder0.0 -m mem2 mem0 mem3 mem1"),
            Step("disable-region region0"),
            Step("destroy-region region0"),
            Step("create-region -d decoder0.0 -m mem2 mem0 -s 512M"),
        ],
    ),
    # A switch: x4 below one host bridge (x1 window), then a region that cannot get DPA.
    "qemu-switch": (
        "qemu-switch",
        [
            Step("create-region -d decoder0.0 -m mem0 mem1 mem2 mem3"),
            Step("create-region -d decoder0.0 -m mem0 -s 256M", rc=1, rc76=0),
            Step("disable-memdev -f mem3"),
            Step("enable-memdev mem3"),
            Step("disable-port -f port2"),
            Step("enable-port -m port2"),
        ],
    ),
    # Volatile+persistent devices: pmem x2 on the x2 window, x1 on each host bridge's.
    "qemu-mixed": (
        "qemu-mixed",
        [
            Step("create-region -d decoder0.0 -m mem2 mem0"),
            Step("create-region -d decoder0.1 -m mem3 -s 256M"),
            Step("create-region -d decoder0.2 -m mem1 -s 256M"),
            Step("destroy-region -f region1"),
            Step("reserve-dpa mem3 -t pmem -s 256M"),
        ],
    ),
    # XOR windows: x1, x2, x4 and x3 (3-way window), created and destroyed in reverse.
    "cxl_test-xor": (
        "cxl_test-xor",
        [
            Step("create-region -d decoder0.0 -m mem2 -s 512M"),
            Step("create-region -d decoder0.1 -m mem6 mem1 -s 512M"),
            Step("create-region -d decoder0.1 -m mem0 mem3 mem4 mem7 -s 1G"),
            Step("create-region -d decoder0.2 -m mem2 mem5 mem9 -s 768M"),
            Step("destroy-region -f region2"),
            Step("destroy-region -f region3"),
            Step("destroy-region -f region1"),
        ],
    ),
    # 6- and 12-way windows (memK is below host bridge K): x6, and x12. The 3/6/12 root
    # counts as 1/2/4 for the host bridges' granularity.
    "scale-6": ("scale:6x1", [Step("create-region -d decoder0.0 -m " + _mems(6))]),
    "scale-12": ("scale:12x1", [Step("create-region -d decoder0.0 -m " + _mems(12))]),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_with_pycxl(name: str, tmp_path: Path) -> None:
    preset, steps = SCENARIOS[name]
    store = init(tmp_path / "state", preset)
    run_steps(tmp_path / "state", steps)
    r = pycxl(tmp_path / "state", ["list", "-R"])
    assert r.rc == 0
    v = view(store)
    # The state keeps the kernel's invariants (fake-sysfs check).
    assert check(v).problems == []
    # Every region left is either committed or (cxl_test's region4) waiting for a target.
    for region in (n for n in v.listdir(CXL) if n.startswith("region")):
        ways = int(read(v, f"{region}/interleave_ways"))
        targets = [read(v, f"{region}/target{i}") for i in range(ways)]
        if all(targets):
            assert read(v, f"{region}/commit") == "1", region


def upstream_script(steps: list[Step]) -> str:
    """A shell script running each step with /usr/bin/cxl, each command's output fenced,
    then the listing."""
    lines = []
    for i, step in enumerate(steps):
        lines.append(
            f"echo '@@@ {i}'; echo '@@@ {i}' >&2; /usr/bin/cxl {step.cmd}; echo \"@@@ rc $?\""
        )
    _, upstream_argv = compat_v76.command_lines(LIST) or ([], [])
    lines.append(
        "echo '@@@ list'; echo '@@@ list' >&2; /usr/bin/cxl list " + " ".join(upstream_argv)
    )
    return "\n".join(lines) + "\n"


def run_upstream(state: Path, steps: list[Step]) -> tuple[list[int], str]:
    """Each step's exit status and the final listing, by the upstream binary over FUSE."""
    proc = subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", "sh", "-c", upstream_script(steps)],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = proc.stdout.decode()
    rcs = [int(line.split()[2]) for line in out.splitlines() if line.startswith("@@@ rc ")]
    listing = out.split("@@@ list\n", 1)[1]
    return rcs, listing


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_with_upstream_matches(name: str, tmp_path: Path) -> None:
    require_fuse()
    require_oracle()
    preset, steps = SCENARIOS[name]
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    init(ours, preset)
    init(theirs, preset)
    run_steps(ours, steps)
    pycxl_argv, _ = compat_v76.command_lines(LIST) or ([], [])
    mine = pycxl(ours, ["list", *pycxl_argv])
    assert mine.rc == 0
    rcs, listing = run_upstream(theirs, steps)
    assert rcs == [s.rc if s.rc76 is None else s.rc76 for s in steps]
    assert compat_v76.stdout(mine.out).decode() == listing
    assert len(listing) > 1000


# -- what the kernel shows after the commands --------------------------------------------------


def test_create_region_x8_over_switches(tmp_path: Path) -> None:
    # cxl_test x8 pmem over decoder0.3 in the order cxl-region-sysfs.sh uses (2.7.2 item 4):
    # host-bridge decoders ways 2 at 2 x G, switch decoders ways 2 at 4 x G.
    state = tmp_path / "state"
    store = init(state, "cxl_test")
    r = cxl(state, "create-region -d decoder0.3 -m mem0 mem1 mem2 mem3 mem4 mem5 mem6 mem7 -s 2G")
    assert r.rc == 0, r.err
    v = view(store)
    assert read(v, "region3/interleave_ways") == "8"
    g = int(read(v, "region3/interleave_granularity"))
    assert g == 4096
    held = {}
    for name in v.listdir(CXL):
        if name.startswith("decoder") and not name.startswith("decoder0."):
            if read(v, f"{name}/region") != "region3":
                continue
            held[name] = (
                read(v, f"{name}/interleave_ways"),
                int(read(v, f"{name}/interleave_granularity")),
            )
    hb = {n: w for n, w in held.items() if n.startswith(("decoder1.", "decoder2."))}
    sw = {
        n: w
        for n, w in held.items()
        if n.startswith(("decoder4.", "decoder6.", "decoder8.", "decoder10."))
    }
    assert set(hb.values()) == {("2", 2 * g)} and len(hb) == 2
    assert set(sw.values()) == {("2", 4 * g)} and len(sw) == 4
    assert len(held) == 14
    out = pycxl(state, ["list", "-R", "-r", "region3"])
    assert b'"decode_state":"commit"' in out.out


def test_ram_region_lifecycle(tmp_path: Path) -> None:
    # pycxl only (v76.1 has no ram regions): a ram region on qemu-mixed's x1 window over
    # HB bus 12 (mem2, mem3), bound to DAX and kmem, disabled, enabled and destroyed.
    state = tmp_path / "state"
    store = init(state, "qemu-mixed")
    r = cxl(state, "create-region -d decoder0.1 -t ram -m mem2 mem3")
    assert r.rc == 0, r.err
    assert b'"type":"ram"' in r.out
    v = view(store)
    region = next(n for n in v.listdir("/sys/bus/cxl/devices/decoder0.1") if n.startswith("region"))
    assert read(v, f"{region}/size") == "0x40000000"  # 2 x 512 MiB of ram
    dax = f"dax_region{region[6:]}"
    assert v.realpath(f"{CXL}/{region}/{dax}/driver").endswith("cxl_dax_region")
    assert v.realpath(f"/sys/bus/dax/devices/dax{region[6:]}.0/driver").endswith("kmem")
    listing = pycxl(state, ["list", "-X", "-r", region])
    assert b'"mode":"system-ram"' in listing.out
    assert pycxl(state, ["disable-region", region]).rc == 0
    v = view(store)
    assert not any(n.startswith("dax_region") for n in v.listdir(f"{CXL}/{region}"))
    assert pycxl(state, ["enable-region", region]).rc == 0
    assert pycxl(state, ["destroy-region", "-f", region]).rc == 0
    v = view(store)
    assert not [n for n in v.listdir(CXL) if n.startswith("region")]
    # Destroying freed the DPA again: the same region can be made once more.
    assert cxl(state, "create-region -d decoder0.1 -t ram -m mem2 mem3").rc == 0


def test_failed_create_region_leaves_what_the_kernel_leaves(tmp_path: Path) -> None:
    # qemu-interleave with the default (walk) order: target0 = mem1, an HB1 device at
    # position 0, is refused. create-region deletes the region; mem1's endpoint decoder keeps
    # the mode and DPA it was given, as the kernel does not undo them.
    state = tmp_path / "state"
    store = init(state, "qemu-interleave")
    r = pycxl(state, ["create-region", "-d", "decoder0.0"])
    assert r.rc == 1
    assert b"region0: failed to set target0 to mem1" in r.err
    v = view(store)
    assert not [n for n in v.listdir(CXL) if n.startswith("region")]
    assert (read(v, "decoder4.0/mode"), read(v, "decoder4.0/dpa_size")) == (
        "pmem",
        "0x0000000010000000",
    )
    assert read(v, "decoder4.0/region") == ""
    for untouched in ("decoder3.0", "decoder5.0", "decoder6.0"):
        assert read(v, f"{untouched}/dpa_size") == "0x0000000000000000"
    log = [r.text for r in store.load()[0].log.records]
    assert "cxl region0: mem1:decoder4.0 invalid target position for decoder0.0" in log


def test_failed_validation_leaves_stale_programming(tmp_path: Path) -> None:
    # cxl_test x8 in an order whose root checks pass but whose last target fails the
    # distance rule (mem4 at position 2 shares mem0's root port): create-region reports the
    # target and deletes the region. Every decoder attached keeps its mode and DPA; the
    # host-bridge and switch decoders validation had programmed keep ways and granularity
    # (only their ranges are undone).
    state = tmp_path / "state"
    store = init(state, "cxl_test")
    mems = "mem0 mem1 mem4 mem5 mem2 mem3 mem6 mem7"
    r = cxl(state, f"create-region -d decoder0.3 -m {mems} -s 2G")
    assert r.rc == 1, r.err
    assert b"failed to set target7 to mem7" in r.err
    v = view(store)
    assert [n for n in v.listdir(CXL) if n.startswith("region")] == ["region0"]
    decoders = [
        "decoder5.1",
        "decoder7.0",
        "decoder12.1",
        "decoder13.0",
        "decoder9.0",
        "decoder11.0",
        "decoder14.0",
        "decoder15.0",
    ]
    for dec in decoders:
        assert read(v, f"{dec}/mode") == "pmem", dec
        assert read(v, f"{dec}/dpa_size") == "0x0000000010000000", dec
        assert read(v, f"{dec}/region") == "", dec
    for dec, ways, gran in [
        ("decoder1.1", "2", "8192"),
        ("decoder4.1", "2", "16384"),
        ("decoder2.0", "2", "8192"),
        ("decoder6.0", "2", "16384"),
    ]:
        assert (
            read(v, f"{dec}/interleave_ways"),
            read(v, f"{dec}/interleave_granularity"),
            read(v, f"{dec}/size"),
            read(v, f"{dec}/region"),
        ) == (ways, gran, "0x0", ""), dec
    log = [r.text for r in store.load()[0].log.records]
    assert "cxl region3: cxl_host_bridge.0:port1: cannot host mem4:decoder12.1 at 2" in log


def test_failed_commit_rolls_back(tmp_path: Path) -> None:
    # Two x1 regions through mem2's path; the first reset while the second stays committed
    # cannot commit again: enable via create-region is not involved, the store is.
    state = tmp_path / "state"
    store = init(state, "qemu-mixed")
    assert cxl(state, "create-region -d decoder0.1 -m mem2 -s 256M").rc == 0
    assert cxl(state, "create-region -d decoder0.1 -m mem2 -s 256M").rc == 0
    v = view(store)
    regions = sorted(
        n for n in v.listdir("/sys/bus/cxl/devices/decoder0.1") if n.startswith("region")
    )
    assert len(regions) == 2
    first = regions[0]
    assert pycxl(state, ["disable-region", first]).rc == 0
    from fake_sysfs.kernfs import transact

    transact.write(store, f"{CXL}/{first}/commit", b"0\n\0")
    before = store.load()[0].to_json()
    with pytest.raises(OSError):
        transact.write(store, f"{CXL}/{first}/commit", b"1\n\0")
    after = store.load()[0].to_json()
    for data in (before, after):
        del data["log"]
    assert before == after
    r = pycxl(state, ["enable-region", first])
    assert r.rc == 1
    assert b"failed to enable" in r.err


def test_memdev_and_port_commands(tmp_path: Path) -> None:
    # cxl_test 4.1.7: disabling both memdevs of a switch removes the switch port; enabling
    # them re-creates it; disable-port on a host bridge leaves its 4 memdevs disabled and
    # enable-port -m brings them back.
    state = tmp_path / "state"
    store = init(state, "cxl_test")
    assert pycxl(state, ["disable-memdev", "mem1", "mem5"]).rc == 0
    assert "port6" not in view(store).listdir(CXL)
    assert pycxl(state, ["enable-memdev", "mem1", "mem5"]).rc == 0
    assert "port6" in view(store).listdir(CXL)
    assert pycxl(state, ["disable-port", "-f", "port2"]).rc == 0
    r = pycxl(state, ["list", "-M", "-i"])
    disabled = r.out.count(b'"state":"disabled"')
    assert disabled == 4
    assert pycxl(state, ["enable-port", "-m", "port2"]).rc == 0
    r = pycxl(state, ["list", "-M"])
    assert r.out.count(b'"memdev"') == 11
    # disable-memdev of the auto region's member without -f: refused (v81 reads the
    # endpoint's decoders_committed); with -f the region loses it.
    r = pycxl(state, ["disable-memdev", "mem0"])
    assert r.rc == 1 and b"mem0 is part of an active region" in r.err
    assert pycxl(state, ["disable-memdev", "-f", "mem0"]).rc == 0
    v = view(store)
    assert read(v, "region0/commit") == "0" and read(v, "region0/target0") == ""


def test_reserve_and_free_dpa(tmp_path: Path) -> None:
    state = tmp_path / "state"
    store = init(state, "cxl_test")
    r = cxl(state, "reserve-dpa mem1 -t pmem -s 512M")
    assert r.rc == 0, r.err
    v = view(store)
    # The first pmem allocation skips the whole ram partition.
    assert (read(v, "decoder7.0/mode"), read(v, "decoder7.0/dpa_resource")) == (
        "pmem",
        "0x40000000",
    )
    r = cxl(state, "reserve-dpa mem1 -t ram -s 256M")
    assert r.rc == 1  # the ram tail is skipped
    assert cxl(state, "free-dpa mem1 -t pmem").rc == 0
    v = view(store)
    assert read(v, "decoder7.0/dpa_size") == "0x0000000000000000"


def test_dmesg_says_why_a_command_failed(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state, "qemu-switch")
    assert cxl(state, "create-region -d decoder0.0 -m mem0 mem1 mem2 mem3").rc == 0
    r = cxl(state, "create-region -d decoder0.0 -m mem0 -s 256M")
    assert r.rc == 1
    out = subprocess.run(
        [*FAKE_SYSFS, "dmesg", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)),
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert out.returncode == 0, out.stderr
    assert "exceeds available pmem capacity" in out.stdout
    assert sys.executable  # the same interpreter ran it
