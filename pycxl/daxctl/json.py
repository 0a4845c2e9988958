"""JSON for DAX regions and devices (daxctl list, ``cxl list -X``), upstream key order."""

from __future__ import annotations

from pycxl.daxctl.lib import DaxDevice, DaxRegion, _read
from pycxl.util.human import size_value

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def device_json(dev: DaxDevice, human: bool) -> dict[str, Any]:
    obj: dict[str, Any] = {"chardev": dev.devname, "size": size_value(dev.size, human)}
    if dev.target_node >= 0:
        obj["target_node"] = dev.target_node
    if dev.align > 0:
        obj["align"] = size_value(dev.align, human)
    mode = dev.mode()
    obj["mode"] = mode
    if mode == "system-ram" and dev.resource:
        blocks = dev.memory_blocks()
        if isinstance(blocks, int):
            obj["online_memblocks"] = blocks
            obj["total_memblocks"] = blocks
        else:
            states = [_read(dev.sysfs, f"{b}/state") or "" for b in blocks]
            obj["online_memblocks"] = sum(1 for s in states if s.startswith("online"))
            obj["total_memblocks"] = len(blocks)
            movable = _movable(dev, blocks, states)
            if movable is not None:
                obj["movable"] = movable
    if not dev.is_enabled():
        obj["state"] = "disabled"
    return obj


def _movable(dev: DaxDevice, blocks: list[str], states: list[str]) -> bool | None:
    """True when every block sits in ZONE_MOVABLE; None (key omitted) when a block is
    offline or its zone unreadable; False for Normal, mixed zones, or no blocks at all."""
    zones = set()
    for block, state in zip(blocks, states, strict=True):
        if not state.startswith("online"):
            return None
        zone = _read(dev.sysfs, f"{block}/valid_zones")
        if zone not in ("Movable", "Normal"):
            return None
        zones.add(zone)
    return zones == {"Movable"}


def region_json(region: DaxRegion, human: bool, idle: bool, path: bool = True) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    if path:
        obj["path"] = region.path.removeprefix("/sys/devices")
    obj["id"] = region.id
    if region.size is not None:
        obj["size"] = size_value(region.size, human)
    if region.available_size:
        obj["available_size"] = size_value(region.available_size, human)
    if region.align is not None:
        obj["align"] = region.align
    devices = [device_json(d, human) for d in region.devices() if idle or d.size]
    if devices:
        obj["devices"] = devices
    return obj
