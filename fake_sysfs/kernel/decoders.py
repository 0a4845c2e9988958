"""HDM decoders: root decoders (one per CFMWS), switch decoders, endpoint decoders.

Switch and endpoint decoders reflect hardware registers: committed ones keep their
programming, the others read as a zeroed decoder (``size`` 0, one way, 256 granularity).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fake_sysfs.kernfs.nodes import Attr, Node, hexattr, not_emulated, ro, uevent, wo

DecoderKind = Literal["root", "switch", "endpoint"]
U64_MAX = (1 << 64) - 1


@dataclass
class Decoder:
    port: int
    index: int
    kind: DecoderKind
    start: int = 0
    size: int = 0
    ways: int = 1
    granularity: int = 256
    locked: bool = False
    #: Target dport ids, in interleave position order (root and switch decoders).
    targets: list[int] = field(default_factory=list)
    #: Hardware commit (the ENABLE bit).
    committed: bool = False
    #: Id of the region using this decoder (switch and endpoint decoders).
    region: int | None = None
    # Root decoders.
    cap_ram: bool = False
    cap_pmem: bool = False
    cap_type2: bool = False
    cap_type3: bool = False
    qos_class: int = -1
    #: The memregion id ``create_*_region`` currently offers.
    next_region: int = -1
    # Endpoint decoders.
    mode: str = "none"
    dpa_base: int | None = None
    dpa_size: int = 0
    skip: int = 0
    target_type: str = "expander"

    @property
    def name(self) -> str:
        return f"decoder{self.port}.{self.index}"


def _devtype(kind: DecoderKind) -> str:
    return f"cxl_decoder_{kind}"


def decoder_attrs(dec: Decoder, region_name: str) -> dict[str, Node]:
    """Attribute files of one decoder. ``region_name`` is the name of ``dec.region``."""
    devtype = _devtype(dec.kind)
    attrs: dict[str, Node] = {
        "devtype": ro(devtype),
        "modalias": ro("cxl:t0"),
        "uevent": uevent([f"DEVTYPE={devtype}", "MODALIAS=cxl:t0"]),
        "start": hexattr(dec.start, 0o400),
        "size": hexattr(dec.size),
        "locked": ro(int(dec.locked)),
        "interleave_ways": ro(dec.ways),
        # A root decoder of a 1-way window reports 256: the driver minimises x1
        # granularity so that any region granularity is allowed below it.
        "interleave_granularity": ro(
            256 if dec.kind == "root" and dec.ways == 1 else dec.granularity
        ),
    }
    if dec.kind != "endpoint":
        attrs["target_list"] = ro(",".join(str(t) for t in dec.targets))
    if dec.kind == "root":
        attrs.update(
            {
                "cap_pmem": ro(int(dec.cap_pmem)),
                "cap_ram": ro(int(dec.cap_ram)),
                "cap_type2": ro(int(dec.cap_type2)),
                "cap_type3": ro(int(dec.cap_type3)),
                "qos_class": ro(dec.qos_class),
            }
        )
        offer = f"region{dec.next_region}"
        if dec.cap_type3 and dec.cap_pmem:
            attrs["create_pmem_region"] = Attr(0o644, lambda: f"{offer}\n".encode(), not_emulated)
        if dec.cap_type3 and dec.cap_ram:
            attrs["create_ram_region"] = Attr(0o644, lambda: f"{offer}\n".encode(), not_emulated)
        if dec.cap_type3 and (dec.cap_pmem or dec.cap_ram):
            attrs["delete_region"] = wo()
        return attrs
    attrs["target_type"] = ro(dec.target_type)
    attrs["region"] = ro(region_name)
    if dec.kind == "endpoint":
        attrs["mode"] = Attr(0o644, lambda: f"{dec.mode}\n".encode(), not_emulated)
        # dpa_size is printed with %pa: 0x and 16 zero-padded hex digits.
        attrs["dpa_size"] = Attr(0o644, lambda: f"0x{dec.dpa_size:016x}\n".encode(), not_emulated)
        attrs["dpa_resource"] = hexattr(U64_MAX if dec.dpa_base is None else dec.dpa_base)
    return attrs
