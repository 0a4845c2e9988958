"""The libdaxctl object model: DAX regions and their devices, their mappings, and the
memory blocks of system-ram devices.

Objects read what they need when they are made (a device's size, resource, align and target
node, a region's size and align), as libdaxctl does, and keep it: setters update the cached
values, and a region's device list is re-read only after a device is enabled. Lists follow
libdaxctl's head insertion: reverse readdir order. Writes send the value plus its NUL; the
results are libdaxctl's (0 or -errno) and its messages ``libdaxctl: <function>: ...``.
"""

from __future__ import annotations

import errno
import os
import sys

from pycxl.sysfs.base import Sysfs
from pycxl.util.cparse import ULLONG_MAX, scan_int, scan_int_pair, strtoll, strtoull, to_int
from pycxl.util.log import Log
from pycxl.util.sysattr import ATTR_SIZE, attr_text

MEMORY = "/sys/devices/system/memory"
NODES = "/sys/devices/system/node"
DAX_BUS = "/sys/bus/dax"
#: Where devices are looked for, in libdaxctl's order: the legacy class, then the bus.
DAX_SUBSYSTEMS = ("/sys/class/dax", "/sys/bus/dax/devices")
#: The drivers of the two device modes.
MODULES = {"devdax": "device_dax", "system-ram": "kmem"}


def _read(sysfs: Sysfs, path: str) -> str | None:
    try:
        data = sysfs.read(path)
    except OSError:
        return None
    return None if len(data) >= ATTR_SIZE else attr_text(data)


def _read_rc(sysfs: Sysfs, path: str) -> tuple[str | None, int]:
    """An attribute's text, or None and -errno."""
    try:
        data = sysfs.read(path)
    except OSError as e:
        return None, -(e.errno or errno.EIO)
    if len(data) >= ATTR_SIZE:
        return None, -errno.EIO
    return attr_text(data), 0


def strerror(rc: int) -> str:
    return os.strerror(abs(rc))


class DaxCtx:
    """``struct daxctl_ctx``: the sysfs, the library log, the regions found."""

    def __init__(self, sysfs: Sysfs) -> None:
        self.sysfs = sysfs
        self.log = Log("libdaxctl", "DAXCTL_LOG")
        self._regions: list[DaxRegion] | None = None

    def write_attr(self, path: str, value: str) -> int:
        """sysfs_write_attr: the value and its NUL; 0 or -errno."""
        try:
            self.sysfs.write(path, value.encode("utf-8", "surrogateescape") + b"\0")
        except OSError as e:
            return -(e.errno or errno.EIO)
        return 0

    def regions(self) -> list[DaxRegion]:
        """Every region a ``daxR.N`` entry leads to (its directory's parent; for the class
        model the parent's parent), each once, newest found first."""
        if self._regions is None:
            found: list[DaxRegion] = []
            for base in DAX_SUBSYSTEMS:
                try:
                    names = self.sysfs.listdir(base)
                except OSError:
                    self.log.dbg("__dax_regions_init", f"no dax regions found via: {base}\n")
                    continue
                for name in names:
                    ids = scan_int_pair(name, "dax")
                    if ids is None:
                        continue
                    try:
                        path = self.sysfs.realpath(f"{base}/{name}")
                    except OSError:
                        self.log.err("__dax_regions_init", "dax region path allocation failure\n")
                        continue
                    path = path.rpartition("/")[0]
                    if base == DAX_SUBSYSTEMS[0]:
                        path = path.rpartition("/")[0]
                    self.log.dbg("add_dax_region", f"add_dax_region: '{path}'\n")
                    if any(r.path == path for r in found):
                        continue
                    found.insert(0, DaxRegion(self, ids[0], path))
            self._regions = found
        return self._regions


