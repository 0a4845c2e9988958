"""The /sys tree of a kernel state, drawn from the driver core's device registry.

Paths are relative to /sys (``devices/platform/ACPI0017:00/root0``). A device's directory
sits in its parent's (or in the plain directory it was registered in) and holds what its
device type draws (attributes, links, attribute groups) plus what the driver core gives
every device: ``uevent``, ``dev`` and ``subsystem`` (when it has a char dev, a bus or a
class), ``driver`` while bound, ``device`` for a class device, ``power/`` with runtime PM,
and its child devices. ``/sys/bus``, ``/sys/class`` and ``/sys/dev/char`` list registered
devices by bus, driver, class and char dev, the same way for every family.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fake_sysfs.kernel.busfiles import bus_attrs, driver_attrs
from fake_sysfs.kernel.core import Device, DeviceType, Driver, bus_type, device_type
from fake_sysfs.kernel.cpu import CPU_ROOT, cpu_root_entries
from fake_sysfs.kernel.drivers import BUSES, CLASSES
from fake_sysfs.kernel.memory import MEMORY_ROOT, NODE_ROOT, memory_root_entries, node_root_entries
from fake_sysfs.kernel.modules import module_root
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernel.tracefs import kernel_root
from fake_sysfs.kernfs.nodes import (
    MISSING,
    Dir,
    Link,
    Node,
    ro,
    static_dir,
    table_entries,
    table_lookup,
    uevent,
)

#: What the driver core adds to every device directory.
_GENERIC = frozenset({"uevent", "dev", "subsystem", "driver", "device", "power"})
#: Plain directories that hold attributes of their own.
_CONTAINER_ENTRIES = {
    MEMORY_ROOT: memory_root_entries,
    NODE_ROOT: node_root_entries,
    CPU_ROOT: cpu_root_entries,
}


class Tree:
    """Builds directory nodes for one kernel state. Indexes are computed on first use."""

    def __init__(self, k: Kernel) -> None:
        self.k = k
        # Indexes of the device set, shared by every view of this kernel and kept current
        # by the driver core as devices come and go (Runtime.tree_indexes, through
        # _index_update): a view made for each store costs nothing to set up.
        memo = k.runtime.indexes()
        self._memo = memo
        memo.setdefault("update", partial(_index_update, k, memo))
        self._paths: dict[str, str] = memo.setdefault("paths", {})
        self._children: dict[str, dict[str, Device]] | None = memo.get("children")
        self._containers: dict[str, list[str]] | None = memo.get("containers")
        #: Bus name -> its devices by key, in registration order (a dict: a device that
        #: goes is removed at once, however many the bus has).
        self._by_bus: dict[str, dict[str, Device]] | None = memo.get("by_bus")
        #: Device key -> its type and family object (looked up once per device).
        self._objects: dict[str, tuple[DeviceType[Any], object]] = {}

    # -- indexes ---------------------------------------------------------------------------

    def path(self, dev: Device) -> str:
        """The device's directory below /sys."""
        key = dev.key
        path = self._paths.get(key)
        if path is None:
            parent = self.k.devices.get(dev.parent)
            base = dev.parent if parent is None else self.path(parent)
            if _glued(dev, parent):
                base = f"{base}/{dev.devclass}"
            path = f"{base}/{dev.name}"
            self._paths[key] = path
        return path

    def children(self, parent: str) -> dict[str, Device]:
        """Devices registered below ``parent`` (a device key or a plain directory), by name."""
        if self._children is None:
            index: dict[str, dict[str, Device]] = {}
            for dev in self.k.devices.values():
                # A class device in a glue directory is listed under "<parent>/<class>".
                where = dev.parent
                if _glued(dev, self.k.devices.get(where)):
                    where = f"{where}/{dev.devclass}"
                index.setdefault(where, {})[dev.name] = dev
            self._children = self._memo["children"] = index
        return self._children.get(parent, {})

    def _subdirs(self, path: str) -> list[str]:
        """Names of the plain directories in the plain directory ``path``."""
        if self._containers is None:
            # The memory and node subsystems' roots exist with or without devices.
            found: dict[str, list[str]] = {"devices": ["system"]}
            found["devices/system"] = ["cpu", "memory", "node"]
            for dev in self.k.devices.values():
                _add_containers(self.k, found, dev.parent)
            self._containers = self._memo["containers"] = found
        return self._containers.get(path, [])

    def bus_devices(self, bus: str) -> list[Device]:
        if self._by_bus is None:
            index: dict[str, dict[str, Device]] = {}
            for dev in self.k.devices.values():
                if dev.bus:
                    index.setdefault(dev.bus, {})[dev.key] = dev
            self._by_bus = self._memo["by_bus"] = index
        return list(self._by_bus.get(bus, {}).values())

    def dev_nodes(self) -> list[tuple[str, int, int, str]]:
        """Character devices: (path below /dev, major, minor, sysfs device path)."""
        return [(node, major, minor, self.path(dev)) for node, major, minor, dev in self._chars()]

    def dev_numbers(self) -> list[tuple[str, int, int]]:
        """Character devices: (path below /dev, major, minor); no sysfs path computed."""
        return [(node, major, minor) for node, major, minor, _ in self._chars()]

    def _chars(self) -> list[tuple[str, int, int, Device]]:
        chars = []
        for dev in self.k.devices.values():
            if dev.devt is not None and dev.devclass != "block":
                major, minor = dev.devt
                chars.append((self._devnode(dev), major, minor, dev))
        return chars

    def block_nodes(self) -> list[tuple[str, int, int, str]]:
        """Block devices (pmem disks): (name below /dev, major, minor, sysfs path)."""
        return [
            (dev.name, dev.devt[0], dev.devt[1], self.path(dev))
            for dev in self.k.devices.values()
            if dev.devclass == "block" and dev.devt is not None
        ]

    @staticmethod
    def _devnode(dev: Device) -> str:
        devnode = device_type(dev.type).devnode
        return dev.name if devnode is None else devnode(dev)

    # -- the root --------------------------------------------------------------------------

    def root(self) -> Dir:
        return static_dir(
            {
                "bus": Dir(self._bus_root),
                "class": Dir(self._class_root),
                "dev": static_dir({"char": Dir(self._dev_char), "block": Dir(self._dev_block)}),
                "devices": self.container_node("devices"),
                "block": Dir(self._block_root),
                "module": Dir(lambda: module_root(self.k)),
                "kernel": Dir(lambda: kernel_root(self.k)),
            }
        )

    # -- /sys/devices ----------------------------------------------------------------------

    def container_node(self, path: str) -> Dir:
        """A plain directory holding devices (``devices/platform``, ``LNXSYSTM:00``)."""
        return Dir(partial(self._container, path), lookup=partial(self._container_entry, path))

    def _container(self, path: str) -> dict[str, Node]:
        make = _CONTAINER_ENTRIES.get(path)
        entries: dict[str, Node] = {} if make is None else make(self.k)
        for name in self._subdirs(path):
            entries[name] = self.container_node(f"{path}/{name}")
        for name, dev in self.children(path).items():
            entries[name] = self.device_node(dev)
        return entries

    def _container_entry(self, path: str, name: str) -> Node | None:
        if name in self._subdirs(path):
            return self.container_node(f"{path}/{name}")
        dev = self.children(path).get(name)
        return None if dev is None else self.device_node(dev)

    def device_link(self, dev: Device) -> Link:
        """A link to ``dev``'s directory (its target computed when first read)."""
        return Link(make=partial(self.path, dev), device=dev)

    def device_node(self, dev: Device) -> Dir:
        return Dir(
            partial(self._device_dir, dev), lookup=partial(self._device_entry, dev), device=dev.key
        )

    def _object(self, dev: Device) -> tuple[DeviceType[Any], object]:
        found = self._objects.get(dev.key)
        if found is None:
            dtype = device_type(dev.type)
            found = (dtype, dtype.get(self.k, dev))
            self._objects[dev.key] = found
        return found

    def _device_dir(self, dev: Device) -> dict[str, Node]:
        dtype, obj = self._object(dev)
        entries = table_entries(dtype.entries, self.k, obj)
        if dtype.more is not None:
            entries.update(dtype.more(self.k, obj))
        for name, node in self._generic(dev, dtype, obj).items():
            entries.setdefault(name, node)
        for name, child in self.children(dev.key).items():
            entries[name] = self.device_node(child)
        for glue in CLASSES:
            if self.children(f"{dev.key}/{glue}"):
                entries[glue] = self._glue_node(dev, glue)
        return entries

    def _glue_node(self, dev: Device, devclass: str) -> Dir:
        """A class glue directory: the class devices registered below a non-class device."""
        where = f"{dev.key}/{devclass}"
        return Dir(lambda: {n: self.device_node(c) for n, c in self.children(where).items()})

    def _device_entry(self, dev: Device, name: str) -> Node | None:
        """One entry of a device directory without drawing the rest, where that is cheap."""
        dtype, obj = self._object(dev)
        node = table_lookup(dtype.entries, self.k, obj, name)
        if node is not None:
            return node
        if name in _GENERIC:
            return self._generic(dev, dtype, obj).get(name, MISSING)
        child = self.children(dev.key).get(name)
        if child is not None:
            return self.device_node(child)
        if name in CLASSES and self.children(f"{dev.key}/{name}"):
            return self._glue_node(dev, name)
        # Names that vary with the state need the whole directory drawn.
        return MISSING if dtype.more is None else None

    def _generic(self, dev: Device, dtype: DeviceType[Any], obj: object) -> dict[str, Node]:
        """What the driver core gives every device."""
        lines = []
        if dev.devt is not None:
            major, minor = dev.devt
            lines += [f"MAJOR={major}", f"MINOR={minor}", f"DEVNAME={self._devnode(dev)}"]
        if dtype.devtype is not None:
            lines.append(f"DEVTYPE={dtype.devtype}")
        if dev.driver and dtype.uevent_driver:
            lines.append(f"DRIVER={dev.driver}")
        if dtype.uevent_vars is not None:
            lines += dtype.uevent_vars(self.k, obj)
        entries: dict[str, Node] = {"uevent": uevent(lines)}
        if dev.devt is not None:
            entries["dev"] = ro(f"{dev.devt[0]}:{dev.devt[1]}")
        if dev.bus:
            entries["subsystem"] = Link(f"bus/{dev.bus}")
        elif dev.devclass:
            entries["subsystem"] = Link(f"class/{dev.devclass}")
        if dev.driver:
            entries["driver"] = Link(f"bus/{dev.bus}/drivers/{dev.driver}")
        parent = self.k.devices.get(dev.parent)
        if dev.devclass and parent is not None:
            entries["device"] = Link(self.path(parent))
        if dtype.power:
            entries["power"] = static_dir({})
        return entries

    # -- /sys/bus, /sys/class, /sys/dev ----------------------------------------------------

    def _bus_root(self) -> dict[str, Node]:
        return {name: Dir(partial(self._bus_dir, name)) for name in BUSES}

    def _bus_dir(self, name: str) -> dict[str, Node]:
        entries = bus_attrs(self.k, bus_type(name))
        entries["devices"] = Dir(
            lambda: {dev.name: self.device_link(dev) for dev in self.bus_devices(name)},
            lookup=partial(self._bus_device_link, name),
        )
        entries["drivers"] = Dir(
            lambda: {
                drv.name: Dir(
                    partial(self._driver_dir, drv), lookup=partial(self._driver_entry, drv)
                )
                for drv in bus_type(name).drivers.values()
                if drv.loaded(self.k)
            }
        )
        return entries

    def _bus_device_link(self, bus: str, name: str) -> Node:
        dev = self.k.devices.get(f"bus/{bus}/{name}")
        return MISSING if dev is None else self.device_link(dev)

    def _driver_dir(self, drv: Driver) -> dict[str, Node]:
        entries = driver_attrs(self.k, drv)
        for dev in self.bus_devices(drv.bus):
            if dev.driver == drv.name:
                entries[dev.name] = self.device_link(dev)
        return entries

    def _driver_entry(self, drv: Driver, name: str) -> Node:
        """One entry of a driver directory, without listing every device of its bus (a
        store to ``bind`` on a large platform would otherwise draw thousands of links)."""
        dev = self.k.devices.get(f"bus/{drv.bus}/{name}")
        if dev is not None and dev.driver == drv.name:
            return self.device_link(dev)
        return driver_attrs(self.k, drv).get(name, MISSING)

    def _class_root(self) -> dict[str, Node]:
        return {name: Dir(partial(self._class_dir, name)) for name in CLASSES}

    def _class_dir(self, name: str) -> dict[str, Node]:
        return {
            dev.name: self.device_link(dev)
            for dev in self.k.devices.values()
            if dev.devclass == name
        }

    def _dev_block(self) -> dict[str, Node]:
        return {f"{major}:{minor}": Link(path) for _, major, minor, path in self.block_nodes()}

    def _block_root(self) -> dict[str, Node]:
        return {name: Link(path) for name, _, _, path in self.block_nodes()}

    def _dev_char(self) -> dict[str, Node]:
        return {
            f"{dev.devt[0]}:{dev.devt[1]}": self.device_link(dev)
            for dev in self.k.devices.values()
            if dev.devt is not None and dev.devclass != "block"
        }


