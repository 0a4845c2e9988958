"""Memory devices (``memN``, ``/dev/cxl/memN``): the cxl_pci and cxl_mock_mem drivers that
create them for type-3 devices, and the cxl_mem driver that attaches them to the port
topology.

cxl_mem's probe adds the memdev's endpoint (and the switch port above it on first use) and,
for persistent capacity, its ``pmemN`` for the nvdimm bridge; its remove takes them away
again, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.kernel import core, hardware
from fake_sysfs.kernel.attrs import (
    not_emulated,
    show_attr,
    show_only,
    show_store_attr,
    store_attr,
    when,
)
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_MEMORY_EXPANDER, cxl_driver
from fake_sysfs.kernel.mailbox import fwupload, poison, security
from fake_sysfs.kernel.mailbox.commands import GET_FW_INFO, GET_POISON_LIST
from fake_sysfs.kernel.mailbox.device import DeviceState, initial_state
from fake_sysfs.kernel.nd_state import InfoBlock
from fake_sysfs.kernel.nvdimm import add_nvdimm
from fake_sysfs.kernel.ports import add_endpoint, delete_endpoint, port_above, reap_ports
from fake_sysfs.kernfs.nodes import Attr, Dir, Link, Node, static_dir
from fake_sysfs.platform.model import Type3Device
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: Character major of /dev/cxl/memN. Real kernels take a dynamic major; this one is from the
#: range reserved for local/experimental use (never handed out dynamically), so a node staged
#: into a mount namespace can never reach a real driver: opening it fails with ENXIO, as the
#: emulated mailbox does until it is modeled.
CXL_MEM_MAJOR = 60


@dataclass(eq=False, repr=False)
class Memdev(Record):
    id: int
    #: The hardware device the memdev hangs below (``devices/...``).
    parent: str
    ram_size: int
    pmem_size: int
    lsa_size: int
    serial: int
    numa_node: int
    firmware_version: str
    payload_max: int
    qos_class: int | None
    rcd: bool = False
    #: Port id of this memdev's endpoint while it has one.
    endpoint: int | None = None
    #: The platform device's label (auto regions name their members by it).
    label: str = ""
    #: The label storage area, sparse (fake_sysfs.kernel.lsa): page -> base64 bytes.
    lsa: dict[int, str] = field(default_factory=dict)
    #: Info blocks btt / pfn / dax claims wrote on the persistent media, by the DPA of
    #: their namespace's start (kernel.namespaces); labels are in ``lsa``.
    media: dict[str, InfoBlock] = field(default_factory=dict)
    #: Wall-clock time (the kernel log's clock) the device last finished erasing its media
    #: (sanitize, secure erase); 0 for never. The media's bytes are kept outside the kernel
    #: state (fake_sysfs.media), which drops whatever was written before this time.
    erased_at: float = 0.0
    #: What the device's mailbox answers from (fake_sysfs.kernel.mailbox).
    device: DeviceState = field(default_factory=DeviceState)

    @property
    def name(self) -> str:
        return f"mem{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"

    @property
    def devnode(self) -> tuple[int, int]:
        return (CXL_MEM_MAJOR, self.id)


def memdev_of(k: Kernel, dev: Device) -> Memdev:
    return k.memdevs[int(dev.name[len("mem") :])]


# -- cxl_pci / cxl_mock_mem: a type-3 device gets its memdev -----------------------------------


def cxl_pci_probe(k: Kernel, dev: Device) -> None:
    """Create ``memN`` (lowest free id) below the type-3 device; the bus probes it."""
    t3 = hardware.hw_object(k, dev.key)
    assert isinstance(t3, Type3Device)
    mem = Memdev(
        id=lowest_free_id(set(k.memdevs)),
        parent=t3.path,
        ram_size=t3.ram_size,
        pmem_size=t3.pmem_size,
        lsa_size=t3.lsa_size,
        serial=t3.serial or 0,
        numa_node=t3.numa_node,
        firmware_version=t3.firmware_version,
        payload_max=t3.payload_max,
        qos_class=t3.qos_class,
        rcd=t3.rcd,
        label=t3.label,
        device=initial_state(k.platform.style, t3),
    )
    k.memdevs[mem.id] = mem
    core.device_add(k, Device(mem.name, dev.key, "cxl_memdev", "cxl", devt=[CXL_MEM_MAJOR, mem.id]))


def cxl_pci_remove(k: Kernel, dev: Device) -> None:
    """The memdev goes with its driver (and takes its endpoint and ``pmemN`` along)."""
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


def _type3(k: Kernel, dev: Device) -> bool:
    return isinstance(hardware.hw_object(k, dev.key), Type3Device)


CXL_PCI_DRIVER = Driver(
    "cxl_pci",
    "pci",
    lambda k, dev: dev.type == "pci-function" and _type3(k, dev),
    cxl_pci_probe,
    cxl_pci_remove,
)


def poison_inject_max_show(k: Kernel, drv: Driver) -> int:
    # Per-device cap on injected poison records (the mock's default).
    return 8


def poison_inject_max_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    not_emulated(k, drv.name, "poison_inject_max")


def _mock_driver_attrs(k: Kernel) -> dict[str, Node]:
    return {
        "poison_inject_max": show_store_attr(
            poison_inject_max_show, poison_inject_max_store, k, CXL_MOCK_MEM_DRIVER
        )
    }


#: cxl_test's mock type-3 devices (``cxl_mem.N``, ``cxl_rcd.N``) on the platform bus.
CXL_MOCK_MEM_DRIVER = Driver(
    "cxl_mock_mem",
    "platform",
    lambda k, dev: dev.type == "mock-platform-device" and _type3(k, dev),
    cxl_pci_probe,
    cxl_pci_remove,
    loaded=lambda k: k.platform.style == "cxl_test",
    attrs=_mock_driver_attrs,
)


# -- the cxl_mem driver ------------------------------------------------------------------------


def cxl_mem_probe(k: Kernel, dev: Device) -> None:
    """Attach the memdev to the port topology (its endpoint, and the switch port above it
    on first use) and, with persistent capacity, give it ``pmemN`` for the nvdimm bridge."""
    mem = memdev_of(k, dev)
    add_endpoint(k, mem)
    if mem.pmem_size and not add_nvdimm(k, mem):
        k.log.info(dev, "PMEM disabled by platform")


def cxl_mem_remove(k: Kernel, dev: Device) -> None:
    """Newest first: ``pmemN``, then the endpoint (with a switch port it leaves empty). An
    endpoint gone already (its port was unbound) still lets the memdev detach from the
    switch port above, which goes if it was the last memdev there."""
    mem = memdev_of(k, dev)
    pmem = core.find_device(k, "cxl", f"pmem{mem.id}")
    if pmem is not None:
        core.device_unregister(k, pmem)
    if mem.endpoint is not None:
        delete_endpoint(k, k.ports[mem.endpoint])
    else:
        reap_ports(k, port_above(k, mem))


CXL_MEM_DRIVER = cxl_driver("cxl_mem", CXL_DEVICE_MEMORY_EXPANDER, cxl_mem_probe, cxl_mem_remove)


def _release(k: Kernel, dev: Device) -> None:
    del k.memdevs[memdev_of(k, dev).id]


# -- attributes --------------------------------------------------------------------------------


def serial_show(k: Kernel, mem: Memdev) -> str:
    return f"{mem.serial:#x}"


def numa_node_show(k: Kernel, mem: Memdev) -> int:
    return mem.numa_node


def firmware_version_show(k: Kernel, mem: Memdev) -> str:
    return mem.firmware_version[:16]


def payload_max_show(k: Kernel, mem: Memdev) -> int:
    return mem.payload_max


def label_storage_size_show(k: Kernel, mem: Memdev) -> int:
    return mem.lsa_size


def ram_size_show(k: Kernel, mem: Memdev) -> str:
    return f"{mem.ram_size:#x}"


def pmem_size_show(k: Kernel, mem: Memdev) -> str:
    return f"{mem.pmem_size:#x}"


def qos_class_show(k: Kernel, mem: Memdev) -> int | None:
    return mem.qos_class


def _partition(k: Kernel, mem: Memdev, which: str) -> dict[str, Node]:
    size = mem.ram_size if which == "ram" else mem.pmem_size
    entries: dict[str, Node] = {
        "size": show_attr(ram_size_show if which == "ram" else pmem_size_show, k, mem)
    }
    # qos_class is visible only when one was determined for a non-empty partition.
    if mem.qos_class is not None and size:
        entries["qos_class"] = show_attr(qos_class_show, k, mem)
    return entries


def _security(k: Kernel, mem: Memdev) -> dict[str, Node]:
    """``security/``: sanitize and erase only where the device's CEL lists them."""
    entries: dict[str, Node] = {"state": show_attr(security.state_show, k, mem)}
    if security.SANITIZE in mem.device.cel:
        entries["sanitize"] = store_attr(security.sanitize_store, k, mem)
    if security.SECURE_ERASE in mem.device.cel:
        entries["erase"] = store_attr(security.erase_store, k, mem)
    return entries


