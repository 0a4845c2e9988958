"""The memdev JSON objects built from mailbox answers (``-H``, ``-A``, ``-I``, ``-F``),
with upstream's keys, order and value rules. Each is None when its command could not be
built or did not succeed: ``cxl list`` then leaves the key out silently."""

from __future__ import annotations

from pycxl.cxl.lib import mbox_cmds as mb
from pycxl.cxl.lib.fwload import fw_update_in_progress, fw_update_remaining
from pycxl.cxl.lib.mailbox import ok
from pycxl.util.cparse import ULLONG_MAX
from pycxl.util.human import size_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.cxl.lib.memdev import Memdev

    JsonObj = dict[str, Any]

_MEDIA = (
    "media_normal",
    "media_not_ready",
    "media_persistence_lost",
    "media_data_lost",
    "media_powerloss_persistence_loss",
    "media_shutdown_persistence_loss",
    "media_persistence_loss_imminent",
    "media_powerloss_data_loss",
    "media_shutdown_data_loss",
    "media_data_loss_imminent",
)
_LEVEL = ("normal", "warning", "critical", "unknown")
_ALERTS = (
    "life_used",
    "dev_over_temperature",
    "dev_under_temperature",
    "corrected_volatile_mem_err",
    "corrected_pmem_err",
)

_IDENTIFY_KEYS = ("total_size", "volatile_only_size", "persistent_only_size")
_PARTITION_KEYS = (
    "active_volatile_size",
    "active_persistent_size",
    "next_volatile_size",
    "next_persistent_size",
)


def health_json(memdev: Memdev) -> JsonObj | None:
    cmd = mb.new_get_health_info(memdev)
    if cmd is None or not ok(cmd):
        return None
    h = mb.Health(bytes(cmd.output))
    obj: JsonObj = {
        "maintenance_needed": bool(h.status & 1),
        "performance_degraded": bool(h.status & 2),
        "hw_replacement_needed": bool(h.status & 4),
    }
    for i, key in enumerate(_MEDIA):
        obj[key] = h.media == i
    obj["ext_life_used"] = _LEVEL[h.ext & 3]
    obj["ext_temperature"] = _LEVEL[(h.ext >> 2) & 3]
    obj["ext_corrected_volatile"] = _LEVEL[(h.ext >> 4) & 1]
    obj["ext_corrected_persistent"] = _LEVEL[(h.ext >> 5) & 1]
    obj["life_used_percent"] = h.life_used
    obj["temperature"] = h.temperature
    obj["dirty_shutdowns"] = h.dirty
    obj["volatile_errors"] = h.vol
    obj["pmem_errors"] = h.pmem
    return obj


def alert_config_json(memdev: Memdev) -> JsonObj | None:
    cmd = mb.new_get_alert_config(memdev)
    if cmd is None or not ok(cmd):
        return None
    return alert_config_obj(bytes(cmd.output))


def alert_config_obj(out: bytes) -> JsonObj:
    (valid, prog, life_crit, life_warn, over_crit, under_crit, over_warn, under_warn, vol, pm) = (
        mb.alert_values(out)
    )
    obj: JsonObj = {}
    for i, name in enumerate(_ALERTS):
        obj[f"{name}_prog_warn_threshold_valid"] = bool(valid >> i & 1)
    for i, name in enumerate(_ALERTS):
        obj[f"{name}_prog_warn_threshold_writable"] = bool(prog >> i & 1)
    obj["life_used_crit_alert_threshold"] = life_crit
    obj["life_used_prog_warn_threshold"] = life_warn
    obj["dev_over_temperature_crit_alert_threshold"] = over_crit
    obj["dev_under_temperature_crit_alert_threshold"] = under_crit
    obj["dev_over_temperature_prog_warn_threshold"] = over_warn
    obj["dev_under_temperature_prog_warn_threshold"] = under_warn
    obj["corrected_volatile_mem_err_prog_warn_threshold"] = vol
    obj["corrected_pmem_err_prog_warn_threshold"] = pm
    return obj


def partition_info_json(memdev: Memdev, human: bool) -> JsonObj | None:
    cmd = mb.new_identify(memdev)
    if cmd is None or not ok(cmd):
        return None
    obj: JsonObj = {}
    values = mb.identify_capacities(cmd)
    for name, value in zip(_IDENTIFY_KEYS, values, strict=False):
        if value != ULLONG_MAX:
            obj[name] = size_value(value, human)
    align = values[3]
    obj["partition_alignment_size"] = size_value(align, human)
    if align == 0 or align == ULLONG_MAX:
        return obj
    part = mb.new_get_partition(memdev)
    if part is None or not ok(part):
        return obj
    for name, value in zip(_PARTITION_KEYS, mb.partition_sizes(part), strict=True):
        if value != ULLONG_MAX:
            obj[name] = size_value(value, human)
    return obj


def firmware_json(memdev: Memdev, human: bool) -> JsonObj | None:
    cmd = mb.new_get_fw_info(memdev)
    if cmd is None or not ok(cmd):
        return None
    fw = mb.FwInfo(bytes(cmd.output))
    obj: JsonObj = {"num_slots": fw.num_slots, "active_slot": fw.active}
    if 1 <= fw.staged <= fw.num_slots:
        obj["staged_slot"] = fw.staged
    obj["online_activate_capable"] = fw.online
    for i in range(min(fw.num_slots, 4)):
        rev = fw.revisions[i]
        if rev[:1] != b"\0":
            text = rev.split(b"\0", 1)[0].decode("latin-1")
            obj[f"slot_{i + 1}_version"] = text
    in_progress = fw_update_in_progress(memdev)
    obj["fw_update_in_progress"] = in_progress
    if in_progress:
        obj["remaining_size"] = size_value(fw_update_remaining(memdev), human)
    return obj
