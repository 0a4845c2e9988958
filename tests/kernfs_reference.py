"""An independent reference for kernfs readdir order, for tests.

It follows fs/kernfs/dir.c step by step (partial_name_hash per byte with unsigned-long
wraparound, hash_long(h, 32), 31 bits, with 0, 1 and INT_MAX reserved), deliberately
written apart from the project's own implementations so that each checks the other.
"""

from __future__ import annotations

from collections.abc import Iterable

_M64 = (1 << 64) - 1
_GOLDEN_RATIO_64 = 0x61C8864680B583EB


def reference_hash(name: str) -> int:
    h = 0
    for c in name.encode():
        h = ((h + (c << 4) + (c >> 4)) * 11) & _M64
    h = ((h * _GOLDEN_RATIO_64) & _M64) >> 32
    h &= 0x7FFFFFFF
    if h < 2:
        h += 2
    if h >= 0x7FFFFFFF:
        h = 0x7FFFFFFE
    return h


def reference_sorted(names: Iterable[str]) -> list[str]:
    """What readdir gives on sysfs: by hash, then by name (bytewise)."""
    return sorted(names, key=lambda n: (reference_hash(n), n.encode()))
