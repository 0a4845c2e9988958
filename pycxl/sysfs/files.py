"""Sysfs over plain files: a real /sys, a FUSE mount, or an exported tree.

``root`` stands for /sys and ``devroot`` for /dev. Directories are resolved by this class,
once each (memoized), so that an absolute link into /sys or /dev, as hand-made trees may
have, leads to the same place below ``root``/``devroot`` instead of out of the tree; on a
real /sys this is plain path resolution. Listings are sorted into kernfs order, which is a
no-op on a real sysfs.

The tree may be anything a user points ``PYCXL_SYSFS_ROOT`` at, so nothing in it is trusted:
links resolve inside the tree (``..`` stops at its top, absolute targets are guest paths),
at most 40 of them per resolution as in the kernel (ELOOP beyond), and only what sysfs can
hold is read: an attribute is opened non-blocking and read only if it is a regular file
(a FIFO, socket or device node reads as ENXIO, a directory as EISDIR, without hanging).
Names need not be UTF-8 (they are surrogate-escaped, as ``os.listdir`` gives them). A /dev
node is opened only if ``stat`` shows a character device (see ``open_dev``).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pycxl.sysfs.base import DevStat, Sysfs
from pycxl.sysfs.order import _GOLDEN_RATIO_64, _M64, _MIX, kernfs_sorted

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from pycxl.sysfs.block import BlockIO

#: Symlinks one resolution may follow (the kernel's and glibc's limit).
_MAX_LINKS = 40

#: How attributes are opened: never blocking (a FIFO would wait for a writer), never through
#: a final symlink (links are resolved inside the tree first), never as a controlling tty.
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_DEV_FLAGS = os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
_S_IFMT = 0o170000
_S_IFREG = 0o100000


def _error(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


def _enoent(path: str) -> OSError:
    return _error(errno.ENOENT, path)


def _not_attribute(mode: int, path: str) -> OSError:
    """What reading something other than a regular file gives: a directory's read() fails
    with EISDIR; a FIFO, socket or device node is no attribute (ENXIO, what opening a
    socket or a node without a driver gives)."""
    return _error(errno.EISDIR if stat.S_ISDIR(mode) else errno.ENXIO, path)


def _kernfs_sorted(names: list[str]) -> list[str]:
    """kernfs order; names that are not UTF-8 (surrogate-escaped) hash as their bytes."""
    try:
        return kernfs_sorted(names)
    except UnicodeEncodeError:
        return sorted(names, key=_bytes_key)


def _bytes_key(name: str) -> tuple[int, bytes]:
    # The hash of pycxl.sysfs.order over the name's bytes (rare: hostile trees only).
    raw = os.fsencode(name)
    h = 0
    for c in raw:
        h = (h + _MIX[c]) * 11
    h = ((((h & _M64) * _GOLDEN_RATIO_64) & _M64) >> 32) & 0x7FFFFFFF
    if h < 2:
        h += 2
    return (min(h, 0x7FFFFFFE), raw)


class FileSysfs(Sysfs):
    def __init__(self, root: Path, devroot: Path) -> None:
        self.root = os.path.realpath(root)
        self.devroot = os.path.realpath(devroot)
        # Guest path -> canonical guest path (every link resolved), for resolved paths.
        self._canon_cache: dict[str, str] = {}
        # Guest path -> the symlinks its resolution follows, where there are any.
        self._link_counts: dict[str, int] = {}
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

    def _canon(self, path: str) -> str:
        """``path`` with every symlink resolved, as a guest path; OSError if a component
        is missing. Absolute link targets are guest paths (/sys/..., /dev/...)."""
        cache = self._canon_cache
        hit = cache.get(path)
        if hit is not None:
            return hit
        head, _, name = path.rpartition("/")
        parent = cache.get(head)
        if parent is None:
            return self._walk(path)[0]
        # The common case: only the last component is new.
        counts = self._link_counts
        result, followed = self._step(parent, name, path, 0, counts.get(head, 0))
        cache[path] = result
        if followed:
            counts[path] = followed
        return result

    def _walk(self, path: str, before: int = 0) -> tuple[str, int]:
        """Resolve ``path`` from its deepest already resolved ancestor down, one component
        at a time (no recursion per component: a path may have thousands), memoizing every
        prefix. Returns the canonical path and how many symlinks the kernel's walk of
        ``path`` would follow: more than 40 is ELOOP, as for open() and realpath(), which
        is what ends a directory that links to itself (``port9 -> .``) after 40 levels.
        ``before`` is how many links the walk that leads here (through a link to ``path``)
        followed already."""
        cache = self._canon_cache
        counts = self._link_counts
        pending: list[tuple[str, str]] = []  # (path, its last component), deepest first
        current = path
        while True:
            hit = cache.get(current)
            if hit is not None:
                break
            if current in ("/sys", "/dev"):
                hit = current
                break
            head, _, name = current.rpartition("/")
            if not head:
                raise _enoent(path)
            pending.append((current, name))
            current = head
        result = hit
        followed = counts.get(current, 0)
        for prefix, name in reversed(pending):
            result, followed = self._step(result, name, path, before, followed)
            cache[prefix] = result
            if followed:
                counts[prefix] = followed
        return result, followed

    def _step(
        self, parent: str, name: str, path: str, before: int, followed: int
    ) -> tuple[str, int]:
        """One component ``name`` below the canonical ``parent``: the canonical result and
        the links followed so far (``followed`` before it). ``path`` and ``before`` are
        for the ELOOP check and message (see ``_walk``)."""
        if name in ("", "."):
            return parent, followed
        if name == "..":
            up = parent.rpartition("/")[0]
            return (up if up.startswith(("/sys", "/dev")) else parent), followed
        candidate = f"{parent}/{name}"
        host = self._host(candidate)
        if not stat.S_ISLNK(os.lstat(host).st_mode):
            return candidate, followed
        followed += 1
        if before + followed > _MAX_LINKS:
            raise _error(errno.ELOOP, path)
        target = os.readlink(host)
        if target.startswith("/"):
            follow = target
        else:
            # Leading ".." steps go up from ``parent``, which has no links left in it, so
            # they are plain string operations; sysfs links are all of this form, and the
            # shared prefix they lead to is then resolved once.
            base = parent
            while target.startswith("../"):
                target = target[3:]
                up = base.rpartition("/")[0]
                base = up if up.startswith(("/sys", "/dev")) else base
            follow = f"{base}/{target}"
        follow = follow.rstrip("/") or "/"
        hit = self._canon_cache.get(follow)
        if hit is not None:
            result, inner = hit, self._link_counts.get(follow, 0)
        else:
            result, inner = self._walk(follow, before + followed)
        followed += inner
        if before + followed > _MAX_LINKS:
            raise _error(errno.ELOOP, path)
        return result, followed

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
            fd = os.open(self._leaf(path), _READ_FLAGS)
        except OSError as e:
            if e.errno != errno.ELOOP:
                raise
            fd = os.open(self._resolved(path), _READ_FLAGS)  # the attribute is a link
        try:
            mode = os.fstat(fd).st_mode
            if mode & _S_IFMT != _S_IFREG:
                raise _not_attribute(mode, path)
            return os.read(fd, 4096)
        finally:
            os.close(fd)

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        """``read`` of each name, with ``directory`` resolved and opened once (names are
        opened relative to it: the kernel walks one component, not the whole path): the
        hot path of a listing."""
        try:
            host_dir = self._host_dirs.get(directory)
            if host_dir is None:
                host_dir = self._host_dirs[directory] = self._resolved(directory)
            dir_fd = os.open(host_dir, _DIR_FLAGS)
        except OSError as e:
            return [e for _ in names]
        results: list[bytes | OSError] = []
        append = results.append
        fstat = os.fstat
        try:
            for name in names:
                try:
                    if "/" in name or name in ("", ".", ".."):  # sub/attr: resolve sub
                        fd = os.open(self._leaf(f"{directory}/{name}"), _READ_FLAGS)
                    else:
                        fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
                except OSError as e:
                    if e.errno != errno.ELOOP:
                        append(e)
                        continue
                    try:  # the attribute is a link: resolved inside the tree
                        fd = os.open(self._resolved(f"{directory}/{name}"), _READ_FLAGS)
                    except OSError as e2:
                        append(e2)
                        continue
                try:
                    mode = fstat(fd).st_mode
                    if mode & _S_IFMT == _S_IFREG:
                        append(os.read(fd, 4096))
                    else:
                        append(_not_attribute(mode, f"{directory}/{name}"))
                except OSError as e:
                    append(e)
                finally:
                    os.close(fd)
        finally:
            os.close(dir_fd)
        return results

    def listdir(self, path: str) -> list[str]:
        return _kernfs_sorted(os.listdir(self._resolved(path)))

    def scan(self, path: str, prefix: str) -> list[str]:
        names = os.listdir(self._resolved(path))
        return _kernfs_sorted([n for n in names if n.startswith(prefix)])

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
        fd = os.open(self._resolved(path), _WRITE_FLAGS)
        try:
            mode = os.fstat(fd).st_mode
            if mode & _S_IFMT != _S_IFREG:
                raise _not_attribute(mode, path)
            if os.write(fd, data) != len(data):
                raise OSError(errno.EIO, os.strerror(errno.EIO), path)
        finally:
            os.close(fd)

    def write_stream(self, path: str, data: bytes) -> None:
        """All of ``data`` through one open: as many write() calls as the file takes
        (sysfs takes a binary attribute a page at a time)."""
        fd = os.open(self._resolved(path), _WRITE_FLAGS)
        try:
            mode = os.fstat(fd).st_mode
            if mode & _S_IFMT != _S_IFREG:
                raise _not_attribute(mode, path)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if written <= 0:
                    raise OSError(errno.EIO, os.strerror(errno.EIO), path)
                view = view[written:]
        finally:
            os.close(fd)

    def wait_notify(self, path: str, timeout_ms: int) -> int:
        return super().wait_notify(str(self._resolved(path)), timeout_ms)

    def host_path(self, path: str) -> str:
        """The host path of ``path``, its directory resolved (the last component need not
        exist: what mkdir makes)."""
        head, _, name = path.rpartition("/")
        return f"{self._host(self._canon(head))}/{name}"

    def stat_dev(self, path: str) -> DevStat:
        """stat() of a node below /dev (links resolve inside the dev tree)."""
        st = os.stat(self._resolved(path), follow_symlinks=False)
        return DevStat(stat.S_ISCHR(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev))

    def open_dev(self, path: str) -> int:
        """open(O_RDWR) of a /dev node, only if it is a character device (anything else is
        ENXIO, without being opened): non-blocking, close-on-exec, never through a final
        link, never as a controlling tty. Callers also check the device number before
        (``stat_dev``) and the opened node after (fstat)."""
        host = self._resolved(path)
        if not stat.S_ISCHR(os.stat(host, follow_symlinks=False).st_mode):
            raise _error(errno.ENXIO, path)
        return os.open(host, _DEV_FLAGS)

    def open_block(self, path: str, flags: int) -> BlockIO:
        """open() of a block device node with upstream's ``flags``. Links resolve inside the
        dev tree; the node is then opened whatever it is, as upstream's open would (a FUSE
        mount or a hand-made tree has a regular file standing for the disk)."""
        from pycxl.sysfs.block import FileBlockIO

        return FileBlockIO(self._resolved(path), flags | os.O_NOFOLLOW)
