"""The fork server (``fake-sysfs serve``): a process that keeps the emulated kernel decoded
and the tools imported, and runs each command in a fork of itself.

At 1,024 memdevs most of what a writing command costs is paid before it does anything:
starting the interpreter and importing the kernel (about 60 ms), decoding the state (65 ms)
and replaying the journal since the last snapshot (up to 80 ms). A server pays that once.
A tool started while one serves its state directory (forkclient.py) hands it its command
line, environment, working directory, umask and standard streams; the server forks, and
the child becomes that command, answering from the kernel it inherited. The child's stores
go through the same store as any process's (the writers' lock, one journal record each), so
in-process commands, the FUSE mount and served commands share one state, and a command run
by the server is the command run in-process, byte for byte.

The server only reads the state: between requests it replays what the commands (its own
children and everyone else's) committed, so a child starts current or nearly so, and
catches up the rest itself, as any holder of a kept kernel does (StateStore.load).

Protocol, one connection per command on STATE/serve.sock, every answer 5 bytes (a letter
and a 4-byte big-endian number):

* client -> server: a 4-byte length and a marshal'd request (forkclient.request), with the
  client's open descriptors 0 to 2 and its working directory passed as SCM_RIGHTS;
* server -> client: ``N`` (not served: run the command yourself; the number says why);
* child -> client: ``P`` and its pid, as its first act: the command begins. A client that
  gave up waiting has shut its end, so the child's ``P`` fails and it runs nothing: a
  command never runs twice;
* child -> client: ``X`` and its exit status, as its last act;
* server -> client: ``S`` and the signal that killed the child, if one did.

Only a process of the server's own user is served (SO_PEERCRED), and only one running the
same code: a client of another installation, or a server whose source files changed since
it started, answers ``N`` (the latter then stops).
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import marshal
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import time

from fake_sysfs.errors import FakeSysfsError, StateError
from fake_sysfs.frontends import readcache
from fake_sysfs.frontends.forkclient import PROTOCOL, SOCKET, code_identity
from fake_sysfs.statedir import STATE_FILE, open_dir, open_lock

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from fake_sysfs.store import StateStore

#: The server's lock, in the state directory beside its socket.
SERVE_LOCK = "serve.lock"
#: Why a request was not served (the number of an ``N`` answer).
REFUSED_PROTOCOL, REFUSED_CODE, REFUSED_STALE, REFUSED_FORK, REFUSED_REQUEST = 1, 2, 3, 4, 5
#: How long a client may take to send its request.
REQUEST_TIMEOUT = 5.0
#: The server looks around (idle time, its directory, other writers) this often.
TICK = 1.0
#: Default idle time after which the server exits.
IDLE = 900.0
#: How much longer the children let the journal grow before a store of theirs folds it
#: (a server kept busy without a pause: the fold then still comes).
FOLD_FACTOR = 4
#: How long a command waits for a finishing child before it is forked anyway.
EPILOGUE_WAIT = 0.5
#: Signals that stop the server.
_STOPPING = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def answer(tag: bytes, number: int) -> bytes:
    return tag + number.to_bytes(4, "big")


def _sources(packages: list[str]) -> dict[str, tuple[tuple[str, int, int], ...]] | None:
    """The stamps of every Python source of ``packages`` (their directories), as the read
    memo keys its code (readcache.source_stamps); None when one cannot be read."""
    try:
        return {package: readcache.source_stamps(package) for package in packages}
    except OSError:
        return None


def _package_dir(module: str) -> str | None:
    top = sys.modules.get(module.partition(".")[0])
    path = getattr(top, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


def warm_kernel_modules() -> None:
    """Import what a command may load of the emulated kernel, once, in the server."""
    import pkgutil

    import fake_sysfs.frontends.devioctl
    import fake_sysfs.frontends.inprocess
    import fake_sysfs.journal
    import fake_sysfs.kernel
    import fake_sysfs.kernfs

    for package in (fake_sysfs.kernel, fake_sysfs.kernfs):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(info.name)


class ForkServer:
    """Serves the state directory of ``store`` until idle for ``idle`` seconds, told to
    stop (SIGTERM, SIGINT, SIGHUP), or its directory or socket is gone."""

    def __init__(self, store: StateStore, idle: float = IDLE) -> None:
        self.store = store
        store.sync_each = False  # the children's: a command syncs once (toolmain)
        # The children's too: the server folds the journal when idle (fold), so that no
        # command pays for writing a snapshot, nor the next one for decoding it.
        store.fold_factor = FOLD_FACTOR
        self.idle = idle
        self.dirfd = -1
        self.lockfd = -1
        self.listener: socket.socket | None = None
        self.wakeup_r = self.wakeup_w = -1
        #: Running children: pid -> the connection to their client.
        self.children: dict[int, socket.socket] = {}
        #: Children that told their caller the command ended and are keeping its reads.
        self.finishing: set[int] = set()
        #: Commands accepted, to fork (_dispatch).
        self.waiting: list[_Job] = []
        #: Children say here that their command ended (a datagram: their pid).
        self.nudge_r, self.nudge_w = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.nudge_r.setblocking(False)
        self.served = 0
        self.last_request = time.monotonic()
        self.stopping = False
        #: (inode, size, mtime) of the state file the kernel held follows.
        self._seen: tuple[int, int, int] | None = None
        #: Whether catching up may have left garbage for ``collect``.
        self._garbage = False
        self._socket_inode: tuple[int, int] | None = None
        self._entries: dict[str, Callable[[], Any]] = {}
        self._entry_files: dict[str, str | None] = {}
        self._packages = [p for p in (_package_dir(__name__),) if p]
        self._sources: dict[str, tuple[tuple[str, int, int], ...]] | None = {}
        self._sources_checked = 0.0
        self._sources_changed = False

    # -- life ------------------------------------------------------------------------------

    def run(self, ready: Callable[[], None] | None = None) -> None:
        self.dirfd = open_dir(str(self.store.dir), self.store.create)
        try:
            self._lock()
            self._listen()
            try:
                # The collector runs when the server is idle (collect); a child turns it
                # back on for its command.
                gc.disable()
                warm_kernel_modules()
                self.catch_up()
                self.collect()
                self._sources = _sources(self._packages)
                self._signals()
                if ready is not None:
                    ready()
                self._loop()
            finally:
                self._unlisten()
        finally:
            for job in self.waiting:
                _refuse(job.conn, REFUSED_FORK)
                _close_all(job.fds)
            self.nudge_r.close()
            self.nudge_w.close()
            for fd in (self.lockfd, self.dirfd, self.wakeup_r, self.wakeup_w):
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)

    def _lock(self) -> None:
        """One server per directory: ``serve.lock`` is held for the server's life, and says
        its pid."""
        self.lockfd = open_lock(self.dirfd, SERVE_LOCK, str(self.store.dir / SERVE_LOCK))
        try:
            fcntl.flock(self.lockfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = server_pid(str(self.store.dir))
            who = f" (pid {pid})" if pid else ""
            raise FakeSysfsError(f"a fork server already serves {self.store.dir}{who}") from None
        os.ftruncate(self.lockfd, 0)
        os.pwrite(self.lockfd, f"{os.getpid()}\n".encode(), 0)

    def _listen(self) -> None:
        try:
            os.unlink(SOCKET, dir_fd=self.dirfd)  # a dead server's (we hold the lock)
        except FileNotFoundError:
            pass
        except OSError as e:
            raise StateError(f"cannot use {self.store.dir / SOCKET}: {e.strerror}") from None
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # Through the directory's descriptor: no race with a directory swapped under its
        # path, and no limit on the path's length (a socket path has 108 bytes).
        old = os.umask(0o177)
        try:
            listener.bind(f"/proc/self/fd/{self.dirfd}/{SOCKET}")
        except OSError as e:
            listener.close()
            raise StateError(f"cannot make {self.store.dir / SOCKET}: {e.strerror or e}") from None
        finally:
            os.umask(old)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        st = os.stat(SOCKET, dir_fd=self.dirfd, follow_symlinks=False)
        self._socket_inode = (st.st_dev, st.st_ino)

    def _unlisten(self) -> None:
        if self.listener is not None:
            if self._ours():
                with contextlib.suppress(OSError):
                    os.unlink(SOCKET, dir_fd=self.dirfd)
            self.listener.close()
            self.listener = None

    def _ours(self) -> bool:
        """The socket in the directory is still this server's, and the directory exists."""
        try:
            if os.fstat(self.dirfd).st_nlink == 0:
                return False
            st = os.stat(SOCKET, dir_fd=self.dirfd, follow_symlinks=False)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self._socket_inode

    def _signals(self) -> None:
        self.wakeup_r, self.wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wakeup_w)

        def note(signum: int, frame: object) -> None:
            del frame
            if signum in _STOPPING:
                self.stopping = True

        for signum in (signal.SIGCHLD, *_STOPPING):
            signal.signal(signum, note)

    def _loop(self) -> None:
        assert self.listener is not None
        selector = selectors.DefaultSelector()
        selector.register(self.listener, selectors.EVENT_READ, "accept")
        selector.register(self.wakeup_r, selectors.EVENT_READ, "signal")
        selector.register(self.nudge_r, selectors.EVENT_READ, "nudge")
        try:
            while not self.stopping:
                events = selector.select(EPILOGUE_WAIT if self.waiting else TICK)
                if not events:
                    self.collect()
                    if self._stale():
                        break
                for key, _ in events:
                    if key.data == "accept":
                        self._accept()
                    elif key.data == "nudge":
                        self._nudged()
                    else:
                        with contextlib.suppress(OSError):
                            os.read(self.wakeup_r, 512)
                        self._reap()
                if self.stopping or not self._ours():
                    break
                if not self.children and time.monotonic() - self.last_request > self.idle:
                    break
                if not _pending(self.listener):
                    self.catch_up()
                    if not self.waiting and not _pending(self.listener):
                        self.fold()
                self._dispatch()
        finally:
            selector.close()

    # -- the kernel kept -------------------------------------------------------------------

    def catch_up(self) -> None:
        """Hold the state committed now, if it changed: replay the records committed since
        (a full load after a fold or a new state). Off a request's path (the loop does it
        when none waits); a child catches up the rest itself."""
        try:
            st = os.stat(STATE_FILE, dir_fd=self.dirfd, follow_symlinks=False)
        except OSError:
            return
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        if seen == self._seen:
            return
        # What the replay drops (a whole kernel, after a fold) must become collectable.
        gc.unfreeze()
        self._garbage = True
        try:
            snap = self.store.snapshot()
            try:
                self.store.load(snap, keep=True)
            finally:
                snap.close()
        except Exception:
            # A state that cannot be used: each child meets it and says so, as in-process.
            self.store.forget()
        self._seen = seen

    def fold(self) -> None:
        """Fold the journal into a new snapshot when it is due: the server holds the kernel
        that the snapshot is (about 60 ms at 1,024 memdevs, when nothing waits). Its kernel
        then follows the new snapshot as it is: nothing is decoded again."""
        if self.children or not self.store.fold_due():
            # A running child would find its state renamed under it and could not keep
            # its reads for the next command (they are renamed with the state only once
            # saved): the fold waits until none runs.
            return
        gc.unfreeze()
        self._garbage = True
        try:
            self.store.fold(readcache.renaming)
        except Exception:
            self.store.forget()  # the next catch-up decodes whatever is committed

    def collect(self) -> None:
        """Free what catching up dropped. The server's collector runs only here, when it is
        idle: a collection walks the whole kernel (tens of milliseconds at 1,024 memdevs)."""
        if self._garbage:
            gc.unfreeze()
            gc.collect()
            self._garbage = False
        # Frozen, the kernel is never walked by a child's collector: the pages it lives in
        # stay shared with the server instead of being copied into every child.
        gc.freeze()

    # -- requests --------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            try:
                self._serve(conn)
            except Exception:  # a request must never end the server
                conn.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        if uid != os.getuid():
            conn.close()  # another user's process: nothing is said, nothing run
            return
        self.last_request = time.monotonic()
        conn.settimeout(REQUEST_TIMEOUT)
        try:
            request, fds = _receive(conn)
        except (OSError, ValueError, EOFError, TypeError):
            _refuse(conn, REFUSED_REQUEST)
            return
        try:
            if isinstance(request, dict) and request.get("query") == "served":
                if request.get("protocol") == PROTOCOL:
                    _tell(conn, self)
                else:
                    _refuse(conn, REFUSED_PROTOCOL)
                return
            why = self._check(request, len(fds))
            if why:
                _refuse(conn, why)
                if why == REFUSED_STALE:
                    self.stopping = True
                return
            try:
                entry = self._entry(request["entry"])
            except Exception:
                _refuse(conn, REFUSED_REQUEST)
                return
            if request.get("entry_file") != self._entry_files.get(request["entry"]):
                _refuse(conn, REFUSED_CODE)  # the caller's tool is another file than ours
                return
        except BaseException:
            _close_all(fds)
            raise
        self.waiting.append(_Job(conn, request, fds, entry, time.monotonic()))

    def _dispatch(self) -> None:
        """Fork the commands waiting, once no child is finishing (one that told its caller
        it ended and now keeps its reads for the next command: the next command is to find
        them), or they waited EPILOGUE_WAIT."""
        if not self.waiting:
            return
        if self.finishing and time.monotonic() - self.waiting[0].since < EPILOGUE_WAIT:
            return
        while self.waiting:  # one at a time: a child closes those still waiting
            self._fork(self.waiting.pop(0))

    def _fork(self, job: _Job) -> None:
        try:
            gc.freeze()  # what catching up made, shared with the child as the rest
            try:
                pid = os.fork()
            except OSError:
                _refuse(job.conn, REFUSED_FORK)
                return
            if pid == 0:  # pragma: no cover - the child; tests see it through its client
                _child(self, job.conn, job.request, job.fds, job.entry)
            self.children[pid] = job.conn
            self.served += 1
        finally:
            _close_all(job.fds)

    def _check(self, request: Any, nfds: int) -> int:
        """Why ``request`` is not served here (0: it is)."""
        if not isinstance(request, dict) or request.get("protocol") != PROTOCOL:
            return REFUSED_PROTOCOL
        if request.get("code") != code_identity():
            return REFUSED_CODE
        opened = request.get("open")
        if (
            not isinstance(request.get("argv"), list)
            or not isinstance(request.get("env"), dict)
            or not isinstance(request.get("umask"), int)
            or not isinstance(request.get("ignored"), list)
            or not isinstance(request.get("entry"), str)
            or not isinstance(opened, list)
            or len(opened) != 3
            or nfds != sum(map(bool, opened)) + 1
        ):
            return REFUSED_REQUEST
        if self._stale():
            return REFUSED_STALE  # the code changed under the server: it is not this code
        return 0

    def _stale(self) -> bool:
        """Whether a source file of the code served changed since it was imported (looked
        at once per TICK at most: about a millisecond each time)."""
        now = time.monotonic()
        if now - self._sources_checked >= TICK:
            self._sources_checked = now
            now_sources = _sources(self._packages)
            self._sources_changed = now_sources is None or now_sources != self._sources
        return self._sources_changed

    def _entry(self, entry: str) -> Callable[[], Any]:
        """The function ``module:name``, imported once in the server with what it may need
        (its module's ``warm_up``)."""
        found = self._entries.get(entry)
        if found is None:
            module_name, _, name = entry.partition(":")
            module = importlib.import_module(module_name)
            found = getattr(module, name)
            self._entry_files[entry] = getattr(module, "__file__", None)
            warm_up = getattr(module, "warm_up", None)
            if callable(warm_up):
                warm_up()
            package = _package_dir(module_name)
            if package and package not in self._packages:
                self._packages.append(package)
                added = _sources([package])
                if self._sources is not None and added is not None:
                    self._sources.update(added)
                else:
                    self._sources = None  # unreadable: the code cannot be known unchanged
            self._entries[entry] = found
        return found

    def _nudged(self) -> None:
        while True:
            try:
                got = self.nudge_r.recv(8)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            pid = int.from_bytes(got[:4], "big")
            if pid in self.children:
                self.finishing.add(pid)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            self.finishing.discard(pid)
            if conn is None:
                continue
            if os.WIFSIGNALED(status):
                with contextlib.suppress(OSError):
                    conn.send(answer(b"S", os.WTERMSIG(status)), socket.MSG_NOSIGNAL)
            elif os.WIFEXITED(status):
                # The child said it itself, unless it exec'd (man) or died before.
                with contextlib.suppress(OSError):
                    conn.send(answer(b"X", os.WEXITSTATUS(status)), socket.MSG_NOSIGNAL)
            conn.close()