class DaxRegion:
    def __init__(self, ctx: DaxCtx, region_id: int, path: str) -> None:
        self.ctx = ctx
        self.sysfs = ctx.sysfs
        self.id = region_id
        self.path = path
        self.size: int | None = None
        self.align: int | None = None
        size = _read(self.sysfs, f"{path}/dax_region/size")
        if size is not None:
            self.size = strtoull(size)[0]
        align = _read(self.sysfs, f"{path}/dax_region/align")
        if align is not None:
            self.align = strtoull(align)[0]
        self._devices: list[DaxDevice] | None = None

    @property
    def devname(self) -> str:
        return os.path.basename(self.path)

    @property
    def available_size(self) -> int:
        """Read afresh each time; 0 when absent or not a whole number."""
        text = _read(self.sysfs, f"{self.path}/dax_region/available_size")
        if not text:
            return 0
        value, end = strtoull(text)
        return value if end == len(text) else 0

    def devices(self) -> list[DaxDevice]:
        if self._devices is None:
            self._devices = []
            self._scan()
        return self._devices

    def rescan(self) -> None:
        """dax_devices_init again: new devices join the list; known ones are kept."""
        if self._devices is None:
            self.devices()
        else:
            self._scan()

    def _scan(self) -> None:
        """dax_devices_init: the legacy class directory (``<region>/dax``), then the
        region's own directory; a device already known is kept as it was."""
        assert self._devices is not None
        log = self.ctx.log
        prefix = f"dax{self.id}."
        for base in (f"{self.path}/dax", self.path):
            log.dbg("__sysfs_device_parse", f"base: '{base}' dev: '{prefix}'\n")
            try:
                names = self.sysfs.listdir(base)
            except OSError:
                log.dbg("__sysfs_device_parse", f'no "{prefix}" devices found\n')
                continue
            for name in names:
                dev_id = scan_int(name, prefix)
                if dev_id is None:
                    continue
                log.dbg("add_dax_dev", f"add_dax_dev: base: '{base}/{name}'\n")
                dev = DaxDevice.create(self, dev_id, f"{base}/{name}")
                if dev is None:
                    log.err("__sysfs_device_parse", f"{prefix}{dev_id}: add_dev() failed\n")
                    continue
                if not any(d.id == dev_id for d in self._devices):
                    self._devices.insert(0, dev)
                log.dbg("__sysfs_device_parse", f"{prefix}{dev_id}: processed\n")

    def _attr(self, name: str) -> str:
        return f"{self.path}/dax_region/{name}"

    def create_dev(self) -> int:
        return self.ctx.write_attr(self._attr("create"), "1")

    def destroy_dev(self, dev: DaxDevice) -> int:
        return self.ctx.write_attr(self._attr("delete"), dev.devname)

    def dev_seed(self) -> DaxDevice | None:
        """The device ``seed`` names, among those known (rescan first to see new ones)."""
        text = _read(self.sysfs, self._attr("seed"))
        if text is None:
            return None
        return next((d for d in self.devices() if d.devname == text), None)


