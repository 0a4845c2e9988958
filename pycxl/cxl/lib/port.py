"""Ports: the bus (``rootN``), switch and host-bridge ports (``portN``), endpoints, and
their dports.

A bus, a port and an endpoint share one initialization: ``uport`` must resolve, and gives
the port's ``host``. Children are found by scanning the port's own directory.
"""

from __future__ import annotations

import errno

from pycxl.cxl.lib.device import Device
from pycxl.util.sysattr import attr_int

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    from pycxl.cxl.lib.ctx import Ctx
    from pycxl.cxl.lib.decoder import Decoder
    from pycxl.cxl.lib.memdev import Memdev

    PortType = Literal["root", "switch", "endpoint"]

#: The attributes a port reads at enumeration, in libcxl's order (never mutated).
_PORT_ATTRS = ["modalias", "decoders_committed"]


class Dport:
    def __init__(self, port: Port, dport_id: int, dev_path: str) -> None:
        self.port = port
        self.id = dport_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.phys_path: str | None = None
        self.fw_path: str | None = None

    @classmethod
    def create(cls, port: Port, dport_id: int, entry: str) -> Dport | None:
        ctx = port.ctx
        real = ctx.realpath(entry)
        if real is None:
            return None
        dport = cls(port, dport_id, real)
        dport.phys_path = ctx.realpath(f"{entry}/physical_node")
        dport.fw_path = ctx.realpath(f"{entry}/firmware_node")
        if dport.phys_path is None and dport.fw_path is not None:
            dport.phys_path = real
        return dport

    def maps_memdev(self, memdev: Memdev) -> bool:
        """The dport leads to the memdev: its physical path is part of the memdev's host path."""
        return (self.phys_path or self.dev_path) in memdev.host_path


def alias(phys_path: str | None, fw_path: str | None) -> str | None:
    """The ``alias`` key of dports and targets: the firmware node's name when there is one,
    else the physical node's."""
    if fw_path is not None:
        return fw_path.rpartition("/")[2]
    if phys_path is not None:
        return phys_path.rpartition("/")[2]
    return None


