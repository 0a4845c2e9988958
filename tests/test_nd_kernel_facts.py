"""Facts of the nvdimm core the emulated nd side must keep, each checked against the Linux
v6.14 function named beside it (drivers/nvdimm/*.c): btt geometry, DPA allocation, the
namespace and claim store rules, init_namespaces, available_size, and the bytes of the
namespace labels on the DIMMs. The expected numbers are worked out from the kernel's
arithmetic in the comments, not taken from the emulation.
"""

from __future__ import annotations

import errno
import struct
import uuid as uuidlib
from pathlib import Path

import pytest

from fake_sysfs.kernel.nd_labels import fletcher64
from fake_sysfs.store import StateStore
from tests.kernel_stores import Stores
from tests.nd_helpers import ND, REGION, pmem_state, run_ndctl

UUID = "6a8d7b1c-3f5e-4c2a-9b0d-1e2f3a4b5c6d"
OTHER = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
THIRD = "11111111-2222-4333-8444-555555555555"
FOURTH = "99999999-8888-4777-8666-555555555555"
MiB = 1 << 20
NS = f"{REGION}/namespace0.0"
BTT = f"{REGION}/btt0.0"
PFN = f"{REGION}/pfn0.0"


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nd-facts-template")


@pytest.fixture
def state(tmp_path: Path, template_root: Path) -> Path:
    return pmem_state(tmp_path, template_root)


@pytest.fixture
def s(state: Path) -> Stores:
    stores = Stores.__new__(Stores)
    stores.store = StateStore(state)
    return stores


def sized(s: Stores, size: int, ns: str = NS, uuid: str = UUID) -> None:
    s.ok(f"{ns}/uuid", f"{uuid}\n")
    s.ok(f"{ns}/size", f"{size:#x}\n")


def sector(s: Stores, lbasize: int, holder_class: str | None = "btt") -> None:
    """ndctl create-namespace -m sector's writes on a 64 MiB namespace."""
    sized(s, 64 * MiB)
    if holder_class is not None:
        s.ok(f"{NS}/holder_class", f"{holder_class}\n")
    s.ok(f"{BTT}/uuid", f"{OTHER}\n")
    s.ok(f"{BTT}/sector_size", f"{lbasize}\n")
    s.ok(f"{BTT}/namespace", "namespace0.0\n")
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "btt0.0\n")


# -- btt geometry (btt.c, btt_devs.c) ---------------------------------------------------------

# alloc_arena() on a 64 MiB arena (BTT2: the whole namespace, nd_btt_version()): minus two
# info pages and the log (256 x 64 bytes = one 16 KiB... rounded to pages: 16384), minus
# one page, split into (lbasize rounded up to 64) + 4-byte map entries; 256 blocks stay
# free. btt_blk_init(): size = nlba x (512, or 4096 from an lbasize of 4096 on).
#   512:  (67108864 - 8192 - 16384 - 4096) // 516 = 130000 - 256 = 129744 blocks
#   520/528: // 580 = 115655 - 256 = 115399
#   4096: // 4100 = 16361 - 256 = 16105
#   4104/4160: // 4164 = 16109 - 256 = 15853
#   4224: // 4228 = 15865 - 256 = 15609
BTT2_64M = {
    512: 129744 * 512,
    520: 115399 * 512,
    528: 115399 * 512,
    4096: 16105 * 4096,
    4104: 15853 * 4096,
    4160: 15853 * 4096,
    4224: 15609 * 4096,
}


