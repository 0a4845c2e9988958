"""The Sysfs interface pycxl is written against.

Paths are absolute as on a real system (``/sys/bus/cxl/devices/mem0``, ``/dev/cxl/mem0``).
Failures raise OSError with the errno the operation would give on a real sysfs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod


class DevStat:
    """stat() of a /dev node. (A plain class: dataclasses would cost every run its import.)"""

    __slots__ = ("is_char", "major", "minor")

    def __init__(self, is_char: bool, major: int, minor: int) -> None:
        self.is_char = is_char
        self.major = major
        self.minor = minor

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DevStat):
            return NotImplemented
        return (self.is_char, self.major, self.minor) == (other.is_char, other.major, other.minor)

    def __hash__(self) -> int:
        return hash((self.is_char, self.major, self.minor))

    def __repr__(self) -> str:
        return f"DevStat(is_char={self.is_char}, major={self.major}, minor={self.minor})"


class Sysfs(ABC):
    @abstractmethod
    def read(self, path: str) -> bytes:
        """The bytes one read() returns (a sysfs attribute is read in one go)."""

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        """Read several attributes of one directory (``names`` may hold one ``sub/attr``):
        what ``read`` gives for each, or the error it raises. Backends that resolve paths
        themselves answer this with a single lookup of ``directory``."""
        results: list[bytes | OSError] = []
        for name in names:
            try:
                results.append(self.read(f"{directory}/{name}"))
            except OSError as e:
                results.append(e)
        return results

    @abstractmethod
    def listdir(self, path: str) -> list[str]:
        """Directory entries in readdir order (kernfs order on sysfs)."""

    def scan(self, path: str, prefix: str) -> list[str]:
        """The entries of ``path`` whose names start with ``prefix``, in readdir order.

        What libcxl's directory scans see; a backend may skip ordering entries that no
        scan would keep."""
        return [name for name in self.listdir(path) if name.startswith(prefix)]

    @abstractmethod
    def realpath(self, path: str) -> str:
        """Resolve every symlink; OSError if any component does not exist."""

    @abstractmethod
    def is_link(self, path: str) -> bool:
        """lstat() says symlink (False when the path does not exist)."""

    @abstractmethod
    def exists(self, path: str) -> bool:
        """stat() succeeds."""

    @abstractmethod
    def write(self, path: str, data: bytes) -> None:
        """open(O_WRONLY) and one write() of ``data``: one store."""

    @abstractmethod
    def stat_dev(self, path: str) -> DevStat:
        """stat() of a node below /dev."""

    @abstractmethod
    def open_dev(self, path: str) -> int:
        """open(O_RDWR) of a /dev node, returning a file descriptor."""

    def close(self) -> None:  # noqa: B027 - optional: most backends have nothing to keep
        """The command is done with this sysfs (a backend may keep what it learned)."""


class SysfsUnavailable(Exception):
    """The selected /sys cannot be used at all (e.g. a damaged emulator state); the
    message is the one line shown to the user."""
