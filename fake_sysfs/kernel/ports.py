"""CXL ports (``rootN``, ``portN``, ``endpointN``), their downstream ports (dports), and the
cxl_port driver.

Ports and endpoints share one id allocator with the root. cxl_acpi adds the root and the
host-bridge ports; cxl_mem adds a switch port on first use and the endpoint. The cxl_port
probe reads a port's dports and HDM decoders from the hardware; its remove unregisters them
and every port and endpoint below; what the HDM decoder registers hold committed stays in
the hardware (``Kernel.hdm``) and is read back at the next probe. A switch port goes when
the last memdev below it detaches, while its parent port is bound (also when the switch port
itself was unbound); an endpoint that goes under its memdev (its port unbound) takes the
memdev's driver with it. ``decoders_committed`` is an explicit count per port (commit_end).
"""

from __future__ import annotations

import dataclasses
import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core, hardware
from fake_sysfs.kernel.attrs import const, show_only
from fake_sysfs.kernel.core import Device, DeviceType, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_PORT, cxl_driver
from fake_sysfs.kernel.decoders import (
    Decoder,
    add_decoders,
    passthrough_decoder,
    switch_decoders,
)
from fake_sysfs.kernfs.nodes import Attr, Link, Node
from fake_sysfs.platform.model import HostBridge, Switch, Type3Device
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

PortKind = Literal["root", "port", "endpoint"]


@dataclass(eq=False, repr=False)
class Dport(Record):
    id: int
    #: The downstream device (``devices/...``): host bridge, root port or switch dport.
    device: str


@dataclass(eq=False, repr=False)
class Port(Record):
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
    #: Endpoints: the memdev id whose endpoint this is.
    memdev: int | None = None
    #: HDM decoder target count (switch and host-bridge ports).
    decoder_targets: int = 0
    #: Endpoints of devices with a CDAT DOE mailbox expose ``CDAT``.
    cdat: bool = False
    #: Index of the highest committed decoder (-1: none). Decoders commit in index order,
    #: so it moves up one at each commit; a reset only brings it down when it resets the
    #: decoder it names, and then past the lower ones already reset (decoders.reap).
    commit_end: int = -1

    @property
    def name(self) -> str:
        # The kinds are the name prefixes: root0, port1, endpoint2.
        return f"{self.kind}{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"

    def decoders_committed(self) -> int:
        """``decoders_committed``: one more than the highest committed decoder's index (the
        next decoder to commit); the root's decoders are not counted."""
        if self.kind == "root":
            return 0
        return self.commit_end + 1

    def dport(self, dport_id: int) -> Dport | None:
        for d in self.dports:
            if d.id == dport_id:
                return d
        return None


def port_of(k: Kernel, dev: Device) -> Port:
    return k.ports[int(dev.name.lstrip(string.ascii_lowercase))]


def add_port(
    k: Kernel,
    kind: PortKind,
    parent: Port | None,
    parent_key: str,
    uport: str,
    parent_dport: str = "",
    memdev: int | None = None,
) -> Port:
    """Register a new port below ``parent_key`` (its parent port's device, or the root's
    platform device); the bus probes it at once (cxl_port binds all but the root)."""
    port = Port(
        id=lowest_free_id(set(k.ports)),
        kind=kind,
        parent=None if parent is None else parent.id,
        uport=uport,
        parent_dport=parent_dport,
        memdev=memdev,
        cdat=kind == "endpoint" and k.platform.style == "acpi",
    )
    k.ports[port.id] = port
    core.device_add(k, Device(port.name, parent_key, "cxl_port", "cxl"))
    return port


def find_port(k: Kernel, uport: str) -> Port | None:
    for port in k.ports.values():
        if port.uport == uport:
            return port
    return None


def _release(k: Kernel, dev: Device) -> None:
    port = k.ports.pop(port_of(k, dev).id)
    if port.kind != "endpoint" or port.memdev is None:
        return
    mem = k.memdevs.get(port.memdev)
    if mem is not None and mem.endpoint == port.id:
        mem.endpoint = None
        # The endpoint went away under its memdev (a port above was unbound): the memdev
        # lets go of its driver too, as the kernel's detach work does (bus/cxl/flush waits
        # for it there; here it is done at once).
        core.device_release_driver(k, k.dev(mem))


# -- the cxl_port driver -----------------------------------------------------------------------


def _hdm_device(k: Kernel, port: Port) -> str:
    """The hardware device whose HDM decoders ``port`` has: the memdev's parent for an
    endpoint, else the uport."""
    if port.kind == "endpoint":
        assert port.memdev is not None
        return k.memdevs[port.memdev].parent
    return port.uport