@pytest.mark.parametrize("lbasize", sorted(BTT2_64M))
def test_btt_size_counts_linux_sectors_not_lbasize(s: Stores, lbasize: int) -> None:
    sector(s, lbasize)
    size = BTT2_64M[lbasize]
    assert s.read(f"{BTT}/size") == str(size)
    disk = "pmem0s"
    assert s.read(f"{BTT}/block/{disk}/size") == str(size // 512)
    assert s.read(f"{NS}/size") == str(64 * MiB)


def test_btt_without_a_class_is_version_1_1_four_kib_in(s: Stores) -> None:
    # Class NONE: nd_btt_version() takes the 1.1 layout, 4 KiB in; the arena is 4 KiB
    # smaller: (67104768 - 28672) // 580 = 115648 - 256 = 115392 blocks of 512.
    sector(s, 520, holder_class=None)
    assert s.read(f"{BTT}/size") == str(115392 * 512)


def test_btt_needs_a_sector_size_and_16_mib(s: Stores) -> None:
    # nd_namespace_store(): below 16 MiB no claim device may attach, a btt included.
    s.refuse(f"{BTT}/namespace", "namespace0.0\n", errno.ENXIO, "too small to host")
    # nvdimm_namespace_attach_btt(): no lbasize -> "incomplete btt configuration".
    sized(s, 64 * MiB)
    s.ok(f"{NS}/holder_class", "btt\n")
    s.ok(f"{BTT}/uuid", f"{OTHER}\n")
    s.ok(f"{BTT}/namespace", "namespace0.0\n")
    assert s.errno("/sys/bus/nd/drivers/nd_pmem/bind", "btt0.0\n")
    assert s.bound("btt0.0", "nd") == ""
    assert any("incomplete btt configuration" in r.text for r in s.kernel().log.records)


def test_a_16_mib_btt2_namespace_is_one_small_arena(s: Stores) -> None:
    # 16 MiB is ARENA_MIN_SIZE: (16777216 - 28672) // 4100 = 4085 - 256 = 3829 blocks.
    sized(s, 16 * MiB)
    s.ok(f"{NS}/holder_class", "btt\n")
    s.ok(f"{BTT}/uuid", f"{OTHER}\n")
    s.ok(f"{BTT}/sector_size", "4096\n")
    s.ok(f"{BTT}/namespace", "namespace0.0\n")
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "btt0.0\n")
    assert s.read(f"{BTT}/size") == str(3829 * 4096)


# -- claim attach and reset (claim.c) -----------------------------------------------------------


def test_nd_namespace_store_rules(s: Stores) -> None:
    sized(s, 64 * MiB)
    s.refuse(f"{PFN}/namespace", "foo\n", errno.EINVAL)  # not "namespace*" nor empty
    s.ok(f"{PFN}/namespace", "namespace0.0\n")
    # Already attached: EBUSY even for the same name.
    s.refuse(f"{PFN}/namespace", "namespace0.0\n", errno.EBUSY, "namespace already set to")


def test_an_enabled_raw_namespace_can_be_attached_but_not_claimed(s: Stores) -> None:
    # __nd_attach_ndns() looks only at an existing claim; the claim's probe
    # (nvdimm_namespace_common_probe) then refuses an active namespace.
    sized(s, 64 * MiB)
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    s.ok(f"{PFN}/uuid", f"{OTHER}\n")
    s.ok(f"{PFN}/mode", "pmem\n")
    s.ok(f"{PFN}/namespace", "namespace0.0\n")
    assert s.errno("/sys/bus/nd/drivers/nd_pmem/bind", "pfn0.0\n")
    assert s.bound("pfn0.0", "nd") == ""
    assert any("is active, can't bind pfn0.0" in r.text for r in s.kernel().log.records)


def test_detaching_a_seed_resets_it(s: Stores) -> None:
    # nd_detach_and_reset(): a btt seed forgets uuid and sector size; a pfn seed its uuid
    # and mode, but keeps its alignment.
    sized(s, 64 * MiB)
    s.ok(f"{BTT}/uuid", f"{OTHER}\n")
    s.ok(f"{BTT}/sector_size", "4096\n")
    s.ok(f"{BTT}/namespace", "namespace0.0\n")
    s.ok(f"{BTT}/namespace", "\n")
    assert s.reads(BTT, "uuid", "sector_size") == {
        "uuid": "",
        "sector_size": "512 520 528 4096 4104 4160 4224 ",
    }
    s.ok(f"{PFN}/uuid", f"{OTHER}\n")
    s.ok(f"{PFN}/mode", "pmem\n")
    s.ok(f"{PFN}/align", "4096\n")
    s.ok(f"{PFN}/namespace", "namespace0.0\n")
    s.ok(f"{PFN}/namespace", "\n")
    assert s.reads(PFN, "uuid", "mode", "align") == {"uuid": "", "mode": "none", "align": "4096"}


# -- namespace stores (namespace_devs.c, core.c) ------------------------------------------------


def test_uuid_store_rules(s: Stores) -> None:
    # uuid_parse(): the dashed 36-character form; what follows it is not looked at.
    s.refuse(f"{NS}/uuid", UUID.replace("-", "") + "\n", errno.EINVAL)
    s.ok(f"{NS}/uuid", f"{UUID.upper()}trailing words\n")
    assert s.read(f"{NS}/uuid") == UUID
    # nd_is_uuid_unique() counts the namespace itself: rewriting its uuid is EINVAL.
    s.refuse(f"{NS}/uuid", f"{UUID}\n", errno.EINVAL)
    # ... and the uuids of btt and pfn devices.
    s.ok(f"{PFN}/uuid", f"{OTHER}\n")
    s.refuse(f"{NS}/uuid", f"{OTHER}\n", errno.EINVAL)
    # namespace_update_uuid(): renaming while a member DIMM tracks no label is EBUSY.
    s.refuse(f"{NS}/uuid", f"{THIRD}\n", errno.EBUSY)


