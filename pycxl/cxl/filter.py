"""Filters (which objects a ``-m/-s/-b/-p/-e/-d/-r`` token list selects) and the topology
walk that builds ``cxl list`` output.

Token rules follow upstream: a filter string is split on spaces if it has any, else on
commas; tokens are OR-ed, different options AND-ed; numbers are read like ``sscanf("%d")``.
The walk reproduces upstream's asymmetries (which checks skip a whole subtree and which only
skip one object), since they decide what a given command line prints.
"""

from __future__ import annotations

from pycxl.cxl import json as cj
from pycxl.util.cparse import scan_int, scan_int_pair, strtoull

# typing (and dataclasses) would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pycxl.cxl.lib.ctx import Ctx
    from pycxl.cxl.lib.decoder import Decoder, Target
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.port import Bus, Dport, Port
    from pycxl.cxl.lib.region import Region

SINGLE = "single"
ANCESTRY = "ancestry"


def tokens(ident: str) -> list[str]:
    """strtok() over the one separator the string uses: space if any, else comma."""
    sep = " " if " " in ident else ("," if "," in ident else " ")
    return [t for t in ident.split(sep) if t]


class MemdevFilter:
    """The memdev filters of a command line: ``-m`` names and ``-s`` serials (None: not
    given)."""

    __slots__ = ("_matching", "active", "ident", "serials")

    def __init__(self, ident: str | None = None, serials: str | None = None) -> None:
        self.ident = ident
        self.serials = serials
        #: Some memdev filter is given; without one, every memdev check passes at once.
        self.active = ident is not None or serials is not None
        self._matching: tuple[Ctx, list[Memdev]] | None = None

    def matching(self, ctx: Ctx) -> list[Memdev]:
        """The memdevs of ``ctx`` this filter selects, found once: the walk asks for every
        port and endpoint, which would otherwise make it quadratic in the memdevs."""
        found = self._matching
        if found is None or found[0] is not ctx:
            found = (ctx, [m for m in ctx.memdevs() if memdev_matches(m, self)])
            self._matching = found
        return found[1]


#: Parsed ``-m`` and ``-s`` token lists, by their text (a command parses a handful).
_IDENTS: dict[str, tuple[bool, frozenset[int], frozenset[str]]] = {}
_SERIALS: dict[str, frozenset[int]] = {}


def _ident_terms(ident: str) -> tuple[bool, frozenset[int], frozenset[str]]:
    """(``all`` given, memdev numbers, names) of a ``-m`` list: a token matches by number
    (``5`` or ``mem5``), by device name or by host name."""
    terms = _IDENTS.get(ident)
    if terms is None:
        ids: set[int] = set()
        names: set[str] = set()
        everything = False
        for name in tokens(ident):
            if name == "all":
                everything = True
            num = scan_int(name)
            if num is None:
                num = scan_int(name, "mem")
            if num is not None:
                ids.add(num)
            names.add(name)
        terms = _IDENTS[ident] = (everything, frozenset(ids), frozenset(names))
    return terms


def _memdev_ident(memdev: Memdev, ident: str) -> bool:
    everything, ids, names = _ident_terms(ident)
    return everything or memdev.id in ids or memdev.devname in names or memdev.host in names


def _memdev_serial(memdev: Memdev, serials: str) -> bool:
    values = _SERIALS.get(serials)
    if values is None:
        found = set()
        for name in tokens(serials):
            value, end = strtoull(name)
            if end == len(name):
                found.add(value)
        values = _SERIALS[serials] = frozenset(found)
    return memdev.serial in values


def memdev_matches(memdev: Memdev, f: MemdevFilter) -> bool:
    if f.ident is not None and not _memdev_ident(memdev, f.ident):
        return False
    return f.serials is None or _memdev_serial(memdev, f.serials)


