"""How upstream's libraries turn an attribute read into a string (util/sysfs.c), and into a
number.

Attribute values repeat a lot across devices (``0x0``, ``1``, ``256``, ``none``, sizes):
on a large topology nearly every read carries a value already seen, the serial numbers
being the main exception. So each distinct value is decoded, and parsed as a number, once;
both are pure functions of the value.
"""

from __future__ import annotations

from pycxl.util.cparse import atoi, strtoll, strtoull, to_int

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: Attributes are read into a 1024-byte buffer; a value that fills it counts as a failure.
ATTR_SIZE = 1024

#: Distinct values a memo keeps before starting over (a bound, not a tuning knob: values
#: are few on any real topology, the device serials being the most numerous).
_MEMO_LIMIT = 8192


def attr_text(data: bytes) -> str:
    """The string made of an attribute's bytes: a final newline is dropped (only if it is
    the very last byte read), then the string ends at the first NUL."""
    if data.endswith(b"\n"):
        data = data[:-1]
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return data.decode("utf-8", "surrogateescape")


class _TextMemo(dict[bytes, str]):
    """``attr_text`` by value: ``memo[data]``."""

    def __missing__(self, data: bytes) -> str:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        text = self[data] = attr_text(data)
        return text


class _NumberMemo(dict[str, int]):
    """``parse(text)`` by value: ``memo[text]``."""

    def __init__(self, parse: Callable[[str], int]) -> None:
        super().__init__()
        self.parse = parse

    def __missing__(self, text: str) -> int:
        if len(self) >= _MEMO_LIMIT:
            self.clear()
        value = self[text] = self.parse(text)
        return value


#: The text of attribute bytes (shorter than ATTR_SIZE), memoized: ``attr_texts[data]``.
attr_texts = _TextMemo()
_u64_values = _NumberMemo(lambda text: strtoull(text)[0])
_int_values = _NumberMemo(lambda text: to_int(strtoll(text)[0]))
_atoi_values = _NumberMemo(atoi)

# The number an attribute holds, parsed the way libcxl parses that attribute, or ``default``
# when it was unreadable (its text is None).


def attr_u64(text: str | None, default: int) -> int:
    """``strtoull(buf, NULL, 0)``: an unsigned 64-bit value (sizes, addresses, flags)."""
    return default if text is None else _u64_values[text]


def attr_int(text: str | None, default: int) -> int:
    """``strtol(buf, NULL, 0)`` stored in an ``int`` (a NUMA node, a count, a state)."""
    return default if text is None else _int_values[text]


def attr_atoi(text: str | None, default: int) -> int:
    """``atoi(buf)``: decimal only (QoS classes)."""
    return default if text is None else _atoi_values[text]
