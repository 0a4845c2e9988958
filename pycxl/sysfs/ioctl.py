"""The real mailbox ioctls on a ``/dev/cxl/memN`` character device.

Layouts (little-endian, include/uapi/linux/cxl_mem.h):

* ``struct cxl_mem_query_commands``: u32 n_commands, u32 reserved, then 16-byte
  ``struct cxl_command_info`` entries (u32 id, flags, size_in, size_out).
* ``struct cxl_send_command`` (48 bytes): u32 id, u32 flags, u16 raw.opcode, u16 raw.rsvd,
  u32 retval, u32 in.size, u32 in.rsvd, u64 in.payload, u32 out.size, u32 out.rsvd,
  u64 out.payload. The payload fields are user pointers: the buffers are ctypes arrays
  kept alive for the call.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import stat
import struct
from collections.abc import Callable

from pycxl.sysfs.base import Mailbox, NodeInvalid, NodeOpenFailed

#: _IOR(0xCE, 1, struct cxl_mem_query_commands) and _IOWR(0xCE, 2, struct cxl_send_command).
CXL_MEM_QUERY_COMMANDS = 0x8008CE01
CXL_MEM_SEND_COMMAND = 0xC030CE02

QUERY_HEAD = struct.Struct("<II")
COMMAND_INFO = struct.Struct("<IIII")
SEND = struct.Struct("<IIHHIIIQIIQ")


def node_number(fd: int) -> tuple[int, int] | None:
    """(major, minor) of the open node when it is a character device, else None."""
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode):
        return None
    return os.major(st.st_rdev), os.minor(st.st_rdev)


class IoctlMailbox(Mailbox):
    def __init__(self, open_dev: Callable[[str], int], path: str, devnum: tuple[int, int]):
        self._open_dev = open_dev
        self.path = path
        self.devnum = devnum

    def _ioctl(self, request: int, arg: bytearray) -> None:
        try:
            fd = self._open_dev(self.path)
        except OSError as e:
            raise NodeOpenFailed.of(e, self.path) from None
        try:
            if node_number(fd) != self.devnum:
                raise NodeInvalid.at(self.path)
            fcntl.ioctl(fd, request, arg, True)
        finally:
            os.close(fd)

    def query(self, n: int) -> tuple[int, list[tuple[int, int, int, int]]]:
        buf = bytearray(QUERY_HEAD.size + COMMAND_INFO.size * n)
        QUERY_HEAD.pack_into(buf, 0, n, 0)
        self._ioctl(CXL_MEM_QUERY_COMMANDS, buf)
        count = QUERY_HEAD.unpack_from(buf)[0]
        infos = [
            COMMAND_INFO.unpack_from(buf, QUERY_HEAD.size + COMMAND_INFO.size * i)
            for i in range(min(n, count))
        ]
        return count, infos

    def send(
        self, cmd_id: int, opcode: int, payload: bytes, out_size: int, flags: int = 0
    ) -> tuple[int, bytes]:
        inbuf = ctypes.create_string_buffer(bytes(payload), max(len(payload), 1))
        outbuf = ctypes.create_string_buffer(max(out_size, 1))
        cmd = bytearray(SEND.size)
        SEND.pack_into(
            cmd,
            0,
            cmd_id,
            flags,
            opcode,
            0,
            0,
            len(payload),
            0,
            ctypes.addressof(inbuf) if payload else 0,
            out_size,
            0,
            ctypes.addressof(outbuf) if out_size else 0,
        )
        self._ioctl(CXL_MEM_SEND_COMMAND, cmd)
        fields = SEND.unpack_from(cmd)
        retval, returned = fields[4], fields[8]
        return retval, outbuf.raw[: min(returned, out_size)]
