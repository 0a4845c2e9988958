"""Which /sys pycxl acts on.

``PYCXL_SYSFS_ROOT=DIR``: DIR is /sys, read and written with plain file I/O (a real /sys, a
FUSE mount, an exported tree); /dev is ``PYCXL_DEV_ROOT`` or else the ``dev`` directory beside
DIR (so ``/sys`` pairs with ``/dev``, and ``tree/sys`` with ``tree/dev``). Otherwise: the
emulated platform. The host's real /sys is never touched unless asked for this way.
"""

from __future__ import annotations

import os

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
