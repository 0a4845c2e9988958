"""The nd region ``regionN`` a bound CXL pmem region registers on the nvdimm bridge's nd bus
(kernel-sysfs.md 3.4.3), and its driver nd_region.

cxl_pmem_region's probe builds the region from the CXL region: one mapping per target in
position order, the interleave-set cookie, the 16 MiB default alignment, numa_node from
memory_add_physaddr_to_nid() and target_node from phys_to_target_node() of its start.
nd_region's probe (checked against Linux v6.14's region.c, region_devs.c and
namespace_devs.c) plants the seeds, one btt, pfn and nd dax device to configure, and
registers the namespaces the member DIMMs' labels describe, or an empty one when none do;
the first is the namespace seed. Its remove unregisters them all; the labels stay on the
DIMMs, so enabling the region again brings the namespaces back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import changes, core, namespaces, nd_labels
from fake_sysfs.kernel.attrs import const, kstrtobool, kstrtoull, show_only, show_store
from fake_sysfs.kernel.core import Device, DeviceType, Driver
from fake_sysfs.kernel.nd_state import NdMapping, NdRegion
from fake_sysfs.kernfs.nodes import Attr, Node, Shown

if TYPE_CHECKING:
    from fake_sysfs.kernel.regions import Region
    from fake_sysfs.kernel.state import Kernel

SZ_16M = 16 << 20
PAGE_SIZE = 4096
#: enum nvdimm device types: the nstype of a label-based pmem region and namespace.
ND_DEVICE_NAMESPACE_PMEM = 5


def fletcher64(data: bytes) -> int:
    """nd_fletcher64: sums of the little-endian 32-bit words, each kept to 32 bits."""
    lo = hi = 0
    for i in range(0, len(data) - len(data) % 4, 4):
        lo = (lo + int.from_bytes(data[i : i + 4], "little")) & 0xFFFF_FFFF
        hi = (hi + lo) & 0xFFFF_FFFF
    return hi << 32 | lo


def default_align(size: int, ways: int) -> int:
    """16 MiB, times the ways when 16 MiB does not divide by them; the page below 16 MiB."""
    if size < SZ_16M:
        return PAGE_SIZE
    return SZ_16M if SZ_16M % ways == 0 else SZ_16M * ways


def nd_region_of(k: Kernel, dev: Device) -> NdRegion:
    return k.nd_regions[int(dev.name[len("region") :])]


# -- creation by cxl_pmem_region ---------------------------------------------------------------


def register_nd_region(k: Kernel, region: Region, bus_id: int, ndbus_key: str) -> None:
    """cxl_pmem_region's nvdimm_pmem_region_create: the nd region of ``region`` (its
    members are checked by the caller), registered and probed at once."""
    from fake_sysfs.kernel.dax import target_node
    from fake_sysfs.kernel.regions import endpoint_decoder, memdev_of_decoder

    assert region.start is not None
    mappings: list[NdMapping] = []
    cookie_data = b""
    for pos, name in enumerate(region.targets):
        dec = endpoint_decoder(k, name)
        assert dec is not None
        mem = memdev_of_decoder(k, dec)
        nmem = next(n for b in k.bridges for n in b.nmems if n.memdev == mem.id)
        # A committed target holds its DPA; a state built by hand may not say where.
        dpa = dec.dpa_base or 0
        dpa_size = dec.dpa_size or region.size // max(1, len(region.targets))
        mappings.append(NdMapping(nmem.id, mem.id, dpa, dpa_size, pos))
        # struct cxl_pmem_region_info: the DPA offset, then the device serial.
        cookie_data += dpa.to_bytes(8, "little") + mem.serial.to_bytes(8, "little")
    nd = NdRegion(
        id=region.id,
        bus=bus_id,
        start=region.start,
        mappings=mappings,
        align=default_align(region.size, len(mappings)),
        cookie=fletcher64(cookie_data),
        target_node=target_node(k, region.root_decoder),
    )
    k.nd_regions[nd.id] = nd
    core.device_add(k, Device(nd.name, ndbus_key, "nd_region", "nd"))


def _release(k: Kernel, dev: Device) -> None:
    k.nd_regions.pop(int(dev.name[len("region") :]), None)


# -- the nd_region driver ----------------------------------------------------------------------


def nd_region_probe(k: Kernel, dev: Device) -> None:
    """Instantiate the labelled namespaces, then plant the seeds (3.4.4)."""
    nd = nd_region_of(k, dev)
    if any(not _dimm_enabled(k, m) for m in nd.mappings):
        k.log.dbg(dev, "nd_region_register_namespaces: a mapping's DIMM is disabled")
        raise kerr(errno.ENXIO)
    nd.namespaces.clear()
    nd.claims.clear()
    nd.ns_seed = nd.btt_seed = nd.pfn_seed = nd.dax_seed = -1
    try:
        restored = namespaces.namespaces_from_labels(k, nd)
    except namespaces.LabelError as e:
        # scan_labels() gives up: no namespace is registered and the probe fails.
        k.log.err(dev, str(e))
        k.log.dbg(dev, "invalid label(s)")
        raise kerr(errno.ENODEV) from None
    for ns in restored:
        nd.namespaces.append(ns)
    if not restored:
        nd.namespaces.append(namespaces.new_namespace(nd))
    nd.ns_seed = nd.namespaces[0].index
    # nd_region_probe(): ns_active is how many namespace devices were registered (every
    # one here), ns_count that plus the ones that failed to register (none); a region with
    # no label publishes its seed, so a fresh region reads "1/1". Counted before the
    # namespaces probe (their registration is asynchronous; seeds they advance come later).
    nd.init_active = nd.init_count = len(nd.namespaces)
    # The seeds take their ids at once (nd_btt_create() & co. allocate them in the
    # probe); a claim a namespace's info block brings back comes later and gets the next.
    nd.btt_seed = namespaces.create_claim(k, nd, "btt").id
    nd.pfn_seed = namespaces.create_claim(k, nd, "pfn").id
    nd.dax_seed = namespaces.create_claim(k, nd, "dax").id
    for ns in list(nd.namespaces):
        namespaces.register_namespace(k, nd, ns)


def nd_region_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)
    nd = nd_region_of(k, dev)
    nd.namespaces.clear()
    nd.claims.clear()
    nd.ns_seed = nd.btt_seed = nd.pfn_seed = nd.dax_seed = -1


def _dimm_enabled(k: Kernel, m: NdMapping) -> bool:
    dev = core.find_device(k, "nd", f"nmem{m.nmem}")
    return dev is not None and bool(dev.driver)


def _match(k: Kernel, dev: Device) -> bool:
    return dev.type == "nd_region"


ND_REGION_DRIVER = Driver("nd_region", "nd", _match, nd_region_probe, nd_region_remove)


@changes.also_shows
def _region_devices_show_one_another(
    k: Kernel, keys: set[str], objects: list[Any], device: Callable[[str], Device | None]
) -> None:
    """An nd region's devices show one another (a namespace's ``mode`` is what its claim
    device makes of it, a claim names its namespace): one that changed makes all of its
    region's subtree count. And a DIMM's ``state`` is whether an enabled region maps it
    (nvdimm.state_show): a region that changed, came or went makes its DIMMs count."""
    regions = {id(obj): obj for obj in objects if isinstance(obj, NdRegion)}
    for key in [key for key in keys if key.startswith("bus/nd/")]:
        dev = device(key)
        region = None if dev is None else device(dev.parent)
        if region is not None and region.type == "nd_region":
            changes.add_subtree(k, keys, region.key)
        if dev is not None and dev.type == "nd_region":
            nd = k.nd_regions.get(int(dev.name[len("region") :]))
            if nd is not None:
                regions[id(nd)] = nd
    for nd in regions.values():
        keys.update(f"bus/nd/nmem{m.nmem}" for m in nd.mappings if device(f"bus/nd/nmem{m.nmem}"))


# -- attributes --------------------------------------------------------------------------------


def size_show(k: Kernel, nd: NdRegion) -> int:
    return nd.size


def align_show(k: Kernel, nd: NdRegion) -> str:
    return f"{nd.align:#x}"


@namespaces.explained("align")
def align_store(k: Kernel, nd: NdRegion, buf: bytes) -> None:
    """align_store(): the region-wide namespace alignment: per mapping a power of two of
    at least a page, dividing evenly, no larger than the region. Sized namespaces do not
    stop it (allocations made before keep their places)."""
    value = kstrtoull(buf, 0)
    ways = nd.ways
    per = value // ways
    if value % ways or per < PAGE_SIZE or per & (per - 1) or value > nd.size:
        k.log.dbg(k.dev(nd), f"invalid align {value:#x}")
        raise kerr(errno.EINVAL)
    nd.align = value


def nstype_show(k: Kernel, nd: NdRegion) -> int:
    return ND_DEVICE_NAMESPACE_PMEM


def mappings_show(k: Kernel, nd: NdRegion) -> int:
    return len(nd.mappings)


def set_cookie_show(k: Kernel, nd: NdRegion) -> str:
    return f"{nd.cookie:#x}"


def _busy_dpa(k: Kernel, nd: NdRegion) -> list[list[int]] | None:
    """The DPA the member DIMMs hold for namespaces, relative to the mapping: the region's
    namespaces while it is enabled; while it is not, what the DIMMs reserved from their
    labels when they were probed (nd_label_reserve_dpa(): every valid label's range)."""
    if k.dev(nd).driver:
        return None
    first = nd.mappings[0]
    labels = nd_labels.read_labels(k, k.memdevs[first.memdev])
    return [
        [lb.dpa - first.start, lb.rawsize]
        for lb in labels
        if first.start <= lb.dpa < first.start + first.size
    ]


def available_size_show(k: Kernel, nd: NdRegion) -> int:
    """nd_region_available_dpa(): 0 while a member DIMM is disabled; it does not look at
    whether the region itself is enabled."""
    if not nd.mappings or not all(_dimm_enabled(k, m) for m in nd.mappings):
        return 0
    return namespaces.available_dpa(nd, _busy_dpa(k, nd))


def max_available_extent_show(k: Kernel, nd: NdRegion) -> int:
    """nd_region_allocatable_dpa(), with the same inputs as available_size."""
    if not nd.mappings or not all(_dimm_enabled(k, m) for m in nd.mappings):
        return 0
    return namespaces.max_extent(nd, _busy_dpa(k, nd))


def _seed(k: Kernel, nd: NdRegion, kind: str, cid: int) -> str:
    if cid < 0 or not k.dev(nd).driver:
        return ""
    prefix = "namespace" if kind == "namespace" else kind
    return f"{prefix}{nd.id}.{cid}"


def namespace_seed_show(k: Kernel, nd: NdRegion) -> str:
    return _seed(k, nd, "namespace", nd.ns_seed)


def btt_seed_show(k: Kernel, nd: NdRegion) -> str:
    return _seed(k, nd, "btt", nd.btt_seed)


def pfn_seed_show(k: Kernel, nd: NdRegion) -> str:
    return _seed(k, nd, "pfn", nd.pfn_seed)


def dax_seed_show(k: Kernel, nd: NdRegion) -> str:
    return _seed(k, nd, "dax", nd.dax_seed)


def init_namespaces_show(k: Kernel, nd: NdRegion) -> str:
    if not k.dev(nd).driver:
        raise kerr(errno.ENXIO)
    return f"{nd.init_active}/{nd.init_count}"


def read_only_show(k: Kernel, nd: NdRegion) -> int:
    return int(nd.read_only)


@namespaces.explained("read_only")
def read_only_store(k: Kernel, nd: NdRegion, buf: bytes) -> None:
    nd.read_only = kstrtobool(buf)


def persistence_domain_show(k: Kernel, nd: NdRegion) -> str:
    return "memory_controller"


def resource_show(k: Kernel, nd: NdRegion) -> str:
    return f"{nd.start:#x}"


def numa_node_show(k: Kernel, nd: NdRegion) -> int:
    # memory_add_physaddr_to_nid(): a CXL window is in no SRAT memory range, so node 0.
    return 0


def target_node_show(k: Kernel, nd: NdRegion) -> int:
    return nd.target_node


def _mapping_show(k: Kernel, m: NdMapping) -> str:
    return f"nmem{m.nmem},{m.start},{m.size},{m.position}"


def _mappings(k: Kernel, nd: NdRegion) -> dict[str, Node]:
    return {
        f"mapping{i}": Attr(0o444, value=Shown(_mapping_show, k, m))
        for i, m in enumerate(nd.mappings)
    }


def _badblocks(k: Kernel, nd: NdRegion) -> Node:
    """region_badblocks_show(): one line per bad range (none here, so an empty file with no
    newline); ENXIO while the region is not enabled."""

    def show() -> bytes:
        if not k.dev(nd).driver:
            raise kerr(errno.ENXIO)
        return b""

    return Attr(0o444, show=show)


ND_REGION: DeviceType[NdRegion] = DeviceType(
    "nd_region",
    get=nd_region_of,
    entries={
        "devtype": const("nd_pmem"),
        "modalias": const("nd:t2"),
        "size": show_only(size_show),
        "align": show_store(align_show, align_store),
        "nstype": show_only(nstype_show),
        "mappings": show_only(mappings_show),
        "set_cookie": show_only(set_cookie_show),
        "available_size": show_only(available_size_show),
        "max_available_extent": show_only(max_available_extent_show),
        "namespace_seed": show_only(namespace_seed_show),
        "btt_seed": show_only(btt_seed_show),
        "pfn_seed": show_only(pfn_seed_show),
        "dax_seed": show_only(dax_seed_show),
        "init_namespaces": show_only(init_namespaces_show),
        "read_only": show_store(read_only_show, read_only_store),
        "deep_flush": const(0),
        "persistence_domain": show_only(persistence_domain_show),
        "resource": show_only(resource_show, 0o400),
        "badblocks": _badblocks,
        "numa_node": show_only(numa_node_show),
        "target_node": show_only(target_node_show),
    },
    more=_mappings,
    devtype="nd_pmem",
    uevent_vars=lambda k, nd: ["MODALIAS=nd:t2"],
    power=True,
    release=_release,
)
