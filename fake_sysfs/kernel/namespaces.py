"""Namespaces of an nd region and the devices that claim them (kernel-sysfs.md 3.4.4):
``namespaceN.M``, ``bttN.M``, ``pfnN.M``, the nd dax device ``daxN.M``, the block device
``pmemN[.M][s]`` and, for devdax, the DAX bus device; the drivers nd_pmem and dax_pmem.

DPA: a namespace of size S takes S / ways from every mapping of its region, at the same
offsets on each (every namespace is carved from all mappings equally and in the same order,
so the free extents of all mappings stay identical; one extent list serves them all).

Labels: sizing a namespace (and changing its uuid, name, sector size or class while sized)
writes its labels to every member DIMM's label storage area (kernel.nd_labels); a size of
0 deletes them; the nd region's probe brings labelled namespaces back. The info block a
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
    when,
    written_name,
)
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.nd_state import (
    BTT_SECTOR_SIZES,
    NS_SECTOR_SIZES,
    NULL_UUID,
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
#: A CXL namespace's btt is version 2.0, whose info block sits 4 KiB into the namespace.
BTT_INITIAL_OFFSET = 4096
_UUID = re.compile(
    rb"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"
)
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


def ns_active(k: Kernel, nd: NdRegion, ns: Namespace) -> bool:
    claim = claimant(nd, ns)
    if claim is not None:
        return bool(claim_dev(k, nd, claim).driver)
    return bool(ns_dev(k, nd, ns).driver)


def _busy(k: Kernel, nd: NdRegion, ns: Namespace) -> bool:
    """A namespace is busy while bound or claimed: its configuration cannot change."""
    return bool(ns_dev(k, nd, ns).driver) or claimant(nd, ns) is not None


# -- DPA ---------------------------------------------------------------------------------------


def _free_extents(nd: NdRegion) -> list[list[int]]:
    """The free [offset, size] extents of every mapping (identical on all of them)."""
    per = nd.mappings[0].size if nd.mappings else 0
    used = sorted(e for ns in nd.namespaces for e in ns.extents)
    free, at = [], 0
    for offset, size in used:
        if offset > at:
            free.append([at, offset - at])
        at = max(at, offset + size)
    if at < per:
        free.append([at, per - at])
    return free


def available_dpa(nd: NdRegion) -> int:
    """Free DPA of every mapping, each rounded down to the per-mapping alignment."""
    per_align = nd.align // nd.ways
    free = sum(size for _, size in _free_extents(nd))
    return free // per_align * per_align * nd.ways


def max_extent(nd: NdRegion) -> int:
    per_align = nd.align // nd.ways
    largest = max((size for _, size in _free_extents(nd)), default=0)
    return largest // per_align * per_align * nd.ways


def _resize(nd: NdRegion, ns: Namespace, per_mapping: int) -> bool:
    """Grow or shrink the namespace's share of each mapping; False if it cannot grow."""
    have = ns.per_mapping()
    if per_mapping <= have:
        keep: list[list[int]] = []
        left = per_mapping
        for offset, size in ns.extents:
            if left <= 0:
                break
            keep.append([offset, min(size, left)])
            left -= size
        ns.extents = keep
        return True
    need = per_mapping - have
    if sum(size for _, size in _free_extents(nd)) < need:
        return False
    for offset, size in _free_extents(nd):
        take = min(size, need)
        if ns.extents and ns.extents[-1][0] + ns.extents[-1][1] == offset:
            ns.extents[-1][1] += take
        else:
            ns.extents.append([offset, take])
        need -= take
        if not need:
            break
    return True


# -- labels ------------------------------------------------------------------------------------


def _region_uuid(k: Kernel, nd: NdRegion) -> str:
    region = k.regions.get(nd.id)
    return region.uuid if region is not None and region.uuid else NULL_UUID


def write_labels(k: Kernel, nd: NdRegion, ns: Namespace, old_uuid: str = "") -> None:
    """Write ``ns``'s labels to every member DIMM's label area (one per DPA range),
    replacing those of its uuid (and of ``old_uuid``, a uuid it had before)."""
    remove = [u for u in (ns.uuid, old_uuid) if u]
    for m in nd.mappings:
        add = [
            nd_labels.Label(
                slot=0,
                uuid=ns.uuid,
                name=ns.alt_name,
                flags=0,
                nrange=len(ns.extents),
                position=m.position,
                dpa=m.start + offset,
                rawsize=size,
                align=0,
                region_uuid=_region_uuid(k, nd),
                claim=ns.holder_class,
                lbasize=ns.sector_size,
            )
            for offset, size in ns.extents
        ]
        nd_labels.update(k, k.memdevs[m.memdev], remove, add if ns.uuid else [])


