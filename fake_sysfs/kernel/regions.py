"""CXL regions (``regionN`` below a root decoder): state, attributes, the cxl_region driver,
hierarchy programming, and regions firmware committed before boot.

The memregion id space is global (shared with nvdimm regions): each root decoder holds the
id ``create_*_region`` offers; creating a region consumes it and the decoder takes the
lowest free id.

Binding a committed region to cxl_region gives it a child for the next driver: a RAM
region's ``dax_regionN`` (cxl_dax_region, then kmem: kernel.dax) or a PMEM region's
``pmem_regionN`` (cxl_pmem_region: kernel.nvdimm). Unbinding unregisters that child and
everything below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core
from fake_sysfs.kernel.attrs import const, not_emulated, show_only, show_store
from fake_sysfs.kernel.core import Device, DeviceType, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_REGION, cxl_driver
from fake_sysfs.kernel.decoders import Decoder, allocate_dpa
from fake_sysfs.kernfs.nodes import Attr, Node, Shown

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel
    from fake_sysfs.platform.model import Window

RegionMode = Literal["ram", "pmem"]
RegionState = Literal["idle", "interleave_active", "active", "commit"]
U64_MAX = (1 << 64) - 1
NULL_UUID = "00000000-0000-0000-0000-000000000000"


@dataclass
class Region:
    id: int
    #: The root decoder, as (port id, decoder index).
    root_port: int
    root_decoder: int
    mode: RegionMode
    uuid: str = NULL_UUID
    ways: int = 0
    granularity: int = 0
    start: int | None = None
    size: int = 0
    #: Endpoint decoder names by position ("" for an empty slot).
    targets: list[str] = field(default_factory=list)
    state: RegionState = "idle"
    #: Assembled from firmware-committed decoders.
    auto: bool = False

    @property
    def name(self) -> str:
        return f"region{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"


def region_of(k: Kernel, dev: Device) -> Region:
    """The region of ``regionN``, ``pmem_regionN`` or ``dax_regionN`` (they share N)."""
    return k.regions[int(dev.name.rpartition("region")[2])]


def root_decoder(k: Kernel, region: Region) -> Decoder:
    return k.ports[region.root_port].decoders[region.root_decoder]


def add_region(k: Kernel, region: Region) -> None:
    """Register ``region`` below its root decoder, which then offers the next free id. The
    bus probes it at once: only a committed region binds."""
    k.regions[region.id] = region
    root_decoder(k, region).next_region = lowest_free_id(k.allocated_region_ids())
    core.device_add(k, Device(region.name, root_decoder(k, region).devkey, "cxl_region", "cxl"))


def create_region(k: Kernel, root: Decoder, mode: RegionMode) -> Region:
    """What ``create_{pmem,ram}_region`` does once the written name matched the offer: a
    new idle region with the offered id (2.3)."""
    region = Region(id=root.next_region, root_port=root.port, root_decoder=root.index, mode=mode)
    add_region(k, region)
    return region


def _release(k: Kernel, dev: Device) -> None:
    region = k.regions.pop(int(dev.name[len("region") :]))
    for port in k.ports.values():
        for dec in port.decoders:
            if dec.region == region.id:
                dec.region = None
                if dec.kind != "root":
                    dec.start = dec.size = 0
    # A freed id lower than the one its root decoder offers is offered again.
    root = k.ports.get(region.root_port)
    if root is not None and region.root_decoder < len(root.decoders):
        offer = root.decoders[region.root_decoder]
        offer.next_region = min(offer.next_region, region.id)


# -- the cxl_region driver ---------------------------------------------------------------------


def cxl_region_probe(k: Kernel, dev: Device) -> None:
    """Only a committed region binds (ENXIO otherwise); it gets its pmem_region or, for RAM
    with a range, its dax_region, which their own drivers then bind."""
    region = region_of(k, dev)
    if region.state != "commit":
        raise kerr(errno.ENXIO)
    if region.mode == "pmem":
        core.device_add(k, Device(f"pmem_region{region.id}", dev.key, "cxl_pmem_region", "cxl"))
    elif region.start is not None:
        core.device_add(k, Device(f"dax_region{region.id}", dev.key, "cxl_dax_region", "cxl"))


def cxl_region_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


CXL_REGION_DRIVER = cxl_driver("cxl_region", CXL_DEVICE_REGION, cxl_region_probe, cxl_region_remove)


# -- leaving a region --------------------------------------------------------------------------


def detach_decoder(k: Kernel, dec: Decoder) -> None:
    """Endpoint decoder ``dec`` goes away (its endpoint is unregistered) and leaves its
    region (2.8): the region loses its driver, a committed region has all its decoders
    reset, ``dec`` leaves its position, and switch decoders that no remaining member
    reaches through are released. The region is back to waiting for targets."""
    region = k.regions.get(dec.region) if dec.region is not None else None
    if region is not None:
        core.device_release_driver(k, k.dev(region))
        if region.state == "commit":
            for port in k.ports.values():
                for other in port.decoders:
                    if other.region == region.id:
                        other.committed = False
            region.state = "active"
    dec.region = None
    dec.start = dec.size = 0
    if region is None:
        return
    region.targets = ["" if name == dec.name else name for name in region.targets]
    remaining = {
        port.id
        for name in region.targets
        if name
        for port in k.path_to_root(k.ports[int(name[len("decoder") :].partition(".")[0])])
    }
    for port in k.ports.values():
        if port.kind == "port" and port.id not in remaining:
            for other in port.decoders:
                if other.region == region.id:
                    other.region = None
                    other.start = other.size = 0
    if region.state == "active":
        region.state = "interleave_active"


# -- attributes --------------------------------------------------------------------------------


def commit_show(k: Kernel, region: Region) -> int:
    return int(region.state == "commit")


def commit_store(k: Kernel, region: Region, buf: bytes) -> None:
    """1 programs the region's decoders in commit order; 0 resets them (2.5)."""
    not_emulated(k, k.dev(region), "commit")


