"""The emulated platform's block devices (``/dev/pmemN``, ``pmemN.M``, ``pmemNs``): reads
and writes reach the memdevs' media through the disk's address map, as under the FUSE
mount (fake_sysfs.media, fake_sysfs.kernel.media). Only bytes cross into pycxl.

``open`` fails as a real one would: ENOENT where the kernel registered no such node,
EISDIR for a directory (``/dev/`` is what upstream opens when a namespace shows no disk),
ENXIO for a node no block driver serves (a character device, or a disk whose region no
longer decodes). An exclusive open (O_EXCL) always succeeds: nothing can hold an emulated
disk, which can be neither mounted nor opened by another program outside the FUSE mount
(whose plain-file stand-in has no exclusive opens either). With O_DIRECT, a transfer not
aligned to the disk's 512-byte logical blocks fails with EINVAL, as the block layer
refuses it.

The disk's map is taken at open; the caller changes no kernel state while it holds the
device (upstream's zeroing opens, reads, writes and closes in one go).
"""

from __future__ import annotations

import errno
import os

from fake_sysfs.errors import FakeSysfsError
from pycxl.sysfs.base import SysfsUnavailable
from pycxl.sysfs.block import BlockIO

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from fake_sysfs.frontends.inprocess import InProcess
    from fake_sysfs.media import BlockDevice

#: A pmem disk's logical block size (queue/logical_block_size).
_LOGICAL_BLOCK = 512


def _fail(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


class EmulatedBlockIO(BlockIO):
    def __init__(self, disk: BlockDevice, path: str, flags: int) -> None:
        self.disk: BlockDevice | None = disk
        self.path = path
        self.accmode = flags & os.O_ACCMODE
        self.direct = bool(flags & os.O_DIRECT)

    def _device(self, allowed: bool, offset: int, size: int) -> BlockDevice:
        if self.disk is None or not allowed:
            raise _fail(errno.EBADF, self.path)
        if offset < 0:
            raise _fail(errno.EINVAL, self.path)
        if self.direct and (offset | size) % _LOGICAL_BLOCK:
            raise _fail(errno.EINVAL, self.path)
        return self.disk

    def pread(self, size: int, offset: int) -> bytes:
        disk = self._device(self.accmode != os.O_WRONLY, offset, size)
        try:
            return disk.read(offset, size)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def pwrite(self, data: bytes, offset: int) -> int:
        disk = self._device(self.accmode != os.O_RDONLY, offset, len(data))
        try:
            return disk.write(offset, data)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        except OSError as e:
            raise _fail(e.errno or errno.EIO, self.path) from None

    def close(self) -> None:
        if self.disk is not None:
            disk, self.disk = self.disk, None
            disk.close()


def open_block(frontend: InProcess, path: str, flags: int) -> BlockIO:
    """open() of ``path`` below the emulated /dev as a block device."""
    from fake_sysfs.kernel.media import disk_geometry
    from fake_sysfs.media import open_block as open_media

    view = frontend.view
    name = path[len("/dev/") :] if path.startswith("/dev/") else path
    disks = [node for node, _major, _minor, _syspath in view.tree.block_nodes()]
    if name not in disks:
        chars = [node for node, _major, _minor in view.dev_numbers()]
        if path in ("/dev", "/dev/") or any(n.startswith(f"{name}/") for n in chars + disks):
            raise _fail(errno.EISDIR, path)
        raise _fail(errno.ENXIO if name in chars else errno.ENOENT, path)
    geometry = disk_geometry(view.kernel, name)
    if geometry is None:
        raise _fail(errno.ENXIO, path)
    try:
        disk = open_media(str(frontend.store.dir), geometry)
    except FakeSysfsError as e:
        raise SysfsUnavailable(str(e)) from None
    return EmulatedBlockIO(disk, path, flags)
