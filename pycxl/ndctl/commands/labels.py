"""The label commands of ``ndctl`` (ndctl-daxctl.md 7): ``read-labels``, ``zero-labels``,
``write-labels``, ``init-labels`` and ``check-labels``, as far as CXL labels reach.

Transport: the ND config-data ioctls on ``/dev/nmemN`` (pycxl.ndctl.config_data, through
the Sysfs seam's ``nd_control``), as libndctl moves the area; for a CXL DIMM the kernel
answers them with the memdev's Get / Set LSA. The order of checks, the messages and the
summaries are upstream's dimm_action (ndctl/dimm.c): an action refuses an active DIMM
(``state`` reads ``active``), and after a write the DIMM is unbound and bound again so the
kernel drops its copy of the labels. The index blocks are decoded and validated as libndctl
does (7.4, both label sizes tried); labels are decoded in the layout ndctl v81 knows, the
EFI v1.2 one, which is also what a v6.14 kernel writes on a CXL DIMM (the CXL LSA 2.1
format came later).
"""

from __future__ import annotations

import errno
import os
import struct
import sys
import uuid as uuidlib

from pycxl.ndctl import config_data
from pycxl.ndctl.filter import bus_matches, dimm_matches
from pycxl.ndctl.lib import Ctx, Dimm
from pycxl.util import jsonc
from pycxl.util.human import hex_value, size_value
from pycxl.util.log import LOG_DEBUG, Log, error
from pycxl.util.parse_options import Opt, UsageExit, parse_options, usage_text

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from pycxl.sysfs.base import Sysfs

BASE_OPTIONS = [
    Opt(
        "b",
        "bus",
        "string",
        "<nmem> must be on a bus with an id/provider of <bus-id>",
        argh="bus-id",
    ),
    Opt("v", "verbose", "bool", "turn on debug"),
]
LABEL_OPTIONS = [
    Opt("s", "size", "uinteger", "number of label bytes to operate"),
    Opt("O", "offset", "uinteger", "offset into the label area to start operation"),
]
READ_OPTIONS = [
    *BASE_OPTIONS,
    *LABEL_OPTIONS,
    Opt("o", "output", "filename", "filename to write label area contents", argh="output-file"),
    Opt("j", "json", "bool", "parse label data into json"),
    Opt("u", "human", "bool", "use human friendly number formats (implies --json)"),
    Opt("I", "index", "bool", "limit read to the index block area"),
]
WRITE_OPTIONS = [
    *BASE_OPTIONS,
    *LABEL_OPTIONS,
    Opt("i", "input", "string", "filename to read label area data", argh="input-file"),
]
INIT_OPTIONS = [
    *BASE_OPTIONS,
    Opt("f", "force", "bool", "force initialization even if existing index-block present"),
    Opt(
        "V",
        "label-version",
        "string",
        "namespace label specification version (default: 1.1)",
        argh="version-number",
    ),
]
OPTIONS = {
    "read-labels": READ_OPTIONS,
    "zero-labels": [*BASE_OPTIONS, *LABEL_OPTIONS],
    "write-labels": WRITE_OPTIONS,
    "init-labels": INIT_OPTIONS,
    "check-labels": BASE_OPTIONS,
}
USAGE = {
    "read-labels": "ndctl read-labels <nmem0> [<nmem1>..<nmemN>] [-o <filename>]",
    "zero-labels": "ndctl zero-labels <nmem0> [<nmem1>..<nmemN>] [<options>]",
    "write-labels": "ndctl write-labels <nmem> [-i <filename>]",
    "init-labels": "ndctl init-labels <nmem0> [<nmem1>..<nmemN>] [<options>]",
    "check-labels": "ndctl check-labels <nmem0> [<nmem1>..<nmemN>] [<options>]",
}
#: The summary's verb ("zeroed 1 nmem"); check-labels has its own sentence.
SUMMARY = {
    "read-labels": "read",
    "zero-labels": "zeroed",
    "write-labels": "wrote",
    "init-labels": "initialized",
}
#: Every option's initial value (upstream's param), whichever table the command has.
DEFAULTS: dict[str, object] = {
    "bus": None,
    "verbose": False,
    "size": 0,
    "offset": 0,
    "output": None,
    "input": None,
    "json": False,
    "human": False,
    "index": False,
    "force": False,
    "label_version": "1.1",
}
#: -V values: the label format version (1: 1.1, 128-byte labels; 2: 1.2, 256-byte).
LABEL_VERSIONS = {"1.1": 1, "v1.1": 1, "1.2": 2, "v1.2": 2}

