"""The memdevs' media: the bytes a pmem block device keeps, stored outside the kernel state.

They are data, not kernel state: never journaled, never in state.json, never replayed.
Each memdev's media is one sparse file in the state directory's ``media/`` subdirectory,
addressed by DPA (file offset = DPA, holes read as zeros), named after the hardware device
(kernel.media.media_name) and the time its media was last erased:
``media/NAME@MICROSECONDS`` (0: never erased).

Erasing. The kernel only records when a memdev's sanitize or secure erase completed
(``Memdev.erased_at``): a store must stay a deterministic function of the state, so it
cannot touch these files. Whoever next uses a memdev's media compares: a file older than the
recorded erase holds what was written before it, so it is removed and the media reads as
zeros. A reboot (``fake-sysfs reset``) boots a kernel that remembers no erase; the newest
file is then the media, as a real device keeps its data over a reboot (reset applies any
erase not yet seen before it reboots). ``fake-sysfs init`` starts with blank media.

Safety, as for the state directory's other files (statedir.py): ``media/`` is opened
relative to the checked state directory with O_NOFOLLOW and must be a directory owned by
the user (or root) that no one else can write; files are opened with O_NOFOLLOW and used
only if regular, created with O_EXCL and mode 0600. Anything else is refused with one line.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from typing import TYPE_CHECKING

from fake_sysfs.errors import FakeSysfsError
from fake_sysfs.statedir import open_dir

if TYPE_CHECKING:
    from fake_sysfs.kernel.media import Geometry, Member
    from fake_sysfs.kernel.state import Kernel
    from fake_sysfs.store import StateStore

MEDIA_DIR = "media"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class MediaError(FakeSysfsError):
    """The media directory or one of its files cannot be used safely."""


def _usec(erased_at: float) -> int:
    return max(0, round(erased_at * 1_000_000))


def file_name(name: str, erased_at: float) -> str:
    """The file of media ``name`` as of the erase recorded at ``erased_at``."""
    return f"{name}@{_usec(erased_at)}"


class MediaDir:
    """``media/`` of one state directory, held open (a descriptor: a directory swapped
    under the path later cannot redirect a write)."""

    def __init__(self, state_dir: str, create: bool = True) -> None:
        self.state_dir = state_dir
        self.path = os.path.join(state_dir, MEDIA_DIR)
        #: -1 while there is no media directory (nothing was ever written: all zeros).
        self.fd = -1
        self._open(create)

    def _open(self, create: bool) -> None:
        dirfd = open_dir(self.state_dir, False)
        try:
            self.fd = _open_media_dir(dirfd, self.path, create)
        finally:
            os.close(dirfd)

    def ensure(self, create: bool = True) -> None:
        """Open the directory if there is none open yet: made if ``create`` (the first
        write), else only if another writer made it meanwhile."""
        if self.fd < 0:
            self._open(create)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> MediaDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _versions(self, name: str) -> dict[int, str]:
        """The files of media ``name``: erase time (µs) -> file name."""
        found: dict[int, str] = {}
        prefix = name + "@"
        for entry in sorted(os.listdir(self.fd)):
            stamp = entry[len(prefix) :]
            if entry.startswith(prefix) and stamp.isascii() and stamp.isdigit():
                found[int(stamp)] = entry
        return found

    def current(self, name: str, erased_at: float) -> str:
        """The file holding media ``name`` now: the newest one, unless the erase recorded
        at ``erased_at`` is newer still (then a file of that time, not made yet). Every
        other file of the media is stale and removed."""
        if self.fd < 0:
            return file_name(name, erased_at)
        versions = self._versions(name)
        wanted = _usec(erased_at)
        newest = max(versions, default=-1)
        keep = wanted if wanted > newest else newest
        for stamp, entry in versions.items():
            if stamp != keep:
                # unlink() never follows a link: a planted one is only removed.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=self.fd)
        return versions.get(keep, f"{name}@{keep}")

    def open_file(self, entry: str, create: bool) -> int | None:
        """A descriptor of regular file ``entry`` (None if it does not exist and
        ``create`` is false)."""
        if self.fd < 0:
            if not create:
                return None
            self.ensure()
        shown = os.path.join(self.path, entry)
        try:
            fd = os.open(entry, _OPEN_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            if not create:
                return None
            try:
                fd = os.open(entry, _CREATE_FLAGS, 0o600, dir_fd=self.fd)
            except FileExistsError:  # another writer made it meanwhile
                return self.open_file(entry, create)
            except OSError as e:
                raise MediaError(f"cannot create media file {shown}: {e.strerror}") from None
        except OSError as e:
            raise MediaError(_refusal(shown, e)) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise MediaError(f"media file {shown} is not a regular file; refusing to use it")
        return fd


def _refusal(shown: str, e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return f"media file {shown} is a symbolic link; refusing to follow it"
    return f"cannot open media file {shown}: {e.strerror}"


def _open_media_dir(dirfd: int, path: str, create: bool) -> int:
    try:
        fd = os.open(MEDIA_DIR, _DIR_FLAGS, dir_fd=dirfd)
    except FileNotFoundError:
        if not create:
            return -1
        try:
            os.mkdir(MEDIA_DIR, 0o700, dir_fd=dirfd)
        except FileExistsError:
            pass  # made meanwhile, or something planted: the open below decides
        except OSError as e:
            raise MediaError(f"cannot create media directory {path}: {e.strerror}") from None
        return _open_media_dir(dirfd, path, False)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENOTDIR):
            link = False
            with contextlib.suppress(OSError):
                link = stat.S_ISLNK(os.stat(MEDIA_DIR, dir_fd=dirfd, follow_symlinks=False).st_mode)
            kind = "a symbolic link" if link else "not a directory"
            raise MediaError(
                f"media directory {path} is {kind}; refusing to use it (remove it, or "
                "run 'fake-sysfs init --force' to start over)"
            ) from None
        raise MediaError(f"cannot use media directory {path}: {e.strerror}") from None
    st = os.fstat(fd)
    problem = ""
    if st.st_uid not in (os.geteuid(), 0):
        problem = f"belongs to uid {st.st_uid}, not to you"
    elif st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by others (mode {stat.S_IMODE(st.st_mode):04o})"
    if problem:
        os.close(fd)
        raise MediaError(f"media directory {path} {problem}; refusing to use it")
    return fd


def check(state_dir: str) -> None:
    """Refuse, with one line, a media directory that could not be used (a mount checks
    this before it starts serving block devices)."""
    MediaDir(state_dir, create=False).close()


def wipe(state_dir: str) -> None:
    """Blank media: every file below ``media/`` goes (``fake-sysfs init``), which makes
    init the recovery from any media directory refused for use. Something planted in its
    place (a link, a file) is removed, never followed; a directory that another user owns
    or may write is emptied and removed (it is made afresh, private, when next needed)."""
    dirfd = open_dir(state_dir, False)
    try:
        try:
            st = os.stat(MEDIA_DIR, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(st.st_mode):
            os.unlink(MEDIA_DIR, dir_fd=dirfd)
            return
        fd = os.open(MEDIA_DIR, _DIR_FLAGS, dir_fd=dirfd)
        try:
            for entry in os.listdir(fd):
                try:
                    os.unlink(entry, dir_fd=fd)
                except (IsADirectoryError, PermissionError):
                    continue  # a directory (Linux says EPERM): nothing of ours, left alone
            st = os.fstat(fd)
        finally:
            os.close(fd)
        if st.st_uid not in (os.geteuid(), 0) or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            with contextlib.suppress(OSError):
                os.rmdir(MEDIA_DIR, dir_fd=dirfd)
    except OSError as e:
        raise MediaError(
            f"cannot blank media directory {os.path.join(state_dir, MEDIA_DIR)}: {e.strerror}"
        ) from None
    finally:
        os.close(dirfd)


def apply_erases(state_dir: str, kernel: Kernel) -> None:
    """Drop the media every memdev of ``kernel`` has erased (before a reboot forgets)."""
    from fake_sysfs.kernel.media import media_name

    with MediaDir(state_dir, create=False) as media:
        if media.fd < 0:
            return
        for mem in kernel.memdevs.values():
            media.current(media_name(mem), mem.erased_at)


def before_reboot(store: StateStore) -> None:
    """Apply every erase the state records, once the devices' background work that is due
    has finished (a sanitize whose time is up): ``fake-sysfs reset`` then reboots a kernel
    that remembers none, and the media stay as the devices left them."""
    from fake_sysfs.kernel.mailbox.clock import now
    from fake_sysfs.kernel.mailbox.timers import finish_due

    if not store.exists():
        return  # no platform: the reboot refuses, and must not boot one here
    kernel = finish_due(store, now()) or store.load()[0]
    apply_erases(str(store.dir), kernel)


class BlockDevice:
    """A pmem block device's I/O onto its members' media files."""

    def __init__(self, media: MediaDir, geometry: Geometry) -> None:
        self.media = media
        self.geometry = geometry
        #: Open files by member position (None: not created yet, reads as zeros).
        self._files: dict[int, int | None] = {}
        self._names: dict[int, str] = {}

    @property
    def size(self) -> int:
        return self.geometry.size

    def update(self, geometry: Geometry) -> None:
        """The kernel state changed: follow the device's new map (members may differ,
        or one may have been erased)."""
        if geometry != self.geometry:
            self._close_files()
            self.geometry = geometry

    def _member_fd(self, position: int, create: bool) -> int | None:
        """The open media file of the member at ``position``; None where nothing was
        written yet (it reads as zeros)."""
        fd = self._files.get(position)
        if fd is not None:
            return fd
        if self.media.fd < 0:
            # No media directory when this device was opened: one may exist by now (the
            # first write, through this handle or another).
            self.media.ensure(create)
            if self.media.fd < 0:
                return None
        name = self._names.get(position)
        if name is None:
            member: Member = self.geometry.members[position]
            name = self.media.current(member.media, member.erased_at)
            self._names[position] = name
        fd = self.media.open_file(name, create)
        self._files[position] = fd
        return fd

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; nothing at or past the end."""
        size = max(0, min(size, self.size - offset))
        out = bytearray()
        for piece in self.geometry.pieces(offset, size):
            fd = self._member_fd(piece.member, False)
            data = b"" if fd is None else os.pread(fd, piece.length, piece.dpa)
            out += data
            if len(data) < piece.length:  # a hole at the file's end
                out += bytes(piece.length - len(data))
        return bytes(out)

    def write(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``: ENOSPC at or past the end, a short count when it
        runs past it (as a block device does)."""
        if offset >= self.size and data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = memoryview(data)[: max(0, self.size - offset)]
        at = 0
        for piece in self.geometry.pieces(offset, len(view)):
            fd = self._member_fd(piece.member, True)
            assert fd is not None
            chunk = view[at : at + piece.length]
            done = 0
            while done < len(chunk):
                done += os.pwrite(fd, chunk[done:], piece.dpa + done)
            at += piece.length
        return at

    def sync(self) -> None:
        for fd in self._files.values():
            if fd is not None:
                os.fsync(fd)

    def _close_files(self) -> None:
        for fd in self._files.values():
            if fd is not None:
                os.close(fd)
        self._files = {}
        self._names = {}

    def close(self) -> None:
        self._close_files()
        self.media.close()


def open_block(state_dir: str, geometry: Geometry) -> BlockDevice:
    """The I/O of a block device whose map is ``geometry``, on the media of ``state_dir``
    (its media directory made by the first write)."""
    return BlockDevice(MediaDir(state_dir, create=False), geometry)
