"""``cxl create-region``, ``enable-region``, ``disable-region``, ``destroy-region``.

Thin commands over one dispatcher, ``region_action`` (upstream's cxl/region.c): parse the
options, then either create one region or run the enable/disable/destroy action on every
region of the matching root decoders that matches a positional argument. Every kernel
interaction goes through the library objects (pycxl.cxl.lib), which write through the Sysfs
seam in libcxl's order.
"""

from __future__ import annotations

import errno
import os
import sys

from pycxl.cxl.filter import (
    ListParams,
    MemdevFilter,
    Walk,
    bus_matches,
    decoder_matches,
    memdev_matches,
    region_matches,
)
from pycxl.cxl.lib.ctx import Ctx
from pycxl.cxl.lib.decoder import mode_from_ident
from pycxl.cxl.lib.device import c_hex
from pycxl.cxl.lib.memdev import QOS_CLASS_NONE
from pycxl.cxl.lib.region import is_uuid
from pycxl.util.cparse import ULLONG_MAX, to_int
from pycxl.util.log import LOG_DEBUG, LOG_INFO, Log, error
from pycxl.util.parse_options import Opt, UsageExit, parse_options
from pycxl.util.size import parse_size64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.cxl.lib.decoder import Decoder
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.region import Region
    from pycxl.sysfs.base import Sysfs

INT_MAX = (1 << 31) - 1
SZ_256M = 0x10000000

CREATE = "create"
ENABLE = "enable"
DISABLE = "disable"
DESTROY = "destroy"

BASE_OPTIONS = [
    Opt("b", "bus", "string", "Limit operation to the specified bus", argh="bus name"),
    Opt(
        "d",
        "decoder",
        "string",
        "Limit to / use the specified root decoder",
        argh="root decoder name",
        dest="root_decoder",
    ),
    Opt(None, "debug", "bool", "turn on debug"),
]

CREATE_OPTIONS = [
    *BASE_OPTIONS,
    Opt(
        "s",
        "size",
        "string",
        "total size desired for the resulting region.",
        argh="size in bytes or with a K/M/G etc. suffix",
    ),
    Opt(
        "w",
        "ways",
        "integer",
        "number of memdevs participating in the regions interleave set",
        default=INT_MAX,
    ),
    Opt("g", "granularity", "integer", "granularity of the interleave set", default=INT_MAX),
    Opt("t", "type", "string", "region type - 'pmem' or 'ram'", argh="region type"),
    Opt(
        "U", "uuid", "string", "uuid for the new region (default: autogenerate)", argh="region uuid"
    ),
    Opt("m", "memdevs", "bool", "non-option arguments are memdevs"),
    Opt("u", "human", "bool", "use human friendly number formats"),
    Opt("Q", "enforce-qos", "bool", "enforce qos_class match"),
]

ENABLE_OPTIONS = list(BASE_OPTIONS)

DISABLE_OPTIONS = [
    *BASE_OPTIONS,
    Opt("f", "force", "bool", "attempt to offline memory before disabling the region"),
]

DESTROY_OPTIONS = [
    *BASE_OPTIONS,
    Opt("f", "force", "bool", "destroy region even if currently active"),
]

#: Per action: usage line, option table, and the past tense of the summary line.
ACTIONS: dict[str, tuple[str, list[Opt], str]] = {
    CREATE: ("cxl create-region <target0> ... [<options>]", CREATE_OPTIONS, "created"),
    ENABLE: ("cxl enable-region <region0> ... [<options>]", ENABLE_OPTIONS, "enabled"),
    DISABLE: ("cxl disable-region <region0> ... [<options>]", DISABLE_OPTIONS, "disabled"),
    DESTROY: ("cxl destroy-region <region0> ... [<options>]", DESTROY_OPTIONS, "destroyed"),
}


def _strerror(rc: int) -> str:
    return os.strerror(abs(rc))


# -- target lists ---------------------------------------------------------------------------


def _which_sep(text: str) -> str:
    return " " if " " in text else ("," if "," in text else " ")


