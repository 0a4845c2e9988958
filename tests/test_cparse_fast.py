"""The decimal fast paths of strtoll and scan_int give exactly what the general C-style scan
gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pycxl.util.cparse import LONG_MAX, LONG_MIN, _scan, scan_int, strtoll, to_int


def general_strtoll(s: str, base: int) -> tuple[int, int]:
    value, neg, end, _ = _scan(s, base)
    value = -value if neg else value
    return max(LONG_MIN, min(LONG_MAX, value)), end


def general_scan_int(s: str, prefix: str) -> int | None:
    if not s.startswith(prefix):
        return None
    value, end = general_strtoll(s[len(prefix) :], 10)
    return to_int(value) if end else None


pieces = st.sampled_from(
    ["0", "1", "7", "9", "-", "+", " ", "x", "0x", "a", "٣", "²", "_", "9" * 20, "\n"]
)
texts = st.lists(pieces, max_size=6).map("".join) | st.text(max_size=8)


@settings(max_examples=3000, deadline=None)
@given(texts, st.sampled_from([0, 8, 10, 16]))
def test_strtoll_fast_path(s: str, base: int) -> None:
    assert strtoll(s, base) == general_strtoll(s, base)


@settings(max_examples=3000, deadline=None)
@given(texts, st.sampled_from(["", "mem", "decoder3."]))
def test_scan_int_fast_path(s: str, prefix: str) -> None:
    for text in (s, prefix + s):
        assert scan_int(text, prefix) == general_scan_int(text, prefix)


def test_limits() -> None:
    for s in ("9223372036854775807", "9223372036854775808", "-9223372036854775809", "-0"):
        assert strtoll(s, 10) == general_strtoll(s, 10)
        assert strtoll(s) == general_strtoll(s, 0)
    assert scan_int("mem2147483648", "mem") == general_scan_int("mem2147483648", "mem")
    assert scan_int("mem0012", "mem") == 12
