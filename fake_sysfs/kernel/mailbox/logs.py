"""Get Supported Logs (0x0400) and Get Log (0x0401): the command effects log (CEL), which
the kernel reads at probe to learn which commands the device supports."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.mailbox.commands import INVALID_INPUT, SUCCESS
from fake_sysfs.kernel.mailbox.reply import Reply
from fake_sysfs.kernel.uuids import to_bytes

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

CEL_UUID = to_bytes("0da9c0b5-bf41-4b78-8f79-96b1623b3f17")


def _cel(mem: Memdev) -> bytes:
    # One 4-byte entry per command: opcode, then its effects (none are declared).
    return b"".join(struct.pack("<HH", op, 0) for op in mem.device.cel)


def get_supported_logs(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    return SUCCESS, struct.pack("<H6x", 1) + CEL_UUID + struct.pack("<I", len(_cel(mem)))


def get_log(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    log, offset, length = struct.unpack_from("<16sII", payload)
    cel = _cel(mem)
    if log != CEL_UUID or offset + length > len(cel):
        return INVALID_INPUT, b""
    return SUCCESS, cel[offset : offset + length]
