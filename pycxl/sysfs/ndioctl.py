"""The label ioctls of an NVDIMM control node, ``/dev/nmemN`` (include/uapi/linux/ndctl.h).

Three commands reach a DIMM's label area (ndctl-daxctl.md 7.2). Each ioctl is
``_IOWR('N', nr, header)`` and its argument is one packed little-endian buffer that the
kernel reads and writes in place:

* ND_CMD_GET_CONFIG_SIZE (4): out ``status, config_size, max_xfer``;
* ND_CMD_GET_CONFIG_DATA (5): in ``in_offset, in_length``, out ``status`` and the data;
* ND_CMD_SET_CONFIG_DATA (6): in ``in_offset, in_length`` and the data, out a 4-byte
  status.

``NdControl`` is the seam: ``IoctlNdControl`` makes the real calls, the emulation its own.
"""

from __future__ import annotations

import fcntl
import os
import struct
from abc import ABC, abstractmethod
from collections.abc import Callable

from pycxl.sysfs.base import NodeInvalid, NodeOpenFailed
from pycxl.sysfs.ioctl import node_number

ND_CMD_GET_CONFIG_SIZE = 4
ND_CMD_GET_CONFIG_DATA = 5
ND_CMD_SET_CONFIG_DATA = 6

#: _IOWR('N', nr, struct ...): the size field is the fixed header of each command.
IOCTL_NUMBERS = {
    ND_CMD_GET_CONFIG_SIZE: 0xC00C4E04,
    ND_CMD_GET_CONFIG_DATA: 0xC00C4E05,
    ND_CMD_SET_CONFIG_DATA: 0xC0084E06,
}

_U32 = struct.Struct("<I")
_PAIR = struct.Struct("<II")
_SIZE = struct.Struct("<III")


class NdControl(ABC):
    """The label ioctls of one ``/dev/nmemN`` node.

    ``open`` validates the node as libndctl does before each command (a character device
    whose number is the DIMM's ``dev``); it raises NodeOpenFailed or NodeInvalid. ``call``
    then runs one ioctl: it returns the argument buffer as the kernel left it and raises
    OSError with the ioctl's errno. ``close`` ends the command.
    """

    @abstractmethod
    def open(self) -> None: ...

    @abstractmethod
    def call(self, nr: int, buf: bytes) -> bytes: ...

    def close(self) -> None:  # noqa: B027 - optional
        """The command is done with the node."""

    def call_many(self, nr: int, bufs: list[bytes]) -> tuple[list[bytes], OSError | None]:
        """The ioctls one after another until one fails: the buffers of those that
        succeeded, and the failure (None when all did). A backend may run them at once."""
        done: list[bytes] = []
        for buf in bufs:
            try:
                done.append(self.call(nr, buf))
            except OSError as e:
                return done, e
        return done, None

    # -- the three commands, encoded and decoded ------------------------------------------

    def get_config_size(self) -> tuple[int, int, int]:
        """(status, config_size, max_xfer)."""
        out = self.call(ND_CMD_GET_CONFIG_SIZE, bytes(_SIZE.size))
        status, size, max_xfer = _SIZE.unpack_from(out)
        return status, size, max_xfer

    def get_config_data(self, offset: int, length: int) -> tuple[int, bytes]:
        """(status, the ``length`` bytes read from ``offset``)."""
        out = self.call(ND_CMD_GET_CONFIG_DATA, _PAIR.pack(offset, length) + bytes(4 + length))
        return _U32.unpack_from(out, 8)[0], out[12 : 12 + length]

    def set_config_data(self, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset``: the status."""
        out = self.call(
            ND_CMD_SET_CONFIG_DATA, _PAIR.pack(offset, len(data)) + bytes(data) + bytes(4)
        )
        return int(_U32.unpack_from(out, 8 + len(data))[0])

    def set_config_data_many(
        self, chunks: list[tuple[int, bytes]]
    ) -> tuple[list[int], OSError | None]:
        """Several writes (offset, data) in order until one fails: the statuses of those
        done, and the failure."""
        bufs = [_PAIR.pack(offset, len(data)) + bytes(data) + bytes(4) for offset, data in chunks]
        done, failure = self.call_many(ND_CMD_SET_CONFIG_DATA, bufs)
        return [int(_U32.unpack_from(out, len(out) - 4)[0]) for out in done], failure


class IoctlNdControl(NdControl):
    """The real node: open(O_RDWR), fstat against the DIMM's number, fcntl.ioctl."""

    def __init__(self, open_dev: Callable[[str], int], path: str, devnum: tuple[int, int]):
        self._open_dev = open_dev
        self.path = path
        self.devnum = devnum
        self._fd: int | None = None

    def open(self) -> None:
        self.close()
        try:
            fd = self._open_dev(self.path)
        except OSError as e:
            raise NodeOpenFailed.of(e, self.path) from None
        if node_number(fd) != self.devnum:
            os.close(fd)
            raise NodeInvalid.at(self.path)
        self._fd = fd

    def call(self, nr: int, buf: bytes) -> bytes:
        if self._fd is None:
            self.open()
        arg = bytearray(buf)
        fcntl.ioctl(self._fd, IOCTL_NUMBERS[nr], arg, True)  # type: ignore[arg-type]
        return bytes(arg)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