def test_holder_class_takes_no_version_name(s: Stores) -> None:
    # __holder_class_store(): "btt", "pfn", "dax" or "" only.
    sized(s, 64 * MiB)
    s.refuse(f"{NS}/holder_class", "btt2\n", errno.EINVAL)
    s.ok(f"{NS}/holder_class", "btt\n")
    assert s.read(f"{NS}/holder_class") == "btt"


def test_size_zero_without_allocation_frees_the_uuid(s: Stores) -> None:
    # __size_store() returns early when nothing changes; size_store frees the uuid anyway.
    s.ok(f"{NS}/uuid", f"{UUID}\n")
    s.ok(f"{NS}/size", "0\n")
    assert s.exists(NS)
    assert s.read(f"{NS}/uuid") == ""


# -- DPA allocation (scan_allocate, nd_region_allocatable_dpa) ----------------------------------


def four_namespaces(s: Stores) -> list[str]:
    """Four 256 MiB namespaces fill the 1 GiB 2-way region, 128 MiB per DIMM each, at
    DIMM offsets 0, 128, 256 and 384 MiB."""
    names = []
    for i, uid in enumerate((UUID, OTHER, THIRD, FOURTH)):
        ns = f"{REGION}/namespace0.{i}"
        sized(s, 256 * MiB, ns, uid)
        s.ok("/sys/bus/nd/drivers/nd_pmem/bind", f"namespace0.{i}\n")
        s.ok("/sys/bus/nd/drivers/nd_pmem/unbind", f"namespace0.{i}\n")
        names.append(ns)
    return names


def test_allocations_are_contiguous(s: Stores) -> None:
    _, b, c, d = four_namespaces(s)
    s.ok(f"{d}/size", "0\n")
    s.ok(f"{b}/size", "0\n")
    # Free: 128 MiB per DIMM at 128 MiB and at 384 MiB; the largest contiguous range is
    # what a namespace can have (nd_region_allocatable_dpa).
    assert s.reads(REGION, "available_size", "max_available_extent") == {
        "available_size": str(512 * MiB),
        "max_available_extent": str(256 * MiB),
    }
    seed = s.read(f"{REGION}/namespace_seed")
    s.ok(f"{REGION}/{seed}/uuid", f"{UUID[:-1]}e\n")
    s.refuse(f"{REGION}/{seed}/size", f"{512 * MiB:#x}\n", errno.ENOSPC)
    # C (256..384 MiB per DIMM) grows into the free range before it (the first free range
    # in DPA order that touches it): its start moves down by 128 MiB per DIMM.
    start = int(s.read(f"{c}/resource"), 16)
    s.ok(f"{c}/size", f"{512 * MiB:#x}\n")
    assert int(s.read(f"{c}/resource"), 16) == start - 256 * MiB


def test_growth_needs_a_touching_free_range(s: Stores) -> None:
    _, b, _, d = four_namespaces(s)
    s.ok(f"{d}/size", "0\n")
    # B has 128 MiB free per DIMM in the region (after C), but none next to it: the
    # size passes the ENOSPC check and scan_allocate() comes up short ("allocation
    # underrun"), which __size_store returns as ENXIO.
    s.refuse(f"{b}/size", f"{512 * MiB:#x}\n", errno.ENXIO, "allocation underrun")


# -- the region (region.c, region_devs.c) ------------------------------------------------------


def test_available_size_asks_the_dimms_not_the_region(s: Stores) -> None:
    sized(s, 256 * MiB)
    s.ok(f"{REGION}/driver/unbind", "region0\n")
    # nd_region_available_dpa(): the DIMMs still hold the labelled DPA.
    assert s.reads(REGION, "available_size", "max_available_extent") == {
        "available_size": str(768 * MiB),
        "max_available_extent": str(768 * MiB),
    }
    # A disabled member DIMM: nothing is available.
    s.ok(f"{ND}/nmem0/driver/unbind", "nmem0\n")
    assert s.read(f"{REGION}/available_size") == "0"


