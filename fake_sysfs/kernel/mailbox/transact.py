"""A mailbox command that changes the device, as one state transaction.

The command is a deterministic function of the kernel state, the memdev, the command's
fields and payload (no clock, no randomness), so a journal can replay it. A command that
fails (ioctl errno or a non-zero return code) changes nothing, and its transaction is
abandoned rather than committed.
"""

from __future__ import annotations

import contextlib
import errno
from typing import TYPE_CHECKING, Protocol

from fake_sysfs.kernel.mailbox.ioctl import Reply, memdev_named, send

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


class Transactional(Protocol):
    """What this needs of fake_sysfs.store.StateStore."""

    def transaction(self) -> contextlib.AbstractContextManager[Kernel]: ...


class _Abandon(Exception):
    def __init__(self, reply: Reply) -> None:
        super().__init__()
        self.reply = reply


def mailbox(
    store: Transactional,
    memdev: str,
    cmd_id: int,
    flags: int,
    raw_opcode: int,
    raw_rsvd: int,
    payload: bytes,
    out_size: int,
) -> tuple[Reply, Kernel | None]:
    """Send one command to ``memdev``'s device in a transaction of ``store``: the reply,
    and the kernel as committed (None when nothing was committed)."""
    try:
        with store.transaction() as kernel:
            mem = memdev_named(kernel, memdev)
            if mem is None:
                raise _Abandon(Reply(errno.ENXIO))
            reply = send(kernel, mem, cmd_id, flags, raw_opcode, raw_rsvd, payload, out_size)
            if reply.errno or reply.retval:
                raise _Abandon(reply)
    except _Abandon as e:
        return e.reply, None
    return reply, kernel


def write_stream(store: Transactional, path: str, data: bytes) -> Kernel:
    """Write ``data`` to the binary attribute ``path`` as one open file takes it: one
    page-sized store after another (kernfs splits a write so), all in one transaction.
    The first refused store raises its KernfsError, and nothing is kept."""
    from fake_sysfs.kernfs.view import PAGE_SIZE, View

    with store.transaction() as kernel:
        view = View(kernel)
        for offset in range(0, len(data), PAGE_SIZE):
            view.write(path, data[offset : offset + PAGE_SIZE])
    return kernel
