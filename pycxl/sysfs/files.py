"""Sysfs over plain files: a real /sys, a FUSE mount, or an exported tree.

``root`` stands for /sys and ``devroot`` for /dev. Directories are resolved by this class,
once each (memoized), so that an absolute link into /sys or /dev, as hand-made trees may
have, leads to the same place below ``root``/``devroot`` instead of out of the tree; on a
real /sys this is plain path resolution. Listings are sorted into kernfs order, which is a
no-op on a real sysfs.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pycxl.sysfs.base import DevStat, Sysfs
from pycxl.sysfs.order import kernfs_sorted

_MAX_LINKS = 40


def _enoent(path: str) -> OSError:
    return OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)


class FileSysfs(Sysfs):
    def __init__(self, root: Path, devroot: Path) -> None:
        self.root = os.path.realpath(root)
        self.devroot = os.path.realpath(devroot)
        # Guest path -> canonical guest path (every link resolved), for resolved paths.
        self._canon_cache: dict[str, str] = {}
        # Guest directory as asked -> its host path, for the attribute reads of a listing.
        self._host_dirs: dict[str, str] = {}

    # -- paths -----------------------------------------------------------------------------

    def _host(self, canon: str) -> str:
        """The host path of a canonical guest path below /sys or /dev."""
        if canon == "/sys" or canon.startswith("/sys/"):
            return self.root + canon[4:]
        if canon == "/dev" or canon.startswith("/dev/"):
            return self.devroot + canon[4:]
        raise _enoent(canon)

    def _canon(self, path: str, depth: int = 0) -> str:
        """``path`` with every symlink resolved, as a guest path; OSError if a component
        is missing. Absolute link targets are guest paths (/sys/..., /dev/...)."""
        hit = self._canon_cache.get(path)
        if hit is not None:
            return hit
        if path in ("/sys", "/dev"):
            return path
        if depth > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        head, _, name = path.rpartition("/")
        if not head:
            raise _enoent(path)
        parent = self._canon(head, depth)
        if name in ("", "."):
            result = parent
        elif name == "..":
            up = parent.rpartition("/")[0]
            result = up if up.startswith(("/sys", "/dev")) else parent
        else:
            candidate = f"{parent}/{name}"
            host = self._host(candidate)
            st = os.lstat(host)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(host)
                if target.startswith("/"):
                    follow = target
                else:
                    # Leading ".." steps go up from ``parent``, which has no links left in
                    # it, so they are plain string operations; sysfs links are all of this
                    # form, and the shared prefix they lead to is then resolved once.
                    base = parent
                    while target.startswith("../"):
                        target = target[3:]
                        up = base.rpartition("/")[0]
                        base = up if up.startswith(("/sys", "/dev")) else base
                    follow = f"{base}/{target}"
                result = self._canon(follow.rstrip("/") or "/", depth + 1)
            else:
                result = candidate
        self._canon_cache[path] = result
        return result

    def _leaf(self, path: str) -> str:
        """Host path of ``path`` with its directory resolved and its last component as is."""
        head, _, name = path.rpartition("/")
        if not head or name in ("", ".", ".."):
            return self._host(self._canon(path))
        host_dir = self._host_dirs.get(head)
        if host_dir is None:
            host_dir = self._host_dirs[head] = self._host(self._canon(head))
        return f"{host_dir}/{name}"

    def _resolved(self, path: str) -> str:
        return self._host(self._canon(path))

    # -- operations ------------------------------------------------------------------------

    def read(self, path: str) -> bytes:
        try:
            fd = os.open(self._leaf(path), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            fd = os.open(self._resolved(path), os.O_RDONLY)  # the attribute is a link
        try:
            return os.read(fd, 4096)
        finally:
            os.close(fd)

    def listdir(self, path: str) -> list[str]:
        return kernfs_sorted(os.listdir(self._resolved(path)))

    def scan(self, path: str, prefix: str) -> list[str]:
        names = os.listdir(self._resolved(path))
        return kernfs_sorted([n for n in names if n.startswith(prefix)])

    def realpath(self, path: str) -> str:
        return self._canon(path)

    def is_link(self, path: str) -> bool:
        try:
            return os.path.islink(self._leaf(path))
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        try:
            self._canon(path)
        except OSError:
            return False
        return True

    def write(self, path: str, data: bytes) -> None:
        fd = os.open(self._resolved(path), os.O_WRONLY)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        finally:
            os.close(fd)

    def stat_dev(self, path: str) -> DevStat:
        st = os.stat(self._resolved(path))
        return DevStat(stat.S_ISCHR(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))

    def open_dev(self, path: str) -> int:
        return os.open(self._resolved(path), os.O_RDWR | os.O_CLOEXEC)
