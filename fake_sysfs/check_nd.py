"""``fake-sysfs check``, the PMEM side: nd regions, namespaces and their claims, read back
from /sys as ndctl reads them.

* an nd region's size is the sum of its mappings, each naming a DIMM of the bus, and it is
  the size of the CXL region of the same id;
* every sized namespace is a multiple of the region's ``align``, lies inside the region's
  range, and no two namespaces overlap; an enabled region's ``available_size`` is what
  the namespaces leave;
* a btt / pfn / nd dax device's ``namespace`` names a namespace of its region, no
  namespace has two claims, and the namespace's ``holder`` names its claim;
* every seed names a device of the region;
* an enabled raw namespace, pfn or btt holds exactly one block device, disabled ones none.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING

from fake_sysfs.errors import KernfsError

if TYPE_CHECKING:
    from fake_sysfs.check import Report, View

ND = "/sys/bus/nd/devices"
CXL = "/sys/bus/cxl/devices"


def _text(view: View, path: str) -> str | None:
    try:
        return view.read(path).decode(errors="replace").rstrip("\n")
    except KernfsError:
        return None


def _number(view: View, path: str) -> int | None:
    text = _text(view, path)
    try:
        return None if text is None else int(text, 0)
    except ValueError:
        return None


def _listdir(view: View, path: str) -> list[str]:
    try:
        return view.listdir(path)
    except KernfsError:
        return []


def _bound(view: View, path: str) -> bool:
    try:
        view.lstat(f"{path}/driver")
    except KernfsError:
        return False
    return True


def check_nd(view: View, report: Report) -> None:
    names = _listdir(view, ND)
    for region in (n for n in names if re.fullmatch(r"region\d+", n)):
        _region(view, region, set(names), report)


def _region(view: View, region: str, names: set[str], report: Report) -> None:
    path = f"{ND}/{region}"
    size = _number(view, f"{path}/size") or 0
    count = _number(view, f"{path}/mappings") or 0
    total = 0
    for i in range(count):
        text = _text(view, f"{path}/mapping{i}") or ""
        parts = text.split(",")
        if len(parts) != 4 or parts[0] not in names:
            report.add(f"{region}: mapping{i} '{text}' names no DIMM of the bus")
            continue
        total += int(parts[2])
    if total != size:
        report.add(f"{region}: size {size} is not the sum of its mappings ({total})")
    cxl_size = _number(view, f"{CXL}/{region}/size")
    if cxl_size is not None and cxl_size != size:
        report.add(f"{region}: size {size} differs from the CXL region's {cxl_size}")
    align = _number(view, f"{path}/align") or 1
    start = _number(view, f"{path}/resource") or 0
    entries = _listdir(view, path)
    spans: list[tuple[int, int, str]] = []
    allocated = 0
    for ns in (e for e in entries if e.startswith("namespace")):
        ns_size = _number(view, f"{path}/{ns}/size") or 0
        if not ns_size:
            continue
        allocated += ns_size
        if ns_size % align:
            report.add(f"{ns}: size {ns_size:#x} is not a multiple of {region} align {align:#x}")
        base = _number(view, f"{path}/{ns}/resource")
        if base is None or base < start or base + ns_size > start + size:
            report.add(f"{ns}: range outside {region}")
            continue
        spans.append((base, ns_size, ns))
    spans.sort()
    for (a, a_size, a_name), (b, _, b_name) in itertools.pairwise(spans):
        if a + a_size > b:
            report.add(f"{a_name} and {b_name} overlap")
    if _bound(view, path):
        available = _number(view, f"{path}/available_size") or 0
        if available != size - allocated:
            report.add(
                f"{region}: available_size {available} but namespaces leave {size - allocated}"
            )
    _claims(view, region, path, entries, report)


def _claims(view: View, region: str, path: str, entries: list[str], report: Report) -> None:
    namespaces = {e for e in entries if e.startswith("namespace")}
    claimed: dict[str, str] = {}
    for claim in (e for e in entries if re.fullmatch(r"(btt|pfn|dax)\d+\.\d+", e)):
        target = _text(view, f"{path}/{claim}/namespace") or ""
        if target and target not in namespaces:
            report.add(f"{claim}: claims {target}, not a namespace of {region}")
        elif target:
            if target in claimed:
                report.add(f"{target}: claimed by both {claimed[target]} and {claim}")
            claimed[target] = claim
        _disks(view, f"{path}/{claim}", claim, report, claim.startswith(("btt", "pfn")))
    for ns in namespaces:
        holder = _text(view, f"{path}/{ns}/holder") or ""
        if holder != claimed.get(ns, ""):
            report.add(f"{ns}: holder '{holder}' but claimed by '{claimed.get(ns, '')}'")
        _disks(view, f"{path}/{ns}", ns, report, True)
    for kind in ("namespace", "btt", "pfn", "dax"):
        seed = _text(view, f"{path}/{kind}_seed") or ""
        if seed and seed not in entries:
            report.add(f"{region}: {kind}_seed names {seed}, not a device of the region")


def _disks(view: View, path: str, name: str, report: Report, has_disk: bool) -> None:
    disks = _listdir(view, f"{path}/block")
    want = 1 if has_disk and _bound(view, path) else 0
    if len(disks) != want:
        report.add(f"{name}: {len(disks)} block devices, expected {want}")
