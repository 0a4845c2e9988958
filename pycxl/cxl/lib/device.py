"""What every libcxl object with a sysfs directory shares: its path and name, attribute
writes that report the kernel's errno, and enabling or disabling it through a driver.

The write side follows libcxl: every value is written followed by its NUL byte; enabling
offers the device's name to the ``bind`` file of each cxl driver in turn, and success is
judged only by the ``driver`` link appearing; disabling writes the name to the bound
driver's ``unbind`` file and is judged by the link going away. Results are libcxl's: 0 or
a negative errno.
"""

from __future__ import annotations

import errno

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.ctx import Ctx


def c_hex(value: int) -> str:
    """C's ``%#llx``, as libcxl writes sizes: ``0x``-prefixed lowercase hex, except that
    zero is plain ``0``."""
    return f"{value:#x}" if value else "0"


class Device:
    """A mix-in for objects that carry ``ctx``, ``dev_path`` and ``devname``."""

    ctx: Ctx
    dev_path: str
    devname: str

    def is_enabled(self) -> bool:
        """Bound to a driver: ``driver`` is a symlink."""
        return self.ctx.is_enabled(self.dev_path)

    def write_attr(self, name: str, value: str) -> int:
        """Store ``value`` (plus its NUL) in the attribute ``name``: 0 or -errno."""
        return self.ctx.write_attr(f"{self.dev_path}/{name}", value)

    def bind(self) -> int:
        """Offer the device to the cxl drivers (``util_bind``); the link decides."""
        return self.ctx.bind(self.devname)

    def unbind(self) -> int:
        """Write the name to the bound driver's ``unbind`` (``util_unbind``)."""
        return self.ctx.unbind(self.dev_path)

    def enable_device(self, func: str) -> int:
        """libcxl's enable: nothing to do when bound; else bind, and fail with ENXIO when
        no driver took the device. ``func`` names the libcxl function for the log."""
        if self.is_enabled():
            return 0
        self.bind()
        log = self.ctx.log
        if not self.is_enabled():
            log.err(func, f"{self.devname}: failed to enable\n")
            return -errno.ENXIO
        log.dbg(func, f"{self.devname}: enabled\n")
        return 0

    def disable_device(self, func: str) -> int:
        """libcxl's plain disable: unbind (its result does not matter), then fail with
        EBUSY while the device is still bound."""
        self.unbind()
        log = self.ctx.log
        if self.is_enabled():
            log.err(func, f"{self.devname}: failed to disable\n")
            return -errno.EBUSY
        log.dbg(func, f"{self.devname}: disabled\n")
        return 0
