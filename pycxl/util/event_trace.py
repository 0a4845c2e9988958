"""Trace records as ndctl's util/event_trace.c turns them into JSON (``cxl monitor``), and
the event switches it sets.

Keys: ``system``, ``event``, ``timestamp`` (the record's, ns), then each of the event's own
fields in format order: a dynamic string as a string; an array as an array of numbers of
its element size; a ``uuid_t`` as its text; else a number of the field's size and sign (a
64-bit unsigned one may exceed 2^63). Printed as json-c does: plain (no spaces) or pretty.
"""

from __future__ import annotations

import struct

from pycxl.util import jsonc
from pycxl.util.tracefs import IS_ARRAY, IS_DYNAMIC, IS_SIGNED, IS_STRING, FormatField, Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.util.tracefs import Instance

_FORMATS = {1: "b", 2: "h", 4: "i", 8: "q"}


def _number(raw: bytes, size: int, signed: bool) -> int | None:
    """num_to_json(): None for a size the kernel never uses."""
    fmt = _FORMATS.get(size)
    if fmt is None or len(raw) < size:
        return None
    value: int = struct.unpack("<" + (fmt if signed else fmt.upper()), raw[:size])[0]
    return value


def _value(f: FormatField, raw: bytes) -> Any:
    if f.flags & IS_STRING and f.flags & IS_DYNAMIC:
        return raw.split(b"\0", 1)[0].decode(errors="replace")
    signed = bool(f.flags & IS_SIGNED)
    if f.flags & IS_ARRAY:
        size = f.elementsize
        return [_number(raw[i : i + size], size, signed) for i in range(0, f.size - size + 1, size)]
    if "uuid_t" in f.type.lower():
        import uuid  # here: a listing without such fields does not pay its import

        return str(uuid.UUID(bytes=raw[:16].ljust(16, b"\0")))
    return _number(raw, f.elementsize, signed)


def record_json(record: Record) -> dict[str, Any]:
    """event_to_json()."""
    event = record.event
    obj: dict[str, Any] = {"system": event.system, "event": event.name, "timestamp": record.ts}
    for f in event.fields:
        obj[f.name] = _value(f, f.raw(record.data))
    return obj


def field_u64(record: Record, name: str) -> int:
    """trace_get_field_u64(): ULLONG_MAX when the event has no such field."""
    f = record.event.field(name)
    if f is None:
        return (1 << 64) - 1
    return int.from_bytes(f.raw(record.data)[:8].ljust(8, b"\0"), "little")


def field_u32(record: Record, name: str) -> int:
    f = record.event.field(name)
    if f is None:
        return (1 << 32) - 1
    return int.from_bytes(f.raw(record.data)[:4].ljust(4, b"\0"), "little")


def field_u8(record: Record, name: str) -> int:
    f = record.event.field(name)
    if f is None:
        return 0xFF
    return f.raw(record.data)[0]


def field_str(record: Record, name: str) -> str | None:
    f = record.event.field(name)
    if f is None:
        return None
    return f.raw(record.data).split(b"\0", 1)[0].decode(errors="replace")


def event_enable(inst: Instance, system: str, event: str | None = None) -> int:
    """trace_event_enable(): the event(s) on, then tracing on unless it is; 0 or -errno."""
    rc = inst.event_enable(system, event)
    if rc < 0:
        return rc
    if not inst.is_on():
        inst.trace_on()
    return 0


def plain(value: Any) -> str:
    """json-c's JSON_C_TO_STRING_PLAIN."""
    if isinstance(value, dict):
        return "{" + ",".join(jsonc.quote(k) + ":" + plain(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(plain(v) for v in value) + "]"
    if value is None:
        return "null"
    return jsonc.dumps(value)
