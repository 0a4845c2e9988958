"""The emulated kernel log: the printk ring buffer that ``dmesg`` and ``journalctl -k`` read.

A record holds a sequence number, the time since boot, a level, the device and the message.
Stores that refuse record why, in the words the real kernel prints with dev_dbg / dev_err,
so a user sees what an emulated kernel would have said. Debug records are kept as if dynamic
debug were enabled for the CXL modules.

The log is part of the kernel state, so it is written only inside a state transaction (a
store); reads never log.

Clock. Records made while the kernel boots get fixed times (a platform always boots to the
same state). The emulated machine is taken to have booted just before its first record after
boot: that record anchors uptime 0 in wall-clock time, and later records advance with the
real clock, never backwards.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fake_sysfs.kernel import changes
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.core import Device

#: printk levels (KERN_ERR, KERN_WARNING, KERN_INFO, KERN_DEBUG).
ERR, WARN, INFO, DEBUG = 3, 4, 6, 7
#: Records the ring keeps; older ones are dropped (the kernel's buffer is bounded too).
CAPACITY = 1024
#: Boot-time records: the first at 1 s, then evenly spaced.
BOOT_FIRST_US = 1_000_000
BOOT_STEP_US = 137
#: How long after the last boot record the first live one comes.
LIVE_GAP_US = 500_000

#: The wall clock (seconds since the epoch); tests may replace it.
wall_clock = time.time


@dataclass(eq=False, repr=False)
class LogRecord(Record):
    seq: int
    #: Microseconds since boot.
    usec: int
    level: int
    #: The device's name, "" for a message about no device.
    device: str
    #: What precedes the device name: its driver, else its bus or class (dev_driver_string).
    driver: str
    message: str

    @property
    def text(self) -> str:
        """The line as the kernel prints it, without the timestamp."""
        prefix = " ".join(p for p in (self.driver, self.device) if p)
        return f"{prefix}: {self.message}" if prefix else self.message

    def dmesg(self) -> str:
        """``[    1.234567] cxl_region region0: ...``, as dmesg prints it."""
        return f"[{self.usec // 1_000_000:5d}.{self.usec % 1_000_000:06d}] {self.text}"


@dataclass(eq=False, repr=False)
class Log(Record):
    records: list[LogRecord] = field(default_factory=list)
    #: Sequence number of the next record (never reused, not even after a clear).
    next_seq: int = 0
    #: Wall-clock time of uptime 0; None until the first record after boot.
    boot_wall: float | None = None
    #: False while the kernel boots (fixed record times), True afterwards.
    booted: bool = False

    # -- recording -------------------------------------------------------------------------

    def dbg(self, dev: Device | str | None, message: str) -> None:
        self.add(DEBUG, dev, message)

    def info(self, dev: Device | str | None, message: str) -> None:
        self.add(INFO, dev, message)

    def warn(self, dev: Device | str | None, message: str) -> None:
        self.add(WARN, dev, message)

    def err(self, dev: Device | str | None, message: str) -> None:
        self.add(ERR, dev, message)

    def add(self, level: int, who: Device | str | None, message: str) -> LogRecord:
        """Record ``message`` about ``who``: a device, a bus or driver name, or nothing."""
        if who is None:
            device, driver = "", ""
        elif isinstance(who, str):
            device, driver = who, ""
        else:
            device, driver = who.name, who.driver_string()
        record = LogRecord(self.next_seq, self._now_us(), level, device, driver, message)
        self.next_seq += 1
        self.records.append(record)
        if len(self.records) > CAPACITY:
            del self.records[: len(self.records) - CAPACITY]
        return record

    def replay(self, records: list[LogRecord]) -> None:
        """Record ``records`` again, as new records (see kernfs.transact)."""
        for r in records:
            record = LogRecord(
                self.next_seq, self._now_us(), r.level, r.device, r.driver, r.message
            )
            self.next_seq += 1
            self.records.append(record)
        if len(self.records) > CAPACITY:
            del self.records[: len(self.records) - CAPACITY]

    def boot_done(self) -> None:
        self.booted = True

    def clear(self) -> None:
        self.records.clear()

    def _last_us(self) -> int:
        return self.records[-1].usec if self.records else 0

    def _now_us(self) -> int:
        if not self.booted:
            if not self.records:
                return BOOT_FIRST_US
            return self._last_us() + BOOT_STEP_US
        now = wall_clock()
        if self.boot_wall is None:
            self.boot_wall = now - (self._last_us() + LIVE_GAP_US) / 1e6
        return max(self._last_us(), int((now - self.boot_wall) * 1e6))

    # -- reading ---------------------------------------------------------------------------

    def mark(self) -> int:
        """A position in the log: ``since(mark)`` gives what was recorded after it."""
        return self.next_seq

    def since(self, mark: int) -> list[LogRecord]:
        return [r for r in self.records if r.seq >= mark]

    def wall_time(self, record: LogRecord, now: float) -> float:
        """When ``record`` was made, in wall-clock time. Before any record after boot the
        machine has not run since booting: its boot is placed so that the last record is now.
        """
        if self.boot_wall is not None:
            return self.boot_wall + record.usec / 1e6
        return now - (self._last_us() - record.usec) / 1e6


def select(log: Log, since: str | None) -> list[LogRecord]:
    """The records ``dmesg --since`` keeps. ``since`` is a sequence number (an integer) or a
    time since boot in seconds as dmesg prints it (with a decimal point, or an ``s``
    suffix). ValueError if it is neither."""
    if since is None:
        return list(log.records)
    text = since.strip()
    if text.isdigit():
        seq = int(text)
        return [r for r in log.records if r.seq >= seq]
    number = text[:-1] if text.endswith("s") else text
    try:
        seconds = float(number)
    except ValueError:
        raise ValueError(
            f"--since {since!r}: give a sequence number or a time such as 1.5 or 1.5s"
        ) from None
    if not 0 <= seconds < float("inf"):
        raise ValueError(f"--since {since!r}: not a time since boot")
    limit = round(seconds * 1e6)
    return [r for r in log.records if r.usec >= limit]


def journal(
    log: Log,
    now: float | None = None,
    since: float | None = None,
    reverse: bool = False,
    hostname: str = "localhost",
) -> str:
    """The log as ``journalctl -k`` prints it: ``Mmm DD HH:MM:SS host kernel: ...`` lines,
    oldest first (newest first with ``reverse``, as ``-r``), only records made at or after
    the wall-clock time ``since`` when given. Upstream's test scripts check that
    ``journalctl -r -k --since -Ns`` holds no ``Call Trace``."""
    now = wall_clock() if now is None else now
    lines: list[str] = []
    for r in log.records:
        when = log.wall_time(r, now)
        if since is not None and when < since:
            continue
        stamp = time.strftime("%b %d %H:%M:%S", time.localtime(when))
        lines.append(f"{stamp} {hostname} kernel: {r.text}\n")
    if reverse:
        lines.reverse()
    return "".join(lines) if lines else "-- No entries --\n"


def journal_since(text: str, now: float | None = None) -> float:
    """A ``journalctl --since`` value as a wall-clock time: ``-N``/``-Ns`` (N seconds ago,
    as upstream's check_dmesg passes it), ``@EPOCH``, or ``now``. ValueError otherwise."""
    now = wall_clock() if now is None else now
    value = text.strip()
    if value == "now":
        return now
    if value.startswith("@"):
        return float(value[1:])
    if value.startswith("-"):
        number = value[1:-1] if value.endswith("s") else value[1:]
        return now - float(number)
    raise ValueError(f"--since {text!r}: give -SECONDS[s], @EPOCH or now")


# The kernel log is no sysfs file: a store that only logs changes no device's answers.
changes.shown_nowhere(Log, LogRecord)
