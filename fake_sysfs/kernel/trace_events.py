"""The CXL trace events as a v6.14 kernel defines them (drivers/cxl/core/trace.h): each
event's fields in TP_STRUCT__entry order, the record layout the kernel derives from them
(``struct trace_event_raw_<event>``), its ``format`` file, and the binary entry a record
becomes in the ring buffer.

Layout rules (include/trace/trace_events.h): a record starts with ``struct trace_entry``
(common_type u16, common_flags u8, common_preempt_count u8, common_pid int: 8 bytes); each
field follows at its natural alignment (a u64 at 8, arrays and ``uuid_t`` at their element's);
the struct is padded to its largest alignment, and the dynamic strings (``__string``,
shown as ``__data_loc char[]``) are appended after it, each with its NUL, unaligned; a
string's 32-bit slot holds ``length << 16 | offset``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import cache

from fake_sysfs.kernel.uuids import to_bytes, to_text

#: ``id`` of the first CXL event: event ids are given at registration and differ between
#: kernels; these follow trace.h's order from a value a distribution kernel shows.
FIRST_ID = 1709

#: The CXL headerlog (u32 words): CXL_HEADERLOG_SIZE / 4.
HEADERLOG_WORDS = 128
#: CXL_EVENT_RECORD_DATA_LENGTH, CXL_EVENT_GEN_MED_COMP_ID_SIZE,
#: CXL_EVENT_DER_CORRECTION_MASK_SIZE.
DATA_LENGTH = 0x50
COMP_ID_SIZE = 0x10
COR_MASK_SIZE = 0x20

#: C types: (size, signed).
_TYPES = {
    "u8": (1, False),
    "u16": (2, False),
    "u32": (4, False),
    "u64": (8, False),
    "s16": (2, True),
    "int": (4, True),
    "char": (1, True),  # char is signed on x86
}


@dataclass(frozen=True)
class Field:
    name: str
    #: "num" (__field), "str" (__string), "array" (__array), "uuid" (__field_struct uuid_t).
    kind: str
    ctype: str = "u8"
    count: int = 1

    @property
    def elem_size(self) -> int:
        return 16 if self.kind == "uuid" else _TYPES[self.ctype][0]

    @property
    def size(self) -> int:
        if self.kind == "str":
            return 4
        return self.elem_size * self.count

    @property
    def align(self) -> int:
        if self.kind == "str":
            return 4  # the u32 slot
        return 1 if self.kind == "uuid" else self.elem_size

    @property
    def signed(self) -> bool:
        return self.kind in ("num", "array") and _TYPES[self.ctype][1]

    def declaration(self) -> str:
        if self.kind == "str":
            return f"__data_loc char[] {self.name}"
        if self.kind == "uuid":
            return f"uuid_t {self.name}"
        if self.kind == "array":
            return f"{self.ctype} {self.name}[{self.count}]"
        return f"{self.ctype} {self.name}"


def _num(name: str, ctype: str) -> Field:
    return Field(name, "num", ctype)


def _str(name: str) -> Field:
    return Field(name, "str", "char")


def _arr(name: str, ctype: str, count: int) -> Field:
    return Field(name, "array", ctype, count)


def _uuid(name: str) -> Field:
    return Field(name, "uuid", "u8", 16)


_HEADER = (
    _str("memdev"),
    _str("host"),
    _num("log", "int"),
    _uuid("hdr_uuid"),
    _num("serial", "u64"),
    _num("hdr_flags", "u32"),
    _num("hdr_handle", "u16"),
    _num("hdr_related_handle", "u16"),
    _num("hdr_timestamp", "u64"),
    _num("hdr_length", "u8"),
    _num("hdr_maint_op_class", "u8"),
    _num("hdr_maint_op_sub_class", "u8"),
)

#: Every CXL event's fields, in trace.h's order (which is the tracefs listing's too).
EVENTS: dict[str, tuple[Field, ...]] = {
    "cxl_aer_uncorrectable_error": (
        _str("memdev"),
        _str("host"),
        _num("serial", "u64"),
        _num("status", "u32"),
        _num("first_error", "u32"),
        _arr("header_log", "u32", HEADERLOG_WORDS),
    ),
    "cxl_aer_correctable_error": (
        _str("memdev"),
        _str("host"),
        _num("serial", "u64"),
        _num("status", "u32"),
    ),
    "cxl_overflow": (
        _str("memdev"),
        _str("host"),
        _num("log", "int"),
        _num("serial", "u64"),
        _num("first_ts", "u64"),
        _num("last_ts", "u64"),
        _num("count", "u16"),
    ),
    "cxl_generic_event": (*_HEADER, _arr("data", "u8", DATA_LENGTH)),
    "cxl_general_media": (
        *_HEADER,
        _num("dpa", "u64"),
        _num("descriptor", "u8"),
        _num("type", "u8"),
        _num("transaction_type", "u8"),
        _num("channel", "u8"),
        _num("device", "u32"),
        _arr("comp_id", "u8", COMP_ID_SIZE),
        _num("hpa", "u64"),
        _uuid("region_uuid"),
        _num("validity_flags", "u16"),
        _num("rank", "u8"),
        _num("dpa_flags", "u8"),
        _num("cme_count", "u32"),
        _num("sub_type", "u8"),
        _num("cme_threshold_ev_flags", "u8"),
        _str("region_name"),
    ),
    "cxl_dram": (
        *_HEADER,
        _num("dpa", "u64"),
        _num("descriptor", "u8"),
        _num("type", "u8"),
        _num("transaction_type", "u8"),
        _num("channel", "u8"),
        _num("validity_flags", "u16"),
        _num("column", "u16"),
        _num("nibble_mask", "u32"),
        _num("row", "u32"),
        _arr("cor_mask", "u8", COR_MASK_SIZE),
        _num("hpa", "u64"),
        _uuid("region_uuid"),
        _num("rank", "u8"),
        _num("bank_group", "u8"),
        _num("bank", "u8"),
        _num("dpa_flags", "u8"),
        _arr("comp_id", "u8", COMP_ID_SIZE),
        _num("cvme_count", "u32"),
        _num("sub_type", "u8"),
        _num("sub_channel", "u8"),
        _num("cme_threshold_ev_flags", "u8"),
        _str("region_name"),
    ),
    "cxl_memory_module": (
        *_HEADER,
        _num("event_type", "u8"),
        _num("health_status", "u8"),
        _num("media_status", "u8"),
        _num("life_used", "u8"),
        _num("dirty_shutdown_cnt", "u32"),
        _num("cor_vol_err_cnt", "u32"),
        _num("cor_per_err_cnt", "u32"),
        _num("device_temp", "s16"),
        _num("add_status", "u8"),
        _num("event_sub_type", "u8"),
        _arr("comp_id", "u8", COMP_ID_SIZE),
        _num("validity_flags", "u16"),
    ),
    "cxl_poison": (
        _str("memdev"),
        _str("host"),
        _num("serial", "u64"),
        _num("trace_type", "u8"),
        _str("region"),
        _num("overflow_ts", "u64"),
        _num("hpa", "u64"),
        _num("dpa", "u64"),
        _num("dpa_length", "u32"),
        _arr("uuid", "char", 16),
        _num("source", "u8"),
        _num("flags", "u8"),
    ),
}

#: The event names in tracefs's listing order.
NAMES = tuple(EVENTS)

_COMMON = (
    ("unsigned short common_type", 0, 2, 0),
    ("unsigned char common_flags", 2, 1, 0),
    ("unsigned char common_preempt_count", 3, 1, 0),
    ("int common_pid", 4, 4, 1),
)
ENTRY_SIZE = 8

#: The print formats (TP_printk, as the format file shows it after macro expansion; the
#: flag and symbol tables are abridged to what the emulated devices produce).
_LOG = (
    '__print_symbolic(REC->log, { 0, "Informational" }, '
    '{ 1, "Warning" }, { 2, "Failure" }, '
    '{ 3, "Fatal" })'
)
_HDR_FMT = (
    "memdev=%s host=%s serial=%lld log=%s : time=%llu uuid=%pUb len=%d flags='%s' "
    "handle=%x related_handle=%x maint_op_class=%u maint_op_sub_class=%u : "
)
_HDR_ARGS = (
    "__get_str(memdev), __get_str(host), REC->serial, " + _LOG + ", REC->hdr_timestamp, "
    '&REC->hdr_uuid, REC->hdr_length, __print_flags(REC->hdr_flags, " | ", '
    '{ 0x4, "PERMANENT_CONDITION" }, { 0x8, '
    '"MAINTENANCE_NEEDED" }, { 0x10, "PERFORMANCE_DEGRADED" }, '
    '{ 0x20, "HARDWARE_REPLACEMENT_NEEDED" }, { 0x40, '
    '"MAINT_OP_SUB_CLASS_VALID" }), REC->hdr_handle, REC->hdr_related_handle, '
    "REC->hdr_maint_op_class, REC->hdr_maint_op_sub_class"
)
PRINT_FMT: dict[str, str] = {
    "cxl_aer_uncorrectable_error": (
        "\"memdev=%s host=%s serial=%lld: status: '%s' first_error: '%s'\", "
        "__get_str(memdev), __get_str(host), REC->serial, "
        '__print_flags(REC->status, " | ", { 0x1, "Cache Data Parity Error" }), '
        '__print_flags(REC->first_error, " | ", { 0x1, '
        '"Cache Data Parity Error" })'
    ),
    "cxl_aer_correctable_error": (
        "\"memdev=%s host=%s serial=%lld: status: '%s'\", __get_str(memdev), "
        '__get_str(host), REC->serial, __print_flags(REC->status, " | ", '
        '{ 0x1, "Cache Data ECC Error" })'
    ),
    "cxl_overflow": (
        '"memdev=%s host=%s serial=%lld: log=%s : %u records from %llu to %llu", '
        "__get_str(memdev), __get_str(host), REC->serial, " + _LOG + ", REC->count, "
        "REC->first_ts, REC->last_ts"
    ),
    "cxl_generic_event": (f'"{_HDR_FMT}%s", {_HDR_ARGS}, __print_hex(REC->data, 0x50)'),
    "cxl_general_media": (
        f'"{_HDR_FMT}dpa=%llx dpa_flags=%u descriptor=%u type=%u transaction_type=%u '
        'channel=%u rank=%u device=%x hpa=%llx region=%s region_uuid=%pUb", '
        f"{_HDR_ARGS}, REC->dpa, REC->dpa_flags, REC->descriptor, REC->type, "
        "REC->transaction_type, REC->channel, REC->rank, REC->device, REC->hpa, "
        "__get_str(region_name), &REC->region_uuid"
    ),
    "cxl_dram": (
        f'"{_HDR_FMT}dpa=%llx dpa_flags=%u descriptor=%u type=%u transaction_type=%u '
        "channel=%u rank=%u nibble_mask=%x bank_group=%u bank=%u row=%u column=%u "
        'hpa=%llx region=%s region_uuid=%pUb", '
        f"{_HDR_ARGS}, REC->dpa, REC->dpa_flags, REC->descriptor, REC->type, "
        "REC->transaction_type, REC->channel, REC->rank, REC->nibble_mask, "
        "REC->bank_group, REC->bank, REC->row, REC->column, REC->hpa, "
        "__get_str(region_name), &REC->region_uuid"
    ),
    "cxl_memory_module": (
        f'"{_HDR_FMT}event_type=%u event_sub_type=%u health_status=%u media_status=%u '
        "life_used=%u device_temp=%d dirty_shutdown_cnt=%u cor_vol_err_cnt=%u "
        'cor_per_err_cnt=%u", '
        f"{_HDR_ARGS}, REC->event_type, REC->event_sub_type, REC->health_status, "
        "REC->media_status, REC->life_used, REC->device_temp, REC->dirty_shutdown_cnt, "
        "REC->cor_vol_err_cnt, REC->cor_per_err_cnt"
    ),
    "cxl_poison": (
        '"memdev=%s host=%s serial=%lld trace_type=%s region=%s region_uuid=%pU '
        'hpa=0x%llx dpa=0x%llx dpa_length=0x%x source=%s flags=%s overflow_time=%llu", '
        "__get_str(memdev), __get_str(host), REC->serial, __print_symbolic(REC->trace_type, "
        '{ 0, "List" }, { 1, "Inject" }, '
        '{ 2, "Clear" }), __get_str(region), REC->uuid, REC->hpa, '
        'REC->dpa, REC->dpa_length, __print_symbolic(REC->source, { 0, "Unknown" }, '
        '{ 1, "External" }, { 2, "Internal" }, { 3, "Injected" }, { 7, "Vendor" }), '
        '__print_flags(REC->flags, "|", { 0x1, "More" }, { 0x2, "Overflow" }, '
        '{ 0x4, "Scanning" }), REC->overflow_ts'
    ),
}


def event_id(name: str) -> int:
    return FIRST_ID + NAMES.index(name)


@cache
def layout(name: str) -> tuple[tuple[tuple[Field, int], ...], int]:
    """(field, offset) pairs and the fixed part's size (where dynamic data begins)."""
    offset = ENTRY_SIZE
    largest = 4  # struct trace_entry's int
    placed: list[tuple[Field, int]] = []
    for f in EVENTS[name]:
        offset = -(-offset // f.align) * f.align
        placed.append((f, offset))
        offset += f.size
        largest = max(largest, f.align)
    return tuple(placed), -(-offset // largest) * largest


def format_text(name: str) -> bytes:
    """``events/cxl/<name>/format``."""
    lines = [f"name: {name}", f"ID: {event_id(name)}", "format:"]
    for decl, offset, size, signed in _COMMON:
        lines.append(f"\tfield:{decl};\toffset:{offset};\tsize:{size};\tsigned:{signed};")
    lines.append("")
    for f, offset in layout(name)[0]:
        lines.append(
            f"\tfield:{f.declaration()};\toffset:{offset};\tsize:{f.size};\tsigned:{int(f.signed)};"
        )
    lines.append("")
    lines.append(f"print fmt: {PRINT_FMT[name]}")
    return ("\n".join(lines) + "\n").encode()


Value = int | str | list[int]


def _default(f: Field) -> Value:
    if f.kind == "str":
        return ""
    if f.kind == "array":
        return [0] * f.count
    if f.kind == "uuid":
        return "00000000-0000-0000-0000-000000000000"
    return 0


def complete(name: str, values: dict[str, Value]) -> dict[str, Value]:
    """Every field of ``name`` in format order, zero where ``values`` leaves it out."""
    fields = EVENTS[name]
    unknown = set(values) - {f.name for f in fields}
    if unknown:
        raise KeyError(f"{name} has no field {sorted(unknown)[0]}")
    return {f.name: values.get(f.name, _default(f)) for f in fields}


def _pack_num(f: Field, value: int) -> bytes:
    size = f.elem_size
    return (value & ((1 << (8 * size)) - 1)).to_bytes(size, "little")


def entry_bytes(name: str, pid: int, values: dict[str, Value]) -> bytes:
    """The record as the kernel writes it into the ring buffer (little endian)."""
    placed, fixed = layout(name)
    buf = bytearray(fixed)
    struct.pack_into("<HBBi", buf, 0, event_id(name), 0, 0, pid)
    dynamic = bytearray()
    for f, offset in placed:
        value = values[f.name]
        if f.kind == "str":
            assert isinstance(value, str)
            data = value.encode() + b"\0"
            loc = (len(data) << 16) | (fixed + len(dynamic))
            struct.pack_into("<I", buf, offset, loc)
            dynamic += data
        elif f.kind == "uuid":
            assert isinstance(value, str)
            buf[offset : offset + 16] = to_bytes(value)
        elif f.kind == "array":
            assert isinstance(value, list)
            raw = b"".join(_pack_num(f, v) for v in value)
            buf[offset : offset + f.size] = raw[: f.size].ljust(f.size, b"\0")
        else:
            assert isinstance(value, int)
            buf[offset : offset + f.size] = _pack_num(f, value)
    return bytes(buf + dynamic)


# -- the ``trace`` text of a record (TP_printk) ----------------------------------------------

LOG_NAMES = {0: "Informational", 1: "Warning", 2: "Failure", 3: "Fatal"}
POISON_TYPES = {0: "List", 1: "Inject", 2: "Clear"}
POISON_SOURCES = {0: "Unknown", 1: "External", 2: "Internal", 3: "Injected", 7: "Vendor"}
_HDR_FLAGS = (
    (0x4, "PERMANENT_CONDITION"),
    (0x8, "MAINTENANCE_NEEDED"),
    (0x10, "PERFORMANCE_DEGRADED"),
    (0x20, "HARDWARE_REPLACEMENT_NEEDED"),
    (0x40, "MAINT_OP_SUB_CLASS_VALID"),
)


def _flags(value: int, table: tuple[tuple[int, str], ...], sep: str) -> str:
    """__print_flags: the names of the set bits, then what is left in hex."""
    names = [name for bit, name in table if value & bit]
    rest = value & ~sum(bit for bit, _ in table)
    if rest:
        names.append(f"{rest:#x}")
    return sep.join(names)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _hex_bytes(values: list[int]) -> str:
    return " ".join(f"{b:02x}" for b in values)


def _uuid_text(raw: list[int]) -> str:
    return to_text(bytes(raw))


def text(name: str, v: dict[str, Value]) -> str:
    """What ``trace`` shows after ``<name>: `` for a record."""

    def i(key: str) -> int:
        value = v[key]
        assert isinstance(value, int)
        return value

    def s(key: str) -> str:
        return str(v[key])

    def a(key: str) -> list[int]:
        value = v[key]
        assert isinstance(value, list)
        return value

    head = f"memdev={s('memdev')} host={s('host')} serial={_signed64(i('serial'))}"
    if name == "cxl_poison":
        flags = _flags(i("flags"), ((1, "More"), (2, "Overflow"), (4, "Scanning")), "|")
        source = i("source")
        src = "Reserved" if source > 3 and source != 7 else POISON_SOURCES[source]
        return (
            f"{head} trace_type={POISON_TYPES.get(i('trace_type'), str(i('trace_type')))} "
            f"region={s('region')} region_uuid={_uuid_text(a('uuid'))} hpa={i('hpa'):#x} "
            f"dpa={i('dpa'):#x} dpa_length={i('dpa_length'):#x} source={src} "
            f"flags={flags} overflow_time={i('overflow_ts')}"
        )
    if name == "cxl_overflow":
        return (
            f"{head}: log={LOG_NAMES.get(i('log'), str(i('log')))} : {i('count')} records "
            f"from {i('first_ts')} to {i('last_ts')}"
        )
    if name.startswith("cxl_aer"):
        return f"{head}: status: '{i('status'):#x}'"
    hdr = (
        f"{head} log={LOG_NAMES.get(i('log'), str(i('log')))} : time={i('hdr_timestamp')} "
        f"uuid={s('hdr_uuid')} len={i('hdr_length')} "
        f"flags='{_flags(i('hdr_flags'), _HDR_FLAGS, ' | ')}' handle={i('hdr_handle'):x} "
        f"related_handle={i('hdr_related_handle'):x} "
        f"maint_op_class={i('hdr_maint_op_class')} "
        f"maint_op_sub_class={i('hdr_maint_op_sub_class')} : "
    )
    if name == "cxl_generic_event":
        return hdr + _hex_bytes(a("data"))
    if name == "cxl_memory_module":
        return hdr + (
            f"event_type={i('event_type')} event_sub_type={i('event_sub_type')} "
            f"health_status={i('health_status')} media_status={i('media_status')} "
            f"life_used={i('life_used')} device_temp={i('device_temp')} "
            f"dirty_shutdown_cnt={i('dirty_shutdown_cnt')} "
            f"cor_vol_err_cnt={i('cor_vol_err_cnt')} cor_per_err_cnt={i('cor_per_err_cnt')}"
        )
    media = (
        f"dpa={i('dpa'):x} dpa_flags={i('dpa_flags')} descriptor={i('descriptor')} "
        f"type={i('type')} transaction_type={i('transaction_type')} "
        f"channel={i('channel')} rank={i('rank')} "
    )
    if name == "cxl_dram":
        media += (
            f"nibble_mask={i('nibble_mask'):x} bank_group={i('bank_group')} "
            f"bank={i('bank')} row={i('row')} column={i('column')} "
        )
    else:
        media += f"device={i('device'):x} "
    return (
        hdr + media + (f"hpa={i('hpa'):x} region={s('region_name')} region_uuid={s('region_uuid')}")
    )
