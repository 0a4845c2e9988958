"""The DAX bus: ``dax_regionN`` (made when a RAM region binds) and its devices ``daxN.M``.

A CXL RAM region's DAX region is dynamic, 2 MiB aligned and flagged for kmem, so its first
device, covering the whole region, binds to ``kmem`` and becomes System RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fake_sysfs.kernfs.nodes import Attr, Node, not_emulated, ro, uevent, wo

#: Character major for /dev/daxN.M; local/experimental range, see memdevs.CXL_MEM_MAJOR.
DAX_MAJOR = 61
PMD_SIZE = 2 << 20


@dataclass
class DaxDevice:
    id: int
    #: Physical ranges as [start, size] pairs, in allocation order.
    ranges: list[list[int]] = field(default_factory=list)
    align: int = PMD_SIZE
    #: Bound driver: "kmem", "device_dax" or "" (unbound).
    driver: str = ""
    memmap_on_memory: int = 1
    minor: int = 0

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


def dax_region_group(region: DaxRegion) -> dict[str, Node]:
    """The ``dax_region/`` attribute group of a dynamic region."""
    seed = ""
    for dev in region.devices:
        if dev.size == 0 and not dev.driver:
            seed = f"dax{region.id}.{dev.id}"
            break
    return {
        "id": ro(region.id),
        "size": ro(region.size),
        "align": ro(region.align, 0o400),
        "available_size": ro(region.available()),
        "seed": ro(seed),
        "create": Attr(0o644, lambda: f"{region.youngest}\n".encode(), not_emulated),
        "delete": wo(),
    }


def dax_device_attrs(region: DaxRegion, dev: DaxDevice) -> dict[str, Node]:
    name = f"dax{region.id}.{dev.id}"
    start = dev.ranges[0][0] if dev.ranges else region.start
    driver = [f"DRIVER={dev.driver}"] if dev.driver else []
    attrs: dict[str, Node] = {
        "uevent": uevent(
            [
                f"MAJOR={DAX_MAJOR}",
                f"MINOR={dev.minor}",
                f"DEVNAME={name}",
                *driver,
                "MODALIAS=dax:t0",
            ]
        ),
        "dev": ro(f"{DAX_MAJOR}:{dev.minor}"),
        "modalias": ro("dax:t0"),
        "size": Attr(0o644, lambda: f"{dev.size}\n".encode(), not_emulated),
        "align": Attr(0o644, lambda: f"{dev.align}\n".encode(), not_emulated),
        "mapping": wo(),
        "resource": ro(f"{start:#x}", 0o400),
        "numa_node": ro(-1),
        "memmap_on_memory": Attr(0o644, lambda: f"{dev.memmap_on_memory}\n".encode(), not_emulated),
    }
    if region.target_node >= 0:
        attrs["target_node"] = ro(region.target_node)
    return attrs


def mapping_attrs(region: DaxRegion, dev: DaxDevice, index: int) -> dict[str, Node]:
    start, size = dev.ranges[index]
    offset = sum(s for _, s in dev.ranges[:index]) // 4096
    return {
        "start": ro(f"{start:#x}", 0o400),
        "end": ro(f"{start + size - 1:#x}", 0o400),
        "page_offset": ro(f"{offset:#x}" if offset else "0x0", 0o400),
    }
