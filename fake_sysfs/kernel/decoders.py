"""HDM decoders: root decoders (one per CFMWS), switch decoders, endpoint decoders.

Switch and endpoint decoders reflect hardware registers: committed ones keep their
programming, the others read as a zeroed decoder (``size`` 0, one way, 256 granularity).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
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


def _granularity(dec: Decoder) -> int:
    # A root decoder of a 1-way window reports 256: the driver minimises x1 granularity
    # so that any region granularity is allowed below it.
    return 256 if dec.kind == "root" and dec.ways == 1 else dec.granularity


def _offer(dec: Decoder) -> bytes:
    return f"region{dec.next_region}\n".encode()


def _root(attr: Callable[[Decoder], Node | None]) -> Callable[[Decoder], Node | None]:
    return lambda dec: attr(dec) if dec.kind == "root" else None


def _not_root(attr: Callable[[Decoder], Node | None]) -> Callable[[Decoder], Node | None]:
    return lambda dec: attr(dec) if dec.kind != "root" else None


def _endpoint(attr: Callable[[Decoder], Node | None]) -> Callable[[Decoder], Node | None]:
    return lambda dec: attr(dec) if dec.kind == "endpoint" else None


def _region_offer(dec: Decoder, cap: bool) -> Node | None:
    if dec.kind == "root" and dec.cap_type3 and cap:
        return Attr(0o644, partial(_offer, dec), not_emulated)
    return None


#: Attribute files of a decoder, by name; which exist depends on root/switch/endpoint. The
#: ``region`` file is added by the tree, which knows region names.
DECODER_ATTRS: dict[str, Callable[[Decoder], Node | None]] = {
    "devtype": lambda dec: ro(f"cxl_decoder_{dec.kind}"),
    "modalias": lambda dec: ro("cxl:t0"),
    "uevent": lambda dec: uevent([f"DEVTYPE=cxl_decoder_{dec.kind}", "MODALIAS=cxl:t0"]),
    "start": lambda dec: hexattr(dec.start, 0o400),
    "size": lambda dec: hexattr(dec.size),
    "locked": lambda dec: ro(int(dec.locked)),
    "interleave_ways": lambda dec: ro(dec.ways),
    "interleave_granularity": lambda dec: ro(_granularity(dec)),
    "target_list": lambda dec: (
        None if dec.kind == "endpoint" else ro(",".join(str(t) for t in dec.targets))
    ),
    "cap_pmem": _root(lambda dec: ro(int(dec.cap_pmem))),
    "cap_ram": _root(lambda dec: ro(int(dec.cap_ram))),
    "cap_type2": _root(lambda dec: ro(int(dec.cap_type2))),
    "cap_type3": _root(lambda dec: ro(int(dec.cap_type3))),
    "qos_class": _root(lambda dec: ro(dec.qos_class)),
    "create_pmem_region": lambda dec: _region_offer(dec, dec.cap_pmem),
    "create_ram_region": lambda dec: _region_offer(dec, dec.cap_ram),
    "delete_region": lambda dec: (
        wo() if dec.kind == "root" and dec.cap_type3 and (dec.cap_pmem or dec.cap_ram) else None
    ),
    "target_type": _not_root(lambda dec: ro(dec.target_type)),
    "mode": _endpoint(lambda dec: Attr(0o644, lambda: f"{dec.mode}\n".encode(), not_emulated)),
    # dpa_size is printed with %pa: 0x and 16 zero-padded hex digits.
    "dpa_size": _endpoint(
        lambda dec: Attr(0o644, lambda: f"0x{dec.dpa_size:016x}\n".encode(), not_emulated)
    ),
    "dpa_resource": _endpoint(
        lambda dec: hexattr(U64_MAX if dec.dpa_base is None else dec.dpa_base)
    ),
}
