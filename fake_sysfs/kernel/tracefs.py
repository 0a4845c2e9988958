"""A minimal tracefs (``/sys/kernel/tracing``) and debugfs (``/sys/kernel/debug``) for the
CXL trace events: what ``cxl list -L``, ``cxl monitor`` and upstream's test scripts use.

The top level and each instance (``instances/<name>``, made by mkdir, removed by rmdir)
has its own buffer: ``tracing_on``, the events enabled in it
(``events/cxl/<event>/enable``, ``events/cxl/enable``, ``events/enable``) and its records.
An event goes to every buffer where it is enabled while tracing is on. Each record keeps the
event's typed field values (fake_sysfs.kernel.trace_events), the time (the kernel log's
clock) and the pid of the task whose store made it.

Reads: ``trace`` shows the buffer in ftrace's text format (writing to it empties it);
``trace_pipe`` and ``per_cpu/cpuN/trace_pipe_raw`` consume what they return, the first as
text lines, the second as ring-buffer pages (fake_sysfs.kernel.ringbuf). Every record is
on cpu0; the per_cpu directories follow the emulated CPUs. A consuming read changes the
state, so frontends run it as a journaled operation (``consume``), never from a cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import changes, ringbuf, trace_events
from fake_sysfs.kernel.attrs import kstrtobool
from fake_sysfs.kernfs.nodes import Attr, Dir, Node, static_dir
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: The CXL trace events, in the order tracefs lists them.
CXL_EVENTS = trace_events.NAMES
#: Records a buffer keeps (older ones are dropped, as a full ring buffer overwrites).
CAPACITY = 4096
TRACING = "/sys/kernel/tracing"


@dataclass(eq=False, repr=False)
class TraceRecord(Record):
    seq: int
    #: Microseconds since boot (the kernel log's clock).
    usec: int
    event: str
    #: The event's fields, in format order (trace_events.Value each).
    values: dict[str, Any] = field(default_factory=dict)
    #: The task that made it (common_pid); 0 for the kernel's own work.
    pid: int = 0


@dataclass(eq=False, repr=False)
class TraceBuffer(Record):
    """An instance's buffer and switches."""

    on: bool = True
    enabled: list[str] = field(default_factory=list)
    records: list[TraceRecord] = field(default_factory=list)
    #: entries-written: every record ever added (consumed ones included).
    written: int = 0


@dataclass(eq=False, repr=False)
class TraceState(Record):
    """The top-level buffer (its fields, kept as they were) and the instances."""

    on: bool = True
    #: Enabled events (``cxl_poison`` ...).
    enabled: list[str] = field(default_factory=list)
    records: list[TraceRecord] = field(default_factory=list)
    next_seq: int = 0
    #: ``instances/<name>``, in creation order.
    instances: dict[str, TraceBuffer] = field(default_factory=dict)
    #: The pid of the task whose store is running (set by the ``task_store`` operation
    #: for the store's length only, so it is part of the journaled input).
    task_pid: int = 0


Buffer = TraceState | TraceBuffer

# tracefs directories are no device's: the read memo forgets them at every store anyway.
changes.shown_nowhere(TraceState, TraceBuffer, TraceRecord)


def _buffers(k: Kernel) -> list[Buffer]:
    return [k.trace, *k.trace.instances.values()]


def _written(buf: Buffer) -> int:
    return buf.next_seq if isinstance(buf, TraceState) else buf.written


def emit(k: Kernel, event: str, values: dict[str, Any]) -> None:
    """Record ``event`` (its fields by name; the rest are zero) in every buffer where
    tracing is on and the event enabled."""
    targets = [b for b in _buffers(k) if b.on and event in b.enabled]
    if not targets:
        return
    full = trace_events.complete(event, values)
    usec = k.log._now_us()
    for buf in targets:
        record = TraceRecord(_written(buf), usec, event, dict(full), k.trace.task_pid)
        buf.records.append(record)
        if isinstance(buf, TraceState):
            buf.next_seq += 1
        else:
            buf.written += 1
        if len(buf.records) > CAPACITY:
            del buf.records[: len(buf.records) - CAPACITY]


def recording(k: Kernel, event: str) -> bool:
    """Whether an ``event`` now would be recorded anywhere."""
    return any(b.on and event in b.enabled for b in _buffers(k))


def _line(r: TraceRecord) -> str:
    stamp = f"{r.usec // 1_000_000}.{r.usec % 1_000_000:06d}"
    comm = "<idle>" if r.pid == 0 else "<...>"
    return f"{comm:>16}-{r.pid:<7} [000] .....  {stamp:>12}: {r.event}: " + (
        trace_events.text(r.event, r.values) + "\n"
    )


