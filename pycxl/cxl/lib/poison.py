"""Media errors (``cxl list -L``): the device's poison list, read through the kernel's
``cxl_poison`` trace events, as libcxl v81 does it (cxl/json.c).

Writing to a memdev's ``trigger_poison_list`` makes the kernel read the device's list and
record one ``cxl_poison`` event per record. The listing uses a private tracefs instance,
``cxl list`` (made if missing, never removed: upstream frees its handle only): it enables
the event there (and tracing, if off), triggers, turns tracing off, then reads and consumes
the instance's binary buffers, keeping the ``cxl_poison`` records this process made
(common_pid), for a region only those naming it. The global tracing is never touched.

On the emulated platform (which only this tool uses) the instance is set up once, before
the listing reads anything (``prepare``), and tracing is left on in it: the switches
upstream makes per memdev are then stores of what is already there, answered like reads,
and a listing whose devices hold no poison changes nothing. It shows one state, stays
cached, and costs no commit per memdev; a store in the middle of a listing would answer
the rest of it from a state other commands may have changed since it began.
"""

from __future__ import annotations

import errno
import os
import sys

from pycxl.util import event_trace, tracefs
from pycxl.util.human import hex_value, size_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.region import Region
    from pycxl.sysfs.base import Sysfs
    from pycxl.util.tracefs import Record

INSTANCE = "cxl list"
#: CXL 3.1 Table 8-140: sources 4-6 are reserved.
_SOURCES = (
    "Unknown",
    "External",
    "Internal",
    "Injected",
    "Reserved",
    "Reserved",
    "Reserved",
    "Vendor Specific",
)
ULLONG_MAX = (1 << 64) - 1


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


def _record(record: Record, offset: int | None, human: bool) -> dict[str, Any]:
    """poison_event_to_json()."""
    obj: dict[str, Any] = {}
    if offset is not None:
        obj["offset"] = hex_value(offset, human)
    obj["length"] = size_value(event_trace.field_u32(record, "dpa_length"), human)
    source = event_trace.field_u8(record, "source")
    obj["source"] = _SOURCES[source] if source < len(_SOURCES) else "Reserved"
    flags = event_trace.field_u8(record, "flags")
    if 0 < flags < 0xFF:
        obj["flags"] = "".join(
            text for bit, text in ((1, "More,"), (4, "Scanning,"), (2, "Overflow,")) if flags & bit
        )
        if flags & 2:
            obj["overflow_t"] = hex_value(event_trace.field_u64(record, "overflow_ts"), human)
    return obj


def prepare(sysfs: Sysfs) -> None:
    """Before a listing with media errors reads anything, on the emulated platform: the
    instance made and the ``cxl_poison`` event and tracing on there (see above)."""
    if not sysfs.emulated:
        return
    tracing = tracefs.tracing_dir(sysfs)
    if tracing is None:
        return
    inst = tracefs.Instance(sysfs, tracing, INSTANCE)
    if _ready(inst):
        return  # set up by an earlier listing: nothing to store, nothing to hold
    # Two stores, each applied to the state committed when it is made: were another
    # command to replace the state between them, the state held after the second would
    # lack the instance, and the listing would make it again halfway through, answering
    # the rest from whatever is committed then. So no other store lands between them,
    # and they start from the state committed now (another listing may have set the
    # instance up since this one began: making it again would be refused).
    with sysfs.exclusive():
        sysfs.refresh()
        if _ready(inst):
            return
        made = tracefs.Instance.create(sysfs, INSTANCE)
        if made is not None:
            event_trace.event_enable(made, "cxl", "cxl_poison")
            # Asked again of the state held now, whose answers are kept for later runs:
            # the next listing finds it set up without loading the kernel.
            _ready(made)


def _ready(inst: tracefs.Instance) -> bool:
    try:
        enabled = inst.sysfs.read(f"{inst.dir}/events/cxl/cxl_poison/enable").strip()
    except OSError:
        return False
    return enabled == b"1" and inst.is_on()


def _poison_records(sysfs: Sysfs, triggers: list[Memdev]) -> list[Record] | None:
    """util_cxl_poison_list_to_json() up to the parse: this process's ``cxl_poison``
    records after triggering each memdev, or None (after upstream's line, if any)."""
    inst = tracefs.Instance.create(sysfs, INSTANCE)
    if inst is None:
        sys.stderr.write("tracefs_instance_create() failed\n")
        return None
    rc = event_trace.event_enable(inst, "cxl", "cxl_poison")
    if rc < 0:
        sys.stderr.write(f"Failed to enable trace: {rc}\n")
        return None
    for memdev in triggers:
        if trigger(memdev):
            return None  # tracing stays on in the instance, as upstream leaves it
    rc = 0 if sysfs.emulated else inst.trace_off()
    if rc < 0:
        sys.stderr.write(f"Failed to disable trace: {rc}\n")
        return None
    try:
        records = inst.read_raw("cxl")
    except OSError as e:
        sys.stderr.write(f"Failed to parse events: {-(e.errno or errno.EIO)}\n")
        return None
    pid = os.getpid()
    return [
        r
        for r in records
        if r.event.system == "cxl" and r.event.name == "cxl_poison" and r.pid == pid
    ]


def memdev_media_errors(memdev: Memdev, human: bool) -> list[dict[str, Any]] | None:
    """The ``media_errors`` of a memdev (DPA offsets), None when there are none or they
    cannot be read."""
    records = _poison_records(memdev.ctx.sysfs, [memdev])
    if not records:
        return None
    out = []
    for r in records:
        dpa = event_trace.field_u64(r, "dpa")
        out.append(_record(r, None if dpa == ULLONG_MAX else dpa, human))
    return out


def region_media_errors(region: Region, human: bool) -> list[dict[str, Any]] | None:
    """The ``media_errors`` of a region (offsets into the region): each mapped memdev
    triggered in mapping order, the records naming the region kept."""
    memdevs = []
    for mapping in region.mappings():
        memdev = mapping.decoder.memdev()
        if memdev is not None:
            memdevs.append(memdev)
    records = _poison_records(region.ctx.sysfs, memdevs)
    if not records:
        return None
    out = []
    for r in records:
        if event_trace.field_str(r, "region") != region.devname:
            continue
        hpa = event_trace.field_u64(r, "hpa")
        offset = None if hpa == ULLONG_MAX else (hpa - region.start) & ULLONG_MAX
        out.append(_record(r, offset, human))
    return out or None
