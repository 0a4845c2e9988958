"""The Sysfs interface pycxl is written against.

Paths are absolute as on a real system (``/sys/bus/cxl/devices/mem0``, ``/dev/cxl/mem0``).
Failures raise OSError with the errno the operation would give on a real sysfs.
"""

from __future__ import annotations

import errno
import gc
import os
from abc import ABC, abstractmethod

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from pycxl.sysfs.block import BlockIO
    from pycxl.sysfs.ndioctl import NdControl


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


class NodeOpenFailed(OSError):
    """open() of a /dev/cxl node failed (libcxl: ``failed to open <path>: <strerror>``)."""

    @classmethod
    def of(cls, e: OSError, path: str) -> NodeOpenFailed:
        """The open of ``path`` failed with ``e`` (EIO when it carries no errno)."""
        err = e.errno or errno.EIO
        return cls(err, os.strerror(err), path)


class NodeInvalid(OSError):
    """The opened node is not the memdev's character device (libcxl: ``failed to
    validate <path> as a CXL memdev node``); ENXIO."""

    @classmethod
    def at(cls, path: str) -> NodeInvalid:
        return cls(errno.ENXIO, os.strerror(errno.ENXIO), path)


class Mailbox(ABC):
    """The two ioctls of one ``/dev/cxl/memN`` node (include/uapi/linux/cxl_mem.h).

    Each call is one open / fstat / ioctl / close cycle, as libcxl makes them. Failures
    raise NodeOpenFailed or NodeInvalid before the ioctl, else OSError with the ioctl's
    errno. Payloads are bytes; sizes follow the uapi (``0xFFFFFFFF``: variable).
    """

    @abstractmethod
    def query(self, n: int) -> tuple[int, list[tuple[int, int, int, int]]]:
        """CXL_MEM_QUERY_COMMANDS for ``n`` entries: ``n_commands`` as returned, and the
        (id, flags, size_in, size_out) entries copied out."""

    @abstractmethod
    def send(
        self, cmd_id: int, opcode: int, payload: bytes, out_size: int, flags: int = 0
    ) -> tuple[int, bytes]:
        """CXL_MEM_SEND_COMMAND: (retval, output bytes) once the command reached the
        device; ``opcode`` is the raw opcode (0 unless ``cmd_id`` is RAW)."""


class _NoHold:
    """``Sysfs.exclusive`` of a real kernel: nothing to hold."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class Sysfs(ABC):
    #: The emulated platform of the user's state directory, which only this tool uses (a
    #: change a command makes for its own reading need not be undone there).
    emulated = False
    #: This process runs one command and exits (the tools' main sets it): what it loads
    #: to answer may be left out of garbage collection (emulated._Frontend.view).
    one_shot = False

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

    def open_block(self, path: str, flags: int) -> BlockIO:
        """open() of the block device node ``path`` (``/dev/pmem0``) with ``flags``
        (``os.O_RDWR | os.O_EXCL`` ...), as upstream opens a namespace's disk. By default
        the node where ``host_path`` puts it (on a real system: itself)."""
        from pycxl.sysfs.block import FileBlockIO

        return FileBlockIO(self.host_path(path), flags)

    def mailbox(self, path: str, devnum: tuple[int, int]) -> Mailbox:
        """The ioctls of the /dev node ``path``, which must be the character device
        ``devnum`` (major, minor) when opened. By default the real ioctls."""
        from pycxl.sysfs.ioctl import IoctlMailbox

        return IoctlMailbox(self.open_dev, path, devnum)

    def nd_control(self, path: str, devnum: tuple[int, int]) -> NdControl:
        """The label ioctls of the NVDIMM node ``path`` (``/dev/nmemN``), which must be the
        character device ``devnum`` when opened. By default the real ioctls."""
        from pycxl.sysfs.ndioctl import IoctlNdControl

        return IoctlNdControl(self.open_dev, path, devnum)

    def write_stream(self, path: str, data: bytes) -> None:
        """Open ``path`` once and write all of ``data``, as stdio's fwrite and fflush do
        (a binary attribute such as a firmware image). By default one store."""
        self.write(path, data)

    def wait_notify(self, path: str, timeout_ms: int) -> int:
        """Wait for the kernel to notify a change of the attribute ``path`` (sysfs_notify;
        ``poll`` with no events asked, as libcxl polls): 1 when it did, 0 after
        ``timeout_ms`` (negative: no limit); OSError if the attribute cannot be opened."""
        import select

        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.read(fd, 4096)
            poller = select.poll()
            poller.register(fd, 0)
            return 1 if poller.poll(timeout_ms if timeout_ms >= 0 else None) else 0
        finally:
            os.close(fd)

    # -- tracefs: instance directories and the trace pipes -----------------------------

    def host_path(self, path: str) -> str:
        """Where ``path`` is on this machine (the real /sys: itself)."""
        return path

    def mkdir(self, path: str) -> None:
        """mkdir() (a tracefs instance: ``<tracing>/instances/<name>``)."""
        os.mkdir(self.host_path(path))

    def rmdir(self, path: str) -> None:
        """rmdir() (a tracefs instance)."""
        os.rmdir(self.host_path(path))

    def read_pipe(self, path: str, size: int) -> bytes:
        """One non-blocking read() of up to ``size`` bytes of a trace pipe (``trace_pipe``,
        ``per_cpu/cpuN/trace_pipe_raw``), which consumes what it returns; b"" when there
        is nothing to read."""
        fd = os.open(self.host_path(path), os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            return os.read(fd, size)
        except BlockingIOError:
            return b""
        finally:
            os.close(fd)

    def exclusive(self) -> AbstractContextManager[None]:
        """Within it, no other command's store lands between this command's stores. The
        emulated platform needs it for a set-up of several stores (each applies to the
        state committed when it is made, and another command may replace the whole state
        between two of them); a real kernel's stores all apply to the one live kernel."""
        return _NoHold()

    def refresh(self) -> None:
        """Forget what was read so far: later reads see the kernel as it is now. A
        command that waits for the kernel (a firmware update, a sanitize, a monitor)
        calls this between its looks. (Plain files are read live: nothing to forget.)"""
        # Such a command may run for hours, loading state after state: what a one-shot
        # command freezes (emulated._Frontend.view) goes back to the cyclic collector.
        gc.unfreeze()

    def sync(self) -> None:  # noqa: B027 - optional: most backends commit as they go
        """Make every change this command made durable: called before it reports them.
        (The emulated kernel commits a command's stores with one fdatasync, here.)"""

    def close(self) -> None:  # noqa: B027 - optional: most backends have nothing to keep
        """The command is done with this sysfs (a backend may keep what it learned)."""


class SysfsUnavailable(Exception):
    """The selected /sys cannot be used at all (e.g. a damaged emulator state); the
    message is the one line shown to the user."""
