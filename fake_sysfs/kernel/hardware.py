"""The hardware devices firmware and bus enumeration present: the CXL root object, host
bridges and their ACPI companions, PCI functions, and cxl_test's mock platform devices.

Boot registers them (unbound) before any driver probes, as firmware and PCI enumeration do;
the platform model says what they are. Their attributes are the few libcxl and the
upstream tests read (PCI ids and class, NUMA node, ACPI ids, the mock's test hooks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel.attrs import const, not_emulated, show_only, show_store, store_only, when
from fake_sysfs.kernel.core import Device, DeviceType, Driver, device_key
from fake_sysfs.kernfs.nodes import Link
from fake_sysfs.platform.model import (
    HostBridge,
    Platform,
    RootPort,
    Switch,
    SwitchPort,
    Type3Device,
)
from fake_sysfs.platform.naming import root_device_path

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: A hardware device's model object: the platform itself for the CXL root object.
Hardware = Platform | HostBridge | RootPort | Switch | SwitchPort | Type3Device


@dataclass
class HardwareIndex:
    """The platform's hardware devices, in registration order, and their model objects."""

    devices: list[Device] = field(default_factory=list)
    by_key: dict[str, Hardware] = field(default_factory=dict)
    by_path: dict[str, Hardware] = field(default_factory=dict)
    #: Path -> registry key.
    keys: dict[str, str] = field(default_factory=dict)


def index(k: Kernel) -> HardwareIndex:
    if k.runtime.hardware is None:
        k.runtime.hardware = _enumerate(k.platform)
    return k.runtime.hardware


def hw_object(k: Kernel, key: str) -> Hardware | None:
    """The model object of the hardware device with registry key ``key``."""
    return index(k).by_key.get(key)


def hw_at(k: Kernel, path: str) -> Hardware | None:
    """The model object of the hardware device at ``path`` (``devices/...``)."""
    return index(k).by_path.get(path)


def hw_key(k: Kernel, path: str) -> str | None:
    """The registry key of the hardware device at ``path``."""
    return index(k).keys.get(path)


def hardware_devices(k: Kernel) -> list[Device]:
    """New, unbound Device records for every hardware device, parents first; type-3
    devices last, in their probe order."""
    return [
        Device(d.name, d.parent, d.type, d.bus, d.devclass, d.driver, d.devt)
        for d in index(k).devices
    ]


def _enumerate(platform: Platform) -> HardwareIndex:
    acpi = platform.style != "cxl_test"
    found = HardwareIndex()
    keys = found.keys

    def add(path: str, dtype: str, bus: str, obj: Hardware) -> None:
        parent_path, _, name = path.rpartition("/")
        parent = keys.get(parent_path, parent_path)
        key = device_key(name, parent, bus)
        keys[path] = key
        found.devices.append(Device(name, parent, dtype, bus))
        found.by_key[key] = obj
        found.by_path[path] = obj

    fn_type, fn_bus = ("pci-function", "pci") if acpi else ("mock-platform-device", "platform")
    add(root_device_path(platform), "cxl-acpi-root", "platform", platform)
    for hb in platform.host_bridges:
        if acpi:
            add(hb.path, "pci-host-bridge", "", hb)
            if hb.acpi_path:
                add(hb.acpi_path, "acpi-host-bridge", "acpi", hb)
        else:
            add(hb.path, "mock-platform-device", "platform", hb)
        for rp in hb.root_ports:
            add(rp.path, fn_type, fn_bus, rp)
            if rp.switch is not None:
                add(rp.switch.path, fn_type, fn_bus, rp.switch)
                for sp in rp.switch.ports:
                    add(sp.path, fn_type, fn_bus, sp)
    for dev in sorted(platform.devices(), key=lambda d: d.order):
        add(dev.path, fn_type, fn_bus, dev)
    return found


def _hw(k: Kernel, dev: Device) -> Hardware:
    obj = hw_object(k, dev.key)
    assert obj is not None, dev.key
    return obj


def _name(obj: Hardware) -> str:
    return "" if isinstance(obj, Platform) else obj.path.rpartition("/")[2]


# -- the CXL root object: ACPI0017:00 (ACPI) or cxl_acpi.0 (cxl_test) -------------------------


def _root_modalias_show(k: Kernel, platform: Hardware) -> str:
    return "platform:cxl_acpi" if k.platform.style == "cxl_test" else "acpi:ACPI0017:"


CXL_ACPI_ROOT: DeviceType[Hardware] = DeviceType(
    "cxl-acpi-root",
    get=_hw,
    entries={
        "modalias": show_only(_root_modalias_show),
        "driver_override": when(lambda k, o: k.platform.style != "cxl_test", const("(null)")),
    },
    uevent_vars=lambda k, o: [f"MODALIAS={_root_modalias_show(k, o)}"],
)


# -- ACPI host bridges: the PCI root bus device and its ACPI0016 companion ----------------------


def _host_bridge(obj: Hardware) -> HostBridge:
    assert isinstance(obj, HostBridge)
    return obj


PCI_HOST_BRIDGE: DeviceType[Hardware] = DeviceType(
    "pci-host-bridge",
    get=_hw,
    entries={"firmware_node": lambda k, o: Link(_host_bridge(o).acpi_path)},
    power=True,
)

ACPI_HB_MODALIAS = "acpi:ACPI0016:PNP0A08:PNP0A03:"


def _acpi_path_show(k: Kernel, obj: Hardware) -> str:
    return f"\\_SB_.PC{_host_bridge(obj).bus_nr:02X}"


def _acpi_uid_show(k: Kernel, obj: Hardware) -> int:
    return _host_bridge(obj).uid


