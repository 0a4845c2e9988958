"""ndctl's object filters (util_*_filter): by bus, region, DIMM and namespace identifiers.

An identifier list is space separated. For buses, regions and DIMMs a numeric id is parsed
from the **whole** argument (so numeric lists match nothing, name lists work); namespaces
match ``X.Y`` or their device name.
"""

from __future__ import annotations

from pycxl.ndctl.lib import Bus, Dimm, Namespace, Region
from pycxl.util.cparse import ULLONG_MAX, scan_int_pair, strtoull


def _whole_number(ident: str) -> int:
    value, end = strtoull(ident)
    return value if end == len(ident) and end > 0 else ULLONG_MAX


def _names(ident: str) -> list[str]:
    return [name for name in ident.split(" ") if name]


def bus_matches(bus: Bus, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    number = _whole_number(ident)
    for name in _names(ident):
        if number != ULLONG_MAX and number == bus.id:
            return True
        if number == ULLONG_MAX and name in (bus.provider, bus.devname):
            return True
    return False


def region_matches(region: Region, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    number = _whole_number(ident)
    for name in _names(ident):
        if number != ULLONG_MAX and number == region.id:
            return True
        if number == ULLONG_MAX and name == region.devname:
            return True
    return False


def dimm_matches(dimm: Dimm, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    number = _whole_number(ident)
    for name in _names(ident):
        if number != ULLONG_MAX and number == dimm.id:
            return True
        if number == ULLONG_MAX and name == dimm.devname:
            return True
    return False


def namespace_matches(ns: Namespace, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    for name in _names(ident):
        pair = scan_int_pair(name)
        if pair is not None:
            if pair == (ns.region.id, ns.id):
                return True
        elif name == ns.devname:
            return True
    return False


def region_has_dimm(region: Region, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    return any(d is not None and dimm_matches(d, ident) for d, _, _, _ in region.mappings())


def region_has_namespace(region: Region, ident: str | None) -> bool:
    if not ident or ident == "all":
        return True
    return any(namespace_matches(ns, ident) for ns in region.namespaces())


def dimm_in_region(dimm: Dimm, region_ident: str | None, ns_ident: str | None) -> bool:
    """A DIMM matches -r / -n when some region using it matches them."""
    if (not region_ident or region_ident == "all") and (not ns_ident or ns_ident == "all"):
        return True
    for region in dimm.bus.regions():
        if not region_matches(region, region_ident):
            continue
        if not any(d is dimm for d, _, _, _ in region.mappings()):
            continue
        if region_has_namespace(region, ns_ident):
            return True
    return False


def bus_has_match(bus: Bus, dimm: str | None, region: str | None, ns: str | None) -> bool:
    if dimm and dimm != "all" and not any(dimm_matches(d, dimm) for d in bus.dimms()):
        return False
    if (region and region != "all") or (ns and ns != "all"):
        return any(region_matches(r, region) and region_has_namespace(r, ns) for r in bus.regions())
    return True
