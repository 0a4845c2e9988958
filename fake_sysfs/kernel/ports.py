"""CXL ports (``rootN``, ``portN``, ``endpointN``) and their downstream ports (dports).

Ports and endpoints share one id allocator with the root. Host-bridge ports are made by
cxl_acpi; switch ports and endpoints appear when a memdev below them probes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fake_sysfs.kernel.decoders import Decoder
from fake_sysfs.kernfs.nodes import Attr, Node, ro, uevent

PortKind = Literal["root", "port", "endpoint"]


@dataclass
class Dport:
    id: int
    #: The downstream device (``devices/...``): host bridge, root port or switch dport.
    device: str


@dataclass
class Port:
    id: int
    kind: PortKind
    #: Id of the parent port (None for the root).
    parent: int | None
    #: The device implementing the upstream side (``devices/...``).
    uport: str
    #: The parent port's dport device leading here ("" for the root).
    parent_dport: str = ""
    dports: list[Dport] = field(default_factory=list)
    decoders: list[Decoder] = field(default_factory=list)
    bound: bool = True
    #: Endpoints: the memdev id whose endpoint this is.
    memdev: int | None = None
    #: HDM decoder target count (switch and host-bridge ports).
    decoder_targets: int = 0
    #: Endpoints of devices with a CDAT DOE mailbox expose ``CDAT``.
    cdat: bool = False

    @property
    def name(self) -> str:
        # The kinds are the name prefixes: root0, port1, endpoint2.
        return f"{self.kind}{self.id}"

    def decoders_committed(self) -> int:
        """Committed decoders: commits are strictly in order, so this is a count."""
        if self.kind == "root":
            return 0
        count = 0
        for dec in self.decoders:
            if not dec.committed:
                break
            count += 1
        return count

    def dport(self, dport_id: int) -> Dport | None:
        for d in self.dports:
            if d.id == dport_id:
                return d
        return None


# A minimal CDAT table: header only (length 16, revision 1, checksum making the sum zero).
_CDAT = bytes([16, 0, 0, 0, 1, 0xEF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def _modalias(port: Port) -> str:
    return "cxl:t4" if port.kind == "root" else "cxl:t3"


def _uevent(port: Port) -> Node:
    driver = ["DRIVER=cxl_port"] if port.bound and port.kind != "root" else []
    return uevent(["DEVTYPE=cxl_port", *driver, f"MODALIAS={_modalias(port)}"])


def _cdat(port: Port) -> Node | None:
    if port.kind == "endpoint" and port.bound and port.cdat:
        return Attr(0o400, lambda: _CDAT)
    return None


#: A port's attribute files, by name: each factory gives the node, or None where hidden.
PORT_ATTRS: dict[str, Callable[[Port], Node | None]] = {
    "devtype": lambda port: ro("cxl_port"),
    "modalias": lambda port: ro(_modalias(port)),
    "uevent": _uevent,
    "decoders_committed": lambda port: ro(port.decoders_committed()),
    "CDAT": _cdat,
}
