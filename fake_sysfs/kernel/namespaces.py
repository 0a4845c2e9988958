"""Namespaces of an nd region and the devices that claim them (kernel-sysfs.md 3.4.4):
``namespaceN.M``, ``bttN.M``, ``pfnN.M``, the nd dax device ``daxN.M``, the block device
``pmemN[.M][s]`` and, for devdax, the DAX bus device; the drivers nd_pmem and dax_pmem.

Checked against Linux v6.14's drivers/nvdimm (namespace_devs.c, claim.c, btt.c,
btt_devs.c, pfn_devs.c, label.c); tests/test_nd_kernel_facts.py pins what was checked.

DPA: a namespace of size S takes S / ways from every mapping of its region, at the same
offsets on each (every namespace is carved from all mappings equally and in the same order,
so the free extents of all mappings stay identical; one extent list serves them all). A
pmem allocation is one contiguous range per mapping (scan_allocate(): all or nothing, and a
namespace grows only into a free range that touches it), so a namespace has one extent.

Labels: a store to a namespace with a uuid rewrites its label on every member DIMM's label
storage area (kernel.nd_labels) when it has an allocation and deletes them when it has
none (nd_namespace_label_update()); the nd region's probe brings labelled namespaces back,
numbered in address order, and fails when a member lacks a namespace's label. The info block a
claim writes at the start of its namespace is kept as the media would keep it
(``Memdev.media``, by DPA): nd_pmem's probe of a namespace whose info block names a claim
recreates that claim. Writing ``holder_class`` forgets the info block, standing in for the
zeroing ndctl does through the block device before it changes a namespace's class.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from errno import errorcode
from typing import TYPE_CHECKING, Any

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import core, nd_labels
from fake_sysfs.kernel.attrs import (
    c_string,
    const,
    fail_after_change,
    kstrtobool,
    kstrtoull,
    show_only,
    show_store,
    streq,
    written_name,
)
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.nd_state import (
    BTT_SECTOR_SIZES,
    NS_SECTOR_SIZES,
    SUPPORTED_ALIGNMENTS,
    Claim,
    InfoBlock,
    Namespace,
    NdRegion,
)
from fake_sysfs.kernfs.nodes import Attr, Dir, Node

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

PAGE_SIZE = 4096
SZ_8K = 8 << 10
SZ_16M = 16 << 20
#: The block layer's extended-devt major, where pmem disks get their numbers.
BLOCK_EXT_MAJOR = 259
#: struct page as the pfn info block reserves room for it (MAX_STRUCT_PAGE_SIZE).
MAX_STRUCT_PAGE_SIZE = 64
#: BTT layout constants (drivers/nvdimm/btt.h).
BTT_PG_SIZE = 4096
BTT_NFREE = 256
LOG_GRP_SIZE = 64
MAP_ENT_SIZE = 4
INT_LBASIZE_ALIGNMENT = 64
#: nd_btt_version(): a btt of claim class BTT2 (version 2.0) starts at the namespace's
#: first byte; one of class NONE or BTT (version 1.1) 4 KiB into it. The constant is the
#: 1.1 offset; btt_initial_offset() picks.
BTT_INITIAL_OFFSET = 4096
#: btt.h: an arena holds 16 MiB to 512 GiB; a namespace of less than 16 MiB hosts no btt.
ARENA_MIN_SIZE = 16 << 20
ARENA_MAX_SIZE = 1 << 39
#: uuid_is_valid(): the 36-character dashed form, nothing else.
_UUID = re.compile(rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_CLAIM_MODE = {"btt": "safe", "pfn": "memory", "dax": "dax"}
_CLAIM_TYPE = {"btt": "nd_btt", "pfn": "nd_pfn", "dax": "nd_dax"}


# -- stores: every refusal says why in the kernel log ------------------------------------------

StoreFn = Callable[["Kernel", Any, bytes], None]


def _owner(k: Kernel, obj: object) -> Device | None:
    if isinstance(obj, NdRegion):
        return k.devices.get(obj.devkey)
    if isinstance(obj, tuple):
        nd, item = obj
        if isinstance(item, Namespace):
            return k.devices.get(f"bus/nd/{ns_name(nd, item)}")
        if isinstance(item, Claim):
            return k.devices.get(f"bus/nd/{claim_name(nd, item)}")
    return None


def explained(attr: str) -> Callable[[StoreFn], StoreFn]:
    """A store whose refusals are logged: where the rule logged nothing itself (a value
    kstrto*() rejects, a busy device), one line names the attribute and the errno."""

    def wrap(fn: StoreFn) -> StoreFn:
        def store(k: Kernel, obj: Any, buf: bytes) -> None:
            mark = k.log.mark()
            try:
                fn(k, obj, buf)
            except KernfsError as e:
                if k.log.mark() == mark and not k.runtime.failed_after_change:
                    name = errorcode.get(e.errno or 0, str(e.errno))
                    k.log.dbg(_owner(k, obj), f"{attr}: -{name}")
                raise

        return store

    return wrap


# -- lookups -----------------------------------------------------------------------------------


def _split(name: str, prefix: str) -> tuple[int, int]:
    region, _, index = name[len(prefix) :].partition(".")
    return int(region), int(index)


def namespace_of(k: Kernel, dev: Device) -> tuple[NdRegion, Namespace]:
    rid, index = _split(dev.name, "namespace")
    nd = k.nd_regions[rid]
    ns = nd.namespace(index)
    assert ns is not None
    return nd, ns


def claim_of(k: Kernel, dev: Device) -> tuple[NdRegion, Claim]:
    kind = dev.type[len("nd_") :]
    rid, cid = _split(dev.name, kind)
    nd = k.nd_regions[rid]
    claim = nd.claim(kind, cid)
    assert claim is not None
    return nd, claim


def ns_name(nd: NdRegion, ns: Namespace) -> str:
    return f"namespace{nd.id}.{ns.index}"


def claim_name(nd: NdRegion, claim: Claim) -> str:
    return f"{claim.kind}{nd.id}.{claim.id}"


def ns_dev(k: Kernel, nd: NdRegion, ns: Namespace) -> Device:
    return k.devices[f"bus/nd/{ns_name(nd, ns)}"]


def claim_dev(k: Kernel, nd: NdRegion, claim: Claim) -> Device:
    return k.devices[f"bus/nd/{claim_name(nd, claim)}"]


def claimant(nd: NdRegion, ns: Namespace) -> Claim | None:
    return next((c for c in nd.claims if c.namespace == ns.index), None)


def ns_size(nd: NdRegion, ns: Namespace) -> int:
    return ns.per_mapping() * nd.ways


def ns_start(nd: NdRegion, ns: Namespace) -> int:
    return nd.start + ns.extents[0][0] * nd.ways if ns.extents else nd.start


def _busy(k: Kernel, nd: NdRegion, ns: Namespace) -> bool:
    """A namespace is busy while bound or claimed: its configuration cannot change."""
    return bool(ns_dev(k, nd, ns).driver) or claimant(nd, ns) is not None


# -- DPA ---------------------------------------------------------------------------------------


def _free_extents(nd: NdRegion, used: list[list[int]] | None = None) -> list[list[int]]:
    """The free [offset, size] extents of every mapping (identical on all of them), given
    the allocated extents (by default the region's namespaces')."""
    per = nd.mappings[0].size if nd.mappings else 0
    if used is None:
        used = [e for ns in nd.namespaces for e in ns.extents]
    free, at = [], 0
    for offset, size in sorted(used):
        if offset > at:
            free.append([at, offset - at])
        at = max(at, offset + size)
    if at < per:
        free.append([at, per - at])
    return free


def _aligned(nd: NdRegion, offset: int, size: int) -> tuple[int, int]:
    """space_valid() / nd_pmem_max_contiguous_dpa(): a free range trimmed inward to the
    per-mapping alignment (align / mappings), in absolute DPA; (start, size) relative to
    the mapping, size 0 when nothing is left."""
    per_align = nd.align // nd.ways
    base = nd.mappings[0].start if nd.mappings else 0
    start = -(-(base + offset) // per_align) * per_align
    end = (base + offset + size) // per_align * per_align
    return start - base, max(0, end - start)


def available_dpa(nd: NdRegion, used: list[list[int]] | None = None) -> int:
    """nd_region_available_dpa(): each mapping's free DPA rounded down to the per-mapping
    alignment, summed over the mappings."""
    per_align = nd.align // nd.ways
    free = sum(size for _, size in _free_extents(nd, used))
    return free // per_align * per_align * nd.ways


def max_extent(nd: NdRegion, used: list[list[int]] | None = None) -> int:
    """nd_region_allocatable_dpa(): the largest aligned free range of a mapping, times the
    mappings."""
    largest = max((_aligned(nd, o, n)[1] for o, n in _free_extents(nd, used)), default=0)
    return largest * nd.ways


def _grow(nd: NdRegion, ns: Namespace, n: int) -> bool:
    """scan_allocate() for a pmem namespace: ``n`` more bytes per mapping, contiguous. The
    free ranges are tried in DPA order; each must hold all ``n`` bytes once aligned
    (space_valid()), and a namespace that has an allocation may only grow into a range
    that touches it, upward from its end or downward from its start, whichever comes
    first. False when no range qualifies ("allocation underrun")."""
    exist = ns.extents[0] if ns.extents else None
    for offset, size in _free_extents(nd):
        start, avail = _aligned(nd, offset, size)
        if avail < n:
            continue
        if exist is None:
            ns.extents = [[start, n]]
            return True
        if start + avail == exist[0]:
            exist[0] -= n
            exist[1] += n
            return True
        if start == exist[0] + exist[1]:
            exist[1] += n
            return True
    return False


def _shrink(ns: Namespace, n: int) -> None:
    """scan_free(): the allocation keeps its start and loses ``n`` bytes at its end."""
    while n and ns.extents:
        last = ns.extents[-1]
        if n >= last[1]:
            n -= last[1]
            ns.extents.pop()
        else:
            last[1] -= n
            n = 0


# -- labels ------------------------------------------------------------------------------------


def write_labels(k: Kernel, nd: NdRegion, ns: Namespace, old_uuid: str = "") -> None:
    """nd_namespace_label_update(): a namespace with a uuid and an allocation gets its label
    rewritten on every member DIMM (``old_uuid``: a uuid it had before, whose labels are
    reaped); one with a uuid and no allocation has its labels deleted; one without a uuid
    writes nothing. EFI v1.2 labels (kernel.nd_labels): nlabel is the number of mappings,
    the position the mapping's index, the cookie the region's interleave-set cookie. A DIMM
    with no free slot fails the update with ENXIO after the change it follows (the kernel
    does not undo the allocation)."""
    if not ns.uuid:
        return
    if not ns.extents:
        delete_labels(k, nd, ns)
        return
    for i, m in enumerate(nd.mappings):
        add = [
            nd_labels.Label(
                slot=0,
                uuid=ns.uuid,
                name=ns.alt_name,
                flags=0,
                nlabel=len(nd.mappings),
                position=i,
                isetcookie=nd.cookie,
                lbasize=ns.sector_size,
                dpa=m.start + offset,
                rawsize=size,
                type_zero=True,
                claim=ns.holder_class,
            )
            for offset, size in ns.extents
        ]
        try:
            nd_labels.write_labels(k, k.memdevs[m.memdev], add, [old_uuid] if old_uuid else [])
        except ValueError:
            k.log.dbg(ns_dev(k, nd, ns), f"nmem{m.nmem}: no free label slot")
            fail_after_change(k, errno.ENXIO)


def delete_labels(k: Kernel, nd: NdRegion, ns: Namespace) -> None:
    """del_labels() on every member DIMM."""
    if not ns.uuid:
        return
    for m in nd.mappings:
        nd_labels.delete_labels(k, k.memdevs[m.memdev], ns.uuid)


class LabelError(Exception):
    """The labels describe a namespace the region cannot instantiate (scan_labels fails,
    and with it the region's probe)."""


def _cmp_dpa_key(start: int) -> bytes:
    """cmp_dpa() orders namespaces with memcmp() over the little-endian resource start: the
    lowest byte decides first (so 0x20000000 sorts before 0x10000001)."""
    return start.to_bytes(8, "little")


def namespaces_from_labels(k: Kernel, nd: NdRegion) -> list[Namespace]:
    """scan_labels(): one namespace per uuid among the first mapping's labels (in slot
    order) whose DPA lies in that mapping; one whose interleave-set cookie is not the
    region's is skipped (create_namespace_pmem: -EAGAIN). For the others, every position
    must be held by a label of the uuid with the region's cookie, a zero type GUID and
    nlabel equal to the number of mappings, no DIMM may hold two such labels
    (has_uuid_at_pos), and every mapping needs a label of the uuid inside its range
    (select_pmem_id); a uuid may not appear twice on the first mapping
    (add_namespace_resource). Any of these failing is a LabelError (the region's probe
    fails). The namespaces are numbered in the order cmp_dpa() sorts their resources; name,
    uuid, sector size and claim class come from the position-0 label."""
    if not nd.mappings:
        return []
    per_mapping = [nd_labels.read_labels(k, k.memdevs[m.memdev]) for m in nd.mappings]
    first = nd.mappings[0]
    found: list[tuple[int, Namespace]] = []
    for label in per_mapping[0]:
        if not first.start <= label.dpa < first.start + first.size:
            continue
        if any(ns.uuid == label.uuid for _, ns in found):
            raise LabelError(f"error: conflicting extents for uuid: {label.uuid}")
        if label.isetcookie != nd.cookie:
            continue
        positions: dict[int, nd_labels.Label] = {}
        for m, labels in zip(nd.mappings, per_mapping, strict=True):
            mine = [
                lb
                for lb in labels
                if lb.uuid == label.uuid and lb.isetcookie == nd.cookie and lb.type_zero
            ]
            if len(mine) > 1:
                raise LabelError(f"nmem{m.nmem} missing label for {label.uuid}")
            if mine and mine[0].nlabel == len(nd.mappings):
                positions.setdefault(mine[0].position, mine[0])
        missing = [p for p in range(len(nd.mappings)) if p not in positions]
        if missing:
            nmem = nd.mappings[missing[0]].nmem
            raise LabelError(f"nmem{nmem} missing label for {label.uuid}")
        ranges = []
        for m, labels in zip(nd.mappings, per_mapping, strict=True):
            lb = next((lb for lb in labels if lb.uuid == label.uuid), None)
            if lb is None or not (
                m.start <= lb.dpa < m.start + m.size and lb.dpa + lb.rawsize <= m.start + m.size
            ):
                raise LabelError(f"nmem{m.nmem} invalid label for {label.uuid}")
            ranges.append(lb)
        zero = positions[0]
        offset = ranges[0].dpa - first.start
        ns = Namespace(
            index=0,
            uuid=zero.uuid,
            alt_name=zero.name,
            extents=[[offset, ranges[0].rawsize]],
            sector_size=zero.lbasize,
            holder_class=zero.claim,
        )
        found.append((nd.start + offset * nd.ways, ns))
    found.sort(key=lambda item: _cmp_dpa_key(item[0]))
    for index, (_, ns) in enumerate(found):
        ns.index = index
    return [ns for _, ns in found]


# -- what a claim wrote on the media -----------------------------------------------------------


def _media_key(nd: NdRegion, ns: Namespace) -> tuple[int, str]:
    """Where a namespace's info block lives: its first DIMM's memdev and the DPA its
    data starts at there."""
    first = nd.mappings[0]
    offset = ns.extents[0][0] if ns.extents else 0
    return first.memdev, f"{first.start + offset:#x}"


def info_block(k: Kernel, nd: NdRegion, ns: Namespace) -> InfoBlock | None:
    if not nd.mappings or not ns.extents:
        return None
    memdev, key = _media_key(nd, ns)
    return k.memdevs[memdev].media.get(key)


def set_info_block(k: Kernel, nd: NdRegion, ns: Namespace, info: InfoBlock | None) -> None:
    if not nd.mappings or not ns.extents:
        return
    memdev, key = _media_key(nd, ns)
    media = k.memdevs[memdev].media
    if info is None:
        media.pop(key, None)
    else:
        media[key] = info


# -- registration ------------------------------------------------------------------------------


def new_namespace(nd: NdRegion) -> Namespace:
    return Namespace(index=lowest_free_id({ns.index for ns in nd.namespaces}))


def register_namespace(k: Kernel, nd: NdRegion, ns: Namespace) -> None:
    """Register ``namespaceN.M`` (the bus probes it: a labelled one comes up)."""
    if ns not in nd.namespaces:
        nd.namespaces.append(ns)
    core.device_add(k, Device(ns_name(nd, ns), nd.devkey, "nd_namespace_pmem", "nd"))


def create_claim(k: Kernel, nd: NdRegion, kind: str) -> Claim:
    """A new, unconfigured btt / pfn / nd dax device (a seed, or one a probe found)."""
    cid = lowest_free_id({c.id for c in nd.claims if c.kind == kind})
    claim = Claim(kind=kind, id=cid)
    if kind == "btt":
        claim.align = 0
    nd.claims.append(claim)
    core.device_add(k, Device(claim_name(nd, claim), nd.devkey, _CLAIM_TYPE[kind], "nd"))
    return claim


def _delete_namespace(k: Kernel, nd: NdRegion, ns: Namespace) -> None:
    core.device_unregister(k, ns_dev(k, nd, ns))


def _advance_seeds(k: Kernel, nd: NdRegion, ns: Namespace | None, claim: Claim | None) -> None:
    """nd_region_advance_seeds: an enabled seed is replaced by a new one."""
    if claim is not None:
        seeds = {"btt": nd.btt_seed, "pfn": nd.pfn_seed, "dax": nd.dax_seed}
        if seeds[claim.kind] == claim.id:
            new = create_claim(k, nd, claim.kind)
            setattr(nd, f"{claim.kind}_seed", new.id)
    if ns is not None and ns.index == nd.ns_seed:
        seed = new_namespace(nd)
        nd.ns_seed = seed.index
        register_namespace(k, nd, seed)


# -- the pmem block device ---------------------------------------------------------------------


def disk_name(nd: NdRegion, ns: Namespace, btt: bool) -> str:
    """nvdimm_namespace_disk_name: pmemN for index 0, else pmemN.M; "s" for a btt."""
    suffix = "s" if btt else ""
    if ns.index:
        return f"pmem{nd.id}.{ns.index}{suffix}"
    return f"pmem{nd.id}{suffix}"


def _add_disk(k: Kernel, nd: NdRegion, ns: Namespace, parent: Device, btt: bool) -> int:
    used = {d.devt[1] for d in k.devices.values() if d.devclass == "block" and d.devt}
    minor = lowest_free_id(used)
    name = disk_name(nd, ns, btt)
    core.device_add(
        k, Device(name, parent.key, "nd_disk", devclass="block", devt=[BLOCK_EXT_MAJOR, minor])
    )
    return minor


def _remove_children(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


def disk_of(k: Kernel, dev: Device) -> tuple[NdRegion, Namespace, Claim | None]:
    parent = k.devices[dev.parent]
    if parent.type == "nd_namespace_pmem":
        nd, ns = namespace_of(k, parent)
        return nd, ns, None
    nd, claim = claim_of(k, parent)
    claimed = nd.namespace(claim.namespace)
    assert claimed is not None
    return nd, claimed, claim


def disk_size_show(k: Kernel, disk: tuple[NdRegion, Namespace, Claim | None]) -> int:
    """Capacity in 512-byte sectors."""
    nd, ns, claim = disk
    if claim is None:
        return ns_size(nd, ns) // 512
    return claim_size(nd, ns, claim) // 512


def _zero(k: Kernel, disk: object) -> int:
    return 0


def _empty() -> bytes:
    return b""


DISK: DeviceType[tuple[NdRegion, Namespace, Claim | None]] = DeviceType(
    "nd_disk",
    get=disk_of,
    entries={
        "size": show_only(disk_size_show),
        "ro": show_only(_zero),
        "removable": show_only(_zero),
        "hidden": show_only(_zero),
        "badblocks": lambda k, d: Attr(0o644, show=_empty),
    },
    devtype="disk",
    power=True,
)


# -- claim geometry (pfn / dax info block, btt arena) ------------------------------------------


def pfn_offset(size: int, start: int, mode: str, align: int) -> int:
    """nd_pfn_init: where the data starts, after the info block and (mode pmem) the
    struct page array, aligned up to ``align``."""
    align = max(align, 2 << 20)
    if mode == "pmem":
        npfns = (size - SZ_8K) // PAGE_SIZE
        end = start + SZ_8K + MAX_STRUCT_PAGE_SIZE * npfns
    else:
        end = start + SZ_8K
    return -(-end // align) * align - start


def pfn_end_trunc(size: int, start: int, align: int) -> int:
    """nd_pfn_init: the bytes past the last ``align`` boundary of the namespace, which the
    pfn / nd dax device leaves unused."""
    end = start + size
    align = max(align, 2 << 20)
    return end - end // align * align


def btt_initial_offset(ns: Namespace) -> int:
    """nd_btt_version(): where a btt's first arena starts in the namespace. The class
    "btt" written to a CXL namespace is BTT2 (btt version 2.0, from byte 0); a btt attached
    to a namespace of no class is a version 1.1 btt, 4 KiB in."""
    return 0 if ns.holder_class == "btt" else BTT_INITIAL_OFFSET


def btt_sector_size(lbasize: int) -> int:
    """btt_init(): the Linux sector size of a btt, 4096 from an lbasize of 4096 on, else
    512 (the bytes beyond it, as in 520 or 4104, are per-block metadata)."""
    return 4096 if lbasize >= 4096 else 512


def btt_nlba(rawsize: int, lbasize: int) -> int:
    """create_arenas() / alloc_arena(): the blocks a btt exposes. Arenas of up to 512 GiB
    are carved from ``rawsize``; a last piece under 16 MiB is left unused. In each, after
    rounding down to 4 KiB: two info blocks, the log (256 free blocks x 64 bytes, page
    rounded), and one page; the rest splits into blocks of lbasize rounded up to 64 bytes
    plus a 4-byte map entry each; 256 of them stay free for writes."""
    internal = -(-lbasize // INT_LBASIZE_ALIGNMENT) * INT_LBASIZE_ALIGNMENT
    logsize = -(-(BTT_NFREE * LOG_GRP_SIZE) // BTT_PG_SIZE) * BTT_PG_SIZE
    nlba, remaining = 0, rawsize
    while remaining > 0:
        arena = min(ARENA_MAX_SIZE, remaining)
        remaining -= arena
        if arena < ARENA_MIN_SIZE:
            break
        available = arena - arena % BTT_PG_SIZE - 2 * BTT_PG_SIZE - logsize
        nlba += (available - BTT_PG_SIZE) // (internal + MAP_ENT_SIZE) - BTT_NFREE
    return nlba


def btt_size(rawsize: int, lbasize: int) -> int:
    """btt_blk_init(): the btt's ``size`` and its disk's capacity, the blocks times the
    Linux sector size (not times lbasize)."""
    return btt_nlba(rawsize, lbasize) * btt_sector_size(lbasize)


def claim_size(nd: NdRegion, ns: Namespace, claim: Claim) -> int:
    size = ns_size(nd, ns)
    if claim.kind == "btt":
        return btt_size(size - btt_initial_offset(ns), claim.sector_size or 4096)
    start = ns_start(nd, ns)
    trunc = pfn_end_trunc(size, start, claim.align)
    return size - pfn_offset(size, start, claim.mode, claim.align) - trunc


# -- nd_pmem and dax_pmem ----------------------------------------------------------------------


def _namespace_probe(k: Kernel, dev: Device) -> None:
    nd, ns = namespace_of(k, dev)
    if claimant(nd, ns) is not None:
        k.log.dbg(dev, f"{dev.name} is claimed")
        raise kerr(errno.ENXIO)
    if not ns.uuid or ns_size(nd, ns) < PAGE_SIZE:
        k.log.dbg(dev, f"size: {ns_size(nd, ns):#x}, too small must be at least {PAGE_SIZE:#x}")
        raise kerr(errno.ENODEV)
    info = info_block(k, nd, ns)
    if info is not None and not ns.force_raw:
        # The info block names a claim: bring it up in the namespace's stead.
        claim = Claim(
            kind=info.kind, id=lowest_free_id({c.id for c in nd.claims if c.kind == info.kind})
        )
        claim.uuid, claim.mode, claim.align = info.uuid, info.mode, info.align
        claim.sector_size, claim.namespace = info.sector_size, ns.index
        nd.claims.append(claim)
        # The claim registers asynchronously (__nd_device_register): it probes after this
        # probe has failed, when the namespace is no longer bound.
        dev.driver = ""
        core.device_add(k, Device(claim_name(nd, claim), nd.devkey, _CLAIM_TYPE[info.kind], "nd"))
        # The namespace itself stays unbound, the claim it registered stays (nd_pmem_probe).
        fail_after_change(k, errno.ENXIO)
    ns.minor = _add_disk(k, nd, ns, dev, btt=False)
    _advance_seeds(k, nd, ns, None)


def _claim_probe(k: Kernel, dev: Device) -> None:
    """nvdimm_namespace_common_probe() for a btt / pfn / nd dax device, then the claim's own
    attach (nvdimm_namespace_attach_btt(), nd_pfn_init()). A btt takes over whatever is
    not a btt info block (discover_arenas() finds no arena and lays out new ones)."""
    nd, claim = claim_of(k, dev)
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    if ns is None:
        k.log.dbg(dev, "no namespace attached")
        raise kerr(errno.ENODEV)
    if ns_dev(k, nd, ns).driver:
        k.log.dbg(ns_dev(k, nd, ns), f"is active, can't bind {dev.name}")
        raise kerr(errno.EBUSY)
    if ns_size(nd, ns) < PAGE_SIZE:
        k.log.dbg(dev, f"size: {ns_size(nd, ns):#x}, too small must be at least {PAGE_SIZE:#x}")
        raise kerr(errno.ENODEV)
    if not ns.uuid:
        k.log.dbg(ns_dev(k, nd, ns), "nvdimm_namespace_common_probe: uuid not set")
        raise kerr(errno.ENODEV)
    if claim.kind == "btt":
        if not claim.uuid or not claim.sector_size:
            k.log.dbg(dev, "incomplete btt configuration")
            raise kerr(errno.ENODEV)
        offset = btt_initial_offset(ns)
        if ns_size(nd, ns) - offset < ARENA_MIN_SIZE:
            k.log.dbg(dev, f"{ns_name(nd, ns)} must be at least {ARENA_MIN_SIZE + offset} bytes")
            raise kerr(errno.ENXIO)
    else:
        if not claim.uuid:
            k.log.dbg(dev, "uuid not set")
            raise kerr(errno.ENODEV)
        if claim.mode == "none":
            k.log.dbg(dev, "mode not set")
            raise kerr(errno.ENODEV)
        size, start = ns_size(nd, ns), ns_start(nd, ns)
        offset = pfn_offset(size, start, claim.mode, claim.align)
        if offset >= size - pfn_end_trunc(size, start, claim.align):
            # nd_pfn_init(): the data would be empty.
            k.log.err(dev, f"{ns_name(nd, ns)} unable to satisfy requested alignment")
            raise kerr(errno.ENXIO)
    info = info_block(k, nd, ns)
    if info is not None and claim.kind == "btt" and info.kind != "btt":
        info = None
    if info is not None and (info.kind != claim.kind or info.uuid != claim.uuid):
        k.log.dbg(dev, f"{ns_name(nd, ns)}: info block does not match")
        raise kerr(errno.ENODEV)
    if info is None:
        info = InfoBlock(claim.kind, claim.uuid, claim.mode, claim.align, claim.sector_size or 4096)
        set_info_block(k, nd, ns, info)
    if claim.kind == "dax":
        _add_dax_device(k, nd, ns, claim, dev)
    else:
        claim.minor = _add_disk(k, nd, ns, dev, btt=claim.kind == "btt")
    _advance_seeds(k, nd, ns, claim)


def nd_pmem_probe(k: Kernel, dev: Device) -> None:
    if dev.type == "nd_namespace_pmem":
        _namespace_probe(k, dev)
    else:
        _claim_probe(k, dev)


def nd_pmem_remove(k: Kernel, dev: Device) -> None:
    _remove_children(k, dev)
    if dev.type == "nd_namespace_pmem":
        namespace_of(k, dev)[1].minor = -1
    else:
        claim_of(k, dev)[1].minor = -1


def _add_dax_device(k: Kernel, nd: NdRegion, ns: Namespace, claim: Claim, dev: Device) -> None:
    """dax_pmem: a static DAX region over the namespace's data and its device
    ``daxN.M`` (M the namespace's index), bound to device_dax by the dax bus."""
    from fake_sysfs.kernel.dax import DAX_MAJOR, DaxDevice, DaxRegion

    start = ns_start(nd, ns)
    offset = pfn_offset(ns_size(nd, ns), start, claim.mode, claim.align)
    size = ns_size(nd, ns) - offset - pfn_end_trunc(ns_size(nd, ns), start, claim.align)
    # Every devdax namespace of the region names its device daxN.M: they share one
    # DaxRegion object of id N (the kernel has one dax region per nd dax device, all N).
    region = k.dax_regions.get(nd.id)
    if region is None:
        region = DaxRegion(
            id=nd.id, start=nd.start, size=nd.size, target_node=nd.target_node, kmem=False
        )
        k.dax_regions[nd.id] = region
    used = {d.minor for r in k.dax_regions.values() for d in r.devices}
    minor = lowest_free_id(used)
    dax_dev = DaxDevice(
        id=ns.index, region=nd.id, ranges=[[start + offset, size]], align=claim.align, minor=minor
    )
    region.devices.append(dax_dev)
    core.device_add(k, Device(dax_dev.name, dev.key, "dax", "dax", devt=[DAX_MAJOR, minor]))


def dax_pmem_remove(k: Kernel, dev: Device) -> None:
    _remove_children(k, dev)
    nd, _ = claim_of(k, dev)
    region = k.dax_regions.get(nd.id)
    if region is not None and not region.devices:
        del k.dax_regions[nd.id]


ND_PMEM_DRIVER = Driver(
    "nd_pmem",
    "nd",
    lambda k, dev: dev.type in ("nd_namespace_pmem", "nd_btt", "nd_pfn"),
    nd_pmem_probe,
    nd_pmem_remove,
)
DAX_PMEM_DRIVER = Driver(
    "dax_pmem", "nd", lambda k, dev: dev.type == "nd_dax", _claim_probe, dax_pmem_remove
)


# -- namespace attributes ----------------------------------------------------------------------


def parse_uuid(buf: bytes) -> str:
    """nd_uuid_store -> uuid_parse(): the first 36 characters must be the dashed form
    (uuid_is_valid()); what follows them is not looked at. EINVAL otherwise."""
    s = c_string(buf)
    if len(s) < 36 or not _UUID.fullmatch(s[:36]):
        raise kerr(errno.EINVAL)
    return s[:36].decode().lower()


def ns_size_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    nd, ns = obj
    return ns_size(nd, ns)


@explained("size")
def ns_size_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    """size_store / __size_store: checks in the kernel's order, then shrink or grow the
    allocation on every mapping, then the label update; 0 deletes the labels and the
    uuid, and unregisters a namespace that had an allocation and is neither the seed nor
    index 0."""
    nd, ns = obj
    dev = ns_dev(k, nd, ns)
    value = kstrtoull(buf, 0)
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    if not ns.uuid:
        k.log.dbg(dev, "__size_store: uuid not set")
        raise kerr(errno.ENXIO)
    if value % nd.align:
        k.log.dbg(dev, f"{value} is not {nd.align // 1024}K aligned")
        raise kerr(errno.EINVAL)
    if not k.dev(nd).driver or any(
        not (d := core.find_device(k, "nd", f"nmem{m.nmem}")) or not d.driver for m in nd.mappings
    ):
        raise kerr(errno.ENXIO)
    allocated = ns.per_mapping() * nd.ways
    if value > max_extent(nd) + allocated:
        k.log.dbg(dev, f"{value:x} fail (-28)")
        raise kerr(errno.ENOSPC)
    if value != allocated:
        per, have = value // nd.ways, allocated // nd.ways
        if per > have and not _grow(nd, ns, per - have):
            k.log.warn(k.dev(nd), f"allocation underrun: 0 of {per - have:#x} bytes")
            raise kerr(errno.ENXIO)
        if value == 0:
            # ndctl zeroes the info block through the block device before it destroys a
            # namespace; the emulation serves no block I/O, so the deletion does it.
            set_info_block(k, nd, ns, None)
        if per < have:
            _shrink(ns, have - per)
        if value == 0 and ns.index != 0 and ns.index != nd.ns_seed:
            _delete_namespace(k, nd, ns)
    write_labels(k, nd, ns)
    if value == 0:
        ns.uuid = ""


def ns_uuid_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    return obj[1].uuid


def _uuid_unique(k: Kernel, nd: NdRegion, value: str) -> bool:
    """nd_is_uuid_unique(): no namespace, btt or pfn of any region on the same nd bus has
    the uuid (the namespace being written included; nd dax devices are not looked at)."""
    for other in k.nd_regions.values():
        if other.bus != nd.bus:
            continue
        if any(ns.uuid == value for ns in other.namespaces):
            return False
        if any(c.uuid == value for c in other.claims if c.kind in ("btt", "pfn")):
            return False
    return True


@explained("uuid")
def ns_uuid_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    """uuid_store: EBUSY while claimed; nd_uuid_store: EBUSY while enabled, EINVAL unless
    uuid_parse() takes it; namespace_update_uuid: EINVAL when the uuid is in use, EBUSY
    when renaming while a member DIMM tracks no label at all (an approximation of the
    kernel's empty per-mapping label list: the DIMM's area holds no label in use); then the
    label update, reaping the old uuid's labels."""
    nd, ns = obj
    if claimant(nd, ns) is not None or ns_dev(k, nd, ns).driver:
        raise kerr(errno.EBUSY)
    value = parse_uuid(buf)
    if not _uuid_unique(k, nd, value):
        raise kerr(errno.EINVAL)
    old = ns.uuid
    if old and any(not nd_labels.used_slots(k, k.memdevs[m.memdev]) for m in nd.mappings):
        raise kerr(errno.EBUSY)
    ns.uuid = value
    write_labels(k, nd, ns, old)


def alt_name_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    return obj[1].alt_name


@explained("alt_name")
def alt_name_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    nd, ns = obj
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    name = c_string(buf).strip().decode("utf-8", "surrogateescape")
    if len(name.encode("utf-8", "surrogateescape")) + 1 > 64:
        raise kerr(errno.EINVAL)
    ns.alt_name = name
    write_labels(k, nd, ns)


def _size_select(sizes: tuple[int, ...], current: int) -> str:
    return "".join(f"[{s}] " if s == current else f"{s} " for s in sizes)


def ns_sector_size_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    return _size_select(NS_SECTOR_SIZES, obj[1].sector_size)


@explained("sector_size")
def ns_sector_size_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    nd, ns = obj
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    value = kstrtoull(buf, 0)
    if value not in NS_SECTOR_SIZES:
        raise kerr(errno.EINVAL)
    ns.sector_size = value
    write_labels(k, nd, ns)


def holder_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    nd, ns = obj
    claim = claimant(nd, ns)
    return "" if claim is None else claim_name(nd, claim)


def holder_class_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    return obj[1].holder_class


@explained("holder_class")
def holder_class_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    nd, ns = obj
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    # __holder_class_store: "btt" (btt_claim_class(): BTT2 on CXL, whose areas never
    # hold a 1.1 index here), "pfn", "dax" or "" (the version name "btt2" is refused).
    for value in ("btt", "pfn", "dax", ""):
        if streq(buf, value):
            ns.holder_class = value
            # ndctl zeroes the info block through the block device whenever it changes
            # the class; the emulation serves no block I/O, so the class change does it.
            set_info_block(k, nd, ns, None)
            write_labels(k, nd, ns)
            return
    raise kerr(errno.EINVAL)


def mode_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    nd, ns = obj
    claim = claimant(nd, ns)
    return "raw" if claim is None else _CLAIM_MODE[claim.kind]


def force_raw_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    return int(obj[1].force_raw)


@explained("force_raw")
def force_raw_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    obj[1].force_raw = kstrtobool(buf)


def ns_resource_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    nd, ns = obj
    if not ns.extents:
        raise kerr(errno.ENXIO)
    return f"{ns_start(nd, ns):#x}"


def ns_numa_node_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    return 0


def ns_target_node_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    return obj[0].target_node


def dpa_extents_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    nd, ns = obj
    return len(ns.extents) * len(nd.mappings) if ns.uuid else 0


def nstype_show(k: Kernel, obj: object) -> int:
    return 5


def _namespace_release(k: Kernel, dev: Device) -> None:
    """namespace_pmem_release(): the namespace's id goes back to the region's ida."""
    rid, index = _split(dev.name, "namespace")
    nd = k.nd_regions.get(rid)
    if nd is not None:
        nd.namespaces = [ns for ns in nd.namespaces if ns.index != index]


def _claim_release(k: Kernel, dev: Device) -> None:
    """nd_btt_release() / nd_pfn_release() / nd_dax_release(): the id is freed."""
    kind = dev.type[len("nd_") :]
    rid, cid = _split(dev.name, kind)
    nd = k.nd_regions.get(rid)
    if nd is not None:
        nd.claims = [c for c in nd.claims if not (c.kind == kind and c.id == cid)]


NAMESPACE: DeviceType[tuple[NdRegion, Namespace]] = DeviceType(
    "nd_namespace_pmem",
    get=namespace_of,
    entries={
        "devtype": const("nd_namespace_pmem"),
        "modalias": const("nd:t5"),
        "nstype": show_only(nstype_show),
        "size": show_store(ns_size_show, ns_size_store),
        "uuid": show_store(ns_uuid_show, ns_uuid_store),
        "alt_name": show_store(alt_name_show, alt_name_store),
        "sector_size": show_store(ns_sector_size_show, ns_sector_size_store),
        "holder": show_only(holder_show),
        "holder_class": show_store(holder_class_show, holder_class_store),
        "mode": show_only(mode_show),
        "force_raw": show_store(force_raw_show, force_raw_store),
        "resource": show_only(ns_resource_show, 0o400),
        "numa_node": show_only(ns_numa_node_show),
        "target_node": show_only(ns_target_node_show),
        "dpa_extents": show_only(dpa_extents_show),
    },
    devtype="nd_namespace_pmem",
    uevent_vars=lambda k, obj: ["MODALIAS=nd:t5"],
    power=True,
    release=_namespace_release,
)


# -- claim attributes (btt, pfn, nd dax) -------------------------------------------------------


def _claim_busy(k: Kernel, nd: NdRegion, claim: Claim) -> None:
    if claim_dev(k, nd, claim).driver:
        raise kerr(errno.EBUSY)


def claim_uuid_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    return obj[1].uuid


@explained("uuid")
def claim_uuid_store(k: Kernel, obj: tuple[NdRegion, Claim], buf: bytes) -> None:
    nd, claim = obj
    value = parse_uuid(buf)
    _claim_busy(k, nd, claim)
    claim.uuid = value


def claim_mode_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    return obj[1].mode


@explained("mode")
def claim_mode_store(k: Kernel, obj: tuple[NdRegion, Claim], buf: bytes) -> None:
    nd, claim = obj
    _claim_busy(k, nd, claim)
    for value in ("pmem", "ram", "none"):
        if streq(buf, value):
            claim.mode = value
            return
    raise kerr(errno.EINVAL)


def claim_align_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> int:
    return obj[1].align


@explained("align")
def claim_align_store(k: Kernel, obj: tuple[NdRegion, Claim], buf: bytes) -> None:
    nd, claim = obj
    _claim_busy(k, nd, claim)
    value = kstrtoull(buf, 0)
    if value not in SUPPORTED_ALIGNMENTS:
        raise kerr(errno.EINVAL)
    claim.align = value


def supported_alignments_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    return _size_select(SUPPORTED_ALIGNMENTS, 0)


def claim_namespace_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    nd, claim = obj
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    return "" if ns is None else ns_name(nd, ns)


@explained("namespace")
def claim_namespace_store(k: Kernel, obj: tuple[NdRegion, Claim], buf: bytes) -> None:
    """nd_namespace_store, in the kernel's order: EBUSY while enabled; a name that is
    neither empty nor starts with "namespace" EINVAL; empty detaches (nd_detach_and_reset);
    EBUSY when a namespace is already attached (even the same one); ENODEV for no such
    namespace under the region; EBUSY when the namespace's claim class is another
    device's; ENXIO below 16 MiB (btt too); EBUSY when another device claims it. An
    enabled raw namespace may be attached: the claim's probe refuses it."""
    nd, claim = obj
    dev = claim_dev(k, nd, claim)
    _claim_busy(k, nd, claim)
    name = written_name(buf).strip()
    if name and not name.startswith("namespace"):
        raise kerr(errno.EINVAL)
    if not name:
        _detach_and_reset(k, nd, claim)
        return
    if claim.namespace >= 0:
        k.log.dbg(dev, f"namespace already set to: {claim_namespace_show(k, obj)}")
        raise kerr(errno.EBUSY)
    ns = next((n for n in nd.namespaces if ns_name(nd, n) == name), None)
    if ns is None:
        k.log.dbg(dev, f"'{name}' not found under {nd.name}")
        raise kerr(errno.ENODEV)
    if ns.holder_class and ns.holder_class != claim.kind:
        raise kerr(errno.EBUSY)
    if ns_size(nd, ns) < SZ_16M:
        k.log.dbg(dev, f"{name} too small to host")
        raise kerr(errno.ENXIO)
    if claimant(nd, ns) is not None:
        k.log.dbg(dev, f"{name} already claimed")
        raise kerr(errno.EBUSY)
    claim.namespace = ns.index


def _detach_and_reset(k: Kernel, nd: NdRegion, claim: Claim) -> None:
    """nd_detach_and_reset: detach the namespace; a device that is no seed is deleted; a
    seed forgets its uuid and, a btt, its sector size, or, a pfn / nd dax, its mode (the
    alignment stays)."""
    claim.namespace = -1
    seeds = {"btt": nd.btt_seed, "pfn": nd.pfn_seed, "dax": nd.dax_seed}
    if seeds[claim.kind] != claim.id:
        dev = claim_dev(k, nd, claim)
        core.device_unregister(k, dev)
        return
    claim.uuid = ""
    if claim.kind == "btt":
        claim.sector_size = 0
    else:
        claim.mode = "none"


def claim_size_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> int:
    nd, claim = obj
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    if ns is None or not claim_dev(k, nd, claim).driver:
        raise kerr(errno.ENXIO)
    return claim_size(nd, ns, claim)


def claim_resource_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    nd, claim = obj
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    if ns is None or not claim_dev(k, nd, claim).driver:
        raise kerr(errno.ENXIO)
    start = ns_start(nd, ns)
    return f"{start + pfn_offset(ns_size(nd, ns), start, claim.mode, claim.align):#x}"


def btt_sector_size_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> str:
    return _size_select(BTT_SECTOR_SIZES, obj[1].sector_size)


@explained("sector_size")
def btt_sector_size_store(k: Kernel, obj: tuple[NdRegion, Claim], buf: bytes) -> None:
    nd, claim = obj
    _claim_busy(k, nd, claim)
    value = kstrtoull(buf, 0)
    if value not in BTT_SECTOR_SIZES:
        raise kerr(errno.EINVAL)
    claim.sector_size = value


def _enabled(k: Kernel, obj: tuple[NdRegion, Claim]) -> bool:
    return bool(claim_dev(k, obj[0], obj[1]).driver)


def _dax_region_group(k: Kernel, obj: tuple[NdRegion, Claim]) -> Node | None:
    """The static DAX region's attributes, while the nd dax device is enabled."""
    nd, claim = obj
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    if ns is None or not _enabled(k, obj):
        return None
    size = claim_size(nd, ns, claim)
    entries: dict[str, Node] = {
        "id": Attr(0o444, value=nd.id),
        "size": Attr(0o444, value=size),
        "align": Attr(0o400, value=claim.align),
    }
    return Dir(lambda: entries)


def claim_numa_node_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> int:
    # nd_numa_attribute_group: the device's node, inherited from the region (node 0).
    return 0


def claim_target_node_show(k: Kernel, obj: tuple[NdRegion, Claim]) -> int:
    return obj[0].target_node


#: nd_numa_attribute_group, which btt, pfn and nd dax devices carry as namespaces do.
_NUMA_ENTRIES = {
    "numa_node": show_only(claim_numa_node_show),
    "target_node": show_only(claim_target_node_show),
}

_PFN_ENTRIES = {
    **_NUMA_ENTRIES,
    "uuid": show_store(claim_uuid_show, claim_uuid_store),
    "mode": show_store(claim_mode_show, claim_mode_store),
    "align": show_store(claim_align_show, claim_align_store),
    "supported_alignments": show_only(supported_alignments_show),
    "namespace": show_store(claim_namespace_show, claim_namespace_store),
    "resource": show_only(claim_resource_show, 0o400),
    "size": show_only(claim_size_show),
}

PFN: DeviceType[tuple[NdRegion, Claim]] = DeviceType(
    "nd_pfn",
    get=claim_of,
    entries={"devtype": const("nd_pfn"), "modalias": const("nd:t0"), **_PFN_ENTRIES},
    devtype="nd_pfn",
    uevent_vars=lambda k, obj: ["MODALIAS=nd:t0"],
    power=True,
    release=_claim_release,
)

ND_DAX: DeviceType[tuple[NdRegion, Claim]] = DeviceType(
    "nd_dax",
    get=claim_of,
    entries={
        "devtype": const("nd_dax"),
        "modalias": const("nd:t7"),
        **_PFN_ENTRIES,
        "dax_region": _dax_region_group,
    },
    devtype="nd_dax",
    uevent_vars=lambda k, obj: ["MODALIAS=nd:t7"],
    power=True,
    release=_claim_release,
)

BTT: DeviceType[tuple[NdRegion, Claim]] = DeviceType(
    "nd_btt",
    get=claim_of,
    entries={
        "devtype": const("nd_btt"),
        "modalias": const("nd:t0"),
        "uuid": show_store(claim_uuid_show, claim_uuid_store),
        "sector_size": show_store(btt_sector_size_show, btt_sector_size_store),
        "namespace": show_store(claim_namespace_show, claim_namespace_store),
        # size_show() of a disabled btt fails ENXIO; the file is always there.
        "size": show_only(claim_size_show),
        "log_zero_flags": const("Y"),
        **_NUMA_ENTRIES,
    },
    devtype="nd_btt",
    uevent_vars=lambda k, obj: ["MODALIAS=nd:t0"],
    power=True,
    release=_claim_release,
)
