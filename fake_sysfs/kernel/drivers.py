"""The emulated kernel's loaded modules: every bus with its drivers, every device type and
device class, by name.

The driver core (kernel.core) looks drivers and device types up here; kernfs draws
``/sys/bus`` and ``/sys/class`` from these tables and the device registry.
"""

from __future__ import annotations

from typing import Any

from fake_sysfs.kernel import (
    acpi,
    dax,
    decoders,
    hardware,
    hmem,
    memdevs,
    memory,
    namespaces,
    nd_region,
    nvdimm,
    ports,
    regions,
)
from fake_sysfs.kernel.core import Bus, DeviceType, Driver
from fake_sysfs.kernel.cxlbus import cxl_bus_attrs


def _by_name(*drivers: Driver) -> dict[str, Driver]:
    return {drv.name: drv for drv in drivers}


BUSES: dict[str, Bus] = {
    "cxl": Bus(
        "cxl",
        _by_name(
            ports.CXL_PORT_DRIVER,
            memdevs.CXL_MEM_DRIVER,
            regions.CXL_REGION_DRIVER,
            nvdimm.CXL_NVDIMM_BRIDGE_DRIVER,
            nvdimm.CXL_NVDIMM_DRIVER,
            nvdimm.CXL_PMEM_REGION_DRIVER,
            dax.CXL_DAX_REGION_DRIVER,
        ),
        attrs=cxl_bus_attrs,
    ),
    "dax": Bus("dax", _by_name(dax.DEVICE_DAX_DRIVER, dax.KMEM_DRIVER)),
    "nd": Bus("nd", dict(nvdimm.ND_DRIVERS)),
    "platform": Bus(
        "platform",
        _by_name(
            acpi.CXL_ACPI_DRIVER,
            memdevs.CXL_MOCK_MEM_DRIVER,
            hmem.HMEM_PLATFORM_DRIVER,
            hmem.HMEM_DRIVER,
        ),
    ),
    "pci": Bus("pci", _by_name(memdevs.CXL_PCI_DRIVER, hardware.PCIEPORT)),
    "memory": Bus("memory", {}),
    "node": Bus("node", {}),
    "acpi": Bus("acpi", {}),
}

TYPES: dict[str, DeviceType[Any]] = {
    t.name: t
    for t in (
        hardware.CXL_ACPI_ROOT,
        hardware.PCI_HOST_BRIDGE,
        hardware.ACPI_HOST_BRIDGE,
        hardware.PCI_FUNCTION,
        hardware.MOCK_DEVICE,
        hmem.HMEM_PLATFORM_DEVICE,
        hmem.HMEM_DEVICE,
        ports.PORT,
        decoders.ROOT_DECODER,
        decoders.SWITCH_DECODER,
        decoders.ENDPOINT_DECODER,
        memdevs.MEMDEV,
        regions.REGION,
        nvdimm.PMEM_REGION,
        dax.DAX_REGION,
        nvdimm.BRIDGE,
        nvdimm.NDBUS,
        nvdimm.NDCTL,
        nvdimm.PMEM,
        nvdimm.NMEM,
        nd_region.ND_REGION,
        namespaces.NAMESPACE,
        namespaces.BTT,
        namespaces.PFN,
        namespaces.ND_DAX,
        namespaces.DISK,
        dax.DAX_DEVICE,
        memory.MEMORY_BLOCK,
        memory.NODE,
    )
}

#: /sys/class directories (firmware: the memdevs' firmware-upload devices, drawn with them;
#: block: the pmem disks of enabled namespaces).
CLASSES = ("nd", "firmware", "block")