class Port(Device):
    def __init__(
        self, ctx: Ctx, port_id: int, dev_path: str, kind: PortType, parent: Port | None
    ) -> None:
        self.ctx = ctx
        self.id = port_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.kind = kind
        self.parent = parent
        self.depth: int = parent.depth + 1 if parent is not None else 0
        self.uport = ""
        self.host = ""
        self.parent_dport_path: str | None = None
        self.decoders_committed = 0
        self._ports: list[Port] | None = None
        self._endpoints: list[Port] | None = None
        self._decoders: list[Decoder] | None = None
        self._dports: list[Dport] | None = None
        self._parent_dport: Dport | None = None
        self._parent_dport_known = False
        # Endpoints: their memdev, once paired.
        self.memdev_cache: Memdev | None = None
        self.memdev_known = False

    def _init(self, func: str) -> bool:
        ctx = self.ctx
        if ctx.log.debug:
            ctx.log.dbg(func, f"{self.devname}: base: '{self.dev_path}'\n")
        uport = ctx.realpath(f"{self.dev_path}/uport")
        if uport is None:
            return False
        self.uport = uport
        self.host = uport.rpartition("/")[2]
        if self.depth > 1:
            self.parent_dport_path = ctx.realpath(f"{self.dev_path}/parent_dport")
        _, value = ctx.read_attrs(self.dev_path, _PORT_ATTRS)
        self.decoders_committed = attr_int(value, 0)
        return True

    @classmethod
    def create(
        cls, ctx: Ctx, port_id: int, dev_path: str, kind: PortType, parent: Port
    ) -> Port | None:
        port = cls(ctx, port_id, dev_path, kind, parent)
        func = "add_cxl_endpoint" if kind == "endpoint" else "add_cxl_port"
        return port if port._init(func) else None

    # -- relations -------------------------------------------------------------------------

    def is_root(self) -> bool:
        return self.kind == "root"

    def is_switch(self) -> bool:
        return self.kind == "switch"

    def is_endpoint(self) -> bool:
        return self.kind == "endpoint"

    def bus(self) -> Bus | None:
        """The bus this port belongs to; a disabled port has none."""
        if self.is_root():
            assert isinstance(self, Bus)
            return self
        if not self.is_enabled():
            return None
        port: Port = self
        while port.parent is not None:
            port = port.parent
        assert isinstance(port, Bus)
        return port

    def child_ports(self) -> list[Port]:
        if self._ports is None:
            self._ports = self.ctx.device_parse(
                self.dev_path,
                "port",
                lambda i, p: Port.create(self.ctx, i, p, "switch", self),
            )
        return self._ports

    def endpoints(self) -> list[Port]:
        if self._endpoints is None:
            self._endpoints = self.ctx.device_parse(
                self.dev_path,
                "endpoint",
                lambda i, p: Port.create(self.ctx, i, p, "endpoint", self),
            )
        return self._endpoints

    def decoders(self) -> list[Decoder]:
        if self._decoders is None:
            from pycxl.cxl.lib.decoder import Decoder

            found = self.ctx.device_parse(
                self.dev_path,
                f"decoder{self.id}.",
                lambda i, p: Decoder.create(self, i, p),
            )
            self._decoders = sorted(found, key=lambda d: d.id)
        return self._decoders

    def dports(self) -> list[Dport]:
        if self._dports is None:
            self._dports = self.ctx.device_parse(
                self.dev_path, "dport", lambda i, p: Dport.create(self, i, p)
            )
        return self._dports

    def parent_dport(self) -> Dport | None:
        """The parent port's dport leading here, matched by name."""
        if not self._parent_dport_known:
            self._parent_dport_known = True
            if self.parent_dport_path is not None and self.parent is not None:
                name = self.parent_dport_path.rpartition("/")[2]
                for dport in self.parent.dports():
                    if dport.devname == name:
                        self._parent_dport = dport
                        break
        return self._parent_dport

    def dport_by_memdev(self, memdev: Memdev) -> Dport | None:
        for dport in self.dports():
            if dport.maps_memdev(memdev):
                return dport
        return None

    def descendants(self) -> list[Port]:
        """Every switch port below, depth-first pre-order (endpoints excluded)."""
        out: list[Port] = []
        for child in self.child_ports():
            out.append(child)
            out.extend(child.descendants())
        return out

    def hosts_memdev(self, memdev: Memdev) -> bool:
        """The memdev's endpoint is this port or below it."""
        port: Port | None = memdev.endpoint()
        while port is not None and port is not self:
            port = port.parent
        return port is not None

    # -- enable / disable ------------------------------------------------------------------

    def enable(self) -> int:
        """``cxl_port_enable`` (switch ports and endpoints)."""
        return self.enable_device("cxl_port_enable")

    def disable_invalidate(self) -> int:
        """``cxl_port_disable_invalidate``: unbind, then forget the bus's port tree."""
        log = self.ctx.log
        func = "cxl_port_disable_invalidate"
        if self.is_root():
            log.err(func, f"{self.devname}: can not be disabled through this interface\n")
            return -errno.EINVAL
        bus = self.bus()
        if bus is None:
            log.err(func, f"{self.devname}: failed to invalidate\n")
            return -errno.ENXIO
        self.unbind()
        if self.is_enabled():
            log.err(func, f"{self.devname}: failed to disable\n")
            return -errno.EBUSY
        log.dbg(func, f"{self.devname}: disabled\n")
        self.ctx.invalidate_bus(bus)
        return 0

    def forget_ports(self) -> None:
        """Enumerate the child ports again when next asked."""
        self._ports = None

    # -- endpoints -------------------------------------------------------------------------

    def memdev(self) -> Memdev | None:
        """An enabled endpoint's memdev: the memdev named like the endpoint's host."""
        if self.memdev_known:
            return self.memdev_cache
        if not self.is_enabled():
            return None
        memdev = self.ctx.memdev_named(self.host)
        if memdev is None:
            return None
        other = memdev._endpoint
        if memdev._endpoint_known and other is not None and other is not self:
            self.ctx.log.err(
                "cxl_endpoint_get_memdev",
                f"{memdev.devname} assigned to {other.devname} not {self.devname}\n",
            )
        pair(self, memdev)
        return memdev


def pair(endpoint: Port, memdev: Memdev) -> None:
    """Remember that ``endpoint`` and ``memdev`` belong together, on both sides."""
    endpoint.memdev_cache = memdev
    endpoint.memdev_known = True
    memdev._endpoint = endpoint
    memdev._endpoint_known = True


class Bus(Port):
    """A CXL root: bus and root port in one."""

    def __init__(self, ctx: Ctx, bus_id: int, dev_path: str) -> None:
        super().__init__(ctx, bus_id, dev_path, "root", None)
        self.provider = ""

    @classmethod
    def create_bus(cls, ctx: Ctx, bus_id: int, dev_path: str) -> Bus | None:
        bus = cls(ctx, bus_id, dev_path)
        if not bus._init("add_cxl_bus"):
            return None
        bus.provider = {"ACPI0017:00": "ACPI.CXL", "cxl_acpi.0": "cxl_test"}.get(bus.host, bus.host)
        return bus

    def disable_invalidate(self) -> int:
        """``cxl_bus_disable_invalidate``: unbind the platform device the bus stands for
        (its name to ``<uport>/driver/unbind``); a failed store is the error. The bus is
        then gone from the library."""
        rc = self.ctx.unbind(self.uport)
        if rc:
            return rc
        self.ctx.drop_bus(self)
        return 0

    def find_endpoint(self, memdev: Memdev) -> Port | None:
        """Search order: endpoints directly below the root, then each port depth first
        (its endpoints before its children)."""
        for ep in self.endpoints():
            if ep.host == memdev.devname:
                return ep
        for port in self.descendants():
            for ep in port.endpoints():
                if ep.host == memdev.devname:
                    return ep
        return None
