"""The library context: the sysfs it reads, its log, and top-level enumeration.

Objects are enumerated lazily, the first time a list is needed, and kept for the process
lifetime, the way libcxl does; the order of enumeration decides the order of log lines.
"""

from __future__ import annotations

import errno
import os

from pycxl.util.cparse import scan_int
from pycxl.util.log import Log
from pycxl.util.sysattr import ATTR_SIZE, attr_texts

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.port import Bus
    from pycxl.sysfs.base import Sysfs

    T = TypeVar("T")

CXL_DEVICES = "/sys/bus/cxl/devices"
CXL_FLUSH = "/sys/bus/cxl/flush"
CXL_DRIVERS = "/sys/bus/cxl/drivers"

#: Errors that come from opening an attribute rather than from its store (the Sysfs seam
#: raises both alike); they decide which of libcxl's two debug lines a failed write gets.
_OPEN_ERRORS = frozenset({errno.ENOENT, errno.EACCES, errno.ENOTDIR, errno.EISDIR, errno.ELOOP})


class Ctx:
    def __init__(self, sysfs: Sysfs, log: Log | None = None) -> None:
        self.sysfs = sysfs
        self.log = log if log is not None else Log("libcxl", "CXL_LOG")
        self._buses: list[Bus] | None = None
        self._memdevs: list[Memdev] | None = None
        self._memdev_by_name: dict[str, Memdev] | None = None
        self._flushed = False

    # -- attributes ------------------------------------------------------------------------

    def read_attr(self, path: str) -> str | None:
        """An attribute's value with one trailing newline stripped; None if unreadable."""
        try:
            data: bytes | OSError = self.sysfs.read(path)
        except OSError as e:
            data = e
        return self._attr_text(path, data)

    def read_attrs(self, directory: str, names: list[str]) -> list[str | None]:
        """``read_attr`` of several attributes of one directory, in order."""
        results = self.sysfs.read_many(directory, names)
        texts = attr_texts
        # Most reads succeed, and only a failure needs the path: failures are marked None
        # first, then reported with their paths, in order.
        values: list[str | None] = [
            texts[data] if type(data) is bytes and len(data) < ATTR_SIZE else None
            for data in results
        ]
        if None in values:
            for i, data in enumerate(results):
                if values[i] is None:
                    values[i] = self._attr_text(f"{directory}/{names[i]}", data)
        return values

    def _attr_text(self, path: str, data: bytes | OSError) -> str | None:
        if isinstance(data, OSError):
            if self.log.debug:
                reason = os.strerror(data.errno or 0)
                self.log.dbg("__sysfs_read_attr", f"failed to open {path}: {reason}\n")
            return None
        if len(data) >= ATTR_SIZE:
            if self.log.debug:
                self.log.dbg("__sysfs_read_attr", f"failed to read from {path}: buffer too small\n")
            return None
        return attr_texts[data]

    def realpath(self, path: str) -> str | None:
        try:
            return self.sysfs.realpath(path)
        except OSError:
            return None

    def read_attr_rc(self, path: str) -> tuple[str | None, int]:
        """``read_attr`` and its result as libcxl has it: 0, or -errno of the failure."""
        try:
            data: bytes | OSError = self.sysfs.read(path)
        except OSError as e:
            data = e
        text = self._attr_text(path, data)
        if text is not None:
            return text, 0
        if isinstance(data, OSError):
            return None, -(data.errno or errno.EIO)
        # A value that fills the buffer: upstream reports whatever errno was left over.
        return None, -errno.ENOENT

    def write_attr(self, path: str, value: str, quiet: bool = False) -> int:
        """Write ``value`` plus its terminating NUL, as libcxl does: one store through the
        Sysfs seam. Returns 0 or -errno (a short write counts as a failure)."""
        try:
            self.sysfs.write(path, value.encode("utf-8", "surrogateescape") + b"\0")
        except OSError as e:
            code = e.errno or errno.EIO
            if self.log.debug:
                reason = os.strerror(code)
                if code in _OPEN_ERRORS:
                    self.log.dbg("write_attr", f"failed to open {path}: {reason}\n")
                elif not quiet:
                    self.log.dbg("write_attr", f"failed to write {value} to {path}: {reason}\n")
            return -code
        finally:
            if path != CXL_FLUSH:
                # The kernel may now have port work pending: the next scan waits for it.
                self._flushed = False
        return 0

    def is_enabled(self, dev_path: str) -> bool:
        """A device is enabled while ``driver`` is a symlink (its target need not exist)."""
        return self.sysfs.is_link(f"{dev_path}/driver")

    def bind(self, devname: str) -> int:
        """``util_bind``: offer ``devname`` to the ``bind`` file of every cxl driver, in
        readdir order, until one store succeeds (the wrong drivers refuse it). 0 or -ENXIO;
        whether the device got bound is for the caller to check."""
        try:
            drivers = self.sysfs.listdir(CXL_DRIVERS)
        except OSError:
            self.log.err("__util_bind", f'{devname}: opendir("{CXL_DRIVERS}") failed\n')
            return -errno.ENXIO
        rc = 0
        for name in drivers:
            if name.startswith("."):
                continue
            rc = self.write_attr(f"{CXL_DRIVERS}/{name}/bind", devname, quiet=True)
            if rc == 0:
                break
        if rc:
            self.log.dbg("__util_bind", f"{devname}: bind failed\n")
            return -errno.ENXIO
        return 0

    def unbind(self, dev_path: str) -> int:
        """``util_unbind``: the device's name to its driver's ``unbind``."""
        return self.write_attr(f"{dev_path}/driver/unbind", dev_path.rpartition("/")[2])

    # -- enumeration -----------------------------------------------------------------------

    def flush(self) -> None:
        """Wait for pending port probe work before scanning (errors are ignored). Written
        before the first scan and before any scan that follows a store."""
        if not self._flushed:
            self.cxl_flush()

    def cxl_flush(self) -> None:
        self._flushed = True
        self.write_attr(CXL_FLUSH, "1\n")

    def invalidate_bus(self, bus: Bus) -> None:
        """After a memdev or port went away the bus's port tree is unknown: forget every
        memdev's endpoint and the bus's ports, and let the kernel settle (libcxl's
        ``bus_invalidate``)."""
        for memdev in self._memdevs or []:
            memdev.forget_endpoint()
        bus.forget_ports()
        self.cxl_flush()

    def drop_bus(self, bus: Bus) -> None:
        """The bus is gone (its platform device was unbound)."""
        if self._buses is not None and bus in self._buses:
            self._buses.remove(bus)
        self.cxl_flush()

    def device_parse(
        self,
        base: str,
        prefix: str,
        make: Callable[[int, str], T | None],
    ) -> list[T]:
        """Build objects for the ``<prefix><N>`` entries of ``base``; ``make`` gets N and the
        entry's path, and the object's id is N.

        Each new object goes to the head of the list, so the result is in reverse readdir
        order. A failed constructor drops the object with an error line; a repeated id
        (``mem1`` and ``mem01``) keeps the first object.
        """
        self.flush()
        log = self.log
        debug = log.debug
        if debug:
            log.dbg("__sysfs_device_parse", f"base: '{base}' dev: '{prefix}'\n")
        try:
            names = self.sysfs.scan(base, prefix)
        except OSError:
            return []
        found: list[T] = []
        seen: set[int] = set()
        for name in names:
            dev_id = scan_int(name, prefix)
            if dev_id is None:
                continue
            obj = make(dev_id, f"{base}/{name}")
            if obj is None:
                log.err("__sysfs_device_parse", f"{prefix}{dev_id}: add_dev() failed\n")
                continue
            if debug:
                log.dbg("__sysfs_device_parse", f"{prefix}{dev_id}: processed\n")
            if dev_id in seen:
                continue
            seen.add(dev_id)
            found.append(obj)
        found.reverse()
        return found

    def buses(self) -> list[Bus]:
        if self._buses is None:
            from pycxl.cxl.lib.port import Bus

            self._buses = self.device_parse(
                CXL_DEVICES, "root", lambda i, p: Bus.create_bus(self, i, p)
            )
        return self._buses

    def memdev_named(self, name: str) -> Memdev | None:
        """The memdev with this device name (names are unique directory entries)."""
        if self._memdev_by_name is None:
            self._memdev_by_name = {m.devname: m for m in self.memdevs()}
        return self._memdev_by_name.get(name)

    def memdevs(self) -> list[Memdev]:
        if self._memdevs is None:
            from pycxl.cxl.lib.memdev import Memdev

            self._memdevs = self.device_parse(
                CXL_DEVICES, "mem", lambda i, p: Memdev.create(self, i, p)
            )
        return self._memdevs