def _split_as_to_csv(arg: str) -> list[str]:
    """The tokens upstream's ``to_csv`` takes from one argument. It calls strtok_r with the
    separator chosen from the argument *as strtok has already cut it* (at the first
    separator), so after the first token a comma list is only split on spaces:
    ``"mem0,mem1,mem2"`` gives ``mem0`` and ``mem1,mem2``."""
    found: list[str] = []
    cut = len(arg)  # where the string ends for C: the first separator strtok overwrote
    pos = 0
    while True:
        sep = _which_sep(arg[:cut])
        while pos < len(arg) and arg[pos] == sep:
            pos += 1
        if pos >= len(arg):
            return found
        end = arg.find(sep, pos)
        if end < 0:
            found.append(arg[pos:])
            return found
        found.append(arg[pos:end])
        cut = min(cut, end)
        pos = end + 1


def to_csv(args: list[str]) -> tuple[str | None, int]:
    """Upstream's ``to_csv``: every positional (itself maybe a list) flattened into one
    comma list, and the number of tokens. A token is followed by a comma when the index of
    its *argument* is below the token count, so one argument holding several tokens leaves
    a trailing comma (``mem0,mem1,``)."""
    if not args:
        return None, 0
    tokens = [(i, token) for i, arg in enumerate(args) for token in _split_as_to_csv(arg)]
    count = len(tokens)
    return "".join(tok + ("," if i + 1 < count else "") for i, tok in tokens), count


# -- parameters -----------------------------------------------------------------------------


class Params:
    """The parsed options (upstream's ``param``) and what create-region derives from them
    (``struct parsed_params``)."""

    def __init__(self, values: dict[str, Any], args: list[str]) -> None:
        self.bus: str | None = values["bus"]
        self.root_decoder_filter: str | None = values["root_decoder"]
        self.debug: bool = values["debug"]
        self.force: bool = values.get("force", False)
        self.size_arg: str | None = values.get("size")
        self.ways_arg: int = values.get("ways", INT_MAX)
        self.granularity_arg: int = values.get("granularity", INT_MAX)
        self.type: str | None = values.get("type")
        self.uuid_arg: str | None = values.get("uuid")
        self.memdevs_flag: bool = values.get("memdevs", False)
        self.enforce_qos: bool = values.get("enforce_qos", False)
        self.args = args
        # parsed_params
        self.size = 0
        self.ep_min_size = 0
        self.ways = 0
        self.granularity = 0
        self.uuid = ""
        self.memdevs: list[Memdev] = []
        self.mode = "pmem"
        self.root_decoder: Decoder | None = None


