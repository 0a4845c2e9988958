"""Get FW Info (0x0200): the firmware slots."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.mailbox.commands import SUCCESS
from fake_sysfs.kernel.mailbox.reply import Reply

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel


def get_fw_info(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    fw = mem.device.firmware
    slot_info = (fw.active & 0x7) | ((fw.staged & 0x7) << 3)
    head = struct.pack("<BBB", len(fw.slots), slot_info, 1 if fw.online_activate else 0)
    out = head.ljust(0x10, b"\0")
    for i in range(4):
        rev = fw.slots[i] if i < len(fw.slots) else ""
        out += rev.encode("ascii", "replace")[:16].ljust(16, b"\0")
    return SUCCESS, out
