"""The mailbox commands libcxl offers, with the decoding of their payloads.

Each ``new_*`` builds a command (None when it cannot be built: see mailbox.new_generic);
the getters read the output of a submitted command, as libcxl's ``cxl_cmd_*_get_*`` do.
Layouts are CXL 3.1's (section 8.2.9), little-endian.
"""

from __future__ import annotations

import struct

from pycxl.cxl.lib.mailbox import (
    ID_GET_ALERT_CONFIG,
    ID_GET_FW_INFO,
    ID_GET_HEALTH_INFO,
    ID_GET_LSA,
    ID_GET_PARTITION_INFO,
    ID_IDENTIFY,
    ID_SET_ALERT_CONFIG,
    ID_SET_LSA,
    ID_SET_PARTITION_INFO,
    Cmd,
    new_generic,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

#: Capacities travel in 256 MiB units.
CAPACITY_UNIT = 256 << 20
#: What a getter returns for a value the device says it does not implement.
EOPNOTSUPP_VALUE = -95
ULLONG_MAX = (1 << 64) - 1


# -- Identify ----------------------------------------------------------------------------------


def new_identify(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_IDENTIFY)


def identify_capacities(cmd: Cmd) -> tuple[int, int, int, int]:
    """(total, volatile only, persistent only, alignment) in bytes; ULLONG_MAX each when
    the command did not succeed."""
    if cmd.status != 0 or len(cmd.output) < 0x30:
        return ULLONG_MAX, ULLONG_MAX, ULLONG_MAX, ULLONG_MAX
    values = struct.unpack_from("<QQQQ", cmd.output, 0x10)
    a, b, c, d = (v * CAPACITY_UNIT & ULLONG_MAX for v in values)
    return a, b, c, d


# -- Get / Set Partition Info ------------------------------------------------------------------


def new_get_partition(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_GET_PARTITION_INFO)


def partition_sizes(cmd: Cmd) -> tuple[int, int, int, int]:
    """(active volatile, active persistent, next volatile, next persistent) in bytes."""
    if cmd.status != 0 or len(cmd.output) < 0x20:
        return ULLONG_MAX, ULLONG_MAX, ULLONG_MAX, ULLONG_MAX
    values = struct.unpack_from("<QQQQ", cmd.output)
    a, b, c, d = (v * CAPACITY_UNIT & ULLONG_MAX for v in values)
    return a, b, c, d


def new_set_partition(memdev: Memdev, volatile_size: int) -> Cmd | None:
    """Plan ``volatile_size`` bytes (truncated to 256 MiB units) as volatile at the next
    boot (the mode flag stays 0: ``cxl set-partition`` never asks for ``immediate``)."""
    cmd = new_generic(memdev, ID_SET_PARTITION_INFO)
    if cmd is not None and len(cmd.input) >= 10:
        struct.pack_into("<QBB", cmd.input, 0, volatile_size // CAPACITY_UNIT, 0, 0)
    return cmd


# -- Get Health Info ---------------------------------------------------------------------------


def new_get_health_info(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_GET_HEALTH_INFO)


class Health:
    __slots__ = ("dirty", "ext", "life_used", "media", "pmem", "status", "temperature", "vol")

    def __init__(self, out: bytes) -> None:
        (
            self.status,
            self.media,
            self.ext,
            life,
            temp,
            self.dirty,
            self.vol,
            self.pmem,
        ) = struct.unpack_from("<BBBBHIII", out)
        self.life_used = EOPNOTSUPP_VALUE if life == 0xFF else life
        self.temperature = EOPNOTSUPP_VALUE if temp == 0xFFFF else temp


# -- Get / Set Alert Configuration -------------------------------------------------------------


def new_get_alert_config(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_GET_ALERT_CONFIG)


def new_set_alert_config(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_SET_ALERT_CONFIG)


def alert_values(out: bytes) -> tuple[int, ...]:
    """valid, programmable, life critical, life warning, over-temperature critical,
    under-temperature critical, over-temperature warning, under-temperature warning,
    corrected volatile warning, corrected pmem warning."""
    return struct.unpack_from("<BBBB6H", out)


# -- Get FW Info -------------------------------------------------------------------------------


def new_get_fw_info(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_GET_FW_INFO)


class FwInfo:
    __slots__ = ("active", "num_slots", "online", "revisions", "staged")

    def __init__(self, out: bytes) -> None:
        self.num_slots = out[0]
        self.active = out[1] & 0x7
        self.staged = (out[1] >> 3) & 0x7
        self.online = bool(out[2] & 1)
        self.revisions = [out[0x10 + 16 * i : 0x20 + 16 * i] for i in range(4)]


# -- Get / Set LSA -----------------------------------------------------------------------------


def new_get_lsa(memdev: Memdev, offset: int, length: int) -> Cmd | None:
    cmd = new_generic(memdev, ID_GET_LSA)
    if cmd is not None and len(cmd.input) >= 8:
        struct.pack_into("<II", cmd.input, 0, offset, length)
    return cmd


def new_set_lsa(memdev: Memdev) -> Cmd | None:
    return new_generic(memdev, ID_SET_LSA)


# -- the label area in chunks (libcxl's lsa_op) ------------------------------------------------

LSA_READ, LSA_WRITE, LSA_ZERO = 1, 2, 3
_LSA_HEADER = 8  # offset, length (read) or offset, reserved (write)


def _new_write_label(memdev: Memdev, data: bytes, offset: int) -> Cmd | None:
    """``cxl_cmd_new_write_label``: SET_LSA with the header and ``data``."""
    cmd = new_set_lsa(memdev)
    if cmd is None:
        return None
    rc = cmd.set_input_payload(len(data) + _LSA_HEADER)
    if rc:
        memdev.ctx.log.err(
            "cxl_cmd_new_write_label", f"{memdev.devname}: cmd setup failed: {_strerror(rc)}\n"
        )
        return None
    struct.pack_into("<II", cmd.input, 0, offset, 0)
    cmd.input[_LSA_HEADER:] = data
    return cmd


def _strerror(rc: int) -> str:
    import os

    return os.strerror(-rc)


def lsa_op(memdev: Memdev, op: int, buf: bytearray, length: int, offset: int) -> int:
    """Read into ``buf``, write from it, or zero ``length`` bytes of the label area from
    ``offset``, one command per ``payload_max - 8`` bytes, stopping at the first failure:
    0 or -errno. A failed write or zero warns that the labels may be inconsistent."""
    rc = _lsa_op(memdev, op, buf, length, offset)
    if op != LSA_READ and rc < 0:
        memdev.ctx.log.err("lsa_op", f"{memdev.devname}: labels may be in an inconsistent state\n")
    return rc


def _lsa_op(memdev: Memdev, op: int, buf: bytearray, length: int, offset: int) -> int:
    import errno

    log = memdev.ctx.log
    name = memdev.devname
    step = memdev.payload_max - _LSA_HEADER
    if length and step <= 0:
        # No usable payload size (``payload_max`` unknown or tiny): no command can carry
        # a byte of labels.
        log.err("__lsa_op", f"{name}: cmd setup failed: {_strerror(-errno.EINVAL)}\n")
        return -errno.EINVAL
    done = 0
    while done < length:
        chunk = min(step, length - done)
        cmd: Cmd | None
        if op == LSA_READ:
            cmd = new_get_lsa(memdev, offset, chunk)
            if cmd is not None:
                rc = cmd.set_output_payload(chunk)
                if rc:
                    log.err("__lsa_op", f"{name}: cmd setup failed: {_strerror(rc)}\n")
                    return rc
        else:
            data = bytes(buf[done : done + chunk]) if op == LSA_WRITE else bytes(max(chunk, 0))
            cmd = _new_write_label(memdev, data, offset)
        if cmd is None:
            return -errno.ENOMEM
        rc = cmd.submit()
        if rc < 0:
            log.err("__lsa_op", f"{name}: cmd submission failed: {_strerror(rc)}\n")
            return rc
        if cmd.status != 0:
            log.err("__lsa_op", f"{name}: firmware status: {cmd.status}\n")
            return -errno.ENXIO
        if op == LSA_READ:
            buf[done : done + chunk] = cmd.output[:chunk]
        done += chunk
        offset += chunk
    return 0
