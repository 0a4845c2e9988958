"""``fake-sysfs check``: the invariants a kernel state must keep, read back from its /sys.

The checks read the tree exactly as a user or a tool would (the view's paths and bytes),
so they judge what the emulated kernel shows rather than how it stores it, and they say
nothing that a program reading /sys could not see:

* every symbolic link resolves;
* no two DPA allocations of one device overlap, and each lies in the partition its
  decoder's mode names;
* every region's HPA range lies inside its window, and no two regions of a window overlap;
* every decoder a region uses is programmed for it: the endpoint decoder at each position
  names the region, sits at one position only, holds ``size / ways`` of DPA, and once the
  region is committed decodes the region's range with its ways and granularity; a switch
  or host-bridge decoder naming a region decodes that region's range;
* a committed region's decoders are all committed, in order: each one's id is below its
  port's ``decoders_committed``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from fake_sysfs.check_memory import check_memory
from fake_sysfs.check_nd import check_nd
from fake_sysfs.errors import KernfsError, kerr

CXL = "/sys/bus/cxl/devices"
T = TypeVar("T")
_NO_RESOURCE = (1 << 64) - 1


class _Stat(Protocol):
    @property
    def mode(self) -> int: ...


class View(Protocol):
    """What the checks read: the kernfs view, or a directory of files (FileView)."""

    def listdir(self, path: str) -> list[str]: ...
    def lstat(self, path: str) -> _Stat: ...
    def read(self, path: str) -> bytes: ...
    def realpath(self, path: str) -> str: ...


class _FileStat:
    __slots__ = ("mode",)

    def __init__(self, mode: int) -> None:
        self.mode = mode


class FileView:
    """A /sys given as a directory (a real /sys, an export, a mount): paths below /sys map
    to ``root``; a link that leads out of it does not resolve."""

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def _host(self, path: str) -> str:
        return self.root + path[len("/sys") :]

    def _call(self, fn: Callable[[str], T], path: str) -> T:
        try:
            return fn(self._host(path))
        except OSError as e:
            raise kerr(e.errno or errno.EIO, path) from None

    def listdir(self, path: str) -> list[str]:
        return sorted(self._call(os.listdir, path))

    def lstat(self, path: str) -> _Stat:
        return _FileStat(self._call(os.lstat, path).st_mode)

    def read(self, path: str) -> bytes:
        return self._call(_read_attribute, path)

    def realpath(self, path: str) -> str:
        host = os.path.realpath(self._host(path))
        inside = host == self.root or host.startswith(self.root + "/")
        if not inside or not os.path.exists(host):
            raise kerr(errno.ENOENT, path)
        return "/sys" + host[len(self.root) :]


def _read_attribute(host: str) -> bytes:
    """One read of a regular file; anything else (a FIFO would block) is refused."""
    fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENXIO, "not an attribute")
        return os.read(fd, 4096)
    finally:
        os.close(fd)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    links: int = 0
    decoders: int = 0
    regions: int = 0

    def add(self, problem: str) -> None:
        self.problems.append(problem)


def check(view: View) -> Report:
    report = Report()
    _links(view, "/sys", report)
    names = view.listdir(CXL)
    decoders = {n: _attrs(view, n) for n in names if n.startswith("decoder")}
    regions = {n: _attrs(view, n) for n in names if n.startswith("region")}
    report.decoders, report.regions = len(decoders), len(regions)
    _dpa(view, decoders, report)
    _hpa(view, regions, decoders, report)
    _programming(view, regions, decoders, report)
    check_memory(view, report)
    check_nd(view, report)
    return report


# -- reading -----------------------------------------------------------------------------------


def _attrs(view: View, name: str) -> dict[str, str]:
    """The readable attributes of a cxl device, as text without the newline."""
    path = f"{CXL}/{name}"
    values: dict[str, str] = {}
    for attr in view.listdir(path):
        try:
            if stat.S_ISREG(view.lstat(f"{path}/{attr}").mode):
                values[attr] = view.read(f"{path}/{attr}").decode(errors="replace").rstrip("\n")
        except KernfsError:
            continue  # write-only or not readable: nothing to check
    return values


def _int(values: dict[str, str], key: str) -> int:
    try:
        return int(values.get(key, "0"), 0)
    except ValueError:
        return 0


def _links(view: View, path: str, report: Report) -> None:
    for name in view.listdir(path):
        child = f"{path}/{name}"
        mode = view.lstat(child).mode
        if stat.S_ISLNK(mode):
            report.links += 1
            try:
                view.realpath(child)
            except KernfsError as e:
                report.add(f"{child}: link does not resolve ({e.strerror})")
        elif stat.S_ISDIR(mode):
            _links(view, child, report)


def _port_of(decoder: str) -> str:
    return decoder[len("decoder") :].split(".")[0]


def _index_of(decoder: str) -> int:
    return int(decoder.split(".")[1])


# -- DPA ---------------------------------------------------------------------------------------


def _dpa(view: View, decoders: dict[str, dict[str, str]], report: Report) -> None:
    by_port: dict[str, list[tuple[int, int, str]]] = {}
    for name, values in decoders.items():
        size = _int(values, "dpa_size")
        if "dpa_resource" not in values or size == 0:
            continue
        base = _int(values, "dpa_resource")
        by_port.setdefault(_port_of(name), []).append((base, size, name))
        memdev = _memdev_of(view, name)
        if memdev is None:
            continue
        ram = _int(memdev, "ram/size")
        pmem = _int(memdev, "pmem/size")
        low, high = (0, ram) if values.get("mode") == "ram" else (ram, ram + pmem)
        if values.get("mode") in ("ram", "pmem") and not (low <= base and base + size <= high):
            report.add(
                f"{name}: DPA {base:#x}+{size:#x} lies outside the {values['mode']} "
                f"partition {low:#x}-{high:#x}"
            )
    for allocations in by_port.values():
        for (a_base, a_size, a), (b_base, _, b) in _pairs(sorted(allocations)):
            if b_base < a_base + a_size:
                report.add(f"{a} and {b}: DPA allocations overlap")


def _memdev_of(view: View, decoder: str) -> dict[str, str] | None:
    """The memdev whose endpoint holds ``decoder``: ram/size and pmem/size."""
    try:
        uport = view.realpath(f"{CXL}/endpoint{_port_of(decoder)}/uport")
    except KernfsError:
        return None
    values = {}
    for key in ("ram/size", "pmem/size"):
        try:
            values[key] = view.read(f"{uport}/{key}").decode().strip()
        except KernfsError:
            values[key] = "0"
    return values


def _pairs(items: list[tuple[int, int, str]]) -> Iterator[tuple[tuple[int, int, str], ...]]:
    for i in range(len(items) - 1):
        yield items[i], items[i + 1]


# -- HPA ---------------------------------------------------------------------------------------


def _root_decoder_of(view: View, region: str) -> str:
    return view.realpath(f"{CXL}/{region}").rsplit("/", 2)[-2]


def _hpa(
    view: View,
    regions: dict[str, dict[str, str]],
    decoders: dict[str, dict[str, str]],
    report: Report,
) -> None:
    by_window: dict[str, list[tuple[int, int, str]]] = {}
    for name, values in regions.items():
        size, base = _int(values, "size"), _int(values, "resource")
        if size == 0 or base == _NO_RESOURCE:
            continue
        root = _root_decoder_of(view, name)
        window = decoders.get(root, {})
        w_base, w_size = _int(window, "start"), _int(window, "size")
        if not (w_base <= base and base + size <= w_base + w_size):
            report.add(
                f"{name}: HPA {base:#x}+{size:#x} lies outside window {root} "
                f"{w_base:#x}+{w_size:#x}"
            )
        by_window.setdefault(root, []).append((base, size, name))
    for allocations in by_window.values():
        for (a_base, a_size, a), (b_base, _, b) in _pairs(sorted(allocations)):
            if b_base < a_base + a_size:
                report.add(f"{a} and {b}: HPA ranges overlap")


# -- decoder programming and commit order ------------------------------------------------------


def _programming(
    view: View,
    regions: dict[str, dict[str, str]],
    decoders: dict[str, dict[str, str]],
    report: Report,
) -> None:
    seen: dict[str, str] = {}  # endpoint decoder -> where it was met
    for name, values in regions.items():
        ways, size = _int(values, "interleave_ways"), _int(values, "size")
        targets = [values.get(f"target{pos}", "") for pos in range(ways)]
        for pos, target in enumerate(targets):
            if not target:
                continue
            where = f"{name} target{pos}"
            if target in seen:
                report.add(f"{target}: used at {seen[target]} and at {where}")
            seen[target] = where
            dec = decoders.get(target)
            if dec is None:
                report.add(f"{where}: names {target}, which does not exist")
                continue
            if dec.get("region") != name:
                report.add(f"{where}: {target} names region {dec.get('region')!r}")
            if ways and _int(dec, "dpa_size") * ways != size:
                report.add(f"{where}: {target} holds {_int(dec, 'dpa_size'):#x} of DPA, "
                           f"not {size:#x} / {ways}")  # fmt: skip
            if values.get("commit") == "1":
                # Only a committed region is sure to be validated: a failed validation of
                # the last target leaves every target recorded, some decoders unprogrammed.
                _decodes(report, target, dec, values, ways)
        if values.get("commit") == "1":
            _committed_in_order(view, name, targets, decoders, report)
    for name, dec in decoders.items():
        owner = dec.get("region", "")
        if "target_list" not in dec or not owner or "dpa_resource" in dec:
            continue
        if owner not in regions:
            report.add(f"{name}: names region {owner}, which does not exist")
        elif _int(dec, "size"):
            region = regions[owner]
            if (_int(dec, "start"), _int(dec, "size")) != (
                _int(region, "resource"),
                _int(region, "size"),
            ):
                report.add(f"{name}: does not decode the range of {owner}")


def _decodes(
    report: Report, target: str, dec: dict[str, str], region: dict[str, str], ways: int
) -> None:
    want = (_int(region, "resource"), _int(region, "size"), ways)
    have = (_int(dec, "start"), _int(dec, "size"), _int(dec, "interleave_ways"))
    if have != want:
        report.add(
            f"{target}: decodes {have[0]:#x}+{have[1]:#x} x{have[2]}, its region "
            f"{want[0]:#x}+{want[1]:#x} x{want[2]}"
        )
    if dec.get("interleave_granularity") != region.get("interleave_granularity"):
        report.add(f"{target}: granularity differs from its region's")


def _committed_in_order(
    view: View,
    region: str,
    targets: list[str],
    decoders: dict[str, dict[str, str]],
    report: Report,
) -> None:
    used = [t for t in targets if t]
    used += [n for n, d in decoders.items() if d.get("region") == region and n not in used]
    for name in used:
        port = _port_of(name)
        kind = "endpoint" if "dpa_resource" in decoders.get(name, {}) else "port"
        try:
            raw = view.read(f"{CXL}/{kind}{port}/decoders_committed")
        except KernfsError:
            continue  # host-bridge ports are not on the bus under a port name
        if _index_of(name) >= int(raw.decode().strip() or 0):
            report.add(f"{region} is committed but {name} is not (port {port})")
