"""dax_hmem in the emulated kernel: soft-reserved memory as ``hmem.N`` platform devices and
their DAX regions (drivers/dax/hmem/{device,hmem}.c, drivers/dax/bus.c of Linux v6.14;
kernel-sysfs.md §3.1).

Kernel facts the expectations come from: device_hmem registers one ``hmem_platform.0``
device; the dax_hmem module's ``hmem_platform`` driver registers ``hmem.N`` (N from
memregion_alloc, the id space CXL root decoders and regions share) with its numa_node
mapped to an online node; the ``hmem`` driver makes DAX region N with PMD alignment and
the kmem flag (region_idle off) and ``daxN.0`` covering the range with
memmap_on_memory off. device_dax / kmem request the range in /proc/iomem under its
``Soft Reserved`` entry, named after the device.

The presets: ``hmem`` and ``hmem-devdax`` hold 4 GiB soft-reserved at 8 GiB on node 1 (no
CXL window, so hmem.0 is DAX region 0); ``hmem-devdax`` is a kernel without kmem.
"""

from __future__ import annotations

import errno
import tomllib
from pathlib import Path

import pytest

from fake_sysfs.errors import PlatformError
from fake_sysfs.kernel import iomem
from fake_sysfs.platform.model import GiB, HostBridge, Platform, RootPort, SoftReserved, Type3Device
from fake_sysfs.platform.toml_file import parse_platform
from fake_sysfs.platform.validate import finalize
from tests.kernel_helpers import window
from tests.kernel_stores import Stores

HMEM = "/sys/devices/platform/hmem.0"
REGION = f"{HMEM}/dax_region"
DEV = "/sys/bus/dax/devices"
MEM = "/sys/devices/system/memory"
NODE = "/sys/devices/system/node"
PLATFORM_DRIVERS = "/sys/bus/platform/drivers"
BASE, SIZE = 8 * GiB, 4 * GiB
#: 4 GiB at 8 GiB in 128 MiB blocks.
BLOCKS = range(64, 96)


@pytest.fixture
def kmem(tmp_path: Path) -> Stores:
    return Stores(tmp_path, "hmem")


@pytest.fixture
def devdax(tmp_path: Path) -> Stores:
    return Stores(tmp_path, "hmem-devdax")


def test_hmem_devices_and_dax_region(kmem: Stores) -> None:
    view = kmem.view()
    assert kmem.bound("hmem_platform.0", "platform") == "hmem_platform"
    assert kmem.bound("hmem.0", "platform") == "hmem"
    assert view.realpath("/sys/bus/platform/devices/hmem.0") == HMEM
    assert kmem.reads(HMEM, "modalias", "numa_node") == {
        "modalias": "platform:hmem",
        # Node 1 has no memory online yet: numa_map_to_online_node picks node 0.
        "numa_node": "0",
    }
    assert "MODALIAS=platform:hmem" in kmem.read(f"{HMEM}/uevent").splitlines()
    assert kmem.reads(REGION, "id", "size", "align", "available_size", "seed", "create") == {
        "id": "0",
        "size": str(SIZE),
        "align": "2097152",
        "available_size": "0",  # dax0.0 takes it all
        "seed": "",
        "create": "",
    }
    assert view.lstat(f"{REGION}/align").mode & 0o777 == 0o400
    assert view.realpath(f"{DEV}/dax0.0") == f"{HMEM}/dax0.0"
    assert kmem.reads(
        f"{DEV}/dax0.0", "size", "target_node", "numa_node", "memmap_on_memory", "resource"
    ) == {
        "size": str(SIZE),
        "target_node": "1",
        "numa_node": "0",  # inherited from hmem.0
        "memmap_on_memory": "0",
        "resource": f"{BASE:#x}",
    }
    assert kmem.reads(f"{DEV}/dax0.0/mapping0", "start", "end", "page_offset") == {
        "start": f"{BASE:#x}",
        "end": f"{BASE + SIZE - 1:#x}",
        "page_offset": "0x0",
    }
    # Built in, device_hmem shows only its parameter; dax_hmem is a loaded module.
    assert sorted(view.listdir("/sys/module/device_hmem")) == ["parameters", "uevent"]
    assert kmem.read("/sys/module/device_hmem/parameters/disable") == "N"
    assert kmem.read("/sys/module/dax_hmem/initstate") == "live"


