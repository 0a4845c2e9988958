"""Device event logs and the trace events the kernel makes of them (``cxl monitor``).

Only cxl_test's mock has events to give: writing to its platform device's
``event_trigger`` refills its logs (cxl_test-platform.md §4.6), and the kernel drains them
at once, fatal log first, then failure, warning and informational: one trace event per
record (``cxl_generic_event``, ``cxl_general_media``, ``cxl_dram``, ``cxl_memory_module``)
and one ``cxl_overflow`` for a log that overflowed. The failure log holds 15 records, so two
of its 17 are lost and counted as overflow. Media events at a DPA a region maps name it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

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
    dpa: int = 0


_MAINT = Event("generic", MAINT_NEEDED_UUID, 0xA5B6)
_HW_REPLACE = Event("generic", HW_REPLACE_UUID, 0xB6A5)
_GEN_MEDIA = Event("general_media", GEN_MEDIA_UUID, dpa=0x2000)
_DRAM = Event("dram", DRAM_UUID, dpa=0x8000)
_MODULE = Event("memory_module", MEM_MODULE_UUID)

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


def _header(mem: Memdev, log: str) -> str:
    host = mem.parent.rpartition("/")[2]
    return f"memdev={mem.name} host={host} serial={mem.serial}: log={log} : "


def _trace(k: Kernel, mem: Memdev, log: str, handle: int, ev: Event) -> None:
    head = _header(mem, log) + (
        f"time=0 uuid={ev.uuid} len=128 flags='' handle={handle:x} "
        f"related_handle={ev.related:x} maint_op_class=0 maint_op_sub_class=0 : "
    )
    if ev.kind == "generic":
        emit(k, "cxl_generic_event", head + "data=00")
        return
    if ev.kind == "memory_module":
        emit(k, "cxl_memory_module", head + "event_type='Temperature Change'")
        return
    region, hpa = region_of(k, mem, ev.dpa)
    name = "" if region is None else f"region{region.id}"
    uuid = "00000000-0000-0000-0000-000000000000" if region is None else region.uuid
    emit(
        k,
        f"cxl_{ev.kind}",
        head + f"dpa={ev.dpa:x} hpa={hpa:x} region={name} region_uuid={uuid}",
    )


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
                emit(
                    k,
                    "cxl_overflow",
                    _header(mem, log) + f"{lost} records from 0 to 0",
                )
