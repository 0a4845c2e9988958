"""Where a pmem block device's bytes live on its memdevs' media.

The path a real machine takes, step by step:

1. block device offset -> namespace offset. raw (``pmemN``): the same offset. fsdax
   (``pmemN`` of a pfn claim): after the info block and the page map the pfn device
   reserves, the offset ``namespaces.pfn_offset`` computes (the data range the kernel
   exposes; what ``namespaces.pfn_end_trunc`` trims at the end is not exposed). sector
   (``pmemNs``, a btt): a simple model, not the btt's real map: logical block ``i`` is
   stored linearly in the arena's data area, the internal block ``i`` (the btt's internal
   lba size, 64-byte aligned), which starts after the arena's first info block (at the
   namespace's first byte for the BTT2 a CXL namespace gets, 4 KiB in for a version 1.1
   btt: ``namespaces.btt_initial_offset``). The free-block rotation and the map of a real
   btt are not modeled: what a sector written through the disk reads back is right, what
   lands on the media is not the btt's layout.
2. namespace offset -> nd region offset: a namespace's extents are offsets in each
   mapping; extent ``[o, n]`` is the region's bytes ``[o * ways, (o + n) * ways)``.
3. nd region offset -> HPA: the nd region starts where the CXL region does.
4. HPA -> (position, DPA) by the region's interleave (kernel.interleave), then the
   position's endpoint decoder's DPA base and its memdev.

The media itself is data, not kernel state: fake_sysfs.media keeps it in files named by
``media_name``. The kernel state only records when each memdev's media was last erased
(``Memdev.erased_at``, set when a sanitize or secure erase completes), so that the media
layer can drop what was written before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from fake_sysfs.kernel import interleave
from fake_sysfs.kernel.namespaces import (
    BTT_PG_SIZE,
    INT_LBASIZE_ALIGNMENT,
    btt_initial_offset,
    btt_nlba,
    disk_of,
    disk_size_show,
    ns_size,
    ns_start,
    pfn_offset,
)

if TYPE_CHECKING:
    from fake_sysfs.kernel.core import Device
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9:._-]*")


def media_name(mem: Memdev) -> str:
    """The name of a memdev's media: its hardware device's (``0000:0d:00.0``,
    ``cxl_mem.0``), which a reboot of the platform gives the same device again, whatever
    memdev number it gets."""
    name = mem.parent.rpartition("/")[2]
    if not _SAFE_NAME.fullmatch(name) or "@" in name:
        name = "dev-" + "".join(c if c.isalnum() else "_" for c in mem.parent)
    return name


@dataclass(frozen=True)
class Member:
    """One member of the region: its media and the DPA its endpoint decoder starts at."""

    media: str
    dpa_base: int
    #: ``Memdev.erased_at``: content written before this wall-clock time is gone.
    erased_at: float


@dataclass(frozen=True)
class Piece:
    """A run of bytes contiguous on one member's media."""

    member: int  # position in the region
    dpa: int
    length: int


@dataclass(frozen=True)
class Geometry:
    """A block device's address map, computed from the kernel state once and then used
    for any number of reads and writes without it."""

    size: int
    #: nd region bytes ``[start, start + length)`` the namespace occupies, in order.
    extents: tuple[tuple[int, int], ...]
    region_start: int
    decode: interleave.Interleave
    members: tuple[Member, ...]
    #: fsdax / raw: where the data starts in the namespace.
    data_offset: int = 0
    #: sector: the visible sector size and its internal (stored) block size; 0 otherwise.
    sector: int = 0
    internal_block: int = 0

    def pieces(self, offset: int, length: int) -> list[Piece]:
        """Where bytes ``[offset, offset + length)`` of the device live (the caller keeps
        the range inside ``size``), split wherever the media address jumps."""
        out: list[Piece] = []
        while length > 0:
            ns_offset, run = self._namespace_offset(offset, length)
            region_offset, run = self._region_offset(ns_offset, run)
            hpa = self.region_start + region_offset
            run = min(run, self.decode.run(hpa))
            position, dpa_offset = self.decode.locate(hpa)
            dpa = self.members[position].dpa_base + dpa_offset
            last = out[-1] if out else None
            if last is not None and last.member == position and last.dpa + last.length == dpa:
                out[-1] = Piece(position, last.dpa, last.length + run)
            else:
                out.append(Piece(position, dpa, run))
            offset += run
            length -= run
        return out

    def _namespace_offset(self, offset: int, length: int) -> tuple[int, int]:
        if not self.sector:
            return self.data_offset + offset, length
        block, within = divmod(offset, self.sector)
        stored = self.data_offset + block * self.internal_block + within
        return stored, min(length, self.sector - within)

    def _region_offset(self, ns_offset: int, length: int) -> tuple[int, int]:
        for start, size in self.extents:
            if ns_offset < size:
                return start + ns_offset, min(length, size - ns_offset)
            ns_offset -= size
        raise ValueError("offset past the namespace")  # the caller bounds the range


