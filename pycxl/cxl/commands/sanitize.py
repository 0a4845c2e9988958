"""``cxl wait-sanitize``: wait until a running sanitize of each memdev has finished
(``security/state`` stops reading ``sanitize``), as long as ``--timeout`` allows."""

from __future__ import annotations

import errno
import os

from pycxl.cxl.commands.memdev import BASE_OPTIONS, MemdevCommand
from pycxl.util.parse_options import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

OPTIONS = [
    *BASE_OPTIONS,
    Opt(
        "t",
        "timeout",
        "integer",
        "time in milliseconds to wait for overwrite completion (default: infinite)",
        default=-1,
    ),
]


def wait_sanitize(memdev: Memdev, timeout_ms: int) -> int:
    """``cxl_memdev_wait_sanitize``: 0 when no sanitize runs (or the memdev has no security
    state) or it ended in time; -ETIMEDOUT, or -errno after libcxl's line."""
    log, func = memdev.ctx.log, "cxl_memdev_wait_sanitize"
    sysfs = memdev.ctx.sysfs
    path = f"{memdev.dev_path}/security/state"
    try:
        state = sysfs.read(path)
    except OSError as e:
        err = e.errno or errno.EIO
        if err == errno.ENOENT:
            return 0
        log.err(func, f"{path}: {os.strerror(err)}\n")
        return -err
    if not state.startswith(b"sanitize"):
        return 0
    try:
        woke = sysfs.wait_notify(path, timeout_ms)
    except OSError as e:
        err = e.errno or errno.EIO
        log.err(func, f"{memdev.devname}: sanitize poll error: {os.strerror(err)}\n")
        return -err
    if not woke:
        log.dbg(func, f"{memdev.devname}: sanitize timeout\n")
        return -errno.ETIMEDOUT
    sysfs.refresh()
    try:
        state = sysfs.read(path)
    except OSError:
        state = b""
    if state.startswith(b"sanitize"):
        log.err(func, f"{memdev.devname}: sanitize wake error\n")
        return -errno.ENXIO
    return 0


class SanitizeCommand(MemdevCommand):
    def action_wait_sanitize(self, memdev: Memdev) -> int:
        return wait_sanitize(memdev, self.values["timeout"])
