"""Sysfs served in-process by fake_sysfs: the emulated platform in the user's state
directory (or ``$FAKE_SYSFS_STATE``). This is pycxl's one link to the emulation."""

from __future__ import annotations

import errno
import os
import stat

from fake_sysfs.errors import FakeSysfsError
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernfs.view import View
from pycxl.sysfs.base import DevStat, Sysfs, SysfsUnavailable


class EmulatedSysfs(Sysfs):
    def __init__(self) -> None:
        self.frontend = InProcess()
        self._view: View | None = None

    @property
    def view(self) -> View:
        if self._view is None:
            try:
                self._view = self.frontend.view
            except FakeSysfsError as e:
                raise SysfsUnavailable(str(e)) from None
        return self._view

    def read(self, path: str) -> bytes:
        return self.view.read(path)

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        return self.view.read_many(directory, names)

    def listdir(self, path: str) -> list[str]:
        return self.view.listdir(path)

    def scan(self, path: str, prefix: str) -> list[str]:
        return self.view.scan(path, prefix)

    def realpath(self, path: str) -> str:
        if path.startswith("/dev/"):
            self.stat_dev(path)
            return path
        return self.view.realpath(path)

    def is_link(self, path: str) -> bool:
        try:
            return stat.S_ISLNK(self.view.lstat(path).mode)
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        try:
            self.view.stat(path)
        except OSError:
            return False
        return True

    def write(self, path: str, data: bytes) -> None:
        self.view  # noqa: B018 - surfaces an unusable state as SysfsUnavailable first
        try:
            self.frontend.write(path, data)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        finally:
            self._view = None  # a store may have changed the tree

    def stat_dev(self, path: str) -> DevStat:
        self.view  # noqa: B018
        st = self.frontend.stat_dev(path)
        return DevStat(stat.S_ISCHR(st.mode), st.rdev[0], st.rdev[1])

    def open_dev(self, path: str) -> int:
        self.frontend.open_dev(path)
        raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)