def find_disk(k: Kernel, name: str) -> Device | None:
    """The registered block device ``name`` (``pmem0``, ``pmem0.1s``)."""
    for dev in k.devices.values():
        if dev.devclass == "block" and dev.name == name and dev.type == "nd_disk":
            return dev
    return None


def disk_bytes(k: Kernel, dev: Device) -> int:
    """The block device's capacity in bytes (``/sys/block/NAME/size`` x 512)."""
    return disk_size_show(k, disk_of(k, dev)) * 512


def geometry(k: Kernel, dev: Device) -> Geometry | None:
    """The address map of block device ``dev``; None when its region does not decode
    (not committed, a member missing), where a real disk could not be there either."""
    nd, ns, claim = disk_of(k, dev)
    region = k.regions.get(nd.id)
    if region is None or region.start is None or region.state != "commit":
        return None
    ways = nd.ways
    members = []
    for name in region.targets:
        port_id, _, index = name[len("decoder") :].partition(".")
        port = k.ports.get(int(port_id)) if port_id.isdigit() else None
        if port is None or not index.isdigit() or int(index) >= len(port.decoders):
            return None
        dec = port.decoders[int(index)]
        mem = k.memdevs.get(port.memdev) if port.memdev is not None else None
        if mem is None or dec.dpa_base is None:
            return None
        members.append(Member(media_name(mem), dec.dpa_base, mem.erased_at))
    extents = tuple((offset * ways, size * ways) for offset, size in ns.extents)
    geo = Geometry(
        size=disk_bytes(k, dev),
        extents=extents,
        region_start=nd.start,
        decode=interleave.of_region(k, region),
        members=tuple(members),
    )
    if claim is None:
        return geo
    if claim.kind == "btt":
        lbasize = claim.sector_size or 4096
        internal = -(-lbasize // INT_LBASIZE_ALIGNMENT) * INT_LBASIZE_ALIGNMENT
        sector = 4096 if lbasize >= 4096 else 512
        # Blocks of 520, 528 ... bytes keep 512 (or 4096) visible: never more blocks than
        # the arena holds, whatever size the disk reports.
        offset = btt_initial_offset(ns)
        nlba = btt_nlba(ns_size(nd, ns) - offset, lbasize)
        return replace(
            geo,
            size=min(geo.size, nlba * sector),
            data_offset=offset + BTT_PG_SIZE,
            sector=sector,
            internal_block=internal,
        )
    offset = pfn_offset(ns_size(nd, ns), ns_start(nd, ns), claim.mode, claim.align)
    return replace(geo, data_offset=offset)


def disk_geometry(k: Kernel, name: str) -> Geometry | None:
    """The address map of the block device called ``name``; None when there is none."""
    dev = find_disk(k, name)
    return None if dev is None else geometry(k, dev)


def disk_sizes(k: Kernel) -> dict[str, int]:
    """Every pmem block device's capacity in bytes, by name."""
    return {
        dev.name: disk_bytes(k, dev)
        for dev in k.devices.values()
        if dev.devclass == "block" and dev.type == "nd_disk"
    }
