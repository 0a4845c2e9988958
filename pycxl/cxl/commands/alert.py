"""``cxl set-alert-config``: program the device's warning thresholds (Set Alert
Configuration) for life used, over- and under-temperature and corrected volatile and
persistent memory errors.

Each alert is ``on`` with a threshold, ``off`` without one, or left alone; the options are
checked per memdev (messages, no JSON, on a mistake), then one command carries every alert
asked for. The memdev is printed with its ``alert_config`` whether the command worked.
"""

from __future__ import annotations

import errno
import os
import struct

from pycxl.cxl.commands.memdev import BASE_OPTIONS, MemdevCommand
from pycxl.cxl.lib import mbox_cmds as mb
from pycxl.util.parse_options import Opt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.memdev import Memdev

#: (option stem, short option, what it guards, the threshold's valid range, range message).
_ALERTS = [
    ("life-used", "L", "life used", (0, 100), "Invalid life used threshold"),
    (
        "over-temperature",
        "O",
        "device over temperature",
        (-32768, 32767),
        "Invalid device temperature threshold",
    ),
    (
        "under-temperature",
        "U",
        "device under temperature",
        (-32768, 32767),
        "Invalid device temperature threshold",
    ),
    (
        "volatile-mem-err",
        "V",
        "corrected volatile mem error",
        (0, 65535),
        "Invalid corrected mem error threshold",
    ),
    ("pmem-err", "P", "corrected pmem error", (0, 65535), "Invalid corrected mem error threshold"),
]

OPTIONS = [*BASE_OPTIONS]
for _stem, _short, _what, _range, _msg in _ALERTS:
    OPTIONS.append(
        Opt(
            _short,
            f"{_stem}-threshold",
            "string",
            f"threshold value for {_what} warning alert",
            argh="threshold",
        )
    )
    OPTIONS.append(
        Opt(
            None,
            f"{_stem}-alert",
            "string",
            f"enable or disable {_what} warning alert",
            argh="'on' or 'off'",
        )
    )


def _strtol10(text: str) -> int | None:
    """strtol(text, &end, 10) stored in an int; None when anything is left after the
    number (with no digits at all, everything is: only "" reads as 0)."""
    s = text.lstrip(" \t\n\v\f\r")
    sign = s[:1] if s[:1] in ("+", "-") else ""
    digits = s[len(sign) :]
    count = len(digits) - len(digits.lstrip("0123456789"))
    if count == 0:
        return 0 if text == "" else None
    if digits[count:]:
        return None
    value = int(digits[:count]) * (-1 if sign == "-" else 1)
    value = max(min(value, (1 << 63) - 1), -(1 << 63))  # strtol saturates a long
    value &= 0xFFFF_FFFF  # which the threshold field (an int) truncates
    return value - (1 << 32) if value & 0x8000_0000 else value


class AlertCommand(MemdevCommand):
    def _request(self) -> tuple[int, int, list[int]] | int:
        """(valid mask, enable mask, thresholds) from the options, or -errno after the
        message."""
        log, func = self.log, "action_set_alert_config"
        valid = enable = 0
        thresholds = [0] * len(_ALERTS)
        for i, (stem, _, _, (low, high), msg) in enumerate(_ALERTS):
            key = stem.replace("-", "_")
            alert: str | None = self.values[f"{key}_alert"]
            threshold: str | None = self.values[f"{key}_threshold"]
            if alert is None:
                if threshold is not None:
                    log.err(func, "Action not specified\n")
                    return -errno.EINVAL
            elif alert == "on":
                if threshold is None:
                    log.err(func, "Threshold not specified\n")
                    return -errno.EINVAL
                value = _strtol10(threshold)
                if value is None:
                    log.err(func, f"Invalid threshold: {threshold}\n")
                    return -errno.EINVAL
                if not low <= value <= high:
                    log.err("validate_alert_threshold", f"{msg}: {value}\n")
                    return -errno.EINVAL
                thresholds[i] = value
                valid |= 1 << i
                enable |= 1 << i
            elif alert == "off":
                if threshold is not None:
                    log.err(func, "Disable not require threshold\n")
                    return -errno.EINVAL
                valid |= 1 << i
            else:
                log.err(func, f"Invalid action: {alert}\n")
                return -errno.EINVAL
        if not valid:
            log.err(func, "No action specified\n")
            return -errno.EINVAL
        return valid, enable, thresholds

    def action_set_alert_config(self, memdev: Memdev) -> int:
        request = self._request()
        if isinstance(request, int):
            return request
        valid, enable, (life, over, under, vol, pmem) = request
        log, func = self.log, "action_set_alert_config"
        cmd = mb.new_set_alert_config(memdev)
        if cmd is None:
            rc = -errno.ENXIO
        else:
            struct.pack_into(
                "<BBBBHHHH",
                cmd.input,
                0,
                valid,
                enable,
                life & 0xFF,
                0,
                over & 0xFFFF,
                under & 0xFFFF,
                vol & 0xFFFF,
                pmem & 0xFFFF,
            )
            rc = cmd.submit()
            if rc < 0:
                log.err(func, f"cmd submission failed: {os.strerror(-rc)}\n")
            elif cmd.status != 0:
                log.err(func, f"{func}: mbox status: {cmd.status}\n")
                rc = -errno.ENXIO
        if rc:
            log.err(func, f"{memdev.devname} error: {os.strerror(-rc)}\n")
        from pycxl.cxl.json import Flags, memdev_json

        assert self.jdevs is not None
        self.jdevs.append(memdev_json(memdev, Flags(alert_config=True, human=os.isatty(1))))
        return rc
