"""Memory devices (``memN``): the cxl_mem view of a type-3 device, and ``/dev/cxl/memN``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernfs.nodes import Attr, Node, hexattr, ro, uevent, wo

if TYPE_CHECKING:
    from fake_sysfs.kernel.decoders import Decoder
    from fake_sysfs.kernel.ports import Port

#: Character major of /dev/cxl/memN. Real kernels take a dynamic major; this one is from the
#: range reserved for local/experimental use (never handed out dynamically), so a node staged
#: into a mount namespace can never reach a real driver: opening it fails with ENXIO, as the
#: emulated mailbox does until it is modeled.
CXL_MEM_MAJOR = 60


@dataclass
class Memdev:
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
    bound: bool = True
    #: Port id of this memdev's endpoint while it has one.
    endpoint: int | None = None
    #: The platform device label, to find the hardware again.
    label: str = ""

    @property
    def name(self) -> str:
        return f"mem{self.id}"

    @property
    def devnode(self) -> tuple[int, int]:
        return (CXL_MEM_MAJOR, self.id)


def _partition(size: int, qos: int | None) -> dict[str, Node]:
    entries: dict[str, Node] = {"size": hexattr(size)}
    # qos_class is visible only when one was determined for a non-empty partition.
    if qos is not None and size:
        entries["qos_class"] = ro(qos)
    return entries


def _uevent(mem: Memdev) -> Node:
    major, minor = mem.devnode
    driver = ["DRIVER=cxl_mem"] if mem.bound else []
    return uevent(
        [
            f"MAJOR={major}",
            f"MINOR={minor}",
            f"DEVNAME=cxl/{mem.name}",
            "DEVTYPE=cxl_memdev",
            *driver,
            "MODALIAS=cxl:t5",
        ]
    )


#: ``memN``'s attribute files (memdevs have no devtype/modalias files), by name.
MEMDEV_ATTRS: dict[str, Callable[[Memdev], Node | None]] = {
    "uevent": _uevent,
    "dev": lambda mem: ro(f"{mem.devnode[0]}:{mem.devnode[1]}"),
    "serial": lambda mem: hexattr(mem.serial),
    "numa_node": lambda mem: ro(mem.numa_node),
    "firmware_version": lambda mem: ro(mem.firmware_version[:16]),
    "payload_max": lambda mem: ro(mem.payload_max),
    "label_storage_size": lambda mem: ro(mem.lsa_size),
    # Provided by the cxl_mem driver while bound (Get Poison List is supported).
    "trigger_poison_list": lambda mem: wo() if mem.bound else None,
}


def partition_attrs(mem: Memdev, which: str) -> dict[str, Node]:
    if which == "ram":
        return _partition(mem.ram_size, mem.qos_class)
    return _partition(mem.pmem_size, mem.qos_class)


def security_attrs() -> dict[str, Node]:
    return {"state": ro("disabled"), "sanitize": wo(), "erase": wo()}


def firmware_upload_attrs() -> dict[str, Node]:
    """The firmware-upload class device ``firmware/memN`` (idle)."""
    return {
        "loading": Attr(0o644, lambda: b"0\n", None),
        "data": Attr(0o600, lambda: b"", None),
        "status": ro("idle"),
        "error": ro(""),
        "remaining_size": ro(0),
        "cancel": wo(),
    }


def allocate_dpa(mem: Memdev, endpoint: Port, dec: Decoder, size: int) -> None:
    """Reserve ``size`` bytes of device physical address space for ``dec`` in its mode's
    partition, after the allocations of lower decoders.

    The DPA space is the ram partition ``[0, ram)`` then pmem ``[ram, ram + pmem)``. The first
    pmem allocation skips (and wastes) the free tail of the ram partition.
    """
    ram_end = 0
    pmem_end = mem.ram_size
    for other in endpoint.decoders:
        if other is dec or other.dpa_base is None or not other.dpa_size:
            continue
        end = other.dpa_base + other.dpa_size
        if other.dpa_base < mem.ram_size:
            ram_end = max(ram_end, end)
        else:
            pmem_end = max(pmem_end, end)
    if dec.mode == "ram":
        base, limit, skip = ram_end, mem.ram_size, 0
    elif dec.mode == "pmem":
        first_pmem = pmem_end == mem.ram_size
        base, limit = pmem_end, mem.ram_size + mem.pmem_size
        skip = mem.ram_size - ram_end if first_pmem else 0
    else:
        raise kerr(errno.EINVAL)
    if base + size > limit:
        raise kerr(errno.ENOSPC)
    dec.dpa_base, dec.dpa_size, dec.skip = base, size, skip