class DaxDevice:
    def __init__(self, region: DaxRegion, dev_id: int, path: str) -> None:
        self.region = region
        self.ctx = region.ctx
        self.sysfs = region.sysfs
        self.id = dev_id
        self.path = path
        self.devname = os.path.basename(path)
        self.major = self.minor = 0
        self.size = 0
        self.resource = 0
        self.align = 0
        self.target_node = -1
        self._mem: DaxMemory | None = None
        self._mappings: list[DaxMapping] | None = None

    @classmethod
    def create(cls, region: DaxRegion, dev_id: int, path: str) -> DaxDevice | None:
        """add_dax_dev: None when ``/dev/<name>`` or ``size`` is missing."""
        dev = cls(region, dev_id, path)
        sysfs = region.sysfs
        try:
            st = sysfs.stat_dev(f"/dev/{dev.devname}")
        except OSError:
            return None
        dev.major, dev.minor = st.major, st.minor
        resource = _read(sysfs, f"{path}/resource")
        dev.resource = strtoull(resource)[0] if resource is not None else 0
        size = _read(sysfs, f"{path}/size")
        if size is None:
            return None
        dev.size = strtoull(size)[0]
        align = _read(sysfs, f"{path}/align")
        dev.align = strtoull(align)[0] if align is not None else 0
        node = _read(sysfs, f"{path}/target_node")
        dev.target_node = to_int(strtoll(node)[0]) if node is not None else -1
        return dev

    # -- the device model and binding ----------------------------------------------------

    def on_dax_bus(self) -> bool:
        """device_model_is_dax_bus: the char dev's subsystem is /sys/bus/dax."""
        log, name = self.ctx.log, self.devname
        node = f"/dev/{name}"
        try:
            st = self.sysfs.stat_dev(node)
        except OSError as e:
            reason = strerror(e.errno or errno.ENOENT)
            log.err("device_model_is_dax_bus", f"{name}: stat for {node} failed: {reason}\n")
            return False
        try:
            subsystem = self.sysfs.realpath(f"/sys/dev/char/{st.major}:{st.minor}/subsystem")
        except OSError as e:
            reason = strerror(e.errno or errno.ENOENT)
            log.err("device_model_is_dax_bus", f"{name}:  unable to determine subsys: {reason}\n")
            return False
        return subsystem == DAX_BUS

    def is_enabled(self) -> bool:
        """A dax-class device always counts as enabled; else the ``driver`` link."""
        if not self.on_dax_bus():
            return True
        return self.sysfs.is_link(f"{self.path}/driver")

    def _driver_name(self) -> str | None:
        try:
            return os.path.basename(self.sysfs.realpath(f"{self.path}/driver"))
        except OSError:
            return None

    def system_ram_capable(self) -> bool:
        return self.on_dax_bus() and self.is_enabled() and self._driver_name() == "kmem"

    def memory(self) -> DaxMemory | None:
        """daxctl_dev_get_memory: the device's memory while it is bound to kmem."""
        if self._mem is None and self.system_ram_capable():
            self._mem = DaxMemory(self)
        return self._mem

    def mode(self) -> str:
        return "system-ram" if self.memory() is not None else "devdax"

    def enable(self, mode: str) -> int:
        """daxctl_dev_enable: ``new_id`` then ``bind`` of the mode's driver; judged by the
        ``driver`` link. The emulated kernel has both drivers built in: no module load."""
        log, name = self.ctx.log, self.devname
        if not self.on_dax_bus():
            log.err("daxctl_dev_enable", f"{name}: error: device model is dax-class\n")
            log.err("daxctl_dev_enable", f"{name}: see man daxctl-migrate-device-model\n")
            return -errno.EOPNOTSUPP
        if self.is_enabled():
            return 0
        # Loading the module is left to the system: it is built in or loaded (libkmod
        # finds it live in /sys/module and does nothing); upstream says it tries.
        module = MODULES[mode]
        log.dbg("daxctl_insert_kmod_for_mode", f"{name} inserting module: {module}\n")
        if not self.sysfs.exists(f"/sys/module/{module}"):
            # Neither loaded nor built in (a kernel without kmem): libkmod finds no module
            # to load and says so on its own, then libdaxctl gives up with its -ENOENT.
            sys.stderr.write(
                "libkmod: ERROR ../libkmod/libkmod-module.c:895 kmod_module_insert_module: "
                f"could not find module by name='{module}'\n"
            )
            log.err("daxctl_insert_kmod_for_mode", f"{name}: insert failure: {-errno.ENOENT}\n")
            return -errno.ENOENT
        rc = self._bind(module)
        if not self.is_enabled():
            log.err("daxctl_dev_enable", f"{name}: failed to enable\n")
            return rc if rc else -errno.ENXIO
        self.region.rescan()
        log.dbg("daxctl_dev_enable", f"{name}: enabled\n")
        return 0

    def _bind(self, driver: str) -> int:
        """daxctl_bind: the driver's ``new_id`` (which binds already), then its ``bind``;
        the result is the ``bind`` write's."""
        drivers = f"{DAX_BUS}/drivers"
        try:
            names = self.sysfs.listdir(drivers)
        except OSError:
            self.ctx.log.err("daxctl_bind", f'{self.devname}: opendir("{drivers}") failed\n')
            return -errno.ENXIO
        rc = 0
        if driver in names:
            self.ctx.write_attr(f"{drivers}/{driver}/new_id", self.devname)
            rc = self.ctx.write_attr(f"{drivers}/{driver}/bind", self.devname)
        if rc:
            self.ctx.log.dbg("daxctl_bind", f"{self.devname}: bind failed\n")
        return rc

    def disable(self) -> int:
        """daxctl_dev_disable: ``remove_id`` then ``unbind`` of the bound driver; EBUSY if
        the ``driver`` link stays."""
        log, name = self.ctx.log, self.devname
        if not self.on_dax_bus():
            log.err("daxctl_dev_disable", f"{name}: error: device model is dax-class\n")
            log.err("daxctl_dev_disable", f"{name}: see man daxctl-migrate-device-model\n")
            return -errno.EOPNOTSUPP
        if not self.is_enabled():
            return 0
        self._mem = None
        if self.ctx.write_attr(f"{self.path}/driver/remove_id", name) == 0:
            self.ctx.write_attr(f"{self.path}/driver/unbind", name)
        if self.is_enabled():
            log.err("daxctl_dev_disable", f"{name}: failed to disable\n")
            return -errno.EBUSY
        log.dbg("daxctl_dev_disable", f"{name}: disabled\n")
        return 0

    # -- size, align, mappings -----------------------------------------------------------

    def set_size(self, size: int) -> int:
        value = f"{size:#x}\n" if size else "0\n"
        if self.ctx.write_attr(f"{self.path}/size", value) < 0:
            self.ctx.log.err("daxctl_dev_set_size", f"{self.devname}: failed to set size\n")
            return -errno.ENXIO
        self.size = size
        return 0

    def set_align(self, align: int) -> int:
        value = f"{align:#x}\n" if align else "0\n"
        if self.ctx.write_attr(f"{self.path}/align", value) < 0:
            self.ctx.log.err("daxctl_dev_set_align", f"{self.devname}: failed to set align\n")
            return -errno.ENXIO
        self.align = align
        return 0

    def set_mapping(self, start: int, end: int) -> int:
        first = f"{start:#x}" if start else "0"
        last = f"{end:#x}" if end else "0"
        if self.ctx.write_attr(f"{self.path}/mapping", f"{first}-{last}\n") < 0:
            self.ctx.log.err("daxctl_dev_set_mapping", f"{self.devname}: failed to set mapping\n")
            return -errno.ENXIO
        self.size = (self.size + end - start + 1) & ULLONG_MAX
        return 0

    def mappings(self) -> list[DaxMapping]:
        """``mappingN`` for N = 0, 1, ... while all three files read, newest first."""
        if self._mappings is None:
            found: list[DaxMapping] = []
            index = 0
            while True:
                base = f"{self.path}/mapping{index}"
                values = [_read(self.sysfs, f"{base}/{n}") for n in ("start", "end", "page_offset")]
                if any(v is None for v in values):
                    break
                start, end, pgoff = (strtoull(v or "")[0] for v in values)
                found.insert(0, DaxMapping(start, end, pgoff))
                index += 1
            self._mappings = found
        return self._mappings


