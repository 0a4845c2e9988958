"""dax_hmem: soft-reserved memory (EFI_MEMORY_SP: HBM, or RAM set apart with
``efi_fake_mem=``) offered as DAX regions, as drivers/dax/hmem does in Linux v6.14.

At boot the built-in half (device_hmem) gathers the soft-reserved ranges and registers one
platform device, ``hmem_platform.0``, when there is any. Its driver, ``hmem_platform``
(module dax_hmem, which loads cxl_acpi first so that CXL claims its windows before), walks
the ranges and registers a platform device ``hmem.N`` for each one, N a
memregion id (the id space CXL root decoders and regions share). A platform puts no
soft-reserved range inside a CXL window (fake_sysfs.platform.validate), so none is left to
CXL here. The ``hmem`` driver's
probe of ``hmem.N`` makes DAX region N over the range, with the ``dax_region/`` group on
``hmem.N``, PMD aligned and flagged for kmem, and its device ``daxN.0`` covering all of
it; the dax bus binds that device to kmem (device_dax on a kernel without kmem). The region
is dynamic, carved with the same files as a CXL RAM region's (kernel.dax).

Unbinding ``hmem.N`` takes its DAX region and devices away; unbinding ``hmem_platform.0``
unregisters the ``hmem.N`` devices and frees their ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fake_sysfs.kernel import core, dax
from fake_sysfs.kernel.attrs import const, show_only
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernfs.nodes import Dir, Node
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

PLATFORM_ROOT = "devices/platform"
HMEM_PLATFORM = "hmem_platform.0"
HMEM_PLATFORM_KEY = f"bus/platform/{HMEM_PLATFORM}"


@dataclass(eq=False, repr=False)
class Hmem(Record):
    """An ``hmem.N`` platform device: one soft-reserved range (struct memregion_info)."""

    id: int
    start: int
    size: int
    #: The range's node (SRAT's), which its memory comes up on.
    target_node: int
    #: The device's own node: the target node if online, else the nearest online one
    #: (numa_map_to_online_node).
    numa_node: int

    @property
    def name(self) -> str:
        return f"hmem.{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/platform/{self.name}"


def register_platform_device(k: Kernel) -> None:
    """device_hmem's late initcall: ``hmem_platform.0`` once there is soft-reserved memory
    (registered unbound; boot probes it after the CXL root, as dax_hmem loads cxl_acpi
    before it registers its drivers)."""
    if k.platform.soft_reserved:
        core.device_add(k, Device(HMEM_PLATFORM, PLATFORM_ROOT, "hmem-platform", "platform"), False)


def _online_node(k: Kernel, node: int) -> int:
    online = k.memory.online_nodes()
    if node in online:
        return node
    # Every other node is as far as the next: the nearest online node is the lowest.
    return online[0] if online else -1


def hmem_platform_probe(k: Kernel, dev: Device) -> None:
    """Register ``hmem.N`` for every soft-reserved range, N the lowest free memregion id.
    (The kernel leaves a range inside a CXL window to CXL; a platform has none such.)"""
    for sr in k.platform.soft_reserved:
        hmem = Hmem(
            id=lowest_free_id(k.allocated_region_ids()),
            start=sr.start,
            size=sr.size,
            target_node=sr.node,
            numa_node=_online_node(k, sr.node),
        )
        k.hmem[hmem.id] = hmem
        core.device_add(k, Device(hmem.name, PLATFORM_ROOT, "hmem", "platform"))


def hmem_platform_remove(k: Kernel, dev: Device) -> None:
    for hmem in sorted(k.hmem.values(), key=lambda h: h.id, reverse=True):
        found = k.devices.get(hmem.devkey)
        if found is not None:
            core.device_unregister(k, found)


def hmem_of(k: Kernel, dev: Device) -> Hmem:
    return k.hmem[int(dev.name.rpartition(".")[2])]


def hmem_probe(k: Kernel, dev: Device) -> None:
    """dax_hmem_probe: DAX region N over the range (kmem flagged, memmap_on_memory off)
    and its device ``daxN.0`` covering it all."""
    hmem = hmem_of(k, dev)
    region = dax.DaxRegion(
        id=hmem.id,
        start=hmem.start,
        size=hmem.size,
        target_node=hmem.target_node,
        host=dev.key,
        numa_node=hmem.numa_node,
    )
    dax.add_dax_region(k, region, dev.key, memmap_on_memory=0)


def hmem_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)
    k.dax_regions.pop(hmem_of(k, dev).id, None)


def _hmem_release(k: Kernel, dev: Device) -> None:
    # The memregion id goes back with the device (release_memregion).
    k.hmem.pop(int(dev.name.rpartition(".")[2]), None)


def _dax_hmem_loaded(k: Kernel) -> bool:
    """Both drivers are dax_hmem's, a module (as distributions build it) that udev loads
    for the hmem devices: there only when the platform has soft-reserved memory, as the
    module's ``/sys/module`` entry is (modules.py)."""
    return bool(k.platform.soft_reserved)


HMEM_PLATFORM_DRIVER = Driver(
    "hmem_platform",
    "platform",
    lambda k, dev: dev.type == "hmem-platform",
    hmem_platform_probe,
    hmem_platform_remove,
    loaded=_dax_hmem_loaded,
)
HMEM_DRIVER = Driver(
    "hmem",
    "platform",
    lambda k, dev: dev.type == "hmem",
    hmem_probe,
    hmem_remove,
    loaded=_dax_hmem_loaded,
)


def numa_node_show(k: Kernel, hmem: Hmem) -> int:
    return hmem.numa_node


def _dax_region(k: Kernel, hmem: Hmem) -> Node | None:
    # Present while the hmem driver holds the device (its probe made the DAX region).
    region = k.dax_regions.get(hmem.id)
    if region is None or region.host != hmem.devkey:
        return None
    return Dir(lambda: dax.dax_region_group(k, region))


HMEM_DEVICE: DeviceType[Hmem] = DeviceType(
    "hmem",
    get=hmem_of,
    entries={
        "modalias": const("platform:hmem"),
        "driver_override": const("(null)"),
        "numa_node": show_only(numa_node_show),
        "dax_region": _dax_region,
    },
    uevent_vars=lambda k, hmem: ["MODALIAS=platform:hmem"],
    power=True,
    release=_hmem_release,
)


def _platform_self(k: Kernel, dev: Device) -> Device:
    return dev


HMEM_PLATFORM_DEVICE: DeviceType[Device] = DeviceType(
    "hmem-platform",
    get=_platform_self,
    entries={
        "modalias": const("platform:hmem_platform"),
        "driver_override": const("(null)"),
        "numa_node": const(-1),
    },
    uevent_vars=lambda k, dev: ["MODALIAS=platform:hmem_platform"],
    power=True,
)


def iomem_children(k: Kernel, start: int, end: int) -> list[tuple[int, int, str]]:
    """What the drivers requested of a soft-reserved range: device_dax's ranges (named
    after the device). kmem's are listed by kernel.iomem with their System RAM."""
    out: list[tuple[int, int, str]] = []
    for region in k.dax_regions.values():
        for device in region.devices:
            bound = k.devices.get(device.devkey)
            if bound is None or bound.driver != "device_dax":
                continue
            for s, size in device.ranges:
                if start <= s and s + size - 1 <= end:
                    out.append((s, s + size - 1, device.name))
    return sorted(out)
