"""Namespace labels in a CXL memdev's label storage area, as the nvdimm core of Linux v6.14
keeps them (drivers/nvdimm/label.c, dimm.c; ndctl-daxctl.md 7.4).

v6.14 writes a CXL nvdimm's labels in the EFI (UEFI 2.7, "v1.2") format, not the CXL one:
the CXL accessors exist, but nothing sets the DIMM's ``cxl`` flag before the LSA 2.1 work
that came after v6.14 (nvdimm_probe() leaves it false), so every nsl_*() helper takes its
EFI branch.

Layout: two index blocks, then ``nslot`` label slots of 256 bytes. An index block is the
signature ``NAMESPACE_INDEX``, the label size code (1: 256 bytes), a sequence number
(1 -> 2 -> 3 -> 1; 0 is invalid), its own and the other block's offset, where the labels
start, the slot count, version 1.2 (what nd_label_write_index() writes for 256-byte
labels; on reading, the version only decides the label size, so a 2.1 block is read as
well), a fletcher64 checksum and a bitmap of free slots (set: free). The newer of the two
valid blocks is current (best_seq(): block 1 on a tie); an update writes the other one.

An EFI v1.2 label (256 bytes): the namespace's uuid, its name, flags, nlabel (the number
of DIMMs in the interleave set), its position there, the interleave-set cookie, the
logical block size, the DPA and size of its range on this DIMM, its slot, an alignment
byte, the type GUID (the region's, zero for CXL), the abstraction GUID (claim class, GUID
byte order) and a fletcher64 checksum. A label is valid when its slot field names its slot
and its checksum holds (slot_valid()).

An update is two passes over the member DIMMs (nd_pmem_namespace_label_update()): the
first writes each DIMM's label with the UPDATING flag into the first free slot, the second
writes it again, flags clear, into the next free slot; each pass frees the labels it
replaces and writes the next index block, so a new namespace's label ends in the second
free slot and the sequence number advances twice.

The bytes go through kernel.lsa (``lsa_read`` / ``lsa_write``), the same store the
mailbox's Get LSA / Set LSA use, so ``cxl read-labels`` sees what the nvdimm side wrote and
a zeroed area loses its namespaces.
"""

from __future__ import annotations

import array
import operator
import struct
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fake_sysfs.kernel.lsa import PAGE, lsa_read, lsa_write
from fake_sysfs.kernel.uuids import to_bytes, to_text

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

LABEL_SIZE = 256
NSINDEX_ALIGN = 256
NSINDEX_HEADER = 72
SIGNATURE = b"NAMESPACE_INDEX\0"
#: NSLABEL_FLAG_UPDATING: set on the first pass of a label update, clear on the second.
NSLABEL_FLAG_UPDATING = 0x8
#: The index version nd_label_write_index() writes for 256-byte labels.
INDEX_VERSION = (1, 2)


def _guid(text: str) -> bytes:
    """A GUID's 16 bytes in the EFI (mixed-endian) order: the first three fields
    little-endian (what ``uuid.UUID(text).bytes_le`` gives)."""
    raw = to_bytes(text)
    return raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]


#: Abstraction (claim class) GUIDs the nvdimm core records (to_abstraction_guid()), stored
#: in GUID byte order; a CXL namespace's btt class is BTT2 (btt_claim_class(): no 1.1
#: index here).
CLAIM_UUIDS = {
    "btt": _guid("18633bfc-1735-4217-8ac9-17239282d3f8"),
    "pfn": _guid("266400ba-fb9f-4677-bcb0-968f11d0d225"),
    "dax": _guid("97a86d9c-3cdd-4eda-986f-5068b4f80088"),
}
_INDEX = struct.Struct("<16s3sBIQQQQIHHQ")
#: struct nvdimm_efi_label: uuid, name, flags, nlabel, position, isetcookie, lbasize, dpa,
#: rawsize, slot, align, reserved, type_guid, abstraction_guid, reserved, checksum.
_LABEL = struct.Struct("<16s64sIHHQQQQIB3s16s16s88sQ")
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
    nlabel: int
    position: int
    isetcookie: int
    lbasize: int
    dpa: int
    rawsize: int
    #: The type GUID is zero (a CXL region's interleave set has none).
    type_zero: bool
    claim: str


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
    # __nd_label_validate: from version 1.2 on the size code gives the label size; only
    # 256-byte labels are CXL labels (a 1.1 block describes 128-byte ones).
    if sig != SIGNATURE or labelsize != 1 or major * 100 + minor < 102:
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
        # best_seq(): block 1 wins a tie or when it is block 0's successor.
        a, b = found
        return b if a.seq == b.seq or _NEXT_SEQ[a.seq] == b.seq else a
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
        *INDEX_VERSION,
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
    for which, seq in ((0, 3), (1, 2)):
        lsa_write(k, mem, which * size, _encode_index(Index(which, seq, nslot, free), which, size))
    # init_labels() leaves block 0 current and block 1 next, each as written: the first
    # update numbers itself after the next block's sequence (2 -> 3), not the current's,
    # so it writes block 1 with sequence 3 (the two blocks then tie; block 1 wins).
    return Index(0, 2, nslot, free)