class DaxMapping:
    __slots__ = ("end", "page_offset", "start")

    def __init__(self, start: int, end: int, page_offset: int) -> None:
        self.start = start
        self.end = end
        self.page_offset = page_offset

    @property
    def size(self) -> int:
        return (self.end - self.start + 1) & ULLONG_MAX


#: daxctl's names for the zones; "mixed" is what disagreeing blocks make.
MOVABLE, NORMAL, MIXED = "Movable", "Normal", "mixed"
#: What is written to ``state`` to online into each zone.
ONLINE_AS = {MOVABLE: "online_movable", NORMAL: "online"}


class DaxMemory:
    """``struct daxctl_memory``: the memory blocks of a system-ram device, found through
    its target node's directory (``memoryN`` links) and the blocks' ``phys_index``."""

    def __init__(self, dev: DaxDevice) -> None:
        self.dev = dev
        self.sysfs = dev.sysfs
        self.log = dev.ctx.log
        self.block_size = 0
        self.node_path: str | None = None
        self.zone: str | None = None
        text = _read(self.sysfs, f"{MEMORY}/block_size_bytes")
        if text is not None:
            self.block_size = strtoull(text, 16)[0]
            if self.block_size in (0, ULLONG_MAX):
                self.log.err(
                    "daxctl_dev_alloc_mem",
                    f"{dev.devname}: Unable to determine memblock size: Success\n",
                )
                self.block_size = 0
        if dev.target_node >= 0:
            self.node_path = f"{NODES}/node{dev.target_node}"

    def _read_err(self, func: str, path: str) -> tuple[str | None, int]:
        text, rc = _read_rc(self.sysfs, path)
        if text is None:
            self.log.err(func, f"{self.dev.devname}: Failed to read {path}: {strerror(rc)}\n")
        return text, rc

    def _is_online(self, block: str) -> int:
        if self.node_path is None:
            return -errno.ENXIO
        text, rc = self._read_err("memblock_is_online", f"{self.node_path}/{block}/state")
        if text is None:
            return rc
        return 1 if text.startswith("online") else 0

    def _in_dev(self, block: str) -> int:
        name = self.dev.devname
        text, rc = _read_rc(self.sysfs, f"{MEMORY}/{block}/phys_index")
        if text is None:
            self.log.err(
                "memblock_in_dev",
                f"{name}: {block}: Unable to determine phys_index: {strerror(rc)}\n",
            )
            return rc
        index = strtoull(text, 16)[0]
        start = self.dev.resource
        if not start:
            self.log.err("memblock_in_dev", f"{name}: Unable to determine resource\n")
            return -errno.EACCES
        if not self.block_size:
            self.log.err("memblock_in_dev", f"{name}: Unable to determine memory block size\n")
            return -errno.ENXIO
        address = (index * self.block_size) & ULLONG_MAX
        return 1 if start <= address <= start + self.dev.size - 1 else 0

    def _online_one(self, block: str, zone: str) -> int:
        rc = self._is_online(block)
        if rc:
            return rc
        try:
            self.sysfs.write(f"{self.node_path}/{block}/state", ONLINE_AS[zone].encode() + b"\0")
        except OSError as e:
            if self._is_online(block) == 1:
                return 0  # onlined by someone else: the zone scan will tell
            return -(e.errno or errno.EIO)
        return 0

    def _offline_one(self, block: str) -> int:
        rc = self._is_online(block)
        if rc <= 0:
            return rc if rc < 0 else 1
        text, rc = self._read_err("memblock_is_removable", f"{self.node_path}/{block}/removable")
        if text is None:
            return rc
        if strtoull(text)[0] == 0:
            self.log.err("offline_one_memblock", f"{self.dev.devname}: {block} is unremovable\n")
            return -errno.EOPNOTSUPP
        path = f"{self.node_path}/{block}/state"
        try:
            self.sysfs.write(path, b"offline\0")
        except OSError as e:
            if not self._is_online(block):
                return 1
            err = e.errno or errno.EIO
            self.log.err(
                "offline_one_memblock",
                f"{self.dev.devname}: Failed to offline {path}: {strerror(err)}\n",
            )
            return -err
        return 0

    def _find_zone(self, block: str, status: list[bool]) -> int:
        rc = self._is_online(block)
        if rc < 0:
            return rc
        if rc == 0:
            return -errno.ENXIO
        text, rc = self._read_err("memblock_find_zone", f"{self.node_path}/{block}/valid_zones")
        if text is None:
            return rc
        zone = text if text in (MOVABLE, NORMAL) else MIXED
        if self.zone is None:
            self.zone = zone
        elif self.zone != zone:
            status[0] = True
        return 0

    def _op(self, op: str) -> int:
        """daxctl_memory_op: run ``op`` on each block of the device (in the node
        directory's readdir order); the number of blocks for which it returned 0."""
        if self.node_path is None:
            self.log.err("daxctl_memory_op", f"{self.dev.devname}: Failed to get node_path\n")
            return -errno.ENXIO
        try:
            names = self.sysfs.listdir(self.node_path)
        except OSError as e:
            return -(e.errno or errno.EIO)
        count = 0
        inconsistent = [False]
        for name in names:
            if not name.startswith("memory") or name.startswith("memory_"):
                continue
            rc = self._in_dev(name)
            if rc < 0:
                return rc
            if rc == 0:
                continue
            if op == "count":
                rc = 0
            elif op == "is_online":
                rc = self._is_online(name)
                rc = rc if rc < 0 else int(not rc)
            elif op == "offline":
                rc = self._offline_one(name)
            elif op == "zone":
                rc = self._find_zone(name, inconsistent)
            else:
                rc = self._online_one(name, op)
            if rc < 0:
                return rc
            if rc == 0:
                count += 1
        if inconsistent[0]:
            self.zone = MIXED
        return count

    def num_sections(self) -> int:
        return self._op("count")

    def is_online(self) -> int:
        """How many of the device's blocks are online."""
        return self._op("is_online")

    def offline(self) -> int:
        return self._op("offline")

    def online(self, zone: str = MOVABLE) -> int:
        """Online every offline block into ``zone``: the number onlined. When none was,
        every block must be in ``zone`` already (a race otherwise: EBUSY)."""
        rc = self._op(zone)
        if rc:
            return rc
        self.zone = None
        rc = self._op("zone")
        if rc < 0:
            return rc
        if self.zone != zone:
            self.log.err(
                "daxctl_memory_online_with_zone",
                f"{self.dev.devname}:\n  WARNING: detected a race while onlining memory\n"
                "  See 'man daxctl-reconfigure-device' for more details\n",
            )
            return -errno.EBUSY
        return rc

    def is_movable(self) -> int:
        """1 if every block is online in ZONE_MOVABLE, 0 if not (or no blocks), -errno when
        a block is offline."""
        self.zone = None
        rc = self._op("zone")
        if rc < 0:
            return rc
        return 1 if self.zone == MOVABLE else 0


def will_auto_online(dev: DaxDevice) -> bool:
    """daxctl_dev_will_auto_online_memory: the kernel's policy starts with ``online``."""
    text, rc = _read_rc(dev.sysfs, f"{MEMORY}/auto_online_blocks")
    if text is None:
        dev.ctx.log.err(
            "daxctl_dev_will_auto_online_memory",
            f"{dev.devname}: Unable to determine auto-online policy: {strerror(rc)}\n",
        )
        return False
    return text.startswith("online")


def open_region(sysfs: Sysfs, path: str) -> DaxRegion | None:
    """The DAX region at ``path`` (``.../regionN/dax_regionN``), or None if absent."""
    if not sysfs.exists(path):
        return None
    region_id = scan_int(os.path.basename(path), "dax_region")
    return DaxRegion(DaxCtx(sysfs), region_id if region_id is not None else -1, path)
