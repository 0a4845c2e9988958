"""Identify Memory Device (0x4000): capacities, LSA size, firmware revision."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.mailbox.commands import SUCCESS
from fake_sysfs.kernel.mailbox.reply import CAPACITY_UNIT, Reply

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: Event log sizes (info, warning, failure, fatal), in records.
_EVENT_LOG_SIZES = (32, 32, 32, 32)
#: Poison list maximum records (3 bytes) and inject limit.
_POISON_MAX = 256
_INJECT_LIMIT = 8


def capacities(mem: Memdev) -> tuple[int, int, int]:
    """(total, volatile only, persistent only), in 256 MiB units."""
    total = (mem.ram_size + mem.pmem_size) // CAPACITY_UNIT
    if mem.device.partition_align:
        return total, 0, 0  # everything can be moved between the two partitions
    return total, mem.ram_size // CAPACITY_UNIT, mem.pmem_size // CAPACITY_UNIT


def identify(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    total, vol, pers = capacities(mem)
    fw = mem.firmware_version.encode("ascii", "replace")[:16].ljust(16, b"\0")
    out = (
        fw
        + struct.pack("<QQQQ", total, vol, pers, mem.device.partition_align)
        + struct.pack("<4H", *_EVENT_LOG_SIZES)
        + struct.pack("<I", mem.lsa_size)
        + _POISON_MAX.to_bytes(3, "little")
        + struct.pack("<HBB", _INJECT_LIMIT, 0, 0)
    )
    assert len(out) == 0x43
    return SUCCESS, out