def test_init_namespaces_counts_registered_namespaces(s: Stores) -> None:
    # nd_region_probe(): "%d/%d" of namespaces registered / registered + failed.
    assert s.read(f"{REGION}/init_namespaces") == "1/1"
    sized(s, 256 * MiB)
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    sized(s, 128 * MiB, f"{REGION}/namespace0.1", OTHER)
    s.ok(f"{REGION}/driver/unbind", "region0\n")
    s.ok("/sys/bus/nd/drivers/nd_region/bind", "region0\n")
    # Two labelled namespaces come back; the lower address is namespace0.0 (cmp_dpa).
    assert s.read(f"{REGION}/init_namespaces") == "2/2"
    assert s.read(f"{NS}/uuid") == UUID
    assert s.read(f"{REGION}/namespace0.1/uuid") == OTHER


def test_a_member_without_the_label_fails_the_region(
    s: Stores, state: Path, tmp_path: Path
) -> None:
    # create_namespace_pmem(): a uuid missing at a position is "missing label", and
    # scan_labels() gives up: the region's probe fails.
    sized(s, 256 * MiB)
    s.ok(f"{REGION}/driver/unbind", "region0\n")
    zeros = tmp_path / "zeros"
    zeros.write_bytes(bytes(256 << 10))  # both index blocks of nmem0's area
    assert (
        run_ndctl(["write-labels", "nmem0", "-i", str(zeros), "-s", str(256 << 10)], state).rc == 0
    )
    assert s.errno("/sys/bus/nd/drivers/nd_region/bind", "region0\n")
    assert s.bound("region0", "nd") == ""
    texts = [r.text for r in s.kernel().log.records]
    assert any(f"nmem0 missing label for {UUID}" in t for t in texts)


# -- the labels on the DIMMs (label.c) ---------------------------------------------------------

INDEX = struct.Struct("<16s3sBIQQQQIHHQ")
#: v6.14 never marks a CXL nvdimm's labels as CXL ones (nvdimm_probe() leaves ndd->cxl
#: false): they are EFI v1.2 labels, struct nvdimm_efi_label.
LABEL = struct.Struct("<16s64sIHHQQQQIB3s16s16s88sQ")
#: to_abstraction_guid(): the pfn claim class, a GUID (little-endian first three fields).
PFN_GUID = uuidlib.UUID("266400ba-fb9f-4677-bcb0-968f11d0d225").bytes_le


def area(state: Path, nmem: str) -> bytes:
    """The index blocks and the first label slots of a 256 MiB area."""
    result = run_ndctl(["read-labels", nmem, "-s", str((256 << 10) + 8 * 256)], state)
    assert result.rc == 0
    return result.out


def test_label_bytes(s: Stores, state: Path) -> None:
    sized(s, 256 * MiB)
    s.ok(f"{NS}/alt_name", "hello\n")
    s.ok(f"{NS}/sector_size", "4096\n")
    s.ok(f"{NS}/holder_class", "pfn\n")
    for nmem, position in (("nmem2", 0), ("nmem0", 1)):
        data = area(state, nmem)
        isize = 128 << 10  # the index blocks of a 256 MiB area (nvdimm_num_label_slots)
        blocks = [INDEX.unpack_from(data, i * isize) for i in (0, 1)]
        # nd_label_write_index(): version 1.2, size code 1 (256-byte labels).
        assert {(b[2], b[9], b[10]) for b in blocks} == {(1, 1, 2)}
        free = data[current_block(data, isize) + 72]
        used = [slot for slot in range(8) if not free >> slot & 1]
        assert len(used) == 1
        raw = data[2 * isize + used[0] * 256 : 2 * isize + used[0] * 256 + 256]
        f = LABEL.unpack(raw)
        (uid, name, flags, nlabel, pos, cookie, lbasize, dpa, rawsize, slot, align, _r,
         type_guid, claim, _r2, csum) = f  # fmt: skip
        assert uidlib_str(uid) == UUID and name.rstrip(b"\0") == b"hello"
        # nlabel: the interleave ways; isetcookie: the region's set_cookie (cookie2 for a
        # 1.2 index, which CXL makes equal to cookie1).
        assert (flags, nlabel, pos, slot) == (0, 2, position, used[0])
        assert cookie == int(s.read(f"{REGION}/set_cookie"), 16)
        assert (dpa, rawsize, lbasize) == (512 * MiB, 128 * MiB, 4096)
        assert (type_guid, align) == (bytes(16), 0)  # no type GUID for a CXL region
        assert claim == PFN_GUID
        assert csum == fletcher64(raw[:248] + bytes(8))


def uidlib_str(raw: bytes) -> str:
    return str(uuidlib.UUID(bytes=raw))