def bus_matches(bus: Bus, ident: str | None) -> bool:
    if ident is None:
        return True
    for name in tokens(ident):
        if name == "all":
            return True
        num = scan_int(name)
        if num is None:
            num = scan_int(name, "root")
        if num is not None and num == bus.id:
            return True
        if name in (bus.devname, bus.provider):
            return True
    return False


def _names_all_or_kind(name: str, port: Port) -> bool:
    """``all``, or the kind of ``port``: ``root``, ``switch``, ``endpoint``."""
    if name == "all":
        return True
    if name == "root":
        return port.is_root()
    if name == "switch":
        return port.is_switch()
    return name == "endpoint" and port.is_endpoint()


def _port_token_match(port: Port, ident: str) -> bool:
    for name in tokens(ident):
        if _names_all_or_kind(name, port):
            return True
        num = scan_int(name)
        if num is None:
            num = scan_int(name, "port")
        if num is not None and num == port.id:
            return True
        if name in (port.devname, port.host):
            return True
    return False


def port_matches(port: Port, ident: str | None, mode: str) -> bool:
    """Single mode tests the port; ancestry mode also accepts it when an ancestor matches."""
    if ident is None:
        return True
    if _port_token_match(port, ident):
        return True
    if mode == SINGLE:
        return False
    it: Port | None = port
    while it is not None and not it.is_root():
        it = it.parent
        if it is not None and _port_token_match(it, ident):
            return True
    return False


def endpoint_matches(ep: Port, ident: str | None) -> bool:
    return _named_or_numbered(ident, "endpoint", ep.id, (ep.devname, ep.host))


def decoder_matches(decoder: Decoder, ident: str | None) -> bool:
    if ident is None:
        return True
    port = decoder.port
    for name in tokens(ident):
        if _names_all_or_kind(name, port):
            return True
        pair = scan_int_pair(name)
        if pair is None:
            pair = scan_int_pair(name, "decoder")
        if pair is not None and pair == (port.id, decoder.id):
            return True
        if name == decoder.devname:
            return True
    return False


def region_matches(region: Region, ident: str | None) -> bool:
    return _named_or_numbered(ident, "region", region.id, (region.devname,))


def _named_or_numbered(
    ident: str | None, prefix: str, obj_id: int, names: tuple[str | None, ...]
) -> bool:
    """A filter of whitespace- or comma-separated tokens: "all", the object's number
    (bare or after ``prefix``), or one of its names. No filter matches everything."""
    if ident is None:
        return True
    for name in tokens(ident):
        if name == "all":
            return True
        num = scan_int(name)
        if num is None:
            num = scan_int(name, prefix)
        if num is not None and num == obj_id:
            return True
        if name in names:
            return True
    return False


# -- cross-object filters -------------------------------------------------------------------


