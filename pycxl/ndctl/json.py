"""JSON for nd buses, DIMMs, regions and namespaces, in upstream's key order
(ndctl-daxctl.md 3.5-3.8)."""

from __future__ import annotations

from pycxl.daxctl.json import region_json as dax_region_json
from pycxl.daxctl.lib import DaxCtx, DaxRegion
from pycxl.ndctl.lib import NULL_UUID, Bus, Dimm, Namespace, Region, read_attr
from pycxl.util.cparse import ULLONG_MAX, strtoull
from pycxl.util.human import hex_value, size_value

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Flags:
    """The listing flags handed to the JSON builders."""

    def __init__(self) -> None:
        self.idle = False
        self.configured = False
        self.media_errors = False
        self.dax = False
        self.human = False
        self.verbose = False
        self.capabilities = False
        self.firmware = False


def bus_json(bus: Bus) -> dict[str, Any]:
    return {"provider": bus.provider, "dev": bus.devname}


def dimm_json(dimm: Dimm, flags: Flags) -> dict[str, Any]:
    obj: dict[str, Any] = {"dev": dimm.devname}
    if dimm.unique_id:
        obj["id"] = dimm.unique_id
    if not dimm.is_enabled():
        obj["state"] = "disabled"
    security = dimm.attr("security")
    frozen = dimm.attr("frozen")
    if security in ("disabled", "unlocked", "locked", "frozen", "overwrite"):
        obj["security"] = security
        if security == "frozen" or (frozen is not None and strtoull(frozen)[0]):
            obj["security_frozen"] = True
    return obj


def _capabilities(region: Region) -> list[dict[str, Any]]:
    caps: list[dict[str, Any]] = []
    btt = region.claim_by_name(region.seed("btt"))
    if btt is not None:
        sizes = [s for s in _sizes(read_attr(btt.sysfs, f"{btt.path}/sector_size"))]
        caps.append({"mode": "sector", "sector_sizes": sizes})
    pfn = region.claim_by_name(region.seed("pfn"))
    if pfn is not None:
        caps.append({"mode": "fsdax", "alignments": pfn.supported_alignments()})
    dax = region.claim_by_name(region.seed("dax"))
    if dax is not None:
        caps.append({"mode": "devdax", "alignments": dax.supported_alignments()})
    return caps


def _sizes(text: str | None) -> list[int]:
    from pycxl.ndctl.lib import size_list

    return size_list(text)[0]


def region_json(
    region: Region, flags: Flags, mappings: list[dict[str, Any]] | None
) -> dict[str, Any]:
    human = flags.human
    obj: dict[str, Any] = {"dev": region.devname, "size": size_value(region.size, human)}
    if region.align != ULLONG_MAX:
        obj["align"] = size_value(region.align, human)
    obj["available_size"] = size_value(region.available_size(), human)
    extent = region.max_available_extent()
    if extent != ULLONG_MAX:
        obj["max_available_extent"] = size_value(extent, human)
    obj["type"] = region.type_name
    if flags.verbose:
        if region.numa_node >= 0:
            obj["numa_node"] = region.numa_node
        if region.target_node >= 0:
            obj["target_node"] = region.target_node
    if region.nstype == 5:
        obj["iset_id"] = hex_value(region.cookie, human)
    if mappings is not None:
        obj["mappings"] = mappings
    if not region.is_enabled():
        obj["state"] = "disabled"
    if flags.capabilities and any(region.seed(k) for k in ("btt", "pfn", "dax")):
        caps = _capabilities(region)
        if caps:
            obj["capabilities"] = caps
    obj["persistence_domain"] = region.persistence_domain
    return obj


def mapping_json(dimm: str, offset: int, length: int, position: int, human: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "dimm": dimm,
        "offset": hex_value(offset, human),
        "length": hex_value(length, human),
    }
    if position >= 0:
        obj["position"] = position
    return obj


def _dax_region(ns: Namespace, path: str, flags: Flags) -> dict[str, Any]:
    """libndctl's daxctl region of an nd dax device: id of the nd region, at its path."""
    region = DaxRegion(DaxCtx(ns.sysfs), ns.region.id, path)
    return dax_region_json(region, flags.human, flags.idle, path=False)


def namespace_json(ns: Namespace, flags: Flags) -> dict[str, Any] | None:
    """The namespace object, or None where upstream's construction fails (a devdax or
    sector namespace whose claim device is missing)."""
    human = flags.human
    mode = ns.mode()
    btt, pfn, dax = ns.claim("btt"), ns.claim("pfn"), ns.claim("dax")
    if (mode == "devdax" and dax is None) or (mode == "sector" and btt is None):
        return None
    obj: dict[str, Any] = {"dev": ns.devname}
    if mode:
        obj["mode"] = mode
    claim = pfn or dax
    if mode in ("fsdax", "devdax"):
        location = claim.mode() if claim is not None else "ram"
        obj["map"] = {"pmem": "dev", "ram": "mem", "none": "none"}.get(location, "mem")
    size = ULLONG_MAX
    if pfn is not None:
        size = pfn.size()
    elif dax is not None:
        size = dax.size()
    elif btt is not None:
        size = btt.size()
    else:
        size = ns.size
    if size != ULLONG_MAX:
        obj["size"] = size_value(size, human)
    holder = btt or pfn or dax
    if holder is not None:
        obj["uuid"] = holder.uuid() or NULL_UUID
        if flags.verbose and ns.uuid != NULL_UUID:
            obj["raw_uuid"] = ns.uuid
    else:
        obj["uuid"] = ns.uuid
    if mode == "devdax" and dax is not None:
        if flags.dax:
            obj["daxregion"] = _dax_region(ns, dax.path, flags)
        else:
            devices = [n for n in ns.sysfs.scan(dax.path, f"dax{ns.region.id}.")][::-1]
            if devices:
                obj["chardev"] = devices[-1] if len(devices) == 1 else devices[0]
    if btt is not None:
        obj["sector_size"] = btt.sector_size()
    elif mode != "devdax":
        selected = ns.sector_sizes()[1]
        obj["sector_size"] = selected if selected > 0 else 512
    if claim is not None and claim.align():
        obj["align"] = claim.align()
    bdev = ""
    if btt is not None:
        bdev = btt.block_device()
    elif pfn is not None:
        bdev = pfn.block_device()
    elif mode in ("raw", "fsdax") and dax is None:
        bdev = ns.block_device()
    if bdev:
        obj["blockdev"] = bdev
    if not ns.is_active():
        obj["state"] = "disabled"
    if ns.alt_name:
        obj["name"] = ns.alt_name
    if flags.verbose:
        if ns.numa_node >= 0:
            obj["numa_node"] = ns.numa_node
        if ns.target_node >= 0:
            obj["target_node"] = ns.target_node
    return obj