class _Job:
    """A command accepted and not yet forked."""

    def __init__(
        self,
        conn: socket.socket,
        request: dict[str, Any],
        fds: list[int],
        entry: Callable[[], Any],
        since: float,
    ) -> None:
        self.conn, self.request, self.fds, self.entry, self.since = (
            conn,
            request,
            fds,
            entry,
            since,
        )


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _pending(listener: socket.socket) -> bool:
    import select

    readable, _, _ = select.select([listener], [], [], 0)
    return bool(readable)


def _refuse(conn: socket.socket, why: int) -> None:
    with contextlib.suppress(OSError):
        conn.send(answer(b"N", why), socket.MSG_NOSIGNAL)
    conn.close()


def _tell(conn: socket.socket, server: ForkServer) -> None:
    """How many commands the server ran (``fake-sysfs serve --status``)."""
    with contextlib.suppress(OSError):
        conn.send(answer(b"C", server.served), socket.MSG_NOSIGNAL)
    conn.close()


def _receive(conn: socket.socket) -> tuple[Any, list[int]]:
    """The request and the descriptors that came with it."""
    data, ancillary, flags, _ = conn.recvmsg(65536, socket.CMSG_SPACE(4 * 4))
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(struct.unpack(f"{usable // 4}i", payload[:usable]))
    try:
        if flags & socket.MSG_CTRUNC or len(data) < 4:
            raise ValueError("truncated")
        length = int.from_bytes(data[:4], "big")
        body = bytearray(data[4:])
        while len(body) < length:
            more = conn.recv(length - len(body))
            if not more:
                raise EOFError
            body += more
        return marshal.loads(bytes(body)), fds
    except BaseException:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise


