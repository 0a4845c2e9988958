"""The driver core, as drivers/base: the device registry, buses and their drivers, binding.

Every kernel object that is a device in sysfs is registered here as a Device: its name, its
parent, the bus or class it belongs to, the driver bound to it and its char dev number. The
``driver`` field is the only record of binding, for every family. kernfs draws the bus and
class directories, ``/sys/dev/char`` and every device's ``subsystem`` and ``driver`` links
from this registry alone. What is particular to a family (a port's dports, a region's
targets) lives in the family's own objects; a DeviceType says how to find that object, how
kernfs draws it and how to free it.

Binding follows the kernel:

* ``device_add`` registers a device and, as a bus with ``drivers_autoprobe`` set does,
  attaches the first matching driver: the driver is recorded, then its probe runs; a probe
  that fails (KernfsError) leaves the device unbound and is logged as the kernel logs it.
* ``bind`` / ``unbind`` are what the driver's sysfs files do; ``drivers_probe`` is the bus
  file's rescan of one device.
* ``device_release_driver`` runs the driver's remove, which undoes what its probe set up
  (the devices it registered go with it: the cascades of memdev, port and region unbind are
  removes). ``device_unregister`` releases the driver, unregisters the children still
  registered (newest first, as devres unwinds), and lets the device type free the family
  object.

The tables of buses, drivers and device types are in fake_sysfs.kernel.drivers (the
emulated kernel's loaded modules): they name every family's probe, and the families
register their devices through this module, so it looks them up when called.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import changes
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel
    from fake_sysfs.kernfs.nodes import Node

T = TypeVar("T")


@dataclass(eq=False, repr=False)
class Device(Record):
    """A registered device (struct device, as far as sysfs shows it)."""

    name: str
    #: The parent device's key, or the plain directory the device sits in when it has no
    #: parent device (``devices/platform``, ``devices/system/memory``).
    parent: str
    #: The device type: which family the device belongs to (see kernel.drivers.TYPES).
    type: str
    bus: str = ""
    devclass: str = ""
    #: Name of the bound driver, "" while unbound.
    driver: str = ""
    #: (major, minor) of the char dev, if the device has one.
    devt: list[int] | None = None

    @cached_property
    def key(self) -> str:
        # Cached: a registered device's name, parent, bus and class never change.
        return device_key(self.name, self.parent, self.bus, self.devclass)

    def driver_string(self) -> str:
        """What the kernel prints before the device name (dev_driver_string)."""
        return self.driver or self.bus or self.devclass


def device_key(name: str, parent: str, bus: str = "", devclass: str = "") -> str:
    """A device's key in the registry: unique as the name is within its bus or class
    (``bus/cxl/port1``, ``class/nd/ndctl0``); a device on neither is keyed by its parent
    (``devices/pci0000:0c``)."""
    if bus:
        return f"bus/{bus}/{name}"
    if devclass:
        return f"class/{devclass}/{name}"
    return f"{parent}/{name}"


def nothing(k: Kernel, dev: Device) -> None:
    """A probe, remove or release with nothing to do."""
    return None


def _always(k: Kernel) -> bool:
    return True


@dataclass(frozen=True)
class Driver:
    name: str
    bus: str
    match: Callable[[Kernel, Device], bool]
    probe: Callable[[Kernel, Device], None] = nothing
    remove: Callable[[Kernel, Device], None] = nothing
    #: False for a driver that sets suppress_bind_attrs: no ``bind``/``unbind`` files.
    bind_attrs: bool = True
    #: Whether the module is loaded on this platform (cxl_mock_mem only under cxl_test).
    loaded: Callable[[Kernel], bool] = _always
    #: Files of the driver directory besides ``uevent``, ``bind`` and ``unbind``.
    attrs: Callable[[Kernel], dict[str, Node]] | None = None


@dataclass(frozen=True)
class Bus:
    name: str
    #: By name, in the order the kernel tries them.
    drivers: dict[str, Driver]
    #: Files of ``/sys/bus/<name>`` besides the ones every bus has (cxl: ``flush``).
    attrs: Callable[[Kernel], dict[str, Node]] | None = None


#: A table of directory entries by name; each factory gives the node, or None if hidden.
Entries = dict[str, Callable[["Kernel", T], "Node | None"]]


@dataclass(frozen=True)
class DeviceType(Generic[T]):
    """A kind of device (struct device_type): the family object behind it and how kernfs
    draws it. The driver core adds what every device has: ``uevent``, ``dev``,
    ``subsystem``, ``driver``, ``power/`` and the child devices."""

    name: str
    #: The family object the device stands for.
    get: Callable[[Kernel, Device], T]
    #: Attribute files, links and attribute groups with fixed names.
    entries: Entries[T] = field(default_factory=dict)
    #: Entries whose names vary with the state (``dportN``, ``targetN``), all of them.
    more: Callable[[Kernel, T], dict[str, Node]] | None = None
    #: ``DEVTYPE=`` of the uevent (the type's name in the kernel), if it has one.
    devtype: str | None = None
    #: uevent variables after ``DRIVER=`` (``MODALIAS=``, ``PCI_CLASS=``).
    uevent_vars: Callable[[Kernel, T], list[str]] | None = None
    #: ``DEVNAME=`` of a device with a char dev, when not its name (``cxl/mem0``).
    devnode: Callable[[Device], str] | None = None
    #: Devices with runtime PM have a ``power/`` directory.
    power: bool = False
    #: Whether the uevent names the bound driver. Only the cxl_test mock platform devices
    #: are drawn without it, as this tree always drew them (the kernel does name it).
    uevent_driver: bool = True
    #: Frees the family object once the device is unregistered (the type's release).
    release: Callable[[Kernel, Device], None] = nothing


_TABLES: tuple[dict[str, Bus], dict[str, DeviceType[Any]]] | None = None


def _tables() -> tuple[dict[str, Bus], dict[str, DeviceType[Any]]]:
    global _TABLES
    if _TABLES is None:
        # Imported when first needed: the table imports every family, and every family
        # registers its devices through this module.
        from fake_sysfs.kernel.drivers import BUSES, TYPES

        _TABLES = (BUSES, TYPES)
    return _TABLES


def device_type(name: str) -> DeviceType[Any]:
    return _tables()[1][name]


def bus_type(name: str) -> Bus:
    return _tables()[0][name]


def loaded_drivers(k: Kernel, bus: str) -> list[Driver]:
    found = _tables()[0].get(bus)
    if found is None:
        return []
    return [drv for drv in found.drivers.values() if drv.loaded(k)]


# -- the registry ------------------------------------------------------------------------------


def lowest_free_id(used: set[int]) -> int:
    """ida_alloc: the lowest id not in ``used`` (ids are never negative)."""
    if not used or max(used) == len(used) - 1:
        return len(used)  # 0 .. len - 1 are all taken: the common case, found in C
    n = 0
    while n in used:
        n += 1
    return n


def find_device(k: Kernel, bus: str, name: str) -> Device | None:
    """bus_find_device_by_name."""
    return k.devices.get(f"bus/{bus}/{name}")


def children(k: Kernel, dev: Device | str) -> list[Device]:
    """The devices registered below ``dev`` (a device or a key), oldest first."""
    key = dev if isinstance(dev, str) else dev.key
    return [k.devices[c] for c in k.runtime.children(k).get(key, ())]


def device_add(k: Kernel, dev: Device, probe: bool = True) -> Device:
    """Register ``dev``; with ``probe``, attach a matching driver as the bus does."""
    key = dev.key
    if key in k.devices:
        raise ValueError(f"device {key} is already registered")
    k.devices[key] = dev
    k.runtime.added(dev.parent, key, dev, dev.parent not in k.devices)
    changes.registered(dev)
    if probe:
        device_attach(k, dev)
    return dev


def device_unregister(k: Kernel, dev: Device) -> None:
    """Release the driver, unregister the children left, drop the device, free its object."""
    device_release_driver(k, dev)
    for child in reversed(children(k, dev)):
        device_unregister(k, child)
    key = dev.key
    if k.devices.get(key) is not dev:
        return  # unregistered while its driver was released
    del k.devices[key]
    k.runtime.removed(dev.parent, key, dev, dev.parent not in k.devices)
    changes.registered(dev)
    device_type(dev.type).release(k, dev)


# -- binding -----------------------------------------------------------------------------------


def _really_probe(k: Kernel, drv: Driver, dev: Device) -> None:
    # The driver is recorded before its probe runs, so what the probe logs names it, and
    # cleared again when the probe fails, as the kernel does.
    dev.driver = drv.name
    try:
        drv.probe(k, dev)
    except KernfsError as e:
        err = e.errno or errno.EIO
        if err in (errno.ENODEV, errno.ENXIO):
            k.log.dbg(dev, f"probe with driver {drv.name} rejects match -{err}")
        else:
            k.log.err(dev, f"probe with driver {drv.name} failed with error -{err}")
        dev.driver = ""
        raise


def device_attach(k: Kernel, dev: Device) -> bool:
    """Bind the first matching driver whose probe succeeds; True if ``dev`` is bound."""
    if dev.driver:
        return True
    for drv in loaded_drivers(k, dev.bus):
        if not drv.match(k, dev):
            continue
        try:
            _really_probe(k, drv, dev)
        except KernfsError:
            continue
        return True
    return False


def drivers_probe(k: Kernel, dev: Device) -> bool:
    """``/sys/bus/<bus>/drivers_probe``: attach a driver to ``dev`` if it has none."""
    return device_attach(k, dev)


def bind(k: Kernel, drv: Driver, dev: Device) -> None:
    """The driver's ``bind`` file: ENODEV unless ``drv`` matches ``dev``, EBUSY if ``dev``
    is bound already, else the probe's errno if it fails."""
    if dev.bus != drv.bus or not drv.loaded(k) or not drv.match(k, dev):
        raise kerr(errno.ENODEV)
    if dev.driver:
        raise kerr(errno.EBUSY)
    try:
        _really_probe(k, drv, dev)
    except KernfsError as e:
        raise kerr(e.errno or errno.EIO) from None


def unbind(k: Kernel, drv: Driver, dev: Device) -> None:
    """The driver's ``unbind`` file: ENODEV unless ``dev`` is bound to ``drv``."""
    if dev.bus != drv.bus or dev.driver != drv.name:
        raise kerr(errno.ENODEV)
    device_release_driver(k, dev)


def device_release_driver(k: Kernel, dev: Device) -> None:
    """Run the bound driver's remove (nothing if unbound), then record it unbound. The
    driver stays recorded while remove runs, so what remove logs names it."""
    key = dev.key
    if not dev.driver or key in k.runtime.releasing:
        return  # what remove tears down may come back to release the device again
    drv = _tables()[0][dev.bus].drivers[dev.driver]
    k.runtime.releasing.add(key)
    try:
        drv.remove(k, dev)
    finally:
        k.runtime.releasing.discard(key)
    dev.driver = ""
