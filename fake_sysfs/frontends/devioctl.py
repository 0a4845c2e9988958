"""Device ioctls for programs run by ``fake-sysfs run``: the emulated kernel's side of the
LD_PRELOAD shim in ``fake_sysfs/devshim/devioctl.c``.

A FUSE mount can serve ``/dev/cxl/memN`` and ``/dev/nmemN`` as character device nodes, but
no driver stands behind them (that would take CUSE, which this kind of machine lacks), so
an unmodified program cannot open them. The shim, preloaded into the command, stands in
for open/fstat/close of those nodes and forwards each ioctl, with the memory its argument
points to, over a unix socket; this server answers it from the state, as the kernel's
ioctl handler would: CXL_MEM_QUERY_COMMANDS and CXL_MEM_SEND_COMMAND on a memdev (the
mailbox), the ND config-data commands on an nvdimm (its label area). A command that may
change the device runs as one journaled operation, like a store.

The shim is compiled on first use with the system's C compiler into the user's cache
directory (keyed by its source's hash); without a compiler ``fake-sysfs run`` works as
before and the nodes cannot be opened, as on a mount.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import socket
import stat
import struct
import subprocess
import threading
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fake_sysfs.frontends.fuse import Live
    from fake_sysfs.store import StateStore

#: The variable the shim reads the socket's path from.
SOCKET_ENV = "FAKE_SYSFS_IOCTL_SOCKET"
CXL_MEM_QUERY_COMMANDS = 0x8008CE01
CXL_MEM_SEND_COMMAND = 0xC030CE02
ND_IOCTL_GET_CONFIG_SIZE = 0xC00C4E04
ND_IOCTL_GET_CONFIG_DATA = 0xC00C4E05
ND_IOCTL_SET_CONFIG_DATA = 0xC0084E06
#: Families of nodes, as the shim numbers them.
CXL_MEMDEV, NVDIMM = 1, 2
#: The largest argument or payload taken (the shim refuses more before sending).
MAX_BYTES = 64 << 20
_SEND = struct.Struct("<IIHHIIIQIIQ")


# -- the shim library ------------------------------------------------------------------------


def shim_library(scratch: str) -> str | None:
    """The compiled shim, or None without a C compiler. It is kept in the user's cache
    directory (keyed by its source's hash) when that directory is the user's own and
    closed to others, else built into ``scratch`` (a private directory of the caller):
    a library another user could replace must never be preloaded."""
    source = resources.files("fake_sysfs.devshim").joinpath("devioctl.c").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(cache, "fake-sysfs")
    with contextlib.suppress(OSError):
        os.makedirs(directory, mode=0o700, exist_ok=True)
    if not _private(directory):
        directory = scratch
    target = os.path.join(directory, f"devioctl-{digest}.so")
    if _private(target, directory=False):
        return target
    return _build(source, target)


def _private(path: str, directory: bool = True) -> bool:
    """``path`` is a directory (or regular file) owned by this user that no one else may
    write to, reached without following a symlink at its last step."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    kind = stat.S_ISDIR(st.st_mode) if directory else stat.S_ISREG(st.st_mode)
    return kind and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def _build(source: bytes, target: str) -> str | None:
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return None
    src = f"{target}.{os.getpid()}.c"
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        fd = os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(source)
        done = subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-pthread", "-o", tmp, src, "-ldl"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            return None
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)  # atomic: a concurrent build gives the same file
    except (OSError, subprocess.SubprocessError):
        return None
    finally:
        for path in (src, tmp):
            with contextlib.suppress(OSError):
                os.unlink(path)
    return target


# -- the server ------------------------------------------------------------------------------

#: sun_path's size: a socket path must be shorter.
_SUN_PATH = 108


def _bind(sock: socket.socket, path: str) -> None:
    """Bind ``sock`` at ``path``. A path too long for a socket address (a deep TMPDIR) is
    reached through a descriptor of its directory; the shim connects the same way."""
    if len(os.fsencode(path)) < _SUN_PATH:
        sock.bind(path)
        return
    directory = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{directory}/{os.path.basename(path)}")
    finally:
        os.close(directory)