def trace_text(buf: Buffer) -> bytes:
    """``trace``: a header, then one line per record."""
    lines = [
        "# tracer: nop\n",
        "#\n",
        f"# entries-in-buffer/entries-written: {len(buf.records)}/{_written(buf)}   #P:1\n",
        "#\n",
        "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n",
        "#              | |         |   |||||     |         |\n",
    ]
    lines.extend(_line(r) for r in buf.records)
    return "".join(lines).encode()


# -- consuming reads ------------------------------------------------------------------------

_CONSUMING = re.compile(
    r"^/sys/kernel/tracing(?:/instances/([^/]+))?/(trace_pipe|per_cpu/cpu(\d+)/trace_pipe_raw)$"
)


def is_consuming(path: str) -> bool:
    """Whether a read of ``path`` (as asked, /sys/...) consumes what it returns."""
    return _CONSUMING.match(path) is not None


def consume(k: Kernel, path: str, size: int) -> bytes:
    """One read() of a consuming file: what it returns, removed from the buffer. An empty
    buffer gives b"" (a reader that would block or gets EAGAIN sees no data)."""
    m = _CONSUMING.match(path)
    if m is None:
        raise kerr(errno.EINVAL, path)
    name, cpu = m.group(1), m.group(3)
    buf: Buffer | None = k.trace if name is None else k.trace.instances.get(name)
    if buf is None:
        raise kerr(errno.ENOENT, path)
    if cpu is not None:
        if int(cpu) >= k.memory.cpus:
            raise kerr(errno.ENOENT, path)
        if int(cpu) != 0 or not buf.records or size < ringbuf.PAGE_SIZE:
            return b""
        taken, page = ringbuf.first_page(
            [(r.usec * 1000, _entry(r)) for r in buf.records[: ringbuf.MAX_EVENTS_PER_PAGE]]
        )
        del buf.records[:taken]
        return page
    out: list[str] = []
    used = 0
    for r in buf.records:
        line = _line(r)
        # trace_pipe drops the header and the CPU column's padding no differently.
        if out and used + len(line) > size:
            break
        out.append(line)
        used += len(line)
    del buf.records[: len(out)]
    return "".join(out).encode()[:size] if out else b""


def _entry(r: TraceRecord) -> bytes:
    return trace_events.entry_bytes(r.event, r.pid, r.values)


def consume_operation(k: Kernel, body: dict[str, Any]) -> str:
    """The journal's "consume" operation: the bytes read, as hex."""
    return consume(k, str(body["path"]), int(body["size"])).hex()


# -- instances ------------------------------------------------------------------------------

_INSTANCE = re.compile(r"^/sys/kernel/tracing/instances/([^/]+)$")


def instance_name(path: str) -> str | None:
    m = _INSTANCE.match(path.rstrip("/"))
    return None if m is None else m.group(1)


def mkdir(k: Kernel, path: str) -> None:
    """mkdir of ``instances/<name>``: a new buffer, tracing on, no event enabled (EEXIST
    when there is one; EPERM anywhere else, as tracefs and sysfs refuse)."""
    name = instance_name(path)
    if name is None:
        raise kerr(errno.EPERM, path)
    if name in k.trace.instances or name in (".", ".."):
        raise kerr(errno.EEXIST, path)
    k.trace.instances[name] = TraceBuffer()


def rmdir(k: Kernel, path: str) -> None:
    """rmdir of an instance: its buffer is gone (ENOENT when there is none). The kernel
    refuses with EBUSY only while a file of it is open or it has a reference, which no
    emulated reader keeps between reads."""
    name = instance_name(path)
    if name is None:
        raise kerr(errno.EPERM, path)
    if name not in k.trace.instances:
        raise kerr(errno.ENOENT, path)
    del k.trace.instances[name]


def dir_operation(k: Kernel, body: dict[str, Any]) -> None:
    """The journal's "tracefs_dir" operation: ``{"op": "mkdir"|"rmdir", "path": ...}``."""
    from fake_sysfs.errors import KernfsError
    from fake_sysfs.journal import Refused

    try:
        (mkdir if body["op"] == "mkdir" else rmdir)(k, str(body["path"]))
    except KernfsError as e:
        raise Refused(e) from None


def task_store_operation(k: Kernel, body: dict[str, Any]) -> None:
    """The journal's "task_store" operation: one store made by the task ``pid`` (what
    trace records it makes carry as common_pid)."""
    from fake_sysfs.errors import KernfsError
    from fake_sysfs.journal import Refused
    from fake_sysfs.kernfs.view import View

    k.trace.task_pid = int(body["pid"])
    try:
        View(k).write(str(body["path"]), bytes.fromhex(str(body["data"])))
    except KernfsError as e:
        raise Refused(e) from None
    finally:
        k.trace.task_pid = 0


# -- files ----------------------------------------------------------------------------------