def dport_matches_memdev(dport: Dport, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    return any(memdev_matches(m, f) and dport.maps_memdev(m) for m in dport.port.ctx.memdevs())


def target_matches_memdev(target: Target, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    return any(memdev_matches(m, f) and target.maps_memdev(m) for m in target.decoder.ctx.memdevs())


def port_by_bus(port: Port, ident: str | None) -> bool:
    if ident is None:
        return True
    bus = port.bus()
    return bus is not None and bus_matches(bus, ident)


def port_by_memdev(port: Port, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    return any(port.hosts_memdev(m) for m in f.matching(port.ctx))


def bus_by_memdev(bus: Bus, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    return any(m.bus() is bus for m in f.matching(bus.ctx))


def endpoint_by_port(ep: Port, ident: str | None, mode: str) -> bool:
    """The endpoint's own port (single mode), else its parent in the walk's mode."""
    if ident is None:
        return True
    if port_matches(ep, ident, SINGLE):
        return True
    return ep.parent is not None and port_matches(ep.parent, ident, mode)


def endpoint_by_memdev(ep: Port, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    return any(m.endpoint() is ep for m in f.matching(ep.ctx))


def memdev_by_decoder(memdev: Memdev, ident: str | None, ctx: Ctx) -> bool:
    """Some root or switch decoder matching ``ident`` has a target leading to the memdev
    (endpoint decoders have no targets, so naming one selects no memdev)."""
    if ident is None:
        return True
    for bus in ctx.buses():
        for decoder in bus.decoders():
            if decoder_matches(decoder, ident) and decoder.target_by_memdev(memdev):
                return True
        for port in bus.descendants():
            for decoder in port.decoders():
                if decoder_matches(decoder, ident) and decoder.target_by_memdev(memdev):
                    return True
    return False


def memdev_by_port(memdev: Memdev, bus_ident: str | None, port_ident: str | None, ctx: Ctx) -> bool:
    if bus_ident is None and port_ident is None:
        return True
    for bus in ctx.buses():
        if bus_matches(bus, bus_ident) and bus.dport_by_memdev(memdev):
            return True
        if port_matches(bus, port_ident, SINGLE) and bus.dport_by_memdev(memdev):
            return True
        for port in bus.descendants():
            if port_matches(port, port_ident, SINGLE) and port.dport_by_memdev(memdev):
                return True
    return False


def decoder_by_memdev(decoder: Decoder, f: MemdevFilter) -> bool:
    if not f.active:
        return True
    for memdev in decoder.ctx.memdevs():
        if not memdev_matches(memdev, f):
            continue
        if decoder.target_by_memdev(memdev):
            return True
        port = decoder.port
        if port.is_endpoint() and port.memdev() is memdev:
            return True
    return False


def decoder_by_region(decoder: Decoder, ident: str | None) -> bool:
    if ident is None:
        return True
    if decoder.port.is_root():
        return any(region_matches(r, ident) for r in decoder.regions())
    region = decoder.region()
    return region is not None and region_matches(region, ident)


# -- the walk -------------------------------------------------------------------------------


class ListParams:
    """What ``cxl list`` shows: filter strings (None: no filter), the object kinds listed,
    ``single`` and ``idle``, and the JSON flags."""

    def __init__(
        self,
        *,
        memdev: str | None = None,
        serial: str | None = None,
        bus: str | None = None,
        port: str | None = None,
        endpoint: str | None = None,
        decoder: str | None = None,
        region: str | None = None,
        single: bool = False,
        memdevs: bool = False,
        buses: bool = False,
        ports: bool = False,
        endpoints: bool = False,
        decoders: bool = False,
        regions: bool = False,
        idle: bool = False,
        flags: cj.Flags | None = None,
    ) -> None:
        self.memdev = memdev
        self.serial = serial
        self.bus = bus
        self.port = port
        self.endpoint = endpoint
        self.decoder = decoder
        self.region = region
        self.single = single
        self.memdevs = memdevs
        self.buses = buses
        self.ports = ports
        self.endpoints = endpoints
        self.decoders = decoders
        self.regions = regions
        self.idle = idle
        self.flags = flags if flags is not None else cj.Flags()

    @property
    def mode(self) -> str:
        return SINGLE if self.single else ANCESTRY

    @property
    def memdev_filter(self) -> MemdevFilter:
        return MemdevFilter(self.memdev, self.serial)


if TYPE_CHECKING:
    Arr = list[Any]

#: Top-level containers, in output order.
CONTAINERS = (
    "anon memdevs",
    "buses",
    "ports",
    "endpoints",
    "memdevs",
    "root decoders",
    "port decoders",
    "endpoint decoders",
    "regions",
)


def _pick(child: Arr | None, inherited: Arr) -> Arr:
    return child if child is not None else inherited


def _attach(obj: dict[str, Any] | None, kind: str, name: str, arr: Arr | None) -> None:
    if obj is not None and arr:
        obj[f"{kind}:{name}"] = arr


class Walk:
    def __init__(self, ctx: Ctx, p: ListParams, dbg: Callable[[str, str], None]) -> None:
        self.ctx = ctx
        self.p = p
        self.mf = p.memdev_filter
        self.mode = p.mode
        self.flags = p.flags
        self.dbg = dbg
        self.top: dict[str, Arr] = {name: [] for name in CONTAINERS}
        mf = self.mf
        # Which dports and decoder targets -T lists: those leading to a filtered memdev.
        self.dport_keep: Callable[[Dport], bool] | None = None
        self.target_keep: Callable[[Target], bool] | None = None
        if mf.active:
            self.dport_keep = lambda d: dport_matches_memdev(d, mf)
            self.target_keep = lambda t: target_matches_memdev(t, mf)

    def run(self) -> Arr:
        p, top = self.p, self.top
        self.dbg("cxl_filter_walk", "walk memdevs\n")
        for memdev in self.ctx.memdevs():
            if not memdev_matches(memdev, self.mf):
                continue
            if memdev.is_enabled() or not p.idle:
                continue
            if p.memdevs:
                top["anon memdevs"].append(cj.memdev_json(memdev, self.flags))
        self.dbg("cxl_filter_walk", "walk buses\n")
        for bus in self.ctx.buses():
            self._bus(bus)
        filled = [(name, arr) for name, arr in top.items() if arr]
        if len(filled) > 1:
            return [{name: arr} for name, arr in filled]
        return filled[0][1] if filled else []

    def _bus(self, bus: Bus) -> None:
        p, top = self.p, self.top
        jbus: dict[str, Any] | None = None
        cports: Arr | None = None
        ceps: Arr | None = None
        cdevs: Arr | None = None
        cdecs: Arr | None = None
        cregions: Arr | None = None
        if not bus_by_memdev(bus, self.mf):
            return
        if bus_matches(bus, p.bus) and port_matches(bus, p.port, self.mode) and p.buses:
            jbus = cj.bus_json(bus, self.flags)
            cj.dports_append(jbus, bus, self.flags, self.dport_keep)
            top["buses"].append(jbus)
            cports = [] if p.ports else None
            ceps = [] if p.endpoints else None
            cdevs = [] if p.memdevs else None
            cdecs = [] if p.decoders else None
            cregions = [] if p.regions else None
        self.dbg("cxl_filter_walk", "walk decoders\n")
        self._decoders(bus, _pick(cdecs, top["root decoders"]), _pick(cregions, top["regions"]))
        self.dbg("cxl_filter_walk", "walk rch endpoints\n")
        if p.endpoints or p.memdevs or p.decoders:
            self._endpoints(
                bus,
                _pick(ceps, top["endpoints"]),
                _pick(cdevs, top["memdevs"]),
                _pick(cdecs, top["endpoint decoders"]),
            )
        self.dbg("cxl_filter_walk", "walk ports\n")
        self._child_ports(
            bus,
            _pick(cports, top["ports"]),
            _pick(cdecs, top["port decoders"]),
            _pick(ceps, top["endpoints"]),
            _pick(cdecs, top["endpoint decoders"]),
            _pick(cdevs, top["memdevs"]),
        )
        name = bus.devname
        _attach(jbus, "ports", name, cports)
        _attach(jbus, "endpoints", name, ceps)
        _attach(jbus, "decoders", name, cdecs)
        _attach(jbus, "regions", name, cregions)
        _attach(jbus, "memdevs", name, cdevs)

    def _child_ports(
        self, parent: Port, jports: Arr, jportdecs: Arr, jeps: Arr, jepdecs: Arr, jdevs: Arr
    ) -> None:
        p = self.p
        for port in parent.child_ports():
            jport: dict[str, Any] | None = None
            cports: Arr | None = None
            cdevs: Arr | None = None
            ceps: Arr | None = None
            cdecs: Arr | None = None
            if not port_by_memdev(port, self.mf):
                continue
            if port_matches(port, p.port, self.mode) and port_by_bus(port, p.bus):
                if not p.idle and not port.is_enabled():
                    continue
                if p.ports:
                    jport = cj.port_json(port, self.flags)
                    cj.dports_append(jport, port, self.flags, self.dport_keep)
                    jports.append(jport)
                    cports = []
                    cdevs = [] if p.memdevs else None
                    ceps = [] if p.endpoints else None
                    cdecs = [] if p.decoders else None
            if p.endpoints or p.memdevs or p.decoders:
                self._endpoints(port, _pick(ceps, jeps), _pick(cdevs, jdevs), _pick(cdecs, jepdecs))
            self._decoders(port, _pick(cdecs, jportdecs), None)
            self._child_ports(
                port,
                _pick(cports, jports),
                _pick(cdecs, jportdecs),
                _pick(ceps, jeps),
                _pick(cdecs, jepdecs),
                _pick(cdevs, jdevs),
            )
            name = port.devname
            _attach(jport, "ports", name, cports)
            _attach(jport, "endpoints", name, ceps)
            _attach(jport, "decoders", name, cdecs)
            _attach(jport, "memdevs", name, cdevs)

    def _endpoints(self, port: Port, jeps: Arr, jdevs: Arr, jdecs: Arr) -> None:
        p = self.p
        for ep in port.endpoints():
            jep: dict[str, Any] | None = None
            if not endpoint_matches(ep, p.endpoint):
                continue
            if not port_by_bus(ep, p.bus):
                continue
            if not endpoint_by_port(ep, p.port, self.mode):
                continue
            if not endpoint_by_memdev(ep, self.mf):
                continue
            if not p.idle and not ep.is_enabled():
                continue
            if p.endpoints:
                jep = cj.port_json(ep, self.flags)
                jeps.append(jep)
            if p.memdevs:
                memdev = ep.memdev()
                if memdev is None:
                    continue
                if not memdev_matches(memdev, self.mf):
                    continue
                if not memdev_by_decoder(memdev, p.decoder, self.ctx):
                    continue
                if not memdev_by_port(memdev, p.bus, p.port, self.ctx):
                    continue
                if not p.idle and not memdev.is_enabled():
                    continue
                jmem = cj.memdev_json(memdev, self.flags)
                if jep is not None:
                    jep["memdev"] = jmem
                else:
                    jdevs.append(jmem)
            if p.decoders:
                cdecs: Arr | None = [] if p.endpoints else None
                self._decoders(ep, _pick(cdecs, jdecs), None)
                _attach(jep, "decoders", ep.devname, cdecs)

    def _decoders(self, port: Port, jdecs: Arr, jregions: Arr | None) -> None:
        p = self.p
        for decoder in port.decoders():
            jdec: dict[str, Any] | None = None
            cregions: Arr | None = None
            if (
                p.decoders
                and decoder_matches(decoder, p.decoder)
                and port_by_bus(port, p.bus)
                and port_matches(port, p.port, self.mode)
                and decoder_by_memdev(decoder, self.mf)
                and decoder_by_region(decoder, p.region)
            ):
                if not p.idle and decoder.size == 0:
                    continue
                jdec = cj.decoder_json(decoder, self.flags)
                cj.targets_append(jdec, decoder, self.flags, self.target_keep)
                if p.regions:
                    cregions = []
                jdecs.append(jdec)
            if not p.regions or not port.is_root():
                continue
            assert jregions is not None
            self._regions(decoder, _pick(cregions, jregions))
            _attach(jdec, "regions", decoder.devname, cregions)

    def _regions(self, decoder: Decoder, jregions: Arr) -> None:
        p = self.p
        for region in decoder.regions():
            if not region_matches(region, p.region):
                continue
            bus = region.bus()
            if p.bus is not None and (bus is None or not bus_matches(bus, p.bus)):
                continue
            if not port_matches(decoder.port, p.port, ANCESTRY):
                continue
            if not decoder_matches(decoder, p.decoder):
                continue
            if not p.idle and not region.is_enabled():
                continue
            jregions.append(cj.region_json(region, self.flags))
