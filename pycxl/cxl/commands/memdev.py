"""``cxl enable-memdev``, ``disable-memdev``, ``reserve-dpa``, ``free-dpa``.

Thin commands over one dispatcher, ``memdev_action`` (upstream's cxl/memdev.c): validate
the memdev names (or serial numbers), then run the action on every memdev matching each
argument in turn; the DPA commands print the memdevs they changed as a JSON array.
"""

from __future__ import annotations

import errno
import os

from pycxl.cxl.filter import MemdevFilter, bus_matches, decoder_matches, memdev_matches
from pycxl.cxl.lib.ctx import Ctx
from pycxl.cxl.lib.decoder import mode_from_ident
from pycxl.util.cparse import ULLONG_MAX, scan_int, strtoull
from pycxl.util.log import LOG_DEBUG, LOG_INFO, Log, error
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text
from pycxl.util.size import parse_size64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pycxl.cxl.lib.decoder import Decoder
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.sysfs.base import Sysfs

BASE_OPTIONS = [
    Opt("b", "bus", "string", "Limit operation to the specified bus", argh="bus name"),
    Opt("v", "verbose", "bool", "turn on debug"),
    Opt("S", "serial", "bool", "use serial numbers to id memdevs"),
]

DISABLE_OPTIONS = [
    *BASE_OPTIONS,
    Opt("f", "force", "bool", "DANGEROUS: override active memdev safety checks"),
]

ENABLE_OPTIONS = list(BASE_OPTIONS)

_DPA_OPTIONS = [
    Opt(
        "d",
        "decoder",
        "string",
        "override the automatic decoder selection",
        argh="decoder instance id",
    ),
    Opt("t", "type", "string", "'pmem' or 'ram' (volatile) (Default: 'pmem')", argh="type"),
    Opt("f", "force", "bool", "Attempt 'expected to fail' operations"),
]

RESERVE_DPA_OPTIONS = [
    *BASE_OPTIONS,
    Opt("s", "size", "string", "size in bytes (Default: all available capacity)", argh="size"),
    *_DPA_OPTIONS,
]

FREE_DPA_OPTIONS = [*BASE_OPTIONS, *_DPA_OPTIONS]

#: The decoder name a -d value may spell (upstream formats it into a 256-byte buffer).
_DECODER_NAME_MAX = 255


