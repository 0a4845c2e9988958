"""Block device I/O through a ``/dev`` node (``/dev/pmem0``): what libndctl and ndctl do
with a namespace's disk before they change it (ndctl-daxctl.md 5.3).

Upstream makes plain system calls: ``open`` with the flags it chose (``O_EXCL`` for an
exclusive open, ``O_DIRECT`` to bypass the page cache), ``pread``, ``pwrite``, ``close``.
``BlockIO`` is the seam: ``FileBlockIO`` makes those calls on a real node (or on whatever
file stands for it below ``PYCXL_DEV_ROOT``); the emulation serves its disks itself
(pycxl.sysfs.emulated_block). Failures raise OSError with the call's errno.
"""

from __future__ import annotations

import mmap
import os
from abc import ABC, abstractmethod

#: O_DIRECT wants the buffer, the offset and the length aligned to the logical block size;
#: a page (what upstream's posix_memalign asks for) satisfies every block size.
_ALIGN = mmap.PAGESIZE


class BlockIO(ABC):
    """One open block device: positioned reads and writes, then ``close``."""

    @abstractmethod
    def pread(self, size: int, offset: int) -> bytes:
        """One pread(): up to ``size`` bytes from ``offset`` (fewer at the end)."""

    @abstractmethod
    def pwrite(self, data: bytes, offset: int) -> int:
        """One pwrite() of ``data`` at ``offset``: the count written."""

    @abstractmethod
    def close(self) -> None:
        """close(): the device is released (an exclusive claim with it)."""

    def __enter__(self) -> BlockIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileBlockIO(BlockIO):
    """A node opened with os.open. With O_DIRECT every transfer goes through an anonymous
    mapping, which is page aligned (Python's own buffers are not: O_DIRECT would refuse
    them with EINVAL)."""

    def __init__(self, host_path: str, flags: int) -> None:
        self.direct = bool(flags & os.O_DIRECT)
        self.fd = os.open(host_path, flags | os.O_CLOEXEC | os.O_NOCTTY)

    def _buffer(self, size: int) -> mmap.mmap:
        return mmap.mmap(-1, max(_ALIGN, -(-size // _ALIGN) * _ALIGN))

    def pread(self, size: int, offset: int) -> bytes:
        if not self.direct:
            return os.pread(self.fd, size, offset)
        with self._buffer(size) as buf:
            view = memoryview(buf)
            try:
                count = os.preadv(self.fd, [view[:size]], offset)
                return bytes(view[:count])
            finally:
                view.release()

    def pwrite(self, data: bytes, offset: int) -> int:
        if not self.direct:
            return os.pwrite(self.fd, data, offset)
        with self._buffer(len(data)) as buf:
            buf[: len(data)] = data
            view = memoryview(buf)
            try:
                return os.pwritev(self.fd, [view[: len(data)]], offset)
            finally:
                view.release()

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)
