"""The nd region ``regionN`` a bound CXL pmem region registers on the nvdimm bridge's nd bus
(kernel-sysfs.md 3.4.3), and its driver nd_region.

cxl_pmem_region's probe builds the region from the CXL region: one mapping per target in
position order, the interleave-set cookie, the 16 MiB default alignment. nd_region's probe
brings up the namespaces the member DIMMs' labels describe, then the seeds: an empty
namespace and one btt, pfn and nd dax device to configure. Its remove unregisters them all;
the labels stay on the DIMMs, so enabling the region again brings the namespaces back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core, namespaces
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
    restored = namespaces.namespaces_from_labels(k, nd)
    for ns in restored:
        nd.namespaces.append(ns)
    if not restored:
        nd.namespaces.append(namespaces.new_namespace(nd))
    nd.ns_seed = nd.namespaces[0].index
    for ns in list(nd.namespaces):
        namespaces.register_namespace(k, nd, ns)
    nd.btt_seed = namespaces.create_claim(k, nd, "btt").id
    nd.pfn_seed = namespaces.create_claim(k, nd, "pfn").id
    nd.dax_seed = namespaces.create_claim(k, nd, "dax").id
    nd.init_active = sum(1 for ns in nd.namespaces if namespaces.ns_active(k, nd, ns))
    nd.init_count = len(nd.namespaces)


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


# -- attributes --------------------------------------------------------------------------------


def size_show(k: Kernel, nd: NdRegion) -> int:
    return nd.size


def align_show(k: Kernel, nd: NdRegion) -> str:
    return f"{nd.align:#x}"


@namespaces.explained("align")
def align_store(k: Kernel, nd: NdRegion, buf: bytes) -> None:
    """The region-wide namespace alignment: per mapping a power of two of at least a page,
    dividing evenly, no larger than the region; EBUSY while namespaces are sized."""
    value = kstrtoull(buf, 0)
    ways = nd.ways
    if any(ns.per_mapping() for ns in nd.namespaces):
        raise kerr(errno.EBUSY)
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


def available_size_show(k: Kernel, nd: NdRegion) -> int:
    if not k.dev(nd).driver:
        return 0
    return namespaces.available_dpa(nd)


def max_available_extent_show(k: Kernel, nd: NdRegion) -> int:
    if not k.dev(nd).driver:
        return 0
    return namespaces.max_extent(nd)


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


def _empty() -> bytes:
    return b""


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
        "badblocks": lambda k, nd: Attr(0o444, show=_empty),
        "numa_node": show_only(numa_node_show),
        "target_node": show_only(target_node_show),
    },
    more=_mappings,
    devtype="nd_pmem",
    uevent_vars=lambda k, nd: ["MODALIAS=nd:t2"],
    power=True,
    release=_release,
)
