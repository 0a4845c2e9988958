"""The DAX bus: the DAX region a bound ``dax_regionN`` carries, its devices ``daxN.M``, and
the drivers cxl_dax_region, kmem and device_dax.

A CXL RAM region's DAX region is dynamic, 2 MiB aligned and flagged for kmem, so its first
device, covering the whole region, binds to ``kmem``, which adds its memory blocks as
System RAM (kernel.memory). Each remove undoes its probe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core, memory
from fake_sysfs.kernel.attrs import (
    const,
    not_emulated,
    show_attr,
    show_only,
    show_store,
    show_store_attr,
    store_attr,
    store_only,
    when,
)
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_DAX_REGION, cxl_driver
from fake_sysfs.kernel.regions import Region, region_of
from fake_sysfs.kernfs.nodes import Dir, Node

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: Character major for /dev/daxN.M; local/experimental range, see memdevs.CXL_MEM_MAJOR.
DAX_MAJOR = 61
PMD_SIZE = 2 << 20


@dataclass
class DaxDevice:
    id: int
    #: The DAX region's id (N of daxN.M).
    region: int
    #: Physical ranges as [start, size] pairs, in allocation order.
    ranges: list[list[int]] = field(default_factory=list)
    align: int = PMD_SIZE
    memmap_on_memory: int = 1
    minor: int = 0

    @property
    def name(self) -> str:
        return f"dax{self.region}.{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/dax/{self.name}"

    @property
    def size(self) -> int:
        return sum(size for _, size in self.ranges)


@dataclass
class DaxRegion:
    id: int
    start: int
    size: int
    target_node: int
    align: int = PMD_SIZE
    kmem: bool = True
    devices: list[DaxDevice] = field(default_factory=list)
    #: The device the last ``create`` write made (empty until userspace creates one).
    youngest: str = ""

    def available(self) -> int:
        return self.size - sum(dev.size for dev in self.devices)


def target_node(k: Kernel, window: int) -> int:
    """The NUMA node memory of a window comes up on.

    QEMU describes no CXL memory in SRAT, so Linux gives each window a memory-only node
    after the firmware nodes; cxl_test's mock addresses have none and fall back to node 0.
    """
    if k.platform.style == "cxl_test":
        return 0
    return max(k.memory.cpu_nodes) + 1 + window


# -- cxl_dax_region: a bound RAM region's dax_regionN ------------------------------------------


def cxl_dax_region_probe(k: Kernel, dev: Device) -> None:
    """Create the DAX region over the CXL region's range and its first device covering all
    of it; the dax bus then binds that device (kmem, for a kmem-flagged region)."""
    region = region_of(k, dev)
    assert region.start is not None
    dax = DaxRegion(
        id=region.id,
        start=region.start,
        size=region.size,
        target_node=target_node(k, region.root_decoder),
    )
    minor = lowest_free_id({d.minor for r in k.dax_regions.values() for d in r.devices})
    k.dax_regions[dax.id] = dax
    dax_dev = DaxDevice(id=0, region=dax.id, ranges=[[region.start, region.size]], minor=minor)
    dax.devices.append(dax_dev)
    core.device_add(k, Device(dax_dev.name, dev.key, "dax", "dax", devt=[DAX_MAJOR, minor]))


def cxl_dax_region_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)
    k.dax_regions.pop(region_of(k, dev).id, None)


CXL_DAX_REGION_DRIVER = cxl_driver(
    "cxl_dax_region",
    CXL_DEVICE_DAX_REGION,
    cxl_dax_region_probe,
    cxl_dax_region_remove,
    bind_attrs=False,
)


def region_id_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.id


def region_size_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.size


def region_align_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.align


def available_size_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.available()


def seed_show(k: Kernel, dax: DaxRegion) -> str:
    """The first device created but never bound, with no capacity yet."""
    for dev in dax.devices:
        if dev.size == 0 and not k.dev(dev).driver:
            return dev.name
    return ""


def create_show(k: Kernel, dax: DaxRegion) -> str:
    return dax.youngest


def create_store(k: Kernel, dax: DaxRegion, buf: bytes) -> None:
    """``1`` creates a zero-sized device ``daxN.<next id>`` (3.1.1)."""
    not_emulated(k, k.devices.get(f"bus/cxl/dax_region{dax.id}"), "dax_region/create")


def delete_store(k: Kernel, dax: DaxRegion, buf: bytes) -> None:
    """Delete an unbound, zero-sized device of this region (3.1.1)."""
    not_emulated(k, k.devices.get(f"bus/cxl/dax_region{dax.id}"), "dax_region/delete")


def _dax_region_group(k: Kernel, dax: DaxRegion) -> dict[str, Node]:
    """The ``dax_region/`` attribute group of a dynamic region."""
    return {
        "id": show_attr(region_id_show, k, dax),
        "size": show_attr(region_size_show, k, dax),
        "align": show_attr(region_align_show, k, dax, 0o400),
        "available_size": show_attr(available_size_show, k, dax),
        "seed": show_attr(seed_show, k, dax),
        "create": show_store_attr(create_show, create_store, k, dax),
        "delete": store_attr(delete_store, k, dax),
    }


def _group(k: Kernel, region: Region) -> Node | None:
    # Present once the cxl_dax_region probe has made the DAX region.
    dax = k.dax_regions.get(region.id)
    return None if dax is None else Dir(lambda: _dax_region_group(k, dax))


DAX_REGION: DeviceType[Region] = DeviceType(
    "cxl_dax_region",
    get=region_of,
    entries={
        "devtype": const("cxl_dax_region"),
        "modalias": const("cxl:t8"),
        "dax_region": _group,
    },
    devtype="cxl_dax_region",
    uevent_vars=lambda k, region: ["MODALIAS=cxl:t8"],
)


# -- DAX devices and their drivers -------------------------------------------------------------


def dax_device_of(k: Kernel, dev: Device) -> DaxDevice:
    region, _, number = dev.name[len("dax") :].partition(".")
    return next(d for d in k.dax_regions[int(region)].devices if d.id == int(number))


def _dax_release(k: Kernel, dev: Device) -> None:
    found = dax_device_of(k, dev)
    k.dax_regions[found.region].devices.remove(found)


def _kmem_flagged(k: Kernel, dev: Device) -> bool:
    return k.dax_regions[dax_device_of(k, dev).region].kmem


def kmem_probe(k: Kernel, dev: Device) -> None:
    """Hot-add the device's memory as System RAM; a region without a valid NUMA node is
    refused (3.1.3)."""
    found = dax_device_of(k, dev)
    dax = k.dax_regions[found.region]
    if dax.target_node < 0:
        k.log.warn(dev, f"rejecting DAX region with invalid node: {dax.target_node}")
        raise kerr(errno.EINVAL)
    for start, size in found.ranges:
        memory.add_memory(k, start, size, dax.target_node, found.name)


def kmem_remove(k: Kernel, dev: Device) -> None:
    """Remove the device's memory blocks; online ones cannot go, and the range stays
    reserved until reboot (3.1.3)."""
    found = dax_device_of(k, dev)
    for index, (start, size) in enumerate(found.ranges):
        if not memory.remove_memory(k, start, size, found.name):
            end = start + size - 1
            k.log.err(
                dev,
                f"mapping{index}: {start:#x}-{end:#x} cannot be hotremoved until the next reboot",
            )


def new_id_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    """Add ``daxN.M`` to the driver's ids and bind matching unbound devices (3.1.3)."""
    not_emulated(k, drv.name, "new_id")


