"""The printer's fast path for strings that need no escape: every character quotes as the
escape table says, alone and inside text."""

from __future__ import annotations

from pycxl.util import jsonc


def slow_quote(s: str) -> str:
    return '"' + s.translate(jsonc._TABLE) + '"'


def test_every_character_quotes_like_the_table() -> None:
    chars = [chr(c) for c in range(0x3000)] + ["\ud800", "\udcff", "\u2028", "\ufeff", "\U0001f600"]
    for c in chars:
        for s in (c, f"a{c}b"):
            assert jsonc.quote(s) == slow_quote(s), repr(s)


def test_keys_and_depths() -> None:
    value = {"a/b": [{"x": []}, {}], "\x01": {"k": [1, True, None, "v"]}}
    text = jsonc.dumps(value)
    assert jsonc.dumps(value) == text  # from the key memo and the layouts made the first time
    assert '"a\\/b":' in text and '"\\u0001":' in text
