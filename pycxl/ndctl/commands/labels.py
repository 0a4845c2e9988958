"""``ndctl read-labels`` and ``check-labels`` (ndctl-daxctl.md 7), as far as CXL labels
reach.

Transport: upstream moves the label area with the ND config-data ioctls on ``/dev/nmemN``;
for a CXL DIMM the kernel answers them with the memdev's Get LSA mailbox command. pycxl
sends that command itself, through the Sysfs seam's mailbox of the memdev behind the DIMM
(``nmemN/cxl/provider`` names ``pmemK``, whose parent is the memdev), in chunks of
``payload_max - 8`` bytes as both paths do. The index blocks are decoded and validated as
libndctl does (7.4, both label sizes tried); labels are decoded in the layout ndctl v81
knows (the EFI one), which a CXL namespace label shares only in part.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
import uuid as uuidlib

from pycxl.ndctl.filter import bus_matches
from pycxl.ndctl.lib import Ctx, Dimm
from pycxl.util import jsonc
from pycxl.util.human import hex_value, size_value
from pycxl.util.log import LOG_DEBUG, Log
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
READ_OPTIONS = [
    *BASE_OPTIONS,
    Opt("s", "size", "uinteger", "number of label bytes to operate"),
    Opt("O", "offset", "uinteger", "offset into the label area to start operation"),
    Opt("o", "output", "filename", "filename to write label area contents", argh="output-file"),
    Opt("j", "json", "bool", "parse label data into json"),
    Opt("u", "human", "bool", "use human friendly number formats (implies --json)"),
    Opt("I", "index", "bool", "limit read to the index block area"),
]
USAGE = {
    "read-labels": "ndctl read-labels <nmem0> [<nmem1>..<nmemN>] [-o <filename>]",
    "check-labels": "ndctl check-labels <nmem0> [<nmem1>..<nmemN>] [<options>]",
}

NSINDEX_ALIGN = 256
NSINDEX_HEADER = 72
_INDEX = struct.Struct("<16s3sBIQQQQIHHQ")
_EFI_LABEL = struct.Struct("<16s64sIHHQQQQIB3s16s16s88sQ")


# -- the label area ----------------------------------------------------------------------------


def _memdev_of(dimm: Dimm) -> Any:
    """The libcxl memdev behind a CXL DIMM, or None."""
    from pycxl.cxl.lib.ctx import Ctx as CxlCtx

    provider = dimm.attr("cxl/provider")
    if not provider:
        return None
    try:
        path = dimm.sysfs.realpath(f"/sys/bus/cxl/devices/{provider}/..")
    except OSError:
        return None
    return CxlCtx(dimm.sysfs, Log("libcxl", "CXL_LOG")).memdev_named(os.path.basename(path))


def read_area(dimm: Dimm, offset: int, size: int) -> bytes | int:
    """``size`` bytes of the DIMM's label area from ``offset`` (0: the rest of the area),
    or -errno."""
    from pycxl.cxl.lib.mbox_cmds import LSA_READ, lsa_op

    memdev = _memdev_of(dimm)
    if memdev is None:
        return -errno.ENXIO
    total = memdev.lsa_size
    if not size:
        size = max(0, total - offset)
    buf = bytearray(size)
    rc = lsa_op(memdev, LSA_READ, buf, size, offset)
    return rc if rc < 0 else bytes(buf)


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


def _valid(block: bytes, which: int, size: int, label_size: int, config_size: int) -> bool:
    sig, _, lsize, seq, myoff, mysize, otheroff, _, nslot, major, minor, csum = _INDEX.unpack_from(
        block
    )
    version = major * 100 + minor
    actual = 1 << (7 + lsize) if version >= 102 else 128
    zeroed = block[:64] + b"\0" * 8 + block[72:size]
    return (
        sig == b"NAMESPACE_INDEX\0"
        and actual == label_size
        and _fletcher64(zeroed) == csum
        and seq & 3 != 0
        and myoff == which * size
        and otheroff == (1 - which) * size
        and NSINDEX_HEADER <= mysize <= size
        and nslot * label_size + 2 * size <= config_size
    )


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


def _dimms(ctx: Ctx, args: list[str], bus_ident: str | None) -> list[Dimm]:
    wanted = None if "all" in args else set(args)
    found = []
    for bus in ctx.buses():
        if not bus_matches(bus, bus_ident):
            continue
        for dimm in bus.dimms():
            if wanted is None or dimm.devname in wanted:
                found.append(dimm)
    return found


def _valid_names(cmd: str, args: list[str]) -> list[str] | None:
    valid = []
    for arg in args:
        if arg == "all" or (arg.startswith("nmem") and arg[4:].isdigit()):
            valid.append(arg)
        else:
            sys.stderr.write(f"'{arg}' is not a valid dimm name\n")
    return valid or None


def cmd_labels(cmd: str, argv: list[str], sysfs: Sysfs) -> int:
    options = READ_OPTIONS if cmd == "read-labels" else BASE_OPTIONS
    usage = [USAGE[cmd]]
    try:
        parsed, args = parse_options(argv, options, usage)
    except UsageExit as e:
        return e.emit()
    opts: dict[str, Any] = dict(parsed)
    problem = ""
    if cmd == "read-labels":
        if opts["human"]:
            opts["json"] = True
        if opts["json"] and (opts["size"] or opts["offset"]):
            problem = "--size and --offset are incompatible with --json\n"
        elif opts["index"] and opts["size"]:
            problem = "pick either --size, or --index, not both\n"
    names = _valid_names(cmd, args) if not problem else None
    if problem or names is None:
        sys.stderr.write(problem + usage_text(usage, options))
        return 129
    log = Log("libndctl", "NDCTL_LOG")
    if opts["verbose"]:
        log.priority = LOG_DEBUG
    out: BinaryIO | None = None
    count, failed = 0, False
    if cmd == "read-labels" and opts["output"] is not None:
        try:
            out = open(opts["output"], "wb")  # noqa: SIM115 - kept for the run
        except OSError as e:
            reason = os.strerror(e.errno or errno.EIO)
            sys.stderr.write(f"failed to open: {opts['output']}: ({reason})\n")
            sys.stderr.write("read 0 nmem\n")
            return 1
    ctx = Ctx(sysfs, log)
    jdimms: list[Any] = []
    for dimm in _dimms(ctx, names, opts["bus"]):
        rc = _one(cmd, dimm, opts, out, jdimms)
        if rc < 0:
            failed = True
        else:
            count += 1
    if out is not None:
        out.close()
    if jdimms:
        human = bool(opts["human"]) or sys.stdout.isatty()
        shown: Any = jdimms[0] if human and len(jdimms) == 1 else jdimms
        sys.stdout.write(jsonc.dumps(shown) + "\n")
    if cmd == "read-labels":
        sys.stderr.write(f"read {count} nmem{'s' if count > 1 else ''}\n")
    else:
        plural = "s" if count > 1 else ""
        sys.stderr.write(f"successfully verified {count} nmem label{plural}\n")
    return 1 if failed and count == 0 else 0


def _one(
    cmd: str, dimm: Dimm, opts: dict[str, Any], out: BinaryIO | None, jdimms: list[Any]
) -> int:
    if cmd == "check-labels":
        memdev = _memdev_of(dimm)
        if memdev is None:
            return -errno.ENXIO
        # Only the index blocks are read (as sized for 128-byte labels, the larger).
        area = read_area(dimm, 0, 2 * index_size(memdev.lsa_size, 128)[0])
        if isinstance(area, int):
            return area
        if find_index(area, memdev.lsa_size) is None:
            dimm.ctx.log.dbg("__action_init", f"{dimm.devname}: no valid index found\n")
            return -errno.ENODEV
        return 0
    memdev = _memdev_of(dimm)
    if memdev is None:
        return -errno.ENXIO
    offset, size = opts["offset"], opts["size"]
    if opts["index"]:
        # The index blocks as sized for 128-byte labels (they cover 256-byte ones too).
        offset, size = 0, 2 * index_size(memdev.lsa_size, 128)[0]
    data = read_area(dimm, offset, size)
    if isinstance(data, int):
        return data
    if opts["json"]:
        human = bool(opts["human"])
        jdimms.append(dimm_label_json(dimm, data, memdev.lsa_size, bool(opts["index"]), human))
    elif out is not None:
        out.write(data)
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    return 0
