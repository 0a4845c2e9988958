"""A mailbox command that changes the device, and a streamed write to a binary attribute,
each as one journaled operation of the state store (fake_sysfs.journal.OPERATIONS).

The command is a deterministic function of the kernel state, the memdev, the command's
fields and payload (and the log's clock), so the journal replays it. A command that fails
(ioctl errno or a non-zero return code) changes nothing and commits nothing.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, Protocol

from fake_sysfs.journal import Refused
from fake_sysfs.kernel.mailbox.ioctl import Reply, memdev_named, send

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


class Transactional(Protocol):
    """What this needs of fake_sysfs.store.StateStore; a frontend passes itself
    (InProcess.run_operation), so that it answers for the state the operation leaves."""

    def run_operation(self, name: str, body: dict[str, Any]) -> tuple[Any, Kernel]: ...


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
    """Send one command to ``memdev``'s device as one journaled operation of ``store``: the
    reply, and the kernel as committed (None when nothing was committed)."""
    body = {
        "memdev": memdev,
        "cmd_id": cmd_id,
        "flags": flags,
        "raw_opcode": raw_opcode,
        "raw_rsvd": raw_rsvd,
        "payload": payload.hex(),
        "out_size": out_size,
    }
    try:
        reply, kernel = store.run_operation("mailbox", body)
    except Refused as e:
        return e.result, None
    return reply, kernel


def mailbox_operation(kernel: Kernel, body: dict[str, Any]) -> Reply:
    """The journal's "mailbox" operation (see ``mailbox``)."""
    mem = memdev_named(kernel, str(body["memdev"]))
    if mem is None:
        raise Refused(Reply(errno.ENXIO))
    reply = send(
        kernel,
        mem,
        int(body["cmd_id"]),
        int(body["flags"]),
        int(body["raw_opcode"]),
        int(body["raw_rsvd"]),
        bytes.fromhex(str(body["payload"])),
        int(body["out_size"]),
    )
    if reply.errno or reply.retval:
        raise Refused(reply)
    return reply


def write_stream(store: Transactional, path: str, data: bytes) -> Kernel:
    """Write ``data`` to the binary attribute ``path`` as one open file takes it: one
    page-sized store after another (kernfs splits a write so), all as one journaled
    operation. The first refused store raises its KernfsError, and nothing is kept."""
    try:
        _, kernel = store.run_operation("stream", {"path": path, "data": data.hex()})
    except Refused as e:
        raise e.result from None
    return kernel


def stream_operation(kernel: Kernel, body: dict[str, Any]) -> None:
    """The journal's "stream" operation (see ``write_stream``)."""
    from fake_sysfs.errors import KernfsError
    from fake_sysfs.kernfs.view import PAGE_SIZE, View

    path, data = str(body["path"]), bytes.fromhex(str(body["data"]))
    view = View(kernel)
    try:
        for offset in range(0, len(data), PAGE_SIZE):
            view.write(path, data[offset : offset + PAGE_SIZE])
    except KernfsError as e:
        raise Refused(e) from None