def current_block(data: bytes, isize: int) -> int:
    """best_seq(): block 1 is current when its sequence equals block 0's or follows it in
    1 -> 2 -> 3 -> 1; the offset of the current block."""
    a, b = (INDEX.unpack_from(data, i * isize)[3] for i in (0, 1))
    return isize if a == b or {1: 2, 2: 3, 3: 1}[a] == b else 0


def test_label_updates_take_two_slots_and_two_generations(s: Stores, state: Path) -> None:
    # nd_pmem_namespace_label_update(): pass 1 writes the UPDATING label into the first
    # free slot (0), pass 2 the final one into the next (1) and frees slot 0; each pass
    # commits the next index block, so the current block is the second write: sequence 1
    # in block 0 (init_labels wrote 3 into block 0 and 2 into block 1; 2 -> 3 -> 1).
    sized(s, 256 * MiB)
    data = area(state, "nmem2")
    isize = 128 << 10
    seqs = [INDEX.unpack_from(data, i * isize)[3] for i in (0, 1)]
    assert seqs == [1, 3]
    free = data[72]  # block 0's bitmap, slots 0..7
    assert [slot for slot in range(8) if not free >> slot & 1] == [1]
    assert struct.unpack_from("<I", data, 2 * isize + 80)[0] == 0x8  # slot 0: UPDATING
    # del_labels(): size 0 frees the slot and commits one more generation.
    s.ok(f"{NS}/size", "0\n")
    data = area(state, "nmem2")
    assert INDEX.unpack_from(data, isize)[3] == 2
    assert data[isize + 72] & 0b11 == 0b11


# -- pfn alignment (pfn_devs.c) -----------------------------------------------------------------


def test_pfn_alignments_of_x86_64_and_the_1g_limit(s: Stores) -> None:
    # nd_pfn_supported_alignments(): page, PMD and (x86-64) PUD size, none bracketed.
    assert s.read(f"{PFN}/supported_alignments") == "4096 2097152 1073741824 "
    assert s.read(f"{PFN}/align") == "2097152"  # nd_pfn_default_alignment()
    # nd_pfn_init(): 256 MiB holds at most one 1 GiB boundary, so the data offset (aligned
    # up to 1 GiB past the info block and page array) reaches the aligned end: ENXIO.
    sized(s, 256 * MiB)
    s.ok(f"{PFN}/uuid", f"{OTHER}\n")
    s.ok(f"{PFN}/mode", "pmem\n")
    s.ok(f"{PFN}/align", f"{1 << 30}\n")
    s.ok(f"{PFN}/namespace", "namespace0.0\n")
    assert s.errno("/sys/bus/nd/drivers/nd_pmem/bind", "pfn0.0\n")
    texts = [r.text for r in s.kernel().log.records]
    assert any("namespace0.0 unable to satisfy requested alignment" in t for t in texts)


def test_region_numa_and_target_node(s: Stores) -> None:
    # cxl_pmem_region_probe(): numa_node = memory_add_physaddr_to_nid(start), which on x86
    # falls back to the first memory block's node (0) for an address no SRAT range covers;
    # target_node = phys_to_target_node(start), the node ACPI made for the CFMWS window
    # (node 1 on a single-node QEMU guest, kernel-sysfs.md 4.2). Namespaces show the same.
    sized(s, 64 * MiB)
    assert s.reads(REGION, "numa_node", "target_node") == {"numa_node": "0", "target_node": "1"}
    assert s.reads(NS, "numa_node", "target_node") == {"numa_node": "0", "target_node": "1"}


def test_claim_devices_carry_the_numa_group_and_btt_files(s: Stores) -> None:
    # btt_devs.c: sector_size, namespace, uuid, size (ENXIO while disabled) and
    # log_zero_flags ("Y"); every claim device also has nd_numa_attribute_group.
    assert s.read(f"{BTT}/log_zero_flags") == "Y"
    with pytest.raises(OSError) as info:
        s.view().read(f"{BTT}/size")
    assert info.value.errno == errno.ENXIO
    for dev in (BTT, PFN, f"{REGION}/dax0.0"):
        assert s.reads(dev, "numa_node", "target_node") == {"numa_node": "0", "target_node": "1"}


def test_region_badblocks_needs_the_region_enabled(s: Stores) -> None:
    # region_badblocks_show(): the (empty) list while enabled, ENXIO while not.
    assert s.view().read(f"{REGION}/badblocks") == b""
    s.ok(f"{REGION}/driver/unbind", "region0\n")
    with pytest.raises(OSError) as info:
        s.view().read(f"{REGION}/badblocks")
    assert info.value.errno == errno.ENXIO
