"""The /sys tree of a kernel state: which directory holds what, and where links point.

Paths are relative to /sys (``devices/platform/ACPI0017:00/root0``). Device directories
nest like the real device hierarchy: hardware devices below ``devices/``, CXL objects below
the hardware they belong to (``root0`` below ACPI0017:00, ``memN`` below its PCI function,
ports inside their parent port, regions inside their root decoder, DAX devices inside their
region). Bus directories hold links to devices and drivers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from functools import partial

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import dax as daxk
from fake_sysfs.kernel.decoders import DECODER_ATTRS, Decoder
from fake_sysfs.kernel.memdevs import (
    MEMDEV_ATTRS,
    Memdev,
    firmware_upload_attrs,
    partition_attrs,
    security_attrs,
)
from fake_sysfs.kernel.memory import (
    MemoryBlock,
    block_attrs,
    memory_attrs,
    node_list,
    node_meminfo,
    node_root_attrs,
)
from fake_sysfs.kernel.nvdimm import (
    NDCTL_MAJOR,
    NMEM_MAJOR,
    Nmem,
    NvdimmBridge,
    bridge_attrs,
    ndbus_attrs,
    ndctl_attrs,
    nmem_attrs,
    nmem_cxl_attrs,
    pmem_attrs,
)
from fake_sysfs.kernel.ports import PORT_ATTRS, Port
from fake_sysfs.kernel.regions import Region, region_attrs
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.nodes import (
    MISSING,
    Attr,
    Dir,
    Link,
    Node,
    not_emulated,
    ro,
    static_dir,
    sysfs_streq,
    table_entries,
    table_lookup,
    uevent,
    wo,
)
from fake_sysfs.platform.naming import root_device_path

CXL_DRIVERS = (
    "cxl_port",
    "cxl_mem",
    "cxl_region",
    "cxl_nvdimm_bridge",
    "cxl_nvdimm",
    "cxl_pmem_region",
    "cxl_dax_region",
)
#: Drivers that set suppress_bind_attrs have no bind/unbind files.
_NO_BIND_ATTRS = {"cxl_nvdimm_bridge", "cxl_nvdimm", "cxl_pmem_region", "cxl_dax_region"}
DAX_DRIVERS = ("device_dax", "kmem")
ND_DRIVERS = ("nvdimm", "nd_region", "nd_pmem", "dax_pmem", "nd_btt")


class Tree:
    """Builds directory nodes for one kernel state. Indexes are computed on first use."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        self.root_dev = root_device_path(k.platform)
        self._port_paths: dict[int, str] = {}
        self._children: dict[int | None, list[Port]] | None = None
        self._hw: dict[str, tuple[str, object]] | None = None
        self._hw_kids: dict[str, list[str]] = {}
        self._memdev_at: dict[str, list[Memdev]] | None = None
        self._nmems: dict[int, Nmem] | None = None
        self._pci_templates: dict[tuple[str, int], dict[str, Node]] = {}
        self._cxl_devices: dict[str, tuple[str, str]] | None = None

    # -- indexes ---------------------------------------------------------------------------

    def children(self, port_id: int) -> list[Port]:
        if self._children is None:
            self._children = {}
            for port in self.k.ports.values():
                self._children.setdefault(port.parent, []).append(port)
        return self._children.get(port_id, [])

    def port_path(self, port: Port) -> str:
        path = self._port_paths.get(port.id)
        if path is None:
            if port.parent is None:
                path = f"{port.uport}/{port.name}"
            else:
                path = f"{self.port_path(self.k.ports[port.parent])}/{port.name}"
            self._port_paths[port.id] = path
        return path

    def visible_ports(self) -> Iterator[Port]:
        """Ports that exist in sysfs: a port's children vanish while it is unbound."""
        root = self.k.root()
        if root is None:
            return
        stack = [root]
        while stack:
            port = stack.pop()
            yield port
            if port.bound:
                stack.extend(self.children(port.id))

    def decoder_path(self, dec: Decoder) -> str:
        return f"{self.port_path(self.k.ports[dec.port])}/{dec.name}"

    def region_path(self, region: Region) -> str:
        dec = self.k.ports[region.root_port].decoders[region.root_decoder]
        return f"{self.decoder_path(dec)}/{region.name}"

    def memdev_path(self, mem: Memdev) -> str:
        return f"{mem.parent}/{mem.name}"

    def cxl_devices(self) -> dict[str, tuple[str, str]]:
        """Every device on the cxl bus: name -> (path, driver name or "")."""
        if self._cxl_devices is None:
            devs: dict[str, tuple[str, str]] = {}
            for port in self.visible_ports():
                path = self.port_path(port)
                driver = "cxl_port" if port.bound and port.kind != "root" else ""
                devs[port.name] = (path, driver)
                if port.bound or port.kind == "root":
                    for dec in port.decoders:
                        devs[dec.name] = (f"{path}/{dec.name}", "")
            for region in self.k.regions.values():
                rpath = self.region_path(region)
                devs[region.name] = (rpath, "cxl_region" if region.bound else "")
                if region.bound and region.mode == "pmem":
                    devs[f"pmem_region{region.id}"] = (
                        f"{rpath}/pmem_region{region.id}",
                        "cxl_pmem_region",
                    )
                if region.id in self.k.dax_regions:
                    devs[f"dax_region{region.id}"] = (
                        f"{rpath}/dax_region{region.id}",
                        "cxl_dax_region",
                    )
            for mem in self.k.memdevs.values():
                mpath = self.memdev_path(mem)
                devs[mem.name] = (mpath, "cxl_mem" if mem.bound else "")
                if self.nmem_of(mem) is not None:
                    devs[f"pmem{mem.id}"] = (f"{mpath}/pmem{mem.id}", "cxl_nvdimm")
            root = self.k.root()
            if root is not None:
                for bridge in self.k.bridges:
                    name = f"nvdimm-bridge{bridge.id}"
                    devs[name] = (f"{self.port_path(root)}/{name}", "cxl_nvdimm_bridge")
            self._cxl_devices = devs
        return self._cxl_devices

    def _cxl_device_link(self, name: str) -> Node | None:
        found = self.cxl_devices().get(name)
        return Link(found[0]) if found is not None else None

    def nmem_of(self, mem: Memdev) -> Nmem | None:
        if self._nmems is None:
            self._nmems = {n.memdev: n for b in self.k.bridges for n in b.nmems}
        return self._nmems.get(mem.id)

    def bridge_path(self, bridge: NvdimmBridge) -> str:
        root = self.k.root()
        assert root is not None
        return f"{self.port_path(root)}/nvdimm-bridge{bridge.id}"

    def dax_devices(self) -> Iterator[tuple[daxk.DaxRegion, daxk.DaxDevice, str]]:
        for region in self.k.regions.values():
            dax = self.k.dax_regions.get(region.id)
            if dax is None:
                continue
            base = f"{self.region_path(region)}/dax_region{dax.id}"
            for dev in dax.devices:
                yield dax, dev, f"{base}/dax{dax.id}.{dev.id}"

    def dev_nodes(self) -> list[tuple[str, int, int, str]]:
        """Character devices: (path below /dev, major, minor, sysfs device path)."""
        nodes = []
        for mem in self.k.memdevs.values():
            major, minor = mem.devnode
            nodes.append((f"cxl/{mem.name}", major, minor, self.memdev_path(mem)))
        for dax, dev, path in self.dax_devices():
            nodes.append((f"dax{dax.id}.{dev.id}", daxk.DAX_MAJOR, dev.minor, path))
        for bridge in self.k.bridges:
            bus = f"{self.bridge_path(bridge)}/ndbus{bridge.bus_id}"
            nodes.append(
                (f"ndctl{bridge.bus_id}", NDCTL_MAJOR, bridge.bus_id, f"{bus}/ndctl{bridge.bus_id}")
            )
            for nmem in bridge.nmems:
                nodes.append((f"nmem{nmem.id}", NMEM_MAJOR, nmem.minor, f"{bus}/nmem{nmem.id}"))
        return nodes

    # -- the root --------------------------------------------------------------------------

    def root(self) -> Dir:
        return static_dir(
            {
                "bus": Dir(self._bus_dir),
                "class": Dir(self._class_dir),
                "dev": static_dir({"char": Dir(self._dev_char), "block": static_dir({})}),
                "devices": Dir(self._devices_root),
            }
        )

    # -- hardware devices ------------------------------------------------------------------

    def _hardware(self) -> dict[str, tuple[str, object]]:
        """Every hardware device directory below devices/: path -> (kind, model object)."""
        if self._hw is None:
            platform = self.k.platform
            hw: dict[str, tuple[str, object]] = {self.root_dev: ("cxl-root", None)}
            for hb in platform.host_bridges:
                hw[hb.path] = ("host-bridge", hb)
                if hb.acpi_path:
                    hw[hb.acpi_path] = ("acpi-host-bridge", hb)
                if hb.rcd is not None:
                    hw[hb.rcd.path] = ("type3", hb.rcd)
                for rp in hb.root_ports:
                    hw[rp.path] = ("root-port", rp)
                    if rp.device is not None:
                        hw[rp.device.path] = ("type3", rp.device)
                    if rp.switch is not None:
                        hw[rp.switch.path] = ("upstream-port", rp.switch)
                        for sp in rp.switch.ports:
                            hw[sp.path] = ("downstream-port", sp)
                            if sp.device is not None:
                                hw[sp.device.path] = ("type3", sp.device)
            self._hw = hw
            # Parent -> child names, for hardware devices and the plain directories above them.
            kids: dict[str, list[str]] = {}
            for path in hw:
                parent, _, name = path.rpartition("/")
                while parent and name not in kids.setdefault(parent, []):
                    kids[parent].append(name)
                    parent, _, name = parent.rpartition("/")
            self._hw_kids = kids
        return self._hw

    def _hw_node(self, path: str) -> Dir:
        """The directory of hardware device ``path`` (or of a plain directory above some)."""
        if path in self._hardware():
            return Dir(partial(self._hw_dir, path), lookup=partial(self._hw_lookup, path))
        return Dir(partial(self._container, path), lookup=partial(self._container_lookup, path))

    def _hw_lookup(self, path: str, name: str) -> Node | None:
        """One child of a hardware directory, if it is a device directory."""
        child = f"{path}/{name}"
        if child in self._hardware() or name in self._hw_children(path):
            return self._hw_node(child)
        return self._attached(path).get(name)

    def _attached(self, path: str) -> dict[str, Node]:
        """The kernel devices below a hardware device: root0 below the CXL root object,
        memN below its type-3 device."""
        kind, _ = self._hardware()[path]
        if kind == "cxl-root":
            root = self.k.root()
            return {root.name: self.port_node(root)} if root is not None else {}
        if kind == "type3":
            return {mem.name: self.memdev_node(mem) for mem in self.memdevs_at(path)}
        return {}

    def _container_lookup(self, path: str, name: str) -> Node | None:
        return self._hw_node(f"{path}/{name}") if name in self._hw_children(path) else None

    def _hw_children(self, path: str) -> list[str]:
        self._hardware()
        return self._hw_kids.get(path, [])

    def memdevs_at(self, path: str) -> list[Memdev]:
        if self._memdev_at is None:
            self._memdev_at = {}
            for mem in self.k.memdevs.values():
                self._memdev_at.setdefault(mem.parent, []).append(mem)
        return self._memdev_at.get(path, [])

    def _devices_root(self) -> dict[str, Node]:
        entries: dict[str, Node] = {
            "system": static_dir({"memory": Dir(self._memory_dir), "node": Dir(self._node_root)}),
        }
        for top in self._hw_children("devices"):
            entries[top] = self._hw_node(f"devices/{top}")
        return entries

    def _container(self, path: str) -> dict[str, Node]:
        """A directory that is only a parent of device directories (platform, LNXSYSTM:00)."""
        return {name: self._hw_node(f"{path}/{name}") for name in self._hw_children(path)}

    def _hw_dir(self, path: str) -> dict[str, Node]:
        kind, obj = self._hardware()[path]
        entries = self._hw_attrs(path, kind, obj)
        for name in self._hw_children(path):
            entries[name] = self._hw_node(f"{path}/{name}")
        entries.update(self._attached(path))
        return entries

    def _hw_attrs(self, path: str, kind: str, obj: object) -> dict[str, Node]:
        cxl_test = self.k.platform.style == "cxl_test"
        entries: dict[str, Node] = {}
        if kind == "cxl-root":
            name = path.rsplit("/", 1)[1]
            modalias = "platform:cxl_acpi" if cxl_test else "acpi:ACPI0017:"
            entries.update(
                {
                    "modalias": ro(modalias),
                    "uevent": uevent(["DRIVER=cxl_acpi", f"MODALIAS={modalias}"]),
                    "driver": Link("bus/platform/drivers/cxl_acpi"),
                    "subsystem": Link("bus/platform"),
                }
            )
            if not cxl_test:
                entries["driver_override"] = ro("(null)")
            del name
        elif kind == "host-bridge":
            if cxl_test:
                entries.update(self._platform_dev_attrs(path))
                # The mock host bridges are their own ACPI companions.
                self_link = "firmware_node" if getattr(obj, "rch", False) else "physical_node"
                entries[self_link] = Link(path)
            else:
                hb_acpi = getattr(obj, "acpi_path", "")
                entries.update(
                    {
                        "uevent": uevent([]),
                        "firmware_node": Link(hb_acpi),
                        "power": static_dir({}),
                    }
                )
        elif kind == "acpi-host-bridge":
            hb_path = getattr(obj, "path", "")
            entries.update(
                {
                    "hid": ro("ACPI0016"),
                    "path": ro(f"\\_SB_.PC{getattr(obj, 'bus_nr', 0):02X}"),
                    "uid": ro(getattr(obj, "uid", 0)),
                    "modalias": ro("acpi:ACPI0016:PNP0A08:PNP0A03:"),
                    "uevent": uevent(["MODALIAS=acpi:ACPI0016:PNP0A08:PNP0A03:"]),
                    "physical_node": Link(hb_path),
                    "subsystem": Link("bus/acpi"),
                }
            )
        elif cxl_test:
            entries.update(self._platform_dev_attrs(path))
            if kind == "type3":
                # The mock's test hooks (security, events, sanitize timing).
                entries["driver"] = Link("bus/platform/drivers/cxl_mock_mem")
                entries["security_lock"] = Attr(0o644, lambda: b"0\n", not_emulated)
                entries["event_trigger"] = wo()
                entries["sanitize_timeout"] = Attr(0o644, lambda: b"0\n", not_emulated)
                # sha256 of the firmware uploaded so far: none yet.
                entries["fw_buf_checksum"] = ro(hashlib.sha256(b"").hexdigest())
        else:
            entries.update(self._pci_attrs(kind, obj))
        return entries

    def _platform_dev_attrs(self, path: str) -> dict[str, Node]:
        name = path.rsplit("/", 1)[1]
        base = name.split(".")[0]
        return {
            "modalias": ro(f"platform:{base}"),
            "uevent": uevent([f"MODALIAS=platform:{base}"]),
            "driver_override": ro("(null)"),
            "subsystem": Link("bus/platform"),
            "power": static_dir({}),
        }

    def _pci_attrs(self, kind: str, obj: object) -> dict[str, Node]:
        numa = getattr(obj, "numa_node", -1) if kind == "type3" else -1
        # PCI functions of one kind look alike: share their (immutable) attribute nodes.
        template = self._pci_templates.get((kind, numa))
        if template is None:
            template = self._pci_template(kind, numa)
            self._pci_templates[(kind, numa)] = template
        return dict(template)

    @staticmethod
    def _pci_template(kind: str, numa: int) -> dict[str, Node]:
        # Class codes: PCI bridge 0x060400, CXL memory device 0x050210.
        if kind == "type3":
            vendor, device, cls, driver = "0x8086", "0x0d93", "0x050210", "cxl_pci"
        else:
            vendor, device, cls, driver = "0x8086", "0x7075", "0x060400", "pcieport"
            if kind == "upstream-port":
                device = "0x7073"
            elif kind == "downstream-port":
                device = "0x7074"
        return {
            "vendor": ro(vendor),
            "device": ro(device),
            "class": ro(cls),
            "numa_node": ro(numa),
            "uevent": uevent([f"DRIVER={driver}", f"PCI_CLASS={cls[2:].upper()}"]),
            "driver": Link(f"bus/pci/drivers/{driver}"),
            "subsystem": Link("bus/pci"),
            "power": static_dir({}),
        }

    # -- CXL objects -----------------------------------------------------------------------

    def port_node(self, port: Port) -> Dir:
        return Dir(partial(self._port_dir, port), lookup=partial(self._port_entry, port))

    def _port_links(self, port: Port) -> dict[str, Node]:
        links: dict[str, Node] = {"subsystem": Link("bus/cxl"), "uport": Link(port.uport)}
        if port.parent is not None:
            links["parent_dport"] = Link(port.parent_dport)
        if port.bound and port.kind != "root":
            links["driver"] = Link("bus/cxl/drivers/cxl_port")
        return links

    def _port_entry(self, port: Port, name: str) -> Node | None:
        node = table_lookup(PORT_ATTRS, port, name)
        if node is not None:
            return node
        if name in ("subsystem", "uport", "parent_dport", "driver"):
            return self._port_links(port).get(name, MISSING)
        return None

    def _port_dir(self, port: Port) -> dict[str, Node]:
        entries = table_entries(PORT_ATTRS, port)
        entries.update(self._port_links(port))
        # Root dports and decoders come from cxl_acpi; the others from the cxl_port probe.
        if port.kind == "root" or port.bound:
            for dport in port.dports:
                entries[f"dport{dport.id}"] = Link(dport.device)
            for dec in port.decoders:
                entries[dec.name] = self.decoder_node(dec)
        if port.bound:
            for child in self.children(port.id):
                entries[child.name] = self.port_node(child)
        if port.kind == "root":
            for bridge in self.k.bridges:
                entries[f"nvdimm-bridge{bridge.id}"] = Dir(partial(self._bridge_dir, bridge))
        return entries

    def decoder_node(self, dec: Decoder) -> Dir:
        return Dir(partial(self._decoder_dir, dec), lookup=partial(self._decoder_entry, dec))

    def _decoder_region(self, dec: Decoder) -> Node | None:
        if dec.kind == "root":
            return None
        region = self.k.regions.get(dec.region) if dec.region is not None else None
        return ro(region.name if region else "")

    def _decoder_entry(self, dec: Decoder, name: str) -> Node | None:
        node = table_lookup(DECODER_ATTRS, dec, name)
        if node is not None:
            return node
        if name == "region":
            return self._decoder_region(dec) or MISSING
        if name == "subsystem":
            return Link("bus/cxl")
        return None

    def _decoder_dir(self, dec: Decoder) -> dict[str, Node]:
        entries = table_entries(DECODER_ATTRS, dec)
        region_attr = self._decoder_region(dec)
        if region_attr is not None:
            entries["region"] = region_attr
        entries["subsystem"] = Link("bus/cxl")
        if dec.kind == "root":
            for r in self.k.regions.values():
                if r.root_port == dec.port and r.root_decoder == dec.index:
                    entries[r.name] = Dir(partial(self._region_dir, r))
        return entries

    def _region_dir(self, region: Region) -> dict[str, Node]:
        entries: dict[str, Node] = dict(region_attrs(region))
        entries["subsystem"] = Link("bus/cxl")
        if region.bound:
            entries["driver"] = Link("bus/cxl/drivers/cxl_region")
            if region.mode == "pmem":
                entries[f"pmem_region{region.id}"] = Dir(
                    lambda: self._cxl_child("cxl_pmem_region", 7)
                )
        dax = self.k.dax_regions.get(region.id)
        if dax is not None:
            entries[f"dax_region{dax.id}"] = Dir(lambda: self._dax_region_dir(dax, region))
        return entries

    def _cxl_child(self, devtype: str, t: int, driver: str = "") -> dict[str, Node]:
        drv = driver or devtype
        return {
            "devtype": ro(devtype),
            "modalias": ro(f"cxl:t{t}"),
            "uevent": uevent([f"DEVTYPE={devtype}", f"DRIVER={drv}", f"MODALIAS=cxl:t{t}"]),
            "subsystem": Link("bus/cxl"),
            "driver": Link(f"bus/cxl/drivers/{drv}"),
        }

    def _dax_region_dir(self, dax: daxk.DaxRegion, region: Region) -> dict[str, Node]:
        entries = self._cxl_child("cxl_dax_region", 8)
        entries["dax_region"] = Dir(lambda: dict(daxk.dax_region_group(dax)))
        for dev in dax.devices:
            name = f"dax{dax.id}.{dev.id}"
            entries[name] = Dir(partial(self._dax_dev_dir, dax, dev))
        return entries

    def _dax_dev_dir(self, dax: daxk.DaxRegion, dev: daxk.DaxDevice) -> dict[str, Node]:
        entries: dict[str, Node] = dict(daxk.dax_device_attrs(dax, dev))
        entries["subsystem"] = Link("bus/dax")
        entries["power"] = static_dir({})
        if dev.driver:
            entries["driver"] = Link(f"bus/dax/drivers/{dev.driver}")
        for i in range(len(dev.ranges)):
            entries[f"mapping{i}"] = Dir(partial(daxk.mapping_attrs, dax, dev, i))
        return entries

    def memdev_node(self, mem: Memdev) -> Dir:
        return Dir(partial(self._memdev_dir, mem), lookup=partial(self._memdev_entry, mem))

    @staticmethod
    def _memdev_common(mem: Memdev) -> dict[str, Node]:
        """Links and partition directories of ``memN`` (the cheap, often-read entries)."""
        entries: dict[str, Node] = {
            "subsystem": Link("bus/cxl"),
            "ram": Dir(partial(partition_attrs, mem, "ram")),
            "pmem": Dir(partial(partition_attrs, mem, "pmem")),
        }
        if mem.bound:
            entries["driver"] = Link("bus/cxl/drivers/cxl_mem")
        return entries

    def _memdev_entry(self, mem: Memdev, name: str) -> Node | None:
        node = table_lookup(MEMDEV_ATTRS, mem, name)
        if node is not None:
            return node
        if name in ("subsystem", "ram", "pmem", "driver"):
            return self._memdev_common(mem).get(name, MISSING)
        return None

    def _memdev_dir(self, mem: Memdev) -> dict[str, Node]:
        entries = table_entries(MEMDEV_ATTRS, mem)
        entries.update(self._memdev_common(mem))
        entries["security"] = Dir(security_attrs)
        entries["firmware"] = static_dir(
            {
                mem.name: Dir(
                    lambda: {
                        **firmware_upload_attrs(),
                        "subsystem": Link("class/firmware"),
                        "device": Link(self.memdev_path(mem)),
                    }
                )
            }
        )
        if self.nmem_of(mem) is not None:
            entries[f"pmem{mem.id}"] = Dir(self._pmem_dir)
        return entries

    def _pmem_dir(self) -> dict[str, Node]:
        entries: dict[str, Node] = dict(pmem_attrs())
        entries["subsystem"] = Link("bus/cxl")
        entries["driver"] = Link("bus/cxl/drivers/cxl_nvdimm")
        return entries

    def _bridge_dir(self, bridge: NvdimmBridge) -> dict[str, Node]:
        entries: dict[str, Node] = dict(bridge_attrs())
        entries["subsystem"] = Link("bus/cxl")
        entries["driver"] = Link("bus/cxl/drivers/cxl_nvdimm_bridge")
        entries[f"ndbus{bridge.bus_id}"] = Dir(lambda: self._ndbus_dir(bridge))
        return entries

    def _ndbus_dir(self, bridge: NvdimmBridge) -> dict[str, Node]:
        bus_path = f"{self.bridge_path(bridge)}/ndbus{bridge.bus_id}"
        entries: dict[str, Node] = dict(ndbus_attrs(bridge))
        entries["subsystem"] = Link("bus/nd")
        entries["power"] = static_dir({})
        entries[f"ndctl{bridge.bus_id}"] = Dir(
            lambda: {
                **ndctl_attrs(bridge),
                "subsystem": Link("class/nd"),
                "device": Link(bus_path),
                "power": static_dir({}),
            }
        )
        for nmem in bridge.nmems:
            entries[f"nmem{nmem.id}"] = Dir(partial(self._nmem_dir, nmem))
        return entries

    def _nmem_dir(self, nmem: Nmem) -> dict[str, Node]:
        entries: dict[str, Node] = dict(nmem_attrs(nmem, active=False))
        entries["subsystem"] = Link("bus/nd")
        entries["driver"] = Link("bus/nd/drivers/nvdimm")
        entries["power"] = static_dir({})
        entries["cxl"] = Dir(lambda: dict(nmem_cxl_attrs(nmem)))
        return entries

    # -- memory blocks and nodes -----------------------------------------------------------

    def _memory_dir(self) -> dict[str, Node]:
        mem = self.k.memory
        entries: dict[str, Node] = dict(memory_attrs(mem))
        entries["power"] = static_dir({})
        for block in mem.blocks.values():
            entries[f"memory{block.index}"] = Dir(partial(self._block_dir, block))
        return entries

    @staticmethod
    def _block_dir(block: MemoryBlock) -> dict[str, Node]:
        return {
            **block_attrs(block),
            f"node{block.node}": Link(f"devices/system/node/node{block.node}"),
            "subsystem": Link("bus/memory"),
            "power": static_dir({}),
        }

    def _node_root(self) -> dict[str, Node]:
        mem = self.k.memory
        entries: dict[str, Node] = dict(node_root_attrs(mem))
        entries["power"] = static_dir({})
        for node in mem.online_nodes():
            entries[f"node{node}"] = Dir(partial(self._node_dir, node))
        return entries

    def _node_dir(self, node: int) -> dict[str, Node]:
        mem = self.k.memory
        cpus = node in mem.cpu_nodes
        entries: dict[str, Node] = {
            "cpulist": ro("0-3" if cpus and node == 0 else ""),
            "distance": ro(" ".join("10" if n == node else "20" for n in mem.online_nodes())),
            "uevent": uevent([]),
            "subsystem": Link("bus/node"),
            "power": static_dir({}),
        }
        online = 0
        for block in mem.blocks.values():
            if block.node == node:
                entries[f"memory{block.index}"] = Link(f"devices/system/memory/memory{block.index}")
                online += mem.block_size if block.online else 0
        entries["meminfo"] = ro(node_meminfo(node, online))
        # Access classes: performance from initiators to this node (nothing reported here).
        entries["access0"] = static_dir({"initiators": static_dir({}), "targets": static_dir({})})
        entries["access1"] = static_dir({"initiators": static_dir({}), "targets": static_dir({})})
        return entries

    # -- buses, classes, dev ---------------------------------------------------------------

    def _bus_dir(self) -> dict[str, Node]:
        return {
            "cxl": Dir(self._cxl_bus),
            "dax": Dir(self._dax_bus),
            "nd": Dir(self._nd_bus),
            "platform": Dir(self._platform_bus),
            "pci": Dir(self._pci_bus),
            "memory": Dir(self._memory_bus),
            "node": Dir(self._node_bus),
            "acpi": Dir(self._acpi_bus),
        }

    def _simple_bus(self, devices: dict[str, str]) -> dict[str, Node]:
        """A bus directory whose drivers do not matter here: device links only."""
        entries = self._bus_common()
        entries["devices"] = static_dir({name: Link(path) for name, path in devices.items()})
        entries["drivers"] = static_dir({})
        return entries

    def _memory_bus(self) -> dict[str, Node]:
        return self._simple_bus(
            {
                f"memory{b.index}": f"devices/system/memory/memory{b.index}"
                for b in self.k.memory.blocks.values()
            }
        )

    def _node_bus(self) -> dict[str, Node]:
        return self._simple_bus(
            {f"node{n}": f"devices/system/node/node{n}" for n in self.k.memory.online_nodes()}
        )

    def _acpi_bus(self) -> dict[str, Node]:
        return self._simple_bus(
            {
                hb.acpi_path.rsplit("/", 1)[1]: hb.acpi_path
                for hb in self.k.platform.host_bridges
                if hb.acpi_path
            }
        )

    def _bus_common(self) -> dict[str, Node]:
        return {
            "drivers_autoprobe": Attr(0o644, lambda: b"1\n", None),
            "drivers_probe": wo(),
            "uevent": wo(),
        }

    @staticmethod
    def _driver_dir(bound: Callable[[], dict[str, str]], bind_attrs: bool) -> Dir:
        def build() -> dict[str, Node]:
            entries: dict[str, Node] = {"uevent": wo()}
            if bind_attrs:
                entries["bind"] = wo()
                entries["unbind"] = wo()
            for dev_name, path in bound().items():
                entries[dev_name] = Link(path)
            return entries

        return Dir(build)

    def _cxl_bus(self) -> dict[str, Node]:
        entries = self._bus_common()
        entries["flush"] = wo(_flush_store, pure=True)

        def bound(driver: str) -> dict[str, str]:
            return {n: p for n, (p, d) in self.cxl_devices().items() if d == driver}

        entries["devices"] = Dir(
            lambda: {name: Link(path) for name, (path, _) in self.cxl_devices().items()},
            lookup=self._cxl_device_link,
        )
        entries["drivers"] = Dir(
            lambda: {
                drv: self._driver_dir(partial(bound, drv), drv not in _NO_BIND_ATTRS)
                for drv in CXL_DRIVERS
            }
        )
        return entries

    def _dax_bus(self) -> dict[str, Node]:
        entries = self._bus_common()

        def bound(driver: str) -> dict[str, str]:
            return {
                f"dax{dax.id}.{dev.id}": path
                for dax, dev, path in self.dax_devices()
                if dev.driver == driver
            }

        entries["devices"] = Dir(
            lambda: {f"dax{dax.id}.{dev.id}": Link(path) for dax, dev, path in self.dax_devices()}
        )

        def driver(name: str) -> dict[str, Node]:
            entries: dict[str, Node] = {
                "bind": wo(),
                "unbind": wo(),
                "new_id": wo(),
                "remove_id": wo(),
                "uevent": wo(),
            }
            entries.update({n: Link(p) for n, p in bound(name).items()})
            return entries

        entries["drivers"] = Dir(lambda: {drv: Dir(partial(driver, drv)) for drv in DAX_DRIVERS})
        return entries

    def _nd_bus(self) -> dict[str, Node]:
        entries = self._bus_common()
        devices: dict[str, Node] = {}
        nvdimm_bound: dict[str, str] = {}
        for bridge in self.k.bridges:
            bus = f"{self.bridge_path(bridge)}/ndbus{bridge.bus_id}"
            for nmem in bridge.nmems:
                devices[f"nmem{nmem.id}"] = Link(f"{bus}/nmem{nmem.id}")
                nvdimm_bound[f"nmem{nmem.id}"] = f"{bus}/nmem{nmem.id}"
        entries["devices"] = static_dir(devices)
        entries["drivers"] = static_dir(
            {
                drv: static_dir(
                    {
                        "bind": wo(),
                        "unbind": wo(),
                        "uevent": wo(),
                        **(
                            {n: Link(p) for n, p in nvdimm_bound.items()} if drv == "nvdimm" else {}
                        ),
                    }
                )
                for drv in ND_DRIVERS
            }
        )
        return entries

    def _platform_bus(self) -> dict[str, Node]:
        entries = self._bus_common()
        devices: dict[str, Node] = {}
        mock_bound: dict[str, Node] = {}
        for path, (kind, _) in self._hardware().items():
            if path.startswith("devices/platform/"):
                name = path.rsplit("/", 1)[1]
                devices[name] = Link(path)
                if kind == "type3":
                    mock_bound[name] = Link(path)
        root_name = self.root_dev.rsplit("/", 1)[1]
        drivers: dict[str, Node] = {
            "cxl_acpi": static_dir(
                {"bind": wo(), "unbind": wo(), "uevent": wo(), root_name: Link(self.root_dev)}
            )
        }
        if self.k.platform.style == "cxl_test":
            drivers["cxl_mock_mem"] = static_dir(
                {
                    "bind": wo(),
                    "unbind": wo(),
                    "uevent": wo(),
                    # Per-device cap on injected poison records (mock default 8).
                    "poison_inject_max": Attr(0o644, lambda: b"8\n", not_emulated),
                    **mock_bound,
                }
            )
        entries["devices"] = static_dir(devices)
        entries["drivers"] = static_dir(drivers)
        return entries

    def _pci_bus(self) -> dict[str, Node]:
        entries = self._bus_common()
        devices: dict[str, Node] = {}
        by_driver: dict[str, dict[str, Node]] = {"cxl_pci": {}, "pcieport": {}}
        if self.k.platform.style != "cxl_test":
            for path, (kind, _) in self._hardware().items():
                if kind in ("type3", "root-port", "upstream-port", "downstream-port"):
                    name = path.rsplit("/", 1)[1]
                    devices[name] = Link(path)
                    by_driver["cxl_pci" if kind == "type3" else "pcieport"][name] = Link(path)
        entries["devices"] = static_dir(devices)
        entries["drivers"] = static_dir(
            {
                drv: static_dir({"bind": wo(), "unbind": wo(), "uevent": wo(), **links})
                for drv, links in by_driver.items()
            }
        )
        return entries

    def _class_dir(self) -> dict[str, Node]:
        nd: dict[str, Node] = {}
        for bridge in self.k.bridges:
            bus = f"{self.bridge_path(bridge)}/ndbus{bridge.bus_id}"
            nd[f"ndctl{bridge.bus_id}"] = Link(f"{bus}/ndctl{bridge.bus_id}")
        return {"nd": static_dir(nd), "firmware": static_dir({})}

    def _dev_char(self) -> dict[str, Node]:
        return {f"{major}:{minor}": Link(path) for _, major, minor, path in self.dev_nodes()}


def _flush_store(data: bytes) -> None:
    """``/sys/bus/cxl/flush``: ``1`` waits for pending port work (there is none)."""
    if not sysfs_streq(data, b"1"):
        raise kerr(errno.EINVAL)


__all__ = ["Tree", "node_list"]
