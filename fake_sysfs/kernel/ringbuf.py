"""The ring buffer's pages as ``per_cpu/cpuN/trace_pipe_raw`` returns them, and the
``events/header_page`` / ``events/header_event`` files that describe them (a v6.14 x86_64
kernel, kernel/trace/ring_buffer.c, 4 KiB sub-buffers).

A page: a u64 timestamp (the first event's time), a 64-bit ``commit`` (bytes of event data
that follow), then the events, the unused rest zero. An event: a 32-bit little-endian
header, ``type_len`` in its low 5 bits and ``time_delta`` (ns since the previous event) in
the upper 27; type_len 1..28 gives the data length in 4-byte words, 0 puts the length
(data bytes + 4) in the next word; 30 is a time extend, whose next word holds the delta's
bits above 27 for a delta that does not fit. Data is padded to 4 bytes.
"""

from __future__ import annotations

import struct

PAGE_SIZE = 4096
#: timestamp + commit.
PAGE_HEADER = 16
DATA_SIZE = PAGE_SIZE - PAGE_HEADER
TS_SHIFT = 27
TS_MASK = (1 << TS_SHIFT) - 1
TYPE_DATA_MAX = 28
TYPE_TIME_EXTEND = 30
#: No page holds more (the smallest event is 8 bytes): a bound for callers.
MAX_EVENTS_PER_PAGE = DATA_SIZE // 8


def header_page_text() -> bytes:
    return (
        "\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
        "\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
        "\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
        f"\tfield: char data;\toffset:16;\tsize:{DATA_SIZE};\tsigned:1;\n"
    ).encode()


def header_event_text() -> bytes:
    return (
        b"# compressed entry header\n"
        b"\ttype_len    :    5 bits\n"
        b"\ttime_delta  :   27 bits\n"
        b"\tarray       :   32 bits\n"
        b"\n"
        b"\tpadding     : type == 29\n"
        b"\ttime_extend : type == 30\n"
        b"\ttime_stamp : type == 31\n"
        b"\tdata max type_len  == 28\n"
    )


def _header(type_len: int, delta: int) -> bytes:
    return struct.pack("<I", (delta << 5) | type_len)


def event_bytes(delta: int, payload: bytes) -> bytes:
    """One data event ``delta`` ns after the previous one, preceded by a time extend when
    the delta needs more than 27 bits."""
    out = b""
    if delta > TS_MASK:
        out = _header(TYPE_TIME_EXTEND, delta & TS_MASK) + struct.pack("<I", delta >> TS_SHIFT)
        delta = 0
    padded = payload + bytes(-len(payload) % 4)
    words = len(padded) // 4
    if 0 < words <= TYPE_DATA_MAX:
        return out + _header(words, delta) + padded
    return out + _header(0, delta) + struct.pack("<I", len(padded) + 4) + padded


def first_page(records: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    """The page the records (timestamp in ns, entry) begin: how many it holds, and its
    PAGE_SIZE bytes. At least one record fits (an entry is far below a page)."""
    if not records:
        return 0, b""
    base = records[0][0]
    data = bytearray()
    taken = 0
    last = base
    for ts, payload in records:
        event = event_bytes(max(0, ts - last), payload)
        if len(data) + len(event) > DATA_SIZE:
            break
        data += event
        last = max(last, ts)
        taken += 1
    page = struct.pack("<Qq", base, len(data)) + bytes(data)
    return taken, page + bytes(PAGE_SIZE - len(page))
