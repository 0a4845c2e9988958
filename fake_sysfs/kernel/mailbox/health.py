"""Get Health Info (0x4200) and Get / Set Alert Configuration (0x4201, 0x4202)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from fake_sysfs.kernel.mailbox.commands import INVALID_INPUT, SUCCESS, UNSUPPORTED
from fake_sysfs.kernel.mailbox.reply import Reply

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel


def get_health_info(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    h = mem.device.health
    if h is None:
        return UNSUPPORTED, b""
    return SUCCESS, struct.pack(
        "<BBBBHIII",
        h.status,
        h.media,
        h.ext_status,
        h.life_used,
        h.temperature & 0xFFFF,
        h.dirty_shutdowns,
        h.volatile_errors,
        h.pmem_errors,
    )


def get_alert_config(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    a = mem.device.alert
    if a is None:
        return UNSUPPORTED, b""
    return SUCCESS, struct.pack(
        "<BBBB6H",
        a.valid,
        a.programmable,
        a.life_used_crit,
        a.life_used_warn,
        a.over_temp_crit & 0xFFFF,
        a.under_temp_crit & 0xFFFF,
        a.over_temp_warn & 0xFFFF,
        a.under_temp_warn & 0xFFFF,
        a.volatile_warn,
        a.pmem_warn,
    )


def _s16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


#: Alert bits of Set Alert Configuration's valid mask.
LIFE_USED, OVER_TEMP, UNDER_TEMP, VOLATILE, PMEM = 1, 2, 4, 8, 16


def set_alert_config(k: Kernel, mem: Memdev, payload: bytes) -> Reply:
    """QEMU's rules: for each alert in the valid mask, the warning threshold must lie on
    the safe side of the critical one; it is then stored and the alert marked
    programmable (byte 1). Nothing is stored when any check fails."""
    a = mem.device.alert
    if a is None:
        return UNSUPPORTED, b""
    valid, _enable, life, _rsvd, over, under, vol, pmem = struct.unpack("<BBBBHHHH", payload)
    if valid & LIFE_USED and life >= a.life_used_crit:
        return INVALID_INPUT, b""
    if valid & OVER_TEMP and _s16(over) >= _s16(a.over_temp_crit):
        return INVALID_INPUT, b""
    if valid & UNDER_TEMP and _s16(under) <= _s16(a.under_temp_crit):
        return INVALID_INPUT, b""
    if valid & LIFE_USED:
        a.life_used_warn = life
    if valid & OVER_TEMP:
        a.over_temp_warn = _s16(over)
    if valid & UNDER_TEMP:
        a.under_temp_warn = _s16(under)
    if valid & VOLATILE:
        a.volatile_warn = vol
    if valid & PMEM:
        a.pmem_warn = pmem
    a.programmable |= valid & 0x1F
    return SUCCESS, b""
