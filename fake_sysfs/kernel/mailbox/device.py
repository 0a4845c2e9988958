"""The device-side state of an emulated type-3 device: what its mailbox answers from.

The capacities, LSA size and firmware revision are the memdev's own fields (the kernel read
them from Identify at probe); what is kept here is what only the device knows. Every field
is JSON-ready, with a default, so states written before a field existed still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fake_sysfs.kernel.mailbox.records import PoisonRecord
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.platform.model import Type3Device

#: Which device model answers: the kernel's cxl_test mock, or QEMU's cxl-type3.
Model = Literal["mock", "qemu"]


@dataclass(eq=False, repr=False)
class Health(Record):
    """Get Health Info's record (CXL 3.1 8.2.9.9.3.1)."""

    #: bit0 maintenance needed, bit1 performance degraded, bit2 hardware replacement.
    status: int = 0
    #: 0 normal ... 9 data loss imminent.
    media: int = 0
    #: bits 1:0 life used, 3:2 temperature, 4 corrected volatile, 5 corrected persistent.
    ext_status: int = 0
    life_used: int = 0
    #: Degrees Celsius, two's complement in the payload.
    temperature: int = 0
    dirty_shutdowns: int = 0
    volatile_errors: int = 0
    pmem_errors: int = 0


@dataclass(eq=False, repr=False)
class AlertConfig(Record):
    """Get Alert Configuration's record."""

    valid: int = 0
    programmable: int = 0
    life_used_crit: int = 0
    life_used_warn: int = 0
    over_temp_crit: int = 0
    under_temp_crit: int = 0
    over_temp_warn: int = 0
    under_temp_warn: int = 0
    volatile_warn: int = 0
    pmem_warn: int = 0


@dataclass(eq=False, repr=False)
class Firmware(Record):
    """The firmware slots (1-based in the payloads, 0-based in ``slots``)."""

    #: Revision in each slot, "" for an empty slot.
    slots: list[str] = field(default_factory=list)
    active: int = 1
    #: Slot activated at the next cold reset, 0 for none.
    staged: int = 0
    online_activate: bool = False


@dataclass(eq=False, repr=False)
class FwUpload(Record):
    """The firmware-upload class device (drivers/base/firmware_loader/sysfs_upload.c) and
    the CXL driver's transfer behind it."""

    #: idle, receiving, transferring (the driver's prepare step is instantaneous here).
    status: str = "idle"
    #: "" or ``<progress>:<code>`` of the last upload that failed.
    error: str = ""
    remaining: int = 0
    #: The image received so far (base64 pieces, one per ``data`` store), while receiving.
    image: list[str] = field(default_factory=list)
    size: int = 0
    sha256: str = ""
    #: A cancel the driver recorded; the next (or current) transfer aborts.
    cancel: bool = False
    #: Wall-clock time at which the running transfer completes.
    deadline: float = 0.0
    #: The slot the running transfer writes.
    slot: int = 0
    #: sha256 of the last image the mock received completely (``fw_buf_checksum``).
    checksum: str = ""


@dataclass(eq=False, repr=False)
class Security(Record):
    """Security state bits (Get Security State) and a running sanitize."""

    #: bit0 user passphrase set, 1 master set, 2 locked, 3 frozen, 4/5 attempt limits.
    state: int = 0
    #: Wall-clock time a running sanitize ends; 0 for none.
    sanitize_deadline: float = 0.0
    #: The mock's ``sanitize_timeout`` (milliseconds).
    sanitize_timeout_ms: int = 0


@dataclass(eq=False, repr=False)
class DeviceState(Record):
    model: Model = "qemu"
    #: Opcodes the device lists in its command effects log.
    cel: list[int] = field(default_factory=list)
    #: None: Get Health Info is not supported.
    health: Health | None = None
    #: None: Get/Set Alert Configuration are not supported.
    alert: AlertConfig | None = None
    #: Partition alignment in 256 MiB units; 0: the capacity cannot be partitioned.
    partition_align: int = 0
    #: Set Partition's pending split (bytes), applied at the next cold reset; 0/0: none.
    next_volatile: int = 0
    next_persistent: int = 0
    firmware: Firmware = field(default_factory=Firmware)
    upload: FwUpload = field(default_factory=FwUpload)
    security: Security = field(default_factory=Security)
    poison: list[PoisonRecord] = field(default_factory=list)


