"""The libdaxctl object model: DAX regions and their devices, and memory blocks of
system-ram devices."""

from __future__ import annotations

import os

from pycxl.sysfs.base import Sysfs
from pycxl.util.cparse import scan_int, strtoll, strtoull, to_int
from pycxl.util.sysattr import ATTR_SIZE, attr_text

MEMORY = "/sys/devices/system/memory"
NODES = "/sys/devices/system/node"


def _read(sysfs: Sysfs, path: str) -> str | None:
    try:
        data = sysfs.read(path)
    except OSError:
        return None
    return None if len(data) >= ATTR_SIZE else attr_text(data)


class DaxDevice:
    def __init__(self, region: DaxRegion, dev_id: int, path: str) -> None:
        self.region = region
        self.id = dev_id
        self.path = path
        self.devname = os.path.basename(path)
        self.size = 0
        self.resource = 0
        self.align = 0
        self.target_node = -1
        self.sysfs = region.sysfs

    @classmethod
    def create(cls, region: DaxRegion, dev_id: int, path: str) -> DaxDevice | None:
        dev = cls(region, dev_id, path)
        sysfs = region.sysfs
        try:
            sysfs.stat_dev(f"/dev/{dev.devname}")
        except OSError:
            return None
        size = _read(sysfs, f"{path}/size")
        if size is None:
            return None
        dev.size = strtoull(size)[0]
        resource = _read(sysfs, f"{path}/resource")
        dev.resource = strtoull(resource)[0] if resource is not None else 0
        align = _read(sysfs, f"{path}/align")
        dev.align = strtoull(align)[0] if align is not None else 0
        node = _read(sysfs, f"{path}/target_node")
        dev.target_node = to_int(strtoll(node)[0]) if node is not None else -1
        return dev

    def is_enabled(self) -> bool:
        return self.sysfs.is_link(f"{self.path}/driver")

    def mode(self) -> str:
        if not self.is_enabled():
            return "devdax"
        try:
            driver = self.sysfs.realpath(f"{self.path}/driver")
        except OSError:
            return "devdax"
        return "system-ram" if os.path.basename(driver) == "kmem" else "devdax"

    def memory_blocks(self) -> list[str] | int:
        """Paths (through the node directory) of the device's memory blocks, or -errno."""
        if self.target_node < 0:
            return -6  # -ENXIO
        block_size_text = _read(self.sysfs, f"{MEMORY}/block_size_bytes")
        if block_size_text is None:
            return -6
        block_size = strtoull(block_size_text, 16)[0]
        node_dir = f"{NODES}/node{self.target_node}"
        try:
            names = self.sysfs.listdir(node_dir)
        except OSError as e:
            return -(e.errno or 6)
        blocks = []
        end = self.resource + self.size - 1
        for name in names:
            if not name.startswith("memory") or name.startswith("memory_"):
                continue
            index = _read(self.sysfs, f"{MEMORY}/{name}/phys_index")
            if index is None:
                continue
            start = strtoull(index, 16)[0] * block_size
            if self.resource <= start <= end:
                blocks.append(f"{node_dir}/{name}")
        return blocks


class DaxRegion:
    def __init__(self, sysfs: Sysfs, region_id: int, path: str) -> None:
        self.sysfs = sysfs
        self.id = region_id
        self.path = path
        self.size: int | None = None
        self.align: int | None = None
        self.available_size = 0
        self._devices: list[DaxDevice] | None = None

    def devices(self) -> list[DaxDevice]:
        if self._devices is None:
            found: list[DaxDevice] = []
            try:
                names = self.sysfs.listdir(self.path)
            except OSError:
                names = []
            prefix = f"dax{self.id}."
            for name in names:
                dev_id = scan_int(name, prefix)
                if dev_id is None:
                    continue
                dev = DaxDevice.create(self, dev_id, f"{self.path}/{name}")
                if dev is None:
                    import sys

                    sys.stderr.write(f"libdaxctl: __sysfs_device_parse: {name}: add_dev() failed\n")
                    continue
                found.insert(0, dev)
            self._devices = found
        return self._devices


def open_region(sysfs: Sysfs, path: str) -> DaxRegion | None:
    """The DAX region at ``path`` (``.../regionN/dax_regionN``), or None if absent."""
    if not sysfs.exists(path):
        return None
    region_id = scan_int(os.path.basename(path), "dax_region")
    region = DaxRegion(sysfs, region_id if region_id is not None else -1, path)
    size = _read(sysfs, f"{path}/dax_region/size")
    if size is not None:
        region.size = strtoull(size)[0]
    align = _read(sysfs, f"{path}/dax_region/align")
    if align is not None:
        region.align = strtoull(align)[0]
    available = _read(sysfs, f"{path}/dax_region/available_size")
    if available is not None:
        region.available_size = strtoull(available)[0]
    return region
