"""``cxl read-labels``, ``write-labels``, ``zero-labels``: the label storage area through
the mailbox (Get LSA / Set LSA in chunks of ``payload_max - 8`` bytes).

The label files are opened before any memdev is looked at: ``-o`` is created or truncated
even when nothing is read, ``-i`` must be readable. Writing and zeroing refuse a memdev
whose nvdimm (``pmemN``) is bound, since the nvdimm driver caches the labels; reading
never checks.
"""

from __future__ import annotations

import errno
import os
import sys

from pycxl.cxl.commands.memdev import BASE_OPTIONS, MemdevCommand
from pycxl.cxl.lib.mbox_cmds import LSA_READ, LSA_WRITE, LSA_ZERO, lsa_op
from pycxl.util.cparse import ULLONG_MAX
from pycxl.util.parse_options import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

    from pycxl.cxl.lib.memdev import Memdev

_LABEL_OPTIONS = [
    *BASE_OPTIONS,
    Opt("s", "size", "uinteger", "number of label bytes to operate"),
    Opt("O", "offset", "uinteger", "offset into the label area to start operation"),
]
READ_OPTIONS = [
    *_LABEL_OPTIONS,
    Opt("o", "output", "filename", "filename to write label area contents", argh="output-file"),
]
WRITE_OPTIONS = [
    *_LABEL_OPTIONS,
    Opt("i", "input", "filename", "filename to read label area data", argh="input-file"),
]
ZERO_OPTIONS = list(_LABEL_OPTIONS)

#: What ftell() gives for a stream that cannot seek (-1), as the size_t the command keeps.
_SIZE_MAX = (1 << 64) - 1


def nvdimm_bridge_active(memdev: Memdev) -> bool:
    """The memdev's ``pmemN`` (its nvdimm) is bound to a driver."""
    sysfs = memdev.ctx.sysfs
    try:
        names = sysfs.scan(memdev.dev_path, "pmem")
    except OSError:
        return False
    for name in names:
        if name[4:].isdigit():
            return sysfs.is_link(f"{memdev.dev_path}/{name}/driver")
    return False


class LabelCommand(MemdevCommand):
    out: BinaryIO | None = None
    inp: BinaryIO | None = None

    def setup(self) -> int:
        name: str | None = None
        try:
            if "output" in self.values and self.values["output"] is not None:
                name = self.values["output"]
                self.out = open(name, "w+b", buffering=0)  # noqa: SIM115 - kept for the run
            elif "input" in self.values and self.values["input"] is not None:
                name = self.values["input"]
                self.inp = open(name, "rb")  # noqa: SIM115 - kept for the run
        except OSError as e:
            err = e.errno or errno.EIO
            self.log.err("memdev_action", f"failed to open: {name}: ({os.strerror(err)})\n")
            return -err
        return 0

    def _size(self, memdev: Memdev) -> int:
        """``-s``, or (also for 0) the whole label area; -EINVAL when it is unknown."""
        size: int = self.values["size"]
        if size:
            return size
        if memdev.lsa_size == ULLONG_MAX:
            return -errno.EINVAL
        return memdev.lsa_size

    def action_read(self, memdev: Memdev) -> int:
        size = self._size(memdev)
        if size < 0:
            return size
        buf = bytearray(size)
        rc = lsa_op(memdev, LSA_READ, buf, size, self.values["offset"])
        if rc < 0:
            self.log.err(
                "action_read", f"{memdev.devname}: label read failed: {os.strerror(-rc)}\n"
            )
            return rc
        if self.out is not None:
            self.out.write(buf)
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(buf)
        return 0

    def action_zero(self, memdev: Memdev) -> int:
        size = self._size(memdev)
        if size < 0:
            return size
        if nvdimm_bridge_active(memdev):
            self.log.err(
                "action_zero", f"{memdev.devname}: has active nvdimm bridge, abort label write\n"
            )
            return -errno.EBUSY
        rc = lsa_op(memdev, LSA_ZERO, bytearray(), size, self.values["offset"])
        if rc < 0:
            self.log.err(
                "action_zero", f"{memdev.devname}: label zeroing failed: {os.strerror(-rc)}\n"
            )
        return rc

    def action_write(self, memdev: Memdev) -> int:
        if nvdimm_bridge_active(memdev):
            self.log.err(
                "action_write", f"{memdev.devname}: has active nvdimm bridge, abort label write\n"
            )
            return -errno.EBUSY
        inp = self.inp if self.inp is not None else sys.stdin.buffer
        size: int = self.values["size"]
        if not size:
            try:
                size = inp.seek(0, os.SEEK_END)
                inp.seek(0)
            except (OSError, ValueError):
                size = _SIZE_MAX
            if size > memdev.lsa_size:
                sys.stderr.write(
                    f"File size ({size}) greater than label area size ({memdev.lsa_size}), "
                    "aborting\n"
                )
                return -errno.EINVAL
        data = inp.read(size)
        if len(data) != size:
            return -errno.ENXIO
        rc = lsa_op(memdev, LSA_WRITE, bytearray(data), size, self.values["offset"])
        if rc < 0:
            self.log.err(
                "action_write", f"{memdev.devname}: label write failed: {os.strerror(-rc)}\n"
            )
        return rc