def _decode_label(raw: bytes, slot: int) -> Label | None:
    fields = _LABEL.unpack(raw)
    (uid, name, flags, nlabel, position, cookie, lbasize, dpa, rawsize, lslot, _align, _r,
     type_guid, abstraction, _r2, csum) = fields  # fmt: skip
    if lslot != slot:
        return None
    if fletcher64(raw[:248] + b"\0" * 8) != csum:
        return None
    claim = next((k for k, v in CLAIM_UUIDS.items() if v == abstraction), "")
    return Label(
        slot=slot,
        uuid=to_text(uid),
        name=name.split(b"\0", 1)[0].decode("utf-8", "replace"),
        flags=flags,
        nlabel=nlabel,
        position=position,
        isetcookie=cookie,
        lbasize=lbasize,
        dpa=dpa,
        rawsize=rawsize,
        type_zero=type_guid == bytes(16),
        claim=claim,
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


def _slot_uuids(k: Kernel, mem: Memdev, index: Index) -> dict[int, bytes]:
    """The uuid field of every slot in use (the nvdimm core frees by uuid; no decoding)."""
    size, _ = geometry(mem.lsa_size)
    used = _used(index)
    if not used:
        return {}
    base = 2 * size + used[0] * LABEL_SIZE
    span = lsa_read(k, mem, base, (used[-1] - used[0] + 1) * LABEL_SIZE)
    return {
        slot: span[(slot - used[0]) * LABEL_SIZE : (slot - used[0]) * LABEL_SIZE + 16]
        for slot in used
    }


def _label_pass(k: Kernel, mem: Memdev, index: Index, add: list[Label], reap: set[bytes]) -> None:
    """One __pmem_label_update(): write ``add`` into the first free slots, free the slots
    that held the uuids in ``reap`` before this pass, commit the next index block."""
    size, _ = geometry(mem.lsa_size)
    before = _slot_uuids(k, mem, index)
    for label in add:
        slot = next((s for s in range(index.nslot) if _slot_free(index, s)), None)
        if slot is None:
            raise ValueError("no free label slot")
        label.slot = slot
        lsa_write(k, mem, 2 * size + slot * LABEL_SIZE, _encode_label(label))
        _set_free(index, slot, False)
    for slot, uid in before.items():
        if uid in reap:
            _set_free(index, slot, True)
    _write_index(k, mem, index)


def free_slots(k: Kernel, mem: Memdev) -> int:
    """Free slots of the current index (nd_label_nfree), or every slot without an index."""
    index = current_index(k, mem)
    if index is None:
        return geometry(mem.lsa_size)[1]
    return index.nslot - len(_used(index))


def write_labels(k: Kernel, mem: Memdev, add: list[Label], reap: list[str]) -> None:
    """nd_pmem_namespace_label_update() on one DIMM: the two passes (UPDATING, then clear),
    each replacing the labels of ``add``'s uuid and of the uuids in ``reap`` (a name the
    namespace had before). The area is initialized first if it holds no valid index
    (init_labels)."""
    index = current_index(k, mem) or init_index(k, mem)
    gone = {to_bytes(u) for u in reap} | {to_bytes(lb.uuid) for lb in add}
    for flags in (NSLABEL_FLAG_UPDATING, 0):
        for label in add:
            label.flags = flags
        _label_pass(k, mem, index, add, gone)


def delete_labels(k: Kernel, mem: Memdev, uuid: str) -> None:
    """del_labels(): free the slots of ``uuid`` and commit the next index block (even if
    none was freed); an area without a valid index is left alone."""
    index = current_index(k, mem)
    if index is None:
        return
    gone = to_bytes(uuid)
    for slot, uid in _slot_uuids(k, mem, index).items():
        if uid == gone:
            _set_free(index, slot, True)
    _write_index(k, mem, index)


def _encode_label(label: Label) -> bytes:
    """__pmem_label_update(): a zeroed label with the namespace's fields (the type GUID and
    the alignment byte stay zero), then the checksum."""
    claim = CLAIM_UUIDS.get(label.claim)
    raw = bytearray(
        _LABEL.pack(
            to_bytes(label.uuid),
            label.name.encode()[:63].ljust(64, b"\0"),
            label.flags,
            label.nlabel,
            label.position,
            label.isetcookie,
            label.lbasize,
            label.dpa,
            label.rawsize,
            label.slot,
            0,
            bytes(3),
            bytes(16),
            claim if claim is not None else bytes(16),
            bytes(88),
            0,
        )
    )
    struct.pack_into("<Q", raw, 248, fletcher64(bytes(raw)))
    return bytes(raw)
