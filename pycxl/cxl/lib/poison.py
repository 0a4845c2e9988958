"""Media errors (``cxl list -L``): the device's poison list, read through the kernel's
``cxl_poison`` trace events.

Writing to a memdev's ``trigger_poison_list`` makes the kernel read the device's list and
record one ``cxl_poison`` event per record. libcxl reads them back through a private
tracefs instance; this reads the ``trace`` file of tracefs (``/sys/kernel/tracing``):
the records written while the memdev was triggered (``entries-written`` before and after)
that are list events of that memdev (or, for a region, of that region). The event is
enabled for the read and put back as it was.
"""

from __future__ import annotations

import errno
import sys

from pycxl.util.human import hex_value, size_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.region import Region
    from pycxl.sysfs.base import Sysfs

TRACING = "/sys/kernel/tracing"
ENABLE = f"{TRACING}/events/cxl/cxl_poison/enable"
_SOURCES = {
    "Unknown": "Unknown",
    "External": "External",
    "Internal": "Internal",
    "Injected": "Injected",
    "Vendor": "Vendor Specific",
}
_FLAG_BITS = (("More", 1), ("Overflow", 2), ("Scanning", 4))
ULLONG_MAX = (1 << 64) - 1


def _written(text: bytes) -> int:
    """``entries-written`` of the trace header."""
    for line in text.splitlines():
        if line.startswith(b"# entries-in-buffer/entries-written:"):
            counts = line.split(b":", 1)[1].split()[0]
            return int(counts.split(b"/")[1])
    return 0


def _fields(line: str) -> dict[str, str]:
    body = line.split(": cxl_poison: ", 1)[1]
    fields: dict[str, str] = {}
    for word in body.split(" "):
        key, _, value = word.partition("=")
        fields[key] = value
    return fields


def prepare_tracing(sysfs: Sysfs, turned_on: list[str] | None = None) -> int:
    """Turn tracing and the ``cxl_poison`` event on where they are not: 0 or -errno.
    Nothing is written when they are on already. On the emulated platform they are left
    on, so that a listing that finds nothing stays a read of the kernel (upstream reads
    through a private tracefs instance, which this tracefs does not have); the paths
    turned on are added to ``turned_on`` for a caller on a real /sys to turn off again
    (``restore_tracing``). A listing calls this before it reads anything, so that what it
    reads belongs to the state it then has."""
    paths = (ENABLE, f"{TRACING}/tracing_on")
    try:
        off = [path for path in paths if sysfs.read(path).strip() != b"1"]
        for path in off:
            sysfs.write(path, b"1\n\0")
            if turned_on is not None:
                turned_on.append(path)
        if off:
            for path in paths:  # read again: what this state answers is remembered
                sysfs.read(path)
    except OSError as e:
        return -(e.errno or errno.EIO)
    return 0


def restore_tracing(sysfs: Sysfs, turned_on: list[str]) -> None:
    """Turn off again what ``prepare_tracing`` turned on, except on the emulated platform
    (whose tracing is this tool's own): a real machine's global tracing is left as it was
    found, as upstream's private instance leaves it."""
    if sysfs.emulated:
        return
    for path in reversed(turned_on):
        try:  # noqa: SIM105 - contextlib is an import a listing does without
            sysfs.write(path, b"0\n\0")
        except OSError:
            pass  # best effort: the listing itself succeeded


class _Trace:
    """One read of the poison records a trigger makes."""

    def __init__(self, sysfs: Sysfs) -> None:
        self.sysfs = sysfs

    def start(self) -> bool:
        if not self.sysfs.exists(ENABLE):
            sys.stderr.write("tracefs_instance_create() failed\n")
            return False
        rc = prepare_tracing(self.sysfs)
        if rc:
            sys.stderr.write(f"Failed to enable trace: {rc}\n")
            return False
        return True

    def mark(self) -> int:
        try:
            return _written(self.sysfs.read(f"{TRACING}/trace"))
        except OSError:
            return 0

    def since(self, mark: int) -> list[dict[str, str]]:
        try:
            text = self.sysfs.read(f"{TRACING}/trace")
        except OSError as e:
            sys.stderr.write(f"Failed to parse events: {-(e.errno or errno.EIO)}\n")
            return []
        new = _written(text) - mark
        lines = [line for line in text.decode(errors="replace").splitlines() if line[:1] != "#"]
        fresh = lines[len(lines) - new :] if new > 0 else []
        return [_fields(line) for line in fresh if ": cxl_poison: " in line]

    def stop(self) -> None:
        """Tracing stays on (see ``prepare_tracing``)."""


def trigger(memdev: Memdev) -> int:
    """``cxl_memdev_trigger_poison_list``: 0 or -errno, after libcxl's line."""
    path = f"{memdev.dev_path}/trigger_poison_list"
    log = memdev.ctx.log
    if not memdev.ctx.sysfs.exists(path):
        log.err(
            "cxl_memdev_trigger_poison_list",
            f"{memdev.devname}: trigger_poison_list unsupported by device\n",
        )
        return -errno.ENXIO
    rc = memdev.ctx.write_attr(path, "1\n")
    if rc < 0:
        log.err("cxl_memdev_trigger_poison_list", f"{memdev.devname}: Failed trigger_poison_list\n")
    return rc


def _record(fields: dict[str, str], offset: int, human: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "offset": hex_value(offset, human),
        "length": size_value(int(fields.get("dpa_length", "0"), 16), human),
        "source": _SOURCES.get(fields.get("source", ""), "Reserved"),
    }
    names = fields.get("flags", "").split("|")
    flags = sum(bit for name, bit in _FLAG_BITS if name in names)
    if 0 < flags < 255:
        obj["flags"] = "".join(
            f"{name}," for name, bit in (("More", 1), ("Scanning", 4), ("Overflow", 2))
            if flags & bit
        )  # fmt: skip
        if flags & 2:
            obj["overflow_t"] = hex_value(int(fields.get("overflow_time", "0")), human)
    return obj


def memdev_media_errors(memdev: Memdev, human: bool) -> list[dict[str, Any]] | None:
    """The ``media_errors`` of a memdev (DPA offsets), None when there are none or they
    cannot be read."""
    trace = _Trace(memdev.ctx.sysfs)
    if not trace.start():
        return None
    try:
        mark = trace.mark()
        if trigger(memdev) < 0:
            return None
        records = [
            f
            for f in trace.since(mark)
            if f.get("trace_type") == "List" and f.get("memdev") == memdev.devname
        ]
    finally:
        trace.stop()
    if not records:
        return None
    return [_record(f, int(f.get("dpa", "0"), 16), human) for f in records]


def region_media_errors(region: Region, human: bool) -> list[dict[str, Any]] | None:
    """The ``media_errors`` of a region (offsets into the region), from each mapped
    memdev in turn, highest position first."""
    trace = _Trace(region.ctx.sysfs)
    if not trace.start():
        return None
    try:
        mark = trace.mark()
        for mapping in region.mappings():
            memdev = mapping.decoder.memdev()
            if memdev is None or trigger(memdev) < 0:
                break
        records = [
            f
            for f in trace.since(mark)
            if f.get("trace_type") == "List" and f.get("region") == region.devname
        ]
    finally:
        trace.stop()
    if not records:
        return None
    out = []
    for f in records:
        hpa = int(f.get("hpa", "0"), 16)
        out.append(_record(f, (hpa - region.start) & ULLONG_MAX, human))
    return out
