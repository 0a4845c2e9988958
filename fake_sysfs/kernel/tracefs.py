"""A minimal tracefs (``/sys/kernel/tracing``) and debugfs (``/sys/kernel/debug``) for the
CXL trace events: what ``cxl list -L``, ``cxl monitor`` and upstream's test scripts use.

The kernel keeps one ring of event records (``TraceState.records``). An event is recorded
while tracing is on and the event is enabled (``events/cxl/<event>/enable``, or
``events/cxl/enable`` for every CXL event); ``trace`` shows the ring in ftrace's text
format, a line per record, and writing to ``trace`` empties it. Records carry the kernel
log's clock. Per-reader instances (``instances/<name>``) are not emulated: the directory
is there, empty, and cannot be made (mkdir is no sysfs operation here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.kernel.attrs import kstrtobool
from fake_sysfs.kernfs.nodes import Attr, Dir, Node, static_dir

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: The CXL trace events, in the order tracefs lists them.
CXL_EVENTS = (
    "cxl_aer_correctable_error",
    "cxl_aer_uncorrectable_error",
    "cxl_dram",
    "cxl_general_media",
    "cxl_generic_event",
    "cxl_memory_module",
    "cxl_overflow",
    "cxl_poison",
)
#: Records the ring keeps (older ones are dropped, as a full ring buffer overwrites).
CAPACITY = 4096


@dataclass
class TraceRecord:
    seq: int
    #: Microseconds since boot (the kernel log's clock).
    usec: int
    event: str
    #: ``name=value`` pairs in the event's print format order.
    text: str


@dataclass
class TraceState:
    on: bool = True
    #: Enabled events (``cxl_poison`` ...).
    enabled: list[str] = field(default_factory=list)
    records: list[TraceRecord] = field(default_factory=list)
    next_seq: int = 0


def emit(k: Kernel, event: str, text: str) -> None:
    """Record ``event`` if tracing is on and the event enabled."""
    tr = k.trace
    if not tr.on or event not in tr.enabled:
        return
    # The kernel log's clock (Log has no public accessor for it yet).
    usec = k.log._now_us()
    tr.records.append(TraceRecord(tr.next_seq, usec, event, text))
    tr.next_seq += 1
    if len(tr.records) > CAPACITY:
        del tr.records[: len(tr.records) - CAPACITY]


def trace_text(k: Kernel) -> bytes:
    """``trace``: a header, then one line per record."""
    lines = [
        "# tracer: nop\n",
        "#\n",
        f"# entries-in-buffer/entries-written: {len(k.trace.records)}/{k.trace.next_seq}   #P:1\n",
        "#\n",
        "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n",
        "#              | |         |   |||||     |         |\n",
    ]
    for r in k.trace.records:
        stamp = f"{r.usec // 1_000_000}.{r.usec % 1_000_000:06d}"
        lines.append(f"          <idle>-0       [000] .....  {stamp:>12}: {r.event}: {r.text}\n")
    return "".join(lines).encode()


def _bool_text(value: bool) -> bytes:
    return b"1\n" if value else b"0\n"


def _set_on(k: Kernel, buf: bytes) -> None:
    k.trace.on = kstrtobool(buf)


def _set_event(k: Kernel, events: tuple[str, ...], buf: bytes) -> None:
    on = kstrtobool(buf)
    for event in events:
        if on and event not in k.trace.enabled:
            k.trace.enabled.append(event)
        elif not on and event in k.trace.enabled:
            k.trace.enabled.remove(event)


def _event_enable_text(k: Kernel, events: tuple[str, ...]) -> bytes:
    states = {event in k.trace.enabled for event in events}
    if states == {True}:
        return b"1\n"
    return b"0\n" if states == {False} else b"X\n"


def _clear(k: Kernel, buf: bytes) -> None:
    k.trace.records.clear()


def _enable(k: Kernel, events: tuple[str, ...]) -> Attr:
    return Attr(
        0o644,
        show=partial(_event_enable_text, k, events),
        store=partial(_set_event, k, events),
    )


def _events(k: Kernel) -> dict[str, Node]:
    cxl: dict[str, Node] = {"enable": _enable(k, CXL_EVENTS)}
    for event in CXL_EVENTS:
        cxl[event] = static_dir({"enable": _enable(k, (event,))})
    return {"enable": _enable(k, CXL_EVENTS), "cxl": static_dir(cxl)}


def tracing_dir(k: Kernel) -> Dir:
    return static_dir(
        {
            "tracing_on": Attr(
                0o644, show=lambda: _bool_text(k.trace.on), store=partial(_set_on, k)
            ),
            "trace": Attr(0o644, show=partial(trace_text, k), store=partial(_clear, k)),
            "events": Dir(partial(_events, k)),
            "instances": static_dir({}),
        }
    )


def kernel_root(k: Kernel) -> dict[str, Node]:
    """``/sys/kernel``: tracing and debug."""
    from fake_sysfs.kernel.mailbox.poison import debugfs_cxl

    return {
        "tracing": tracing_dir(k),
        "debug": static_dir({"cxl": Dir(partial(debugfs_cxl, k))}),
    }
