"""How upstream's libraries turn an attribute read into a string (util/sysfs.c)."""

from __future__ import annotations

#: Attributes are read into a 1024-byte buffer; a value that fills it counts as a failure.
ATTR_SIZE = 1024


def attr_text(data: bytes) -> str:
    """The string made of an attribute's bytes: a final newline is dropped (only if it is
    the very last byte read), then the string ends at the first NUL."""
    if data.endswith(b"\n"):
        data = data[:-1]
    nul = data.find(b"\0")
    if nul >= 0:
        data = data[:nul]
    return data.decode("utf-8", "surrogateescape")
