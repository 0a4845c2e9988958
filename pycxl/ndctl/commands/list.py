"""``ndctl list``: the nd buses, DIMMs, regions and namespaces as JSON (ndctl-daxctl.md 3)."""

from __future__ import annotations

import os
import sys

from pycxl.ndctl.filter import (
    bus_has_match,
    bus_matches,
    dimm_in_region,
    dimm_matches,
    namespace_matches,
    region_has_dimm,
    region_has_namespace,
    region_matches,
)
from pycxl.ndctl.json import Flags, bus_json, dimm_json, mapping_json, namespace_json, region_json
from pycxl.ndctl.lib import Ctx
from pycxl.util import jsonc
from pycxl.util.cparse import ULLONG_MAX, strtoll
from pycxl.util.log import LOG_DEBUG, Log, error, warning
from pycxl.util.parse_options import Opt, UsageExit, parse_options

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.ndctl.lib import Namespace, Region
    from pycxl.sysfs.base import Sysfs

USAGE = ["ndctl list [<options>]"]

OPTIONS = [
    Opt("b", "bus", "string", "filter by bus", argh="bus-id"),
    Opt("r", "region", "string", "filter by region", argh="region-id"),
    Opt("d", "dimm", "string", "filter by dimm", argh="dimm-id"),
    Opt("n", "namespace", "string", "filter by namespace id", argh="namespace-id"),
    Opt("m", "mode", "string", "filter by namespace mode", argh="namespace-mode"),
    Opt("t", "type", "string", "filter by region-type", argh="region-type"),
    Opt("U", "numa-node", "string", "filter by numa node", argh="numa node"),
    Opt("B", "buses", "bool", "include bus info"),
    Opt("D", "dimms", "bool", "include dimm info"),
    Opt("F", "firmware", "bool", "include firmware info"),
    Opt("H", "health", "bool", "include dimm health"),
    Opt("R", "regions", "bool", "include region info"),
    Opt("N", "namespaces", "bool", "include namespace info (default)"),
    Opt("X", "device-dax", "bool", "include device-dax info"),
    Opt("C", "capabilities", "bool", "include region capability info"),
    Opt("i", "idle", "bool", "include idle devices"),
    Opt("c", "configured", "bool", "include configured namespaces, disabled or not"),
    Opt("M", "media-errors", "bool", "include media errors"),
    Opt("u", "human", "bool", "use human friendly number formats "),
    Opt("v", "verbose", "counter", "increase output detail"),
]

_MODES = {
    "raw": "raw",
    "fsdax": "fsdax",
    "memory": "fsdax",
    "sector": "sector",
    "safe": "sector",
    "devdax": "devdax",
    "dax": "devdax",
}


def mode_from_ident(ident: str) -> str | None:
    return _MODES.get(ident.lower())


class _Walk:
    def __init__(self, opts: dict[str, Any], flags: Flags) -> None:
        self.opts = opts
        self.flags = flags
        self.jbuses: list[Any] | None = None
        self.jbus: dict[str, Any] | None = None
        self.jdimms: list[Any] | None = None
        self.jregions: list[Any] | None = None
        self.jregion: dict[str, Any] | None = None
        self.jnamespaces: list[Any] | None = None

    def region_mappings(self, region: Region) -> list[dict[str, Any]] | None:
        if not self.opts["dimms"]:
            return None
        found = []
        for dimm, offset, length, position in region.mappings():
            if dimm is None:
                continue
            if not (self.flags.idle or self.flags.configured) and not dimm.is_enabled():
                continue
            if not dimm_matches(dimm, self.opts["dimm"]):
                continue
            found.append(mapping_json(dimm.devname, offset, length, position, self.flags.human))
        return found or None

    def add_namespace(self, ns: Namespace) -> None:
        flags = self.flags
        wanted = flags.idle or ns.is_active()
        if not wanted and not (flags.configured and 0 < ns.size < ULLONG_MAX):
            return
        obj = namespace_json(ns, flags)
        if obj is None:
            return
        if self.jnamespaces is None:
            self.jnamespaces = []
            if self.jregion is not None:
                self.jregion["namespaces"] = self.jnamespaces
            elif self.jbus is not None:
                self.jbus["namespaces"] = self.jnamespaces
        self.jnamespaces.append(obj)


def cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    try:
        parsed, args = parse_options(argv, OPTIONS, USAGE)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(parsed)
    if args:
        from pycxl.util.parse_options import usage_text

        for arg in args:
            error(f'unknown parameter "{arg}"\n')
        sys.stderr.write(usage_text(USAGE, OPTIONS))
        return 129
    mode_filter = None
    if opts["mode"] is not None:
        mode_filter = mode_from_ident(opts["mode"])
        if mode_filter is None:
            error(f"invalid mode: '{opts['mode']}'\n")
            return 234
    type_filter = opts["type"]
    if type_filter is not None and type_filter not in ("pmem", "blk"):
        error(f'unknown type "{type_filter}" must be "pmem" or "blk"\n')
        return 234
    numa_filter: int | None = None
    if opts["numa_node"] is not None:
        if not sysfs.exists("/sys/devices/system/node"):
            error("This system does not support NUMA\n")
            return 234
        value, end = strtoll(opts["numa_node"], 0)
        if end != len(opts["numa_node"]) or not opts["numa_node"]:
            error(f"invalid numa_node: '{opts['numa_node']}'\n")
            return 234
        numa_filter = value

    if not any(opts[k] for k in ("buses", "dimms", "regions", "namespaces")):
        if opts["bus"] is not None:
            opts["buses"] = True
        if opts["region"] is not None:
            opts["regions"] = True
        if opts["dimm"] is not None:
            opts["dimms"] = True
    if (
        opts["device_dax"]
        and opts["mode"] is None
        and not any(opts[k] for k in ("buses", "dimms", "regions", "namespaces"))
    ):
        mode_filter = "devdax"
    verbose = opts["verbose"]
    lint = "NDCTL_LIST_LINT" in os.environ
    if verbose >= 3:
        opts["idle"] = opts["firmware"] = opts["health"] = opts["capabilities"] = True
    objects = any(opts[k] for k in ("buses", "dimms", "regions", "namespaces"))
    if verbose >= 2 and (not lint or not objects):
        if lint:
            opts["namespaces"] = True
        opts["dimms"] = opts["buses"] = opts["regions"] = True
    if verbose >= 1:
        opts["media_errors"] = True
        opts["device_dax"] = True
        if not lint:
            opts["namespaces"] = True
    if not any(opts[k] for k in ("buses", "dimms", "regions", "namespaces")):
        opts["namespaces"] = True

    flags = Flags()
    flags.idle = opts["idle"]
    flags.configured = opts["configured"]
    flags.media_errors = opts["media_errors"]
    flags.dax = opts["device_dax"]
    flags.human = opts["human"]
    flags.verbose = verbose > 0
    flags.capabilities = opts["capabilities"]
    flags.firmware = opts["firmware"]

    log = Log("libndctl", "NDCTL_LOG")
    if verbose:
        log.priority = LOG_DEBUG
    ctx = Ctx(sysfs, log)
    walk = _Walk(opts, flags)
    bus_id, region_id, dimm_id, ns_id = opts["bus"], opts["region"], opts["dimm"], opts["namespace"]
    for bus in ctx.buses():
        if not bus_matches(bus, bus_id) or not bus_has_match(bus, dimm_id, region_id, ns_id):
            continue
        if opts["buses"]:
            if walk.jbuses is None:
                walk.jbuses = []
            walk.jbus = bus_json(bus)
            walk.jbuses.append(walk.jbus)
            walk.jdimms = walk.jregions = walk.jnamespaces = None
            walk.jregion = None
        for dimm in bus.dimms():
            if not opts["dimms"]:
                break
            if not dimm_matches(dimm, dimm_id) or not dimm_in_region(dimm, region_id, ns_id):
                continue
            if numa_filter is not None:
                continue  # a CXL DIMM carries no NUMA node
            if not (flags.idle or flags.configured) and not dimm.is_enabled():
                continue
            if walk.jdimms is None:
                walk.jdimms = []
                if walk.jbus is not None:
                    walk.jbus["dimms"] = walk.jdimms
            walk.jdimms.append(dimm_json(dimm, flags))
        for region in bus.regions():
            if not region_matches(region, region_id) or not region_has_dimm(region, dimm_id):
                continue
            if not region_has_namespace(region, ns_id):
                continue
            if numa_filter is not None:
                if not region.has_numa:
                    if not opts["namespaces"]:
                        error("This kernel does not provide NUMA node information per-region\n")
                        continue
                elif region.numa_node != numa_filter:
                    continue
            if type_filter is not None and region.type_name != type_filter:
                continue
            if opts["regions"]:
                if not (flags.idle or flags.configured) and not region.is_enabled():
                    continue
                if walk.jregions is None:
                    walk.jregions = []
                    if walk.jbus is not None:
                        walk.jbus["regions"] = walk.jregions
                walk.jregion = region_json(region, flags, walk.region_mappings(region))
                walk.jregions.append(walk.jregion)
                walk.jnamespaces = None
            if not opts["namespaces"]:
                continue
            for ns in region.namespaces():
                if not namespace_matches(ns, ns_id):
                    continue
                if mode_filter is not None and ns.mode() != mode_filter:
                    continue
                if numa_filter is not None and ns.numa_node != numa_filter:
                    continue
                walk.add_namespace(ns)
    _display(walk, flags.human)
    return 0


def _display(walk: _Walk, human: bool) -> None:
    if walk.jbuses is not None:
        _display_array(walk.jbuses, human)
        return
    present = sum(x is not None for x in (walk.jdimms, walk.jregions, walk.jnamespaces))
    if present > 1:
        platform: dict[str, Any] = {}
        if walk.jdimms is not None:
            platform["dimms"] = walk.jdimms
        if walk.jregions is not None:
            platform["regions"] = walk.jregions
        if walk.jnamespaces is not None and walk.jregions is None:
            platform["namespaces"] = walk.jnamespaces
        sys.stdout.write(jsonc.dumps(platform) + "\n")
        return
    for found in (walk.jdimms, walk.jregions, walk.jnamespaces):
        if found is not None:
            _display_array(found, human)
            return


def _display_array(items: list[Any], human: bool) -> None:
    """util_display_json_array: one element in human mode prints bare."""
    if human and len(items) == 1:
        sys.stdout.write(jsonc.dumps(items[0]) + "\n")
    elif items:
        sys.stdout.write(jsonc.dumps(items) + "\n")
    elif not human:
        warning("no matching devices found")
        sys.stdout.write("[\n]\n")
