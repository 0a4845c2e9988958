"""kernfs node types: what a sysfs directory holds.

A directory's entries are computed on first use from kernel state, so a listing touches
only the part of the tree it walks. Attribute values are computed at read time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fake_sysfs.errors import errno, kerr

if TYPE_CHECKING:
    from fake_sysfs.kernel.core import Device

Show = Callable[[], bytes]
Store = Callable[[bytes], None]


class Node:
    __slots__ = ()


class Attr(Node):
    """A sysfs attribute. Its text is ``value`` (often a Shown: the family's show function,
    called at read time) plus the kernel's trailing newline; ``show``, when given, returns
    the whole file instead (binary attributes, an empty uevent). ``store`` applies a write
    or raises KernfsError with the kernel's errno.

    A ``pure`` store only validates and waits (``bus/cxl/flush``, ``uevent``): it never
    changes kernel state, so frontends need not run it as a state transaction. ``same``,
    when given, says of the bytes of one store that it would leave the state as it is (a
    switch set to what it is already, or a value the store refuses without a word): such
    a store is pure too."""

    __slots__ = ("mode", "pure", "same", "show", "store", "value")

    def __init__(
        self,
        mode: int,
        show: Show | None = None,
        store: Store | None = None,
        pure: bool = False,
        value: object = None,
        same: Callable[[bytes], bool] | None = None,
    ) -> None:
        self.mode = mode
        self.show = show
        self.store = store
        self.pure = pure
        self.same = same
        #: Shown as ``value`` plus newline when there is no ``show``; formatted only when
        #: read, which keeps drawing a directory cheap.
        self.value = value

    def pure_for(self, data: bytes) -> bool:
        """Whether storing ``data`` changes no kernel state."""
        return self.pure or (self.same is not None and self.same(data))

    def read(self) -> bytes:
        if self.show is not None:
            return self.show()
        return f"{self.value}\n".encode()

    @property
    def readable(self) -> bool:
        return bool(self.mode & 0o444) and (self.show is not None or self.value is not None)


class Link(Node):
    """A symlink; ``target`` is the path of its target relative to /sys (``devices/...``).

    ``make``, given instead of the target, computes it when first asked: a directory that
    links to thousands of devices (a bus's ``devices``, ``/sys/dev/char``) is listed far
    more often than every one of its links is followed."""

    __slots__ = ("_make", "_target", "device")

    def __init__(
        self,
        target: str | None = None,
        make: Callable[[], str] | None = None,
        device: Device | None = None,
    ) -> None:
        self._target = target
        self._make = make
        #: The registered device (core.Device) whose own directory the link leads to, if
        #: it is one: the view goes there at once rather than along the target's path.
        self.device = device

    @property
    def target(self) -> str:
        target = self._target
        if target is None:
            assert self._make is not None
            target = self._target = self._make()
        return target


class _Missing(Node):
    """What a lookup returns for a name it knows is absent (no full build needed)."""

    __slots__ = ()


MISSING = _Missing()


#: A table of directory entries by name: each factory gives the node for ``(kernel, obj)``,
#: or None where the entry is hidden (is_visible).
Factory = Callable[[Any, Any], Node | None]


def table_entries(table: dict[str, Factory], k: object, obj: object) -> dict[str, Node]:
    """All entries a table of per-name factories gives for ``obj`` (None: hidden)."""
    entries: dict[str, Node] = {}
    for name, factory in table.items():
        node = factory(k, obj)
        if node is not None:
            entries[name] = node
    return entries


def table_lookup(table: dict[str, Factory], k: object, obj: object, name: str) -> Node | None:
    """One entry of a factory table: the node, MISSING if hidden, None if not in the table."""
    factory = table.get(name)
    if factory is None:
        return None
    node = factory(k, obj)
    return MISSING if node is None else node


class Dir(Node):
    """A directory. ``build`` makes all its entries; ``lookup``, when given, finds one entry
    by name without building the rest (MISSING: known absent; None: not one it knows, so
    build and look)."""

    __slots__ = ("_build", "_entries", "_looked", "_lookup", "device", "mode")

    def __init__(
        self,
        build: Callable[[], dict[str, Node]],
        mode: int = 0o755,
        lookup: Callable[[str], Node | None] | None = None,
        device: str | None = None,
    ) -> None:
        self._build = build
        self._entries: dict[str, Node] | None = None
        self._lookup = lookup
        self._looked: dict[str, Node] = {}
        self.mode = mode
        #: The key of the device whose directory this is (None: no device's).
        self.device = device

    @property
    def entries(self) -> dict[str, Node]:
        if self._entries is None:
            entries = self._build()
            # Keep the nodes handed out by lookup, so one path is always one node; a name
            # a lookup found absent (MISSING, remembered so it is not computed again) is
            # no entry.
            entries.update((n, v) for n, v in self._looked.items() if v is not MISSING)
            self._entries = entries
        return self._entries

    def child(self, name: str) -> Node | None:
        if self._entries is None and self._lookup is not None:
            node = self._looked.get(name)
            if node is None:
                node = self._lookup(name)
                if node is not None:
                    self._looked[name] = node
            if node is not None:
                return None if node is MISSING else node
        return self.entries.get(name)


def ro(value: object, mode: int = 0o444) -> Attr:
    """A read-only attribute showing ``value`` plus the kernel's newline."""
    return Attr(mode, value=value)


class Shown:
    """A value computed when read: ``fn(*args)`` (an attribute's show function)."""

    __slots__ = ("args", "fn")

    def __init__(self, fn: Callable[..., object], *args: object) -> None:
        self.fn = fn
        self.args = args

    def __str__(self) -> str:
        return f"{self.fn(*self.args)}"


def sysfs_streq(data: bytes, expected: bytes) -> bool:
    """The kernel's comparison of a stored string: it ends at the first NUL and may carry
    one trailing newline; nothing else is forgiven."""
    data = data.split(b"\0", 1)[0]
    if data.endswith(b"\n"):
        data = data[:-1]
    return data == expected


_UEVENT_ACTIONS = (b"add", b"remove", b"change", b"move", b"online", b"offline", b"bind", b"unbind")


def _uevent_store(data: bytes) -> None:
    # The kernel synthesizes the named uevent; nothing in sysfs changes.
    action = data.split(b"\0", 1)[0].strip().split(b" ", 1)[0]
    if action not in _UEVENT_ACTIONS:
        raise kerr(errno.EINVAL)


class _Lines:
    __slots__ = ("lines",)

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines

    def __str__(self) -> str:
        # The attribute adds the final newline.
        return "\n".join(self.lines)


def uevent(lines: list[str]) -> Attr:
    """A device's ``uevent``: KEY=value lines; writing an action name synthesizes an event."""
    if not lines:
        return Attr(0o644, lambda: b"", _uevent_store, pure=True)
    return Attr(0o644, None, _uevent_store, pure=True, value=_Lines(lines))


def static_dir(entries: dict[str, Node]) -> Dir:
    return Dir(lambda: entries)
