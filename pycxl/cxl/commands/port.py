"""``cxl enable-port``, ``disable-port`` and ``disable-bus``.

Thin commands over one dispatcher per object kind, as upstream's ``port_action()``
(cxl/port.c) and ``bus_action()`` (cxl/bus.c): each positional names one port (the first
switch port, or with ``-e`` the first endpoint, matching it) or one bus, and the action
runs on it.
"""

from __future__ import annotations

import errno

from pycxl.cxl.filter import SINGLE, bus_matches, endpoint_matches, port_matches
from pycxl.cxl.lib.ctx import Ctx
from pycxl.util.cparse import scan_int
from pycxl.util.log import LOG_DEBUG, LOG_INFO, LOG_NOTICE, Log
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.cxl.lib.port import Bus, Port
    from pycxl.sysfs.base import Sysfs

_DEBUG = Opt(None, "debug", "bool", "turn on debug")
_FORCE = Opt("f", "force", "bool", "DANGEROUS: override active memdev safety checks")
_ENDPOINT = Opt("e", "endpoint", "bool", "target endpoints instead of switch ports")

DISABLE_PORT_OPTIONS = [_DEBUG, _ENDPOINT, _FORCE]
ENABLE_PORT_OPTIONS = [
    _DEBUG,
    _ENDPOINT,
    Opt("m", "enable-memdevs", "bool", "enable downstream memdev(s)"),
]
DISABLE_BUS_OPTIONS = [_DEBUG, _FORCE]

DISABLE_PORT_USAGE = "cxl disable-port <port0> [<port1>..<portN>] [<options>]"
ENABLE_PORT_USAGE = "cxl enable-port <port0> [<port1>..<portN>] [<options>]"
DISABLE_BUS_USAGE = "cxl disable-bus <bus0> [<bus1>..<busN>] [<options>]"


def _plural(n: int) -> tuple[str, str]:
    return ("s", "are") if n > 1 else ("", "is")


# -- ports ----------------------------------------------------------------------------------


class PortCommand:
    def __init__(self, ctx: Ctx, log: Log, force: bool, endpoint: bool, memdevs: bool) -> None:
        self.ctx = ctx
        self.log = log
        self.force = force
        self.endpoint = endpoint
        self.memdevs = memdevs

    def action_disable(self, port: Port) -> int:
        """Refuse a port that leads to enabled memdevs unless forced, then unbind it."""
        log, name = self.log, port.devname
        if not port.is_enabled():
            log.dbg("action_disable", f"{name} already disabled\n")
            return 0
        active = 0
        if self.endpoint and port.memdev() is not None:
            active += 1
        for memdev in self.ctx.memdevs():
            if port.dport_by_memdev(memdev) is not None and memdev.is_enabled():
                active += 1
        if active and not self.force:
            s, verb = _plural(active)
            log.err(
                "action_disable",
                f"{name} hosts {active} memdev{s} which {verb} part of an active region\n",
            )
            log.err("action_disable", f"See 'cxl list -M -p {name}' to see impacted device{s}\n")
            return -errno.EBUSY
        return port.disable_invalidate()

    def action_enable(self, port: Port) -> int:
        """Bind the port; with ``-m`` also try the memdevs below it (their failures are
        logged by the library and do not count)."""
        rc = port.enable()
        if rc or not self.memdevs:
            return rc
        for memdev in self.ctx.memdevs():
            if port.dport_by_memdev(memdev) is not None:
                memdev.enable()
        return 0

    def find_port(self, ident: str) -> Port | None:
        """The first switch port (depth first below each root) matching ``ident``."""
        for bus in self.ctx.buses():
            for port in bus.descendants():
                if port_matches(port, ident, SINGLE):
                    return port
        return None

    def find_endpoint(self, ident: str) -> Port | None:
        """The first endpoint below a switch port matching ``ident``."""
        for bus in self.ctx.buses():
            for port in bus.descendants():
                for ep in port.endpoints():
                    if endpoint_matches(ep, ident):
                        return ep
        return None


