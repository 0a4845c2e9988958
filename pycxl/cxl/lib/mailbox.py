"""Memdev mailbox commands, sent through ``/dev/cxl/memN``.

The node is opened read-write and validated: it must be the character device seen when the
memdev was enumerated. Only then would the query ioctl be issued. Each failure is reported
the way libcxl does, in three lines, and the caller gets no data.
"""

from __future__ import annotations

import errno
import os

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev


def submit(memdev: Memdev, command: str) -> None:
    """Attempt ``command``; returns nothing because no answer can be obtained yet.

    Device answers (health, partition info, ...) come with the emulated mailbox in a later
    step; until then every attempt fails, on the emulation (the node has no driver) and on
    exported trees (the node is a plain file or an unregistered major).
    """
    del command
    ctx = memdev.ctx
    path = f"/dev/cxl/{memdev.devname}"
    try:
        fd = ctx.sysfs.open_dev(path)
    except OSError as e:
        err = e.errno or errno.EIO
        ctx.log.err("do_cmd", f"failed to open {path}: {os.strerror(err)}\n")
    else:
        try:
            st = os.fstat(fd)
            valid = (
                (st.st_mode & 0o170000) == 0o020000
                and os.major(st.st_rdev) == memdev.major
                and os.minor(st.st_rdev) == memdev.minor
            )
        finally:
            os.close(fd)
        if valid:
            # A real memdev node: issuing CXL_MEM_QUERY_COMMANDS is not implemented yet.
            err = errno.EOPNOTSUPP
        else:
            ctx.log.err("do_cmd", f"failed to validate {path} as a CXL memdev node\n")
            err = errno.ENXIO
    ctx.log.err("alloc_do_query", f"{memdev.devname}: query commands failed: {os.strerror(err)}\n")
    ctx.log.err("cxl_cmd_new_generic", f"{memdev.devname}: query returned: {os.strerror(err)}\n")
