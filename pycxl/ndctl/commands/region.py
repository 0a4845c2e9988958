"""``ndctl enable-region`` / ``disable-region`` (ndctl-daxctl.md 6): always exit 0 once
the arguments parse."""

from __future__ import annotations

import sys

from pycxl.ndctl.commands.namespace import _disable_safe
from pycxl.ndctl.filter import bus_matches, region_matches
from pycxl.ndctl.lib import Ctx
from pycxl.util.log import Log, error
from pycxl.util.parse_options import Opt, UsageExit, parse_options, usage_text

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.sysfs.base import Sysfs

OPTIONS = [
    Opt(
        "b",
        "bus",
        "string",
        "<region> must be on a bus with an id/provider of <bus-id>",
        argh="bus-id",
    ),
    Opt("t", "type", "string", "<region> must be of the specified type", argh="region-type"),
]


def cmd_region(action: str, argv: list[str], sysfs: Sysfs) -> int:
    usage = [f"ndctl {action}-region <region> [<options>]"]
    try:
        parsed, args = parse_options(argv, OPTIONS, usage)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(parsed)
    problem = ""
    if opts["type"] is not None and opts["type"] not in ("pmem", "blk"):
        problem = f"unknown region type '{opts['type']}', should be 'pmem' or 'blk'\n"
    elif not args:
        problem = 'specify a specific region id to act on, or "all"\n'
    elif len(args) > 1:
        problem = f'unknown extra parameter "{args[1]}"\n'
    if problem:
        error(problem)
        sys.stderr.write(usage_text(usage, OPTIONS))
        return 129
    ctx = Ctx(sysfs, Log("libndctl", "NDCTL_LOG"))
    count = 0
    for bus in ctx.buses():
        if not bus_matches(bus, opts["bus"]):
            continue
        for region in bus.regions():
            if not region_matches(region, args[0]):
                continue
            if opts["type"] is not None and region.type_name != opts["type"]:
                continue
            if action == "enable":
                if region.enable() == 0:
                    count += 1
                continue
            if any(_disable_safe(ns) < 0 for ns in region.namespaces()):
                continue
            if region.disable() == 0:
                count += 1
    past = "enabled" if action == "enable" else "disabled"
    plural = "s" if count != 1 else ""
    sys.stderr.write(f"{past} {count} region{plural}\n")
    return 0