def interleave_ways_show(k: Kernel, region: Region) -> int:
    return region.ways


def interleave_ways_store(k: Kernel, region: Region, buf: bytes) -> None:
    """Ways allowed under the root decoder, before ``size`` is set (2.5)."""
    not_emulated(k, k.dev(region), "interleave_ways")


def interleave_granularity_show(k: Kernel, region: Region) -> int:
    return region.granularity


def interleave_granularity_store(k: Kernel, region: Region, buf: bytes) -> None:
    """A power of two 256..16384, the root's when it interleaves (2.5)."""
    not_emulated(k, k.dev(region), "interleave_granularity")


def resource_show(k: Kernel, region: Region) -> str:
    return f"{U64_MAX if region.start is None else region.start:#x}"


def size_show(k: Kernel, region: Region) -> str:
    return f"{region.size:#x}"


def size_store(k: Kernel, region: Region, buf: bytes) -> None:
    """Allocate (or with 0 free) the region's HPA range in its window (2.5)."""
    not_emulated(k, k.dev(region), "size")


def mode_show(k: Kernel, region: Region) -> str:
    return region.mode


def uuid_show(k: Kernel, region: Region) -> str:
    # RAM regions have no uuid: the attribute is read-only and empty.
    return region.uuid if region.mode == "pmem" else ""


def uuid_store(k: Kernel, region: Region, buf: bytes) -> None:
    """A pmem region's uuid: exactly 36 characters and a newline or NUL (2.5)."""
    not_emulated(k, k.dev(region), "uuid")


def target_show(k: Kernel, region: Region, pos: int) -> str:
    return region.targets[pos] if pos < len(region.targets) else ""


def target_store(k: Kernel, region: Region, pos: int, buf: bytes) -> None:
    """Attach an endpoint decoder at position ``pos``, or detach with an empty value
    (2.5, 2.7.2)."""
    not_emulated(k, k.dev(region), f"target{pos}")


def _uuid(k: Kernel, region: Region) -> Node:
    # Read-write for pmem regions, read-only (and empty) for RAM regions.
    if region.mode == "pmem":
        return Attr(0o644, store=partial(uuid_store, k, region), value=Shown(uuid_show, k, region))
    return Attr(0o444, value=Shown(uuid_show, k, region))


def _targets(k: Kernel, region: Region) -> dict[str, Node]:
    """``target0`` .. ``target(ways-1)``."""
    return {
        f"target{pos}": Attr(
            0o644,
            store=partial(target_store, k, region, pos),
            value=Shown(target_show, k, region, pos),
        )
        for pos in range(region.ways)
    }


