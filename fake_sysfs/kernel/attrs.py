"""How object families declare their sysfs files.

Each attribute is a pair of functions named after it and kept beside the state it exposes,
as drivers/cxl/core/region.c has ``interleave_ways_show`` and ``interleave_ways_store``:

* ``<attr>_show(k, obj)`` returns the value; kernfs adds the kernel's trailing newline.
* ``<attr>_store(k, obj, buf)`` parses ``buf`` (what was written, NUL and newline
  included), checks the state, calls the family's rule helper and returns; or it raises
  KernfsError with the errno the kernel returns, after recording why in the kernel log
  (``k.log.dbg(dev, ...)`` / ``k.log.err(dev, ...)``, in the kernel's words). A store applies
  completely or changes nothing but the log, except where the kernel itself fails after a
  change it keeps (``fail_after_change``). A store whose rule is not emulated yet calls
  ``not_emulated``. Values are parsed as the kernel parses them (``kstrto*``, ``streq``).

A family's table maps each file name to a factory ``(k, obj) -> Node | None`` built with the
helpers below (None: hidden, as by is_visible); kernfs calls it when it draws a directory.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from fake_sysfs.errors import errno, kerr, refused
from fake_sysfs.kernfs.nodes import Attr, Node, Shown, sysfs_streq

if TYPE_CHECKING:
    from fake_sysfs.kernel.core import Device
    from fake_sysfs.kernel.state import Kernel

T = TypeVar("T")
Show = Callable[["Kernel", T], object]
Store = Callable[["Kernel", T, bytes], None]
Factory = Callable[["Kernel", T], Node | None]


def show_attr(show: Show[T], k: Kernel, obj: T, mode: int = 0o444) -> Attr:
    """The read-only attribute ``show`` gives for ``obj``."""
    return Attr(mode, value=Shown(show, k, obj))


def show_store_attr(show: Show[T], store: Store[T], k: Kernel, obj: T, mode: int = 0o644) -> Attr:
    """The read-write attribute of ``show`` and ``store`` for ``obj``."""
    return Attr(mode, store=partial(store, k, obj), value=Shown(show, k, obj))


def store_attr(store: Store[T], k: Kernel, obj: T, mode: int = 0o200) -> Attr:
    """The write-only attribute ``store`` takes for ``obj``."""
    return Attr(mode, store=partial(store, k, obj))


def show_only(show: Show[T], mode: int = 0o444) -> Factory[T]:
    """A read-only attribute (DEVICE_ATTR_RO; 0400 for admin-only ones)."""
    return lambda k, obj: show_attr(show, k, obj, mode)


def show_store(show: Show[T], store: Store[T], mode: int = 0o644) -> Factory[T]:
    """A read-write attribute (DEVICE_ATTR_RW)."""
    return lambda k, obj: show_store_attr(show, store, k, obj, mode)


def store_only(store: Store[T], mode: int = 0o200) -> Factory[T]:
    """A write-only attribute (DEVICE_ATTR_WO)."""
    return lambda k, obj: store_attr(store, k, obj, mode)


def const(value: object, mode: int = 0o444) -> Factory[Any]:
    """A read-only attribute whose value never changes (one node serves every device)."""
    node = Attr(mode, value=value)

    def make(k: Kernel, obj: object) -> Node:
        return node

    return make


def when(visible: Callable[[Kernel, T], bool], factory: Factory[T]) -> Factory[T]:
    """``factory``'s entry where ``visible`` holds, hidden elsewhere (is_visible)."""

    def make(k: Kernel, obj: T) -> Node | None:
        return factory(k, obj) if visible(k, obj) else None

    return make


def not_emulated(k: Kernel, who: Device | str | None, attr: str) -> NoReturn:
    """Refuse a store whose kernel rule is not emulated yet: EOPNOTSUPP, the state unchanged
    but for a kernel log line saying so. ``who`` is the device (or, for a bus or driver
    file, the bus or driver name)."""
    k.log.warn(who, f"{attr}: store not emulated, returning -EOPNOTSUPP")
    raise refused(errno.EOPNOTSUPP)


def fail_after_change(k: Kernel, err: int) -> NoReturn:
    """Fail the store with ``err`` although it has changed the state, and keep the change:
    a few kernel stores return an error after a step they do not undo (``dpa_size`` frees
    the old allocation before the new one fails; the last ``targetN`` stays recorded when
    validating the hierarchy fails). kernfs.transact commits such a state."""
    k.runtime.failed_after_change = True
    raise kerr(err)


# -- what a store parses: the kernel's kstrto*() and sysfs_streq() -----------------------------


def c_string(buf: bytes) -> bytes:
    """What a store sees as a C string: the written bytes up to the first NUL."""
    return buf.split(b"\0", 1)[0]


def _kstrtoull(text: bytes, base: int = 0) -> int:
    """kstrtoull: an optional ``+``, the digits of ``base`` (0: ``0x`` hex, ``0`` octal,
    else decimal), at most one trailing newline, nothing else. EINVAL or ERANGE."""
    s = text
    if s.startswith(b"+"):
        s = s[1:]
    if base == 0:
        if s[:1] == b"0" and s[1:2] in (b"x", b"X") and s[2:3].isalnum() and s[2:3] in _HEX:
            base, s = 16, s[2:]
        elif s[:1] == b"0":
            base = 8
        else:
            base = 10
    elif base == 16 and s[:2].lower() == b"0x":
        s = s[2:]
    if s.endswith(b"\n"):
        s = s[:-1]
    digits = _DIGITS[:base]
    if not s or any(c not in digits for c in s.lower()):
        raise kerr(errno.EINVAL)
    value = int(s, base)
    if value > (1 << 64) - 1:
        raise kerr(errno.ERANGE)
    return value


_HEX = b"0123456789abcdefABCDEF"
_DIGITS = b"0123456789abcdef"


def kstrtoull(buf: bytes, base: int = 0) -> int:
    return _kstrtoull(c_string(buf), base)


def kstrtouint(buf: bytes, base: int = 0) -> int:
    value = _kstrtoull(c_string(buf), base)
    if value > 0xFFFF_FFFF:
        raise kerr(errno.ERANGE)
    return value


def kstrtoint(buf: bytes, base: int = 0) -> int:
    s = c_string(buf)
    value = -_kstrtoull(s[1:], base) if s.startswith(b"-") else _kstrtoull(s, base)
    if not -(1 << 31) <= value < (1 << 31):
        raise kerr(errno.ERANGE)
    return value


def kstrtobool(buf: bytes) -> bool:
    """kstrtobool: the first characters decide (``1 y t``, ``0 n f``, ``on``, ``off``)."""
    s = c_string(buf)
    first, second = s[:1].lower(), s[1:2].lower()
    if first in (b"1", b"y", b"t"):
        return True
    if first in (b"0", b"n", b"f"):
        return False
    if first == b"o" and second == b"n":
        return True
    if first == b"o" and second == b"f":
        return False
    raise kerr(errno.EINVAL)


def streq(buf: bytes, expected: str) -> bool:
    """sysfs_streq of what was written and ``expected``."""
    return sysfs_streq(buf, expected.encode())


def written_name(buf: bytes) -> str:
    """A device name as a lookup by name compares it (sysfs_streq): up to the NUL, without
    one trailing newline."""
    s = c_string(buf)
    if s.endswith(b"\n"):
        s = s[:-1]
    return s.decode("utf-8", "surrogateescape")
