"""A memdev's label storage area (LSA): the bytes Get LSA reads and Set LSA writes.

The area is ``lsa_size`` bytes, zero until written. It is kept sparse on the memdev state
(``Memdev.lsa``): page number -> the page's bytes in base64, and only pages holding a
non-zero byte are stored, so an untouched 128 KiB area costs the state file nothing.

Both the mailbox (``cxl read-labels`` / ``write-labels``) and the nvdimm side (namespace
labels) go through these two functions; they check nothing but the bounds, which the
callers translate into their own errors.
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: Bytes per stored page.
PAGE = 4096
_ZERO_PAGE = bytes(PAGE)


def in_bounds(mem: Memdev, off: int, n: int) -> bool:
    """[off, off + n) lies inside the label storage area."""
    return off >= 0 and n >= 0 and off + n <= mem.lsa_size


def lsa_read(k: Kernel, mem: Memdev, off: int, n: int) -> bytes:
    """``n`` bytes of ``mem``'s LSA from ``off``; ValueError when out of bounds."""
    del k
    if not in_bounds(mem, off, n):
        raise ValueError(f"LSA access [{off:#x}, +{n:#x}) beyond {mem.lsa_size:#x}")
    out = bytearray(n)
    pos = off
    while pos < off + n:
        page, start = divmod(pos, PAGE)
        take = min(PAGE - start, off + n - pos)
        stored = mem.lsa.get(page)
        if stored is not None:
            data = binascii.a2b_base64(stored)
            out[pos - off : pos - off + take] = data[start : start + take]
        pos += take
    return bytes(out)


def lsa_write(k: Kernel, mem: Memdev, off: int, data: bytes) -> None:
    """Write ``data`` at ``off``; ValueError when out of bounds (nothing written)."""
    del k
    if not in_bounds(mem, off, len(data)):
        raise ValueError(f"LSA access [{off:#x}, +{len(data):#x}) beyond {mem.lsa_size:#x}")
    pos = off
    end = off + len(data)
    while pos < end:
        page, start = divmod(pos, PAGE)
        take = min(PAGE - start, end - pos)
        stored = mem.lsa.get(page)
        buf = bytearray(binascii.a2b_base64(stored)) if stored is not None else bytearray(PAGE)
        buf[start : start + take] = data[pos - off : pos - off + take]
        if buf != _ZERO_PAGE:  # a C comparison; any() walks the page in Python
            mem.lsa[page] = binascii.b2a_base64(bytes(buf), newline=False).decode("ascii")
        else:
            mem.lsa.pop(page, None)
        pos += take


def lsa_clear(k: Kernel, mem: Memdev) -> None:
    """Zero the whole area (a sanitize on QEMU)."""
    del k
    mem.lsa.clear()
