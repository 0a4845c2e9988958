"""The kernel's state as a whole, and the lookups every object family shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from fake_sysfs import codec
from fake_sysfs.kernel.core import Device
from fake_sysfs.kernel.dax import DaxRegion
from fake_sysfs.kernel.decoders import Decoder
from fake_sysfs.kernel.hmem import Hmem
from fake_sysfs.kernel.log import Log
from fake_sysfs.kernel.memdevs import Memdev
from fake_sysfs.kernel.memory import Memory
from fake_sysfs.kernel.nd_state import NdRegion
from fake_sysfs.kernel.nvdimm import NvdimmBridge
from fake_sysfs.kernel.ports import Port
from fake_sysfs.kernel.regions import Region
from fake_sysfs.kernel.tracefs import TraceState
from fake_sysfs.platform.model import Platform
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.hardware import HardwareIndex


class HasDevice(Protocol):
    """A family object that is a registered device."""

    @property
    def devkey(self) -> str: ...


class Runtime:
    """Indexes of a state, built on first use and kept current by the driver core; never
    stored (the codec skips the field), so a loaded state rebuilds them."""

    def __init__(self) -> None:
        self._children: dict[str, list[str]] | None = None
        #: The platform's hardware devices and model objects (fake_sysfs.kernel.hardware).
        self.hardware: HardwareIndex | None = None
        #: Keys of the devices whose driver's remove is running (core.device_release_driver).
        self.releasing: set[str] = set()
        #: Set by a store that fails but keeps what it changed (attrs.fail_after_change).
        self.failed_after_change = False
        #: The kernfs tree's indexes (kernfs/tree.py: device paths, children by name, plain
        #: directories, devices by bus), built on first use and kept current through the
        #: "update" function the tree leaves here as devices come and go, so a view made
        #: for each store or read costs nothing to set up, however large the platform.
        self.tree_indexes: dict[str, Any] = {}

    def children(self, k: Kernel) -> dict[str, list[str]]:
        """Parent key (or plain directory) -> keys of the devices registered below it."""
        if self._children is None:
            index: dict[str, list[str]] = {}
            for key, dev in k.devices.items():
                index.setdefault(dev.parent, []).append(key)
            self._children = index
        return self._children

    def indexes(self) -> dict[str, Any]:
        """The kernfs tree's indexes (see ``tree_indexes``)."""
        return self.tree_indexes

    def added(self, parent: str, key: str, dev: Device | None = None, plain: bool = True) -> None:
        """``dev`` (key ``key``) was registered below ``parent``: a device, or when
        ``plain`` a plain directory."""
        if self._children is not None:
            self._children.setdefault(parent, []).append(key)
        self._tree_changed(dev, True, plain)

    def removed(self, parent: str, key: str, dev: Device | None = None, plain: bool = True) -> None:
        if self._children is not None:
            self._children[parent].remove(key)
        self._tree_changed(dev, False, plain)

    def _tree_changed(self, dev: Device | None, added: bool, plain: bool) -> None:
        update = self.tree_indexes.get("update")
        if update is None:
            return
        if dev is None:
            self.tree_indexes.clear()
        else:
            update(dev, added, plain)


@dataclass(eq=False, repr=False)
class Kernel(Record):
    platform: Platform
    memory: Memory
    ports: dict[int, Port] = field(default_factory=dict)
    memdevs: dict[int, Memdev] = field(default_factory=dict)
    regions: dict[int, Region] = field(default_factory=dict)
    dax_regions: dict[int, DaxRegion] = field(default_factory=dict)
    #: dax_hmem's ``hmem.N`` devices, by memregion id (kernel.hmem).
    hmem: dict[int, Hmem] = field(default_factory=dict)
    #: The dax drivers' id lists (``new_id`` / ``remove_id``), newest first, by driver.
    dax_driver_ids: dict[str, list[str]] = field(default_factory=dict)
    bridges: list[NvdimmBridge] = field(default_factory=list)
    #: nd regions of bound CXL pmem regions, by id (kernel.nd_region).
    nd_regions: dict[int, NdRegion] = field(default_factory=dict)
    #: The driver core's registry: every device, by key (core.device_key).
    devices: dict[str, Device] = field(default_factory=dict)
    log: Log = field(default_factory=Log)
    #: tracefs: the CXL trace events recorded (fake_sysfs.kernel.tracefs).
    trace: TraceState = field(default_factory=TraceState)
    #: What the HDM decoder registers of a device hold while no port has it probed: its
    #: committed decoders, by the hardware device (a port's uport; a memdev's parent). They
    #: come back as they were when the port is probed again (2.2).
    hdm: dict[str, list[Decoder]] = field(default_factory=dict)
    #: Messages printed with a ``*_once`` printk already (the kernel's static flags).
    printed_once: list[str] = field(default_factory=list)
    #: Memdevs whose device has background work running (a firmware transfer, a
    #: sanitize: kernel/mailbox/timers.py), so that looking for work that is due does not
    #: visit every memdev of a large platform.
    background: list[int] = field(default_factory=list)
    runtime: Runtime = field(
        default_factory=Runtime, compare=False, repr=False, metadata=codec.TRANSIENT
    )

    # -- lookups -------------------------------------------------------------------------

    def dev(self, obj: HasDevice) -> Device:
        """The registered device of a family object."""
        return self.devices[obj.devkey]

    def root(self) -> Port | None:
        for port in self.ports.values():
            if port.kind == "root":
                return port
        return None

    def path_to_root(self, port: Port) -> list[Port]:
        """``port`` and its ancestors, ending with the root."""
        chain = [port]
        while chain[-1].parent is not None:
            chain.append(self.ports[chain[-1].parent])
        return chain

    def print_once(self, key: str) -> bool:
        """True the first time ``key`` is asked for (dev_info_once and the like)."""
        if key in self.printed_once:
            return False
        self.printed_once.append(key)
        return True

    def allocated_region_ids(self) -> set[int]:
        # One memregion id space: CXL regions, the ids root decoders hold, dax_hmem's.
        used = set(self.regions) | set(self.hmem)
        root = self.root()
        if root is not None:
            used.update(d.next_region for d in root.decoders if d.next_region >= 0)
        return used

    # -- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = codec.dump(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kernel:
        return codec.load(cls, data)

    def to_rows(self) -> Any:
        """The state file's form (codec.dump_rows): share nothing with it past encoding."""
        return codec.dump_rows(self)

    @classmethod
    def from_rows(cls, data: Any) -> Kernel:
        k = codec.load_rows(cls, data)
        # Each registered device's key is the one it is registered under: set it now, so
        # that the first use of each of 10,000 keys costs no cached_property call.
        for key, dev in k.devices.items():
            dev.__dict__["key"] = key
        return k
