"""A tool's side of the fork server (forkserver.py): hand this process's command to the
server of its state directory, relay signals to the child that runs it, and end as it ended.

Kept to what the interpreter has already loaded (``_socket`` rather than ``socket``, whose
import costs more than a served command saves on a small platform), so that asking costs a
process without a server one stat().
"""

from __future__ import annotations

# The C module: ``signal`` imports enum, a quarter of a served command's start-up.
import _signal as signal  # type: ignore[import-not-found]
import _socket
import marshal
import os
import sys

from fake_sysfs.statedir import check_dir, default_state_dir

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: The server's socket in the state directory, its protocol, and its answers' size
#: (forkserver.py says what they mean).
SOCKET = "serve.sock"
PROTOCOL = 1
_ANSWER = 5
#: How long a client waits for its command to begin before running it itself (a server
#: stopped, or busy loading a new state).
START_TIMEOUT = 10.0
#: Signals passed on to the child while it runs (^C, kill, hang-up, ^\).
_RELAYED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def code_identity() -> str:
    """What a client must share with the server to be served: the interpreter, and where
    fake_sysfs is installed."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return f"{sys.executable}\0{here}"


#: True in a fork server's child: its tool runs there and must not ask a server again.
inside_server = False
#: In a fork server's child: how to tell the caller its command ended (release_caller).
_release: Callable[[int], None] | None = None


def set_release(release: Callable[[int], None]) -> None:
    global _release
    _release = release


def release_caller(status: int) -> None:
    """The command is over for its caller: its output is written and what it changed is
    durable. In a fork server's child, the caller gets ``status`` now and its streams
    back, and what the process does from here on (keeping its reads for the next command)
    costs it nothing; elsewhere, nothing happens. Called once; nothing the process does
    afterwards may change the command's outcome."""
    global _release
    release, _release = _release, None
    if release is not None:
        release(status)


def run_served(entry: str) -> int | None:
    """Run this process's command (``sys.argv``, as the function ``entry``, ``module:name``,
    would) in the fork server of the state directory: its exit status. None when no server
    serves it (or this is the server's child), and the caller runs the command itself."""
    if inside_server:
        return None
    path = default_state_dir()
    try:
        dirfd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            os.stat(SOCKET, dir_fd=dirfd, follow_symlinks=False)
            check_dir(dirfd, path)  # a directory others can plant a socket in is not asked
        except Exception:  # no socket, or an unsafe directory: the command says which
            return None
        conn = _connect(dirfd)
    finally:
        os.close(dirfd)
    if conn is None:
        return None
    try:
        # A signal that comes while the server is asked waits until it is known whether
        # the command began: then it is passed on to it, or it meets the command run here.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _RELAYED)
        try:
            pid = _start(conn, entry)
            if pid is not None:
                _relay_to(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        return None if pid is None else _follow(conn)
    finally:
        conn.close()


def _connect(dirfd: int) -> _socket.socket | None:
    """A connection to the server, if one of this user's listens."""
    conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        conn.connect(f"/proc/self/fd/{dirfd}/{SOCKET}")
        creds = conn.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        if int.from_bytes(creds[4:8], sys.byteorder) != os.getuid():
            raise PermissionError("another user's server")
    except OSError:
        conn.close()
        return None
    return conn


def request(entry: str) -> tuple[bytes, list[int]]:
    """The request for this process's command, and the descriptors that go with it (the
    open standard ones, then the working directory's): forkserver._become says how the
    child uses them."""
    opened = []
    fds = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            opened.append(False)
            continue
        opened.append(True)
        fds.append(fd)
    fds.append(os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC))
    umask = os.umask(0o022)
    os.umask(umask)
    ignored = [
        int(signum)
        for signum in (*_RELAYED, signal.SIGTSTP)
        if signal.getsignal(signum) == signal.SIG_IGN
    ]
    body = marshal.dumps(
        {
            "protocol": PROTOCOL,
            "code": code_identity(),
            "entry": entry,
            # Where this process imported the entry's module from: the server must run
            # that same file, not one another path order finds first.
            "entry_file": getattr(sys.modules.get(entry.partition(":")[0]), "__file__", None),
            "argv": list(sys.argv),
            "env": dict(os.environ),
            "umask": umask,
            "ignored": ignored,
            "open": opened,
        }
    )
    return len(body).to_bytes(4, "big") + body, fds


def _start(conn: _socket.socket, entry: str) -> int | None:
    """Send the request; the child's pid once the command began, None when the server
    will not run it (then nothing runs there: the caller runs it)."""
    try:
        data, fds = request(entry)
    except OSError:
        return None
    try:
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        sent = conn.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        if sent < len(data):
            conn.sendall(data[sent:])
    except OSError:
        return None
    finally:
        os.close(fds[-1])
    conn.settimeout(START_TIMEOUT)
    try:
        first = _read_answer(conn)
    except TimeoutError:
        # Given up: shut our end first, so that a child forked from now on cannot say
        # it began (its first act fails and it runs nothing); one that already said so runs.
        try:
            conn.shutdown(_socket.SHUT_RD)
            conn.setblocking(False)
            first = _read_answer(conn)
        except OSError:
            return None
    except OSError:
        return None
    finally:
        conn.settimeout(None)
    if first is None or first[0] != b"P"[0]:
        return None  # refused (N), or the server died before forking
    return int.from_bytes(first[1:], "big")


def _read_answer(conn: _socket.socket) -> bytes | None:
    """One answer, or None at EOF."""
    got = b""
    while len(got) < _ANSWER:
        more = conn.recv(_ANSWER - len(got))
        if not more:
            return None
        got += more
    return got


def _relay_to(pid: int) -> None:
    """Pass the signals a user sends to this process on to the child ``pid``."""

    def relay(signum: int, frame: object) -> None:
        del frame
        _kill(pid, signum)

    def suspend(signum: int, frame: object) -> None:
        # ^Z: the child is in the server's session, where SIGTSTP is ignored: stop it,
        # stop ourselves, and wake it with us.
        del signum, frame
        _kill(pid, signal.SIGSTOP)
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)
        signal.signal(signal.SIGTSTP, suspend)
        _kill(pid, signal.SIGCONT)

    for signum in _RELAYED:
        if signal.getsignal(signum) != signal.SIG_IGN:
            signal.signal(signum, relay)
    if signal.getsignal(signal.SIGTSTP) != signal.SIG_IGN:
        signal.signal(signal.SIGTSTP, suspend)


def _follow(conn: _socket.socket) -> int:
    """Wait until the command ends: its exit status. Killed by a signal, it makes this
    process die of the same one, as the command would have."""
    try:
        last = _read_answer(conn)
    except OSError:
        last = None
    if last is None:
        name = os.path.basename(sys.argv[0]) if sys.argv else "cxl"
        message = f"{name}: the command ended without a status (its fork server stopped)\n"
        try:  # noqa: SIM105 - contextlib is an import this start-up path does without
            os.write(2, message.encode(errors="replace"))
        except OSError:
            pass
        return 1
    number = int.from_bytes(last[1:], "big")
    if last[0] == b"S"[0]:
        try:
            signal.signal(number, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, (number,))
            os.kill(os.getpid(), number)
        except (OSError, ValueError):
            pass
        return 128 + number
    return number & 0xFF


def _kill(pid: int, signum: int) -> bool:
    """Signal ``pid``; False when it is gone."""
    try:
        os.kill(pid, signum)
    except OSError:
        return False
    return True
