"""C library number parsing, as upstream applies it to attributes and arguments.

Upstream parses sysfs values with ``strtoull(buf, NULL, 0)`` and friends and filter tokens
with ``sscanf("%d")``: a ``0x`` prefix means hex, a leading ``0`` means octal, trailing junk
is ignored, and text without digits is 0. These helpers reproduce that exactly.
"""

from __future__ import annotations

ULLONG_MAX = (1 << 64) - 1
LONG_MAX = (1 << 63) - 1
LONG_MIN = -(1 << 63)
INT_MAX = (1 << 31) - 1
_WS = " \t\n\v\f\r"
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _scan(s: str, base: int) -> tuple[int, bool, int, bool]:
    """Parse like strto*: (magnitude, negative, end index, overflowed-u64). end=0: no number."""
    i = 0
    n = len(s)
    while i < n and s[i] in _WS:
        i += 1
    neg = False
    if i < n and s[i] in "+-":
        neg = s[i] == "-"
        i += 1
    if base == 0:
        if s[i : i + 2].lower() == "0x" and i + 2 < n and s[i + 2].lower() in _DIGITS[:16]:
            base, i = 16, i + 2
        elif s[i : i + 1] == "0":
            base = 8
        else:
            base = 10
    elif (
        base == 16
        and s[i : i + 2].lower() == "0x"
        and i + 2 < n
        and s[i + 2].lower() in _DIGITS[:16]
    ):
        i += 2
    start = i
    value = 0
    valid = _DIGITS[:base]
    while i < n and s[i].lower() in valid:
        value = value * base + valid.index(s[i].lower())
        i += 1
    if i == start:
        return 0, False, 0, False
    return value, neg, i, value > ULLONG_MAX


_HEX = frozenset("0123456789abcdefABCDEF")


def strtoull(s: str, base: int = 0) -> tuple[int, int]:
    """(value, end): ``end`` is the index after the number, 0 when there was none."""
    # Fast paths for what sysfs holds: plain decimal and 0x-prefixed hex.
    if base == 0 and s:
        if s.isdigit() and s.isascii() and (s[0] != "0" or len(s) == 1):
            value = int(s)
            return (value if value <= ULLONG_MAX else ULLONG_MAX), len(s)
        if s[:2] == "0x" and len(s) > 2 and _HEX.issuperset(s[2:]):
            value = int(s, 16)
            return (value if value <= ULLONG_MAX else ULLONG_MAX), len(s)
    value, neg, end, over = _scan(s, base)
    if over:
        return ULLONG_MAX, end
    if neg:
        value = (-value) & ULLONG_MAX
    return value, end


def strtoll(s: str, base: int = 0) -> tuple[int, int]:
    # Fast path for what sysfs and device names hold: plain decimal, maybe negative (``-1``).
    if base == 10 or base == 0:
        digits = s[1:] if s[:1] == "-" else s
        if (
            digits.isdigit()
            and digits.isascii()
            and (base == 10 or digits[0] != "0" or len(digits) == 1)  # base 0: 0NN is octal
        ):
            value = int(s)
            if LONG_MIN <= value <= LONG_MAX:
                return value, len(s)
    value, neg, end, _ = _scan(s, base)
    value = -value if neg else value
    return max(LONG_MIN, min(LONG_MAX, value)), end


def to_uint(value: int) -> int:
    """C conversion of an unsigned long to ``unsigned int``."""
    return value & 0xFFFFFFFF


def to_int(value: int) -> int:
    """C conversion of a long to ``int`` (two's complement truncation)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def atoi(s: str) -> int:
    return to_int(strtoll(s, 10)[0])


def scan_int(s: str, prefix: str = "") -> int | None:
    """``sscanf(s, "<prefix>%d", &v) == 1``: the literal prefix, then a decimal int."""
    if not s.startswith(prefix):
        return None
    rest = s[len(prefix) :]
    # Fast path for device names (``mem12``): only digits, small enough for an int.
    if rest.isdigit() and rest.isascii():
        value = int(rest)
        if value <= INT_MAX:
            return value
    value, end = strtoll(rest, 10)
    if end == 0:
        return None
    return to_int(value)


def scan_int_pair(s: str, prefix: str = "") -> tuple[int, int] | None:
    """``sscanf(s, "<prefix>%d.%d", &a, &b) == 2``."""
    if not s.startswith(prefix):
        return None
    rest = s[len(prefix) :]
    a, end = strtoll(rest, 10)
    if end == 0 or rest[end : end + 1] != ".":
        return None
    b, end2 = strtoll(rest[end + 1 :], 10)
    if end2 == 0:
        return None
    return to_int(a), to_int(b)
