"""How object families declare their sysfs files.

Each attribute is a pair of functions named after it and kept beside the state it exposes,
as drivers/cxl/core/region.c has ``interleave_ways_show`` and ``interleave_ways_store``:

* ``<attr>_show(k, obj)`` returns the value; kernfs adds the kernel's trailing newline.
* ``<attr>_store(k, obj, buf)`` parses ``buf`` (what was written, NUL and newline
  included), checks the state, calls the family's rule helper and returns; or it raises
  KernfsError with the errno the kernel returns, after recording why in the kernel log
  (``k.log.dbg(dev, ...)`` / ``k.log.err(dev, ...)``, in the kernel's words). A store applies
  completely or changes nothing but the log. A store whose rule is not emulated yet calls
  ``not_emulated``.

A family's table maps each file name to a factory ``(k, obj) -> Node | None`` built with the
helpers below (None: hidden, as by is_visible); kernfs calls it when it draws a directory.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernfs.nodes import Attr, Node, Shown

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
    raise kerr(errno.EOPNOTSUPP)