class IoctlServer:
    """Answers the shim's requests for one state directory, one connection at a time,
    in a thread of the process that runs the command."""

    def __init__(self, store: StateStore, path: str) -> None:
        from fake_sysfs.frontends.fuse import Live

        self.store = store
        self.live: Live = Live(store)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        _bind(self.sock, path)
        self.sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        self.live.close()

    def _serve(self) -> None:
        while not self._stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            # A request that cannot be answered (a torn connection, an unusable state, a
            # bug) costs the caller EIO, never this server.
            with conn, contextlib.suppress(Exception):
                self._one(conn)

    def _one(self, conn: socket.socket) -> None:
        rfile = conn.makefile("rb")
        family, length = _read(rfile, 2)
        name = _read(rfile, length).decode("ascii")
        (request,) = struct.unpack("<Q", _read(rfile, 8))
        arg = bytearray(_read(rfile, _length(rfile)))
        payload = _read(rfile, _length(rfile))
        err, out = self.handle(family, name, request, arg, payload)
        conn.sendall(
            struct.pack("<iI", err, len(arg)) + bytes(arg) + struct.pack("<I", len(out)) + out
        )

    def handle(
        self, family: int, name: str, request: int, arg: bytearray, payload: bytes
    ) -> tuple[int, bytes]:
        """One ioctl: its errno (0 on success), ``arg`` updated in place, and the output
        payload (CXL SEND)."""
        if family == CXL_MEMDEV and request == CXL_MEM_QUERY_COMMANDS:
            return self._query(name, arg), b""
        if family == CXL_MEMDEV and request == CXL_MEM_SEND_COMMAND:
            return self._send(name, arg, payload)
        if family == NVDIMM and request in (
            ND_IOCTL_GET_CONFIG_SIZE,
            ND_IOCTL_GET_CONFIG_DATA,
            ND_IOCTL_SET_CONFIG_DATA,
        ):
            return self._nd(name, request, arg), b""
        return errno.ENOTTY, b""

    # -- the CXL memdev's mailbox (include/uapi/linux/cxl_mem.h) ---------------------------

    def _query(self, name: str, arg: bytearray) -> int:
        from fake_sysfs.kernel.mailbox import ioctl

        kernel = self.live.current().view.kernel
        mem = ioctl.memdev_named(kernel, name)
        if mem is None:
            return errno.ENXIO
        (n,) = struct.unpack_from("<I", arg)
        count, infos = ioctl.query(kernel, mem, n)
        struct.pack_into("<I", arg, 0, count)
        for i, info in enumerate(infos):
            struct.pack_into("<IIII", arg, 8 + 16 * i, *info)
        return 0

    def _send(self, name: str, arg: bytearray, payload: bytes) -> tuple[int, bytes]:
        from fake_sysfs.kernel.mailbox import ioctl, transact

        fields = list(_SEND.unpack(arg))
        cmd_id, flags, opcode, rsvd = fields[0:4]
        out_size = fields[8]
        frontend = self.live.current()
        if ioctl.changes_state(cmd_id, opcode):
            reply, _ = transact.mailbox(
                frontend, name, cmd_id, flags, opcode, rsvd, payload, out_size
            )
        else:
            kernel = frontend.view.kernel
            mem = ioctl.memdev_named(kernel, name)
            if mem is None:
                return errno.ENXIO, b""
            reply = ioctl.send(kernel, mem, cmd_id, flags, opcode, rsvd, payload, out_size)
        if reply.errno:
            return reply.errno, b""
        fields[4] = reply.retval & 0xFFFFFFFF
        fields[8] = len(reply.out)
        arg[:] = _SEND.pack(*fields)
        return 0, reply.out

    # -- the nvdimm's label area (include/uapi/linux/ndctl.h) -----------------------------

    def _nd(self, name: str, request: int, arg: bytearray) -> int:
        from fake_sysfs.journal import Refused
        from fake_sysfs.kernel import nd_ioctl

        nr = request & 0xFF
        buf = bytes(arg)
        frontend = self.live.current()
        if nd_ioctl.is_pure(nr, buf):
            reply = nd_ioctl.nd_ioctl(frontend.view.kernel, name, nr, buf)
        else:
            body = {"nmem": name, "nr": nr, "bufs": nd_ioctl.encode_batch([buf])}
            try:
                replies, _ = frontend.run_operation("nd_ioctl", body)
            except Refused as e:
                replies = e.result
            reply = replies[0]
        if reply.errno:
            return int(reply.errno)
        # The kernel copies back what it read in; a longer buffer keeps its tail.
        arg[: len(reply.out)] = reply.out
        return 0


def _read(rfile: object, n: int) -> bytes:
    data = rfile.read(n)  # type: ignore[attr-defined]
    if len(data) != n:
        raise ValueError("short request")
    return bytes(data)


def _length(rfile: object) -> int:
    n: int = struct.unpack("<I", _read(rfile, 4))[0]
    if n > MAX_BYTES:
        raise ValueError("request too large")
    return n