REGION_ENTRIES: core.Entries[Region] = {
    "devtype": const("cxl_region"),
    "modalias": const("cxl:t6"),
    "commit": show_store(commit_show, commit_store),
    "interleave_ways": show_store(interleave_ways_show, interleave_ways_store),
    "interleave_granularity": show_store(interleave_granularity_show, interleave_granularity_store),
    "resource": show_only(resource_show),
    "size": show_store(size_show, size_store),
    "mode": show_only(mode_show),
    "uuid": _uuid,
}

REGION: DeviceType[Region] = DeviceType(
    "cxl_region",
    get=region_of,
    entries=REGION_ENTRIES,
    more=_targets,
    devtype="cxl_region",
    uevent_vars=lambda k, region: ["MODALIAS=cxl:t6"],
    release=_release,
)


# -- hierarchy programming ---------------------------------------------------------------------


def program_hierarchy(
    k: Kernel, win: Window, targets: list[Decoder], base: int, size: int, granularity: int
) -> list[Decoder]:
    """Program the switch and host-bridge decoders between ``targets`` (endpoint decoders
    in position order) and the root, as region validation does when the last target
    arrives. Returns those decoders, host bridges first.

    Each port's decoder (its next one to commit) targets the distinct dports used, in the
    order positions first use them. Its ways are that count; its granularity is its
    parent's granularity times the parent's ways, the root counting as (region
    granularity, window ways / 3 for 3/6/12-way windows).
    """
    chosen: dict[int, Decoder] = {}
    used: dict[int, list[int]] = {}
    for epdec in targets:
        chain = k.path_to_root(k.ports[epdec.port])
        for child, port in pairwise(chain):
            if port.kind == "root":
                break
            dport = next(d for d in port.dports if d.device == child.parent_dport)
            if port.id not in chosen:
                chosen[port.id] = port.decoders[port.decoders_committed()]
                used[port.id] = []
            if dport.id not in used[port.id]:
                used[port.id].append(dport.id)
    root_ways = win.ways // 3 if win.ways in (3, 6, 12) else win.ways
    ordered = sorted(chosen, key=lambda pid: len(k.path_to_root(k.ports[pid])))
    for pid in ordered:
        port = k.ports[pid]
        dec = chosen[pid]
        if port.parent is not None and port.parent in chosen:
            parent = chosen[port.parent]
            parent_ig, parent_iw = parent.granularity, parent.ways
        else:
            parent_ig, parent_iw = granularity, root_ways
        dec.targets = used[pid]
        dec.ways = len(used[pid])
        dec.granularity = parent_ig * parent_iw
        dec.start, dec.size = base, size
    return [chosen[pid] for pid in ordered]


# -- regions firmware committed before boot ----------------------------------------------------


def assemble_auto_region(k: Kernel, index: int) -> None:
    """Region discovery for the platform's auto region ``index``: its members' next
    endpoint decoders and the decoders above them hold what firmware programmed (their
    DPA reserved), and the region is registered committed, so cxl_region binds it. If no
    window claims the range, the decoders stay committed and no region is made."""
    auto = k.platform.auto_regions[index]
    win = k.platform.windows[auto.window]
    assert win.base is not None
    base = win.base if auto.base is None else auto.base
    by_label = {m.label: m for m in k.memdevs.values()}
    members = [by_label[label] for label in auto.members]
    ways = len(members)
    targets: list[Decoder] = []
    for mem in members:
        assert mem.endpoint is not None
        ep = k.ports[mem.endpoint]
        dec = ep.decoders[ep.decoders_committed()]
        dec.start, dec.size, dec.ways, dec.granularity = base, auto.size, ways, auto.granularity
        dec.mode = auto.mode
        allocate_dpa(mem, ep, dec, auto.size // ways)
        dec.committed = True
        targets.append(dec)
    decoders = program_hierarchy(k, win, targets, base, auto.size, auto.granularity)
    for dec in decoders:
        dec.committed = True
    if not (win.base <= base and base + auto.size <= win.base + win.size):
        return
    root = k.root()
    assert root is not None
    region = Region(
        id=root.decoders[auto.window].next_region,
        root_port=root.id,
        root_decoder=auto.window,
        mode=auto.mode,
        uuid="" if auto.mode == "ram" else NULL_UUID,
        ways=ways,
        granularity=auto.granularity,
        start=base,
        size=auto.size,
        targets=[d.name for d in targets],
        state="commit",
        auto=True,
    )
    for dec in [*targets, *decoders]:
        dec.region = region.id
    add_region(k, region)
