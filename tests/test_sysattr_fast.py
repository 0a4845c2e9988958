"""The memoized attribute conversions: the same results as the plain functions, however often
a value comes back, and bounded in size."""

from __future__ import annotations

import pytest

from pycxl.util import sysattr
from pycxl.util.cparse import atoi, strtoll, strtoull, to_int
from pycxl.util.sysattr import attr_atoi, attr_int, attr_text, attr_texts, attr_u64

TEXTS = [
    "0",
    "1",
    "-1",
    "256",
    "010",
    "0x10",
    "0X1f",
    " 12",
    "+7",
    "12abc",
    "",
    "none",
    "0xffffffffffffffff",
    "18446744073709551616",
    "-9223372036854775809",
    "2147483648",
]


@pytest.mark.parametrize("text", TEXTS)
def test_numbers_parse_like_libcxl(text: str) -> None:
    for _ in range(2):  # the second time from the memo
        assert attr_u64(text, 5) == strtoull(text)[0]
        assert attr_int(text, 5) == to_int(strtoll(text)[0])
        assert attr_atoi(text, 5) == atoi(text)


def test_unreadable_gives_the_default() -> None:
    assert attr_u64(None, 7) == 7
    assert attr_int(None, -1) == -1
    assert attr_atoi(None, -1) == -1


@pytest.mark.parametrize(
    "data", [b"0x0\n", b"none", b"a\nb\n", b"x\0y\n", b"\n", b"", b"\xff\xfe\n", b"ok\n\n"]
)
def test_texts_match_attr_text(data: bytes) -> None:
    assert attr_texts[data] == attr_text(data)
    assert attr_texts[data] == attr_text(data)


def test_memos_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sysattr, "_MEMO_LIMIT", 4)
    for n in range(20):
        assert attr_texts[f"{n}\n".encode()] == str(n)
        assert attr_u64(f"0x{n:x}", 0) == n
    assert len(attr_texts) <= 4
    assert len(sysattr._u64_values) <= 4
