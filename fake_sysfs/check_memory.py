"""``fake-sysfs check``, the RAM side: DAX devices, memory blocks and NUMA nodes, read back
from /sys as a tool reads them.

* a DAX device's ``mappingN`` ranges add up to its ``size``, lie inside its CXL region's
  range, and no two ranges of a region overlap; the region's ``available_size`` is what the
  devices leave;
* a device bound to kmem has every memory block its ranges fully cover, on its target node;
* each ``memoryN`` has ``phys_index`` N, ``state`` and ``online`` agree, and it sits in
  exactly the node directory its ``nodeK`` link names;
* the node masks: ``online`` lists exactly the node directories, ``has_memory`` the nodes
  with an online block, ``has_normal_memory`` is part of it, and each node's MemTotal is
  its online blocks' size.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from typing import TYPE_CHECKING

from fake_sysfs.errors import KernfsError

if TYPE_CHECKING:
    from fake_sysfs.check import Report, View

DAX = "/sys/bus/dax/devices"
MEMORY = "/sys/devices/system/memory"
NODE = "/sys/devices/system/node"


def _text(view: View, path: str) -> str | None:
    try:
        return view.read(path).decode(errors="replace").rstrip("\n")
    except KernfsError:
        return None


def _listdir(view: View, path: str) -> list[str]:
    try:
        return view.listdir(path)
    except KernfsError:
        return []


def _mask(text: str | None) -> set[int]:
    out: set[int] = set()
    for part in (text or "").split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def check_memory(view: View, report: Report) -> None:
    block_size = int(_text(view, f"{MEMORY}/block_size_bytes") or "0", 16)
    kmem_blocks = _dax(view, block_size, report)
    _blocks(view, block_size, kmem_blocks, report)


def _dax(view: View, block_size: int, report: Report) -> dict[int, int]:
    """The DAX checks; returns the blocks kmem devices need, with their target node."""
    by_region: dict[str, list[tuple[int, int, str]]] = {}
    needed: dict[int, int] = {}
    for name in _listdir(view, DAX):
        path = view.realpath(f"{DAX}/{name}")
        ranges = []
        index = 0
        while (start_text := _text(view, f"{path}/mapping{index}/start")) is not None:
            end_text = _text(view, f"{path}/mapping{index}/end") or "0"
            ranges.append((int(start_text, 16), int(end_text, 16)))
            index += 1
        size = int(_text(view, f"{path}/size") or "0")
        if sum(e - s + 1 for s, e in ranges) != size:
            report.add(f"{name}: mappings do not add up to size {size}")
        # .../regionN/dax_regionN/daxN.M
        by_region.setdefault(path.rsplit("/", 1)[0], []).extend((s, e, name) for s, e in ranges)
        driver = ""
        with contextlib.suppress(KernfsError):
            driver = view.realpath(f"{path}/driver").rsplit("/", 1)[1]
        node = int(_text(view, f"{path}/target_node") or "-1")
        if driver == "kmem" and block_size:
            for s, e in ranges:
                first = -(-s // block_size)
                for index in range(first, (e + 1) // block_size):
                    needed[index] = node
    for dax_region, allocated in by_region.items():
        region_dir = dax_region.rsplit("/", 1)[0]
        resource = _text(view, f"{region_dir}/resource")
        base = int(resource or "0", 0)
        length = int(_text(view, f"{region_dir}/size") or "0", 0)
        allocated.sort()
        for first, last, name in allocated:
            # dax_hmem's regions (hmem.N) show no start in sysfs: nothing to check against.
            if resource is not None and (first < base or last >= base + length):
                report.add(f"{name}: range {first:#x}-{last:#x} outside its region")
        for (_, e1, n1), (s2, _, n2) in itertools.pairwise(allocated):
            if s2 <= e1:
                report.add(f"{n1} and {n2}: ranges overlap at {s2:#x}")
        available = _text(view, f"{dax_region}/dax_region/available_size")
        total = _text(view, f"{dax_region}/dax_region/size")
        if available is not None and total is not None:
            used = sum(e - s + 1 for s, e, _ in allocated)
            if int(available) != int(total) - used:
                report.add(f"{dax_region}: available_size {available} but {used} allocated")
    return needed


def _blocks(view: View, block_size: int, needed: dict[int, int], report: Report) -> None:
    nodes = {int(n[4:]) for n in _listdir(view, NODE) if re.fullmatch(r"node\d+", n)}
    online_bytes: dict[int, int] = dict.fromkeys(nodes, 0)
    with_online: set[int] = set()
    present: dict[int, int] = {}
    for name in _listdir(view, MEMORY):
        if not re.fullmatch(r"memory\d+", name):
            continue
        index = int(name[6:])
        path = f"{MEMORY}/{name}"
        if int(_text(view, f"{path}/phys_index") or "-1", 16) != index:
            report.add(f"{name}: phys_index is not {index:08x}")
        state, online = _text(view, f"{path}/state"), _text(view, f"{path}/online")
        if (state == "online") != (online == "1"):
            report.add(f"{name}: state {state} but online {online}")
        links = [n for n in _listdir(view, path) if re.fullmatch(r"node\d+", n)]
        if len(links) != 1:
            report.add(f"{name}: {len(links)} node links")
            continue
        node = int(links[0][4:])
        present[index] = node
        if f"memory{index}" not in _listdir(view, f"{NODE}/node{node}"):
            report.add(f"{name}: node{node} does not list it")
        if state == "online":
            with_online.add(node)
            online_bytes[node] = online_bytes.get(node, 0) + block_size
    for index, node in sorted(needed.items()):
        if present.get(index) != node:
            report.add(f"memory{index}: kmem's block missing or not on node{node}")
    if _mask(_text(view, f"{NODE}/online")) != nodes:
        report.add("node/online does not list exactly the node directories")
    if _mask(_text(view, f"{NODE}/has_memory")) != with_online:
        report.add("node/has_memory is not the set of nodes with online memory")
    if not _mask(_text(view, f"{NODE}/has_normal_memory")) <= with_online:
        report.add("node/has_normal_memory lists a node without online memory")
    for node in sorted(nodes):
        meminfo = _text(view, f"{NODE}/node{node}/meminfo") or ""
        found = re.search(r"MemTotal:\s+(\d+) kB", meminfo)
        if found is None or int(found[1]) * 1024 != online_bytes.get(node, 0):
            report.add(f"node{node}: MemTotal is not the size of its online blocks")
