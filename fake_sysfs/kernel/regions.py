"""CXL regions (``regionN`` below a root decoder): state, attributes, hierarchy programming.

The memregion id space is global (shared with nvdimm regions): each root decoder holds the
id ``create_*_region`` offers; creating a region consumes it and the decoder takes the
lowest free id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from fake_sysfs.kernfs.nodes import Attr, Node, hexattr, not_emulated, ro, text, uevent

if TYPE_CHECKING:
    from fake_sysfs.kernel.decoders import Decoder
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
    bound: bool = False
    #: Assembled from firmware-committed decoders.
    auto: bool = False

    @property
    def name(self) -> str:
        return f"region{self.id}"


def region_attrs(region: Region) -> dict[str, Node]:
    committed = region.state == "commit"
    driver = ["DRIVER=cxl_region"] if region.bound else []
    attrs: dict[str, Node] = {
        "devtype": ro("cxl_region"),
        "modalias": ro("cxl:t6"),
        "uevent": uevent(["DEVTYPE=cxl_region", *driver, "MODALIAS=cxl:t6"]),
        "commit": Attr(0o644, lambda: f"{int(committed)}\n".encode(), not_emulated),
        "interleave_ways": Attr(0o644, lambda: f"{region.ways}\n".encode(), not_emulated),
        "interleave_granularity": Attr(
            0o644, lambda: f"{region.granularity}\n".encode(), not_emulated
        ),
        "resource": hexattr(U64_MAX if region.start is None else region.start),
        "size": Attr(
            0o644,
            lambda: (f"{region.size:#x}" if region.size else "0x0").encode() + b"\n",
            not_emulated,
        ),
        "mode": ro(region.mode),
    }
    if region.mode == "pmem":
        attrs["uuid"] = Attr(0o644, lambda: f"{region.uuid}\n".encode(), not_emulated)
    else:
        # RAM regions have no uuid: the attribute is read-only and empty.
        attrs["uuid"] = ro("")
    for pos in range(region.ways):
        name = region.targets[pos] if pos < len(region.targets) else ""
        attrs[f"target{pos}"] = Attr(0o644, partial(text, name), not_emulated)
    return attrs


def lowest_free_id(used: set[int]) -> int:
    n = 0
    while n in used:
        n += 1
    return n


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
