"""kernfs readdir order: entries sorted by (name hash, name).

This is fs/kernfs/dir.c's ``kernfs_name_hash`` for entries without a namespace on a 64-bit
kernel. pycxl carries the same rule for plain directory trees (pycxl/sysfs/order.py); the two
packages share no code by design, so the rule lives in both.
"""

from __future__ import annotations

from functools import lru_cache

_GOLDEN_RATIO_64 = 0x61C8864680B583EB
_M64 = (1 << 64) - 1
_MIX = [(c << 4) + (c >> 4) for c in range(256)]


@lru_cache(maxsize=65536)
def kernfs_name_hash(name: str) -> int:
    # partial_name_hash per byte; only + and * are involved, so reducing modulo 2^64 once
    # at the end gives the same value as the kernel's per-step wraparound.
    h = 0
    for c in name.encode():
        h = (h + _MIX[c]) * 11
    h &= _M64
    h = (((h * _GOLDEN_RATIO_64) & _M64) >> 32) & 0x7FFFFFFF
    # Hash values 0 and 1 and INT_MAX are reserved for "." , ".." and the end of a listing.
    if h < 2:
        h += 2
    if h >= 0x7FFFFFFF:
        h = 0x7FFFFFFE
    return h


def kernfs_key(name: str) -> tuple[int, str]:
    return (kernfs_name_hash(name), name)


def kernfs_sorted(names: list[str]) -> list[str]:
    return sorted(names, key=kernfs_key)