class MemdevCommand:
    """One run of a memdev command: context, the command's log (``cxl memdev``), options,
    and the JSON objects the DPA commands collect."""

    def __init__(self, ctx: Ctx, log: Log, values: dict[str, Any]) -> None:
        self.ctx = ctx
        self.log = log
        self.values = values
        self.force: bool = values.get("force", False)
        self.jdevs: list[dict[str, Any]] | None = None

    def setup(self) -> int:
        """Before any memdev is looked at (upstream opens the label files here): 0, or
        -errno to fail the command without its summary line."""
        return 0

    def summary_fields(self) -> dict[str, str]:
        """Words of the summary line that depend on the options."""
        return {}

    # -- actions -------------------------------------------------------------------------

    def action_enable(self, memdev: Memdev) -> int:
        return memdev.enable()

    def action_disable(self, memdev: Memdev) -> int:
        """Refuse a memdev whose endpoint has committed decoders (part of an active region)
        unless forced, then unbind it."""
        if not memdev.is_enabled():
            return 0
        ep = memdev.endpoint()
        if ep is None:
            return -errno.ENODEV
        if ep.decoders_committed:
            self.log.err("action_disable", f"{memdev.devname} is part of an active region\n")
            if not self.force:
                return -errno.EBUSY
            self.log.err(
                "action_disable", f"Forcing {memdev.devname} disable with an active region!\n"
            )
        return memdev.disable_invalidate()

    def action_reserve_dpa(self, memdev: Memdev) -> int:
        return self.reserve_dpa(memdev, alloc=True)

    def action_free_dpa(self, memdev: Memdev) -> int:
        return self.reserve_dpa(memdev, alloc=False)

    def reserve_dpa(self, memdev: Memdev, alloc: bool) -> int:
        """Allocate (or free) device capacity through one endpoint decoder: the next free
        decoder (or the last allocated, inactive one), or the one ``-d`` names."""
        log, func = self.log, "__reserve_dpa"
        name = memdev.devname
        endpoint = memdev.endpoint()
        type_arg: str | None = self.values["type"]
        if type_arg is not None:
            mode = mode_from_ident(type_arg)
            if mode == "none":
                log.err(func, f"{name}: unsupported type: {type_arg}\n")
                return -errno.EINVAL
        else:
            mode = "ram"
        if endpoint is None:
            log.err(func, f"{name}: CXL operation disabled\n")
            return -errno.ENXIO
        decoders = endpoint.decoders()
        avail = memdev.ram_size if mode == "ram" else memdev.pmem_size
        for decoder in decoders:
            if decoder.dpa_size == ULLONG_MAX or decoder.mode != mode:
                continue
            if decoder.dpa_size > avail:
                log.err(func, f"{name}: capacity accounting error\n")
                return -errno.ENXIO
            avail -= decoder.dpa_size
        size_arg: str | None = self.values.get("size")
        if size_arg is None:
            size = avail if alloc else 0
            if alloc and not avail:
                log.err(func, f"{name}: no available capacity\n")
                return -errno.ENOSPC
        else:
            size = parse_size64(size_arg)
            if size == ULLONG_MAX:
                log.err(func, f"{name}: failed to parse size option '{size_arg}'\n")
                return -errno.EINVAL
            if size > avail:
                log.err(func, f"{name}: '{size_arg}' exceeds available capacity\n")
                if not self.force:
                    return -errno.ENOSPC
        auto_target: Decoder | None = None
        if alloc:
            auto_target = next((d for d in decoders if d.dpa_size == 0), None)
        else:
            for decoder in reversed(decoders):
                if not decoder.dpa_size:
                    continue
                if decoder.size:  # active: every decoder below it is too
                    break
                if decoder.dpa_size < ULLONG_MAX:
                    auto_target = decoder
                    break
        target: Decoder | None = None
        decoder_arg: str | None = self.values["decoder"]
        if decoder_arg is not None:
            value, end = strtoull(decoder_arg)
            if decoder_arg[end:] == "":  # a plain instance number (strtoul to the end)
                signed = value - (1 << 64) if value >= 1 << 63 else value
                ident = f"decoder{endpoint.id}.{signed}"
            else:
                ident = decoder_arg
            if len(ident.encode("utf-8", "surrogateescape")) > _DECODER_NAME_MAX:
                log.err(func, f"{name}: decoder filter '{decoder_arg}' too long\n")
                return -errno.EINVAL
            order = decoders if alloc else list(reversed(decoders))
            target = next((d for d in order if decoder_matches(d, ident)), None)
            if target is None:
                log.err(func, f"{name}: no match for decoder: '{decoder_arg}'\n")
                return -errno.ENXIO
            if target is not auto_target:
                log.err(func, f"{name}: {target.devname} is out of sequence\n")
                if not self.force:
                    return -errno.EINVAL
        if target is None:
            target = auto_target
        if target is None:
            log.err(func, f"{name}: no suitable decoder found\n")
            return -errno.ENXIO
        if target.mode != mode:
            rc = target.set_dpa_size(0)
            if rc:
                log.err(func, f"{name}: {target.devname}: failed to clear allocation to set mode\n")
                return rc
            rc = target.set_mode(mode)
            if rc:
                log.err(func, f"{name}: {target.devname}: failed to set {mode} mode\n")
                return rc
        rc = target.set_dpa_size(size)
        if rc:
            log.err(func, f"{name}: {target.devname}: failed to set dpa allocation\n")
            return rc
        from pycxl.cxl.json import Flags, decoder_json, memdev_json

        flags = Flags(human=os.isatty(1))
        jdev = memdev_json(memdev, flags)
        jdev["decoder"] = decoder_json(target, flags)
        assert self.jdevs is not None
        self.jdevs.append(jdev)
        return 0


