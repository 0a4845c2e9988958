"""Namespace labels in a CXL memdev's label storage area, as the nvdimm core keeps them
(ndctl-daxctl.md 7.4; the CXL flavour the kernel writes for CXL nvdimms).

Layout: two index blocks, then ``nslot`` label slots of 256 bytes. An index block is the
signature ``NAMESPACE_INDEX``, the label size code (1: 256 bytes), a sequence number
(1 -> 2 -> 3 -> 1; 0 is invalid), its own and the other block's offset, where the labels
start, the slot count, version 2.1, a fletcher64 checksum and a bitmap of free slots (set:
free). The newer of the two valid blocks is current; an update writes the other one.

A CXL namespace label (256 bytes): the namespace type uuid, the namespace's uuid, its name,
flags, the number of ranges, its position in the interleave set, the DPA and size of its
range on this device, its slot, its alignment, the region uuid, the abstraction (claim
class) uuid, the logical block size and a fletcher64 checksum.

The bytes go through kernel.lsa (``lsa_read`` / ``lsa_write``), the same store the
mailbox's Get LSA / Set LSA use, so ``cxl read-labels`` sees what the nvdimm side wrote and
a zeroed area loses its namespaces.
"""

from __future__ import annotations

import array
import operator
import struct
import sys
import uuid as uuidlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fake_sysfs.kernel.lsa import PAGE, lsa_read, lsa_write

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

LABEL_SIZE = 256
NSINDEX_ALIGN = 256
NSINDEX_HEADER = 72
SIGNATURE = b"NAMESPACE_INDEX\0"
#: The namespace type uuid of a CXL pmem namespace label.
CXL_NAMESPACE_TYPE = uuidlib.UUID("68bb2c0a-5a77-4937-9f85-3caf41a0f93c")
#: Abstraction (claim class) uuids the nvdimm core records; labels of version 1.2 and later
#: (CXL's 2.1 included) name a btt by the BTT2 uuid.
CLAIM_UUIDS = {
    "btt": uuidlib.UUID("18633bfc-1735-4217-8ac9-17239282d3f8"),
    "pfn": uuidlib.UUID("266400ba-fb9f-4677-bcb0-968f11d0d225"),
    "dax": uuidlib.UUID("97a86d9c-3cdd-4eda-986f-5068b4f80088"),
}
_INDEX = struct.Struct("<16s3sBIQQQQIHHQ")
_LABEL = struct.Struct("<16s16s64sIHHQQII16s16sH86sQ")
_NEXT_SEQ = {1: 2, 2: 3, 3: 1}


def fletcher64(data: bytes) -> int:
    """nd_fletcher64 over the little-endian 32-bit words: lo is the sum of the words, hi
    the sum of the running sums, each modulo 2^32. The running sums add word j (of n)
    n - j times, which lets C-level sums do the work (index blocks are large)."""
    words = array.array("I", data[: len(data) - len(data) % 4])
    if sys.byteorder == "big":
        words.byteswap()
    n = len(words)
    lo = sum(words) & 0xFFFF_FFFF
    hi: int = sum(map(operator.mul, words, range(n, 0, -1))) & 0xFFFF_FFFF
    return hi << 32 | lo


