"""UUIDs as the kernel's structures carry them: 16 bytes in RFC 4122 (big-endian) order,
and their canonical text. The standard uuid module would do, but importing it (and the
platform module it pulls in) costs every cold command a few milliseconds."""

from __future__ import annotations


def to_bytes(text: str) -> bytes:
    """The 16 bytes of a UUID written as 32 hex digits, with or without its dashes (what
    ``uuid.UUID(text).bytes`` gives for such text); ValueError for anything else."""
    digits = text.replace("-", "")
    if len(digits) != 32:
        raise ValueError(f"not a UUID: {text!r}")
    return bytes.fromhex(digits)


def to_text(raw: bytes) -> str:
    """The canonical (lower-case, dashed) text of 16 UUID bytes."""
    if len(raw) != 16:
        raise ValueError("a UUID is 16 bytes")
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
