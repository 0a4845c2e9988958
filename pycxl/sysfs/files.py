"""Sysfs over plain files: a real /sys, a FUSE mount, or an exported tree.

``root`` stands for /sys and ``devroot`` for /dev. Symlinks are resolved by the OS; an
absolute link into /sys or /dev (allowed in hand-made trees) is re-rooted below ``root`` /
``devroot``. Listings are sorted into kernfs order, which is a no-op on a real sysfs.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pycxl.sysfs.base import DevStat, Sysfs
from pycxl.sysfs.order import kernfs_sorted

_MAX_LINKS = 40


class FileSysfs(Sysfs):
    def __init__(self, root: Path, devroot: Path) -> None:
        self.root = os.path.realpath(root)
        self.devroot = os.path.realpath(devroot)

    def _host(self, path: str) -> str:
        if path == "/sys" or path.startswith("/sys/"):
            return self.root + path[4:]
        if path == "/dev" or path.startswith("/dev/"):
            return self.devroot + path[4:]
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)

    def _guest(self, host: str) -> str | None:
        for base, name in ((self.root, "/sys"), (self.devroot, "/dev")):
            if host == base:
                return name
            if host.startswith(base + "/"):
                return name + host[len(base) :]
        return None

    def read(self, path: str) -> bytes:
        fd = os.open(self._host(path), os.O_RDONLY)
        try:
            return os.read(fd, 4096)
        finally:
            os.close(fd)

    def listdir(self, path: str) -> list[str]:
        return kernfs_sorted(os.listdir(self._host(path)))

    def scan(self, path: str, prefix: str) -> list[str]:
        return kernfs_sorted([n for n in os.listdir(self._host(path)) if n.startswith(prefix)])

    def realpath(self, path: str) -> str:
        host = self._host(path)
        try:
            resolved = self._guest(os.path.realpath(host, strict=True))
        except OSError:
            resolved = None
        if resolved is not None:
            return resolved
        return self._resolve_rerooted(path)

    def _resolve_rerooted(self, path: str) -> str:
        """Resolve component by component, taking absolute /sys and /dev link targets as
        relative to this tree's roots."""
        parts = [p for p in path.split("/") if p]
        done: list[str] = []
        links = 0
        while parts:
            name = parts.pop(0)
            if name == ".":
                continue
            if name == "..":
                if len(done) > 1:
                    done.pop()
                continue
            candidate = "/" + "/".join([*done, name])
            host = self._host(candidate)
            st = os.lstat(host)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(host)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p] + parts
                continue
            done.append(name)
        return "/" + "/".join(done)

    def is_link(self, path: str) -> bool:
        try:
            return os.path.islink(self._host(path))
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        try:
            self.realpath(path)
        except OSError:
            return False
        return True

    def write(self, path: str, data: bytes) -> None:
        fd = os.open(self._host(path), os.O_WRONLY)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        finally:
            os.close(fd)

    def stat_dev(self, path: str) -> DevStat:
        st = os.stat(self._host(path))
        return DevStat(stat.S_ISCHR(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))

    def open_dev(self, path: str) -> int:
        return os.open(self._host(path), os.O_RDWR | os.O_CLOEXEC)
