"""How upstream renders sizes and hex-typed numbers in JSON, plain and with ``-u``."""

from __future__ import annotations

_2G = 1 << 31
_2T = 1 << 41
U64 = (1 << 64) - 1


def _two_decimals(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def display_size(size: int) -> str:
    """``"<IEC> (<SI>)"``: hundredths rounded half up, MiB/MB below 2 GiB, GiB/GB below
    2 TiB, else TiB/TB."""
    if size < _2G:
        iec, si, iec_unit, si_unit = 1 << 20, 1_000_000, "MiB", "MB"
    elif size < _2T:
        iec, si, iec_unit, si_unit = 1 << 30, 1_000_000_000, "GiB", "GB"
    else:
        iec, si, iec_unit, si_unit = 1 << 40, 1_000_000_000_000, "TiB", "TB"
    c_iec = (size * 200 // iec + 1) // 2
    c_si = (size // (si // 200) + 1) // 2
    return f"{_two_decimals(c_iec)} {iec_unit} ({_two_decimals(c_si)} {si_unit})"


def size_value(size: int, human: bool) -> int | str:
    """A size: a signed 64-bit integer, or with ``-u`` a string from 5,120,000 bytes up."""
    size &= U64
    if human and size >= 5000 * 1024:
        return display_size(size)
    return size - (1 << 64) if size >= 1 << 63 else size


def hex_value(value: int, human: bool) -> int | str:
    """A hex-typed number: an unsigned integer, or with ``-u`` ``%#llx`` (zero is ``"0"``)."""
    value &= U64
    if human:
        return f"{value:#x}" if value else "0"
    return value
