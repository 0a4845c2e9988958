"""Assign ``/sys/devices`` paths to a platform's hardware, the way a Linux guest names it.

ACPI platforms (QEMU): the CXL root object is ``platform/ACPI0017:00``; each host bridge is a
PCI root bus ``pci0000:BB`` (BB = the pxb ``bus_nr``) whose ACPI companion is
``LNXSYSTM:00/LNXSYBUS:00/ACPI0016:NN`` (NN = ACPI enumeration order). Devices below a root
bus get bus numbers depth first from ``bus_nr + 1``, as the PCI core assigns them when it
scans bridges, and device numbers in the order they were added to their bus.

cxl_test: every device is a platform device nested below its parent, named by its label
(``cxl_host_bridge.0/cxl_root_port.0/cxl_switch_uport.0/...``).
"""

from __future__ import annotations

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import HostBridge, Platform, Switch, Type3Device

ACPI_ROOT = "devices/platform/ACPI0017:00"
CXL_TEST_ROOT = "devices/platform/cxl_acpi.0"
ACPI_BUS = "devices/LNXSYSTM:00/LNXSYBUS:00"


def root_device_path(platform: Platform) -> str:
    """The device the CXL root (``root0``) hangs below."""
    return CXL_TEST_ROOT if platform.style == "cxl_test" else ACPI_ROOT


def assign_paths(platform: Platform) -> None:
    if platform.style == "cxl_test":
        _name_platform_devices(platform)
    else:
        _name_pci(platform)


def _name_pci(platform: Platform) -> None:
    claimed: dict[tuple[int, int], str] = {}
    for index, hb in enumerate(platform.host_bridges):
        hb.path = f"devices/pci{hb.segment:04x}:{hb.bus_nr:02x}"
        hb.acpi_path = f"{ACPI_BUS}/ACPI0016:{index:02x}"
        last = _number_bridge_tree(hb)
        who = f"host bridge {hb.label or hb.uid} (bus_nr {hb.bus_nr})"
        if last > 0xFF:
            raise PlatformError(
                f"{who} runs out of PCI bus numbers: its topology needs buses up to {last:#x}"
            )
        for bus in range(hb.bus_nr, last + 1):
            if (hb.segment, bus) in claimed:
                raise PlatformError(
                    f"{who} needs PCI buses {hb.bus_nr:#04x}-{last:#04x}, "
                    f"overlapping {claimed[(hb.segment, bus)]}"
                )
            claimed[(hb.segment, bus)] = who
        if hb.rcd is not None:
            hb.rcd.path = f"{hb.path}/{_bdf(hb.segment, hb.bus_nr, 0)}"


def _bdf(segment: int, bus: int, dev: int) -> str:
    return f"{segment:04x}:{bus:02x}:{dev:02x}.0"


def _number_bridge_tree(hb: HostBridge) -> int:
    """Depth-first bus numbering below one root bus; returns the last bus number used."""
    seg = hb.segment
    next_bus = hb.bus_nr + 1
    for slot, rp in enumerate(hb.root_ports):
        rp.path = f"{hb.path}/{_bdf(seg, hb.bus_nr, slot)}"
        secondary = next_bus
        next_bus += 1
        if rp.device is not None:
            rp.device.path = f"{rp.path}/{_bdf(seg, secondary, 0)}"
        if rp.switch is not None:
            next_bus = _number_switch(rp.switch, rp.path, seg, secondary, next_bus)
    return next_bus - 1


def _number_switch(sw: Switch, parent: str, seg: int, bus: int, next_bus: int) -> int:
    sw.path = f"{parent}/{_bdf(seg, bus, 0)}"
    internal = next_bus
    next_bus += 1
    for slot, sp in enumerate(sw.ports):
        sp.path = f"{sw.path}/{_bdf(seg, internal, slot)}"
        secondary = next_bus
        next_bus += 1
        if sp.device is not None:
            sp.device.path = f"{sp.path}/{_bdf(seg, secondary, 0)}"
    return next_bus


def _name_platform_devices(platform: Platform) -> None:
    def place(dev: Type3Device | None, parent: str) -> None:
        if dev is not None:
            dev.path = f"{parent}/{dev.label}"

    for hb in platform.host_bridges:
        hb.path = f"devices/platform/{hb.label}"
        hb.acpi_path = ""
        place(hb.rcd, hb.path)
        for rp in hb.root_ports:
            rp.path = f"{hb.path}/{rp.label}"
            place(rp.device, rp.path)
            if rp.switch is not None:
                rp.switch.path = f"{rp.path}/{rp.switch.label}"
                for sp in rp.switch.ports:
                    sp.path = f"{rp.switch.path}/{sp.label}"
                    place(sp.device, sp.path)
