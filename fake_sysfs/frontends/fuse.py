"""The FUSE frontend: the emulated kernel served as a live file system.

``MOUNTPOINT/sys`` is the kernfs view and ``MOUNTPOINT/dev`` the device nodes the emulated
kernel registered, so any program (``cat``, ``echo >``, the upstream ``cxl`` binary, through
``fake-sysfs run``) talks to the emulation with ordinary system calls.

Every operation answers from the state committed now: before each one, the committed state
file is compared with the one the in-process frontend holds (one stat(); the identity in
the file's header and journal when they differ), and another process's commit makes it
catch up. Writes are stores through the in-process frontend, one journal record each.
Nothing is cached by the kernel (entry and attribute timeouts 0, direct I/O), so a read
returns the attribute's real length and a device created by a store is visible at once.

The binding is mfusepy (ctypes over libfuse 2 or 3): no compiler, no async framework.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stat_mod
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fake_sysfs.errors import FakeSysfsError, KernfsError, kerr
from fake_sysfs.frontends import daemon
from fake_sysfs.frontends.daemon import READY_TIMEOUT
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.statedir import STATE_FILE, Snapshot, open_snapshot
from fake_sysfs.store import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fake_sysfs.kernfs.view import View
    from fake_sysfs.media import BlockDevice

#: The file system type mounts show (``fuse.fake-sysfs``): how ``umount`` knows its own.
FS_NAME = "fake-sysfs"

_DIR_MODE = stat_mod.S_IFDIR | 0o755
_LINK_MODE = stat_mod.S_IFLNK | 0o777
#: A block device below /dev, served as a plain file (see Live.dev_tree).
_BLOCK_FILE_MODE = stat_mod.S_IFREG | 0o660
_ROOT_ENTRIES = ("sys", "dev", "proc")
#: What the mount serves of /proc: the emulated machine's physical address map.
_IOMEM = "/proc/iomem"
_PROC_FILE_MODE = stat_mod.S_IFREG | 0o444


class FuseUnavailable(FakeSysfsError):
    """FUSE cannot be used on this machine (no /dev/fuse, no libfuse, no binding)."""


# -- the state, kept current ---------------------------------------------------------------


class Live:
    """The in-process frontend of one state directory, reloaded whenever another process
    commits: each ``current()`` costs one stat() when nothing changed."""

    def __init__(self, store: StateStore, host_dev: str | None = None) -> None:
        self.path = str(store.dir)
        #: Under ``fake-sysfs run``: where the host's /dev is bound in the command's
        #: namespace. /dev then lists the host's entries too, as links there (see
        #: namespace.py), beside the emulation's nodes, which come and go with its state.
        self.host_dev = host_dev
        #: /dev entries that are links to the host's, and block devices served as plain
        #: files (path -> size), for the generation ``_dev_tree`` was built from.
        self.host_links: set[str] = set()
        self.block_files: dict[str, int] = {}
        self.state_file = os.path.join(self.path, STATE_FILE)
        self.frontend = InProcess(store)
        #: The snapshot the frontend holds, and its file's (st_dev, st_ino) and the end of
        #: the journal it includes.
        self._held: tuple[Snapshot | None, tuple[int, int, int] | None] = (None, None)
        #: /dev as directories -> entries, for the generation it was built from.
        self._dev_tree: dict[str, list[str]] = {}
        self._dev_generation: str | None = None

    def held_generation(self) -> str | None:
        """The generation of the state the frontend answers for (None before its first use)."""
        snap = self.frontend.cache.snap
        return None if snap is None else snap.generation

    def _held_identity(self) -> tuple[int, int, int] | None:
        snap = self.frontend.cache.snap
        if snap is None or snap.fd is None:
            return None
        held, identity = self._held
        if held is not snap:
            st = os.fstat(snap.fd)
            identity = (st.st_dev, st.st_ino, snap.end)
            self._held = (snap, identity)
        return identity

    def current(self) -> InProcess:
        """The frontend, answering for the state committed now.

        Fast path: while the frontend holds its state file open, no other file can have
        that inode, and a store only appends to it, so state.json being that inode at the
        length the frontend read means nothing was committed since (a new snapshot is
        always renamed into place). Otherwise the committed state's identity decides, as
        for every reader of the directory; the kernel the store keeps then replays only the
        records appended since."""
        try:
            st = os.stat(self.state_file)
            if (st.st_dev, st.st_ino, st.st_size) == self._held_identity():
                # Nothing committed; but the devices' background work may be due by now.
                self.frontend.finish_due_work()
                return self.frontend
        except OSError:
            pass  # the slow path says what is wrong
        snap = open_snapshot(self.path, False)
        try:
            committed = snap.generation
        finally:
            snap.close()
        if committed != self.held_generation():
            # close() drops the loaded state; the next answer opens the committed one.
            self.frontend.close()
        return self.frontend

    def dev_tree(self) -> dict[str, list[str]]:
        """Directories below /dev (``/dev``, ``/dev/cxl``) and their entries, in the order
        the kernel registered the nodes. Call after ``current()``."""
        view = self.frontend.view  # opens the snapshot: the generation is known now
        generation = self.held_generation()
        if generation is None or generation != self._dev_generation:
            tree: dict[str, list[str]] = {"/dev": []}
            for name, _major, _minor in view.dev_numbers():
                parent = "/dev"
                for part in name.split("/"):
                    entries = tree.setdefault(parent, [])
                    if part not in entries:
                        entries.append(part)
                    parent = f"{parent}/{part}"
            # Block devices (pmem disks) are plain files here, never device nodes: with
            # ``dev`` a node would reach the host's driver of that number (blkext, a real
            # disk), and the tools write to these. Their size is the disk's capacity.
            from fake_sysfs.kernel.media import disk_sizes

            sizes = disk_sizes(view.kernel)
            self.block_files = {
                f"/dev/{name}": sizes.get(name, 0)
                for name, _major, _minor, _syspath in _block_nodes(view)
            }
            tree["/dev"] += [path[5:] for path in self.block_files]
            if self.host_dev is not None:
                own = set(tree["/dev"])
                host = [
                    name
                    for name in _host_dev_names()
                    if name not in own and not name.startswith(EMULATED_FAMILIES)
                ]
                self.host_links = {f"/dev/{name}" for name in host}
                tree["/dev"] = sorted(tree["/dev"] + host)
            self._dev_tree = tree
            self._dev_generation = generation
        return self._dev_tree

    def host_link(self, path: str) -> str:
        """Where the /dev entry ``path`` that is the host's points."""
        assert self.host_dev is not None
        return f"{self.host_dev}/{path[5:]}"

    def close(self) -> None:
        self.frontend.close()


