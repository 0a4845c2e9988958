"""The emulated kernel's DAX bus, kmem, memory block and NUMA node rules, as tables of
stores (kernel-sysfs.md §3.1-§3.3; drivers/dax/bus.c, drivers/dax/kmem.c,
drivers/base/memory.c).

Every state is reached through stores only; each refused store leaves the state unchanged
but for a kernel log record saying why (tests/kernel_stores.py). cxl_test's auto region0
gives dax_region0 with dax0.0 (512 MiB at 0xf010000000) bound to kmem, its four 128 MiB
blocks (memory7682-7685) offline on node 0.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fake_sysfs.kernel import iomem
from tests.kernel_stores import MiB, Stores

DAX = "/sys/bus/dax"
DEV = f"{DAX}/devices"
REGION = "/sys/bus/cxl/devices/dax_region0/dax_region"
MEM = "/sys/devices/system/memory"
NODE = "/sys/devices/system/node"
BASE = 0xF010000000
BLOCKS = range(7682, 7686)


@pytest.fixture
def s(tmp_path: Path) -> Stores:
    return Stores(tmp_path, "cxl_test")


def devdax_and_empty(s: Stores) -> None:
    """dax0.0 unbound from kmem (its blocks are offline, so they go) and emptied."""
    s.ok(f"{DEV}/dax0.0/driver/remove_id", "dax0.0\0")
    s.ok(f"{DEV}/dax0.0/driver/unbind", "dax0.0\0")
    s.ok(f"{DEV}/dax0.0/size", "0\n\0")


# == dax_region/create, seed, delete (3.1.1) =================================================


def test_create_needs_capacity_and_the_value_1(s: Stores) -> None:
    s.refuse(f"{REGION}/create", "1\0", errno.ENOSPC, "no capacity")
    devdax_and_empty(s)
    s.refuse(f"{REGION}/create", "2\0", errno.EINVAL)
    s.refuse(f"{REGION}/create", "one\0", errno.EINVAL)
    assert s.read(f"{REGION}/seed") == "" and s.read(f"{REGION}/create") == ""
    s.ok(f"{REGION}/create", "1\0")
    s.ok(f"{REGION}/create", "1\0")
    # The seed is the first created device not bound yet; create reads the youngest.
    assert s.read(f"{REGION}/seed") == "dax0.1"
    assert s.read(f"{REGION}/create") == "dax0.2"
    assert s.reads(f"{DEV}/dax0.1", "size", "memmap_on_memory", "align") == {
        "size": "0",
        "memmap_on_memory": "0",
        "align": "2097152",
    }
    # A zero-sized device does not probe (ENXIO); bound, it stops being the seed.
    s.ok(f"{DAX}/drivers/device_dax/new_id", "dax0.1\0")
    assert s.bound("dax0.1", "dax") == ""
    s.refuse(f"{DAX}/drivers/device_dax/bind", "dax0.1\0", errno.ENXIO)
    s.ok(f"{DEV}/dax0.1/size", f"{128 * MiB:#x}\n\0")
    s.ok(f"{DAX}/drivers/device_dax/bind", "dax0.1\0")
    assert s.bound("dax0.1", "dax") == "device_dax"
    assert s.read(f"{REGION}/seed") == ""
    assert int(s.read(f"{REGION}/available_size")) == 384 * MiB


def test_delete(s: Stores) -> None:
    devdax_and_empty(s)
    s.ok(f"{REGION}/create", "1\0")
    s.refuse(f"{REGION}/delete", "dax9.9\0", errno.ENXIO)
    # daxN.0 stays while the region exists.
    s.refuse(f"{REGION}/delete", "dax0.0\0", errno.EBUSY, "first device")
    s.ok(f"{DEV}/dax0.1/size", f"{2 * MiB:#x}\n\0")
    s.refuse(f"{REGION}/delete", "dax0.1\0", errno.EBUSY, "bound or not empty")
    s.ok(f"{DEV}/dax0.1/size", "0\n\0")
    s.ok(f"{REGION}/delete", "dax0.1\n")
    assert not s.exists(f"{DEV}/dax0.1")
    assert s.read(f"{REGION}/seed") == "" and s.read(f"{REGION}/create") == ""
    # Ids are reused lowest first.
    s.ok(f"{REGION}/create", "1\0")
    assert s.exists(f"{DEV}/dax0.1")


# == daxN.M size, align, mapping (3.1.2) ======================================================


def ranges(s: Stores, dev: str) -> list[tuple[int, int, int]]:
    out = []
    i = 0
    while s.exists(f"{DEV}/{dev}/mapping{i}"):
        v = s.reads(f"{DEV}/{dev}/mapping{i}", "start", "end", "page_offset")
        out.append((int(v["start"], 16), int(v["end"], 16), int(v["page_offset"], 16)))
        i += 1
    return out


def test_size(s: Stores) -> None:
    s.refuse(f"{DEV}/dax0.0/size", "0\n\0", errno.EBUSY, "bound to kmem")
    devdax_and_empty(s)
    s.refuse(f"{DEV}/dax0.0/size", "0x100000\n\0", errno.EINVAL, "misaligned")
    s.refuse(f"{DEV}/dax0.0/size", "lots\0", errno.EINVAL)
    s.refuse(f"{DEV}/dax0.0/size", f"{1024 * MiB:#x}\n\0", errno.ENOSPC)
    s.ok(f"{DEV}/dax0.0/size", f"{128 * MiB:#x}\n\0")
    s.ok(f"{REGION}/create", "1\0")
    s.ok(f"{DEV}/dax0.1/size", f"{128 * MiB:#x}\n\0")
    # Growing dax0.0 cannot extend its range (dax0.1 follows): a second range.
    s.ok(f"{DEV}/dax0.0/size", f"{256 * MiB:#x}\n\0")
    mb = MiB
    assert ranges(s, "dax0.0") == [
        (BASE, BASE + 128 * mb - 1, 0),
        (BASE + 256 * mb, BASE + 384 * mb - 1, 128 * mb // 4096),
    ]
    # Growing again extends the last range; shrinking gives back from the end.
    s.ok(f"{DEV}/dax0.0/size", f"{384 * MiB:#x}\n\0")
    assert ranges(s, "dax0.0")[-1][:2] == (BASE + 256 * mb, BASE + 512 * mb - 1)
    s.ok(f"{DEV}/dax0.0/size", f"{64 * MiB:#x}\n\0")
    assert ranges(s, "dax0.0") == [(BASE, BASE + 64 * mb - 1, 0)]
    assert s.read(f"{DEV}/dax0.0/resource") == f"{BASE:#x}"


def test_align(s: Stores) -> None:
    s.refuse(f"{DEV}/dax0.0/align", "4096\n\0", errno.EBUSY)
    devdax_and_empty(s)
    s.refuse(f"{DEV}/dax0.0/align", "huge\0", errno.ENXIO)
    s.refuse(f"{DEV}/dax0.0/align", "8192\n\0", errno.EINVAL, "page size")
    s.ok(f"{DEV}/dax0.0/size", f"{128 * MiB:#x}\n\0")
    s.refuse(f"{DEV}/dax0.0/align", "0x40000000\n\0", errno.EINVAL, "invalid for range 0")
    s.ok(f"{DEV}/dax0.0/align", "0x1000\n\0")
    assert s.read(f"{DEV}/dax0.0/align") == "4096"
    s.ok(f"{DEV}/dax0.0/size", "0\n\0")
    s.ok(f"{DEV}/dax0.0/align", "0x40000000\n\0")
    # Sizes are then multiples of 1 GiB.
    s.refuse(f"{DEV}/dax0.0/size", f"{128 * MiB:#x}\n\0", errno.EINVAL)


def test_mapping(s: Stores) -> None:
    devdax_and_empty(s)
    m = f"{DEV}/dax0.0/mapping"
    s.refuse(m, "0xf010000000\n\0", errno.EINVAL)
    s.refuse(m, "start-end\0", errno.EINVAL)
    s.refuse(m, f"{BASE:#x}-{BASE + MiB - 1:#x}\n\0", errno.ENXIO, "misaligned")
    s.refuse(m, f"{BASE - 2 * MiB:#x}-{BASE - 1:#x}\n\0", errno.ENOMEM, "not free")
    s.ok(m, f"{BASE + 4 * MiB:#x}-{BASE + 6 * MiB - 1:#x}\n\0")
    s.refuse(m, f"{BASE + 4 * MiB:#x}-{BASE + 6 * MiB - 1:#x}\n\0", errno.ENOMEM)
    s.ok(m, f"{BASE:#x}-{BASE + 2 * MiB - 1:#x}\n\0")
    assert ranges(s, "dax0.0") == [
        (BASE + 4 * MiB, BASE + 6 * MiB - 1, 0),
        (BASE, BASE + 2 * MiB - 1, 2 * MiB // 4096),
    ]
    assert s.read(f"{DEV}/dax0.0/size") == str(4 * MiB)


def test_memmap_on_memory(s: Stores) -> None:
    s.refuse(f"{DEV}/dax0.0/memmap_on_memory", "0\n\0", errno.EBUSY, "kmem")
    s.ok(f"{DEV}/dax0.0/memmap_on_memory", "1\n\0")  # unchanged: accepted
    s.refuse(f"{DEV}/dax0.0/memmap_on_memory", "maybe\0", errno.EINVAL)


# == driver ids and kmem (3.1.3) ==============================================================


def test_new_id_remove_id(s: Stores) -> None:
    for bad in ("dax0\0", "dax0.0x\0", "mem0\0", "\0"):
        s.refuse(f"{DAX}/drivers/device_dax/new_id", bad, errno.EINVAL)
    s.ok(f"{DAX}/drivers/kmem/remove_id", "dax5.5\0")  # absent: silently fine
    s.ok(f"{DEV}/dax0.0/driver/unbind", "dax0.0\0")
    # kmem still matches by type; device_dax only by id, and new_id binds at once.
    s.refuse(f"{DAX}/drivers/device_dax/bind", "dax0.0\0", errno.ENODEV)
    s.ok(f"{DAX}/drivers/device_dax/new_id", "dax0.0\n")
    assert s.bound("dax0.0", "dax") == "device_dax"
    s.refuse(f"{DAX}/drivers/device_dax/bind", "dax0.0\0", errno.EBUSY)
    # Each driver is its own module, which libkmod finds loaded (initstate "live").
    for drv in ("kmem", "device_dax"):
        assert s.view().realpath(f"{DAX}/drivers/{drv}/module") == f"/sys/module/{drv}"
        assert s.read(f"/sys/module/{drv}/initstate") == "live"


def test_kmem_keeps_online_memory_until_reboot(s: Stores) -> None:
    for index in BLOCKS:
        s.ok(f"{MEM}/memory{index}/state", "online_movable\0")
    s.ok(f"{DEV}/dax0.0/driver/unbind", "dax0.0\0")
    mark = s.mark()
    assert all(s.exists(f"{MEM}/memory{i}") for i in BLOCKS)
    assert any("cannot be hotremoved until the next reboot" in t for t in s.log_since(0))
    # The range stays reserved: kmem cannot take it again.
    s.refuse(f"{DAX}/drivers/kmem/bind", "dax0.0\0", errno.EBUSY, "could not reserve region")
    assert mark <= s.mark()
    text = iomem.render(s.kernel())
    assert (
        "    f010000000-f02fffffff : dax0.0\n      f010000000-f02fffffff : System RAM (kmem)\n"
        in (text)
    )


# == memory blocks (3.3) =======================================================================


def test_block_state_store(s: Stores) -> None:
    b = f"{MEM}/memory7682"
    s.refuse(f"{b}/state", "onlined\0", errno.EINVAL)
    s.refuse(f"{b}/state", "offline\0", errno.EINVAL, "already offline")
    s.ok(f"{b}/state", "online_movable\0")
    assert s.reads(b, "state", "online", "valid_zones") == {
        "state": "online",
        "online": "1",
        "valid_zones": "Movable",
    }
    s.refuse(f"{b}/state", "online\0", errno.EINVAL, "already online")
    # The next block now falls outside ZONE_MOVABLE's span: Normal stays its default.
    assert s.read(f"{MEM}/memory7683/valid_zones") == "Normal Movable"
    s.ok(f"{MEM}/memory7684/state", "online_movable\0")
    # memory7683 is inside the Movable span now: Movable is its default zone.
    assert s.read(f"{MEM}/memory7683/valid_zones") == "Movable Normal"
    s.ok(f"{MEM}/memory7683/online", "1\0")
    assert s.read(f"{MEM}/memory7683/valid_zones") == "Movable"
    s.ok(f"{b}/state", "offline\0")
    s.ok(f"{b}/online", "0\0")  # idempotent


def test_offlining_kernel_memory_is_refused(s: Stores) -> None:
    s.ok(f"{MEM}/memory7682/state", "online_kernel\0")
    assert s.read(f"{MEM}/memory7682/valid_zones") == "Normal"
    s.refuse(f"{MEM}/memory7682/state", "offline\0", errno.EBUSY, "unmovable page")
    s.refuse(f"{MEM}/memory40/state", "offline\0", errno.EBUSY)  # boot memory


def test_auto_online_policy(s: Stores) -> None:
    s.refuse(f"{MEM}/auto_online_blocks", "sometimes\0", errno.EINVAL)
    s.ok(f"{MEM}/auto_online_blocks", "online_movable\n")
    s.ok(f"{DEV}/dax0.0/driver/unbind", "dax0.0\0")
    assert not s.exists(f"{MEM}/memory7682")
    s.ok(f"{DAX}/drivers/kmem/bind", "dax0.0\0")
    assert {s.read(f"{MEM}/memory{i}/valid_zones") for i in BLOCKS} == {"Movable"}
    total = 4 * GIB_KB + 512 * 1024
    assert s.read(f"{NODE}/node0/meminfo").startswith(f"Node 0 MemTotal:       {total:>8} kB")


GIB_KB = 1024 * 1024


# == NUMA nodes: a memory-only node on the QEMU platform ======================================


def test_memory_only_node(tmp_path: Path) -> None:
    from tests.test_daxctl_cmds import run_daxctl

    s = Stores(tmp_path, "qemu-mixed")
    assert s.read(f"{NODE}/possible") == "0-3"  # node 0 and one per CXL window
    assert s.read(f"{NODE}/online") == "0"
    from tests.helpers import environment, run_cxl

    with environment({"FAKE_SYSFS_STATE": s.dir, "PYCXL_SYSFS_ROOT": None}):
        r = run_cxl(["create-region", "-d", "decoder0.1", "-t", "ram", "-m", "mem2", "mem3"])
    assert r.rc == 0, r.err
    # kmem brought node 2 (window 1's) online, its blocks offline.
    assert s.read(f"{NODE}/online") == "0,2"
    assert s.read(f"{NODE}/has_memory") == "0"
    assert s.read(f"{NODE}/has_cpu") == "0"
    r = run_daxctl(["reconfigure-device", "-m", "system-ram", "all"], Path(s.dir))
    assert r.rc == 0, r.err
    assert s.read(f"{NODE}/has_memory") == "0,2"
    assert s.read(f"{NODE}/has_normal_memory") == "0"  # ZONE_MOVABLE only
    assert s.read(f"{NODE}/node2/cpulist") == ""
    assert s.read(f"{NODE}/node2/cpumap") == "0"
    assert s.read(f"{NODE}/node2/distance") == "20 10"
    assert "Node 2 MemTotal:        1048576 kB" in s.read(f"{NODE}/node2/meminfo")
    links = [n for n in s.view().listdir(f"{NODE}/node2") if n.startswith("memory")]
    assert len(links) == 8


# == the platform's CPUs and hot-plug policy ==================================================


def test_platform_cpus_and_memory_online(tmp_path: Path) -> None:
    from dataclasses import replace

    from fake_sysfs.platform.presets import load_preset

    platform = replace(load_preset("cxl_test"), cpus=40, memory_online="online_movable")
    s = Stores(tmp_path, platform)
    assert s.read(f"{NODE}/node0/cpulist") == "0-39"
    # %*pb: 32-bit groups, the first as wide as the bits it holds (40 CPUs: 2 hex digits).
    assert s.read(f"{NODE}/node0/cpumap") == "ff,ffffffff"
    assert s.read(f"{MEM}/auto_online_blocks") == "online_movable"
    # region0's memory came up online, in ZONE_MOVABLE, at boot.
    assert {s.read(f"{MEM}/memory{i}/valid_zones") for i in BLOCKS} == {"Movable"}


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cpus", "0", "cpus: 0 is out of range (1 to 8192)"),
        (
            "memory_online",
            '"always"',
            'memory_online: expected one of "offline", "online", '
            '"online_kernel", "online_movable", got \'always\'',
        ),
    ],
)
def test_platform_keys_refused(key: str, value: str, message: str) -> None:
    import tomllib

    from fake_sysfs.errors import PlatformError
    from fake_sysfs.platform.toml_file import parse_platform

    text = f"{key} = {value}\n[[host_bridge]]\n[[host_bridge.root_port]]\n"
    with pytest.raises(PlatformError) as info:
        parse_platform(tomllib.loads(text), "p")
    assert str(info.value) == message


def test_qemu_smp() -> None:
    from fake_sysfs.platform.qemu import parse_qemu
    from tests.kernel_helpers import SECTION_1_6_QEMU

    assert parse_qemu(SECTION_1_6_QEMU).cpus == 1  # QEMU's default
    assert parse_qemu(SECTION_1_6_QEMU + " -smp 8").cpus == 8
    assert parse_qemu(SECTION_1_6_QEMU + " -smp sockets=2,cores=4,threads=2").cpus == 16


# == fake-sysfs check, RAM side ================================================================


def test_check_finds_ram_inconsistencies(s: Stores, tmp_path: Path) -> None:
    from fake_sysfs.check import FileView, check
    from fake_sysfs.frontends.export import export

    for index in BLOCKS:
        s.ok(f"{MEM}/memory{index}/state", "online_movable\0")
    assert check(s.view()).problems == []
    export(s.view(), tmp_path / "tree")
    sys_dir = tmp_path / "tree" / "sys"
    assert check(FileView(str(sys_dir))).problems == []
    node0 = sys_dir / "devices/system/node/node0"
    meminfo = (node0 / "meminfo").read_text()
    (node0 / "meminfo").write_text(meminfo.replace("MemTotal:", "MemTotal:  1", 1))
    (sys_dir / "devices/system/node/has_memory").write_text("0-1\n")
    dax = sys_dir / "devices/platform/cxl_acpi.0/root0/decoder0.0/region0/dax_region0/dax0.0"
    (dax / "size").write_text("1024\n")
    assert sorted(check(FileView(str(sys_dir))).problems) == [
        "dax0.0: mappings do not add up to size 1024",
        "node/has_memory is not the set of nodes with online memory",
        "node0: MemTotal is not the size of its online blocks",
    ]


def test_kmem_needs_a_whole_memory_block(tmp_path: Path) -> None:
    # 3.1.3 / kmem: only whole memory blocks are hot-added; region0's 512 MiB holds no
    # 2 GiB block, so kmem refuses the device (EINVAL) and it stays unbound at boot.
    from dataclasses import replace

    from fake_sysfs.platform.presets import load_preset

    s = Stores(tmp_path, replace(load_preset("cxl_test"), memory_block_size=2 << 30))
    assert s.bound("dax0.0", "dax") == ""
    log = s.log_since(0)
    assert "kmem dax0.0: mapping0: 0xf010000000-0xf02fffffff too small after alignment" in log
    assert "kmem dax0.0: rejecting DAX region without any memory after alignment" in log
    s.refuse(f"{DAX}/drivers/kmem/bind", "dax0.0\0", errno.EINVAL, "without any memory")
    # device_dax takes it by id; then it is a devdax device like any other.
    s.ok(f"{DAX}/drivers/device_dax/new_id", "dax0.0\0")
    assert s.bound("dax0.0", "dax") == "device_dax"
