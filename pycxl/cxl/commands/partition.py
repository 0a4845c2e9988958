"""``cxl set-partition``: plan the split of a device's partitionable capacity between
volatile and persistent for its next cold reset (Set Partition Info, "next boot").

Identify gives the partitionable capacity and its alignment; the requested size is turned
into the volatile part, checked against both, and sent. Validation failures leave no JSON;
once the command was attempted the memdev is printed with its ``partition_info`` (which
then shows the pending ``next_*`` sizes), whether it worked or not.
"""

from __future__ import annotations

import errno
import os

from pycxl.cxl.commands.memdev import BASE_OPTIONS, MemdevCommand
from pycxl.cxl.lib import mbox_cmds as mb
from pycxl.cxl.lib.mailbox import Cmd
from pycxl.util.cparse import ULLONG_MAX
from pycxl.util.parse_options import Opt
from pycxl.util.size import parse_size64

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

OPTIONS = [
    *BASE_OPTIONS,
    Opt("t", "type", "string", "'pmem' or 'ram' (volatile) (Default: 'pmem')", argh="type"),
    Opt("s", "size", "string", "size in bytes (Default: all available capacity)", argh="size"),
    Opt("a", "align", "bool", "auto-align --size per device's requirement"),
]


class PartitionCommand(MemdevCommand):
    def _volatile_size(self, memdev: Memdev, ram: bool) -> int:
        """Identify, then the volatile size the request means: >= 0, or -errno after
        saying why."""
        log, name = self.log, memdev.devname
        cmd = mb.new_identify(memdev)
        if cmd is None:
            return -errno.ENXIO
        rc = cmd.submit()
        if rc < 0 or cmd.status != 0:
            return -errno.EINVAL
        total, vol_only, pers_only, align = mb.identify_capacities(cmd)
        if align == 0:
            log.err("validate_partition", f"{name}: no available capacity\n")
            return -errno.EINVAL
        available = total - vol_only - pers_only
        size_arg: str | None = self.values["size"]
        if size_arg is None:
            volatile = available if ram else 0
        else:
            size = parse_size64(size_arg)
            if size > available:
                log.err(
                    "param_size_to_volatile_size",
                    f"{name}: {size} exceeds available capacity {available}\n",
                )
                return -errno.EINVAL
            volatile = size if ram else available - size
        if volatile % align:
            if not self.values["align"]:
                log.err(
                    "partition_align", f"{name}: size {volatile} is not partition aligned {align}\n"
                )
                return -errno.EINVAL
            volatile = (volatile // align + (1 if ram else 0)) * align
            if volatile > available:
                log.err(
                    "partition_align",
                    f"{name}: aligned partition size {volatile} exceeds available size "
                    f"{available}\n",
                )
                return -errno.EINVAL
        return volatile

    def action_setpartition(self, memdev: Memdev) -> int:
        log, func = self.log, "action_setpartition"
        kind: str | None = self.values["type"]
        if kind is None or kind == "pmem":
            ram = False
        elif kind in ("ram", "volatile"):
            ram = True
        else:
            log.err(func, f"invalid type '{kind}'\n")
            return -errno.EINVAL
        size_arg: str | None = self.values["size"]
        if size_arg is not None and parse_size64(size_arg) == ULLONG_MAX:
            log.err(func, f"{memdev.devname}: failed to parse size option '{size_arg}'\n")
            return -errno.EINVAL
        volatile = self._volatile_size(memdev, ram)
        if volatile < 0:
            return volatile
        rc = _set_partition(memdev, volatile, log)
        if rc:
            log.err(func, f"{memdev.devname} error: {os.strerror(-rc)}\n")
        from pycxl.cxl.json import Flags, memdev_json

        assert self.jdevs is not None
        self.jdevs.append(memdev_json(memdev, Flags(partition=True, human=os.isatty(1))))
        return rc


def _set_partition(memdev: Memdev, volatile: int, log: object) -> int:
    from pycxl.util.log import Log

    assert isinstance(log, Log)
    func = "action_setpartition"
    cmd: Cmd | None = mb.new_set_partition(memdev, volatile)
    if cmd is None:
        return -errno.ENXIO
    rc = cmd.submit()
    if rc < 0:
        log.err(func, f"cmd submission failed: {os.strerror(-rc)}\n")
        return rc
    if cmd.status != 0:
        log.err(func, f"{func}: mbox status: {cmd.status}\n")
        return -errno.ENXIO
    return 0
