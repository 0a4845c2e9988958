"""Memdev mailbox commands, as libcxl builds and sends them through ``/dev/cxl/memN``.

A command is created by querying the kernel's command table twice (the count, then the
entries), finding the wanted id and allocating its payloads at the queried sizes; it is sent
with CXL_MEM_SEND_COMMAND. Each ioctl goes through the Sysfs seam's ``Mailbox``: the real
ioctls on a real node, the emulated device in the emulation.

Before anything is opened the node is checked: its ``stat`` (taken when the memdev was
enumerated) must show a character device whose major:minor is also the memdev's ``dev``
attribute. A regular file, a FIFO or a planted node of another device is refused without
being opened. Failures print libcxl's lines: the open or validation failure, then the two
query lines; a failed send prints nothing (the callers say what they need to).
"""

from __future__ import annotations

import errno
import os

from pycxl.sysfs.base import NodeInvalid, NodeOpenFailed

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.sysfs.base import Mailbox

#: Command ids (include/uapi/linux/cxl_mem.h).
ID_IDENTIFY = 1
ID_RAW = 2
ID_GET_SUPPORTED_LOGS = 3
ID_GET_FW_INFO = 4
ID_GET_PARTITION_INFO = 5
ID_GET_LSA = 6
ID_GET_HEALTH_INFO = 7
ID_GET_LOG = 8
ID_SET_PARTITION_INFO = 9
ID_SET_LSA = 10
ID_GET_ALERT_CONFIG = 11
ID_SET_ALERT_CONFIG = 12

_S_IFMT = 0o170000
_S_IFCHR = 0o020000


def _signed(size: int) -> int:
    """ndctl's copy of the uapi declares sizes ``__s32``: ``~0`` (variable) is -1."""
    return size - (1 << 32) if size & 0x8000_0000 else size


class Cmd:
    """``struct cxl_cmd``: one command for one memdev."""

    __slots__ = (
        "flags",
        "id",
        "input",
        "mailbox",
        "memdev",
        "output",
        "size_in",
        "size_out",
        "status",
    )

    def __init__(
        self, memdev: Memdev, mailbox: Mailbox, cmd_id: int, size_in: int, size_out: int
    ) -> None:
        self.memdev = memdev
        #: The node the command was created on (its checks before opening passed).
        self.mailbox = mailbox
        self.id = cmd_id
        #: Queried sizes; -1: variable, set with set_input_payload / set_output_payload.
        self.size_in = size_in
        self.size_out = size_out
        self.input = bytearray(size_in if size_in > 0 else 0)
        self.output = bytearray(size_out if size_out > 0 else 0)
        #: 1 until submitted; then the device's return code (0 after a failed ioctl).
        self.status = 1
        self.flags = 0

    def set_input_payload(self, size: int) -> int:
        """``cxl_cmd_set_input_payload`` with a buffer of its own: EINVAL for a size the
        memdev cannot carry (any size when ``payload_max`` is unknown)."""
        if size > self.memdev.payload_max or size < 0:
            return -errno.EINVAL
        self.input = bytearray(size)
        self.size_in = size
        return 0

    def set_output_payload(self, size: int) -> int:
        if size > self.memdev.payload_max or size < 0:
            return -errno.EINVAL
        self.output = bytearray(size)
        self.size_out = size
        return 0

    def submit(self) -> int:
        """``cxl_cmd_submit``: 0 once the device answered (``status`` holds its return
        code), else -errno."""
        try:
            retval, out = self.mailbox.send(
                self.id, 0, bytes(self.input), len(self.output), self.flags
            )
        except (NodeOpenFailed, NodeInvalid) as e:
            _node_failure(self.memdev, e)
            self.status = 0
            return -(e.errno or errno.EIO)
        except OSError as e:
            self.status = 0
            return -(e.errno or errno.EIO)
        self.output[: len(out)] = out
        self.status = retval
        return 0


def _mailbox(memdev: Memdev) -> Mailbox | None:
    """The node's Mailbox, or None (after libcxl's validation line) when the node seen at
    enumeration cannot be the memdev's: it is then never opened."""
    path = f"/dev/cxl/{memdev.devname}"
    expected = (memdev.major, memdev.minor)
    if not memdev.node_is_char or memdev.dev_number() != expected:
        memdev.ctx.log.err("do_cmd", f"failed to validate {path} as a CXL memdev node\n")
        return None
    return memdev.ctx.sysfs.mailbox(path, expected)


def _node_failure(memdev: Memdev, e: OSError) -> None:
    path = f"/dev/cxl/{memdev.devname}"
    if isinstance(e, NodeOpenFailed):
        err = e.errno or errno.EIO
        memdev.ctx.log.err("do_cmd", f"failed to open {path}: {os.strerror(err)}\n")
    else:
        memdev.ctx.log.err("do_cmd", f"failed to validate {path} as a CXL memdev node\n")


def _query(
    memdev: Memdev, mailbox: Mailbox | None, n: int
) -> tuple[int, list[tuple[int, int, int, int]]] | int:
    if mailbox is None:
        return errno.ENXIO
    try:
        return mailbox.query(n)
    except (NodeOpenFailed, NodeInvalid) as e:
        _node_failure(memdev, e)
        return e.errno or errno.EIO
    except OSError as e:
        return e.errno or errno.EIO


def new_generic(memdev: Memdev, cmd_id: int) -> Cmd | None:
    """``cxl_cmd_new_generic``: query the table (count, then entries) and build ``cmd_id``.
    None after libcxl's two query lines when a query fails, silently when the kernel does
    not list the id."""
    mailbox = _mailbox(memdev)
    first = _query(memdev, mailbox, 0)
    answer = first if isinstance(first, int) else _query(memdev, mailbox, first[0])
    if isinstance(answer, int):
        log = memdev.ctx.log
        text = os.strerror(answer)
        log.err("alloc_do_query", f"{memdev.devname}: query commands failed: {text}\n")
        log.err("cxl_cmd_new_generic", f"{memdev.devname}: query returned: {text}\n")
        return None
    infos = answer[1]
    assert mailbox is not None
    # The kernel lists ids in order, so the entry is usually at its id; else the first
    # one with the id counts. Flags are only logged upstream: ENABLED and EXCLUSIVE are
    # never tested.
    found: tuple[int, int, int, int] | None = None
    if cmd_id < len(infos) and infos[cmd_id][0] == cmd_id:
        found = infos[cmd_id]
    else:
        found = next((info for info in infos if info[0] == cmd_id), None)
    if found is None:
        return None
    return Cmd(memdev, mailbox, cmd_id, _signed(found[2]), _signed(found[3]))


def ok(cmd: Cmd | None) -> bool:
    """Submitted and answered with return code 0: what ``cxl list`` needs to show a key."""
    return cmd is not None and cmd.submit() >= 0 and cmd.status == 0
