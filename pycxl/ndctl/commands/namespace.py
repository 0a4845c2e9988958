"""``ndctl create-namespace``, ``destroy-namespace``, ``enable-namespace``,
``disable-namespace`` (ndctl-daxctl.md 4 and 5): one dispatcher per upstream's
namespace_action(), the validation of validate_namespace_options() and the sysfs write
sequence of setup_namespace().

Upstream's two steps through ``/dev/<blockdev>`` are made as upstream makes them, through
``Sysfs.open_block`` (the real node, or the emulated disk on the memdevs' media): the
exclusive open (O_RDWR | O_EXCL) that disable-safe holds while it disables, and, before a
namespace is destroyed or reconfigured, the zeroing of the first 8 KiB of its raw disk
(opened O_RDWR | O_DIRECT | O_EXCL; read first, written only when not all zeros). The
emulated kernel keeps info blocks in its own state rather than on the media, and forgets
one when ``holder_class`` is written, which is the effect that zeroing has on a real one.
"""

from __future__ import annotations

import errno
import os
import sys
import uuid as uuidlib

from pycxl.daxctl.lib import DaxCtx, DaxRegion
from pycxl.ndctl.filter import bus_matches, region_matches
from pycxl.ndctl.json import Flags, namespace_json
from pycxl.ndctl.lib import (
    ND_DEVICE_NAMESPACE_BLK,
    ND_DEVICE_NAMESPACE_IO,
    ND_DEVICE_NAMESPACE_PMEM,
    NULL_UUID,
    PAGE_SIZE,
    Claim,
    Ctx,
    Namespace,
    Region,
    read_attr,
)
from pycxl.util import jsonc
from pycxl.util.cparse import ULLONG_MAX
from pycxl.util.log import LOG_DEBUG, Log, error, warning
from pycxl.util.parse_options import Opt, UsageExit, parse_options, usage_text
from pycxl.util.size import parse_size64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.sysfs.base import Sysfs

SZ_16M = 16 << 20
#: What zero_info_block clears at the start of a namespace's raw disk.
INFO_BLOCK_SIZE = 8192
SZ_2M = 2 << 20

BASE_OPTIONS = [
    Opt(
        "b",
        "bus",
        "string",
        "limit namespace to a bus with an id or provider of <bus-id>",
        argh="bus-id",
    ),
    Opt(
        "r",
        "region",
        "string",
        "limit namespace to a region with an id or name of <region-id>",
        argh="region-id",
    ),
    Opt("v", "verbose", "bool", "emit extra debug messages to stderr"),
]

CREATE_OPTIONS = [
    *BASE_OPTIONS,
    Opt(
        "e",
        "reconfig",
        "string",
        "reconfigure existing namespace",
        argh="reconfig namespace",
    ),
    Opt(
        "u",
        "uuid",
        "string",
        "specify the uuid for the namespace (default: autogenerate)",
        argh="uuid",
    ),
    Opt("n", "name", "string", "specify an optional free form name for the namespace", argh="name"),
    Opt(
        "s",
        "size",
        "string",
        "specify the namespace size in bytes (default: available capacity)",
        argh="size",
    ),
    Opt(
        "m",
        "mode",
        "string",
        "specify a mode for the namespace, 'sector', 'fsdax', 'devdax' or 'raw'",
        argh="operation-mode",
    ),
    Opt(
        "M",
        "map",
        "string",
        "specify 'mem' or 'dev' for the location of the memmap",
        argh="memmap-location",
    ),
    Opt(
        "l",
        "sector-size",
        "string",
        "specify the logical sector size in bytes",
        argh="lba-size",
    ),
    Opt(
        "t",
        "type",
        "string",
        "specify the type of namespace to create 'pmem' or 'blk'",
        argh="type",
    ),
    Opt(
        "a",
        "align",
        "string",
        "specify the namespace alignment in bytes (default: 2M)",
        argh="align",
    ),
    Opt("f", "force", "bool", "reconfigure namespace even if currently active"),
    Opt("L", "autolabel", "bool", "automatically initialize labels", default=True),
    Opt(
        "c",
        "continue",
        "bool",
        "continue creating namespaces as long as the filter criteria are met",
    ),
    Opt("R", "autorecover", "bool", "automatically cleanup on failure", default=True),
]