def delete_labels(k: Kernel, nd: NdRegion, ns: Namespace) -> None:
    if not ns.uuid:
        return
    for m in nd.mappings:
        nd_labels.update(k, k.memdevs[m.memdev], [ns.uuid], [])


def namespaces_from_labels(k: Kernel, nd: NdRegion) -> list[Namespace]:
    """scan_labels: the namespaces the labels of the region's DIMMs describe, in the order
    of the first DIMM's slots, numbered from 0; a uuid missing from a member's area, or a
    range outside its mapping, is no namespace of this region."""
    if not nd.mappings:
        return []
    per_mapping = []
    for m in nd.mappings:
        labels = nd_labels.read_labels(k, k.memdevs[m.memdev])
        per_mapping.append(
            [
                lb
                for lb in labels
                if lb.position == m.position
                and m.start <= lb.dpa < m.start + m.size
                and lb.dpa + lb.rawsize <= m.start + m.size
            ]
        )
    found: list[Namespace] = []
    first = nd.mappings[0]
    for label in per_mapping[0]:
        if any(ns.uuid == label.uuid for ns in found):
            continue
        if not all(any(lb.uuid == label.uuid for lb in labels) for labels in per_mapping):
            continue
        extents = sorted(
            [lb.dpa - first.start, lb.rawsize] for lb in per_mapping[0] if lb.uuid == label.uuid
        )
        found.append(
            Namespace(
                index=len(found),
                uuid=label.uuid,
                alt_name=label.name,
                extents=extents,
                sector_size=label.lbasize,
                holder_class=label.claim,
            )
        )
    return found


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