def _firmware(k: Kernel, mem: Memdev) -> dict[str, Node]:
    """``firmware/memN``, the firmware-upload class device. Drawn as a directory of the
    memdev, as this tree always drew it (the kernel also lists the class device in
    /sys/class/firmware)."""
    upload: dict[str, Node] = {
        "loading": show_store_attr(fwupload.loading_show, fwupload.loading_store, k, mem),
        "data": Attr(
            0o600,
            partial(fwupload.data_read, k, mem),
            partial(fwupload.data_store, k, mem),
        ),
        "status": show_attr(fwupload.status_show, k, mem),
        "error": show_attr(fwupload.error_show, k, mem),
        "remaining_size": show_attr(fwupload.remaining_size_show, k, mem),
        "cancel": store_attr(fwupload.cancel_store, k, mem),
        "subsystem": Link("class/firmware"),
        "device": Link(f"{mem.parent}/{mem.name}"),
    }
    return {mem.name: static_dir(upload)}


def _bound(k: Kernel, mem: Memdev) -> bool:
    return bool(k.dev(mem).driver)


#: ``memN``'s files (memdevs have no devtype/modalias files).
MEMDEV_ENTRIES: core.Entries[Memdev] = {
    "serial": show_only(serial_show),
    "numa_node": show_only(numa_node_show),
    "firmware_version": show_only(firmware_version_show),
    "payload_max": show_only(payload_max_show),
    "label_storage_size": show_only(label_storage_size_show),
    # Provided by the cxl_mem driver while bound, where the device lists Get Poison List.
    "trigger_poison_list": when(
        lambda k, mem: _bound(k, mem) and GET_POISON_LIST in mem.device.cel,
        poison.trigger_attr,
    ),
    "ram": lambda k, mem: Dir(partial(_partition, k, mem, "ram")),
    "pmem": lambda k, mem: Dir(partial(_partition, k, mem, "pmem")),
    "security": lambda k, mem: Dir(partial(_security, k, mem)),
    # The upload device exists only when the device supports Get FW Info.
    "firmware": when(
        lambda k, mem: GET_FW_INFO in mem.device.cel,
        lambda k, mem: Dir(partial(_firmware, k, mem)),
    ),
}

MEMDEV: DeviceType[Memdev] = DeviceType(
    "cxl_memdev",
    get=memdev_of,
    entries=MEMDEV_ENTRIES,
    devtype="cxl_memdev",
    uevent_vars=lambda k, mem: ["MODALIAS=cxl:t5"],
    devnode=lambda dev: f"cxl/{dev.name}",
    release=_release,
)
