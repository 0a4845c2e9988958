"""Size arguments, parsed the way upstream parses them."""

from __future__ import annotations

from pycxl.util.cparse import ULLONG_MAX, strtoull

_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size64(text: str | None) -> int:
    """``parse_size64``: a C number (``0x`` hex, leading-0 octal, decimal), optionally
    followed by one of ``kKmMgGtT``, and nothing else. ULLONG_MAX means invalid (also for a
    product that wrapped below the number, as upstream checks it). None is 0."""
    if text is None:
        return 0
    value, end = strtoull(text)
    if value == ULLONG_MAX:
        return value
    check = value
    unit = _UNITS.get(text[end : end + 1].lower()) if end < len(text) else None
    if unit is not None:
        value = (value * unit) & ULLONG_MAX
        end += 1
    if value < check or end != len(text):
        return ULLONG_MAX
    return value
