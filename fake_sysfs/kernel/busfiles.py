"""The files of ``/sys/bus/<bus>`` and of its drivers' directories, as the driver core
provides them: ``drivers_autoprobe``, ``drivers_probe``, ``uevent``, and each driver's
``bind``, ``unbind`` and ``uevent``.

``bind``, ``unbind`` and ``drivers_probe`` name a device of the bus (compared as
sysfs_streq does) and call the driver core (kernel.core), whose probes and removes run the
cascades: ENODEV when no such device is on the bus (or, for ``bind``, the driver does not
match it; for ``unbind``, it is not bound to this driver), EBUSY when ``bind`` finds it bound,
else what the probe returns. ``drivers_probe`` succeeds whether or not a driver binds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, refused
from fake_sysfs.kernel import core
from fake_sysfs.kernel.attrs import not_emulated, show_store_attr, store_attr, written_name
from fake_sysfs.kernel.core import Bus, Device, Driver
from fake_sysfs.kernfs.nodes import Node

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


def drivers_autoprobe_show(k: Kernel, bus: Bus) -> int:
    return 1


def drivers_autoprobe_store(k: Kernel, bus: Bus, buf: bytes) -> None:
    """Whether new devices are probed when registered."""
    not_emulated(k, bus.name, "drivers_autoprobe")


def _named(k: Kernel, bus: str, buf: bytes, who: str, attr: str) -> Device:
    """bus_find_device_by_name: the device of ``bus`` whose name was written; ENODEV."""
    name = written_name(buf)
    dev = core.find_device(k, bus, name)
    if dev is None:
        k.log.dbg(who, f"{attr}: no device {name!r} on bus {bus}, -ENODEV")
        raise refused(errno.ENODEV)
    return dev


def drivers_probe_store(k: Kernel, bus: Bus, buf: bytes) -> None:
    """Probe the named device of this bus (core.drivers_probe): a device with no driver
    gets the first that matches and probes; a probe that fails is no failure here."""
    core.drivers_probe(k, _named(k, bus.name, buf, bus.name, "drivers_probe"))


def bus_uevent_store(k: Kernel, bus: Bus, buf: bytes) -> None:
    not_emulated(k, bus.name, "uevent")


def bus_attrs(k: Kernel, bus: Bus) -> dict[str, Node]:
    """The files every bus directory has, and the bus's own (cxl: ``flush``)."""
    entries: dict[str, Node] = {
        "drivers_autoprobe": show_store_attr(
            drivers_autoprobe_show, drivers_autoprobe_store, k, bus
        ),
        "drivers_probe": store_attr(drivers_probe_store, k, bus),
        "uevent": store_attr(bus_uevent_store, k, bus),
    }
    if bus.attrs is not None:
        entries.update(bus.attrs(k))
    return entries


def bind_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    """Bind the named device to this driver (core.bind: ENODEV if it does not match,
    EBUSY if bound, else the probe's errno)."""
    dev = _named(k, drv.bus, buf, drv.name, "bind")
    if dev.bus != drv.bus or not drv.match(k, dev):
        k.log.dbg(drv.name, f"bind: {dev.name} does not match, -ENODEV")
        raise refused(errno.ENODEV)
    if dev.driver:
        k.log.dbg(drv.name, f"bind: {dev.name} is bound to {dev.driver} already, -EBUSY")
        raise refused(errno.EBUSY)
    core.bind(k, drv, dev)


def unbind_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    """Unbind the named device from this driver (core.unbind: ENODEV if not bound to it)."""
    dev = _named(k, drv.bus, buf, drv.name, "unbind")
    if dev.driver != drv.name:
        k.log.dbg(drv.name, f"unbind: {dev.name} is not bound to {drv.name}, -ENODEV")
        raise refused(errno.ENODEV)
    core.unbind(k, drv, dev)


def driver_uevent_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    not_emulated(k, drv.name, "uevent")


def driver_attrs(k: Kernel, drv: Driver) -> dict[str, Node]:
    """A driver directory's files (the bound devices' links are kernfs's)."""
    entries: dict[str, Node] = {"uevent": store_attr(driver_uevent_store, k, drv)}
    if drv.bind_attrs:
        entries["bind"] = store_attr(bind_store, k, drv)
        entries["unbind"] = store_attr(unbind_store, k, drv)
    if drv.attrs is not None:
        entries.update(drv.attrs(k))
    return entries