# -- the child: the command -----------------------------------------------------------------


def _child(
    server: ForkServer,
    conn: socket.socket,
    request: dict[str, Any],
    fds: list[int],
    entry: Callable[[], Any],
) -> None:
    """Become the client's command, run it, and exit with its status. Never returns."""
    code = 1
    try:
        try:
            conn.send(answer(b"P", os.getpid()), socket.MSG_NOSIGNAL)
        except OSError:
            os._exit(0)  # the client gave up: it runs the command itself
        _become(server, conn, request, fds)
        code = _run(entry)
        with contextlib.suppress(OSError):  # unless the tool said it already
            conn.send(answer(b"X", code), socket.MSG_NOSIGNAL)
    except BaseException as e:
        with contextlib.suppress(BaseException):
            os.write(2, f"fake-sysfs: fork server: {type(e).__name__}: {e}\n".encode())
    finally:
        os._exit(code)


def _become(
    server: ForkServer, conn: socket.socket, request: dict[str, Any], fds: list[int]
) -> None:
    """Make this process what the client's interpreter was when it started: its streams,
    directory, umask, environment, arguments and signal dispositions. Nothing of the
    server's stays open."""
    signal.set_wakeup_fd(-1)
    gc.enable()  # as in any process; what the server held is frozen
    for signum in (signal.SIGCHLD, *_STOPPING, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(signum, signal.SIG_DFL)
    # As the interpreter sets them up at start.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    for signum in request["ignored"]:
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(signum, signal.SIG_IGN)
    if server.listener is not None:
        server.listener.close()
    for other in server.children.values():
        other.close()
    for job in server.waiting:
        if job.conn is not conn:
            job.conn.close()
            _close_all(job.fds)
    server.nudge_r.close()
    for fd in (server.lockfd, server.dirfd, server.wakeup_r, server.wakeup_w):
        with contextlib.suppress(OSError):
            os.close(fd)
    opened = iter(fds)
    for target, is_open in enumerate(request["open"]):
        if is_open:
            fd = next(opened)
            os.dup2(fd, target)
        else:
            with contextlib.suppress(OSError):
                os.close(target)
    cwd = next(opened)
    os.fchdir(cwd)
    for fd in fds:
        if fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)
    os.umask(request["umask"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.argv = list(request["argv"])
    sys.stdin, sys.stdout, sys.stderr = (
        _stream(0, "r", request["open"][0]),
        _stream(1, "w", request["open"][1]),
        _stream(2, "w", request["open"][2]),
    )
    import atexit

    atexit._clear()
    from fake_sysfs import store
    from fake_sysfs.frontends import forkclient

    forkclient.inside_server = True  # this process's tool must not ask a server again
    store.inherit(server.store)
    forkclient.set_release(_releaser(conn, server.nudge_w))
    # The connection stays open, close-on-exec: the client's end sees EOF only once this
    # process and the server have both let go of it.
    del conn


def _releaser(conn: socket.socket, nudge: socket.socket) -> Callable[[int], None]:
    """What the tool calls once its command is over for its caller (output written, state
    durable: forkclient.release_caller): the caller gets the status and its streams back
    now, and the server may fork the next command's child once this one exits."""

    def release(status: int) -> None:
        _flush()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            if fd != null:
                os.dup2(null, fd)
        if null > 2:  # (a stream the caller had closed: /dev/null took its place)
            os.close(null)
        with contextlib.suppress(OSError):
            conn.send(answer(b"X", status & 0xFF), socket.MSG_NOSIGNAL)
        conn.close()
        with contextlib.suppress(OSError):
            nudge.send(os.getpid().to_bytes(4, "big"), socket.MSG_NOSIGNAL)
        nudge.close()

    return release


def _stream(fd: int, mode: str, is_open: bool) -> Any:
    """A standard stream as the interpreter makes it at start (None for a closed one)."""
    if not is_open:
        return None
    import io

    if mode == "r":
        return io.TextIOWrapper(
            io.BufferedReader(io.FileIO(fd, "r", closefd=False)),
            encoding="utf-8",
            errors="surrogateescape" if fd == 0 else "strict",
        )
    tty = os.isatty(fd)
    return io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(fd, "w", closefd=False)),
        encoding="utf-8",
        errors="backslashreplace" if fd == 2 else "surrogateescape",
        line_buffering=tty or fd == 2,
    )


