"""Memdev mailbox commands, sent through ``/dev/cxl/memN``.

The node is checked before it is opened. Its ``stat`` (taken when the memdev was
enumerated, links resolved inside the /dev tree) must show a character device, and its
major:minor, which libcxl compares the opened node with, must also be the memdev's ``dev``
attribute (the kernel's own record of the memdev's number). Anything else (a regular file,
a FIFO, a planted node of another device, a memdev without a ``dev`` attribute) is refused
without being opened. Only then is the node opened (read-write, non-blocking, close-on-exec)
and re-checked with ``fstat``; only then would the query ioctl be issued. Each failure is
reported the way libcxl does, in three lines, and the caller gets no data.
"""

from __future__ import annotations

import errno
import os

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

_S_IFMT = 0o170000
_S_IFCHR = 0o020000


def _node_error(memdev: Memdev, path: str) -> int:
    """0 if ``path`` is ``memdev``'s node and can be opened, else the errno of the failure,
    with libcxl's first failure line logged."""
    ctx = memdev.ctx
    expected = (memdev.major, memdev.minor)
    if not memdev.node_is_char or memdev.dev_number() != expected:
        ctx.log.err("do_cmd", f"failed to validate {path} as a CXL memdev node\n")
        return errno.ENXIO
    try:
        fd = ctx.sysfs.open_dev(path)
    except OSError as e:
        err = e.errno or errno.EIO
        ctx.log.err("do_cmd", f"failed to open {path}: {os.strerror(err)}\n")
        return err
    try:
        st = os.fstat(fd)
        valid = (st.st_mode & _S_IFMT) == _S_IFCHR and (
            os.major(st.st_rdev),
            os.minor(st.st_rdev),
        ) == expected
    finally:
        os.close(fd)
    if not valid:
        ctx.log.err("do_cmd", f"failed to validate {path} as a CXL memdev node\n")
        return errno.ENXIO
    # A real memdev node: issuing CXL_MEM_QUERY_COMMANDS is not implemented yet.
    return errno.EOPNOTSUPP


def submit(memdev: Memdev, command: str) -> None:
    """Attempt ``command``; returns nothing because no answer can be obtained yet.

    Device answers (health, partition info, ...) come with the emulated mailbox in a later
    step; until then every attempt fails, on the emulation (the node has no driver) and on
    exported trees (the node is a plain file or an unregistered major).
    """
    del command
    ctx = memdev.ctx
    err = _node_error(memdev, f"/dev/cxl/{memdev.devname}")
    ctx.log.err("alloc_do_query", f"{memdev.devname}: query commands failed: {os.strerror(err)}\n")
    ctx.log.err("cxl_cmd_new_generic", f"{memdev.devname}: query returned: {os.strerror(err)}\n")
