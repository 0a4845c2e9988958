"""JSON for DAX regions and devices (daxctl list and commands, ``cxl list -X``), in
upstream's key order."""

from __future__ import annotations

from pycxl.daxctl.lib import DaxDevice, DaxRegion
from pycxl.util.human import hex_value, size_value

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _dev_matches(dev: DaxDevice, ident: str | None) -> bool:
    """util_daxctl_dev_filter: ``all``, the name, or ``R.N``."""
    from pycxl.util.cparse import scan_int_pair

    if ident is None or ident == "all" or ident == dev.devname:
        return True
    pair = scan_int_pair(ident)
    return pair is not None and pair == (dev.region.id, dev.id)


def device_json(dev: DaxDevice, human: bool, mappings: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"chardev": dev.devname, "size": size_value(dev.size, human)}
    if dev.target_node >= 0:
        obj["target_node"] = dev.target_node
    # libdaxctl keeps align in an int: 0 and values that wrap negative are left out.
    align = dev.align & 0xFFFF_FFFF
    if align and align < 1 << 31:
        obj["align"] = size_value(align, human)
    mem = dev.memory()
    obj["mode"] = "system-ram" if mem is not None else "devdax"
    if mem is not None and dev.resource:
        total = mem.num_sections()
        obj["online_memblocks"] = mem.is_online()
        obj["total_memblocks"] = total
        movable = mem.is_movable()
        if movable in (0, 1):
            obj["movable"] = bool(movable)
    if not dev.is_enabled():
        obj["state"] = "disabled"
    if mappings:
        found = dev.mappings()
        if found:
            obj["mappings"] = [
                {
                    "page_offset": hex_value(m.page_offset, human),
                    "start": hex_value(m.start, human),
                    "end": hex_value(m.end, human),
                    "size": size_value(m.size, human),
                }
                for m in found
            ]
    return obj


def devices_json(
    region: DaxRegion, ident: str | None, human: bool, idle: bool, mappings: bool
) -> list[dict[str, Any]]:
    return [
        device_json(d, human, mappings)
        for d in region.devices()
        if _dev_matches(d, ident) and (idle or d.size)
    ]


def region_json(
    region: DaxRegion,
    human: bool,
    idle: bool,
    path: bool = True,
    devices: bool = True,
    ident: str | None = None,
    mappings: bool = False,
) -> dict[str, Any]:
    """A region (with ``path``, the caller checked that it is below /sys/devices)."""
    obj: dict[str, Any] = {}
    if path:
        obj["path"] = region.path.removeprefix("/sys/devices")
    obj["id"] = region.id
    if region.size is not None and region.size != (1 << 64) - 1:
        obj["size"] = size_value(region.size, human)
    available = region.available_size
    if available:
        obj["available_size"] = size_value(available, human)
    if region.align is not None and region.align != (1 << 64) - 1:
        obj["align"] = region.align
    if devices:
        found = devices_json(region, ident, human, idle, mappings)
        if found:
            obj["devices"] = found
    return obj
