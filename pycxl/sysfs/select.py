"""Which /sys pycxl acts on.

``PYCXL_SYSFS_ROOT=DIR``: DIR is /sys, read and written with plain file I/O (a real /sys, a
FUSE mount, an exported tree); /dev is ``PYCXL_DEV_ROOT`` or else the ``dev`` directory beside
DIR (so ``/sys`` pairs with ``/dev``, and ``tree/sys`` with ``tree/dev``). Otherwise: the
emulated platform. The host's real /sys is never touched unless asked for this way.
"""

from __future__ import annotations

import os
import sys

from pycxl.sysfs.base import Sysfs


def open_sysfs() -> Sysfs:
    root = os.environ.get("PYCXL_SYSFS_ROOT")
    if root:
        from pathlib import Path

        from pycxl.sysfs.files import FileSysfs

        dev = os.environ.get("PYCXL_DEV_ROOT") or str(Path(root).resolve().parent / "dev")
        return FileSysfs(Path(root), Path(dev))
    from pycxl.sysfs.emulated import EmulatedSysfs

    return EmulatedSysfs()


def run_in_server(entry: str) -> int | None:
    """Run this process's command in the fork server of the emulated platform's state
    directory (``fake-sysfs serve``), if one serves it: its exit status, else None. A
    plain-file /sys is never served."""
    if os.environ.get("PYCXL_SYSFS_ROOT"):
        return None
    from fake_sysfs.frontends.forkclient import run_served

    return run_served(entry)


def release_caller(status: int) -> None:
    """The command is over for its caller (output written, changes durable): a command run
    by a fork server lets its caller go with ``status`` now, before the emulated sysfs keeps
    what it read for later runs. Nothing elsewhere."""
    served = sys.modules.get("fake_sysfs.frontends.forkclient")
    if served is not None:
        served.release_caller(status)