def _run(entry: Callable[[], Any]) -> int:
    """Run the tool's main function as the interpreter runs a script: its exit status."""
    import atexit

    try:
        try:
            entry()
            code = 0
        except SystemExit as e:
            code = _exit_status(e.code)
        except KeyboardInterrupt:
            # As the interpreter: an uncaught ^C is death by SIGINT.
            _flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
            code = 130
        except BaseException:
            import traceback

            traceback.print_exc()
            code = 1
        atexit._run_exitfuncs()
    finally:
        if not _flush() and code == 0:
            code = 120  # as the interpreter, when stdout cannot be flushed at exit
    return code


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{code}\n")
    return 1


def _flush() -> bool:
    done = True
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            try:
                stream.flush()
            except (OSError, ValueError):
                done = False
    return done


# -- for the command line --------------------------------------------------------------------


def server_pid(directory: str) -> int | None:
    """The pid of the server serving ``directory``, None when none does."""
    try:
        dirfd = open_dir(directory, False)
    except FakeSysfsError:
        return None
    try:
        try:
            fd = os.open(SERVE_LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                return int(text) if text.isdigit() else None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it: no server
        finally:
            os.close(fd)
    finally:
        os.close(dirfd)


def served(directory: str) -> int | None:
    """How many commands the server of ``directory`` ran; None when none answers."""
    try:
        dirfd = open_dir(directory, False)
    except FakeSysfsError:
        return None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(REQUEST_TIMEOUT)
            conn.connect(f"/proc/self/fd/{dirfd}/{SOCKET}")
            body = marshal.dumps({"protocol": PROTOCOL, "query": "served"})
            conn.sendall(len(body).to_bytes(4, "big") + body)
            got = b""
            while len(got) < 5:
                more = conn.recv(5 - len(got))
                if not more:
                    return None
                got += more
    except OSError:
        return None
    finally:
        os.close(dirfd)
    return int.from_bytes(got[1:], "big") if got[:1] == b"C" else None


def stop(directory: str, timeout: float = 10.0) -> int | None:
    """Stop the server of ``directory`` (SIGTERM) and wait until it is gone; its pid, None
    when none served it."""
    pid = server_pid(directory)
    if pid is None:
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while server_pid(directory) == pid and time.monotonic() < deadline:
        time.sleep(0.01)
    if server_pid(directory) == pid:
        raise FakeSysfsError(f"the fork server of {directory} (pid {pid}) did not stop")
    return pid


def preflight(store: StateStore) -> None:
    """Fail in the caller, before any fork, on what would stop the server."""
    pid = server_pid(str(store.dir))
    if pid is not None:
        raise FakeSysfsError(f"a fork server already serves {store.dir} (pid {pid})")
    store.snapshot().close()  # the state directory is usable (first use: booted)
    dirfd = open_dir(str(store.dir), False)
    try:
        os.close(open_lock(dirfd, SERVE_LOCK, str(store.dir / SERVE_LOCK)))
        try:
            st = os.stat(SOCKET, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise StateError(f"{store.dir / SOCKET} is a directory; remove it")
    finally:
        os.close(dirfd)


def spawn(store: StateStore, idle: float) -> int:
    """Start a detached server for ``store``; its pid once it answers."""
    from fake_sysfs.frontends import daemon

    preflight(store)

    def run(ready: Callable[[], None]) -> None:
        ForkServer(store, idle).run(ready)

    return daemon.spawn(run, f"serve {store.dir}", daemon.READY_TIMEOUT)
