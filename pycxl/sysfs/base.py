"""The Sysfs interface pycxl is written against.

Paths are absolute as on a real system (``/sys/bus/cxl/devices/mem0``, ``/dev/cxl/mem0``).
Failures raise OSError with the errno the operation would give on a real sysfs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class DevStat:
    """stat() of a /dev node."""

    is_char: bool
    major: int
    minor: int


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


class SysfsUnavailable(Exception):
    """The selected /sys cannot be used at all (e.g. a damaged emulator state); the
    message is the one line shown to the user."""
