"""kernfs node types: what a sysfs directory holds.

A directory's entries are computed on first use from kernel state, so a listing touches
only the part of the tree it walks. Attribute values are computed at read time.
"""

from __future__ import annotations

from collections.abc import Callable

from fake_sysfs.errors import errno, kerr

Show = Callable[[], bytes]
Store = Callable[[bytes], None]


class Node:
    __slots__ = ()


class Attr(Node):
    """A sysfs attribute. ``show`` returns the whole file (the kernel's trailing newline
    included); ``store`` applies a write or raises KernfsError with the kernel's errno."""

    __slots__ = ("mode", "show", "store")

    def __init__(self, mode: int, show: Show | None = None, store: Store | None = None) -> None:
        self.mode = mode
        self.show = show
        self.store = store


class Link(Node):
    """A symlink; ``target`` is the path of its target relative to /sys (``devices/...``)."""

    __slots__ = ("target",)

    def __init__(self, target: str) -> None:
        self.target = target


class Dir(Node):
    __slots__ = ("_build", "_entries", "mode")

    def __init__(self, build: Callable[[], dict[str, Node]], mode: int = 0o755) -> None:
        self._build = build
        self._entries: dict[str, Node] | None = None
        self.mode = mode

    @property
    def entries(self) -> dict[str, Node]:
        if self._entries is None:
            self._entries = self._build()
        return self._entries


def text(value: object) -> bytes:
    return f"{value}\n".encode()


def ro(value: object, mode: int = 0o444) -> Attr:
    """A read-only attribute showing ``value`` plus the kernel's newline."""
    data = text(value)
    return Attr(mode, lambda: data)


def hexattr(value: int, mode: int = 0o444) -> Attr:
    """``%#llx``: ``0x0`` for zero, as the kernel prints it."""
    return ro(f"{value:#x}" if value else "0x0", mode)


def wo(store: Callable[[bytes], None] | None = None) -> Attr:
    """A write-only (0200) attribute."""
    return Attr(0o200, None, store or not_emulated)


def unreadable(err: int) -> Show:
    """A show that fails with ``err`` (e.g. an attribute whose driver state forbids reads)."""

    def show() -> bytes:
        raise kerr(err)

    return show


def not_emulated(_data: bytes) -> None:
    """Store of an attribute whose kernel rules are not modeled yet: refused, state unchanged."""
    raise kerr(errno.EOPNOTSUPP)


_UEVENT_ACTIONS = (b"add", b"remove", b"change", b"move", b"online", b"offline", b"bind", b"unbind")


def _uevent_store(data: bytes) -> None:
    # The kernel synthesizes the named uevent; nothing in sysfs changes.
    action = data.split(b"\0", 1)[0].strip().split(b" ", 1)[0]
    if action not in _UEVENT_ACTIONS:
        raise kerr(errno.EINVAL)


def uevent(lines: list[str]) -> Attr:
    """A device's ``uevent``: KEY=value lines; writing an action name synthesizes an event."""
    data = "".join(f"{line}\n" for line in lines).encode()
    return Attr(0o644, lambda: data, _uevent_store)


def static_dir(entries: dict[str, Node]) -> Dir:
    return Dir(lambda: entries)
