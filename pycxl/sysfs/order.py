"""kernfs readdir order, for directory trees that are not a real sysfs.

A real sysfs lists entries sorted by (kernfs_name_hash(name), name); exported trees on other
filesystems list them in arbitrary order, so the file-backed reader sorts them the same way.
fake_sysfs carries the same rule (fake_sysfs/kernfs/order.py); the two packages share no
code by design.
"""

from __future__ import annotations

from functools import lru_cache

_GOLDEN_RATIO_64 = 0x61C8864680B583EB
_M64 = (1 << 64) - 1
_MIX = [(c << 4) + (c >> 4) for c in range(256)]


@lru_cache(maxsize=65536)
def _key(name: str) -> tuple[int, str]:
    # partial_name_hash per byte; only + and * are involved, so reducing modulo 2^64 once
    # at the end gives the same value as the kernel's per-step wraparound.
    h = 0
    for c in name.encode():
        h = (h + _MIX[c]) * 11
    h &= _M64
    h = (((h * _GOLDEN_RATIO_64) & _M64) >> 32) & 0x7FFFFFFF
    if h < 2:
        h += 2
    if h >= 0x7FFFFFFF:
        h = 0x7FFFFFFE
    return (h, name)


def kernfs_sorted(names: list[str]) -> list[str]:
    return sorted(names, key=_key)