#: Per command: usage line, option table, the action, whether it prints JSON, and the
#: summary line's function and text (``{n}`` and ``{s}`` filled in).
_Spec = tuple[str, list[Opt], str, bool, str, str]
COMMANDS: dict[str, _Spec] = {
    "disable-memdev": (
        "cxl disable-memdev <mem0> [<mem1>..<memN>] [<options>]",
        DISABLE_OPTIONS,
        "action_disable",
        False,
        "cmd_disable_memdev",
        "disabled {n} mem{s}",
    ),
    "enable-memdev": (
        "cxl enable-memdev <mem0> [<mem1>..<memN>] [<options>]",
        ENABLE_OPTIONS,
        "action_enable",
        False,
        "cmd_enable_memdev",
        "enabled {n} mem{s}",
    ),
    "reserve-dpa": (
        "cxl reserve-dpa <mem0> [<mem1>..<memn>] [<options>]",
        RESERVE_DPA_OPTIONS,
        "action_reserve_dpa",
        True,
        "cmd_reserve_dpa",
        "reservation completed on {n} mem device{s}",
    ),
    "free-dpa": (
        "cxl free-dpa <mem0> [<mem1>..<memn>] [<options>]",
        FREE_DPA_OPTIONS,
        "action_free_dpa",
        True,
        "cmd_free_dpa",
        "reservation release completed on {n} mem device{s}",
    ),
    "read-labels": (
        "cxl read-labels <mem0> [<mem1>..<memN>] [-o <filename>]",
        [],  # labels.READ_OPTIONS, filled in on first use
        "action_read",
        False,
        "cmd_read_labels",
        "read {n} mem{s}",
    ),
    "write-labels": (
        "cxl write-labels <memdev> [-i <filename>]",
        [],
        "action_write",
        False,
        "cmd_write_labels",
        "wrote {n} mem{s}",
    ),
    "zero-labels": (
        "cxl zero-labels <mem0> [<mem1>..<memN>] [<options>]",
        [],
        "action_zero",
        False,
        "cmd_zero_labels",
        "zeroed {n} mem{s}",
    ),
    "set-partition": (
        "cxl set-partition <mem0> [<mem1>..<memN>] [<options>]",
        [],
        "action_setpartition",
        True,
        "cmd_set_partition",
        "set_partition {n} mem{s}",
    ),
    "set-alert-config": (
        "cxl set-alert-config <mem0> [<mem1>..<memN>] [<options>]",
        [],
        "action_set_alert_config",
        True,
        "cmd_set_alert_config",
        "set alert configuration for {n} mem{s}",
    ),
    "update-firmware": (
        "cxl update-firmware <mem0> [<mem1>..<memn>] [<options>]",
        [],
        "action_update_fw",
        True,
        "cmd_update_fw",
        "firmware update {verb} on {n} mem device{s}",
    ),
    "wait-sanitize": (
        "cxl wait-sanitize <mem0> [<mem1>..<memn>] [<options>]",
        [],
        "action_wait_sanitize",
        False,
        "cmd_wait_sanitize",
        "wait sanitize {result} on {n} mem device{s}",
    ),
}


#: Commands whose actions live in their own module: (module, MemdevCommand subclass,
#: name of the module's option table).
EXTENSIONS: dict[str, tuple[str, str, str]] = {
    "read-labels": ("pycxl.cxl.commands.labels", "LabelCommand", "READ_OPTIONS"),
    "write-labels": ("pycxl.cxl.commands.labels", "LabelCommand", "WRITE_OPTIONS"),
    "zero-labels": ("pycxl.cxl.commands.labels", "LabelCommand", "ZERO_OPTIONS"),
    "set-partition": ("pycxl.cxl.commands.partition", "PartitionCommand", "OPTIONS"),
    "set-alert-config": ("pycxl.cxl.commands.alert", "AlertCommand", "OPTIONS"),
    "update-firmware": ("pycxl.cxl.commands.firmware", "FirmwareCommand", "OPTIONS"),
    "wait-sanitize": ("pycxl.cxl.commands.sanitize", "SanitizeCommand", "OPTIONS"),
}


class NoSummary(Exception):
    """The command failed before acting (a file it needs cannot be opened): its exit status
    and no summary line."""

    def __init__(self, rc: int) -> None:
        super().__init__(rc)
        self.rc = rc


def _extension(name: str) -> tuple[type[MemdevCommand], list[Opt]]:
    """The command's class and option table."""
    where = EXTENSIONS.get(name)
    if where is None:
        return MemdevCommand, COMMANDS[name][1]
    import importlib

    module = importlib.import_module(where[0])
    cls: type[MemdevCommand] = getattr(module, where[1])
    options: list[Opt] = getattr(module, where[2])
    return cls, options


def _valid_name(arg: str, serial: bool) -> bool:
    """A serial number is a C number to the end of the word; a name is ``mem<n>`` or
    ``<n>`` followed by anything (``sscanf`` prefix matches)."""
    if serial:
        return arg[strtoull(arg)[1] :] == ""
    return scan_int(arg, "mem") is not None or scan_int(arg) is not None


