"""libndctl's config-data commands: a DIMM's label area moved through the ND ioctls of
``/dev/nmemN`` (ndctl-daxctl.md 7.2), with the library's own arithmetic.

A read (GET_CONFIG_DATA) or write (SET_CONFIG_DATA) command owns a buffer the size of the
whole area and an *extent* (``init_offset``, ``total_xfer``). As in libndctl v76.1..v81,
submitting moves ``total_xfer`` bytes in ``max_xfer`` chunks whose device offsets count
from 0, not from the extent's start, between the device and the start of the buffer; the
accessors (``get_data`` / ``set_data``) address the buffer by absolute offset. So with
``--offset`` the bytes that reach the device or the user are not those of
``[offset, offset + size)``: pycxl keeps that behaviour, since scripts see it.
"""

from __future__ import annotations

import errno
import os

from pycxl.sysfs.base import NodeInvalid, NodeOpenFailed
from pycxl.sysfs.ndioctl import ND_CMD_GET_CONFIG_DATA, ND_CMD_SET_CONFIG_DATA

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from pycxl.ndctl.lib import Dimm
    from pycxl.sysfs.ndioctl import NdControl

U32 = 0xFFFF_FFFF
#: The command names of a DIMM's ``commands`` attribute.
_NAMES = {4: "get_size", ND_CMD_GET_CONFIG_DATA: "get_data", ND_CMD_SET_CONFIG_DATA: "set_data"}


def supports(dimm: Dimm, nr: int) -> bool:
    """The DIMM's ``commands`` attribute names the command."""
    return _NAMES[nr] in (dimm.attr("commands") or "").split()


def _control(dimm: Dimm) -> tuple[str, NdControl | int]:
    """Open ``/dev/nmemN`` as ndctl_cmd_submit does: the node, or -errno (logged)."""
    path = f"/dev/nmem{dimm.id}"
    log = dimm.ctx.log
    major, _, minor = (dimm.attr("dev") or "").partition(":")
    try:
        devnum = (int(major), int(minor))
    except ValueError:
        devnum = (-1, -1)
    control = dimm.sysfs.nd_control(path, devnum)
    try:
        control.open()
    except NodeOpenFailed as e:
        log.err("ndctl_cmd_submit", f"failed to open {path}: {os.strerror(e.errno or 5)}\n")
        return path, -(e.errno or errno.EIO)
    except NodeInvalid:
        log.err("ndctl_cmd_submit", f"failed to validate {path} as a control node\n")
        return path, -errno.ENXIO
    return path, control


def _dbg_done(dimm: Dimm, name: str, tail: str, rc: int, err: int) -> None:
    reason = os.strerror(err) if rc < 0 else "success"
    dimm.ctx.log.dbg(
        "do_cmd",
        f"bus: {dimm.bus.id} dimm: 0xffffffff cmd: {name}{tail} status: {rc} fw: 0 ({reason})\n",
    )


def config_size(dimm: Dimm) -> tuple[int, int] | int:
    """ND_CMD_GET_CONFIG_SIZE: (config_size, max_xfer), or -errno."""
    if not supports(dimm, 4):
        dimm.ctx.log.dbg("ndctl_dimm_cmd_new_cfg_size", "unsupported cmd\n")
        return -errno.ENOTTY
    _, control = _control(dimm)
    if isinstance(control, int):
        return control
    try:
        status, size, max_xfer = control.get_config_size()
    except OSError as e:
        _dbg_done(dimm, "get_size", "", -1, e.errno or errno.EIO)
        return -(e.errno or errno.EIO)
    finally:
        control.close()
    _dbg_done(dimm, "get_size", "", 0, 0)
    if status:
        return -errno.EIO
    return size, max_xfer