def port_action(argv: list[str], sysfs: Sysfs, enable: bool, log: Log) -> int:
    """``port_action``: the number of ports acted on when any succeeded, else the first
    error (0 when nothing was found). Usage errors raise UsageExit."""
    usage = ENABLE_PORT_USAGE if enable else DISABLE_PORT_USAGE
    options = ENABLE_PORT_OPTIONS if enable else DISABLE_PORT_OPTIONS
    parsed, args = parse_options(argv, options, [usage])
    values: dict[str, Any] = parsed
    if not args:
        raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    if "all" in args:
        args = args[:1]
    ctx = Ctx(sysfs)
    if values["debug"]:
        ctx.log.priority = LOG_DEBUG
        log.priority = LOG_DEBUG
    else:
        log.priority = LOG_INFO
    command = PortCommand(
        ctx,
        log,
        force=values.get("force", False),
        endpoint=values["endpoint"],
        memdevs=values.get("enable_memdevs", False),
    )
    action = command.action_enable if enable else command.action_disable
    count = err = 0
    for arg in args:
        if command.endpoint:
            port = command.find_endpoint(arg)
            if port is None:
                log.log(LOG_NOTICE, "port_action", f"endpoint: {arg} not found\n")
                continue
        else:
            port = command.find_port(arg)
            if port is None:
                log.log(LOG_NOTICE, "port_action", f"port: {arg} not found\n")
                continue
        log.dbg("port_action", f"run action on port: {port.devname}\n")
        rc = action(port)
        if rc == 0:
            count += 1
        elif not err:
            err = rc
    return count if count > 0 else err


def _run_port(argv: list[str], sysfs: Sysfs, enable: bool) -> int:
    log = Log("cxl port", "CXL_PORT_LOG")
    try:
        count = port_action(argv, sysfs, enable, log)
    except UsageExit as e:
        return e.emit()
    func, verb = ("cmd_enable_port", "enabled") if enable else ("cmd_disable_port", "disabled")
    log.info(func, f"{verb} {max(count, 0)} port{'s' if count > 1 else ''}\n")
    return 0 if count >= 0 else 1


def cmd_disable_port(argv: list[str], sysfs: Sysfs) -> int:
    return _run_port(argv, sysfs, enable=False)


def cmd_enable_port(argv: list[str], sysfs: Sysfs) -> int:
    return _run_port(argv, sysfs, enable=True)


# -- buses ----------------------------------------------------------------------------------


def bus_disable(bus: Bus, force: bool, log: Log) -> int:
    """Refuse a bus that holds enabled memdevs unless forced, then unbind the platform
    device behind it."""
    name = bus.devname
    active = sum(1 for memdev in bus.ctx.memdevs() if memdev.bus() is bus)
    if active and not force:
        s, verb = _plural(active)
        log.err(
            "action_disable",
            f"{name} hosts {active} memdev{s} which {verb} part of an active region\n",
        )
        log.err("action_disable", f"See 'cxl list -M -b {name}' to see impacted device{s}\n")
        return -errno.EBUSY
    return bus.disable_invalidate()


def bus_action(argv: list[str], sysfs: Sysfs, log: Log) -> int:
    """``bus_action``: positionals must look like bus ids (``root<n>``, ``<n>``, ``all``)."""
    usage, options = DISABLE_BUS_USAGE, DISABLE_BUS_OPTIONS
    parsed, args = parse_options(argv, options, [usage])
    values: dict[str, Any] = parsed
    if not args:
        raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    err = 0
    for arg in list(args):
        if arg == "all":
            args = ["all"]
            break
        if scan_int(arg, "root") is not None or scan_int(arg) is not None:
            continue
        log.err("bus_action", f"'{arg}' is not a valid bus identifer\n")
        err += 1
    if err == len(args):
        raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    ctx = Ctx(sysfs)
    if values["debug"]:
        ctx.log.priority = LOG_DEBUG
        log.priority = LOG_DEBUG
    else:
        log.priority = LOG_INFO
    count = err = 0
    for arg in args:
        bus = next((b for b in ctx.buses() if bus_matches(b, arg)), None)
        if bus is None:
            log.dbg("bus_action", f"bus: {arg} not found\n")
            continue
        log.dbg("bus_action", f"run action on bus: {bus.devname}\n")
        rc = bus_disable(bus, values["force"], log)
        if rc == 0:
            count += 1
        elif not err:
            err = rc
    return count if count > 0 else err


def cmd_disable_bus(argv: list[str], sysfs: Sysfs) -> int:
    log = Log("cxl bus", "CXL_PORT_LOG")
    try:
        count = bus_action(argv, sysfs, log)
    except UsageExit as e:
        return e.emit()
    log.info("cmd_disable_bus", f"disabled {max(count, 0)} bus{'s' if count > 1 else ''}\n")
    return 0 if count >= 0 else 1
