"""JSON objects for cxl objects, with upstream's key order and value rules.

Objects are plain dicts in insertion order; ``flags`` say which optional parts to add and
whether numbers are rendered for humans (-u).
"""

from __future__ import annotations

from pycxl.cxl.lib.decoder import UINT_MAX
from pycxl.cxl.lib.memdev import QOS_CLASS_NONE
from pycxl.cxl.lib.port import alias
from pycxl.util.cparse import ULLONG_MAX
from pycxl.util.human import hex_value, size_value

# typing (and dataclasses) would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from pycxl.cxl.lib.decoder import Decoder, Target
    from pycxl.cxl.lib.memdev import Memdev
    from pycxl.cxl.lib.port import Bus, Dport, Port
    from pycxl.cxl.lib.region import Region

    JsonObj = dict[str, Any]


class Flags:
    """Which optional parts the JSON objects get, and ``human`` number formats (-u)."""

    def __init__(
        self,
        *,
        human: bool = False,
        targets: bool = False,
        health: bool = False,
        partition: bool = False,
        alert_config: bool = False,
        firmware: bool = False,
        dax: bool = False,
        media_errors: bool = False,
        idle: bool = False,
    ) -> None:
        self.human = human
        self.targets = targets
        self.health = health
        self.partition = partition
        self.alert_config = alert_config
        self.firmware = firmware
        self.dax = dax
        self.media_errors = media_errors
        self.idle = idle


def memdev_json(memdev: Memdev, flags: Flags) -> JsonObj:
    h = flags.human
    obj: JsonObj = {"memdev": memdev.devname}
    if memdev.pmem_size:
        obj["pmem_size"] = size_value(memdev.pmem_size, h)
        if memdev.pmem_qos_class != QOS_CLASS_NONE:
            obj["pmem_qos_class"] = memdev.pmem_qos_class
    if memdev.ram_size:
        obj["ram_size"] = size_value(memdev.ram_size, h)
        if memdev.ram_qos_class != QOS_CLASS_NONE:
            obj["ram_qos_class"] = memdev.ram_qos_class
    if flags.health or flags.alert_config:
        from pycxl.cxl import json_mbox

        if flags.health and (health := json_mbox.health_json(memdev)) is not None:
            obj["health"] = health
        if flags.alert_config and (alert := json_mbox.alert_config_json(memdev)) is not None:
            obj["alert_config"] = alert
    if memdev.serial != ULLONG_MAX:
        obj["serial"] = hex_value(memdev.serial, h)
    if memdev.numa_node >= 0:
        obj["numa_node"] = memdev.numa_node
    obj["host"] = memdev.host
    if memdev.firmware_version is not None:
        obj["firmware_version"] = memdev.firmware_version
    if not memdev.is_enabled():
        obj["state"] = "disabled"
    if flags.partition or flags.firmware:
        from pycxl.cxl import json_mbox

        if flags.partition and (part := json_mbox.partition_info_json(memdev, h)) is not None:
            obj["partition_info"] = part
        if flags.firmware and (fw := json_mbox.firmware_json(memdev, h)) is not None:
            obj["firmware"] = fw
    if flags.media_errors:
        from pycxl.cxl.lib.poison import memdev_media_errors

        records = memdev_media_errors(memdev, h)
        if records is not None:
            obj["media_errors"] = records
    return obj


def bus_json(bus: Bus, flags: Flags) -> JsonObj:
    del flags
    return {"bus": bus.devname, "provider": bus.provider}


def port_json(port: Port, flags: Flags) -> JsonObj:
    """A switch port or an endpoint (the first key names which)."""
    del flags
    key = "endpoint" if port.is_endpoint() else "port"
    obj: JsonObj = {key: port.devname, "host": port.host}
    if port.depth > 1:
        dport = port.parent_dport()
        if dport is not None:
            obj["parent_dport"] = dport.devname
    obj["depth"] = port.depth
    if not port.is_enabled():
        obj["state"] = "disabled"
    obj["decoders_committed"] = port.decoders_committed
    return obj


def dports_append(
    obj: JsonObj, port: Port, flags: Flags, keep: Callable[[Dport], bool] | None = None
) -> None:
    """``nr_dports`` and ``dports`` (with -T): every dport is counted, those ``keep``
    accepts (the caller's memdev filter) are listed."""
    dports = port.dports()
    if not dports or not flags.targets:
        return
    obj["nr_dports"] = len(dports)
    if keep is not None:
        dports = [d for d in dports if keep(d)]
    listed = []
    for dport in dports:
        entry: JsonObj = {"dport": dport.devname}
        name = alias(dport.phys_path, dport.fw_path)
        if name is not None:
            entry["alias"] = name
        entry["id"] = hex_value(dport.id, flags.human)
        listed.append(entry)
    obj["dports"] = listed


