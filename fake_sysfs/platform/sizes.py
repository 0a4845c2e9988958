"""Sizes as users write them in platform files and QEMU command lines.

The grammar is QEMU's (``qemu_strtosz()`` in util/cutils.c, QEMU 8.1 and later), which is
what every ``size=`` of a QEMU command line goes through:

* optional leading white space and ``+``; then a decimal number, or ``0x``/``0X`` and
  hexadecimal digits; a leading ``0`` is not octal (``010`` is ten);
* an optional suffix ``B K M G T P E`` in either case, binary (``1K`` is 1024);
* a decimal fraction (``1.5G``, ``.5K``, ``1.K``) needs a suffix above ``B``; the result is
  rounded to the nearest byte, halves up (``12.345M`` is 12944671); a fraction of zero
  (``1.0``, ``1.``) is allowed without one;
* not accepted: hex with a suffix or a fraction (``0x10M``, ``0x1.8K``), exponents
  (``1e3`` is ``1E`` followed by junk), ``inf``/``nan``, negative numbers, trailing text
  or white space, and anything above 2^64-1 (``16E`` is 2^64; a number that is too large
  before its suffix leaves the suffix as junk: ``18446744073709551616K`` is "invalid");
* digits are ASCII digits only.

Platform files accept the same, plus an ``iB``/``B`` after a suffix (``256MiB``, ``256MB``),
and non-negative TOML integers up to 2^64-1.
"""

from __future__ import annotations

import re

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.text import C_SPACE, DIGITS, HEX_DIGITS, quote, show_int

U64_MAX = (1 << 64) - 1

#: QEMU's suffix_mul(): the power of 1024 of each suffix letter.
_SUFFIX_POWER = {letter: power for power, letter in enumerate("BKMGTPE")}
_SUFFIX_POWER |= {letter.lower(): power for letter, power in list(_SUFFIX_POWER.items())}
_FILE_TAIL = re.compile(r"(.*[KMGTPEkmgtpe])(?:[iI][bB]|[bB])")

_HINT = "a non-negative number below 2^64, with an optional suffix B, K, M, G, T, P or E"


