"""The part of libdaxctl that ``cxl disable-region`` needs: taking the memory of a region's
system-ram DAX devices offline before the region is unbound.

A DAX device is system-ram capable when its ``/dev`` node belongs to the dax bus and it is
bound to ``kmem``; its memory is the set of memory blocks of its target node whose physical
range lies inside the device. Offlining writes ``offline`` to each online, removable block's
``state``. Messages and results are libdaxctl's (``libdaxctl: <function>: ...``; a count
of blocks, or -errno).
"""

from __future__ import annotations

import errno
import os

from pycxl.daxctl.lib import MEMORY, NODES
from pycxl.util.cparse import ULLONG_MAX, strtoull
from pycxl.util.log import Log

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.daxctl.lib import DaxDevice


class DaxMemory:
    """``struct daxctl_memory`` of one system-ram DAX device."""

    def __init__(self, dev: DaxDevice, log: Log) -> None:
        self.dev = dev
        self.sysfs = dev.sysfs
        self.log = log
        self.block_size = 0
        self.node_path: str | None = None

    def _read(self, path: str) -> tuple[str | None, int]:
        try:
            data = self.sysfs.read(path)
        except OSError as e:
            return None, -(e.errno or errno.EIO)
        if len(data) >= 1024:
            return None, -errno.EIO
        text = data[:-1] if data.endswith(b"\n") else data
        return text.split(b"\0", 1)[0].decode("utf-8", "surrogateescape"), 0

    def _read_err(self, func: str, path: str) -> tuple[str | None, int]:
        text, rc = self._read(path)
        if text is None:
            self.log.err(func, f"{self.dev.devname}: Failed to read {path}: {os.strerror(-rc)}\n")
        return text, rc

    def _is_online(self, block: str) -> int:
        text, rc = self._read_err("memblock_is_online", f"{self.node_path}/{block}/state")
        if text is None:
            return rc
        return 1 if text.startswith("online") else 0

    def _in_dev(self, block: str) -> int:
        name = self.dev.devname
        text, rc = self._read(f"{MEMORY}/{block}/phys_index")
        if text is None:
            self.log.err(
                "memblock_in_dev",
                f"{name}: {block}: Unable to determine phys_index: {os.strerror(-rc)}\n",
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
            reason = os.strerror(e.errno or errno.EIO)
            self.log.err(
                "offline_one_memblock", f"{self.dev.devname}: Failed to offline {path}: {reason}\n"
            )
            return -(e.errno or errno.EIO)
        return 0

    def _op(self, offline: bool) -> int:
        """``daxctl_memory_op``: for each of the node's blocks inside the device, check
        (count the online ones) or offline it (count the ones offlined)."""
        if self.node_path is None:
            self.log.err("daxctl_memory_op", f"{self.dev.devname}: Failed to get node_path\n")
            return -errno.ENXIO
        try:
            names = self.sysfs.listdir(self.node_path)
        except OSError as e:
            return -(e.errno or errno.EIO)
        count = 0
        for name in names:
            if not name.startswith("memory") or name.startswith("memory_"):
                continue
            rc = self._in_dev(name)
            if rc < 0:
                return rc
            if rc == 0:
                continue
            if offline:
                rc = self._offline_one(name)
            else:
                rc = self._is_online(name)
                rc = rc if rc < 0 else int(not rc)
            if rc < 0:
                return rc
            if rc == 0:
                count += 1
        return count

    def is_online(self) -> int:
        """``daxctl_memory_is_online``: how many of the device's blocks are online."""
        return self._op(offline=False)

    def offline(self) -> int:
        """``daxctl_memory_offline``: blocks taken offline, or -errno."""
        return self._op(offline=True)


def _on_dax_bus(dev: DaxDevice, log: Log) -> bool:
    node = f"/dev/{dev.devname}"
    try:
        st = dev.sysfs.stat_dev(node)
    except OSError as e:
        reason = os.strerror(e.errno or errno.ENOENT)
        log.err("device_model_is_dax_bus", f"{dev.devname}: stat for {node} failed: {reason}\n")
        return False
    try:
        subsystem = dev.sysfs.realpath(f"/sys/dev/char/{st.major}:{st.minor}/subsystem")
    except OSError as e:
        reason = os.strerror(e.errno or errno.ENOENT)
        log.err(
            "device_model_is_dax_bus", f"{dev.devname}:  unable to determine subsys: {reason}\n"
        )
        return False
    return subsystem == "/sys/bus/dax"


def system_ram_memory(dev: DaxDevice, log: Log) -> DaxMemory | None:
    """``daxctl_dev_get_memory``: the memory of a device bound to kmem, else None."""
    if not _on_dax_bus(dev, log) or not dev.is_enabled():
        return None
    try:
        driver = dev.sysfs.realpath(f"{dev.path}/driver")
    except OSError:
        return None
    if driver.rpartition("/")[2] != "kmem":
        return None
    mem = DaxMemory(dev, log)
    text, _ = mem._read(f"{MEMORY}/block_size_bytes")
    if text is not None:
        mem.block_size = strtoull(text, 16)[0]
        if mem.block_size in (0, ULLONG_MAX):
            log.err(
                "daxctl_dev_alloc_mem",
                f"{dev.devname}: Unable to determine memblock size: {os.strerror(0)}\n",
            )
            mem.block_size = 0
    if dev.target_node >= 0:
        mem.node_path = f"{NODES}/node{dev.target_node}"
    return mem