def decoder_json(decoder: Decoder, flags: Flags) -> JsonObj:
    h = flags.human
    port = decoder.port
    obj: JsonObj = {"decoder": decoder.devname}
    size = decoder.size
    if size and decoder.start != ULLONG_MAX:
        obj["resource"] = hex_value(decoder.start, h)
    if size and size != ULLONG_MAX:
        obj["size"] = size_value(size, h)
    ways = decoder.interleave_ways
    if ways != UINT_MAX:
        obj["interleave_ways"] = ways
        # Granularity is meaningless without interleave.
        if ways > 1 and decoder.interleave_granularity != UINT_MAX:
            obj["interleave_granularity"] = decoder.interleave_granularity
    region = decoder.region()
    if region is not None:
        obj["region"] = region.devname
    if size == 0:
        obj["state"] = "disabled"
    if port.is_endpoint():
        dpa_size = decoder.dpa_size
        if dpa_size and decoder.dpa_resource != ULLONG_MAX:
            obj["dpa_resource"] = hex_value(decoder.dpa_resource, h)
        if dpa_size and dpa_size != ULLONG_MAX:
            obj["dpa_size"] = size_value(dpa_size, h)
        if decoder.mode != "none":
            obj["mode"] = decoder.mode
    if port.is_root():
        if decoder.cap_type3:
            if decoder.max_available_extent != ULLONG_MAX:
                obj["max_available_extent"] = size_value(decoder.max_available_extent, h)
            if decoder.cap_pmem:
                obj["pmem_capable"] = True
            if decoder.cap_ram:
                obj["volatile_capable"] = True
        if decoder.cap_type2:
            obj["accelmem_capable"] = True
        if decoder.qos_class != QOS_CLASS_NONE:
            obj["qos_class"] = decoder.qos_class
    if not port.is_endpoint():
        obj["nr_targets"] = decoder.nr_targets
    return obj


def targets_append(
    obj: JsonObj, decoder: Decoder, flags: Flags, keep: Callable[[Target], bool] | None = None
) -> None:
    """``targets`` (with -T): the decoder's targets that ``keep`` accepts (the caller's
    memdev filter)."""
    if not flags.targets or not decoder.nr_targets:
        return
    targets = decoder.targets
    if keep is not None:
        targets = [t for t in targets if keep(t)]
    listed = []
    for target in targets:
        entry: JsonObj = {"target": target.devname}
        name = alias(target.phys_path, target.fw_path)
        if name is not None:
            entry["alias"] = name
        entry["position"] = target.position
        entry["id"] = hex_value(target.id, flags.human)
        listed.append(entry)
    obj["targets"] = listed


def region_json(region: Region, flags: Flags) -> JsonObj:
    h = flags.human
    obj: JsonObj = {"region": region.devname, "resource": hex_value(region.start, h)}
    if region.size != ULLONG_MAX:
        obj["size"] = size_value(region.size, h)
    if region.mode != "none":
        obj["type"] = region.mode
    if region.interleave_ways != UINT_MAX:
        obj["interleave_ways"] = region.interleave_ways
    if region.interleave_granularity != UINT_MAX:
        obj["interleave_granularity"] = region.interleave_granularity
    obj["decode_state"] = "commit" if region.committed else "reset"
    if not region.is_enabled():
        obj["state"] = "disabled"
    if flags.media_errors:
        from pycxl.cxl.lib.poison import region_media_errors

        records = region_media_errors(region, flags.human)
        if records is not None:
            obj["media_errors"] = records
    mappings = region.mappings()
    if flags.targets and region.interleave_ways not in (0, UINT_MAX):
        listed = []
        for mapping in mappings:
            entry: JsonObj = {"position": mapping.position}
            memdev = mapping.decoder.memdev()
            if memdev is not None:
                entry["memdev"] = memdev.devname
            entry["decoder"] = mapping.decoder.devname
            listed.append(entry)
        obj["mappings"] = listed
    if flags.dax:
        from pycxl.daxctl.json import region_json as dax_region_json
        from pycxl.daxctl.lib import open_region

        dax_region = open_region(region.ctx.sysfs, f"{region.dev_path}/dax_region{region.id}")
        if dax_region is not None:
            obj["daxregion"] = dax_region_json(dax_region, flags.human, flags.idle, path=False)
    if qos_class_mismatch(region):
        obj["qos_class_mismatch"] = True
    return obj


def qos_class_mismatch(region: Region) -> bool:
    """A mapped memdev's QoS class for the region's partition differs from the window's."""
    root = region.decoder
    for mapping in region.mappings():
        memdev = mapping.decoder.memdev()
        if memdev is None:
            continue
        if region.mode == "ram" and root.qos_class != memdev.ram_qos_class:
            return True
        if region.mode == "pmem" and root.qos_class != memdev.pmem_qos_class:
            return True
    return False