DESTROY_OPTIONS = [
    *BASE_OPTIONS,
    Opt("f", "force", "bool", "destroy namespace even if currently active"),
]

_MODES = {
    "fsdax": "fsdax",
    "memory": "fsdax",
    "devdax": "devdax",
    "dax": "devdax",
    "sector": "sector",
    "safe": "sector",
    "raw": "raw",
}
_CMD_NAME = {
    "create": "create namespace",
    "destroy": "destroy namespace",
    "enable": "enable namespace",
    "disable": "disable namespace",
}


class _UsageError(Exception):
    pass


class _Action:
    """One namespace command's state: options, library context and the err() count."""

    def __init__(self, action: str, opts: dict[str, Any], sysfs: Sysfs) -> None:
        self.action = action
        self.opts = opts
        log = Log("libndctl", "NDCTL_LOG")
        if opts.get("verbose"):
            log.priority = LOG_DEBUG
        self.ctx = Ctx(sysfs, log)
        self.errors = 0

    def err(self, msg: str) -> None:
        """err(): error() with the command's name, counted."""
        error(f"{_CMD_NAME[self.action]}: {msg}")
        self.errors += 1

    def regions(self) -> list[Region]:
        found = []
        for bus in self.ctx.buses():
            if not bus_matches(bus, self.opts.get("bus")):
                continue
            for region in bus.regions():
                if region_matches(region, self.opts.get("region")):
                    found.append(region)
        return found


# -- option parsing (before any sysfs access) --------------------------------------------------


class _Params:
    def __init__(self) -> None:
        self.size = 0
        self.size_units = 1
        self.uuid = ""
        self.name: str | None = None
        self.mode = ""
        self.mode_given = False
        self.map = ""
        self.sector_size = 0
        self.type = "pmem"
        self.align = 0
        self.align_arg: str | None = None


def _units(text: str) -> int:
    return {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}.get(text[-1:].lower(), 1)


def _parse_create(opts: dict[str, Any], reconfig: bool) -> _Params:
    """parse_namespace_options: every error prints usage and exits 129."""
    p = _Params()
    if opts["uuid"] is not None:
        try:
            p.uuid = str(uuidlib.UUID(opts["uuid"]))
        except ValueError:
            raise _UsageError(f"failed to parse uuid: '{opts['uuid']}'\n") from None
    if opts["size"] is not None:
        p.size = parse_size64(opts["size"])
        if p.size == ULLONG_MAX:
            msg = f"failed to parse namespace size '{opts['size']}'\n"
            error(msg)
            raise _UsageError(msg)
        p.size_units = _units(opts["size"])
    if opts["mode"] is not None:
        mode = _MODES.get(opts["mode"].lower())
        if mode is None:
            raise _UsageError(f"invalid mode '{opts['mode']}'\n")
        p.mode, p.mode_given = mode, True
    if opts["map"] is not None:
        if opts["map"] not in ("mem", "dev"):
            raise _UsageError(f"invalid map location '{opts['map']}'\n")
        p.map = opts["map"]
        if not reconfig and p.mode_given and p.mode not in ("fsdax", "devdax"):
            raise _UsageError("--map only valid for an devdax mode pmem namespace\n")
    if opts["sector_size"] is not None:
        p.sector_size = parse_size64(opts["sector_size"])
        if p.sector_size == ULLONG_MAX:
            raise _UsageError(f"invalid sector size: {opts['sector_size']}\n")
    if opts["type"] is not None:
        if opts["type"] not in ("pmem", "blk"):
            raise _UsageError(f"invalid type '{opts['type']}', must be either 'pmem' or 'blk'\n")
        p.type = opts["type"]
        if p.type == "blk" and p.mode in ("fsdax", "devdax"):
            raise _UsageError("only 'pmem' namespaces support dax operation\n")
    if opts["align"] is not None:
        p.align = parse_size64(opts["align"])
        if p.align == ULLONG_MAX:
            raise _UsageError(f"failed to parse namespace alignment '{opts['align']}'\n")
        if p.align < PAGE_SIZE or p.align & (p.align - 1):
            raise _UsageError("align must be a power-of-2 greater than 4096\n")
        p.align_arg = opts["align"]
    p.name = opts["name"]
    if not reconfig and not p.mode_given:
        p.mode = "fsdax" if p.type == "pmem" else "sector"
    if p.mode == "sector" and not p.sector_size:
        p.sector_size = 4096
    return p