def _bool_text(value: bool) -> bytes:
    return b"1\n" if value else b"0\n"


def _set_on(buf: Buffer, data: bytes) -> None:
    buf.on = kstrtobool(data)


def _set_event(buf: Buffer, events: tuple[str, ...], data: bytes) -> None:
    on = kstrtobool(data)
    for event in events:
        if on and event not in buf.enabled:
            buf.enabled.append(event)
        elif not on and event in buf.enabled:
            buf.enabled.remove(event)


def _event_enable_text(buf: Buffer, events: tuple[str, ...]) -> bytes:
    states = {event in buf.enabled for event in events}
    if states == {True}:
        return b"1\n"
    return b"0\n" if states == {False} else b"X\n"


def _clear(buf: Buffer, data: bytes) -> None:
    buf.records.clear()


def _parsed(data: bytes) -> bool | None:
    """The switch a store asks for, None for bytes kstrtobool refuses (the store then
    fails with EINVAL and logs nothing)."""
    try:
        return kstrtobool(data)
    except KernfsError:
        return None


def _on_same(buf: Buffer, data: bytes) -> bool:
    wanted = _parsed(data)
    return wanted is None or wanted == buf.on


def _enable_same(buf: Buffer, events: tuple[str, ...], data: bytes) -> bool:
    wanted = _parsed(data)
    return wanted is None or all((event in buf.enabled) == wanted for event in events)


def _enable(buf: Buffer, events: tuple[str, ...]) -> Attr:
    return Attr(
        0o644,
        show=partial(_event_enable_text, buf, events),
        store=partial(_set_event, buf, events),
        same=partial(_enable_same, buf, events),
    )


def _event_dir(buf: Buffer, event: str) -> Dir:
    return static_dir(
        {
            "enable": _enable(buf, (event,)),
            "format": Attr(0o444, show=partial(trace_events.format_text, event)),
            "id": Attr(0o444, value=trace_events.event_id(event)),
        }
    )


def _events(buf: Buffer) -> dict[str, Node]:
    cxl: dict[str, Node] = {"enable": _enable(buf, CXL_EVENTS)}
    for event in CXL_EVENTS:
        cxl[event] = _event_dir(buf, event)
    return {
        "enable": _enable(buf, CXL_EVENTS),
        "header_event": Attr(0o444, show=ringbuf.header_event_text),
        "header_page": Attr(0o444, show=ringbuf.header_page_text),
        "cxl": static_dir(cxl),
    }


def _pipe() -> Attr:
    # Reads are answered by the frontends (consume); the node gives the mode.
    return Attr(0o444, show=lambda: b"")


def _per_cpu(k: Kernel) -> dict[str, Node]:
    return {f"cpu{cpu}": static_dir({"trace_pipe_raw": _pipe()}) for cpu in range(k.memory.cpus)}


def _buffer_dir(k: Kernel, buf: Buffer, top: bool) -> dict[str, Node]:
    entries: dict[str, Node] = {
        "tracing_on": Attr(
            0o644,
            show=lambda: _bool_text(buf.on),
            store=partial(_set_on, buf),
            same=partial(_on_same, buf),
        ),
        "trace": Attr(0o644, show=partial(trace_text, buf), store=partial(_clear, buf)),
        "trace_pipe": _pipe(),
        "events": Dir(partial(_events, buf)),
        "per_cpu": Dir(partial(_per_cpu, k)),
    }
    if top:
        entries["instances"] = Dir(partial(_instances, k))
    return entries


def _instances(k: Kernel) -> dict[str, Node]:
    return {
        name: Dir(partial(_buffer_dir, k, buf, False)) for name, buf in k.trace.instances.items()
    }


def tracing_dir(k: Kernel) -> Dir:
    return Dir(partial(_buffer_dir, k, k.trace, True))


def kernel_root(k: Kernel) -> dict[str, Node]:
    """``/sys/kernel``: tracing and debug."""
    from fake_sysfs.kernel.mailbox.poison import debugfs_cxl

    return {
        "tracing": tracing_dir(k),
        "debug": static_dir({"cxl": Dir(partial(debugfs_cxl, k))}),
    }


def pending(k: Kernel, path: str) -> bool:
    """Whether a consuming read of ``path`` would return anything (ENOENT for a path
    that is no such file)."""
    m = _CONSUMING.match(path)
    if m is None:
        raise kerr(errno.ENOENT, path)
    name, cpu = m.group(1), m.group(3)
    buf: Buffer | None = k.trace if name is None else k.trace.instances.get(name)
    if buf is None or (cpu is not None and int(cpu) >= k.memory.cpus):
        raise kerr(errno.ENOENT, path)
    return bool(buf.records) and (cpu is None or int(cpu) == 0)
