"""Sysfs served in-process by fake_sysfs: the emulated platform in the user's state
directory (or ``$FAKE_SYSFS_STATE``). This is pycxl's one link to the emulation.

The frontend answers repeated reads from its persistent read cache and loads the kernel
only for what it has not seen; ``close`` lets it keep what this process learned.
"""

from __future__ import annotations

import errno
import os
import stat

from fake_sysfs.errors import FakeSysfsError
from fake_sysfs.frontends.inprocess import InProcess
from pycxl.sysfs.base import DevStat, Sysfs, SysfsUnavailable

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from fake_sysfs.kernfs.view import View
    from fake_sysfs.statedir import Snapshot


class _Frontend(InProcess):
    """The frontend, with an unusable state (damaged state file, unsafe or missing state
    directory) reported as SysfsUnavailable, one line. Only opening the state, loading it
    and committing a store can meet one, so those are the three places that translate."""

    def _snapshot(self) -> Snapshot:
        try:
            return super()._snapshot()
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    @property
    def view(self) -> View:
        try:
            return super().view
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def write(self, path: str, data: bytes) -> int:
        try:
            return super().write(path, data)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None


class EmulatedSysfs(Sysfs):
    def __init__(self) -> None:
        self.frontend = _Frontend()

    def read(self, path: str) -> bytes:
        return self.frontend.read(path)

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        return self.frontend.read_many(directory, names)

    def listdir(self, path: str) -> list[str]:
        return self.frontend.listdir(path)

    def scan(self, path: str, prefix: str) -> list[str]:
        return self.frontend.scan(path, prefix)

    def realpath(self, path: str) -> str:
        if path.startswith("/dev/"):
            self.frontend.dev_node(path)
            return path
        return self.frontend.realpath(path)

    def is_link(self, path: str) -> bool:
        return self.frontend.is_link(path)

    def exists(self, path: str) -> bool:
        return self.frontend.exists(path)

    def write(self, path: str, data: bytes) -> None:
        self.frontend.write(path, data)

    def stat_dev(self, path: str) -> DevStat:
        mode, major, minor = self.frontend.dev_node(path)
        return DevStat(stat.S_ISCHR(mode), major, minor)

    def open_dev(self, path: str) -> int:
        self.frontend.open_dev(path)
        raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)

    def close(self) -> None:
        self.frontend.close()