def test_kmem_takes_hmem_memory_as_system_ram(kmem: Stores) -> None:
    # v6.3+: dax_hmem's regions are kmem flagged, so dax0.0 comes up as System RAM,
    # offline as auto_online_blocks says, on the range's node.
    assert kmem.bound("dax0.0", "dax") == "kmem"
    assert kmem.read(f"{NODE}/possible") == "0-1"
    assert kmem.read(f"{NODE}/online") == "0-1"
    for index in (BLOCKS[0], BLOCKS[-1]):
        assert kmem.read(f"{MEM}/memory{index}/state") == "offline"
        assert kmem.view().realpath(f"{MEM}/memory{index}/node1") == f"{NODE}/node1"
    assert not kmem.exists(f"{MEM}/memory{BLOCKS[-1] + 1}")
    assert iomem.render(kmem.kernel()).splitlines()[2:] == [
        "200000000-2ffffffff : Soft Reserved",
        "  200000000-2ffffffff : dax0.0",
        "    200000000-2ffffffff : System RAM (kmem)",
    ]


def test_a_kernel_without_kmem_leaves_it_to_device_dax(devdax: Stores) -> None:
    assert devdax.bound("dax0.0", "dax") == "device_dax"
    assert not devdax.exists("/sys/bus/dax/drivers/kmem")
    assert not devdax.exists("/sys/module/kmem")
    assert devdax.exists("/sys/module/device_dax")
    assert not devdax.exists(f"{MEM}/memory{BLOCKS[0]}")
    assert devdax.read(f"{NODE}/online") == "0"
    assert iomem.render(devdax.kernel()).splitlines()[2:] == [
        "200000000-2ffffffff : Soft Reserved",
        "  200000000-2ffffffff : dax0.0",
    ]


def test_the_region_is_dynamic(devdax: Stores) -> None:
    """Carved as a CXL RAM region's is (the rules themselves: test_dax_kernel_rules)."""
    devdax.refuse(f"{REGION}/create", "1\0", errno.ENOSPC, "no capacity")
    devdax.ok(f"{DEV}/dax0.0/driver/remove_id", "dax0.0\0")
    devdax.ok(f"{DEV}/dax0.0/driver/unbind", "dax0.0\0")
    devdax.ok(f"{DEV}/dax0.0/size", "0x40000000\n\0")
    devdax.ok(f"{REGION}/create", "1\0")
    assert devdax.reads(REGION, "seed", "create", "available_size") == {
        "seed": "dax0.1",
        "create": "dax0.1",
        "available_size": str(3 * GiB),
    }
    devdax.ok(f"{DEV}/dax0.1/align", "1073741824\0")
    devdax.ok(f"{DEV}/dax0.1/mapping", f"{BASE + 2 * GiB:#x}-{BASE + 3 * GiB - 1:#x}\0")
    devdax.ok(f"{DEV}/dax0.1/size", f"{2 * GiB:#x}\n\0")
    assert devdax.reads(f"{DEV}/dax0.1/mapping1", "start", "end") == {
        "start": f"{BASE + GiB:#x}",
        "end": f"{BASE + 2 * GiB - 1:#x}",
    }
    devdax.refuse(f"{REGION}/delete", "dax0.0\0", errno.EBUSY)
    devdax.ok("/sys/bus/dax/drivers/device_dax/bind", "dax0.1\0")
    assert devdax.bound("dax0.1", "dax") == "device_dax"
    # device_dax requested each of its ranges; dax0.0 (unbound) none.
    assert iomem.render(devdax.kernel()).splitlines()[2:] == [
        "200000000-2ffffffff : Soft Reserved",
        "  240000000-27fffffff : dax0.1",
        "  280000000-2bfffffff : dax0.1",
    ]