#: Host /dev entries of the device families the emulated kernel owns: never shown, even
#: where the emulation has none (a real CXL host's nodes must not mix with emulated ones).
EMULATED_FAMILIES = ("cxl", "dax", "ndctl", "nmem", "pmem")


def _caller_uid() -> int:
    """The uid of the process the current FUSE request is for (0 outside a request)."""
    try:
        return int(_binding().fuse_get_context()[0])
    except Exception:  # no request context: the caller is this process
        return os.geteuid()


def _caller_pid() -> int:
    """The pid of the process the current FUSE request is for (0 outside a request)."""
    try:
        return int(_binding().fuse_get_context()[2])
    except Exception:  # no request context
        return 0


def _is_pipe(path: str) -> bool:
    return path.startswith("/sys/kernel/tracing/") and path.endswith(
        ("/trace_pipe", "/trace_pipe_raw")
    )


def _host_dev_names() -> list[str]:
    try:
        return os.listdir("/dev")
    except OSError:
        return []


def _block_nodes(view: View) -> list[tuple[str, int, int, str]]:
    block_nodes = getattr(view.tree, "block_nodes", None)
    return [] if block_nodes is None else list(block_nodes())


# -- the file system -----------------------------------------------------------------------


@dataclass
class _Open:
    """An open attribute: what the first read returns (computed at open, as kernfs shows
    an attribute once per read from offset 0), or the errno that read fails with."""

    path: str
    data: bytes | None = None
    error: int = 0
    fresh: bool = False
    #: A block device's plain-file stand-in below /dev, its I/O on the memdevs' media
    #: (fake_sysfs.media) and the state generation its address map was computed for.
    block: bool = False
    disk: BlockDevice | None = None
    generation: str | None = None
    #: /proc/iomem, rendered once at open.
    proc: bool = False
    #: A tracefs pipe (trace_pipe, trace_pipe_raw): each read consumes what it returns;
    #: opened O_NONBLOCK, an empty one fails with EAGAIN.
    pipe: bool = False
    nonblock: bool = False


