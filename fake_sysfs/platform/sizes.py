"""Sizes as users write them in platform files and QEMU command lines."""

from __future__ import annotations

from fake_sysfs.errors import PlatformError

_SUFFIX = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(value: object, what: str) -> int:
    """Parse ``256M``, ``4G``, ``0x10000000``, ``8k`` or a plain integer (bytes).

    Suffixes are binary (QEMU's convention) and case-insensitive; an optional trailing
    ``iB``/``B`` is accepted (``256MiB``).
    """
    if isinstance(value, bool):
        raise PlatformError(f"{what}: expected a size, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise PlatformError(f"{what}: size must not be negative: {value}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise PlatformError(f"{what}: expected a size such as 256M, got {value!r}")
    text = value.strip().lower()
    if text.endswith("ib"):
        text = text[:-2]
    elif text.endswith("b") and len(text) > 1 and not text[-2].isdigit():
        text = text[:-1]
    unit = 1
    if text and text[-1] in _SUFFIX and not text.startswith("0x"):
        unit = _SUFFIX[text[-1]]
        text = text[:-1]
    try:
        number = int(text, 0)
    except ValueError:
        raise PlatformError(f"{what}: not a size: {value!r}") from None
    if number < 0:
        raise PlatformError(f"{what}: size must not be negative: {value!r}")
    return number * unit


def format_size(value: int) -> str:
    """The shortest exact binary-suffixed spelling (``256M``, ``4G``, ``1536M``)."""
    for suffix, unit in (("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)
