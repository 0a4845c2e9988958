"""Get / Set LSA (0x4102, 0x4103): the label storage area through the mailbox."""

from __future__ import annotations

import errno
import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.lsa import in_bounds, lsa_read, lsa_write
from fake_sysfs.kernel.mailbox.commands import INVALID_INPUT, SUCCESS
from fake_sysfs.kernel.mailbox.reply import DeviceErrno, Reply

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel


def _refuse(mem: Memdev) -> Reply:
    # The mock fails the request itself (-EINVAL); QEMU answers "invalid input".
    if mem.device.model == "mock":
        raise DeviceErrno(errno.EINVAL)
    return INVALID_INPUT, b""


def get_lsa(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    offset, length = struct.unpack_from("<II", payload)
    if not in_bounds(mem, offset, length):
        return _refuse(mem)
    return SUCCESS, lsa_read(k, mem, offset, length)


def set_lsa(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    (offset,) = struct.unpack_from("<I", payload)
    data = payload[8:]
    if not in_bounds(mem, offset, len(data)):
        return _refuse(mem)
    lsa_write(k, mem, offset, data)
    return SUCCESS, b""