class SizeSyntaxError(ValueError):
    """``qemu_strtosz()`` would fail: ``kind`` is "invalid", "negative" or "range"."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _digits(text: str, start: int, allowed: frozenset[str]) -> int:
    end = start
    while end < len(text) and text[end] in allowed:
        end += 1
    return end


def qemu_strtosz(text: str, default_power: int = 0) -> int:
    """The value of ``text`` as ``qemu_strtosz()`` reads it (``default_power`` 2 is
    ``qemu_strtosz_MiB()``); raises :class:`SizeSyntaxError` where QEMU fails.

    As in QEMU, trailing junk makes any other failure "invalid".
    """
    n = len(text)
    i = 0
    while i < n and text[i] in C_SPACE:
        i += 1
    negative = i < n and text[i] == "-"
    if i < n and text[i] in "+-":
        i += 1
    end = _digits(text, i, DIGITS)
    value = 0
    fraction_bits = 0  # the fraction as a 64-bit binary fixed-point number
    failure = ""
    if end > i:
        # parse_uint(): a minus sign or more than 64 bits is a range error.
        value = _integer(text[i:end], 10)
        if negative or value > U64_MAX:
            failure = "negative" if negative else "range"
        elif text[i:end] == "0" and text[end : end + 1] in ("x", "X"):
            hex_end = _digits(text, end + 1, HEX_DIGITS)
            if hex_end == end + 1:
                raise SizeSyntaxError("invalid")  # "0x" without digits
            value = _integer(text[end + 1 : hex_end], 16)
            end = hex_end
            if value > U64_MAX:
                failure = "range"
            elif text[end : end + 1] == "." or text[end : end + 1] in _SUFFIX_POWER:
                raise SizeSyntaxError("invalid")  # no hex fractions, no hex suffixes
        elif text[end : end + 1] == ".":
            if text[end + 1 : end + 2] in DIGITS and end + 2 <= n:
                end, fraction_bits, value = _fraction(text, end, value)
            else:
                end += 1  # "1." and "1.k": an empty fraction
    elif "." in text:
        # No integral digits: strtod() of the whole text, which can only be [+-].digits here
        # (exponents are cut off, and inf/nan are not finite).
        if not (text[i : i + 1] == "." and text[i + 1 : i + 2] in DIGITS and i + 2 <= n):
            raise SizeSyntaxError("invalid")
        end, fraction_bits, value = _fraction(text, i, 0)
        if negative:
            failure = "negative"
    else:
        raise SizeSyntaxError("invalid")
    if not failure:
        power = _SUFFIX_POWER.get(text[end : end + 1])
        if power is not None:
            end += 1
        else:
            power = default_power
        if power == 0 and fraction_bits:
            raise SizeSyntaxError("invalid")  # a fraction of a byte
        unit = 1 << (10 * power)
        scaled = fraction_bits * unit
        value = value * unit + (scaled >> 64) + ((scaled >> 63) & 1)
        if value > U64_MAX:
            failure = "range"
    if end != n:
        raise SizeSyntaxError("invalid")
    if failure:
        raise SizeSyntaxError(failure)
    return value


def _integer(digits: str, base: int) -> int:
    """``int(digits, base)`` for ASCII digits, without converting absurdly long ones: any
    value above 2^64 is as good as another."""
    significant = digits.lstrip("0")
    if len(significant) > (20 if base == 10 else 16):
        return U64_MAX + 1
    return int(significant or "0", base)


def _fraction(text: str, dot: int, value: int) -> tuple[int, int, int]:
    """The fraction starting at ``text[dot] == "."``: (end, 64-bit fixed point, value).

    QEMU converts it with strtod() to a double and truncates that to 64 fraction bits; a
    non-zero fraction stays non-zero, and one that rounds to 1.0 carries into ``value``.
    """
    end = _digits(text, dot + 1, DIGITS)
    digits = text[dot + 1 : end]
    fraction = float("0." + digits)
    if fraction == 1.0:
        return end, 0, value + 1
    bits = int(fraction * (1 << 64))
    if bits == 0 and digits.strip("0"):
        bits = 1
    return end, bits, value


def _describe(error: SizeSyntaxError, value: str, what: str) -> PlatformError:
    if error.kind == "negative":
        return PlatformError(f"{what}: a size must not be negative: {quote(value)}")
    if error.kind == "range":
        return PlatformError(f"{what}: {quote(value)} is more than 2^64-1 bytes")
    return PlatformError(f"{what}: not a size: {quote(value)} ({_HINT})")


def parse_size(value: object, what: str, *, qemu: bool = False) -> int:
    """A size of a platform file (``qemu`` False) or a QEMU command line (``qemu`` True).

    Returns bytes, 0 to 2^64-1; anything else raises a one-line :class:`PlatformError`
    naming ``what``. See the module docstring for the grammar.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PlatformError(f"{what}: expected a size such as 256M, got {quote(value)}")
    if isinstance(value, int):
        if value < 0:
            raise PlatformError(f"{what}: a size must not be negative: {show_int(value)}")
        if value > U64_MAX:
            raise PlatformError(f"{what}: {show_int(value)} is more than 2^64-1 bytes")
        return value
    try:
        return qemu_strtosz(value)
    except SizeSyntaxError as error:
        tail = _FILE_TAIL.fullmatch(value) if not qemu and error.kind == "invalid" else None
        if tail is None:
            raise _describe(error, value, what) from None
        try:
            return qemu_strtosz(tail.group(1))
        except SizeSyntaxError as again:
            raise _describe(again, value, what) from None


def format_size(value: int) -> str:
    """The shortest exact binary-suffixed spelling (``256M``, ``4G``, ``1536M``)."""
    for suffix, unit in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
