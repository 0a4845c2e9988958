"""The files of ``/sys/bus/<bus>`` and of its drivers' directories, as the driver core
provides them: ``drivers_autoprobe``, ``drivers_probe``, ``uevent``, and each driver's
``bind``, ``unbind`` and ``uevent``.

The driver core's operations behind them exist (kernel.core: ``drivers_probe``, ``bind``,
``unbind``); the stores are not wired to them yet, so they refuse as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.kernel.attrs import not_emulated, show_store_attr, store_attr
from fake_sysfs.kernel.core import Bus, Driver
from fake_sysfs.kernfs.nodes import Node

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


def drivers_autoprobe_show(k: Kernel, bus: Bus) -> int:
    return 1


def drivers_autoprobe_store(k: Kernel, bus: Bus, buf: bytes) -> None:
    """Whether new devices are probed when registered."""
    not_emulated(k, bus.name, "drivers_autoprobe")


def drivers_probe_store(k: Kernel, bus: Bus, buf: bytes) -> None:
    """Probe the named device of this bus (core.drivers_probe)."""
    not_emulated(k, bus.name, "drivers_probe")


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
    not_emulated(k, drv.name, "bind")


def unbind_store(k: Kernel, drv: Driver, buf: bytes) -> None:
    """Unbind the named device from this driver (core.unbind: ENODEV if not bound to it)."""
    not_emulated(k, drv.name, "unbind")


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