class RegionCommand:
    """One run of a region command: the library context, the command's log, the options."""

    def __init__(self, ctx: Ctx, log: Log, p: Params) -> None:
        self.ctx = ctx
        self.log = log
        self.p = p
        self.count = 0

    # -- create: options -------------------------------------------------------------------

    def collect_memdevs(self, decoder: str, args: list[str]) -> tuple[list[Memdev] | None, int]:
        """The enabled memdevs below ``decoder`` that the targets name, in command-line
        order (a ``cxl list -M -d <decoder> -m <targets>`` walk), and the target count."""
        csv, count = to_csv(args)
        params = ListParams(memdev=csv, decoder=decoder, memdevs=True)
        found = Walk(self.ctx, params, lambda func, msg: None).run()
        if not found:
            self.log.err(
                "collect_memdevs",
                f"no active memdevs found: decoder: {decoder} filter: "
                f"{csv if csv is not None else 'none'}\n",
            )
            return None, count
        memdevs = [m for m in (self.ctx.memdev_named(j["memdev"]) for j in found) if m]
        if csv is not None:
            names = [t for t in csv.split(_which_sep(csv)) if t]

            def position(memdev: Memdev) -> int:
                for pos, name in enumerate(names):
                    if memdev_matches(memdev, MemdevFilter(name)):
                        return pos
                return len(names)

            memdevs.sort(key=position)
        return memdevs, count

    def validate_ways(self, count: int) -> bool:
        p = self.p
        found = len(p.memdevs)
        if p.ways > found or (count and p.ways != found):
            self.log.err(
                "validate_ways",
                f"Interleave ways {p.ways} is {'greater' if p.ways > found else 'less'} "
                f"than number of memdevs {'specified' if count else 'found'}: {found}\n",
            )
            return False
        return True

    def parse_create_options(self) -> int:
        p, log = self.p, self.log
        func = "parse_create_options"
        if p.root_decoder_filter is None:
            log.err(func, "no root decoder specified\n")
            return -errno.EINVAL
        args = p.args
        if not args:
            p.memdevs_flag = True
        if not p.memdevs_flag:
            log.err(func, "must specify option for target object types (-m)\n")
            return -errno.EINVAL
        memdevs, count = self.collect_memdevs(p.root_decoder_filter, args)
        if memdevs is None:
            return -errno.ENXIO
        p.memdevs = memdevs
        if p.type is not None:
            p.mode = mode_from_ident(p.type)
            if p.mode == "ram" and p.uuid_arg is not None:
                log.err(func, "can't set UUID for ram / volatile regions")
                return -errno.EINVAL
            if p.mode == "none":
                log.err(func, f"unsupported type: {p.type}\n")
                return -errno.EINVAL
        else:
            p.mode = "pmem"
        if p.size_arg is not None:
            p.size = parse_size64(p.size_arg)
            if p.size == ULLONG_MAX:
                log.err(func, f"Invalid size: {p.size_arg}\n")
                return -errno.EINVAL
        if p.ways_arg <= 0:
            log.err(func, f"Invalid interleave ways: {p.ways_arg}\n")
            return -errno.EINVAL
        if p.ways_arg < INT_MAX:
            p.ways = p.ways_arg
            if not self.validate_ways(count):
                return -errno.EINVAL
        elif count:
            p.ways = count
            if not self.validate_ways(count):
                return -errno.EINVAL
        else:
            p.ways = len(p.memdevs)
        if p.granularity_arg < INT_MAX:
            if p.granularity_arg <= 0:
                log.err(func, f"Invalid interleave granularity: {p.granularity_arg}\n")
                return -errno.EINVAL
            p.granularity = p.granularity_arg
        if p.size and p.ways and p.size % p.ways:
            log.err(
                func,
                f"size ({p.size}) is not an integral multiple of interleave-ways ({p.ways})\n",
            )
            return -errno.EINVAL
        if p.uuid_arg is not None:
            if not is_uuid(p.uuid_arg):
                error(f"failed to parse uuid: '{p.uuid_arg}'\n")
                return -errno.EINVAL
            p.uuid = p.uuid_arg
        return 0

    # -- create: the root decoder ----------------------------------------------------------

    def validate_qos_class(self, root: Decoder) -> int:
        p = self.p
        if not p.enforce_qos or root.qos_class == QOS_CLASS_NONE:
            return 0
        for memdev in p.memdevs[: p.ways]:
            qos = memdev.ram_qos_class if p.mode == "ram" else memdev.pmem_qos_class
            if qos == QOS_CLASS_NONE:
                break
            if qos != root.qos_class:
                self.log.err(
                    "create_region_validate_qos_class",
                    f"{root.devname} qos_class mismatch {memdev.devname}\n",
                )
                return -errno.ENXIO
        return 0

    def validate_decoder(self, root: Decoder) -> int:
        p, log = self.p, self.log
        if p.mode == "ram":
            if not root.cap_ram:
                log.err("validate_decoder", f"{root.devname} is not volatile capable\n")
                return -errno.EINVAL
        elif p.mode == "pmem":
            if not root.cap_pmem:
                log.err("validate_decoder", f"{root.devname} is not pmem capable\n")
                return -errno.EINVAL
        else:
            log.err("validate_decoder", f"unknown type: {p.type}\n")
            return -errno.EINVAL
        return self.validate_qos_class(root)

    def validate_config(self) -> int:
        """Find the root decoder; the region type it implies; capability and QoS checks;
        the smallest member capacity."""
        p = self.p
        for bus in self.ctx.buses():
            if not bus_matches(bus, p.bus):
                continue
            p.root_decoder = next(
                (d for d in bus.decoders() if decoder_matches(d, p.root_decoder_filter)), None
            )
            if p.root_decoder is not None:
                break
        root = p.root_decoder
        if root is None:
            self.log.err(
                "create_region_validate_config",
                f"{p.root_decoder_filter} not found in CXL topology\n",
            )
            return -errno.ENXIO
        if p.type is None:
            if root.cap_ram:
                p.mode = "ram"
            if root.cap_pmem:
                p.mode = "pmem"
        rc = self.validate_decoder(root)
        if rc:
            return rc
        for memdev in p.memdevs[: p.ways]:
            size = memdev.ram_size if p.mode == "ram" else memdev.pmem_size
            p.ep_min_size = size if not p.ep_min_size else min(p.ep_min_size, size)
        return 0

    def find_free_decoder(self, memdev: Memdev) -> Decoder | None:
        """The endpoint's first decoder with no HPA range (``size`` 0 at enumeration)."""
        ep = memdev.endpoint()
        if ep is None:
            self.log.err(
                "cxl_memdev_find_decoder", f"could not get an endpoint for {memdev.devname}\n"
            )
            return None
        for decoder in ep.decoders():
            if decoder.size == 0:
                return decoder
        self.log.err(
            "cxl_memdev_find_decoder", f"could not get a free decoder for {memdev.devname}\n"
        )
        return None

    def determine_granularity(self, region: Region, root: Decoder) -> int:
        log, func = self.log, "cxl_region_determine_granularity"
        granularity = to_int(root.interleave_granularity)
        if granularity in (0, -1):
            log.err(func, f"{region.devname}: unable to determine root decoder granularity\n")
            return -errno.ENXIO
        if not self.p.granularity:
            return granularity
        ways = to_int(root.interleave_ways)
        if ways in (0, -1):
            log.err(func, f"{region.devname}: unable to determine root decoder ways\n")
            return -errno.ENXIO
        if ways == 1 or self.p.granularity == granularity:
            return self.p.granularity
        log.err(
            func,
            f"{region.devname}: For an x{ways} root, only root decoder granularity "
            f"({granularity}) permitted\n",
        )
        return -errno.EINVAL

    # -- create ----------------------------------------------------------------------------

    def create_region(self) -> int:
        p, log = self.p, self.log
        rc = self.validate_config()
        if rc:
            return rc
        root = p.root_decoder
        assert root is not None
        default_size = True
        if p.size:
            size = p.size
            default_size = False
        elif p.ep_min_size:
            size = (p.ep_min_size * p.ways) & ULLONG_MAX
        else:
            log.err("create_region", "unable to determine region size\n")
            return -errno.ENXIO
        max_extent = root.max_available_extent
        if max_extent == ULLONG_MAX:
            log.err("create_region", f"{root.devname}: unable to determine max extent\n")
            return -errno.EINVAL
        if not default_size and size > max_extent:
            log.err(
                "create_region",
                f"{root.devname}: region size {c_hex(size)} exceeds max available space "
                f"({c_hex(max_extent)})\n",
            )
            return -errno.ENOSPC
        if size > max_extent:
            size = _align_down(max_extent, p.ways)
        if p.mode not in ("pmem", "ram"):
            log.err("create_region", f"region type '{p.type}' is not supported\n")
            return -errno.EOPNOTSUPP
        region = root.create_region(p.mode)
        if region is None:
            log.err("create_region", f"failed to create region under {p.root_decoder_filter}\n")
            return -errno.ENXIO
        rc = self._program(region, root, size)
        if rc:
            region.delete()
        return rc

    def _try(self, name: str, op: str, rc: int) -> int:
        """upstream's ``try()``: a failed setter is logged with the object's name."""
        if rc:
            self.log.err("create_region", f"{name}: {op} failed: {_strerror(rc)}\n")
        return rc

    def _program(self, region: Region, root: Decoder, size: int) -> int:
        """Everything after the region exists: interleave, uuid, size, one endpoint decoder
        per member, commit, bind, and the region's JSON on success."""
        p, log = self.p, self.log
        name = region.devname
        granularity = self.determine_granularity(region, root)
        if granularity < 0:
            return granularity
        rc = self._try(
            name, "set_interleave_granularity", region.set_interleave_granularity(granularity)
        )
        if rc:
            return rc
        rc = self._try(name, "set_interleave_ways", region.set_interleave_ways(p.ways))
        if rc:
            return rc
        if p.mode == "pmem":
            if p.uuid_arg is None:
                p.uuid = _random_uuid()
            rc = self._try(name, "set_uuid", region.set_uuid(p.uuid))
            if rc:
                return rc
        rc = self._try(name, "set_size", region.set_size(size))
        if rc:
            return rc
        for i in range(p.ways):
            memdev = p.memdevs[i]
            decoder = self.find_free_decoder(memdev)
            if decoder is None:
                return -errno.ENXIO
            if decoder.mode != p.mode:
                rc = self._try(decoder.devname, "set_dpa_size", decoder.set_dpa_size(0))
                if rc:
                    return rc
                rc = self._try(decoder.devname, "set_mode", decoder.set_mode(p.mode))
                if rc:
                    return rc
            rc = self._try(decoder.devname, "set_dpa_size", decoder.set_dpa_size(size // p.ways))
            if rc:
                return rc
            rc = region.set_target(i, decoder)
            if rc:
                log.err("create_region", f"{name}: failed to set target{i} to {memdev.devname}\n")
                return rc
        rc = region.decode_commit()
        if rc:
            log.err("create_region", f"{name}: failed to commit decode: {_strerror(rc)}\n")
            return rc
        rc = region.enable()
        if rc:
            log.err("create_region", f"{name}: failed to enable: {_strerror(rc)}\n")
            return rc
        self.count = 1
        from pycxl.cxl.json import Flags, region_json
        from pycxl.util import jsonc

        flags = Flags(targets=True, human=os.isatty(1))
        sys.stdout.write(jsonc.dumps(region_json(region, flags)) + "\n")
        return 0

    # -- enable / disable / destroy ------------------------------------------------------

    def disable_region(self, region: Region) -> int:
        """Offline the memory of the region's system-ram DAX devices (``-f``: even when that
        fails, leaking the address range), then unbind the region."""
        from pycxl.daxctl.lib import open_region

        log = self.log
        name = region.devname
        dax_region = open_region(self.ctx.sysfs, f"{region.dev_path}/dax_region{region.id}")
        failed = 0
        if dax_region is not None:
            for dev in dax_region.devices():
                mem = dev.memory()
                if mem is None:
                    continue
                if mem.is_online():
                    rc = mem.offline()
                    if rc < 0:
                        log.err(
                            "disable_region",
                            f"{name}: unable to offline {dev.devname}: {_strerror(rc)}\n",
                        )
                        if not self.p.force:
                            return rc
                        failed += 1
        if failed:
            for line in (
                "Forcing region disable without successful offline.",
                "Physical address space has now been permanently leaked.",
                "Leaked address cannot be recovered until a reboot.",
            ):
                log.err("disable_region", f"{name}: {line}\n")
        return region.disable()

    def destroy_region(self, region: Region) -> int:
        log = self.log
        name = region.devname
        if region.is_enabled():
            if not self.p.force:
                log.err("destroy_region", f"{name} active. Disable it or use --force\n")
                return -errno.EBUSY
            rc = self.disable_region(region)
            if rc:
                log.err("destroy_region", f"{name}: error disabling region: {_strerror(rc)}\n")
                return rc
        rc = region.decode_reset()
        if rc:
            log.err("destroy_region", f"{name}: failed to reset decode: {_strerror(rc)}\n")
            return rc
        ways = region.interleave_ways
        if ways in (0, 0xFFFFFFFF):
            log.err("destroy_region", f"{name}: error getting interleave ways\n")
            return -errno.ENXIO
        for i in range(ways):
            decoder = region.target_decoder(i)
            if decoder is None:
                return -errno.ENXIO
            rc = region.clear_target(i)
            if rc:
                log.err("destroy_region", f"{name}: clearing target{i} failed: {_strerror(rc)}\n")
                return rc
            rc = decoder.set_dpa_size(0)
            if rc:
                log.err(
                    "destroy_region", f"{decoder.devname}: set_dpa_size failed: {_strerror(rc)}\n"
                )
                return rc
        return region.delete()

    def region_xable(self, region: Region, action: str) -> int:
        if action == ENABLE:
            return region.enable()
        if action == DISABLE:
            return self.disable_region(region)
        if action == DESTROY:
            return self.destroy_region(region)
        return -errno.EINVAL

    def decoder_region_action(self, decoder: Decoder, action: str) -> int:
        rc = err_rc = 0
        for region in list(decoder.regions()):
            if not any(region_matches(region, arg) for arg in self.p.args):
                continue
            rc = self.region_xable(region, action)
            if rc == 0:
                self.count += 1
            else:
                self.log.err(
                    "decoder_region_action", f"{region.devname}: failed: {_strerror(rc)}\n"
                )
                err_rc = rc
        return err_rc or rc

    def region_action(self, action: str) -> int:
        """Create, or act on every region matching a positional argument below the root
        decoders matching ``-d`` on the buses matching ``-b``."""
        p = self.p
        if action == CREATE:
            rc = self.parse_create_options()
            return rc if rc else self.create_region()
        rc = err_rc = 0
        for bus in self.ctx.buses():
            if not bus_matches(bus, p.bus):
                continue
            for decoder in bus.decoders():
                if not decoder_matches(decoder, p.root_decoder_filter):
                    continue
                rc = self.decoder_region_action(decoder, action)
                if rc:
                    err_rc = rc
        if err_rc:
            self.log.err(
                "region_action", f"one or more failures, last failure: {_strerror(err_rc)}\n"
            )
            return err_rc
        return rc


def _align_down(value: int, ways: int) -> int:
    """``ALIGN_DOWN(value, SZ_256M * ways)`` with upstream's arithmetic: the alignment and
    its mask are C ints (wrapping from 8 ways on), widened to 64 bits with their sign."""
    mask64 = ULLONG_MAX
    align32 = to_int(SZ_256M * ways)
    align = align32 & mask64
    keep = to_int(~to_int(align32 - 1)) & mask64
    return ((((value + align) & mask64) & keep) - align) & mask64


def _random_uuid() -> str:
    """A random (version 4) UUID in canonical lowercase form, as libuuid generates."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def run_region_command(action: str, argv: list[str], sysfs: Sysfs) -> int:
    """``cmd_<action>_region``: run the dispatcher, then the summary line (always shown:
    the command's log is at info level once the options parsed)."""
    usage, options, past = ACTIONS[action]
    log = Log("cxl region", "CXL_REGION_LOG")
    try:
        values, args = parse_options(argv, options, [usage])
    except UsageExit as e:
        return e.emit()
    ctx = Ctx(sysfs)
    p = Params(values, args)
    if p.debug:
        ctx.log.priority = LOG_DEBUG
        log.priority = LOG_DEBUG
    else:
        log.priority = LOG_INFO
    command = RegionCommand(ctx, log, p)
    rc = command.region_action(action)
    count = command.count
    log.info(f"cmd_{action}_region", f"{past} {count} region{'' if count == 1 else 's'}\n")
    return 0 if rc == 0 else 1


def cmd_create_region(argv: list[str], sysfs: Sysfs) -> int:
    return run_region_command(CREATE, argv, sysfs)


def cmd_enable_region(argv: list[str], sysfs: Sysfs) -> int:
    return run_region_command(ENABLE, argv, sysfs)


def cmd_disable_region(argv: list[str], sysfs: Sysfs) -> int:
    return run_region_command(DISABLE, argv, sysfs)


def cmd_destroy_region(argv: list[str], sysfs: Sysfs) -> int:
    return run_region_command(DESTROY, argv, sysfs)
