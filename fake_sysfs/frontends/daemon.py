"""Detached servers (the FUSE mount, the fork server): started by a command that returns
once the server answers, and living on in their own session.

A server's life: its own session (a terminal's ^C is not for it), no directory of the
caller's kept busy, stdin and stdout released at once (a caller capturing them must see
EOF), stderr kept until the server is ready so that a failure is explained, then released
too. (Other inherited descriptors stay: Python objects may own them.)
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time

from fake_sysfs.errors import FakeSysfsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: How long ``spawn`` waits for a server to answer before giving up.
READY_TIMEOUT = 30.0


def spawn(serve: Callable[[Callable[[], None]], None], what: str, timeout: float) -> int:
    """Run ``serve(ready)`` in a detached daemon; return its pid once it called ``ready``.
    A daemon that dies first, or is not ready within ``timeout`` seconds, is reaped and
    the failure raised (its own explanation is on the caller's stderr)."""
    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the daemon; tests see it through what it serves
        os.close(ready_r)
        _daemon(serve, what, ready_w)
    os.close(ready_w)
    try:
        if not _wait_ready(ready_r, timeout):
            reap(pid, kill=True)
            raise FakeSysfsError(f"cannot {what}: the daemon failed")
    finally:
        os.close(ready_r)
    return pid


def _daemon(serve: Callable[[Callable[[], None]], None], what: str, ready: int) -> None:
    code = 1
    try:
        os.setsid()
        os.chdir("/")
        to_devnull(0, 1)
        serve(lambda: _signal_ready(ready))
        code = 0
    except FakeSysfsError as e:
        with contextlib.suppress(OSError):
            os.write(2, f"fake-sysfs: {e}\n".encode())
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.write(2, f"fake-sysfs: {what}: daemon: {type(e).__name__}: {e}\n".encode())
    finally:
        os._exit(code)


def to_devnull(*fds: int) -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        os.dup2(null, fd)
    os.close(null)


def _signal_ready(ready: int) -> None:
    to_devnull(2)
    with contextlib.suppress(OSError):
        os.write(ready, b"ready")
        os.close(ready)


def _wait_ready(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        readable, _, _ = select.select([fd], [], [], left)
        if readable:
            return os.read(fd, 16) == b"ready"  # EOF: the daemon died before


def reap(pid: int, kill: bool = False, timeout: float = 5.0) -> None:
    """Wait for our child ``pid`` (SIGTERM first if ``kill``; SIGKILL if it lingers)."""
    if kill:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