def _errno_of(e: BaseException) -> int:
    if isinstance(e, OSError) and e.errno:
        return e.errno
    return errno.EIO


def _oserror(err: int) -> OSError:
    return OSError(err, os.strerror(err))


class SysfsOperations:
    """mfusepy operations over a ``Live`` state (paths as FUSE gives them: ``/sys/...``).

    Errors are raised as OSError with the errno the real sysfs gives (a KernfsError from the
    view); anything else, an unusable state directory included, is EIO."""

    #: Times in nanoseconds (mfusepy's current interface).
    use_ns = True

    def __init__(self, live: Live, on_ready: Callable[[], None] | None = None) -> None:
        self.live = live
        self.on_ready = on_ready
        self._files: dict[int, _Open] = {}
        self._next_fh = 1
        # Like sysfs, every entry carries one time: here, the mount's.
        self._time = time.time_ns()

    # -- life cycle ------------------------------------------------------------------------

    def init_with_config(self, conn: Any, config: Any) -> None:
        if config is not None:  # libfuse 3: repeat the mount options, which must hold
            config.entry_timeout = 0.0
            config.attr_timeout = 0.0
            config.negative_timeout = 0.0
            config.direct_io = 1
        if self.on_ready is not None:
            self.on_ready()

    def destroy(self, path: str) -> None:
        self.live.close()

    # -- metadata --------------------------------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, int]:
        with _errors():
            mode, size, rdev = self._lstat(path)
        t = self._time
        return {
            "st_mode": mode,
            "st_size": size,
            "st_nlink": 1,  # "unknown" for directories: find must not trust a count
            "st_uid": 0,
            "st_gid": 0,
            "st_rdev": rdev,
            "st_blksize": 4096,
            "st_atime": t,
            "st_mtime": t,
            "st_ctime": t,
        }

    def _lstat(self, path: str) -> tuple[int, int, int]:
        """(mode, size, rdev) of a path of the mount."""
        if path == "/":
            return _DIR_MODE, 0, 0
        frontend = self.live.current()
        if _below(path, "/sys"):
            st = frontend.view.lstat(path)
            return st.mode, st.size, os.makedev(*st.rdev)
        if path == "/proc":
            return _DIR_MODE, 0, 0
        if path == _IOMEM:
            return _PROC_FILE_MODE, 0, 0  # procfs files report no size
        if _below(path, "/dev"):
            if path in self.live.dev_tree():
                return _DIR_MODE, 0, 0
            if path in self.live.host_links:
                return _LINK_MODE, len(self.live.host_link(path)), 0
            if path in self.live.block_files:
                return _BLOCK_FILE_MODE, self.live.block_files[path], 0
            st = frontend.stat_dev(path)
            return st.mode, st.size, os.makedev(*st.rdev)
        raise kerr(errno.ENOENT, path)

    def readlink(self, path: str) -> str:
        with _errors():
            if _below(path, "/dev"):
                self.live.current()
                self.live.dev_tree()
                if path in self.live.host_links:
                    return self.live.host_link(path)
            if not _below(path, "/sys"):
                raise kerr(errno.EINVAL, path)
            return self.live.current().view.readlink(path)

    def readdir(self, path: str, fh: int) -> list[str]:
        with _errors():
            return [".", "..", *self._listdir(path)]

    def _listdir(self, path: str) -> list[str]:
        if path == "/":
            return list(_ROOT_ENTRIES)
        if path == "/proc":
            return ["iomem"]
        frontend = self.live.current()
        if _below(path, "/sys"):
            return frontend.listdir(path)
        if _below(path, "/dev"):
            entries = self.live.dev_tree().get(path)
            if entries is not None:
                return list(entries)
            frontend.dev_node(path)  # ENOENT, unless it is a node
            raise kerr(errno.ENOTDIR, path)
        raise kerr(errno.ENOENT, path)

    def statfs(self, path: str) -> dict[str, int]:
        # What sysfs reports: a block size and a name length, no capacity.
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    # -- attributes ------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        """kernfs checks at open what the file allows (EACCES otherwise), whoever opens."""
        with _errors():
            if _below(path, "/dev"):
                self.live.current()
                if path in self.live.dev_tree() or path not in self.live.block_files:
                    raise kerr(errno.EACCES, path)
                # A block device stand-in: reads and writes reach the media of the
                # region's memdevs, through the namespace and the interleave.
                handle = _Open(path, data=b"", block=True)
                self._block_map(handle)
                fh = self._next_fh
                self._next_fh += 1
                self._files[fh] = handle
                return fh
            if path == _IOMEM:
                if flags & os.O_ACCMODE != os.O_RDONLY:
                    raise kerr(errno.EACCES, path)
                # As procfs shows it: the addresses only to a privileged reader.
                from fake_sysfs.kernel.iomem import render

                kernel = self.live.current().view.kernel
                text = render(kernel, privileged=_caller_uid() == 0)
                handle = _Open(path, data=text.encode(), proc=True)
                fh = self._next_fh
                self._next_fh += 1
                self._files[fh] = handle
                return fh
            if not _below(path, "/sys"):
                raise kerr(errno.EACCES, path)  # the root holds no regular files
            frontend = self.live.current()
            accmode = flags & os.O_ACCMODE
            if accmode in (os.O_WRONLY, os.O_RDWR) and not _is_pipe(path):
                # (tracefs lets root open a pipe read-write, as libtracefs does; a
                # write to it then fails.)
                frontend.view.check_writable(path)
            handle = _Open(path)
            if _is_pipe(path):
                frontend.view.stat(path)  # ENOENT for one that is not there
                handle = _Open(path, pipe=True, nonblock=bool(flags & os.O_NONBLOCK))
            elif accmode in (os.O_RDONLY, os.O_RDWR):
                self._show(handle, frontend)
                if handle.error == errno.EACCES:
                    raise kerr(errno.EACCES, path)
                handle.fresh = True
        fh = self._next_fh
        self._next_fh += 1
        self._files[fh] = handle
        return fh

    def _show(self, handle: _Open, frontend: InProcess) -> None:
        try:
            handle.data, handle.error = frontend.read(handle.path), 0
        except (OSError, FakeSysfsError) as e:
            handle.data, handle.error = None, _errno_of(e)

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        handle = self._files.get(fh)
        if handle is None:
            raise _oserror(errno.EBADF)
        if handle.block:
            with _errors():
                return self._block_map(handle).read(offset, size)
        if handle.proc:  # one text, read in pieces
            assert handle.data is not None
            return handle.data[offset : offset + size]
        if handle.pipe:
            with _errors():
                data = self.live.current().consume(path, size)
            if not data and handle.nonblock:
                raise _oserror(errno.EAGAIN)
            return data
        with _errors():
            # A read from offset 0 shows the attribute again (what open computed is used
            # for the first one); later offsets continue in what that read showed.
            if (offset == 0 and not handle.fresh) or (handle.data is None and not handle.error):
                self._show(handle, self.live.current())
            handle.fresh = False
            if handle.error:
                raise kerr(handle.error, path)
            assert handle.data is not None
            return handle.data[offset : offset + size]

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        """One write() is one store of exactly its bytes; sysfs ignores the offset."""
        handle = self._files.get(fh)
        if handle is not None and handle.block:
            with _errors():
                return self._block_map(handle).write(offset, data)
        with _errors():
            if path.endswith("/trigger_poison_list"):
                # The trace records it makes name the writer (common_pid).
                return self.live.current().task_write(path, data, _caller_pid())
            return self.live.current().write(path, data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        """``>`` opens with O_TRUNC: sysfs accepts and ignores the size change."""
        with _errors():
            mode, _, _ = self._lstat(path)
        if stat_mod.S_ISDIR(mode):
            raise _oserror(errno.EISDIR)
        return 0

    def _block_map(self, handle: _Open) -> BlockDevice:
        """The handle's block I/O, following the state committed now: a device that is
        gone (its namespace disabled, its region torn down) fails with EIO."""
        from fake_sysfs.kernel.media import disk_geometry
        from fake_sysfs.media import open_block

        view = self.live.current().view  # opens the snapshot: the generation is known now
        generation = self.live.held_generation()
        if handle.disk is None or generation != handle.generation:
            geometry = disk_geometry(view.kernel, handle.path[5:])
            if geometry is None:
                raise kerr(errno.EIO, handle.path)
            if handle.disk is None:
                handle.disk = open_block(self.live.path, geometry)
            else:
                handle.disk.update(geometry)
            handle.generation = generation
        return handle.disk

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        handle = self._files.get(fh)
        if handle is not None and handle.disk is not None:
            with _errors():
                handle.disk.sync()
        return 0

    def release(self, path: str, fh: int) -> int:
        handle = self._files.pop(fh, None)
        if handle is not None and handle.disk is not None:
            handle.disk.close()
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        # touch works on sysfs as root; nothing keeps the times here.
        with _errors():
            self._lstat(path)
        return 0

    # -- what sysfs refuses ----------------------------------------------------------------

    def create(self, path: str, mode: int, flags: int = 0) -> int:
        raise _oserror(errno.EACCES)  # sysfs directories have no create

    def mknod(self, path: str, mode: int, dev: int) -> int:
        raise _oserror(errno.EPERM)

    def mkdir(self, path: str, mode: int) -> int:
        """Only a tracefs instance can be made (EPERM elsewhere, as sysfs refuses)."""
        with _errors():
            self.live.current().make_dir(path)
        return 0

    def rmdir(self, path: str) -> int:
        with _errors():
            self.live.current().remove_dir(path)
        return 0

    def unlink(self, path: str) -> int:
        raise _oserror(errno.EPERM)

    def symlink(self, target: str, source: str) -> int:
        raise _oserror(errno.EPERM)

    def link(self, target: str, source: str) -> int:
        raise _oserror(errno.EPERM)

    def rename(self, old: str, new: str) -> int:
        raise _oserror(errno.EPERM)

    def chmod(self, path: str, mode: int) -> int:
        raise _oserror(errno.EPERM)

    def chown(self, path: str, uid: int, gid: int) -> int:
        raise _oserror(errno.EPERM)


def _below(path: str, top: str) -> bool:
    return path == top or path.startswith(top + "/")


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """KernfsError passes with its errno; a state that cannot be used, or a failure of the
    emulation itself, is EIO (mfusepy would answer EINVAL, which a store can mean)."""
    try:
        yield
    except KernfsError:
        raise
    except OSError as e:
        raise _oserror(_errno_of(e)) from None
    except Exception:
        raise _oserror(errno.EIO) from None


# -- mounting ------------------------------------------------------------------------------


def _binding() -> Any:
    """The mfusepy module; FuseUnavailable when FUSE cannot be used here."""
    if not os.path.exists("/dev/fuse"):
        raise FuseUnavailable("FUSE is not available: /dev/fuse does not exist")
    if os.geteuid() != 0 and not os.access("/dev/fuse", os.R_OK | os.W_OK):
        # fusermount3 opens it as the user: that mode is the administrator's say.
        raise FuseUnavailable(
            "FUSE is not available to this user: /dev/fuse is not readable and writable "
            "by you (mount as root, or have /dev/fuse made mode 0666)"
        )
    try:
        import mfusepy  # type: ignore[import-untyped]
    except ImportError:
        raise FuseUnavailable(
            "FUSE is not available: the Python binding mfusepy is not installed"
        ) from None
    except OSError as e:  # mfusepy loads libfuse when imported
        raise FuseUnavailable(f"FUSE is not available: {e} (install fuse3)") from None
    return mfusepy


def mount_options() -> dict[str, Any]:
    """libfuse options: sysfs's permission model, nothing cached by the kernel. As root the
    mount is shared with every user and its device nodes are real (``dev``)."""
    options: dict[str, Any] = {
        "fsname": FS_NAME,
        "subtype": FS_NAME,
        "default_permissions": True,
        "entry_timeout": 0,
        "attr_timeout": 0,
        "negative_timeout": 0,
        "direct_io": True,
    }
    if os.geteuid() == 0:
        options.update(allow_other=True, dev=True)
    else:
        # libfuse opens /dev/fuse itself unless auto_unmount sends it through fusermount3
        # (setuid root), the only way in where /dev/fuse is root's alone. fusermount3 then
        # also unmounts when the daemon dies.
        options.update(auto_unmount=True)
    return options


def serve(
    store: StateStore,
    mountpoint: str,
    on_ready: Callable[[], None] | None,
    host_dev: str | None = None,
) -> None:
    """Mount and serve until unmounted (or SIGTERM/SIGINT, which unmount). ``on_ready`` is
    called once the kernel has initialized the mount. ``host_dev``: see Live."""
    binding = _binding()
    live = Live(store, host_dev)
    try:
        # Load the state before mounting: one that cannot be used is refused with its
        # reason here, rather than as EIO from every operation.
        live.current().view  # noqa: B018
        binding.FUSE(
            SysfsOperations(live, on_ready),
            mountpoint,
            foreground=True,
            nothreads=True,  # the in-process frontend is not thread-safe
            **mount_options(),
        )
    except RuntimeError as e:
        raise FakeSysfsError(f"cannot mount {mountpoint} (libfuse error {e})") from None
    finally:
        live.close()


def preflight(store: StateStore, mountpoint: str) -> None:
    """Fail in the caller, before any fork, on what would stop the mount."""
    _binding()
    if not os.path.isdir(mountpoint):
        raise FakeSysfsError(f"mount point {mountpoint} is not a directory")
    store.snapshot().close()  # the state directory is usable (first use: booted)
    from fake_sysfs.media import check

    check(str(store.dir))  # and so is where the block devices keep their data


def spawn(
    store: StateStore,
    mountpoint: str,
    timeout: float = READY_TIMEOUT,
    host_dev: str | None = None,
) -> int:
    """Mount in a detached daemon; return its pid once the mount answers. ``host_dev``:
    see Live."""
    preflight(store, mountpoint)
    mountpoint = os.path.abspath(mountpoint)  # the daemon leaves this directory

    def run(ready: Callable[[], None]) -> None:
        serve(store, mountpoint, ready, host_dev)

    return daemon.spawn(run, f"mount {mountpoint}", timeout)


def stop(pid: int) -> None:
    """End a daemon this process spawned (after its mount is gone) and reap it."""
    daemon.reap(pid, kill=True)


# -- unmounting ----------------------------------------------------------------------------


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def mounts() -> list[tuple[str, str]]:
    """(mount point, file system type) of this process's mounts, in mount order."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            found.append((_unescape(fields[4]), fields[sep + 1]))
    return found


def _absolute(mountpoint: str) -> str:
    """The path mountinfo shows. realpath() of the parent only: the mount point itself
    may be a dead mount (ENOTCONN)."""
    path = os.path.abspath(mountpoint)
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail) if tail else path


def is_mounted(mountpoint: str) -> bool:
    """A fake-sysfs mount is on ``mountpoint`` (alive or with its daemon gone)."""
    path = _absolute(mountpoint)
    return any(m == path and t == f"fuse.{FS_NAME}" for m, t in mounts())


def unmount(mountpoint: str) -> None:
    """Unmount a fake-sysfs mount; its daemon then exits. A mount whose daemon was killed
    (ENOTCONN) is cleaned the same way. Anything else on that path is refused."""
    path = _absolute(mountpoint)
    if not is_mounted(path):
        raise FakeSysfsError(f"{mountpoint} is not a fake-sysfs mount")
    if os.geteuid() == 0:
        from fake_sysfs.frontends.namespace import umount

        try:
            umount(path)
        except OSError as e:
            raise FakeSysfsError(f"cannot unmount {mountpoint}: {e.strerror}") from None
        return
    tool = _fusermount()
    proc = subprocess.run([tool, "-u", path], capture_output=True, text=True)
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"{tool} failed"]
        raise FakeSysfsError(f"cannot unmount {mountpoint}: {why[0]}")


def _fusermount() -> str:
    import shutil

    for name in ("fusermount3", "fusermount"):
        found = shutil.which(name)
        if found:
            return found
    raise FuseUnavailable("cannot unmount: fusermount3 is not installed (apt-get install fuse3)")
