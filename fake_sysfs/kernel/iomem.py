"""``/proc/iomem``: the kernel's tree of physical memory resources, as far as the emulated
platform has them.

Top level: the boot RAM spans (``System RAM``), the CXL windows (``CXL Window N``, as
cxl_acpi names them, one per root decoder) and soft-reserved memory (``Soft Reserved``,
holding what device_dax or kmem requested of it, named after the DAX device). Below a
window: its regions that hold an HPA range (``regionN``). Below a RAM region: the ranges
kmem reserved (``daxN.M``), each with its hot-added memory below it (``System RAM
(kmem)``). Memory kmem could not give back stays listed until reboot, as on a real
machine.

The file is not part of /sys: a frontend that serves it (the FUSE mount, ``fake-sysfs
run``, ``fake-sysfs show``) calls ``render``. Like the kernel, the text shows the addresses
to an administrator only (``render(k, privileged=False)`` zeroes them, as the kernel does
for a reader without CAP_SYS_ADMIN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fake_sysfs.kernel.hmem import iomem_children
from fake_sysfs.platform.model import GiB

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


@dataclass
class Resource:
    start: int
    #: Inclusive, as struct resource.
    end: int
    name: str
    children: list[Resource] = field(default_factory=list)


def _boot_ram(k: Kernel) -> list[Resource]:
    ram = k.platform.system_ram
    low = ram if ram < 0xB000_0000 else 2 * GiB
    spans = [(0, low), (4 * GiB, ram - low)]
    return [Resource(s, s + n - 1, "System RAM") for s, n in spans if n > 0]


def _kmem(k: Kernel, start: int, end: int) -> list[Resource]:
    out = []
    for r in sorted(k.memory.kmem, key=lambda r: r.start):
        last = r.start + r.size - 1
        if start <= r.start and last <= end:
            ram = Resource(r.start, last, "System RAM (kmem)")
            out.append(Resource(r.start, last, r.name, [ram]))
    return out


def tree(k: Kernel) -> list[Resource]:
    """The top-level resources, each with its children, in address order."""
    top = _boot_ram(k)
    root = k.root()
    placed: list[tuple[int, int]] = []
    if root is not None:
        for dec in root.decoders:
            if dec.kind != "root" or not dec.size:
                continue
            window = Resource(dec.start, dec.start + dec.size - 1, f"CXL Window {dec.index}")
            for region in sorted(k.regions.values(), key=lambda r: r.start or 0):
                if region.start is None or region.root_decoder != dec.index:
                    continue
                end = region.start + region.size - 1
                res = Resource(region.start, end, region.name)
                if region.mode == "ram":
                    res.children = _kmem(k, region.start, end)
                placed.append((region.start, end))
                window.children.append(res)
            top.append(window)
    for sr in k.platform.soft_reserved:
        end = sr.start + sr.size - 1
        held = [Resource(s, e, name) for s, e, name in iomem_children(k, sr.start, end)]
        children = sorted(held + _kmem(k, sr.start, end), key=lambda r: r.start)
        top.append(Resource(sr.start, end, "Soft Reserved", children))
        placed.append((sr.start, end))
    # kmem ranges that no region holds any more (its region was torn down while the
    # memory stayed online) are still reserved.
    for res in _kmem(k, 0, (1 << 64) - 1):
        if not any(s <= res.start and res.end <= e for s, e in placed):
            top.append(res)
    return sorted(top, key=lambda r: r.start)


def render(k: Kernel, privileged: bool = True) -> str:
    """The text of /proc/iomem (``%0*llx-%0*llx : name``, two spaces per level)."""
    lines: list[str] = []

    def emit(res: Resource, depth: int) -> None:
        start, end = (res.start, res.end) if privileged else (0, 0)
        lines.append(f"{'  ' * depth}{start:08x}-{end:08x} : {res.name}\n")
        for child in res.children:
            emit(child, depth + 1)

    for res in tree(k):
        emit(res, 0)
    return "".join(lines)