ACPI_HOST_BRIDGE: DeviceType[Hardware] = DeviceType(
    "acpi-host-bridge",
    get=_hw,
    entries={
        "hid": const("ACPI0016"),
        "path": show_only(_acpi_path_show),
        "uid": show_only(_acpi_uid_show),
        "modalias": const(ACPI_HB_MODALIAS),
        "physical_node": lambda k, o: Link(_host_bridge(o).path),
    },
    uevent_vars=lambda k, o: [f"MODALIAS={ACPI_HB_MODALIAS}"],
)


# -- PCI functions: root ports, switch ports, type-3 devices -----------------------------------

#: Class codes: PCI bridge 0x060400, CXL memory device 0x050210.
_PCI_IDS: dict[type, tuple[str, str, str]] = {
    RootPort: ("0x8086", "0x7075", "0x060400"),
    Switch: ("0x8086", "0x7073", "0x060400"),
    SwitchPort: ("0x8086", "0x7074", "0x060400"),
    Type3Device: ("0x8086", "0x0d93", "0x050210"),
}


def _pci_ids(obj: Hardware) -> tuple[str, str, str]:
    return _PCI_IDS[type(obj)]


def vendor_show(k: Kernel, obj: Hardware) -> str:
    return _pci_ids(obj)[0]


def device_show(k: Kernel, obj: Hardware) -> str:
    return _pci_ids(obj)[1]


def class_show(k: Kernel, obj: Hardware) -> str:
    return _pci_ids(obj)[2]


def numa_node_show(k: Kernel, obj: Hardware) -> int:
    return obj.numa_node if isinstance(obj, Type3Device) else -1


PCI_FUNCTION: DeviceType[Hardware] = DeviceType(
    "pci-function",
    get=_hw,
    entries={
        "vendor": show_only(vendor_show),
        "device": show_only(device_show),
        "class": show_only(class_show),
        "numa_node": show_only(numa_node_show),
    },
    uevent_vars=lambda k, o: [f"PCI_CLASS={class_show(k, o)[2:].upper()}"],
    power=True,
)


def _is_type3(k: Kernel, dev: Device) -> bool:
    return isinstance(hw_object(k, dev.key), Type3Device)


#: pcieport binds the root and switch ports; it sets nothing up that sysfs shows here.
PCIEPORT = Driver(
    "pcieport", "pci", lambda k, dev: dev.type == "pci-function" and not _is_type3(k, dev)
)


# -- cxl_test's mock platform devices ----------------------------------------------------------


def _mock_modalias_show(k: Kernel, obj: Hardware) -> str:
    return f"platform:{_name(obj).split('.')[0]}"


def _is_mock_type3(k: Kernel, obj: Hardware) -> bool:
    return isinstance(obj, Type3Device)


def security_lock_show(k: Kernel, obj: Hardware) -> int:
    return 0


def security_lock_store(k: Kernel, obj: Hardware, buf: bytes) -> None:
    """The mock's hook to lock the device's security state (cxl-security.sh)."""
    not_emulated(k, _mock_device(k, obj), "security_lock")


def event_trigger_store(k: Kernel, obj: Hardware, buf: bytes) -> None:
    """The mock's hook that queues event records (cxl-events.sh)."""
    from fake_sysfs.kernel.mailbox import events

    mem = _mock_memdev(k, obj)
    if mem is None:
        raise kerr(errno.ENXIO)
    events.trigger(k, mem)


def _mock_memdev(k: Kernel, obj: Hardware) -> Memdev | None:
    """The memdev of a mock type-3 device (the device state lives with it)."""
    if isinstance(obj, Platform):
        return None
    for mem in k.memdevs.values():
        if mem.parent == obj.path:
            return mem
    return None


def sanitize_timeout_show(k: Kernel, obj: Hardware) -> int:
    from fake_sysfs.kernel.mailbox import security

    return security.sanitize_timeout_show(_mock_memdev(k, obj))


def sanitize_timeout_store(k: Kernel, obj: Hardware, buf: bytes) -> None:
    """The mock's sanitize duration in milliseconds (cxl-sanitize.sh)."""
    from fake_sysfs.kernel.mailbox import security

    security.sanitize_timeout_store(_mock_memdev(k, obj), buf)


def fw_buf_checksum_show(k: Kernel, obj: Hardware) -> str:
    """sha256 of the last firmware image the mock received."""
    from fake_sysfs.kernel.mailbox import fwupload

    return fwupload.fw_buf_checksum(_mock_memdev(k, obj))


def _mock_device(k: Kernel, obj: Hardware) -> Device | None:
    key = None if isinstance(obj, Platform) else hw_key(k, obj.path)
    return None if key is None else k.devices.get(key)


MOCK_DEVICE: DeviceType[Hardware] = DeviceType(
    "mock-platform-device",
    get=_hw,
    entries={
        "modalias": show_only(_mock_modalias_show),
        "driver_override": const("(null)"),
        # The mock host bridges are their own ACPI companions; the RCH's is its firmware node.
        "physical_node": when(
            lambda k, o: isinstance(o, HostBridge) and not o.rch,
            lambda k, o: Link(_host_bridge(o).path),
        ),
        "firmware_node": when(
            lambda k, o: isinstance(o, HostBridge) and o.rch,
            lambda k, o: Link(_host_bridge(o).path),
        ),
        "security_lock": when(_is_mock_type3, show_store(security_lock_show, security_lock_store)),
        "event_trigger": when(_is_mock_type3, store_only(event_trigger_store)),
        "sanitize_timeout": when(
            _is_mock_type3, show_store(sanitize_timeout_show, sanitize_timeout_store)
        ),
        "fw_buf_checksum": when(_is_mock_type3, show_only(fw_buf_checksum_show)),
    },
    uevent_vars=lambda k, o: [f"MODALIAS={_mock_modalias_show(k, o)}"],
    power=True,
    uevent_driver=False,
)