def _read_committed(k: Kernel, port: Port, decoders: list[Decoder]) -> None:
    """Decoders the hardware holds committed keep their programming (and, at an endpoint,
    their DPA) and count as committed; an endpoint's are waiting for region discovery."""
    for saved in k.hdm.pop(_hdm_device(k, port), []):
        if saved.index >= len(decoders):
            continue
        if saved.index != port.commit_end + 1:
            k.log.warn(k.dev(port), f"decoder{port.id}.{saved.index}: Committed out of order")
            continue
        decoders[saved.index] = dataclasses.replace(
            saved, port=port.id, region=None, auto=saved.kind == "endpoint"
        )
        port.commit_end = saved.index


def cxl_port_probe(k: Kernel, dev: Device) -> None:
    """Enumerate the port's dports (switch and host-bridge ports) and HDM decoders from
    the hardware: committed decoders keep their programming, the others read zeroed."""
    port = port_of(k, dev)
    if port.kind == "endpoint":
        assert port.memdev is not None
        t3 = memdev_hardware(k, k.memdevs[port.memdev])
        decoders = [Decoder(port=port.id, index=i, kind="endpoint") for i in range(t3.decoders)]
        _read_committed(k, port, decoders)
        add_decoders(k, port, decoders)
        for dec in decoders:
            if dec.committed:
                _discover_region(k, port, dec)
        return
    hw = hardware.hw_at(k, port.uport)
    if isinstance(hw, HostBridge):
        port.dports = [Dport(id=rp.port, device=rp.path) for rp in hw.root_ports]
        # Without HDM decoder capability the single root port is passed through.
        decoders = switch_decoders(k, port, hw.decoders) if hw.decoders else []
        port.decoder_targets = hw.targets if decoders else 1
        decoders = decoders or [passthrough_decoder(port)]
    elif isinstance(hw, Switch):
        port.dports = [Dport(id=sp.port, device=sp.path) for sp in hw.ports]
        decoders = switch_decoders(k, port, hw.decoders)
        port.decoder_targets = hw.targets
    else:
        raise kerr(errno.ENXIO)
    _read_committed(k, port, decoders)
    add_decoders(k, port, decoders)


def _discover_region(k: Kernel, endpoint: Port, dec: Decoder) -> None:
    """A committed endpoint decoder found at probe is offered to region discovery: the
    window that maps its range gets its region. Regions are only discovered at boot here
    (kernel.regions.assemble_auto_region); a decoder no window maps is reported."""
    root = k.root()
    end = dec.start + dec.size
    mapped = root is not None and any(
        d.start <= dec.start and end <= d.start + d.size for d in root.decoders
    )
    if not mapped:
        mem = k.memdevs[endpoint.memdev] if endpoint.memdev is not None else None
        if mem is not None:
            k.log.err(
                k.devices.get(hardware.hw_key(k, mem.parent) or ""),
                f"{mem.name}:{dec.name} no CXL window for range {dec.start:#x}:{end - 1:#x}",
            )


def cxl_port_remove(k: Kernel, dev: Device) -> None:
    """Unregister what the probe and the memdevs below added: child ports and endpoints
    first (newest first), then the decoders; the dports go. What the decoder registers
    hold committed stays in the hardware."""
    port = port_of(k, dev)
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)
    committed = [dataclasses.replace(d, region=None) for d in port.decoders if d.committed]
    if committed:
        k.hdm[_hdm_device(k, port)] = committed
    port.decoders = []
    port.dports = []
    port.commit_end = -1


CXL_PORT_DRIVER = cxl_driver("cxl_port", CXL_DEVICE_PORT, cxl_port_probe, cxl_port_remove)


# -- endpoints: what cxl_mem's probe and remove do with ports ---------------------------------


def memdev_hardware(k: Kernel, mem: Memdev) -> Type3Device:
    t3 = hardware.hw_at(k, mem.parent)
    assert isinstance(t3, Type3Device)
    return t3


def _locate(k: Kernel, dev: Type3Device) -> tuple[HostBridge, str, str | None]:
    """The host bridge above ``dev``, the root port (or, for an RCD, the host bridge)
    device leading to it, and the switch it sits below (if any) with its dport."""
    for hb in k.platform.host_bridges:
        if hb.rcd is dev:
            return hb, hb.path, None
        for rp in hb.root_ports:
            if rp.device is dev:
                return hb, rp.path, None
            if rp.switch is not None:
                for sp in rp.switch.ports:
                    if sp.device is dev:
                        return hb, rp.path, sp.path
    raise LookupError(dev.label)