NSINDEX_ALIGN = 256
NSINDEX_HEADER = 72
_INDEX = struct.Struct("<16s3sBIQQQQIHHQ")
_EFI_LABEL = struct.Struct("<16s64sIHHQQQQIB3s16s16s88sQ")


# -- the label area ----------------------------------------------------------------------------


def _fletcher64(data: bytes) -> int:
    lo = hi = 0
    for (word,) in struct.iter_unpack("<I", data[: len(data) - len(data) % 4]):
        lo = (lo + word) & 0xFFFF_FFFF
        hi = (hi + lo) & 0xFFFF_FFFF
    return hi << 32 | lo


def index_size(config_size: int, label_size: int) -> tuple[int, int]:
    """(index block size, nslot) of an area for ``label_size`` labels (7.4); (0, 0) when
    the area cannot host them."""
    t = config_size // label_size
    n = -(-(NSINDEX_HEADER + -(-t // 8)) // NSINDEX_ALIGN)
    nslot = (config_size - 2 * NSINDEX_ALIGN * n) // label_size
    size = -(-(NSINDEX_HEADER + -(-nslot // 8)) // NSINDEX_ALIGN) * NSINDEX_ALIGN
    if 2 * size > config_size - nslot * label_size or nslot < 2:
        return 0, 0
    return size, nslot


def index_problem(
    block: bytes, which: int, size: int, label_size: int, config_size: int
) -> str | None:
    """Why index block ``which`` is not valid for ``label_size``-byte labels, in libndctl's
    debug words (``nsindex0 checksum invalid``), or None when it is (7.4)."""
    sig, _, lsize, seq, myoff, mysize, otheroff, _, nslot, major, minor, csum = _INDEX.unpack_from(
        block
    )
    name = f"nsindex{which}"
    if sig != b"NAMESPACE_INDEX\0":
        return f"{name} signature invalid"
    version = major * 100 + minor
    actual = 1 << (7 + lsize) if version >= 102 else 128
    if actual != label_size:
        return f"{name} labelsize {lsize} invalid"
    if _fletcher64(block[:64] + b"\0" * 8 + block[72:size]) != csum:
        return f"{name} checksum invalid"
    if seq & 3 == 0:
        return f"{name} sequence: {seq:#x} invalid"
    if myoff != which * size:
        return f"{name} myoff: {myoff:#x} invalid"
    if otheroff != (1 - which) * size:
        return f"{name} otheroff: {otheroff:#x} invalid"
    if not NSINDEX_HEADER <= mysize <= size:
        return f"{name} mysize: {mysize:#x} invalid"
    # nslot * label size is unsigned 32-bit arithmetic upstream.
    if (nslot * label_size & 0xFFFF_FFFF) + 2 * size > config_size:
        return f"{name} nslot: {nslot} invalid, config_size: {config_size:#x}"
    return None


def _valid(block: bytes, which: int, size: int, label_size: int, config_size: int) -> bool:
    return index_problem(block, which, size, label_size, config_size) is None


def find_index(area: bytes, config_size: int) -> tuple[int, int] | None:
    """(label size, index size) of the first label size whose index validates; ``area``
    holds at least the index blocks of an area of ``config_size`` bytes."""
    for label_size in (128, 256):
        size, _ = index_size(config_size, label_size)
        if (
            size
            and 2 * size <= len(area)
            and any(
                _valid(area[w * size : (w + 1) * size], w, size, label_size, config_size)
                for w in (0, 1)
            )
        ):
            return label_size, size
    return None


# -- JSON --------------------------------------------------------------------------------------


def _index_json(block: bytes) -> dict[str, Any]:
    sig, _, lsize, seq, _, _, _, _, nslot, major, minor, _ = _INDEX.unpack_from(block)
    return {
        "signature": sig[:15].split(b"\0", 1)[0].decode("ascii", "replace"),
        "major": major,
        "minor": minor,
        "labelsize": 1 << (7 + lsize),
        "seq": seq,
        "nslot": nslot,
    }


def _label_json(raw: bytes, label_size: int, human: bool) -> dict[str, Any]:
    (uid, name, flags, nlabel, position, cookie, lbasize, dpa, rawsize, slot, _align, _r,
     type_guid, abstraction, _r2, _csum) = _EFI_LABEL.unpack(raw.ljust(256, b"\0"))  # fmt: skip
    obj: dict[str, Any] = {
        "uuid": str(uuidlib.UUID(bytes=uid)),
        "name": name.split(b"\0", 1)[0].decode("utf-8", "replace"),
        "slot": slot,
        "position": position,
        "nlabel": nlabel,
        "flags": hex_value(flags, human),
        "isetcookie": hex_value(cookie, human),
        "lbasize": lbasize,
        "dpa": hex_value(dpa, human),
        "rawsize": size_value(rawsize, human),
    }
    if label_size == 256:
        obj["type_guid"] = str(uuidlib.UUID(bytes=type_guid))
        obj["abstraction_guid"] = str(uuidlib.UUID(bytes=abstraction))
    return obj


def dimm_label_json(
    dimm: Dimm, area: bytes, config_size: int, index_only: bool, human: bool
) -> dict[str, Any]:
    found = find_index(area, config_size)
    label_size, size = found if found is not None else (128, index_size(config_size, 128)[0])
    obj: dict[str, Any] = {"dev": dimm.devname}
    if size:
        obj["index"] = [_index_json(area[w * size : (w + 1) * size]) for w in (0, 1)]
    if not index_only and size:
        labels = []
        for position, at in enumerate(range(2 * size, len(area) - label_size + 1, label_size)):
            raw = area[at : at + label_size]
            if struct.unpack_from("<I", raw, 120)[0] == position:
                labels.append(_label_json(raw, label_size, human))
        obj["label"] = labels
    return obj


# -- the commands ------------------------------------------------------------------------------


class _Run:
    """One command's options and open files (upstream's param and action_context)."""

    def __init__(self, cmd: str, opts: dict[str, Any]) -> None:
        self.cmd = cmd
        self.opts = opts
        self.out: BinaryIO | None = None
        self.inp: BinaryIO | None = None
        self.version = 1
        self.jdimms: list[Any] | None = None


def _is_dimm_name(arg: str) -> bool:
    """``sscanf(arg, "nmem%lu")`` matches: ``nmem``, optional blanks and sign, a digit."""
    if not arg.startswith("nmem"):
        return False
    rest = arg[4:].lstrip(" \t\n\v\f\r")
    rest = rest[1:] if rest[:1] in ("+", "-") else rest
    return rest[:1].isdigit()


def _usage(usage: list[str], options: list[Opt], message: str = "") -> int:
    sys.stderr.write(message + usage_text(usage, options))
    return 129


def cmd_labels(cmd: str, argv: list[str], sysfs: Sysfs) -> int:
    """``ndctl <cmd>`` for the five label commands: the action on each named DIMM, then
    the summary line (ndctl-daxctl.md 7.3)."""
    options = OPTIONS[cmd]
    usage = [USAGE[cmd]]
    try:
        parsed, args = parse_options(argv, options, usage)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(DEFAULTS)
    opts.update((key, value) for key, value in parsed.items() if value is not None)
    if not args:
        return _usage(usage, options)
    names: list[str] = []
    errors = 0
    for arg in args:
        if arg == "all":
            names = ["all"]
            break
        if _is_dimm_name(arg):
            names.append(arg)
        else:
            sys.stderr.write(f"'{arg}' is not a valid dimm name\n")
            errors += 1
    if errors == (1 if names == ["all"] else len(args)):
        return _usage(usage, options)
    count = _dimm_action(cmd, names, opts, sysfs, usage, options)
    if count is None:
        return 129
    done = max(count, 0)
    plural = "s" if done > 1 else ""
    if cmd == "check-labels":
        sys.stderr.write(f"successfully verified {done} nmem label{plural}\n")
    else:
        sys.stderr.write(f"{SUMMARY[cmd]} {done} nmem{plural}\n")
    return 0 if count >= 0 else 1


def _dimm_action(
    cmd: str,
    names: list[str],
    opts: dict[str, Any],
    sysfs: Sysfs,
    usage: list[str],
    options: list[Opt],
) -> int | None:
    """upstream's dimm_action: the count of DIMMs done, or -errno; None when usage was
    printed (exit 129)."""
    run = _Run(cmd, opts)
    json = bool(opts["json"] or opts["human"])
    if cmd == "read-labels" and json and (opts["size"] or opts["offset"]):
        _usage(usage, options, "--size and --offset are incompatible with --json\n")
        return None
    if opts["index"] and opts["size"]:
        _usage(usage, options, "pick either --size, or --index, not both\n")
        return None
    if json:
        run.jdimms = []
    try:
        return _open_and_act(run, names, sysfs, usage, options)
    finally:
        for f in (run.out, run.inp):
            if f is not None:
                f.close()


def _open(path: str, write: bool) -> BinaryIO | int:
    """fopen(path, "w+") or fopen(path, "r"): the file, or -errno (said on stderr)."""
    try:
        return open(path, "w+b" if write else "rb")
    except OSError as e:
        err = e.errno or errno.EIO
        sys.stderr.write(f"failed to open: {path}: ({os.strerror(err)})\n")
        return -err


def _open_and_act(
    run: _Run, names: list[str], sysfs: Sysfs, usage: list[str], options: list[Opt]
) -> int | None:
    opts = run.opts
    if opts["output"] is not None:
        f = _open(opts["output"], True)
        if isinstance(f, int):
            return f
        run.out = f
    if opts["input"] is not None:
        f = _open(opts["input"], False)
        if isinstance(f, int):
            return f
        run.inp = f
    log = Log("libndctl", "NDCTL_LOG")
    if opts["verbose"]:
        log.priority = LOG_DEBUG
    version = LABEL_VERSIONS.get(opts["label_version"])
    if version is None:
        sys.stderr.write(f"'{opts['label_version']}' is not a valid label version\n")
        return -errno.EINVAL
    run.version = version
    ctx = Ctx(sysfs, log)
    count, err = 0, 0
    single: Dimm | None = None
    for name in names:
        for bus in ctx.buses():
            if not bus_matches(bus, opts["bus"]):
                continue
            for dimm in bus.dimms():
                if not dimm_matches(dimm, name):
                    continue
                if run.cmd == "write-labels":
                    single, rc = dimm, 0
                else:
                    rc = ACTIONS[run.cmd](dimm, run)
                if rc == 0:
                    count += 1
                elif not err:
                    err = rc
    rc = err
    if run.cmd == "write-labels":
        if count > 1:
            error("write-labels only supports writing a single dimm\n")
            _usage(usage, options)
            return None
        if single is not None:
            # Upstream counts the DIMM before the write, so a failed write still counts.
            rc = _action_write(single, run)
    if run.jdimms:
        # Only a terminal unwraps a single object (-u changes the numbers, not this).
        human = run.out is None and sys.stdout.isatty()
        shown: Any = run.jdimms[0] if human and len(run.jdimms) == 1 else run.jdimms
        text = jsonc.dumps(shown) + "\n"
        if run.out is not None:
            run.out.write(text.encode())
        else:
            sys.stdout.write(text)
    return count if count > 0 else rc


# -- the actions -------------------------------------------------------------------------------


def _is_active(dimm: Dimm) -> bool:
    """ndctl_dimm_is_active: ``state`` reads ``active`` (an unreadable state counts too)."""
    state = dimm.attr("state")
    return state is None or state == "active"


def _revalidate(dimm: Dimm) -> int:
    """Unbind and re-bind an enabled DIMM, so the kernel drops its copy of the labels."""
    if not dimm.is_enabled():
        return 0
    rc = _disable(dimm)
    return rc if rc else _enable(dimm)


def _disable(dimm: Dimm) -> int:
    log = dimm.ctx.log
    if not dimm.is_enabled():
        return 0
    dimm.ctx.unbind(dimm.path)
    if dimm.is_enabled():
        log.err("ndctl_dimm_disable", f"{dimm.devname}: failed to disable\n")
        return -errno.EBUSY
    log.dbg("ndctl_dimm_disable", f"{dimm.devname}: disabled\n")
    return 0


def _enable(dimm: Dimm) -> int:
    log = dimm.ctx.log
    if dimm.is_enabled():
        return 0
    dimm.ctx.bind(dimm.devname)
    if not dimm.is_enabled():
        log.err("ndctl_dimm_enable", f"{dimm.devname}: failed to enable\n")
        return -errno.ENXIO
    log.dbg("ndctl_dimm_enable", f"{dimm.devname}: enabled\n")
    return 0


def _action_read(dimm: Dimm, run: _Run) -> int:
    opts = run.opts
    if opts["index"]:
        cmd = config_data.read_index(dimm)
    else:
        cmd = config_data.read_extent(dimm, opts["size"], opts["offset"])
    if cmd is None:
        return -errno.EINVAL
    size = cmd.total_xfer
    if run.jdimms is not None:
        area = bytes(cmd.buf[:size])
        human = bool(opts["human"])
        run.jdimms.append(dimm_label_json(dimm, area, cmd.config_size, bool(opts["index"]), human))
        return 0
    out = run.out
    start = opts["offset"]
    for offset in range(start, start + size, 4096):
        data = cmd.get_data(min(4096, size - offset), offset)
        if isinstance(data, int):
            return data
        if out is not None:
            out.write(data)
            out.flush()
        else:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
    return 0


def _action_write(dimm: Dimm, run: _Run) -> int:
    opts = run.opts
    if _is_active(dimm):
        sys.stderr.write("dimm is active, abort label write\n")
        return -errno.EBUSY
    cmd_read = config_data.read_extent(dimm, opts["size"], opts["offset"])
    if cmd_read is None:
        return -errno.EINVAL
    cmd = cmd_read.new_write()
    if cmd is None:
        return -errno.ENXIO
    inp = run.inp if run.inp is not None else sys.stdin.buffer
    size = cmd_read.total_xfer
    start = opts["offset"]
    written = 0
    for offset in range(start, start + size, 4096):
        want = min(4096, size - offset)
        if want < 0:
            # upstream would read past its 4 KiB buffer here (a size below the offset)
            return -errno.EINVAL
        data = inp.read(want) if want else b""
        if not data:
            break
        if cmd.set_data(data, offset) < 0:
            return -errno.ENXIO
        written += len(data)
    if written:
        rc = cmd.submit()
        if rc:
            return rc
    return _revalidate(dimm)


def _action_zero(dimm: Dimm, run: _Run) -> int:
    if _is_active(dimm):
        sys.stderr.write(f"{dimm.devname}: regions active, abort label write\n")
        return -errno.EBUSY
    cmd_read = config_data.read_extent(dimm, run.opts["size"], run.opts["offset"])
    if cmd_read is None:
        return -errno.EINVAL
    if _is_active(dimm):
        dimm.ctx.log.dbg(
            "ndctl_dimm_zero_label_extent", f"{dimm.devname}: regions active, abort label write\n"
        )
        return -errno.EBUSY
    cmd = cmd_read.new_write()
    if cmd is None:
        return -errno.ENOTTY
    cmd.zero_data()
    rc = cmd.submit()
    if rc < 0:
        return rc
    return _revalidate(dimm)


def _action_init(dimm: Dimm, run: _Run, check_only: bool = False) -> int:
    cmd = config_data.read_index(dimm)
    if cmd is None:
        return -errno.ENXIO
    if not check_only and _is_active(dimm):
        sys.stderr.write(f"{dimm.devname}: regions active, abort label write\n")
        return -errno.EBUSY
    valid = _validate(dimm, cmd)
    if check_only:
        return 0 if valid else -errno.EINVAL
    if valid and not run.opts["force"]:
        sys.stderr.write(f"{dimm.devname}: error: labels already initialized\n")
        return -errno.EBUSY
    label_size = 128 if run.version == 1 else 256
    for which in (0, 1):
        rc = _write_index(cmd, label_size, which, 3 - which)
        if rc < 0:
            return rc
    return _revalidate(dimm)


def _action_check(dimm: Dimm, run: _Run) -> int:
    return _action_init(dimm, run, check_only=True)


def _validate(dimm: Dimm, cmd: config_data.ConfigCmd) -> bool:
    """ndctl_dimm_validate_labels on the index blocks just read: each label size in turn,
    each block's first problem said at debug level."""
    area = bytes(cmd.buf[: cmd.total_xfer])
    log = dimm.ctx.log
    for label_size in (128, 256):
        size, _ = index_size(cmd.config_size, label_size)
        if size == 0:
            log.err(
                "sizeof_namespace_index",
                f"{dimm.devname}: label area ({cmd.config_size}) too small to host "
                f"({label_size} byte) labels\n",
            )
            continue
        found = False
        for which in (0, 1):
            block = area[which * size : (which + 1) * size].ljust(size, b"\0")
            problem = index_problem(block, which, size, label_size, cmd.config_size)
            if problem is None:
                found = True
            else:
                log.dbg("__label_validate", f"{problem}\n")
        if found:
            return True
    return False


def _write_index(cmd: config_data.ConfigCmd, label_size: int, which: int, seq: int) -> int:
    """libndctl's write_label_index: lay index block ``which`` out in the read buffer for
    ``label_size``-byte labels, then write the extent read (both blocks) back. Bytes of
    the block past the free bitmap keep what was read, and the checksum covers them."""
    size, nslot = index_size(cmd.config_size, label_size)
    if size == 0:
        return -errno.EINVAL
    at = which * size
    block = bytearray(cmd.buf[at : at + size])
    _INDEX.pack_into(
        block,
        0,
        b"NAMESPACE_INDEX\0",
        b"\0\0\0",
        label_size >> 8,
        seq,
        at,
        size,
        (1 - which) * size,
        2 * size,
        nslot,
        1,
        1 if label_size < 256 else 2,
        0,
    )
    # ALIGN(nslot, BITS_PER_LONG) / 8 bytes: the bits past nslot up to a long are set too.
    bitmap = min((nslot + 63) // 64 * 8, size - NSINDEX_HEADER)
    block[NSINDEX_HEADER : NSINDEX_HEADER + bitmap] = b"\xff" * bitmap
    struct.pack_into("<Q", block, 64, _fletcher64(bytes(block)))
    write = cmd.new_write()
    if write is None:
        return -errno.ENXIO
    if write.set_data(bytes(block), at) < 0:
        return -errno.ENXIO
    return -errno.ENXIO if write.submit() < 0 else 0


ACTIONS = {
    "read-labels": _action_read,
    "zero-labels": _action_zero,
    "init-labels": _action_init,
    "check-labels": _action_check,
}