def remove_id_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    not_emulated(k, drv.name, "remove_id")


def _id_files(name: str) -> Callable[[Kernel], dict[str, Node]]:
    def attrs(k: Kernel) -> dict[str, Node]:
        drv = core.bus_type("dax").drivers[name]
        return {
            "new_id": store_attr(new_id_store, k, drv),
            "remove_id": store_attr(remove_id_store, k, drv),
        }

    return attrs


KMEM_DRIVER = Driver(
    "kmem",
    "dax",
    lambda k, dev: _kmem_flagged(k, dev),
    kmem_probe,
    kmem_remove,
    attrs=_id_files("kmem"),
)
DEVICE_DAX_DRIVER = Driver(
    "device_dax", "dax", lambda k, dev: not _kmem_flagged(k, dev), attrs=_id_files("device_dax")
)


def size_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.size


def size_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """Resize an unbound device from its region's free capacity (3.1.2)."""
    not_emulated(k, k.dev(dev), "size")


def align_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.align


def align_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    not_emulated(k, k.dev(dev), "align")


def mapping_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """Add a physical range ``start-end`` to the device (3.1.2)."""
    not_emulated(k, k.dev(dev), "mapping")


def resource_show(k: Kernel, dev: DaxDevice) -> str:
    start = dev.ranges[0][0] if dev.ranges else k.dax_regions[dev.region].start
    return f"{start:#x}"


def numa_node_show(k: Kernel, dev: DaxDevice) -> int:
    return -1


def memmap_on_memory_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.memmap_on_memory


def memmap_on_memory_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    not_emulated(k, k.dev(dev), "memmap_on_memory")


def target_node_show(k: Kernel, dev: DaxDevice) -> int:
    return k.dax_regions[dev.region].target_node


def mapping_start_show(k: Kernel, rng: tuple[DaxDevice, int]) -> str:
    dev, index = rng
    return f"{dev.ranges[index][0]:#x}"


def mapping_end_show(k: Kernel, rng: tuple[DaxDevice, int]) -> str:
    dev, index = rng
    start, size = dev.ranges[index]
    return f"{start + size - 1:#x}"


def mapping_page_offset_show(k: Kernel, rng: tuple[DaxDevice, int]) -> str:
    dev, index = rng
    return f"{sum(s for _, s in dev.ranges[:index]) // 4096:#x}"


def _mapping(k: Kernel, dev: DaxDevice, index: int) -> dict[str, Node]:
    rng = (dev, index)
    return {
        "start": show_attr(mapping_start_show, k, rng, 0o400),
        "end": show_attr(mapping_end_show, k, rng, 0o400),
        "page_offset": show_attr(mapping_page_offset_show, k, rng, 0o400),
    }


def _mappings(k: Kernel, dev: DaxDevice) -> dict[str, Node]:
    return {f"mapping{i}": Dir(partial(_mapping, k, dev, i)) for i in range(len(dev.ranges))}


DAX_DEVICE: DeviceType[DaxDevice] = DeviceType(
    "dax",
    get=dax_device_of,
    entries={
        "modalias": const("dax:t0"),
        "size": show_store(size_show, size_store),
        "align": show_store(align_show, align_store),
        "mapping": store_only(mapping_store),
        "resource": show_only(resource_show, 0o400),
        "numa_node": show_only(numa_node_show),
        "memmap_on_memory": show_store(memmap_on_memory_show, memmap_on_memory_store),
        "target_node": when(lambda k, d: target_node_show(k, d) >= 0, show_only(target_node_show)),
    },
    more=_mappings,
    uevent_vars=lambda k, dev: ["MODALIAS=dax:t0"],
    power=True,
    release=_dax_release,
)
