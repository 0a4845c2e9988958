"""The DAX bus: the DAX region a bound ``dax_regionN`` carries, its devices ``daxN.M``, and
the drivers cxl_dax_region, kmem and device_dax (kernel-sysfs.md §3.1).

A CXL RAM region's DAX region is dynamic, 2 MiB aligned and flagged for kmem, so its first
device, covering the whole region, binds to ``kmem``, which adds its memory blocks as
System RAM (kernel.memory). Userspace carves the region with the region's ``create`` and
``delete`` files and each device's ``size``, ``mapping`` and ``align``; the drivers' id
lists (``new_id`` / ``remove_id``) override the match by region type. Each remove undoes
its probe, except kmem's, which cannot take back memory that is still online.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import changes, core, memory
from fake_sysfs.kernel.attrs import (
    const,
    kstrtobool,
    kstrtoint,
    kstrtoull,
    show_attr,
    show_only,
    show_store,
    show_store_attr,
    store_attr,
    store_only,
    streq,
    when,
    written_name,
)
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_DAX_REGION, cxl_driver
from fake_sysfs.kernel.regions import Region, region_of
from fake_sysfs.kernfs.nodes import Dir, Link, Node
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: Character major for /dev/daxN.M; local/experimental range, see memdevs.CXL_MEM_MAJOR.
DAX_MAJOR = 61
PAGE_SIZE = 4096
PMD_SIZE = 2 << 20
PUD_SIZE = 1 << 30
#: memremap_compat_align() on x86: the smallest granule of a device's ranges (a subsection).
COMPAT_ALIGN = PMD_SIZE
ULLONG_MAX = (1 << 64) - 1


@dataclass(eq=False, repr=False)
class DaxDevice(Record):
    id: int
    #: The DAX region's id (N of daxN.M).
    region: int
    #: Physical ranges as [start, size] pairs, in allocation (page offset) order.
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


@dataclass(eq=False, repr=False)
class DaxRegion(Record):
    id: int
    start: int
    size: int
    target_node: int
    align: int = PMD_SIZE
    kmem: bool = True
    devices: list[DaxDevice] = field(default_factory=list)
    #: The device the last ``create`` write made ("" until userspace creates one, or once
    #: it is deleted).
    youngest: str = ""
    #: The first created device that has not been bound yet ("" when none).
    seed: str = ""
    #: Key of the device that carries the ``dax_region/`` group: "" for a CXL region's
    #: ``dax_regionN`` (and a static region, which has none), ``bus/platform/hmem.N`` for
    #: dax_hmem's.
    host: str = ""
    #: The NUMA node the region's devices inherit from their parent (``numa_node``).
    numa_node: int = -1

    def available(self) -> int:
        return self.size - sum(dev.size for dev in self.devices)

    @property
    def end(self) -> int:
        """The last byte of the region (resources are inclusive ranges)."""
        return self.start + self.size - 1


def target_node(k: Kernel, window: int) -> int:
    """The NUMA node memory of a window comes up on.

    QEMU describes no CXL memory in SRAT, so Linux gives each window a memory-only node
    after the firmware nodes; cxl_test's mock addresses have none and fall back to node 0.
    """
    if k.platform.style == "cxl_test":
        return 0
    return max(k.memory.cpu_nodes) + 1 + window


def _minor(k: Kernel) -> int:
    return lowest_free_id({d.minor for r in k.dax_regions.values() for d in r.devices})


def _add_dax_device(k: Kernel, dax: DaxRegion, parent: str, dev: DaxDevice) -> None:
    dax.devices.append(dev)
    core.device_add(k, Device(dev.name, parent, "dax", "dax", devt=[DAX_MAJOR, dev.minor]))


def add_dax_region(k: Kernel, dax: DaxRegion, parent: str, memmap_on_memory: int) -> None:
    """Register ``dax`` and its first device ``daxN.0`` covering all of it, below the
    device ``parent``; the dax bus then binds that device."""
    k.dax_regions[dax.id] = dax
    first = DaxDevice(
        id=0,
        region=dax.id,
        ranges=[[dax.start, dax.size]],
        minor=_minor(k),
        align=dax.align,
        memmap_on_memory=memmap_on_memory,
    )
    _add_dax_device(k, dax, parent, first)


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
    k.dax_regions[dax.id] = dax
    first = DaxDevice(
        id=0, region=dax.id, ranges=[[region.start, region.size]], minor=_minor(k), align=dax.align
    )
    _add_dax_device(k, dax, dev.key, first)


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


def _region_dev(k: Kernel, dax: DaxRegion) -> Device:
    return k.devices[dax.host or f"bus/cxl/dax_region{dax.id}"]


def region_id_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.id


def region_size_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.size


def region_align_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.align


def available_size_show(k: Kernel, dax: DaxRegion) -> int:
    return dax.available()


def seed_show(k: Kernel, dax: DaxRegion) -> str:
    return dax.seed


def create_show(k: Kernel, dax: DaxRegion) -> str:
    return dax.youngest


def create_store(k: Kernel, dax: DaxRegion, buf: bytes) -> None:
    """``1`` creates a zero-sized device ``daxN.<lowest free id>``: EINVAL for any other
    value, ENOSPC when the region has no capacity left (3.1.1)."""
    region_dev = _region_dev(k, dax)
    try:
        value = kstrtoint(buf)
    except KernfsError:
        k.log.dbg(region_dev, "create: not a number")
        raise
    if value != 1:
        k.log.dbg(region_dev, f"create: {value} is not 1")
        raise kerr(errno.EINVAL)
    if dax.available() == 0:
        k.log.dbg(region_dev, "create: no capacity available")
        raise kerr(errno.ENOSPC)
    dev = DaxDevice(
        id=lowest_free_id({d.id for d in dax.devices}),
        region=dax.id,
        align=dax.align,
        memmap_on_memory=0,
        minor=_minor(k),
    )
    _add_dax_device(k, dax, region_dev.key, dev)
    if not dax.seed:
        dax.seed = dev.name
    dax.youngest = dev.name


def delete_store(k: Kernel, dax: DaxRegion, buf: bytes) -> None:
    """Delete an unbound, zero-sized device of this region: ENXIO if it is not one of the
    region's devices, EBUSY if bound, sized or ``daxN.0`` (kept so that /sys/bus/dax is
    populated while the region exists) (3.1.1)."""
    region_dev = _region_dev(k, dax)
    name = written_name(buf)
    victim = next((d for d in dax.devices if d.name == name), None)
    if victim is None:
        k.log.dbg(region_dev, f"delete: {name!r} is no device of this region")
        raise kerr(errno.ENXIO)
    if k.dev(victim).driver or victim.size:
        k.log.dbg(region_dev, f"delete: {name} is bound or not empty")
        raise kerr(errno.EBUSY)
    if victim.id == 0:
        k.log.dbg(region_dev, f"delete: {name} is the region's first device, kept")
        raise kerr(errno.EBUSY)
    if dax.seed == name:
        dax.seed = ""
    if dax.youngest == name:
        dax.youngest = ""
    core.device_unregister(k, k.dev(victim))


def dax_region_group(k: Kernel, dax: DaxRegion) -> dict[str, Node]:
    """The ``dax_region/`` attribute group of a dynamic region (on its host device)."""
    return {
        "id": show_attr(region_id_show, k, dax),
        "size": show_attr(region_size_show, k, dax),
        "align": show_attr(region_align_show, k, dax, 0o400),
        "available_size": show_attr(available_size_show, k, dax),
        "seed": show_attr(seed_show, k, dax),
        "create": show_store_attr(create_show, create_store, k, dax),
        "delete": store_attr(delete_store, k, dax),
    }


def _shown_by_dax_region(k: Kernel, dax: DaxRegion) -> list[str]:
    # Its ``dax_region/`` group sits on the host device (a CXL dax_regionN, or hmem.N), and
    # its devices below show what it holds too.
    found: set[str] = set()
    changes.add_subtree(k, found, dax.host or f"bus/cxl/dax_region{dax.id}")
    return list(found)


changes.shown_by(DaxRegion, _shown_by_dax_region)


def _group(k: Kernel, region: Region) -> Node | None:
    # Present once the cxl_dax_region probe has made the DAX region.
    dax = k.dax_regions.get(region.id)
    return None if dax is None else Dir(lambda: dax_region_group(k, dax))


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


# -- the dax bus: matching, probing, the drivers' id lists -------------------------------------


def dax_device_of(k: Kernel, dev: Device) -> DaxDevice:
    region, _, number = dev.name[len("dax") :].partition(".")
    return next(d for d in k.dax_regions[int(region)].devices if d.id == int(number))


def _dax_release(k: Kernel, dev: Device) -> None:
    found = dax_device_of(k, dev)
    k.dax_regions[found.region].devices.remove(found)


def _ids(k: Kernel, driver: str) -> list[str]:
    return k.dax_driver_ids.setdefault(driver, [])


def _match(driver: str, kmem_type: bool) -> Callable[[Kernel, Device], bool]:
    """dax_bus_match: the device's name in the driver's id list, or else its region's type
    (kmem-flagged regions go to kmem, every other one to device_dax)."""

    def match(k: Kernel, dev: Device) -> bool:
        if dev.name in k.dax_driver_ids.get(driver, []):
            return True
        if not kmem_type and not k.platform.kmem:
            return True  # a kernel without kmem: device_dax takes every device
        return k.dax_regions[dax_device_of(k, dev).region].kmem == kmem_type

    return match


def _bus_probe(probe: Callable[[Kernel, Device], None]) -> Callable[[Kernel, Device], None]:
    """dax_bus_probe: a zero-sized device is refused (ENXIO); a probed seed stops being
    the region's seed."""

    def bus_probe(k: Kernel, dev: Device) -> None:
        found = dax_device_of(k, dev)
        if found.size == 0:
            raise kerr(errno.ENXIO)
        probe(k, dev)
        dax = k.dax_regions[found.region]
        if dax.seed == found.name:
            dax.seed = ""

    return bus_probe


