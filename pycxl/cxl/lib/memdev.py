"""Memdevs (``/sys/bus/cxl/devices/memN``)."""

from __future__ import annotations

import errno
import os

from pycxl.cxl.lib.device import Device
from pycxl.util.cparse import ULLONG_MAX, strtoull, to_int
from pycxl.util.sysattr import attr_atoi, attr_int, attr_u64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.ctx import Ctx
    from pycxl.cxl.lib.port import Bus, Port

#: No QoS class known (the attribute is absent).
QOS_CLASS_NONE = -1

#: The attributes a memdev reads at enumeration, in libcxl's order (never mutated).
_ATTRS = [
    "pmem/size",
    "ram/size",
    "pmem/qos_class",
    "ram/qos_class",
    "payload_max",
    "label_storage_size",
    "serial",
    "numa_node",
]


def _is_number(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) <= 10


class Memdev(Device):
    def __init__(self, ctx: Ctx, mem_id: int, dev_path: str) -> None:
        self.ctx = ctx
        self.id = mem_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.major = 0
        self.minor = 0
        self.node_is_char = False  # /dev/cxl/memN was a character device at enumeration
        self.pmem_size = 0
        self.ram_size = 0
        self.pmem_qos_class = QOS_CLASS_NONE
        self.ram_qos_class = QOS_CLASS_NONE
        self.payload_max = -1
        self.lsa_size = ULLONG_MAX
        self.serial = ULLONG_MAX
        self.numa_node = -1
        self.host_path = ""
        self.host = ""
        self.firmware_version: str | None = None
        self._endpoint: Port | None = None
        self._endpoint_known = False
        self._dev_number: tuple[int, int] | None = None
        self._dev_number_known = False

    @classmethod
    def create(cls, ctx: Ctx, mem_id: int, dev_path: str) -> Memdev | None:
        mem = cls(ctx, mem_id, dev_path)
        log = ctx.log
        if log.debug:
            log.dbg("add_cxl_memdev", f"{mem.devname}: base: '{dev_path}'\n")
        try:
            st = ctx.sysfs.stat_dev(f"/dev/cxl/{mem.devname}")
        except OSError:
            return None
        mem.major, mem.minor = st.major, st.minor
        mem.node_is_char = st.is_char
        (pmem_size, ram_size, pmem_qos, ram_qos, payload_max, lsa_size, serial, numa) = (
            ctx.read_attrs(dev_path, _ATTRS)
        )
        mem.pmem_size = attr_u64(pmem_size, 0)
        mem.ram_size = attr_u64(ram_size, 0)
        mem.pmem_qos_class = attr_atoi(pmem_qos, QOS_CLASS_NONE)
        mem.ram_qos_class = attr_atoi(ram_qos, QOS_CLASS_NONE)
        if payload_max is not None:
            mem.payload_max = to_int(attr_u64(payload_max, 0))
            if mem.payload_max < 0:
                return None
        if lsa_size is not None:
            mem.lsa_size = attr_u64(lsa_size, 0)
            if mem.lsa_size == ULLONG_MAX:
                return None
        if serial is not None:
            mem.serial = strtoull(serial)[0]  # unique per device: no point in attr_u64's memo
        mem.numa_node = attr_int(numa, -1)
        real = ctx.realpath(dev_path)
        if real is None:
            return None
        mem.host_path = os.path.dirname(real)
        mem.host = mem.host_path.rpartition("/")[2]
        mem.firmware_version = ctx.read_attr(f"{dev_path}/firmware_version")
        # The nvdimm bridge child (pmemN) is looked up for label commands only.
        if log.debug:
            log.dbg("__sysfs_device_parse", f"base: '{dev_path}' dev: 'pmem'\n")
        return mem

    def dev_number(self) -> tuple[int, int] | None:
        """(major, minor) from the memdev's ``dev`` attribute (``MAJOR:MINOR``), None when
        it is missing or malformed. Read once, when a mailbox command first needs it."""
        if not self._dev_number_known:
            self._dev_number_known = True
            text = self.ctx.read_attr(f"{self.dev_path}/dev")
            if text is not None:
                major, colon, minor = text.partition(":")
                if colon and _is_number(major) and _is_number(minor):
                    self._dev_number = (int(major), int(minor))
        return self._dev_number

    def is_enabled(self) -> bool:
        return self.ctx.is_enabled(self.dev_path)

    def endpoint(self) -> Port | None:
        """The endpoint whose uport is this memdev; only an enabled memdev has one."""
        if self._endpoint_known:
            return self._endpoint
        if not self.is_enabled():
            return None
        found: Port | None = None
        for bus in self.ctx.buses():
            found = bus.find_endpoint(self)
            if found is not None:
                break
        if found is None:
            return None
        other = found.memdev_cache
        if other is not None and other is not self:
            self.ctx.log.err(
                "cxl_memdev_get_endpoint",
                f"{found.devname} assigned to {other.devname} not {self.devname}\n",
            )
        from pycxl.cxl.lib.port import pair

        pair(found, self)
        return found

    def bus(self) -> Bus | None:
        ep = self.endpoint()
        return ep.bus() if ep is not None else None

    # -- enable / disable ------------------------------------------------------------------

    def enable(self) -> int:
        """``cxl_memdev_enable``: bind to cxl_mem."""
        return self.enable_device("cxl_memdev_enable")

    def disable_invalidate(self) -> int:
        """``cxl_memdev_disable_invalidate``: unbind, then forget the bus's port tree (the
        endpoint went away with the driver)."""
        if not self.is_enabled():
            return 0
        log = self.ctx.log
        func = "cxl_memdev_disable_invalidate"
        bus = self.bus()
        if bus is None:
            log.err(func, f"{self.devname}: failed to invalidate\n")
            return -errno.ENXIO
        self.unbind()
        if self.is_enabled():
            log.err(func, f"{self.devname}: failed to disable\n")
            return -errno.EBUSY
        self.ctx.invalidate_bus(bus)
        log.dbg(func, f"{self.devname}: disabled\n")
        return 0

    def forget_endpoint(self) -> None:
        """Look the endpoint up again when next asked."""
        self._endpoint = None
        self._endpoint_known = False