#: The opcodes of each model's command effects log (what the kernel enables at probe).
MOCK_CEL = [
    0x0400,  # Get Supported Logs
    0x4000,  # Identify
    0x4102,  # Get LSA
    0x4100,  # Get Partition Info
    0x4103,  # Set LSA
    0x4200,  # Get Health Info
    0x4300,  # Get Poison List
    0x4301,  # Inject Poison
    0x4302,  # Clear Poison
    0x0200,  # Get FW Info
    0x0201,  # Transfer FW
    0x0202,  # Activate FW
    0x4400,  # Sanitize
]
QEMU_CEL = [
    0x0200,  # Get FW Info
    0x0201,  # Transfer FW
    0x0202,  # Activate FW
    0x0400,  # Get Supported Logs
    0x0401,  # Get Log
    0x4000,  # Identify
    0x4100,  # Get Partition Info
    0x4102,  # Get LSA
    0x4103,  # Set LSA
    0x4201,  # Get Alert Configuration
    0x4202,  # Set Alert Configuration
    0x4300,  # Get Poison List
    0x4301,  # Inject Poison
    0x4302,  # Clear Poison
    0x4400,  # Sanitize
]


def mock_state(t3: Type3Device) -> DeviceState:
    """cxl_test's mock device (tools/testing/cxl/test/mem.c)."""
    return DeviceState(
        model="mock",
        cel=list(MOCK_CEL),
        health=Health(
            status=0x07,
            media=0x03,
            ext_status=0x18,
            life_used=15,
            temperature=25,
            dirty_shutdowns=10,
            volatile_errors=20,
            pmem_errors=30,
        ),
        # The RCD's capacity is volatile only: nothing to partition.
        partition_align=0 if t3.rcd else 1,
        firmware=Firmware(
            slots=["cxl_test_fw_001", "cxl_test_fw_002", "cxl_test_fw_003"], active=2
        ),
    )


def qemu_state(t3: Type3Device) -> DeviceState:
    """QEMU's cxl-type3 device (hw/cxl/cxl-mailbox-utils.c, 2025)."""
    del t3
    return DeviceState(
        model="qemu",
        cel=list(QEMU_CEL),
        alert=AlertConfig(
            life_used_crit=75,
            life_used_warn=40,
            over_temp_crit=35,
            under_temp_crit=10,
            over_temp_warn=25,
            under_temp_warn=20,
        ),
        firmware=Firmware(slots=["BWFW VERSION 0", ""], active=1, online_activate=True),
    )


def initial_state(style: str, t3: Type3Device) -> DeviceState:
    """The device as it powers on: the platform's device model, with what the platform
    file sets (``[...device.mailbox]``, fake-sysfs-platform(5))."""
    state = mock_state(t3) if style == "cxl_test" else qemu_state(t3)
    box = t3.mailbox
    if box.health is not None:
        state.health = Health(**box.health)
        if 0x4200 not in state.cel:
            state.cel.append(0x4200)
    if box.partition_align is not None:
        state.partition_align = box.partition_align >> 28  # 256 MiB units
        if state.partition_align and 0x4101 not in state.cel:
            state.cel.append(0x4101)  # a partitionable device takes Set Partition Info
    if box.firmware_slots is not None:
        state.firmware.slots = list(box.firmware_slots)
        state.firmware.active = min(state.firmware.active, len(box.firmware_slots))
    if box.active_slot is not None:
        state.firmware.active = box.active_slot
    state.poison = [PoisonRecord(dpa) for dpa in box.poison]
    return state
