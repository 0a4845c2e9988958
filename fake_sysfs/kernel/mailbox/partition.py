"""Get / Set Partition Info (0x4100, 0x4101): the split of partitionable capacity.

The active split is what the kernel sized ``ram`` and ``pmem`` from at probe; Set Partition
only plans the next one, which the device applies at its next cold reset.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.mailbox.commands import INVALID_INPUT, SUCCESS
from fake_sysfs.kernel.mailbox.identify import capacities
from fake_sysfs.kernel.mailbox.reply import CAPACITY_UNIT, Reply

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel


def get_partition_info(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    dev = mem.device
    return SUCCESS, struct.pack(
        "<QQQQ",
        mem.ram_size // CAPACITY_UNIT,
        mem.pmem_size // CAPACITY_UNIT,
        dev.next_volatile // CAPACITY_UNIT,
        dev.next_persistent // CAPACITY_UNIT,
    )


def set_partition_info(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    """Plan ``volatile`` units of the partitionable capacity as volatile (CXL 3.1
    8.2.9.9.2.2): a multiple of the alignment, at most the partitionable capacity."""
    (volatile,) = struct.unpack_from("<Q", payload)
    dev = mem.device
    total, vol_only, pers_only = capacities(mem)
    partitionable = total - vol_only - pers_only
    if not dev.partition_align or volatile % dev.partition_align or volatile > partitionable:
        return INVALID_INPUT, b""
    dev.next_volatile = (vol_only + volatile) * CAPACITY_UNIT
    dev.next_persistent = (pers_only + partitionable - volatile) * CAPACITY_UNIT
    return SUCCESS, b""