class ConfigCmd:
    """A config-data read or write command and the area buffer it shares (libndctl's
    ``struct ndctl_cmd`` with its ``iter``)."""

    def __init__(self, dimm: Dimm, nr: int, size: int, max_xfer: int, buf: bytearray) -> None:
        self.dimm = dimm
        self.nr = nr
        self.config_size = size
        self.max_xfer = max_xfer
        self.buf = buf
        self.init_offset = 0
        self.total_xfer = size
        #: 1 until submitted, then 0 or -errno (or the byte count where the device stopped).
        self.status = 1

    # -- building ------------------------------------------------------------------------

    @classmethod
    def new_read(cls, dimm: Dimm) -> ConfigCmd | None:
        """GET_CONFIG_SIZE then a read command over the whole area; None on failure."""
        found = config_size(dimm)
        if isinstance(found, int):
            return None
        size, max_xfer = found
        log = dimm.ctx.log
        if size == 0:
            log.dbg("ndctl_dimm_cmd_new_cfg_read", "invalid cfg_size\n")
            return None
        if not supports(dimm, ND_CMD_GET_CONFIG_DATA):
            log.dbg("ndctl_dimm_cmd_new_cfg_read", "unsupported cmd\n")
            return None
        return cls(dimm, ND_CMD_GET_CONFIG_DATA, size, max_xfer, bytearray(size))

    def new_write(self) -> ConfigCmd | None:
        """A write command over this submitted read's extent and buffer (libndctl enforces
        read-modify-write)."""
        log = self.dimm.ctx.log
        if self.nr != ND_CMD_GET_CONFIG_DATA or self.status != 0:
            log.dbg(
                "ndctl_dimm_cmd_new_cfg_write", "expected sucessfully completed cfg_read command\n"
            )
            return None
        if not supports(self.dimm, ND_CMD_SET_CONFIG_DATA):
            log.dbg("ndctl_dimm_cmd_new_cfg_write", "unsupported cmd\n")
            return None
        cmd = ConfigCmd(
            self.dimm, ND_CMD_SET_CONFIG_DATA, self.config_size, self.max_xfer, self.buf
        )
        cmd.init_offset = self.init_offset
        cmd.total_xfer = self.total_xfer
        return cmd

    def set_extent(self, length: int, offset: int) -> int:
        """Limit the command to ``length`` bytes from ``offset``: 0 or -EINVAL."""
        if offset + length > self.config_size:
            verb = "read" if self.nr == ND_CMD_GET_CONFIG_DATA else "write"
            self.dimm.ctx.log.dbg(
                f"ndctl_cmd_cfg_{verb}_set_extent",
                f"{verb} {length} from {offset} exceeds {self.config_size}\n",
            )
            return -errno.EINVAL
        self.init_offset = offset
        self.total_xfer = length
        return 0

    # -- the buffer ----------------------------------------------------------------------

    def _access(self, length: int, offset: int) -> int:
        """libndctl's iter_access, in its unsigned 32-bit arithmetic: the usable length,
        or -EINVAL."""
        length &= U32
        end = self.init_offset + self.total_xfer
        if offset < self.init_offset or offset > end or (length + offset) & U32 < length:
            return -errno.EINVAL
        if length + offset > end:
            length = (self.total_xfer - offset) & U32
        return length

    def get_data(self, length: int, offset: int) -> bytes | int:
        """Up to ``length`` bytes of the buffer from ``offset``, or -errno."""
        if self.status < 0:
            return self.status
        got = self._access(length, offset)
        return got if got < 0 else bytes(self.buf[offset : offset + got])

    def set_data(self, data: bytes, offset: int) -> int:
        """Copy ``data`` into the buffer at ``offset``: the count copied, or -errno."""
        got = self._access(len(data), offset)
        if got >= 0:
            self.buf[offset : offset + got] = data[:got]
        return got

    def zero_data(self) -> None:
        start = self.init_offset
        self.buf[start : start + self.total_xfer] = bytes(
            len(self.buf[start : start + self.total_xfer])
        )

    # -- submission ----------------------------------------------------------------------

    def submit(self) -> int:
        """Move the extent through the node in ``max_xfer`` chunks (ndctl_cmd_submit):
        0, a positive count where the device stopped, or -errno."""
        _, control = _control(self.dimm)
        if isinstance(control, int):
            self.status = control
            return control
        try:
            rc = self._transfer(control)
        finally:
            control.close()
        self.status = rc
        return rc

    def _transfer(self, control: NdControl) -> int:
        err = 0
        rc = 0
        chunks = [(0, 0)] if self.total_xfer == 0 else []
        for offset in range(0, self.total_xfer, self.max_xfer):
            chunks.append((offset, min(self.total_xfer - offset, self.max_xfer)))
        # A lone empty transfer keeps the extent's own offset; chunks count from 0.
        first = self.init_offset if self.total_xfer == 0 else 0
        if self.nr == ND_CMD_SET_CONFIG_DATA:
            writes = [(first + o, bytes(self.buf[o : o + x])) for o, x in chunks]
            statuses, failure = control.set_config_data_many(writes)
            for (offset, xfer), status in zip(chunks, statuses, strict=False):
                if status:
                    rc = offset + xfer
                    break
            else:
                if failure is not None:
                    err = failure.errno or errno.EIO
                    rc = -err
        else:
            for offset, xfer in chunks:
                try:
                    status, data = control.get_config_data(first + offset, xfer)
                except OSError as e:
                    err = e.errno or errno.EIO
                    rc = -err
                    break
                self.buf[offset : offset + xfer] = data
                if status:
                    rc = offset + xfer
                    break
        tail = f" total: {self.total_xfer} max_xfer: {self.max_xfer}"
        _dbg_done(self.dimm, _NAMES[self.nr], tail, rc, err)
        return rc


def read_extent(dimm: Dimm, length: int, offset: int) -> ConfigCmd | None:
    """ndctl_dimm_read_label_extent: read ``length`` bytes (0: the whole area) from
    ``offset``; None on failure."""
    cmd = ConfigCmd.new_read(dimm)
    if cmd is None:
        return None
    if length == 0:
        length = cmd.config_size
    if cmd.set_extent(length, offset) < 0 or cmd.submit() < 0:
        return None
    return cmd


def read_index(dimm: Dimm) -> ConfigCmd | None:
    """ndctl_dimm_read_label_index: read the two index blocks, sized for 128-byte labels
    (the larger index); None on failure."""
    from pycxl.ndctl.commands.labels import index_size

    cmd = ConfigCmd.new_read(dimm)
    if cmd is None:
        return None
    size = index_size(cmd.config_size, 128)[0]
    if size == 0:
        dimm.ctx.log.err(
            "sizeof_namespace_index",
            f"{dimm.devname}: label area ({cmd.config_size}) too small to host (128 byte) labels\n",
        )
    if cmd.set_extent(2 * size, 0) < 0 or cmd.submit() < 0:
        return None
    return cmd
