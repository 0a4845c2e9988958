"""The hardware a platform is made of: what firmware and PCI enumeration present to Linux.

A platform is declarative. It says which fixed memory windows (CFMWS) exist, which host
bridges, root ports, switches and type-3 devices hang below them, and what firmware
pre-programmed. It says nothing about kernel state: ids such as ``port1`` or ``mem0`` are
assigned when the emulated kernel boots (``fake_sysfs.kernel.boot``).

Every hardware device carries ``path``: its directory below ``/sys`` (for example
``devices/pci0000:0c/0000:0c:00.0``). Paths are assigned by :mod:`fake_sysfs.platform.naming`
once the topology is complete, so all the ways in (presets, platform files, QEMU command
lines) name devices the way a Linux guest would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from fake_sysfs.record import Record

Style = Literal["acpi", "cxl_test"]

MiB = 1 << 20
GiB = 1 << 30

#: Interleave ways a CFMWS may declare (CXL 2.0 + 3/6/12-way ECN).
WINDOW_WAYS = (1, 2, 3, 4, 6, 8, 12, 16)
#: Interleave granularities a CFMWS may declare.
WINDOW_GRANULARITIES = (256, 512, 1024, 2048, 4096, 8192, 16384)
#: HDM decoder counts the capability register can encode.
DECODER_COUNTS = (1, 2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32)
#: Device capacity, window sizes and bases are multiples of this.
CAPACITY_ALIGN = 256 * MiB


@dataclass(eq=False, repr=False)
class DeviceMailbox(Record):
    """What a platform file sets of what the device's mailbox reports; None keeps the
    device model's own (cxl_test's mock, QEMU's type-3 device)."""

    #: Get Health Info's record (keys of fake_sysfs.kernel.mailbox.device.Health); a
    #: device given one supports the command.
    health: dict[str, int] | None = None
    #: Partition alignment in bytes; a device given one can be partitioned (Set
    #: Partition Info is supported). 0 makes it not partitionable.
    partition_align: int | None = None
    #: Firmware revisions by slot ("" for an empty slot), and the active slot.
    firmware_slots: list[str] | None = None
    active_slot: int | None = None
    #: Poisoned device physical addresses at power-on (64-byte records).
    poison: list[int] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Type3Device(Record):
    """A CXL type-3 memory expander (QEMU ``cxl-type3``, cxl_test ``cxl_mem.N``)."""

    ram_size: int = 0
    pmem_size: int = 0
    lsa_size: int = 0
    #: PCIe Device Serial Number; None when the device has no DSN (reads ``0x0``).
    serial: int | None = None
    numa_node: int = -1
    firmware_version: str = "BWFW VERSION 00"
    payload_max: int = 2048
    decoders: int = 4
    #: QoS class the CDAT/QTG _DSM yields for each partition; None hides ``*/qos_class``.
    qos_class: int | None = 0
    #: A CXL 1.1 restricted device (RCD) attached directly to an RCH host bridge.
    rcd: bool = False
    #: Name used in messages (QEMU ``id=``, preset label).
    #: Memdev probe order key: lower probes first; ties keep topology order.
    order: int = 0
    label: str = ""
    path: str = ""
    #: Platform-file settings of the device's mailbox.
    mailbox: DeviceMailbox = field(default_factory=DeviceMailbox)


@dataclass(eq=False, repr=False)
class SwitchPort(Record):
    """A switch downstream port; ``port`` is its PCIe port number (the dport id)."""

    port: int
    device: Type3Device | None = None
    label: str = ""
    path: str = ""


@dataclass(eq=False, repr=False)
class Switch(Record):
    """A CXL switch: one upstream port (the CXL port's uport) and its downstream ports."""

    ports: list[SwitchPort] = field(default_factory=list)
    decoders: int = 4
    #: Targets per HDM decoder (the capability's target count).
    targets: int = 8
    label: str = ""
    path: str = ""


@dataclass(eq=False, repr=False)
class RootPort(Record):
    """A CXL root port; ``port`` is its PCIe port number (the host bridge's dport id)."""

    port: int
    device: Type3Device | None = None
    switch: Switch | None = None
    label: str = ""
    path: str = ""


