"""``cxl list``: enumerate the CXL topology as JSON."""

from __future__ import annotations

import gc
import sys

from pycxl.cxl.filter import ListParams, Walk
from pycxl.cxl.json import Flags
from pycxl.cxl.lib.ctx import Ctx
from pycxl.util.json_display import display_json_array
from pycxl.util.log import LOG_DEBUG, Log, error
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.sysfs.base import Sysfs

USAGE = ["cxl list [<options>]"]

OPTIONS = [
    Opt(
        "m", "memdev", "string", "filter by CXL memory device name(s)", argh="memory device name(s)"
    ),
    Opt(
        "s",
        "serial",
        "string",
        "filter by CXL memory device serial number(s)",
        argh="memory device serial(s)",
    ),
    Opt("M", "memdevs", "bool", "include CXL memory device info"),
    Opt("b", "bus", "string", "filter by CXL bus device name(s)", argh="bus device name"),
    Opt("B", "buses", "bool", "include CXL bus info"),
    Opt("p", "port", "string", "filter by CXL port device name(s)", argh="port device name"),
    Opt("P", "ports", "bool", "include CXL port info"),
    Opt("S", "single", "bool", "skip listing descendant objects"),
    Opt(
        "e",
        "endpoint",
        "string",
        "filter by CXL endpoint device name(s)",
        argh="endpoint device name",
    ),
    Opt("E", "endpoints", "bool", "include CXL endpoint info"),
    Opt(
        "d",
        "decoder",
        "string",
        "filter by CXL decoder device name(s) / class",
        argh="decoder device name",
    ),
    Opt("D", "decoders", "bool", "include CXL decoder info"),
    Opt("T", "targets", "bool", "include CXL target data with decoders, ports, or regions"),
    Opt("r", "region", "string", "filter by CXL region name(s)", argh="region name"),
    Opt("R", "regions", "bool", "include CXL regions"),
    Opt("X", "dax", "bool", "include CXL DAX region enumeration"),
    Opt("i", "idle", "bool", "include disabled devices"),
    Opt("u", "human", "bool", "use human friendly number formats"),
    Opt("H", "health", "bool", "include memory device health information"),
    Opt("I", "partition", "bool", "include memory device partition information"),
    Opt("F", "firmware", "bool", "include memory device firmware information"),
    Opt("A", "alert-config", "bool", "include alert configuration information"),
    Opt("L", "media-errors", "bool", "include media-error information "),
    Opt("v", "verbose", "counter", "increase output detail"),
    Opt(None, "debug", "bool", "debug list walk"),
]

_LISTINGS = ("memdevs", "buses", "ports", "endpoints", "decoders", "regions")


def _usage_error(message: str) -> int:
    error(message)
    sys.stderr.write(usage_text(USAGE, OPTIONS))
    return EXIT_USAGE


def params_from(values: dict[str, Any]) -> ListParams:
    """Turn parsed options into what the walk needs, with upstream's implied listings."""
    p = ListParams(
        memdev=values["memdev"],
        serial=values["serial"],
        bus=values["bus"],
        port=values["port"],
        endpoint=values["endpoint"],
        decoder=values["decoder"],
        region=values["region"],
        single=values["single"],
        idle=values["idle"],
    )
    for name in _LISTINGS:
        setattr(p, name, values[name])
    flags = Flags(
        human=values["human"],
        targets=values["targets"],
        health=values["health"],
        partition=values["partition"],
        alert_config=values["alert_config"],
        firmware=values["firmware"],
        dax=values["dax"],
        media_errors=values["media_errors"],
    )
    if not any(getattr(p, name) for name in _LISTINGS):
        # Filters imply their listing, and a filter-only listing shows just the named objects.
        p.memdevs = p.memdev is not None or p.serial is not None
        p.buses = p.bus is not None
        p.ports = p.port is not None
        p.endpoints = p.endpoint is not None
        p.decoders = p.decoder is not None
        p.regions = p.region is not None
        p.single = True
    if not any(getattr(p, name) for name in _LISTINGS):
        p.regions = p.memdevs = True
    verbose: int = values["verbose"]
    if verbose >= 3:
        flags.health = flags.partition = flags.alert_config = True
        flags.firmware = flags.dax = flags.media_errors = True
    if verbose >= 2:
        p.idle = True
    if verbose >= 1:
        p.buses = p.ports = p.endpoints = p.decoders = p.regions = True
        flags.targets = True
    if p.ports and p.port is not None:
        if "root" in p.port:
            p.buses = True
        if "endpoint" in p.port:
            p.endpoints = True
    flags.idle = p.idle
    p.flags = flags
    return p


def cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    try:
        values, args = parse_options(argv, OPTIONS, USAGE)
    except UsageExit as e:
        return e.emit()
    if args:
        for arg in args:
            error(f'unknown parameter "{arg}"\n')
        sys.stderr.write(usage_text(USAGE, OPTIONS))
        return EXIT_USAGE
    if values["single"] and values["port"] is None:
        return _usage_error("-S/--single expects a port filter: -p/--port=\n")
    params = params_from(values)
    log = Log("cxl list", "CXL_LIST_LOG")
    ctx = Ctx(sysfs)
    if values["debug"]:
        log.priority = LOG_DEBUG
        ctx.log.priority = LOG_DEBUG
    if params.flags.media_errors:
        from pycxl.cxl.lib.poison import prepare

        prepare(sysfs)  # before the walk: it may change the kernel's state
    log.dbg("cmd_list", "walk topology\n")
    # Nearly everything the walk allocates (objects, JSON) lives until the listing is
    # printed, so the cyclic collector would only scan it over and over on a large
    # topology: it waits until the listing is out.
    collecting = gc.isenabled()
    gc.disable()
    try:
        result = Walk(ctx, params, log.dbg).run()
        display_json_array(result, params.flags.human)
    finally:
        if collecting:
            gc.enable()
    return 0
