"""CXL_MEM_QUERY_COMMANDS and CXL_MEM_SEND_COMMAND on ``/dev/cxl/memN``, as the kernel
checks them (drivers/cxl/core/mbox.c), in front of the emulated device.

Callers pass the fields of ``struct cxl_send_command`` and get back the ioctl's errno (0:
the command reached the device), the device's return code and the output bytes. These
functions never change the state unless the command itself does (``changes_state``); the
caller runs those in a state transaction (``transact.mailbox``).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, NamedTuple

from fake_sysfs.kernel import core
from fake_sysfs.kernel.mailbox import firmware, health, identify, labels, logs, partition
from fake_sysfs.kernel.mailbox.commands import (
    EXCLUSIVE_WHILE_NVDIMM,
    FORCE_ENABLED,
    ID_RAW,
    ID_SET_PARTITION_INFO,
    TABLE,
    UNSUPPORTED,
    VARIABLE,
    Command,
)
from fake_sysfs.kernel.mailbox.reply import DeviceErrno, Handler

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: Flag bits of cxl_command_info.
ENABLED = 1 << 0
EXCLUSIVE = 1 << 1

#: The device's handler for each opcode it implements.
HANDLERS: dict[int, Handler] = {
    0x4000: identify.identify,
    0x4100: partition.get_partition_info,
    0x4101: partition.set_partition_info,
    0x4102: labels.get_lsa,
    0x4103: labels.set_lsa,
    0x4200: health.get_health_info,
    0x4201: health.get_alert_config,
    0x4202: health.set_alert_config,
    0x0200: firmware.get_fw_info,
    0x0400: logs.get_supported_logs,
    0x0401: logs.get_log,
}

#: Opcodes whose handler changes the device state.
CHANGES_STATE = frozenset({0x4101, 0x4103, 0x4202, 0x4204})


class Reply(NamedTuple):
    #: errno of the ioctl; 0 when the command reached the device.
    errno: int
    #: The device's return code (``retval``).
    retval: int = 0
    out: bytes = b""


class Info(NamedTuple):
    """One ``struct cxl_command_info``."""

    id: int
    flags: int
    size_in: int
    size_out: int


def _enabled(mem: Memdev, cmd: Command) -> bool:
    return cmd.opcode != 0 and (cmd.opcode in mem.device.cel or cmd.opcode in FORCE_ENABLED)


def _nvdimm_bound(k: Kernel, mem: Memdev) -> bool:
    pmem = core.find_device(k, "cxl", f"pmem{mem.id}")
    return pmem is not None and bool(pmem.driver)


def _exclusive(k: Kernel, mem: Memdev, cmd: Command) -> bool:
    return cmd.id in EXCLUSIVE_WHILE_NVDIMM and _nvdimm_bound(k, mem)


def query(k: Kernel, mem: Memdev, n: int) -> tuple[int, list[Info]]:
    """``n_commands`` as the kernel leaves it, and the entries it copies out: with n = 0
    the table size and none; else the first n in id order (holes all zero)."""
    if n == 0:
        return len(TABLE), []
    infos = []
    for cmd in TABLE[:n]:
        if not cmd.name or cmd.id == 0:
            infos.append(Info(0, 0, 0, 0))
            continue
        flags = (ENABLED if _enabled(mem, cmd) else 0) | (
            EXCLUSIVE if _exclusive(k, mem, cmd) else 0
        )
        infos.append(Info(cmd.id, flags, cmd.size_in, cmd.size_out))
    return n, infos


def changes_state(cmd_id: int, opcode: int) -> bool:
    """The command may change the device (so it must run in a state transaction)."""
    if cmd_id == ID_RAW:
        return True
    if 0 < cmd_id < len(TABLE):
        return TABLE[cmd_id].opcode in CHANGES_STATE
    return False


def send(
    k: Kernel,
    mem: Memdev,
    cmd_id: int,
    flags: int,
    raw_opcode: int,
    raw_rsvd: int,
    payload: bytes,
    out_size: int,
) -> Reply:
    """One CXL_MEM_SEND_COMMAND, checked in the kernel's order."""
    if cmd_id <= 0 or cmd_id >= len(TABLE):
        return Reply(errno.ENOTTY)
    if len(payload) > mem.payload_max:
        return Reply(errno.EINVAL)
    cmd = TABLE[cmd_id]
    if cmd_id == ID_RAW:
        if raw_rsvd or out_size > mem.payload_max:
            return Reply(errno.EINVAL)
        # CONFIG_CXL_MEM_RAW_COMMANDS is off, as in distribution kernels.
        return Reply(errno.EPERM)
    if flags & ~0x3 or raw_opcode or raw_rsvd:
        return Reply(errno.EINVAL)
    if not _enabled(mem, cmd):
        return Reply(errno.ENOTTY)
    if _exclusive(k, mem, cmd):
        return Reply(errno.EBUSY)
    if cmd.size_in != VARIABLE and cmd.size_in != len(payload):
        return Reply(errno.ENOMEM)
    if cmd.size_out != VARIABLE and cmd.size_out > out_size:
        return Reply(errno.ENOMEM)
    if cmd_id == ID_SET_PARTITION_INFO and payload[8] & 1:
        return Reply(errno.EBUSY)  # "immediate" is not offered to userspace
    if mem.device.security.sanitize_deadline and cmd.opcode != 0x4200:
        # A polled device is busy until the sanitize ends; only health may be asked.
        return Reply(errno.EBUSY)
    handler = HANDLERS.get(cmd.opcode)
    if handler is None:
        return Reply(0, UNSUPPORTED)
    try:
        retval, out = handler(k, mem, payload)
    except DeviceErrno as e:
        return Reply(e.errno)
    limit = mem.payload_max if cmd.size_out == VARIABLE else out_size
    return Reply(0, retval, out[: min(limit, out_size, mem.payload_max)])


def memdev_named(k: Kernel, name: str) -> Memdev | None:
    """The memdev behind ``/dev/cxl/<name>``, None when there is none (ENXIO)."""
    if not name.startswith("mem") or not name[3:].isdigit():
        return None
    mem = k.memdevs.get(int(name[3:]))
    return mem if mem is not None and mem.name == name else None