def add_endpoint(k: Kernel, mem: Memdev) -> Port:
    """cxl_mem's port enumeration: find the port the memdev's endpoint goes below (a switch
    port is created the first time a memdev below it probes), then add the endpoint.
    ENXIO when that topology is missing or not enabled."""
    memdev = k.dev(mem)
    t3 = memdev_hardware(k, mem)
    hb, rp_path, sp_path = _locate(k, t3)
    root = k.root()
    if root is None:
        k.log.err(memdev, "CXL port topology not found")
        raise kerr(errno.ENXIO)
    parent, parent_dport = root, hb.path
    if rp_path != hb.path:
        hb_port = find_port(k, hb.path)
        if hb_port is None:
            k.log.err(memdev, "CXL port topology not found")
            raise kerr(errno.ENXIO)
        parent, parent_dport = hb_port, rp_path
        if sp_path is not None:
            sw = hardware.hw_at(k, sp_path.rpartition("/")[0])
            assert isinstance(sw, Switch)
            if not k.dev(hb_port).driver:
                k.log.err(memdev, f"CXL port topology {hb_port.name} not enabled")
                raise kerr(errno.ENXIO)
            sw_port = find_port(k, sw.path) or add_port(
                k, "port", hb_port, hb_port.devkey, sw.path, rp_path
            )
            parent, parent_dport = sw_port, sp_path
    if parent.kind != "root" and not k.dev(parent).driver:
        k.log.err(memdev, f"CXL port topology {parent.name} not enabled")
        raise kerr(errno.ENXIO)
    endpoint = add_port(
        k, "endpoint", parent, parent.devkey, f"{mem.parent}/{mem.name}", parent_dport, mem.id
    )
    mem.endpoint = endpoint.id
    return endpoint


def delete_endpoint(k: Kernel, endpoint: Port) -> None:
    """cxl_mem's remove: unregister the endpoint, then reap the switch ports above it."""
    parent = k.ports.get(endpoint.parent) if endpoint.parent is not None else None
    core.device_unregister(k, k.dev(endpoint))
    reap_ports(k, parent)


def port_above(k: Kernel, mem: Memdev) -> Port | None:
    """The switch port a memdev's endpoint goes below, if it is registered."""
    _, _, sp_path = _locate(k, memdev_hardware(k, mem))
    return None if sp_path is None else find_port(k, sp_path.rpartition("/")[0])


def reap_ports(k: Kernel, parent: Port | None) -> None:
    """A memdev detached from the ports above it: each switch port that has no port or
    endpoint left below it goes, while its parent port is bound (1.5; also when the switch
    port itself was unbound, which took its endpoints). Host-bridge ports belong to cxl_acpi
    and stay."""
    while parent is not None and parent.kind == "port" and parent.parent is not None:
        grand = k.ports[parent.parent]
        if grand.kind == "root" or not k.dev(grand).driver:
            return
        if any(c.type == "cxl_port" for c in core.children(k, k.dev(parent))):
            return
        core.device_unregister(k, k.dev(parent))
        parent = grand


# -- attributes --------------------------------------------------------------------------------

# A minimal CDAT table: header only (length 16, revision 1, checksum making the sum zero).
_CDAT = bytes([16, 0, 0, 0, 1, 0xEF, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def modalias_show(k: Kernel, port: Port) -> str:
    return "cxl:t4" if port.kind == "root" else "cxl:t3"


def decoders_committed_show(k: Kernel, port: Port) -> int:
    return port.decoders_committed()


def cdat_read(k: Kernel, port: Port) -> bytes:
    """``CDAT``: the raw table, read from the device's DOE mailbox."""
    return _CDAT


def _cdat(k: Kernel, port: Port) -> Node | None:
    # Endpoints only, while bound to cxl_port, and only with a CDAT DOE mailbox.
    if port.kind == "endpoint" and port.cdat and k.dev(port).driver:
        return Attr(0o400, lambda: cdat_read(k, port))
    return None


PORT_ENTRIES: core.Entries[Port] = {
    "devtype": const("cxl_port"),
    "modalias": show_only(modalias_show),
    "decoders_committed": show_only(decoders_committed_show),
    "CDAT": _cdat,
    "uport": lambda k, port: Link(port.uport),
    "parent_dport": lambda k, port: None if port.parent is None else Link(port.parent_dport),
}


def _dports(k: Kernel, port: Port) -> dict[str, Node]:
    return {f"dport{d.id}": Link(d.device) for d in port.dports}


PORT: DeviceType[Port] = DeviceType(
    "cxl_port",
    get=port_of,
    entries=PORT_ENTRIES,
    more=_dports,
    devtype="cxl_port",
    uevent_vars=lambda k, port: [f"MODALIAS={modalias_show(k, port)}"],
    release=_release,
)
