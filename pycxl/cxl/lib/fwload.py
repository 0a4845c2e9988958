"""The firmware-upload class device of a memdev (``<memdev>/firmware/<memN>``): what
libcxl reads to tell whether an update is running, and writes to start or cancel one."""

from __future__ import annotations

import errno
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev


def fwl_path(memdev: Memdev) -> str:
    return f"{memdev.dev_path}/firmware/{memdev.devname}"


def fw_update_in_progress(memdev: Memdev) -> bool:
    """``cxl_memdev_fw_update_in_progress``: the loader's ``status`` is not ``idle``; an
    unreadable status counts as in progress (after an error line)."""
    path = f"{fwl_path(memdev)}/status"
    text, rc = memdev.ctx.read_attr_rc(path)
    if text is None:
        reason = os.strerror(-rc if rc else errno.EIO)
        memdev.ctx.log.err(
            "cxl_fwl_get_status", f"{memdev.devname}: failed to get fw loader status ({reason})\n"
        )
        return True
    return text != "idle"


def fw_update_remaining(memdev: Memdev) -> int:
    """``cxl_memdev_fw_update_get_remaining``: ``remaining_size``, 0 when unreadable."""
    path = f"{fwl_path(memdev)}/remaining_size"
    text, rc = memdev.ctx.read_attr_rc(path)
    if text is None:
        reason = os.strerror(-rc if rc else errno.EIO)
        memdev.ctx.log.err(
            "cxl_memdev_fw_update_get_remaining",
            f"{memdev.devname}: failed to get fw loader remaining size ({reason})\n",
        )
        return 0
    from pycxl.util.cparse import strtoull

    return strtoull(text)[0]


def _set_loading(memdev: Memdev, value: int) -> int:
    rc = memdev.ctx.write_attr(f"{fwl_path(memdev)}/loading", f"{value}\n")
    if rc < 0:
        memdev.ctx.log.err(
            "cxl_memdev_fwl_set_loading",
            f"{memdev.devname}: failed to trigger fw loading to {value} ({os.strerror(-rc)})\n",
        )
    return rc


def update_fw(memdev: Memdev, image_path: str) -> int:
    """``cxl_memdev_update_fw``: hand the image to the loader (``loading`` 1, the bytes to
    ``data``, ``loading`` 0); the transfer then runs in the background. 0 or -errno."""
    log = memdev.ctx.log
    func = "cxl_memdev_update_fw"
    try:
        with open(image_path, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size == 0:  # mmap() of nothing
                log.err(func, f"failed to map: {image_path}: ({os.strerror(errno.EINVAL)})\n")
                return -errno.EINVAL
            image = f.read()
    except OSError as e:
        err = e.errno or errno.EIO
        log.err(func, f"failed to open: {image_path}: ({os.strerror(err)})\n")
        return -err
    rc = _set_loading(memdev, 1)
    if rc:
        return rc
    data = f"{fwl_path(memdev)}/data"
    try:
        memdev.ctx.sysfs.write_stream(data, image)
    except OSError as e:
        err = e.errno or errno.EIO
        if err in (errno.ENOENT, errno.EACCES):
            log.err("cxl_memdev_fwl_copy_data", f"failed to open: {data}: ({os.strerror(err)})\n")
        else:
            err = errno.ENXIO  # a short write
        return -err
    return _set_loading(memdev, 0)


def cancel_fw_update(memdev: Memdev) -> int:
    """``cxl_memdev_cancel_fw_update``: ENXIO (silently) when nothing is running or left;
    else ask the loader to cancel."""
    if not fw_update_in_progress(memdev) and fw_update_remaining(memdev) == 0:
        return -errno.ENXIO
    return memdev.ctx.write_attr(f"{fwl_path(memdev)}/cancel", "1\n")