def btt_size(rawsize: int, lbasize: int) -> int:
    """The btt's capacity: one arena (CXL regions are far below 512 GiB) laid out as
    btt.c does: two info blocks, the log, then the map and the data blocks."""
    internal = -(-lbasize // INT_LBASIZE_ALIGNMENT) * INT_LBASIZE_ALIGNMENT
    available = rawsize - 2 * BTT_PG_SIZE
    available -= -(-(BTT_NFREE * LOG_GRP_SIZE) // BTT_PG_SIZE) * BTT_PG_SIZE
    internal_nlba = (available - BTT_PG_SIZE) // (internal + MAP_ENT_SIZE)
    return max(0, internal_nlba - BTT_NFREE) * lbasize


def claim_size(nd: NdRegion, ns: Namespace, claim: Claim) -> int:
    size = ns_size(nd, ns)
    if claim.kind == "btt":
        return btt_size(size - BTT_INITIAL_OFFSET, claim.sector_size or 4096)
    return size - pfn_offset(size, ns_start(nd, ns), claim.mode, claim.align)


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
        core.device_add(k, Device(claim_name(nd, claim), nd.devkey, _CLAIM_TYPE[info.kind], "nd"))
        # The namespace itself stays unbound, the claim it registered stays (nd_pmem_probe).
        fail_after_change(k, errno.ENXIO)
    ns.minor = _add_disk(k, nd, ns, dev, btt=False)
    _advance_seeds(k, nd, ns, None)


def _claim_probe(k: Kernel, dev: Device) -> None:
    nd, claim = claim_of(k, dev)
    ns = nd.namespace(claim.namespace) if claim.namespace >= 0 else None
    if ns is None:
        k.log.dbg(dev, "no namespace attached")
        raise kerr(errno.ENODEV)
    if not claim.uuid:
        k.log.dbg(dev, "uuid not set")
        raise kerr(errno.ENODEV)
    if claim.kind != "btt" and claim.mode == "none":
        k.log.dbg(dev, "mode not set")
        raise kerr(errno.ENODEV)
    info = info_block(k, nd, ns)
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
    size = ns_size(nd, ns) - offset
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
    """nd_uuid_store: 32 hex digits with optional dashes, at most one newline after."""
    s = c_string(buf)
    if s.endswith(b"\n"):
        s = s[:-1]
    if not _UUID.fullmatch(s):
        raise kerr(errno.EINVAL)
    h = s.replace(b"-", b"").decode().lower()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ns_size_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> int:
    nd, ns = obj
    return ns_size(nd, ns)


@explained("size")
def ns_size_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    nd, ns = obj
    dev = ns_dev(k, nd, ns)
    value = kstrtoull(buf, 0)
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    if not ns.uuid:
        k.log.dbg(dev, "uuid not set")
        raise kerr(errno.ENXIO)
    if value % nd.align:
        k.log.dbg(dev, f"{value} is not {nd.align // 1024}K aligned")
        raise kerr(errno.EINVAL)
    if not k.dev(nd).driver or any(
        not (d := core.find_device(k, "nd", f"nmem{m.nmem}")) or not d.driver for m in nd.mappings
    ):
        raise kerr(errno.ENXIO)
    if value == 0:
        set_info_block(k, nd, ns, None)
    if not _resize(nd, ns, value // nd.ways):
        k.log.dbg(dev, f"insufficient capacity for {value:#x}")
        raise kerr(errno.ENOSPC)
    if value == 0:
        delete_labels(k, nd, ns)
        ns.uuid = ""
        if ns.index != nd.ns_seed and ns.index != 0:
            _delete_namespace(k, nd, ns)
        return
    write_labels(k, nd, ns)


def ns_uuid_show(k: Kernel, obj: tuple[NdRegion, Namespace]) -> str:
    return obj[1].uuid


@explained("uuid")
def ns_uuid_store(k: Kernel, obj: tuple[NdRegion, Namespace], buf: bytes) -> None:
    nd, ns = obj
    value = parse_uuid(buf)
    if _busy(k, nd, ns):
        raise kerr(errno.EBUSY)
    for other_nd in k.nd_regions.values():
        for other in other_nd.namespaces:
            if other is not ns and other.uuid == value:
                k.log.dbg(ns_dev(k, nd, ns), f"uuid {value} already in use")
                raise kerr(errno.EBUSY)
    old, ns.uuid = ns.uuid, value
    if ns.extents:
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
    if ns.extents:
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
    if ns.extents:
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
    for value in ("btt", "btt2", "pfn", "dax", ""):
        if streq(buf, value):
            ns.holder_class = "btt" if value == "btt2" else value
            # ndctl zeroes the info block through the block device whenever it changes
            # the class; the emulation serves no block I/O, so the class change does it.
            set_info_block(k, nd, ns, None)
            if ns.extents:
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
    """nd_namespace_store: attach a namespace of the same region, or detach with ""."""
    nd, claim = obj
    dev = claim_dev(k, nd, claim)
    _claim_busy(k, nd, claim)
    name = written_name(buf).strip()
    if not name:
        _detach_and_reset(k, nd, claim)
        return
    if claim.namespace >= 0:
        current = claim_namespace_show(k, obj)
        if current == name:
            return
        k.log.dbg(dev, f"{current} already claimed")
        raise kerr(errno.EBUSY)
    ns = next((n for n in nd.namespaces if ns_name(nd, n) == name), None)
    if ns is None:
        k.log.dbg(dev, f"'{name}' not found under {nd.name}")
        raise kerr(errno.ENODEV)
    if ns_dev(k, nd, ns).driver or claimant(nd, ns) is not None:
        k.log.dbg(dev, f"{name} already claimed")
        raise kerr(errno.EBUSY)
    wanted = {"btt": ("btt",), "pfn": ("pfn",), "dax": ("dax",)}[claim.kind]
    if ns.holder_class and ns.holder_class not in wanted:
        raise kerr(errno.EBUSY)
    if claim.kind != "btt" and ns_size(nd, ns) < SZ_16M:
        k.log.dbg(dev, f"{name} too small to host")
        raise kerr(errno.ENXIO)
    claim.namespace = ns.index


def _detach_and_reset(k: Kernel, nd: NdRegion, claim: Claim) -> None:
    """Detach the namespace; a device that is no seed is deleted, a seed is reset."""
    claim.namespace = -1
    seeds = {"btt": nd.btt_seed, "pfn": nd.pfn_seed, "dax": nd.dax_seed}
    if seeds[claim.kind] != claim.id:
        dev = claim_dev(k, nd, claim)
        core.device_unregister(k, dev)
        return
    claim.uuid = ""
    if claim.kind != "btt":
        claim.mode = "none"
        claim.align = 2 << 20


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


_PFN_ENTRIES = {
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
        "size": when(_enabled, show_only(claim_size_show)),
    },
    devtype="nd_btt",
    uevent_vars=lambda k, obj: ["MODALIAS=nd:t0"],
    power=True,
)