def device_dax_probe(k: Kernel, dev: Device) -> None:
    """The char device serves mmap of the ranges; nothing more to set up here."""
    return None


def _kmem_ranges(k: Kernel, found: DaxDevice) -> list[tuple[int, int, int] | None]:
    """Each range of the device cut to whole memory blocks (dax_kmem_range):
    (start, end inclusive, size), or None when no whole block is left of it."""
    bs = k.memory.block_size
    out: list[tuple[int, int, int] | None] = []
    for start, size in found.ranges:
        first = -(-start // bs) * bs
        last = (start + size) // bs * bs - 1
        out.append((first, last, last - first + 1) if first < last else None)
    return out


def kmem_probe(k: Kernel, dev: Device) -> None:
    """Hot-add the device's memory as System RAM (dev_dax_kmem_probe): a region without a
    NUMA node, or without one whole memory block, is refused (EINVAL); a range still
    reserved from a failed removal cannot be reserved again (EBUSY) (3.1.3)."""
    found = dax_device_of(k, dev)
    dax = k.dax_regions[found.region]
    if dax.target_node < 0:
        k.log.warn(dev, f"rejecting DAX region with invalid node: {dax.target_node}")
        raise kerr(errno.EINVAL)
    ranges = _kmem_ranges(k, found)
    for index, (rng, (start, size)) in enumerate(zip(ranges, found.ranges, strict=True)):
        if rng is None:
            end = start + size - 1
            k.log.info(dev, f"mapping{index}: {start:#x}-{end:#x} too small after alignment")
    if not any(ranges):
        k.log.warn(dev, "rejecting DAX region without any memory after alignment")
        raise kerr(errno.EINVAL)
    mapped = 0
    for index, rng in enumerate(ranges):
        if rng is None:
            continue
        start, end, size = rng
        if not memory.reserve(k, start, size, found.name):
            k.log.warn(dev, f"mapping{index}: {start:#x}-{end:#x} could not reserve region")
            if mapped:
                continue
            raise kerr(errno.EBUSY)
        memory.add_memory(k, start, size, dax.target_node, found.name)
        mapped += 1


def kmem_remove(k: Kernel, dev: Device) -> None:
    """Remove the device's memory blocks (dev_dax_kmem_remove); online ones cannot go: the
    range then stays reserved, with its blocks, until reboot (3.1.3)."""
    found = dax_device_of(k, dev)
    for index, rng in enumerate(_kmem_ranges(k, found)):
        if rng is None:
            continue
        start, end, size = rng
        if memory.remove_memory(k, start, size, found.name):
            memory.release(k, start, found.name)
        else:
            k.log.err(
                dev,
                f"mapping{index}: {start:#x}-{end:#x} cannot be hotremoved until the next reboot",
            )


_DAX_NAME = re.compile(rb"\s*dax([+-]?\d+)\.([+-]?\d+)")


def _id_store(k: Kernel, drv: Driver, buf: bytes, add: bool) -> None:
    """do_id_store: the value must be a device name ``daxR.N`` and nothing else (EINVAL);
    ``new_id`` adds it (once) and attaches the driver to every unbound device it now
    matches, ``remove_id`` drops it (silently if absent)."""
    attr = "new_id" if add else "remove_id"
    found = _DAX_NAME.match(buf.split(b"\0", 1)[0])
    if found is None or not streq(buf, f"dax{int(found[1])}.{int(found[2])}"):
        k.log.dbg(drv.name, f"{attr}: {written_name(buf)!r} is not a dax device name")
        raise kerr(errno.EINVAL)
    name = written_name(buf)
    ids = _ids(k, drv.name)
    if not add:
        if name in ids:
            ids.remove(name)
        return
    if name not in ids:
        ids.insert(0, name)
    for dev in list(k.devices.values()):
        if dev.bus == "dax" and not dev.driver and drv.match(k, dev):
            # driver_attach ignores a probe that fails.
            with contextlib.suppress(KernfsError):
                core.bind(k, drv, dev)


def new_id_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    _id_store(k, drv, buf, add=True)


def remove_id_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    _id_store(k, drv, buf, add=False)


def _id_files(name: str) -> Callable[[Kernel], dict[str, Node]]:
    def attrs(k: Kernel) -> dict[str, Node]:
        drv = core.bus_type("dax").drivers[name]
        return {
            "new_id": store_attr(new_id_store, k, drv),
            "remove_id": store_attr(remove_id_store, k, drv),
            # Both are modules of their own (kernel.modules lists them).
            "module": Link(f"module/{name}"),
        }

    return attrs


KMEM_DRIVER = Driver(
    "kmem",
    "dax",
    _match("kmem", kmem_type=True),
    _bus_probe(kmem_probe),
    kmem_remove,
    # Absent from a kernel built without it (CONFIG_DEV_DAX_KMEM=n).
    loaded=lambda k: k.platform.kmem,
    attrs=_id_files("kmem"),
)
DEVICE_DAX_DRIVER = Driver(
    "device_dax",
    "dax",
    _match("device_dax", kmem_type=False),
    _bus_probe(device_dax_probe),
    attrs=_id_files("device_dax"),
)


# -- DAX device attributes (3.1.2) -------------------------------------------------------------


def _aligned(dev: DaxDevice, size: int) -> bool:
    """alloc_is_aligned: a multiple of the device's align, and at least of a subsection."""
    return size % max(dev.align, COMPAT_ALIGN) == 0


def _resources(dax: DaxRegion) -> list[tuple[int, int, DaxDevice, int]]:
    """The region's allocations in address order: (start, end, device, range index)."""
    found = [
        (start, start + size - 1, dev, index)
        for dev in dax.devices
        for index, (start, size) in enumerate(dev.ranges)
    ]
    return sorted(found, key=lambda r: r[0])


def _grow(dax: DaxRegion, dev: DaxDevice, to_alloc: int) -> None:
    """dev_dax_resize's expansion, first fit from the region start: a free extent right
    after the device's last range extends that range, any other free extent becomes a new
    range; repeated until ``to_alloc`` is allocated (the caller checked it is free)."""
    while to_alloc:
        res = _resources(dax)
        if not res:
            dev.ranges.append([dax.start, to_alloc])
            return
        alloc = 0
        for i, (start, end, owner, index) in enumerate(res):
            nxt = res[i + 1] if i + 1 < len(res) else None
            if i == 0 and start > dax.start:
                alloc = min(start - dax.start, to_alloc)
                dev.ranges.append([dax.start, alloc])
                break
            alloc = 0
            if nxt is not None and nxt[0] > end + 1:
                alloc = min(nxt[0] - (end + 1), to_alloc)
            if not alloc and nxt is None and end < dax.end:
                alloc = min(dax.end - end, to_alloc)
            if not alloc:
                continue
            if owner is dev and index == len(dev.ranges) - 1:
                dev.ranges[-1][1] += alloc
            else:
                dev.ranges.append([end + 1, alloc])
            break
        if not alloc:
            raise kerr(errno.ENOSPC)
        to_alloc -= alloc


def _shrink(dev: DaxDevice, size: int) -> None:
    """dev_dax_shrink: give back from the last range first."""
    to_shrink = dev.size - size
    while to_shrink:
        last = dev.ranges[-1]
        if to_shrink >= last[1]:
            to_shrink -= last[1]
            dev.ranges.pop()
        else:
            last[1] -= to_shrink
            to_shrink = 0


def _static(k: Kernel, dev: DaxDevice) -> bool:
    """A static region (an nvdimm namespace's) has fixed devices; a CXL RAM region's DAX
    region, carried by ``dax_regionN``, and dax_hmem's, carried by ``hmem.N``, are dynamic."""
    if k.dax_regions[dev.region].host:
        return False
    return f"bus/cxl/dax_region{dev.region}" not in k.devices


def size_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.size


def size_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """Resize an unbound device: EINVAL if not a multiple of max(align, 2 MiB), EBUSY while
    bound, ENOSPC for growth beyond the region's free capacity; growth allocates first
    fit, shrinking gives back the last ranges first (3.1.2)."""
    kdev = k.dev(dev)
    try:
        size = kstrtoull(buf)
    except KernfsError:
        k.log.dbg(kdev, "size: not a number")
        raise
    if not _aligned(dev, size):
        k.log.dbg(kdev, f"size_store: size: {size} misaligned")
        raise kerr(errno.EINVAL)
    dax = k.dax_regions[dev.region]
    if kdev.driver:
        k.log.dbg(kdev, f"size: busy, bound to {kdev.driver}")
        raise kerr(errno.EBUSY)
    if size == dev.size:
        return
    if size > dev.size and size - dev.size > dax.available():
        k.log.dbg(kdev, f"size: {size - dev.size} more bytes than the region has free")
        raise kerr(errno.ENOSPC)
    if size < dev.size:
        _shrink(dev, size)
    else:
        _grow(dax, dev, size - dev.size)


def align_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.align


def align_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """A supported page size (4 KiB, 2 MiB, 1 GiB; ENXIO if not a number, EINVAL
    otherwise), while unbound (EBUSY), that every range is a multiple of (EINVAL)."""
    kdev = k.dev(dev)
    try:
        value = kstrtoull(buf)
    except KernfsError:
        k.log.dbg(kdev, "align: not a number")
        raise kerr(errno.ENXIO) from None
    if value not in (PAGE_SIZE, PMD_SIZE, PUD_SIZE):
        k.log.dbg(kdev, f"align: {value} is not a supported page size")
        raise kerr(errno.EINVAL)
    if kdev.driver:
        k.log.dbg(kdev, f"align: busy, bound to {kdev.driver}")
        raise kerr(errno.EBUSY)
    for index, (_, size) in enumerate(dev.ranges):
        if size % max(value, COMPAT_ALIGN):
            k.log.dbg(kdev, f"dev_dax_validate_align: align {value} invalid for range {index}")
            raise kerr(errno.EINVAL)
    dev.align = value


def mapping_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """Allocate exactly the physical range ``start-end`` (hex, inclusive) to the device:
    EINVAL if unparsable, ENXIO if its length is misaligned, ENOMEM if it is not free
    space of the region (3.1.2)."""
    kdev = k.dev(dev)
    text = buf.split(b"\0", 1)[0]
    first, sep, second = text.partition(b"-")
    if not sep:
        k.log.dbg(kdev, "mapping: expected start-end")
        raise kerr(errno.EINVAL)
    try:
        start = kstrtoull(first, 16)
        end = kstrtoull(second, 16)
    except KernfsError:
        k.log.dbg(kdev, "mapping: expected hexadecimal start-end")
        raise
    length = (end - start + 1) & ULLONG_MAX
    if not _aligned(dev, length):
        k.log.dbg(kdev, f"mapping: length {length:#x} misaligned")
        raise kerr(errno.ENXIO)
    if length == 0:
        if dev.ranges:
            k.log.warn(kdev, "0-size allocation must be first")
            raise kerr(errno.EBUSY)
        return
    dax = k.dax_regions[dev.region]
    inside = dax.start <= start and start + length - 1 <= dax.end
    if not inside or any(s <= start + length - 1 and start <= e for s, e, _, _ in _resources(dax)):
        k.log.dbg(kdev, f"mapping: {start:#x}-{end:#x} is not free space of the region")
        raise kerr(errno.ENOMEM)
    dev.ranges.append([start, length])


def resource_show(k: Kernel, dev: DaxDevice) -> str:
    start = dev.ranges[0][0] if dev.ranges else k.dax_regions[dev.region].start
    return f"{start:#x}"


def numa_node_show(k: Kernel, dev: DaxDevice) -> int:
    return k.dax_regions[dev.region].numa_node


def memmap_on_memory_show(k: Kernel, dev: DaxDevice) -> int:
    return dev.memmap_on_memory


def memmap_on_memory_store(k: Kernel, dev: DaxDevice, buf: bytes) -> None:
    """A boolean; changing it while kmem holds the device is EBUSY (it takes effect at
    the next kmem bind). The emulated kernel supports memmap-on-memory."""
    kdev = k.dev(dev)
    try:
        value = int(kstrtobool(buf))
    except KernfsError:
        k.log.dbg(kdev, "memmap_on_memory: not a boolean")
        raise
    if value != dev.memmap_on_memory and kdev.driver == "kmem":
        k.log.dbg(kdev, "memmap_on_memory: busy, bound to kmem")
        raise kerr(errno.EBUSY)
    dev.memmap_on_memory = value


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
    return f"{sum(s for _, s in dev.ranges[:index]) // PAGE_SIZE:#x}"


def _mapping(k: Kernel, dev: DaxDevice, index: int) -> dict[str, Node]:
    rng = (dev, index)
    return {
        "start": show_attr(mapping_start_show, k, rng, 0o400),
        "end": show_attr(mapping_end_show, k, rng, 0o400),
        "page_offset": show_attr(mapping_page_offset_show, k, rng, 0o400),
    }


def _mappings(k: Kernel, dev: DaxDevice) -> dict[str, Node]:
    # Mapping ids come from a per-device allocator and the last range always goes first,
    # so mappingN is the N-th range.
    return {f"mapping{i}": Dir(partial(_mapping, k, dev, i)) for i in range(len(dev.ranges))}


_SIZE = show_store(size_show, size_store)
_ALIGN = show_store(align_show, align_store)

DAX_DEVICE: DeviceType[DaxDevice] = DeviceType(
    "dax",
    get=dax_device_of,
    entries={
        "modalias": const("dax:t0"),
        # Read-only, and no mapping file, in a static region (dev_dax_visible).
        "size": lambda k, d: (show_only(size_show) if _static(k, d) else _SIZE)(k, d),
        "align": lambda k, d: (show_only(align_show) if _static(k, d) else _ALIGN)(k, d),
        "mapping": when(lambda k, d: not _static(k, d), store_only(mapping_store)),
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