def _index_update(k: Kernel, memo: dict[str, Any], dev: Device, added: bool, plain: bool) -> None:
    """Keep a Tree's shared indexes current as ``dev`` is registered (``added``) or
    unregistered below a device, or below a plain directory (``plain``)."""
    glued = _glued(dev, k.devices.get(dev.parent))
    where = f"{dev.parent}/{dev.devclass}" if glued else dev.parent
    children = memo.get("children")
    by_bus = memo.get("by_bus")
    if added:
        if children is not None:
            children.setdefault(where, {})[dev.name] = dev
        if by_bus is not None and dev.bus:
            by_bus.setdefault(dev.bus, {})[dev.key] = dev
    else:
        memo["paths"].pop(dev.key, None)
        if children is not None:
            children.get(where, {}).pop(dev.name, None)
            children.pop(dev.key, None)
        if by_bus is not None and dev.bus:
            by_bus.get(dev.bus, {}).pop(dev.key, None)
    # The plain directories: one that gets a device is added with the ones above it (a
    # ram region's memory blocks, 32 of them, come one by one below devices/system/memory);
    # one that loses its last device may go, so they are found again when next needed.
    containers = memo.get("containers")
    if plain and containers is not None:
        if added:
            _add_containers(k, containers, dev.parent)
        elif children is None or not children.get(dev.parent):
            memo.pop("containers", None)


def _add_containers(k: Kernel, found: dict[str, list[str]], below: str) -> None:
    """Record the plain directory ``below`` (where a device is registered, unless it is a
    device) and those above it, each in the list of the one that holds it."""
    while below not in k.devices and "/" in below:
        head, _, name = below.rpartition("/")
        names = found.setdefault(head, [])
        if name in names:
            break
        names.append(name)
        found.setdefault(below, [])
        below = head


def _glued(dev: Device, parent: Device | None) -> bool:
    """get_device_parent(): a class device below a device of no class sits in a glue
    directory named after its class (``ndbus0/nd/ndctl0``, ``pfn0.1/block/pmem0``)."""
    return bool(dev.devclass) and parent is not None and not parent.devclass
