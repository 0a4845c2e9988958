"""is_uuid accepts exactly what the regular expression it replaces accepted."""

from __future__ import annotations

import re
import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from pycxl.cxl.lib.region import is_uuid

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
chars = st.sampled_from([*"0123456789abcdefABCDEFgG-\n ", "٣", "é"])


@st.composite
def near_uuids(draw: st.DrawFn) -> str:
    """A canonical UUID with up to two characters replaced, removed or inserted."""
    text = list(str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(text) - 1))
        op = draw(st.sampled_from(["set", "del", "ins"]))
        if op == "set":
            text[i] = draw(chars)
        elif op == "del":
            del text[i]
        else:
            text.insert(i, draw(chars))
    return "".join(text)


@settings(max_examples=2000, deadline=None)
@given(near_uuids() | st.text(chars, max_size=40))
def test_is_uuid_matches_the_pattern(text: str) -> None:
    assert is_uuid(text) == bool(UUID_RE.fullmatch(text))


def test_examples() -> None:
    assert is_uuid("0123abcd-ef01-2345-6789-ABCDEF012345")
    assert not is_uuid("")
    assert not is_uuid("0123abcd-ef01-2345-6789-ABCDEF012345\n")
    assert not is_uuid("0123abcd-ef01-2345-6789ABCDEF012345")