@dataclass(eq=False, repr=False)
class HostBridge(Record):
    """A CXL host bridge (ACPI0016 / QEMU ``pxb-cxl``). ``uid`` is the ACPI _UID."""

    uid: int
    root_ports: list[RootPort] = field(default_factory=list)
    #: HDM decoders; 0 means no HDM decoder capability (a single root port, passed through).
    decoders: int = 4
    targets: int = 8
    #: Restricted CXL host (CXL 1.1): no port is created; ``rcd`` hangs below it directly.
    rch: bool = False
    rcd: Type3Device | None = None
    #: PCI bus number of the root bus (QEMU ``bus_nr``); naming only.
    bus_nr: int = 0
    #: PCI segment (domain) of the root bus; large platforms spread over several.
    segment: int = 0
    label: str = ""
    path: str = ""
    #: The ACPI companion (``firmware_node``), e.g. ``devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0016:00``.
    acpi_path: str = ""


@dataclass(eq=False, repr=False)
class Window(Record):
    """A CXL Fixed Memory Window (CFMWS): one root decoder."""

    size: int
    targets: list[int]
    granularity: int = 256
    ram: bool = True
    pmem: bool = True
    type2: bool = False
    type3: bool = True
    locked: bool = False
    qos_class: int = 0
    xor: bool = False
    #: Host physical base; None lets the platform allocate it.
    base: int | None = None

    @property
    def ways(self) -> int:
        return len(self.targets)


@dataclass(eq=False, repr=False)
class AutoRegion(Record):
    """Decoders firmware committed before the OS booted (cxl_test's auto region).

    ``members`` name type-3 devices by label, in region position order. The endpoint,
    switch and host-bridge decoders on their paths are programmed at ``base`` (the window
    base when None). If no window contains the range, the decoders stay committed but no
    region is assembled, as the kernel does.
    """

    window: int
    size: int
    granularity: int
    members: list[str]
    mode: Literal["ram", "pmem"] = "ram"
    base: int | None = None


@dataclass(eq=False, repr=False)
class SoftReserved(Record):
    """A range firmware marked EFI_MEMORY_SP ("specific purpose": HBM, or memory set apart
    with ``efi_fake_mem=``): Linux leaves it out of System RAM and dax_hmem offers it as a
    DAX region (``hmem.N``). ``node`` is the NUMA node SRAT gives the range (its target
    node)."""

    start: int
    size: int
    node: int = 0


@dataclass(eq=False, repr=False)
class Platform(Record):
    name: str
    style: Style = "acpi"
    host_bridges: list[HostBridge] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    auto_regions: list[AutoRegion] = field(default_factory=list)
    memory_block_size: int = 128 * MiB
    #: Boot RAM of the machine (node 0), laid out as on q35 (below 4 GiB up to 2.75 GiB,
    #: else 2 GiB below and the rest above 4 GiB).
    system_ram: int = 4 * GiB
    #: The machine's CPUs, all on node 0 (``/sys/devices/system/node/node0/cpulist``).
    cpus: int = 4
    #: The kernel's policy for hot-added memory (``auto_online_blocks`` at boot, as the
    #: memhp_default_state= command line sets it): offline, online, online_kernel or
    #: online_movable.
    memory_online: str = "offline"
    #: Soft-reserved memory ranges (dax_hmem's), in address order.
    soft_reserved: list[SoftReserved] = field(default_factory=list)
    #: Whether the kernel has the kmem driver (CONFIG_DEV_DAX_KMEM). Without it device_dax
    #: takes every DAX device, and none can become System RAM.
    kmem: bool = True
    #: Where windows without an explicit base are placed, first fit, 256 MiB aligned.
    window_pool: int = 0x10_0000_0000
    description: str = ""

    def devices(self) -> list[Type3Device]:
        """Every type-3 device, in the order PCI enumeration (or cxl_test) finds them."""
        found: list[Type3Device] = []
        for hb in self.host_bridges:
            if hb.rcd is not None:
                found.append(hb.rcd)
            for rp in hb.root_ports:
                if rp.device is not None:
                    found.append(rp.device)
                if rp.switch is not None:
                    found.extend(sp.device for sp in rp.switch.ports if sp.device is not None)
        return found
