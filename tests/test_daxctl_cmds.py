"""``daxctl`` in-process: the command table, usage blocks, and what the FUSE conformance
run (test_daxctl_conformance.py) cannot show: create-device (spec ndctl-daxctl.md §8.10,
upstream's daxctl-create.sh) and v81-only behaviour (§12).

Expected usage blocks are upstream's: Debian's v76.1 binary prints them where v81 did not
change them, and v81's create-device block is the one §8.10 gives.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Result, environment

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]


def _json(r: Result) -> Any:
    return json.loads(r.out)


def _stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.BytesIO(), encoding="utf-8", errors="surrogateescape", write_through=True
    )


def run_daxctl(argv: list[str], state: Path | None = None) -> Result:
    """``daxctl ARGV`` in this process, on the emulated platform in ``state``."""
    from pycxl.daxctl.main import run

    out, err = _stream(), _stream()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    env: dict[str, str | None] = {"PYCXL_SYSFS_ROOT": None, "DAXCTL_LOG": None}
    if state is not None:
        env["FAKE_SYSFS_STATE"] = str(state)
    try:
        with environment(env):
            rc = run(argv)
    finally:
        sys.stdout, sys.stderr = old
    return Result(out.buffer.getvalue(), err.buffer.getvalue(), rc)  # type: ignore[attr-defined]


def boot(tmp: Path, platform: str = "cxl_test") -> Path:
    state = tmp / "state"
    subprocess.run(
        [*FAKE_SYSFS, "init", "--state", str(state), "--platform", platform],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return state


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return boot(tmp_path)


def _upstream_usage(cmd: str) -> bytes:
    proc = subprocess.run(
        ["/usr/bin/daxctl", cmd, "-h"], capture_output=True, timeout=30, check=False
    )
    assert proc.returncode == 129
    return proc.stderr


@pytest.mark.parametrize(
    "cmd",
    [
        "list",
        "reconfigure-device",
        "online-memory",
        "offline-memory",
        "destroy-device",
        "enable-device",
        "disable-device",
    ],
)
def test_usage_matches_upstream(cmd: str) -> None:
    if not os.path.exists("/usr/bin/daxctl"):
        pytest.skip("needs Debian's daxctl")
    r = run_daxctl([cmd, "-h"])
    assert (r.rc, r.out) == (129, b"")
    assert r.err == _upstream_usage(cmd)


def test_create_device_usage_is_v81s() -> None:
    # §8.10: v81's create-device takes the base options, -s, -a and --input only.
    r = run_daxctl(["create-device", "-h"])
    assert r.rc == 129
    assert r.err.decode() == (
        "\n usage: daxctl create-device [<options>]\n\n"
        "    -r, --region <region-id>\n"
        "                          filter by region\n"
        "    -u, --human           use human friendly number formats\n"
        "    -v, --verbose         emit more debug messages\n"
        "    -s, --size <size>     size to switch the device to\n"
        "    -a, --align <align>   alignment to switch the device to\n"
        "        --input <input>   input device JSON file\n\n"
    )


def test_top_level() -> None:
    # §1.1: no command prints the usage on stdout and exits 1; the command table order.
    r = run_daxctl([])
    assert r.rc == 1 and r.out.startswith(b"\n usage: daxctl [--version] [--help]")
    r = run_daxctl(["--list-cmds"])
    assert r.out.decode().split() == [
        "version",
        "list",
        "help",
        "split-acpi",
        "migrate-device-model",
        "create-device",
        "destroy-device",
        "reconfigure-device",
        "online-memory",
        "offline-memory",
        "disable-device",
        "enable-device",
    ]
    assert run_daxctl(["version"]).out == b"81\n"
    r = run_daxctl(["frob"])
    assert (r.rc, r.err) == (1, b"Unknown command: 'frob'\n")


def _free_region(state: Path) -> None:
    # daxctl-create.sh's setup: devdax, disabled, emptied; the whole region is free.
    for argv in (
        ["reconfigure-device", "-m", "devdax", "-f", "dax0.0"],
        ["disable-device", "dax0.0"],
        ["reconfigure-device", "-s", "0", "dax0.0"],
    ):
        assert run_daxctl(argv, state).rc == 0


def test_create_device(state: Path) -> None:
    _free_region(state)
    r = run_daxctl(["list", "-r", "0"], state)
    assert _json(r) == [
        {
            "path": "/platform/cxl_acpi.0/root0/decoder0.0/region0/dax_region0",
            "id": 0,
            "size": 536870912,
            "available_size": 536870912,
            "align": 2097152,
        }
    ]
    r = run_daxctl(["create-device", "-r", "0", "-s", "128M"], state)
    assert (r.rc, r.err) == (0, b"created 1 device\n")
    assert _json(r) == [
        {
            "chardev": "dax0.1",
            "size": 134217728,
            "target_node": 0,
            "align": 2097152,
            "mode": "devdax",
        }
    ]
    # Without -s: all that is left, in one mapping.
    r = run_daxctl(["create-device", "-r", "region0"], state)
    assert r.rc == 0 and _json(r) == [
        {
            "chardev": "dax0.2",
            "size": 402653184,
            "target_node": 0,
            "align": 2097152,
            "mode": "devdax",
        }
    ]
    # A full region: the create write fails, whatever the errno, as ENOSPC (exit 228).
    r = run_daxctl(["create-device", "-r", "0"], state)
    assert (r.rc, r.out) == (228, b"")
    assert r.err == b"error creating devices: No space left on device\ncreated 0 devices\n"
    # No region matches: -ENXIO, exit 250.
    r = run_daxctl(["create-device", "-r", "9"], state)
    assert (r.rc, r.err) == (
        250,
        b"error creating devices: No such device or address\ncreated 0 devices\n",
    )
    # v81 takes no positional argument.
    r = run_daxctl(["create-device", "region0"], state)
    assert r.rc == 129 and r.err.startswith(b'unknown extra parameter "region0"\n')
    # Destroying the middle device leaves a hole; a larger device then takes two ranges.
    assert run_daxctl(["disable-device", "dax0.1"], state).rc == 0
    assert run_daxctl(["destroy-device", "dax0.1"], state).err == b"destroyed 1 device\n"
    assert run_daxctl(["disable-device", "dax0.2"], state).rc == 0
    assert run_daxctl(["reconfigure-device", "-s", "256M", "dax0.2"], state).rc == 0
    r = run_daxctl(["create-device", "-s", "256M"], state)
    assert r.rc == 0
    r = run_daxctl(["list", "-M", "-d", "dax0.1"], state)
    mappings = _json(r)[0]["mappings"]
    assert [(m["start"], m["end"]) for m in mappings] == [
        (0xF030000000 - (128 << 20), 0xF02FFFFFFF),
        (0xF010000000, 0xF017FFFFFF),
    ]


def test_create_device_input_file(state: Path, tmp_path: Path) -> None:
    _free_region(state)
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    r = run_daxctl(["create-device", "--input", str(bad)], state)
    assert r.rc == 129
    assert r.err.startswith(b"error: failed to parse device file: Invalid argument\n\n usage:")
    good = tmp_path / "dev.json"
    good.write_text(
        json.dumps(
            {
                "chardev": "dax0.7",
                "size": 4 << 20,
                "align": 2097152,
                "mappings": [
                    {"page_offset": 512, "start": 0xF020000000, "end": 0xF0201FFFFF},
                    {"page_offset": 0, "start": 0xF010000000, "end": 0xF0101FFFFF},
                ],
            }
        )
    )
    r = run_daxctl(["create-device", "--input", str(good)], state)
    assert (r.rc, r.err) == (0, b"created 1 device\n")
    r = run_daxctl(["list", "-M", "-d", "dax0.1"], state)
    assert _json(r)[0]["mappings"] == [
        {"page_offset": 512, "start": 0xF020000000, "end": 0xF0201FFFFF, "size": 2 << 20},
        {"page_offset": 0, "start": 0xF010000000, "end": 0xF0101FFFFF, "size": 2 << 20},
    ]


def test_reconfigure_prints_only_the_last_device(state: Path) -> None:
    # §8.5: several devices are reconfigured, the JSON of the last one is printed.
    _free_region(state)
    assert run_daxctl(["reconfigure-device", "-s", "128M", "dax0.0"], state).rc == 0
    assert run_daxctl(["enable-device", "dax0.0"], state).rc == 0
    assert run_daxctl(["create-device", "-s", "128M"], state).rc == 0
    r = run_daxctl(["reconfigure-device", "-m", "devdax", "all"], state)
    assert r.rc == 0
    assert r.err == (
        b"dax0.1 was already in devdax mode\ndax0.0 was already in devdax mode\n"
        b"reconfigured 2 devices\n"
    )
    assert [d["chardev"] for d in _json(r)] == ["dax0.0"]


def test_human_single_object(state: Path) -> None:
    r = run_daxctl(["list", "-u"], state)
    assert r.out.startswith(b"{\n") and b'"size":"512.00 MiB (536.87 MB)"' in r.out


def test_check_passes_after_carving(state: Path) -> None:
    # fake-sysfs check's RAM invariants hold through devdax carving and system-ram.
    from fake_sysfs.check import check
    from fake_sysfs.kernfs.view import View
    from fake_sysfs.store import StateStore

    _free_region(state)
    for argv in (
        ["create-device", "-s", "128M"],
        ["create-device", "-s", "256M"],
        ["disable-device", "dax0.1"],
        ["destroy-device", "dax0.1"],
        ["reconfigure-device", "-s", "128M", "dax0.0"],
        ["reconfigure-device", "-m", "system-ram", "dax0.0"],
    ):
        assert run_daxctl(argv, state).rc == 0, argv
    report = check(View(StateStore(state).load()[0]))
    assert report.problems == []


def test_cxl_disable_region_offlines_system_ram_first(tmp_path: Path) -> None:
    # cxl-cli.md / ndctl-daxctl.md §9: disable-region offlines the region's system-ram
    # memory first; memory that cannot go offline (here: onlined to ZONE_NORMAL, which
    # holds unmovable kernel pages) stops it, unless -f, which leaks the range.
    from fake_sysfs.kernel import iomem
    from fake_sysfs.store import StateStore
    from tests.helpers import run_cxl

    state = boot(tmp_path, "qemu-mixed")
    env: dict[str, str | None] = {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}
    assert (
        run_cxl(["create-region", "-d", "decoder0.1", "-t", "ram", "-m", "mem2", "mem3"], env).rc
        == 0
    )
    r = run_daxctl(["reconfigure-device", "-m", "system-ram", "--no-movable", "dax1.0"], state)
    assert r.rc == 0, r.err
    r = run_cxl(["disable-region", "region1"], env)
    assert r.rc == 1
    assert b"region1: unable to offline dax1.0: Device or resource busy\n" in r.err
    r = run_cxl(["disable-region", "-f", "region1"], env)
    assert r.rc == 0
    assert b"Physical address space has now been permanently leaked.\n" in r.err
    # The hot-added memory stays, still online, on node 2, and stays reserved.
    k = StateStore(state).load()[0]
    assert "    590000000-5cfffffff : dax1.0\n" in iomem.render(k)
    assert {b.node for b in k.memory.blocks.values() if b.owner == "dax1.0"} == {2}
    # With movable memory, disable-region takes it offline and the node goes away.
    state2 = boot(tmp_path / "2", "qemu-mixed")
    env["FAKE_SYSFS_STATE"] = str(state2)
    assert (
        run_cxl(["create-region", "-d", "decoder0.1", "-t", "ram", "-m", "mem2", "mem3"], env).rc
        == 0
    )
    assert run_daxctl(["reconfigure-device", "-m", "system-ram", "dax1.0"], state2).rc == 0
    assert run_cxl(["disable-region", "region1"], env).rc == 0
    k = StateStore(state2).load()[0]
    assert k.memory.online_nodes() == [0] and "dax1.0" not in iomem.render(k)


def test_persistent_devdax_as_system_ram(tmp_path: Path) -> None:
    # The fifth configuration: a pmem region's devdax namespace, whose static DAX region
    # the kernel does not flag for kmem, handed to kmem by daxctl (new_id) and back.
    from tests.helpers import run_cxl

    state = boot(tmp_path, "qemu-mixed")
    env: dict[str, str | None] = {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}
    assert (
        run_cxl(["create-region", "-d", "decoder0.1", "-t", "pmem", "-m", "mem2", "mem3"], env).rc
        == 0
    )
    from pycxl.ndctl.main import run as ndctl

    with environment(env):
        assert ndctl(["create-namespace", "-m", "devdax", "-s", "256M"]) == 0
    r = run_daxctl(["reconfigure-device", "-m", "system-ram", "dax1.0"], state)
    assert (r.rc, r.err) == (0, b"reconfigured 1 device\n")
    # 250 MiB of data after the namespace's metadata: one whole 128 MiB block on node 2.
    assert _json(r)[0]["mode"] == "system-ram" and _json(r)[0]["total_memblocks"] == 1
    r = run_daxctl(["reconfigure-device", "-m", "devdax", "-f", "dax1.0"], state)
    assert r.rc == 0 and _json(r)[0]["mode"] == "devdax"
