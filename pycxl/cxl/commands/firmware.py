"""``cxl update-firmware``: start a firmware update through the memdev's firmware-upload
device, optionally wait for it (``--wait``) or cancel a running one (``--cancel``); the
memdev is printed with its ``firmware`` object afterwards (not after a cancel)."""

from __future__ import annotations

import os
import time

from pycxl.cxl.commands.memdev import BASE_OPTIONS, MemdevCommand
from pycxl.cxl.lib.fwload import (
    cancel_fw_update,
    fw_update_in_progress,
    fw_update_remaining,
    update_fw,
)
from pycxl.util.parse_options import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

OPTIONS = [
    *BASE_OPTIONS,
    Opt(
        "F",
        "firmware-file",
        "filename",
        "firmware image file to use for the update",
        argh="firmware-file",
    ),
    Opt("c", "cancel", "bool", "attempt to abort an in-progress firmware update"),
    Opt("w", "wait", "bool", "wait for firmware update to complete before returning"),
]

#: How long ``--wait`` sleeps between looks, as upstream (one second).
POLL_SECONDS = 1.0


class FirmwareCommand(MemdevCommand):
    def summary_fields(self) -> dict[str, str]:
        if self.values["cancel"]:
            return {"verb": "cancelled"}
        return {"verb": "completed" if self.values["wait"] else "started"}

    def action_update_fw(self, memdev: Memdev) -> int:
        if self.values["cancel"]:
            return cancel_fw_update(memdev)
        rc = 0
        image: str | None = self.values["firmware_file"]
        if image is not None:
            rc = update_fw(memdev, image)
            if rc:
                self.log.err("action_update_fw", f"{memdev.devname} error: {os.strerror(-rc)}\n")
        if self.values["wait"] and not rc:
            sysfs = memdev.ctx.sysfs
            while True:
                sysfs.refresh()
                if not fw_update_in_progress(memdev) and not fw_update_remaining(memdev):
                    break
                time.sleep(POLL_SECONDS)
            sysfs.refresh()
        from pycxl.cxl.json import Flags, memdev_json

        assert self.jdevs is not None
        self.jdevs.append(memdev_json(memdev, Flags(firmware=True, human=os.isatty(1))))
        return rc