# -- validation --------------------------------------------------------------------------------


class _Setup:
    """What validate_namespace_options settles for one region."""

    def __init__(self) -> None:
        self.size = 0
        self.uuid = ""
        self.name = ""
        self.mode = ""
        self.align = 0
        self.sector_size = 0
        self.location = "pmem"


def _validate(act: _Action, region: Region, ns: Namespace | None, p: _Params) -> tuple[int, _Setup]:
    s = _Setup()
    if not region.is_enabled():
        act.ctx.log.dbg("validate_namespace_options", f"{region.devname}: disabled, skipping\n")
        return -errno.EAGAIN, s
    default_size = False
    if p.size:
        s.size = p.size
    elif ns is not None:
        s.size = ns.size
    else:
        default_size = True
    if ns is None:
        available = region.max_available_extent()
        if available == ULLONG_MAX:
            available = region.available_size()
        if not available or s.size > available:
            act.ctx.log.dbg(
                "validate_namespace_options",
                f"{region.devname}: insufficient capacity size: {s.size:x} avail: {available:x}\n",
            )
            return -errno.EAGAIN, s
        if default_size:
            s.size = available
    s.uuid = p.uuid or str(uuidlib.uuid4())
    if p.name is not None:
        s.name = p.name
    elif ns is not None:
        s.name = ns.alt_name
    if len(s.name.encode()) > 63:
        act.err("validate_namespace_options: alt name overflow\n")
        return -errno.EINVAL, s
    if p.mode:
        s.mode = p.mode
    elif ns is not None:
        s.mode = ns.mode() or "raw"
    pfn_seed = region.claim_by_name(region.seed("pfn"))
    dax_seed = region.claim_by_name(region.seed("dax"))
    btt_seed = region.claim_by_name(region.seed("btt"))
    if s.mode == "fsdax" and pfn_seed is None and not p.mode_given:
        act.err(f"{region.devname} fsdax mode not available\n")
        s.mode = "raw"
    if s.mode == "devdax" and dax_seed is None:
        error("Kernel does not support devdax mode\n")
        return -errno.ENODEV, s
    rc = _validate_align(act, region, ns, p, s, pfn_seed, dax_seed)
    if rc:
        return rc, s
    if region.align != ULLONG_MAX and region.align and s.size % region.align:
        act.err(
            f"{region.devname}: align setting is {region.align:#x} size {s.size:#x} is misaligned\n"
        )
        return -errno.EINVAL, s
    ways = max(1, region.nr_mappings)
    if s.size % (s.align * ways):
        unit = max(p.size_units, s.align) * ways
        suggest = -(-s.size // unit) * unit // p.size_units
        suffix = {1 << 10: "K", 1 << 20: "M", 1 << 30: "G", 1 << 40: "T"}.get(p.size_units, "")
        act.err(
            f"'--size=' must align to interleave-width: {ways} and alignment: {s.align}\n"
            f"did you intend --size={suggest}{suffix}?\n"
        )
        return -errno.EINVAL, s
    if s.size < SZ_16M and s.mode != "raw":
        if default_size:
            return -errno.EAGAIN, s
        error(f"'--size=' must be >= 16MiB for '{s.mode}' mode\n")
        return -errno.EINVAL, s
    rc = _validate_sector_size(act, region, ns, p, s, btt_seed)
    if rc:
        return rc, s
    s.location = "ram" if p.map == "mem" else "pmem"
    if s.mode == "fsdax" and pfn_seed is None:
        error(f"operation failed, {region.devname} cannot support requested mode\n")
        return -errno.EINVAL, s
    return 0, s


def _validate_align(
    act: _Action,
    region: Region,
    ns: Namespace | None,
    p: _Params,
    s: _Setup,
    pfn_seed: Claim | None,
    dax_seed: Claim | None,
) -> int:
    if p.align:
        if s.mode == "fsdax" and pfn_seed is None:
            error("Kernel does not support setting an alignment in fsdax mode\n")
            return -errno.EINVAL
        if s.mode in ("raw", "sector"):
            error(f"{s.mode} mode does not support setting an alignment\n")
            return -errno.ENXIO
        seed = pfn_seed if s.mode == "fsdax" else dax_seed
        supported = seed.supported_alignments() if seed is not None else [PAGE_SIZE, SZ_2M]
        if p.align not in supported:
            error(f"unsupported align: {p.align_arg}\n")
            return -errno.ENXIO
        s.align = p.align
        return 0
    old = None
    if ns is not None and ns.mode() == s.mode:
        old = ns.claim("pfn") or ns.claim("dax")
    if old is not None:
        s.align = old.align() or PAGE_SIZE
    elif ns is not None and ns.mode() == s.mode:
        s.align = PAGE_SIZE
    elif s.mode == "fsdax" and pfn_seed is not None:
        align = read_attr(pfn_seed.sysfs, f"{pfn_seed.path}/align")
        s.align = pfn_seed.align() if align is not None else SZ_2M
    elif s.mode == "devdax" and dax_seed is not None:
        s.align = dax_seed.align()
    else:
        s.align = PAGE_SIZE
    resource = region.resource()
    if resource != ULLONG_MAX and s.align and resource % s.align:
        s.align = PAGE_SIZE
    return 0


def _validate_sector_size(
    act: _Action,
    region: Region,
    ns: Namespace | None,
    p: _Params,
    s: _Setup,
    btt_seed: Claim | None,
) -> int:
    if p.sector_size and s.mode == "sector":
        if btt_seed is None:
            act.err(f"{region.devname}: does not support 'sector' mode\n")
            return -errno.EINVAL
        sizes = _btt_sizes(btt_seed)
        if p.sector_size not in sizes:
            act.err(f"{region.devname}: does not support btt sector_size {p.sector_size}\n")
            return -errno.EINVAL
        s.sector_size = p.sector_size
        return 0
    if p.sector_size:
        target = ns or region.namespace_by_name(region.seed("namespace"))
        if target is None:
            act.err(f"{region.devname}: failed to get seed\n")
            return -errno.ENXIO
        if p.sector_size not in target.sector_sizes()[0]:
            act.err(f"{region.devname}: does not support namespace sector_size {p.sector_size}\n")
            return -errno.EINVAL
        s.sector_size = p.sector_size
        return 0
    if ns is not None:
        btt = ns.claim("btt")
        if s.mode == "sector" and btt is not None:
            s.sector_size = btt.sector_size()
        else:
            s.sector_size = ns.sector_sizes()[1]
        return 0
    seed = region.namespace_by_name(region.seed("namespace"))
    if seed is not None and not seed.sector_sizes()[0]:
        s.sector_size = 0
    else:
        s.sector_size = 512
    return 0


def _btt_sizes(btt: Claim) -> list[int]:
    from pycxl.ndctl.lib import size_list

    return size_list(btt.attr("sector_size"))[0]


# -- setup_namespace ---------------------------------------------------------------------------


def _try(act: _Action, dev: str, op: str, rc: int) -> bool:
    if rc:
        act.err(f"{dev}: {op} failed: {os.strerror(-rc)}\n")
        return False
    return True


def _setup(act: _Action, region: Region, ns: Namespace, s: _Setup) -> int:
    """The write sequence of setup_namespace (4.4)."""
    name = ns.devname
    if ns.nstype != ND_DEVICE_NAMESPACE_IO:
        if not _try(act, name, "set_uuid", ns.write("uuid", s.uuid)):
            return -1
        if ns.sysfs.exists(f"{ns.path}/alt_name") and not _try(
            act, name, "set_alt_name", ns.write("alt_name", s.name)
        ):
            return -1
        if not _try(act, name, "set_size", ns.write("size", f"{s.size:#x}\n")):
            return -1
    if s.sector_size:
        sizes = ns.sector_sizes()[0]
        if s.sector_size in sizes:
            if not _try(
                act, name, "set_sector_size", ns.write("sector_size", f"{s.sector_size}\n")
            ):
                return -1
        elif s.mode != "sector" and s.sector_size != 512:
            act.err(f"{name}: sector_size: {s.sector_size} not supported\n")
            return -errno.EINVAL
    holder = {"fsdax": "pfn", "devdax": "dax", "sector": "btt"}.get(s.mode, "")
    ns.write("holder_class", holder)
    if s.mode == "raw":
        rc = ns.enable()
        if rc < 0:
            error(f"{name}: failed to enable\n")
        return rc
    kind = holder
    seed_name = region.seed(kind)
    claim = region.claim_by_name(seed_name)
    if claim is None:
        act.err(f"{name}: failed to get {kind} seed\n")
        return -errno.ENXIO
    if kind in ("pfn", "dax"):
        resource = ns.resource()
        if resource == ULLONG_MAX:
            warning(f"{name} unable to validate alignment\n")
        elif resource % SZ_16M and not act.opts["force"]:
            act.err(f"{name} misaligned to 16M, adjust region alignment and retry\n")
            return -errno.EINVAL
        if not _try(act, claim.devname, "set_uuid", claim.write("uuid", str(uuidlib.uuid4()))):
            return -1
        if not _try(act, claim.devname, "set_location", claim.write("mode", s.location)):
            return -1
        if (kind == "dax" or claim.sysfs.exists(f"{claim.path}/align")) and not _try(
            act, claim.devname, "set_align", claim.write("align", f"{s.align}\n")
        ):
            return -1
    else:
        if not _try(act, claim.devname, "set_uuid", claim.write("uuid", str(uuidlib.uuid4()))):
            return -1
        if not _try(
            act,
            claim.devname,
            "set_sector_size",
            claim.write("sector_size", f"{s.sector_size or 4096}\n"),
        ):
            return -1
    if not _try(act, claim.devname, "set_namespace", claim.write("namespace", name)):
        return -1
    rc = claim.enable()
    if rc < 0:
        if act.opts["autorecover"] and kind in ("pfn", "dax"):
            claim.write("namespace", "\n")
        error(f"{name}: failed to enable\n")
    return rc


def _pick_namespace(region: Region) -> Namespace | None:
    region.rescan()
    first = region.namespace_by_name(f"namespace{region.id}.0")
    if first is not None and first.is_configuration_idle():
        return first
    seed = region.namespace_by_name(region.seed("namespace"))
    if seed is None or not seed.is_configuration_idle():
        return None
    return seed


def _namespace_create(act: _Action, region: Region, p: _Params) -> int:
    if p.type and region.type_name != p.type:
        return -errno.EAGAIN
    rc, s = _validate(act, region, None, p)
    if rc:
        return rc
    if region.read_only:
        return -errno.EAGAIN
    ns = _pick_namespace(region)
    if ns is None:
        return -errno.EAGAIN
    rc = _setup(act, region, ns, s)
    if rc < 0:
        if act.opts["autorecover"]:
            ns.write("holder_class", "")
            if not ns.is_enabled():
                ns.delete()
        return rc
    _print_namespace(region, ns)
    return 0


def _print_namespace(region: Region, ns: Namespace) -> None:
    region.rescan()
    fresh = region.namespace_by_name(ns.devname) or ns
    fresh.refresh()
    flags = Flags()
    flags.dax = True
    flags.human = sys.stdout.isatty()
    obj = namespace_json(fresh, flags)
    if obj is not None:
        sys.stdout.write(jsonc.dumps(obj) + "\n")


def cmd_create_namespace(argv: list[str], sysfs: Sysfs) -> int:
    usage = ["ndctl create-namespace [<options>]"]
    try:
        parsed, args = parse_options(argv, CREATE_OPTIONS, usage)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(parsed)
    reconfig = opts["reconfig"]
    try:
        if args:
            raise _UsageError(f'unknown extra parameter "{args[0]}"\n')
        p = _parse_create(opts, reconfig is not None)
    except _UsageError as e:
        error(str(e))
        sys.stderr.write(usage_text(usage, CREATE_OPTIONS))
        return 129
    act = _Action("create", opts, sysfs)
    if reconfig is not None:
        rc = _reconfigure(act, reconfig, p)
        if rc < 0 and not act.errors:
            sys.stderr.write(f"failed to reconfigure namespace: {os.strerror(-rc)}\n")
        return rc
    created, rc = _create_pass(act, p)
    if created == 0 and rc < 0 and not argv:
        rc = -errno.ENXIO  # upstream's second pass, for blk regions: there are none
    if opts["continue"]:
        sys.stderr.write(f"created {created} namespace{'' if created == 1 else 's'}\n")
    if (rc < 0 or created == 0) and not act.errors:
        sys.stderr.write(f"failed to create namespace: {os.strerror(-rc)}\n")
        return -errno.ENODEV
    if created and rc == -errno.EAGAIN:
        return 0
    return rc


def _create_pass(act: _Action, p: _Params) -> tuple[int, int]:
    rc = -errno.ENXIO
    created = 0
    cont = act.opts["continue"]
    failed = 0
    for region in act.regions():
        rc = _namespace_create(act, region, p)
        if rc == -errno.EAGAIN:
            continue
        if rc == 0:
            created += 1
            if not cont:
                break
            continue
        if cont and act.opts["force"]:
            failed = rc
            continue
        break
    if rc == -errno.EAGAIN and not (cont and created):
        rc = -errno.ENOSPC
    if failed and rc >= 0:
        rc = failed
    return created, rc


# -- reconfigure, destroy, enable, disable -----------------------------------------------------


def _disable_safe(ns: Namespace) -> int:
    """ndctl_namespace_disable_safe (5.3): the disk of whatever serves the namespace (an
    enabled pfn, else btt, else the namespace itself) is opened exclusively, which fails
    while it is mounted or held open; a devdax namespace whose memory is online as System
    RAM is refused. Then disable-invalidate (its own failure is not reported)."""
    claims = {kind: ns.claim(kind) for kind in ("pfn", "btt", "dax")}
    pfn, btt, dax = claims["pfn"], claims["btt"], claims["dax"]
    bdev: str | None = None
    if pfn is not None and pfn.is_enabled():
        bdev = pfn.block_device()
    elif btt is not None and btt.is_enabled():
        bdev = btt.block_device()
    elif dax is not None and dax.is_enabled():
        if _dax_has_active_memory(ns, dax):
            ns.ctx.log.dbg(
                "ndctl_namespace_disable_safe",
                f"{ns.devname}: active as system-ram, refusing to disable\n",
            )
            return -errno.EBUSY
    elif ns.is_enabled():
        bdev = ns.block_device()
    if bdev is None:
        ns.disable_invalidate()
        return 0
    try:
        disk = ns.sysfs.open_block(f"/dev/{bdev}", os.O_RDWR | os.O_EXCL)
    except OSError as e:
        code = e.errno or errno.EIO
        ns.ctx.log.dbg(
            "ndctl_namespace_disable_safe",
            f"{ns.devname}: {bdev} failed exclusive open: {os.strerror(code)}\n",
        )
        return -code
    # Held exclusively, nothing can mount the disk while the namespace goes away.
    try:
        ns.disable_invalidate()
    finally:
        disk.close()
    return 0


def _dax_has_active_memory(ns: Namespace, dax: Claim) -> bool:
    region = DaxRegion(DaxCtx(ns.sysfs), ns.region.id, dax.path)
    for dev in region.devices():
        if dev.mode() != "system-ram":
            continue
        mem = dev.memory()
        if mem is not None and mem.is_online() > 0:
            return True
    return False


def _zero_info_block(act: _Action, ns: Namespace) -> int:
    """zero_info_block: enable the namespace raw and clear the first 8 KiB of its disk,
    where an fsdax, devdax or sector info block lives (4 KiB in), unless they read as
    zeros already; then disable it again. 0: cleared; 1: skipped; < 0: failed."""
    ns.write("force_raw", "1\n")
    rc = ns.enable()
    if rc < 0:
        act.err(f"{ns.devname} failed to enable for zeroing, continuing\n")
        rc = 1
    else:
        rc = _clear_info_block(act, ns, rc)
    ns.write("force_raw", "0\n")
    ns.disable_invalidate()
    return rc


def _clear_info_block(act: _Action, ns: Namespace, enabled: int) -> int:
    path = f"/dev/{ns.block_device()}"
    try:
        disk = ns.sysfs.open_block(path, os.O_RDWR | os.O_DIRECT | os.O_EXCL)
    except OSError:
        act.err(f"{ns.devname}: failed to open {path} to zero info block\n")
        # Upstream returns what the enable returned: the namespace counts as cleared.
        return enabled
    with disk:
        try:
            data = disk.pread(INFO_BLOCK_SIZE, 0)
        except OSError:
            data = b""
        if len(data) < INFO_BLOCK_SIZE:
            act.err(f"{ns.devname}: failed to read info block, continuing\n")
        # Bytes a short read left out compare as the fresh buffer's zeros.
        if not any(data):
            return 1
        try:
            written = disk.pwrite(bytes(INFO_BLOCK_SIZE), 0)
        except OSError:
            written = -1
        if written < INFO_BLOCK_SIZE:
            act.err(f"{ns.devname}: failed to zero info block {path}\n")
            return -errno.ENXIO
    return 0


def _prep_reconfig(act: _Action, ns: Namespace) -> int:
    """namespace_prep_reconfig: < 0 failed; 2: a labelled namespace, to delete or set up
    again; else (a label-less one) 0 when its info block was cleared, 1 when skipped."""
    region = ns.region
    if region.read_only:
        error(f"{ns.devname}: read-only, re-configuration disabled\n")
        return -errno.ENXIO
    if ns.is_active() and not act.opts["force"]:
        error(f"{ns.devname} is active, specify --force for re-configuration\n")
        return -errno.EBUSY
    rc = _disable_safe(ns)
    if rc:
        return rc
    ns.write("holder_class", "")
    rc = _zero_info_block(act, ns)
    if rc < 0:
        return rc
    if ns.nstype in (ND_DEVICE_NAMESPACE_PMEM, ND_DEVICE_NAMESPACE_BLK):
        return 2
    return rc


def _find_namespaces(act: _Action, ident: str) -> list[Namespace]:
    found = []
    for region in act.regions():
        for ns in region.namespaces():
            if ident == "all":
                if ns.size == 0 and ns.uuid == NULL_UUID:
                    continue
            elif ns.devname != ident:
                continue
            found.append(ns)
    return found


def _reconfigure(act: _Action, ident: str, p: _Params) -> int:
    matches = [ns for ns in _find_namespaces(act, ident) if ns.devname == ident]
    if not matches:
        return -errno.ENXIO
    ns = matches[0]
    region = ns.region
    rc, s = _validate(act, region, ns, p)
    if rc:
        return rc
    rc = _prep_reconfig(act, ns)
    if rc < 0:
        return rc
    region.rescan()
    fresh = region.namespace_by_name(ns.devname)
    if fresh is None:
        return -errno.ENXIO
    rc = _setup(act, region, fresh, s)
    if rc < 0:
        return rc
    _print_namespace(region, fresh)
    return 0


def _namespace_cmd(action: str, argv: list[str], sysfs: Sysfs) -> int:
    usage = [f"ndctl {action}-namespace <namespace> [<options>]"]
    options = DESTROY_OPTIONS if action == "destroy" else BASE_OPTIONS
    try:
        parsed, args = parse_options(argv, options, usage)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(parsed)
    if not args:
        error(f'specify a namespace to {action}, or "all"\n')
        sys.stderr.write(usage_text(usage, options))
        return 129
    if len(args) > 1:
        error(f'unknown extra parameter "{args[1]}"\n')
        sys.stderr.write(usage_text(usage, options))
        return 129
    opts.setdefault("force", False)
    act = _Action(action, opts, sysfs)
    ident = args[0]
    rc = 0 if ident == "all" else -errno.ENXIO
    count = 0
    for ns in _find_namespaces(act, ident):
        if action == "enable":
            rc = ns.enable()
        elif action == "disable":
            rc = _disable_safe(ns)
        else:
            rc = _prep_reconfig(act, ns)
            if rc == 2:
                ns.region.rescan()
                fresh = ns.region.namespace_by_name(ns.devname)
                rc = fresh.delete() if fresh is not None else 0
                if rc and act.opts.get("verbose"):
                    # namespace.c's debug(): function and line (v81) before the text.
                    sys.stderr.write(f"namespace_destroy:1183: {ns.devname}: failed to reclaim\n")
            if rc > 0:
                rc = 0  # skipped: success, not counted
                continue
        if rc >= 0:
            count += 1
    past = {"enable": "enabled", "disable": "disabled", "destroy": "destroyed"}[action]
    noun = {"enable": "enabling", "disable": "disabling", "destroy": "destroying"}[action]
    if rc < 0 and not act.errors:
        sys.stderr.write(f"error {noun} namespaces: {os.strerror(-rc)}\n")
    sys.stderr.write(f"{past} {count} namespace{'' if count == 1 else 's'}\n")
    return rc


def cmd_destroy_namespace(argv: list[str], sysfs: Sysfs) -> int:
    return _namespace_cmd("destroy", argv, sysfs)


def cmd_enable_namespace(argv: list[str], sysfs: Sysfs) -> int:
    return _namespace_cmd("enable", argv, sysfs)


def cmd_disable_namespace(argv: list[str], sysfs: Sysfs) -> int:
    return _namespace_cmd("disable", argv, sysfs)
