"""Device event logs and the trace events the kernel makes of them (``cxl monitor``).

Only cxl_test's mock has events to give: writing to its platform device's
``event_trigger`` refills its logs (cxl_test-platform.md §4.6), and the kernel drains them
at once, fatal log first, then failure, warning and informational: one trace event per
record (``cxl_generic_event``, ``cxl_general_media``, ``cxl_dram``, ``cxl_memory_module``)
and one ``cxl_overflow`` for a log that overflowed. The failure log holds 15 records, so two
of its 17 are lost and counted as overflow. Media events at a DPA a region maps name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from fake_sysfs.kernel.mailbox.poison import region_of
from fake_sysfs.kernel.tracefs import emit

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

MAINT_NEEDED_UUID = "ba5eba11-abcd-efeb-a55a-a55aa5a55aa5"
HW_REPLACE_UUID = "abcdefeb-ba11-ba5e-a55a-a55aa5a55aa5"
GEN_MEDIA_UUID = "fbcd0a77-c260-417f-85a9-088b1621eba6"
DRAM_UUID = "601dcbb3-9c06-4eab-b8af-4e9bfb5c9624"
MEM_MODULE_UUID = "fe927475-dd59-4339-a586-79bab113b774"
#: Records a mock log holds.
LOG_CAPACITY = 15


class Event(NamedTuple):
    kind: str
    uuid: str
    related: int = 0
    #: The header's flags (CXL_EVENT_RECORD_FLAG_*).
    flags: int = 0
    #: The record's own fields, as the kernel's trace event names them.
    fields: tuple[tuple[str, int | list[int]], ...] = ()
    dpa: int = 0


_DEADBEEF = [0xDE, 0xAD, 0xBE, 0xEF] + [0] * 76
_MAINT = Event("generic", MAINT_NEEDED_UUID, 0xA5B6, 0x8, (("data", _DEADBEEF),))
_HW_REPLACE = Event("generic", HW_REPLACE_UUID, 0xB6A5, 0x20, (("data", _DEADBEEF),))
_GEN_MEDIA = Event(
    "general_media",
    GEN_MEDIA_UUID,
    flags=0x4,
    fields=(
        ("descriptor", 1),  # uncorrectable
        ("type", 2),  # data path error
        ("transaction_type", 2),  # host write
        ("validity_flags", 0x3),  # channel, rank
        ("channel", 1),
        ("rank", 30),
    ),
    dpa=0x2000,
)
_DRAM = Event(
    "dram",
    DRAM_UUID,
    flags=0x4,
    fields=(
        ("descriptor", 2),  # threshold event
        ("type", 1),  # invalid address
        ("transaction_type", 5),  # internal media scrub
        ("validity_flags", 0x59),  # channel, bank group, bank, column
        ("channel", 1),
        ("bank_group", 5),
        ("bank", 2),
        ("column", 0xADDE),  # the bytes DE AD, little endian
    ),
    dpa=0x8000,
)
_MODULE = Event(
    "memory_module",
    MEM_MODULE_UUID,
    flags=0x20,
    fields=(
        ("event_type", 3),  # temperature change
        ("health_status", 0x7),
        ("media_status", 3),  # all data lost
        ("add_status", 0x38),
        ("device_temp", -21026),  # the bytes DE AD, as the s16 the kernel keeps
        ("dirty_shutdown_cnt", 0xEFBEADDE),
        ("cor_vol_err_cnt", 0xEFBEADDE),
        ("cor_per_err_cnt", 0xEFBEADDE),
    ),
)
#: The kernel's log numbers (enum cxl_event_log_type).
LOG_NUMBERS = {"Informational": 0, "Warning": 1, "Failure": 2, "Fatal": 3}
#: Every mock record's length.
RECORD_LENGTH = 128

#: The mock's logs, in the order the kernel drains them.
MOCK_LOGS: list[tuple[str, list[Event]]] = [
    ("Fatal", [_HW_REPLACE, _DRAM]),
    (
        "Failure",
        [_MAINT, _HW_REPLACE, _DRAM, _GEN_MEDIA, _MODULE, _HW_REPLACE, _DRAM] + [_HW_REPLACE] * 10,
    ),
    ("Warning", []),
    ("Informational", [_MAINT, _GEN_MEDIA, _MODULE]),
]


def _common(mem: Memdev, log: str) -> dict[str, Any]:
    return {
        "memdev": mem.name,
        "host": mem.parent.rpartition("/")[2],
        "serial": mem.serial,
        "log": LOG_NUMBERS[log],
    }


def _trace(k: Kernel, mem: Memdev, log: str, handle: int, ev: Event) -> None:
    values = _common(mem, log) | {
        "hdr_uuid": ev.uuid,
        "hdr_flags": ev.flags,
        "hdr_handle": handle,
        "hdr_related_handle": ev.related,
        "hdr_length": RECORD_LENGTH,
    }
    values.update(ev.fields)
    if ev.kind in ("general_media", "dram"):
        region, hpa = region_of(k, mem, ev.dpa)
        values["dpa"] = ev.dpa
        values["hpa"] = hpa
        values["region_name"] = "" if region is None else f"region{region.id}"
        if region is not None and region.uuid:  # a ram region has none: zeros
            values["region_uuid"] = region.uuid
    emit(k, f"cxl_{ev.kind}" if ev.kind != "generic" else "cxl_generic_event", values)


def trigger(k: Kernel, mem: Memdev) -> None:
    """The mock refills its logs; the kernel drains them into trace events."""
    for log, events in MOCK_LOGS:
        kept = events[:LOG_CAPACITY]
        lost = len(events) - len(kept)
        for handle, ev in enumerate(kept, start=1):
            _trace(k, mem, log, handle, ev)
            if handle == 1 and lost:
                # The first Get Event Records answer carries the overflow flag; the
                # clear that follows resets it.
                emit(k, "cxl_overflow", _common(mem, log) | {"count": lost})