def _index_size_for(nslot: int) -> int:
    return -(-(NSINDEX_HEADER + -(-nslot // 8)) // NSINDEX_ALIGN) * NSINDEX_ALIGN


def geometry(lsa_size: int) -> tuple[int, int]:
    """(index block size, label slots) of an area: size the index for every slot the area
    could hold, then count the slots beside two such blocks."""
    index = _index_size_for(lsa_size // LABEL_SIZE)
    nslot = max(0, (lsa_size - 2 * index) // LABEL_SIZE)
    return _index_size_for(nslot), nslot


@dataclass
class Label:
    """One valid label, decoded."""

    slot: int
    uuid: str
    name: str
    flags: int
    nrange: int
    position: int
    dpa: int
    rawsize: int
    align: int
    region_uuid: str
    claim: str
    lbasize: int


@dataclass
class Index:
    which: int
    seq: int
    nslot: int
    free: bytearray


def _valid_index(raw: bytes, which: int, size: int, lsa_size: int) -> Index | None:
    if len(raw) < NSINDEX_HEADER:
        return None
    fields = _INDEX.unpack_from(raw)
    sig, _flags, labelsize, seq, myoff, mysize, otheroff, labeloff, nslot, major, minor, csum = (
        fields
    )
    if sig != SIGNATURE or labelsize != 1 or (major, minor) != (2, 1):
        return None
    zeroed = raw[:64] + b"\0" * 8 + raw[72:size]
    if fletcher64(zeroed) != csum or seq & 3 == 0:
        return None
    if myoff != which * size or otheroff != (1 - which) * size or labeloff != 2 * size:
        return None
    if not NSINDEX_HEADER <= mysize <= size or nslot * LABEL_SIZE + 2 * size > lsa_size:
        return None
    return Index(which, seq & 3, nslot, bytearray(raw[NSINDEX_HEADER:size]))


#: Index blocks already decoded and validated, by the stored pages that hold them (the
#: area's size and its pages' stored text: equal keys are equal bytes). Checking a large
#: area's blocks costs far more than looking them up, and a store reads them often.
_VALIDATED: dict[tuple[int, tuple[str | None, ...]], tuple[int, int, int, bytes] | None] = {}


def current_index(k: Kernel, mem: Memdev) -> Index | None:
    """The newer valid index block, or None when the area holds no valid index."""
    size, _ = geometry(mem.lsa_size)
    if not size or 2 * size > mem.lsa_size:
        return None
    key = (mem.lsa_size, tuple(mem.lsa.get(p) for p in range(-(-2 * size // PAGE))))
    if key in _VALIDATED:
        known = _VALIDATED[key]
        return None if known is None else Index(known[0], known[1], known[2], bytearray(known[3]))
    found = _parse_index(lsa_read(k, mem, 0, 2 * size), size, mem.lsa_size)
    if len(_VALIDATED) > 64:
        _VALIDATED.clear()
    _VALIDATED[key] = (
        None if found is None else (found.which, found.seq, found.nslot, bytes(found.free))
    )
    return found


def _parse_index(raw: bytes, size: int, lsa_size: int) -> Index | None:
    found = [
        idx
        for which in (0, 1)
        if (idx := _valid_index(raw[which * size : (which + 1) * size], which, size, lsa_size))
    ]
    if len(found) == 2:
        a, b = found
        return b if _NEXT_SEQ[a.seq] == b.seq else a
    return found[0] if found else None


def _slot_free(index: Index, slot: int) -> bool:
    return bool(index.free[slot // 8] >> (slot % 8) & 1)


def _set_free(index: Index, slot: int, free: bool) -> None:
    if free:
        index.free[slot // 8] |= 1 << (slot % 8)
    else:
        index.free[slot // 8] &= ~(1 << (slot % 8)) & 0xFF


def _encode_index(index: Index, which: int, size: int) -> bytes:
    header = _INDEX.pack(
        SIGNATURE,
        b"\0\0\0",
        1,
        index.seq,
        which * size,
        size,
        (1 - which) * size,
        2 * size,
        index.nslot,
        2,
        1,
        0,
    )
    raw = bytearray((header + bytes(index.free)).ljust(size, b"\0")[:size])
    struct.pack_into("<Q", raw, 64, fletcher64(bytes(raw)))
    return bytes(raw)


def _write_index(k: Kernel, mem: Memdev, index: Index) -> None:
    """Write ``index`` as the next generation, into the block that is not current."""
    size, _ = geometry(mem.lsa_size)
    which = 1 - index.which
    index.seq = _NEXT_SEQ[index.seq]
    index.which = which
    lsa_write(k, mem, which * size, _encode_index(index, which, size))


def init_index(k: Kernel, mem: Memdev) -> Index:
    """Both index blocks, every slot free (block 0 sequence 3, block 1 sequence 2)."""
    size, nslot = geometry(mem.lsa_size)
    free = bytearray(size - NSINDEX_HEADER)
    free[: nslot // 8] = b"\xff" * (nslot // 8)
    if nslot % 8:
        free[nslot // 8] = (1 << (nslot % 8)) - 1
    for which, seq in ((1, 2), (0, 3)):
        lsa_write(k, mem, which * size, _encode_index(Index(which, seq, nslot, free), which, size))
    return Index(0, 3, nslot, free)


def _decode_label(raw: bytes, slot: int) -> Label | None:
    fields = _LABEL.unpack(raw)
    (typ, uid, name, flags, nrange, position, dpa, rawsize, lslot, align, region, abstraction,
     lbasize, _reserved, csum) = fields  # fmt: skip
    if uuidlib.UUID(bytes=typ) != CXL_NAMESPACE_TYPE or lslot != slot:
        return None
    if fletcher64(raw[:248] + b"\0" * 8) != csum:
        return None
    claim = next((k for k, v in CLAIM_UUIDS.items() if v.bytes == abstraction), "")
    return Label(
        slot=slot,
        uuid=str(uuidlib.UUID(bytes=uid)),
        name=name.split(b"\0", 1)[0].decode("utf-8", "replace"),
        flags=flags,
        nrange=nrange,
        position=position,
        dpa=dpa,
        rawsize=rawsize,
        align=align,
        region_uuid=str(uuidlib.UUID(bytes=region)),
        claim=claim,
        lbasize=lbasize,
    )


def read_labels(k: Kernel, mem: Memdev, index: Index | None = None) -> list[Label]:
    """The valid labels of the area's current index (or of ``index``), by slot."""
    index = index or current_index(k, mem)
    if index is None:
        return []
    size, _ = geometry(mem.lsa_size)
    used = _used(index)
    if not used:
        return []
    # One read of the span the used slots cover (they gather at the start: first fit).
    base = 2 * size + used[0] * LABEL_SIZE
    span = lsa_read(k, mem, base, (used[-1] - used[0] + 1) * LABEL_SIZE)
    found = []
    for slot in used:
        at = (slot - used[0]) * LABEL_SIZE
        label = _decode_label(span[at : at + LABEL_SIZE], slot)
        if label is not None:
            found.append(label)
    return found


#: Maps a bitmap byte to 1 when some slot in it is in use (bit clear), else 0.
_IN_USE = bytes(0 if b == 0xFF else 1 for b in range(256))


def _used(index: Index) -> list[int]:
    """The slots the bitmap marks in use; bytes of eight free slots are skipped at C
    speed (an area of 256 MiB has a million slots)."""
    marks = bytes(index.free[: -(-index.nslot // 8)]).translate(_IN_USE)
    used = []
    at = marks.find(1)
    while at >= 0:
        byte = index.free[at]
        for bit in range(8):
            slot = at * 8 + bit
            if slot < index.nslot and not byte >> bit & 1:
                used.append(slot)
        at = marks.find(1, at + 1)
    return used


def used_slots(k: Kernel, mem: Memdev) -> int | None:
    """Slots in use, or None without a valid index."""
    index = current_index(k, mem)
    return None if index is None else len(_used(index))


def update(k: Kernel, mem: Memdev, remove: list[str], add: list[Label]) -> None:
    """Free the slots of the labels of uuids ``remove``, write ``add`` into free slots and
    commit the bitmap with the next index generation (the area is initialized first if it
    holds no valid index, as the nvdimm core does on its first label write)."""
    index = current_index(k, mem) or init_index(k, mem)
    size, _ = geometry(mem.lsa_size)
    gone = {uuidlib.UUID(u).bytes for u in remove}
    used = _used(index)
    if used and gone:
        # Only the uuid field decides (the nvdimm core frees by label id); no decoding.
        base = 2 * size + used[0] * LABEL_SIZE
        span = lsa_read(k, mem, base, (used[-1] - used[0] + 1) * LABEL_SIZE)
        for slot in used:
            at = (slot - used[0]) * LABEL_SIZE
            if span[at + 16 : at + 32] in gone:
                _set_free(index, slot, True)
    for label in add:
        slot = next(s for s in range(index.nslot) if _slot_free(index, s))
        label.slot = slot
        lsa_write(k, mem, 2 * size + slot * LABEL_SIZE, _encode_label(label))
        _set_free(index, slot, False)
    _write_index(k, mem, index)


def _encode_label(label: Label) -> bytes:
    claim = CLAIM_UUIDS.get(label.claim)
    raw = bytearray(
        _LABEL.pack(
            CXL_NAMESPACE_TYPE.bytes,
            uuidlib.UUID(label.uuid).bytes,
            label.name.encode()[:63].ljust(64, b"\0"),
            label.flags,
            label.nrange,
            label.position,
            label.dpa,
            label.rawsize,
            label.slot,
            label.align,
            uuidlib.UUID(label.region_uuid).bytes,
            claim.bytes if claim is not None else bytes(16),
            label.lbasize,
            bytes(86),
            0,
        )
    )
    struct.pack_into("<Q", raw, 248, fletcher64(bytes(raw)))
    return bytes(raw)
