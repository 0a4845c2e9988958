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


class EmulatedSysfs(Sysfs):
    def __init__(self) -> None:
        self.frontend = InProcess()

    # An unusable state (damaged state file, unwritable state directory) can surface on any
    # operation that needs the kernel; it is reported as one line, SysfsUnavailable.

    def read(self, path: str) -> bytes:
        try:
            return self.frontend.read(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        try:
            return self.frontend.read_many(directory, names)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def listdir(self, path: str) -> list[str]:
        try:
            return self.frontend.listdir(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def scan(self, path: str, prefix: str) -> list[str]:
        try:
            return self.frontend.scan(path, prefix)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def realpath(self, path: str) -> str:
        try:
            if path.startswith("/dev/"):
                self.frontend.dev_node(path)
                return path
            return self.frontend.realpath(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def is_link(self, path: str) -> bool:
        try:
            return self.frontend.is_link(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def exists(self, path: str) -> bool:
        try:
            return self.frontend.exists(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def write(self, path: str, data: bytes) -> None:
        try:
            self.frontend.write(path, data)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def stat_dev(self, path: str) -> DevStat:
        try:
            mode, major, minor = self.frontend.dev_node(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        return DevStat(stat.S_ISCHR(mode), major, minor)

    def open_dev(self, path: str) -> int:
        try:
            self.frontend.open_dev(path)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)

    def close(self) -> None:
        self.frontend.close()