def memdev_by_bus(memdev: Memdev, ident: str | None, ctx: Ctx) -> bool:
    """``util_cxl_memdev_filter_by_bus``: the memdev's bus matches (a disabled memdev
    has none)."""
    if ident is None:
        return True
    return any(bus_matches(bus, ident) and bus is memdev.bus() for bus in ctx.buses())


def memdev_action(name: str, argv: list[str], sysfs: Sysfs, log: Log) -> tuple[int, dict[str, str]]:
    """The number of memdevs acted on when any succeeded, else the first error (or 0 when
    nothing matched), and the command's summary words. Usage errors raise UsageExit (the
    usage block still to print).

    ``all`` as a positional keeps only the first positional; names that cannot be memdevs
    are reported and then match nothing, unless every positional is one (usage)."""
    usage, _, action_name, prints_json, _, _ = COMMANDS[name]
    command_class, options = _extension(name)
    parsed, args = parse_options(argv, options, [usage])
    values: dict[str, Any] = parsed
    if not args:
        raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    serial: bool = values["serial"]
    err = 0
    for arg in list(args):
        if not serial and arg == "all":
            args = args[:1]
            break
        if _valid_name(arg, serial):
            continue
        log.err(
            "memdev_action",
            f"'{arg}' is not a valid memdev {'serial number' if serial else 'name'}\n",
        )
        err += 1
    if err == len(args):
        raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    ctx = Ctx(sysfs)
    command = command_class(ctx, log, values)
    rc = command.setup()
    if rc:
        raise NoSummary(rc)
    if values["verbose"]:
        ctx.log.priority = LOG_DEBUG
        log.priority = LOG_DEBUG
    else:
        log.priority = LOG_INFO
    if prints_json:
        command.jdevs = []
    action: Callable[[Memdev], int] = getattr(command, action_name)
    bus: str | None = values["bus"]
    if name == "write-labels":
        # Writing is for one memdev only: every match is counted before any is acted on.
        matches = [
            m
            for arg in args
            for m in ctx.memdevs()
            if memdev_matches(m, MemdevFilter(None, arg) if serial else MemdevFilter(arg))
            and memdev_by_bus(m, bus, ctx)
        ]
        if len(matches) > 1:
            # The message carries its own newline, and error() adds one: upstream's usage
            # block then follows two empty lines (seen with the 76.1 binary; v81 unchanged).
            error("write-labels only supports writing a single memdev\n")
            raise UsageExit(EXIT_USAGE, stderr=usage_text([usage], options))
    count = 0
    err = 0
    for arg in args:
        found = False
        memdev_filter = MemdevFilter(None, arg) if serial else MemdevFilter(arg)
        for memdev in ctx.memdevs():
            if not memdev_matches(memdev, memdev_filter):
                continue
            if not memdev_by_bus(memdev, bus, ctx):
                continue
            found = True
            rc = action(memdev)
            if rc == 0:
                count += 1
            elif not err:
                err = rc
        if not found:
            log.info("memdev_action", f"no memdev matches {arg}\n")
    if command.jdevs is not None:
        from pycxl.util.json_display import display_json_array

        display_json_array(command.jdevs, os.isatty(1))
    return (count if count > 0 else err), command.summary_fields()


def run_memdev_command(name: str, argv: list[str], sysfs: Sysfs) -> int:
    """``cmd_<verb>``: the dispatcher, then the summary line."""
    _, _, _, _, func, summary = COMMANDS[name]
    log = Log("cxl memdev", "CXL_MEMDEV_LOG")
    try:
        count, fields = memdev_action(name, argv, sysfs, log)
    except UsageExit as e:
        return e.emit()
    except NoSummary as e:
        return 0 if e.rc >= 0 else 1
    n = max(count, 0)
    result = "completed" if count >= 0 else "failed"
    log.info(func, summary.format(n=n, s="s" if count > 1 else "", result=result, **fields) + "\n")
    return 0 if count >= 0 else 1


def cmd_disable_memdev(argv: list[str], sysfs: Sysfs) -> int:
    return run_memdev_command("disable-memdev", argv, sysfs)


def cmd_enable_memdev(argv: list[str], sysfs: Sysfs) -> int:
    return run_memdev_command("enable-memdev", argv, sysfs)


def cmd_reserve_dpa(argv: list[str], sysfs: Sysfs) -> int:
    return run_memdev_command("reserve-dpa", argv, sysfs)


def cmd_free_dpa(argv: list[str], sysfs: Sysfs) -> int:
    return run_memdev_command("free-dpa", argv, sysfs)