def test_unbinding_hmem_takes_the_region_away(kmem: Stores) -> None:
    kmem.ok(f"{PLATFORM_DRIVERS}/hmem/unbind", "hmem.0\0")
    assert not kmem.exists(REGION)
    assert kmem.view().listdir(DEV) == []
    # The blocks were offline, so kmem's remove took them.
    assert not kmem.exists(f"{MEM}/memory{BLOCKS[0]}")
    assert kmem.kernel().dax_regions == {}
    kmem.ok(f"{PLATFORM_DRIVERS}/hmem/bind", "hmem.0\0")
    assert kmem.read(f"{REGION}/size") == str(SIZE)
    assert kmem.bound("dax0.0", "dax") == "kmem"
    kmem.ok(f"{PLATFORM_DRIVERS}/hmem_platform/unbind", "hmem_platform.0\0")
    assert not kmem.exists(HMEM)
    assert kmem.kernel().hmem == {}
    kmem.ok(f"{PLATFORM_DRIVERS}/hmem_platform/bind", "hmem_platform.0\0")
    assert kmem.bound("hmem.0", "platform") == "hmem"


def _with_window() -> Platform:
    device = Type3Device(ram_size=GiB, serial=1)
    return finalize(
        Platform(
            name="p",
            host_bridges=[HostBridge(uid=7, bus_nr=0x30, root_ports=[RootPort(0, device)])],
            windows=[window()],
            soft_reserved=[SoftReserved(start=BASE, size=GiB, node=2)],
        )
    )


def test_memregion_ids_are_shared_with_cxl(tmp_path: Path) -> None:
    # decoder0.0 holds memregion id 0 from cxl_acpi's probe, which dax_hmem waits for.
    s = Stores(tmp_path, _with_window())
    assert s.exists("/sys/devices/platform/hmem.1/dax_region")
    assert s.bound("dax1.0", "dax") == "kmem"
    assert s.read("decoder0.0/create_ram_region") == "region0"
    s.ok("decoder0.0/create_ram_region", "region0\0")
    # 1 is hmem.1's: the next region is region2.
    assert s.read("decoder0.0/create_ram_region") == "region2"
    assert s.read(f"{NODE}/possible") == "0-2"


TOML = """\
[[host_bridge]]
uid = 7
[[host_bridge.root_port]]
port = 0
[[soft_reserved]]
{sr}
"""


def test_platform_file() -> None:
    platform = parse_platform(
        tomllib.loads("kmem = false\n" + TOML.format(sr='start = "8G"\nsize = "2G"\nnode = 3')),
        "p",
    )
    assert platform.soft_reserved == [SoftReserved(start=BASE, size=2 * GiB, node=3)]
    assert platform.kmem is False
    assert platform.windows == []


@pytest.mark.parametrize(
    ("sr", "message"),
    [
        ('start = "8G"\nsize = "3M"', "soft_reserved 0: size 0x300000 is not a positive multiple"),
        ('start = "0x200100000"\nsize = "2G"', "soft_reserved 0: start 0x200100000 is not 2M"),
        ('start = "1G"\nsize = "2G"', "soft_reserved 0: overlaps boot RAM"),
        ('start = "64G"\nsize = "2G"\nnode = 1', "soft_reserved 0: overlaps window 0"),
        ('start = "8G"\nsize = "2G"\nnodes = 1', "soft_reserved[0].nodes: unknown key"),
        ('start = "8G"\nsize = "2G"\nnode = 5000', "soft_reserved[0].node"),
    ],
)
def test_platform_file_refusals(sr: str, message: str) -> None:
    text = TOML.format(sr=sr)
    if "window" in message:
        text += '[[window]]\ntargets = [7]\nsize = "4G"\n'
    with pytest.raises(PlatformError) as info:
        parse_platform(tomllib.loads(text), "p")
    assert message in str(info.value)


def test_two_ranges_must_not_overlap() -> None:
    with pytest.raises(PlatformError, match="soft_reserved 1: overlaps soft_reserved 0"):
        finalize(
            Platform(
                name="p",
                host_bridges=[HostBridge(uid=7, root_ports=[RootPort(0)])],
                soft_reserved=[SoftReserved(BASE, 2 * GiB), SoftReserved(BASE + GiB, GiB)],
            )
        )
