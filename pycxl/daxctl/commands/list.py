"""``daxctl list``: DAX regions and devices as JSON."""

from __future__ import annotations

import sys

from pycxl.daxctl.json import devices_json, region_json
from pycxl.daxctl.lib import DaxCtx
from pycxl.util.json_display import display_json_array
from pycxl.util.log import error
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.daxctl.lib import DaxRegion
    from pycxl.sysfs.base import Sysfs

USAGE = ["daxctl list [<options>]"]

OPTIONS = [
    Opt("r", "region", "string", "filter by region", argh="region-id"),
    Opt("d", "dev", "string", "filter by dax device instance name", argh="dev-id"),
    Opt("D", "devices", "bool", "include dax device info"),
    Opt("R", "regions", "bool", "include dax region info"),
    Opt("M", "mappings", "bool", "include dax mappings info"),
    Opt("i", "idle", "bool", "include idle devices"),
    # The trailing space is upstream's.
    Opt("u", "human", "bool", "use human friendly number formats "),
]


def region_matches(region: DaxRegion, ident: str | None) -> bool:
    """util_daxctl_region_filter: ``all``, ``N`` or ``regionN``."""
    from pycxl.util.cparse import scan_int

    if ident is None or ident == "all":
        return True
    wanted = scan_int(ident)
    if wanted is None:
        wanted = scan_int(ident, "region")
    return wanted is not None and wanted == region.id


def cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    try:
        parsed, args = parse_options(argv, OPTIONS, USAGE)
    except UsageExit as e:
        return e.emit()
    values: dict[str, Any] = parsed
    if args:
        for arg in args:
            error(f'unknown parameter "{arg}"\n')
        sys.stderr.write(usage_text(USAGE, OPTIONS))
        return EXIT_USAGE
    regions, devs = values["regions"], values["devices"]
    if not regions and not devs:
        regions = values["region"] is not None
        devs = values["dev"] is not None
    if not regions and not devs:
        devs = True
    human, idle, mappings = values["human"], values["idle"], values["mappings"]
    ident = values["dev"]
    ctx = DaxCtx(sysfs)
    jregions: list[Any] | None = None
    jdevs: list[Any] | None = None
    failed = False
    for region in ctx.regions():
        if not region_matches(region, values["region"]):
            continue
        if regions:
            if jregions is None:
                jregions = []
            if not region.path.startswith("/sys/devices"):
                sys.stderr.write("daxctl-81:cmd_list:132: \n")
                failed = True
                continue
            jregions.append(region_json(region, human, idle, True, devs, ident, mappings))
        elif devs:
            found = devices_json(region, ident, human, idle, mappings)
            if found:
                jdevs = (jdevs or []) + found
    if jregions is not None:
        display_json_array(jregions, human)
    elif jdevs is not None:
        display_json_array(jdevs, human)
    return -12 if failed else 0
