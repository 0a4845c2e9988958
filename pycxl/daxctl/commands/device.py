"""The daxctl device commands: ``reconfigure-device``, ``online-memory``,
``offline-memory``, ``create-device``, ``destroy-device``, ``enable-device`` and
``disable-device`` (upstream daxctl/device.c).

Each parses the common device options, then runs one action per matching device (for
create-device: per matching region). The exit status is the last failing action's result
(create-device: the last region's); only the last action's JSON is printed, as upstream
replaces its output array each time; the summary line goes to stderr.
"""

from __future__ import annotations

import errno
import json
import os
import sys

from pycxl.daxctl.commands.list import region_matches
from pycxl.daxctl.json import _dev_matches, device_json
from pycxl.daxctl.lib import MOVABLE, NORMAL, DaxCtx, strerror, will_auto_online
from pycxl.util.cparse import ULLONG_MAX, scan_int_pair
from pycxl.util.json_display import display_json_array
from pycxl.util.log import LOG_DEBUG
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text
from pycxl.util.size import parse_size64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pycxl.daxctl.lib import DaxDevice, DaxMemory, DaxRegion
    from pycxl.sysfs.base import Sysfs

_BASE = [
    Opt("r", "region", "string", "filter by region", argh="region-id"),
    Opt("u", "human", "bool", "use human friendly number formats"),
    Opt("v", "verbose", "bool", "emit more debug messages"),
]
_CREATE = [
    Opt("s", "size", "string", "size to switch the device to", argh="size"),
    Opt("a", "align", "string", "alignment to switch the device to", argh="align"),
    Opt(None, "input", "string", "input device JSON file", argh="input"),
]
_RECONFIG = [
    Opt("m", "mode", "string", "mode to switch the device to", argh="mode"),
    Opt("N", "no-online", "bool", "don't auto-online memory sections"),
    Opt("f", "force", "bool", "attempt to offline memory sections before reconfiguration"),
    Opt("C", "check-config", "bool", "use config files to determine parameters for the operation"),
]
_ZONE = [Opt(None, "no-movable", "bool", "online memory in ZONE_NORMAL")]
_DESTROY = [Opt("f", "force", "bool", "attempt to disable before destroying device")]

#: Per command: usage, options, the action's words in the "specify a device" message (the
#: enable command parses as disable does, so it says "disable"), and the summary words.
COMMANDS: dict[str, tuple[str, list[Opt], str, str, str]] = {
    "reconfigure-device": (
        "daxctl reconfigure-device <device> [<options>]",
        _BASE + _CREATE + _RECONFIG + _ZONE,
        "reconfigure",
        "reconfiguring devices",
        "reconfigured {n} device{s}",
    ),
    "online-memory": (
        "daxctl online-memory <device> [<options>]",
        _BASE + _ZONE,
        "online memory for",
        "onlining memory",
        "onlined memory for {n} device{s}",
    ),
    "offline-memory": (
        "daxctl offline-memory <device> [<options>]",
        list(_BASE),
        "offline memory for",
        "offlining memory",
        "offlined memory for {n} device{s}",
    ),
    "create-device": (
        "daxctl create-device [<options>]",
        _BASE + _CREATE,
        "",
        "creating devices",
        "created {n} device{s}",
    ),
    "destroy-device": (
        "daxctl destroy-device <device> [<options>]",
        _BASE + _DESTROY,
        "destroy",
        "destroying devices",
        "destroyed {n} device{s}",
    ),
    "enable-device": (
        "daxctl enable-device <device>",
        list(_BASE),
        "disable",
        "enabling device",
        "enabled {n} device{s}",
    ),
    "disable-device": (
        "daxctl disable-device <device>",
        list(_BASE),
        "disable",
        "disabling device",
        "disabled {n} device{s}",
    ),
}

_RACE_WARNING = (
    "{}:\n  WARNING: detected a race while onlining memory\n"
    "  Some memory may not be in the expected zone. It is\n"
    "  recommended to disable any other onlining mechanisms,\n"
    "  and retry. If onlining is to be left to other agents,\n"
    "  use the --no-online option to suppress this warning\n"
)


def _err(text: str) -> None:
    sys.stderr.write(text)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _signed(value: int) -> int:
    """An unsigned long long stored in a long long (``ULLONG_MAX`` becomes -1)."""
    value &= ULLONG_MAX
    return value - (1 << 64) if value >= 1 << 63 else value


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class DeviceCommand:
    def __init__(self, name: str, values: dict[str, Any], ctx: DaxCtx) -> None:
        self.name = name
        self.v = values
        self.ctx = ctx
        self.human: bool = values.get("human", False)
        self.verbose: bool = values.get("verbose", False)
        self.force: bool = values.get("force", False)
        self.no_online: bool = values.get("no_online", False)
        self.no_movable: bool = values.get("no_movable", False)
        self.mode = ""
        self.size = -1
        self.align = -1
        self.maps: list[tuple[int, int, int]] = []
        self.jdevs: list[Any] | None = None

    # -- memory ------------------------------------------------------------------------

    def online_memory(self, dev: DaxDevice) -> int:
        name = dev.devname
        state = _memory_state(dev)
        if isinstance(state, int):
            return state
        mem, total, online = state
        if online:
            _err(_RACE_WARNING.format(name))
        if online == total:
            _err(f"{name}: all memory sections ({online}) already online\n")
            return 1
        if online > 0:
            _err(f"{name}: {online} memory section{_s(online)} already online\n")
        rc = mem.online(NORMAL if self.no_movable else MOVABLE)
        if rc < 0:
            _err(f"{name}: failed to online memory: {strerror(rc)}\n")
            return rc
        if self.verbose:
            _err(f"{name}: {rc} memory section{_s(rc)} onlined\n")
        online = _online_sections(name, mem)
        if online < 0:
            return online
        if online < total:
            _err(f"{name}: failed to online {total - online} memory sections\n")
            return -errno.ENXIO
        return 0

    def offline_memory(self, dev: DaxDevice) -> int:
        name = dev.devname
        state = _memory_state(dev)
        if isinstance(state, int):
            return state
        mem, total, online = state
        offline = total - online
        if offline == total:
            _err(f"{name}: all memory sections ({offline}) already offline\n")
            return 1
        if offline:
            _err(f"{name}: {offline} memory section{_s(offline)} already offline\n")
        rc = mem.offline()
        if rc < 0:
            _err(f"{name}: failed to offline memory: {strerror(rc)}\n")
            return rc
        if self.verbose:
            _err(f"{name}: {rc} memory section{_s(rc)} offlined\n")
        online = _online_sections(name, mem)
        if online < 0:
            return online
        if online:
            _err(f"{name}: failed to offline {online} memory sections\n")
            return -errno.ENXIO
        return 0

    # -- reconfigure ---------------------------------------------------------------------

    def _to_system_ram(self, dev: DaxDevice) -> int:
        name = dev.devname
        if (self.no_online or not self.no_movable) and not self.force and will_auto_online(dev):
            _err(f"{name}: error: kernel policy will auto-online memory, aborting\n")
            return -errno.EBUSY
        skip_enable = False
        if dev.is_enabled():
            if dev.memory() is not None:
                _err(f"{name} was already in system-ram mode\n")
                skip_enable = True
            else:
                rc = dev.disable()
                if rc:
                    _err(f"{name}: disable failed: {strerror(rc)}\n")
                    return rc
        if not skip_enable:
            rc = dev.enable("system-ram")
            if rc:
                return rc
        if self.no_online:
            return 0
        return self.online_memory(dev)

    def _to_devdax(self, dev: DaxDevice) -> int:
        name = dev.devname
        if dev.is_enabled():
            mem = dev.memory()
            if mem is None:
                _err(f"{name} was already in devdax mode\n")
                return 1
            if self.force:
                rc = self.offline_memory(dev)
                if rc < 0:
                    return rc
            rc = mem.is_online()
            if rc < 0:
                _err(f"{name}: failed to determine online state: {strerror(rc)}\n")
                return rc
            if rc > 0:
                if self.verbose:
                    _err(f"{name}: found {rc} memory sections online\n")
                    _err(f"{name}: refusing to change modes\n")
                return -errno.EBUSY
            rc = dev.disable()
            if rc:
                _err(f"{name}: disable failed: {strerror(rc)}\n")
                return rc
        return dev.enable("devdax")

    def reconfigure(self, dev: DaxDevice) -> int:
        if self.align > 0:
            rc = dev.set_align(self.align)
            if rc < 0:
                return rc
        if self.size >= 0:
            rc = dev.set_size(self.size)
            return rc if rc < 0 else 0
        if self.mode == "system-ram":
            rc = self._to_system_ram(dev)
        elif self.mode == "devdax":
            rc = self._to_devdax(dev)
        else:
            _err(f"{dev.devname}: unknown mode requested: 0\n")
            rc = -errno.EINVAL
        if rc < 0:
            return rc
        self.jdevs = [device_json(dev, self.human)]
        return 0

    # -- the others ----------------------------------------------------------------------

    def xline(self, dev: DaxDevice, online: bool) -> int:
        if dev.memory() is None:
            _err(f"{dev.devname}: memory operations are not applicable in devdax mode\n")
            return -errno.ENXIO
        return self.online_memory(dev) if online else self.offline_memory(dev)

    def xble(self, dev: DaxDevice, enable: bool) -> int:
        name = dev.devname
        if dev.memory() is not None:
            _err(f"{name}: status operations are only applicable in devdax mode\n")
            return -errno.ENXIO
        if enable:
            rc = dev.enable("devdax")
            if rc:
                _err(f"{name}: enable failed: {strerror(rc)}\n")
        else:
            rc = dev.disable()
            if rc:
                _err(f"{name}: disable failed: {strerror(rc)}\n")
        return rc

    def destroy(self, dev: DaxDevice) -> int:
        name = dev.devname
        if dev.is_enabled() and not self.force:
            _err(f"{name} is active, specify --force for deletion\n")
            return -errno.ENXIO
        rc = dev.disable()
        if rc:
            _err(f"{name}: disable failed: {strerror(rc)}\n")
            return rc
        rc = dev.set_size(0)
        if rc < 0:
            return rc
        rc = dev.region.destroy_dev(dev)
        # daxX.0 is never deleted (the kernel keeps /sys/bus/dax populated): EBUSY is fine.
        if dev.id == 0 and rc == -errno.EBUSY:
            return 0
        return rc if rc < 0 else 0

    def create(self, region: DaxRegion) -> int:
        if region.create_dev():
            return -errno.ENOSPC
        dev = region.dev_seed()
        if dev is None:
            return -errno.ENOSPC
        size = self.size if self.size != -1 else _signed(region.available_size)
        if size <= 0:
            return -errno.ENOSPC
        if self.align > 0:
            rc = dev.set_align(self.align)
            if rc < 0:
                return rc
        allocated = 0
        for start, end, _ in self.maps:
            rc = dev.set_mapping(start, end)
            if rc < 0:
                return rc
            allocated += end - start + 1
        if self.maps and allocated != size:
            _err(f"{dev.devname}: allocated {allocated} but specified size {size}\n")
        else:
            rc = dev.set_size(size)
            if rc < 0:
                return rc
        rc = dev.enable("devdax")
        if rc:
            _err(f"{dev.devname}: enable failed: {strerror(rc)}\n")
            return rc
        self.jdevs = [device_json(dev, self.human)]
        return 0

    def run_devices(self, device: str | None) -> tuple[int, int]:
        """do_xaction_device: (last failing result, devices acted on)."""
        saved = processed = 0
        for region in self.ctx.regions():
            if not region_matches(region, self.v["region"]):
                continue
            for dev in list(region.devices()):
                if not _dev_matches(dev, device):
                    continue
                rc = self._action(dev)
                if rc == 0:
                    processed += 1
                else:
                    saved = rc
        if self.jdevs is not None:
            display_json_array(self.jdevs, self.human)
        return saved, processed

    def _action(self, dev: DaxDevice) -> int:
        name = self.name
        if name == "reconfigure-device":
            return self.reconfigure(dev)
        if name in ("online-memory", "offline-memory"):
            return self.xline(dev, name == "online-memory")
        if name in ("enable-device", "disable-device"):
            return self.xble(dev, name == "enable-device")
        return self.destroy(dev)

    def run_regions(self) -> tuple[int, int]:
        """do_xaction_region: (the last region's result, -ENXIO if none matched; created)."""
        rc, processed = -errno.ENXIO, 0
        for region in self.ctx.regions():
            if not region_matches(region, self.v["region"]):
                continue
            rc = self.create(region)
            if rc == 0:
                processed += 1
        if self.jdevs is not None:
            display_json_array(self.jdevs, self.human)
        return rc, processed


def _usage_exit(usage: str, options: list[Opt]) -> _Exit:
    sys.stderr.write(usage_text([usage], options))
    return _Exit(EXIT_USAGE)


def _parse_device_file(path: str) -> tuple[int, dict[str, Any]]:
    """parse_device_file: an object with align, size, chardev (``daxR.N``) and mappings
    (start, end, page_offset each); 0 and what it sets, or -EINVAL."""
    try:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
    except (OSError, ValueError):
        return -errno.EINVAL, {}
    if not isinstance(obj, dict):
        return -errno.EINVAL, {}

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value if isinstance(value, str) else json.dumps(value)

    def number(value: Any) -> int:
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        digits = str(value).strip()
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        head = ""
        for c in digits:
            if not c.isdigit():
                break
            head += c
        return sign * int(head) if head else 0

    if "align" not in obj or "size" not in obj or "chardev" not in obj:
        return -errno.EINVAL, {}
    ids = scan_int_pair(text(obj["chardev"]), "dax")
    if ids is None or "mappings" not in obj:
        return -errno.EINVAL, {}
    mappings = obj["mappings"]
    maps: list[tuple[int, int, int]] = []
    if isinstance(mappings, list):
        for entry in mappings:
            if not isinstance(entry, dict) or not {"start", "end", "page_offset"} <= entry.keys():
                return -errno.EINVAL, {}
            start, end = number(entry["start"]), number(entry["end"])
            maps.append((start, end, number(entry["page_offset"])))
    maps.sort(key=lambda m: m[2])
    region = ids[0] & 0xFFFF_FFFF
    return 0, {
        "align": text(obj["align"]),
        "size": text(obj["size"]),
        "region": str(region),
        "maps": maps,
    }


def _check_config(cmd: DeviceCommand, device: str) -> str | None:
    """-C (parse_config_reconfig): take mode, online and movable from the section for the
    device's nvdimm uuid. A device with none (CXL RAM devices have no nvdimm namespace), or
    a section that sets nothing, ends the command with success, as upstream does; a
    configuration directory that cannot be read leaves the device unnamed (upstream then
    goes on with every device)."""
    from pycxl.daxctl.config import nvdimm_uuid, reconfig_params

    uuid = None if device == "all" else nvdimm_uuid(cmd.ctx.sysfs, device)
    if uuid is None:
        if device != "all":
            _err(f"no UUID match for {device} found in config files\n")
    else:
        rc, params = reconfig_params(uuid)
        if rc:
            _err(f"error parsing config file: {strerror(rc)}\n")
            return None
        if "mode" in params:
            cmd.v["mode"] = params["mode"]
        cmd.no_online = bool(params.get("no_online", cmd.no_online))
        cmd.no_movable = bool(params.get("no_movable", cmd.no_movable))
    if cmd.v.get("mode") is None and not cmd.no_online and not cmd.no_movable:
        _err(f"{device}: missing or malformed config section\n")
        raise _Exit(0)
    return device


def parse_device_options(
    name: str, argv: list[str], ctx: DaxCtx
) -> tuple[DeviceCommand, str | None]:
    """parse_device_options: the command with its parameters set, and the device argument
    (its basename); usage errors raise _Exit."""
    usage, options, words, _, _ = COMMANDS[name]
    try:
        parsed, args = parse_options(argv, options, [usage])
    except UsageExit as e:
        raise _Exit(e.emit()) from None
    values: dict[str, Any] = parsed
    cmd = DeviceCommand(name, values, ctx)
    create = name == "create-device"
    device: str | None = os.path.basename(args[0]) if args else ""
    bad = False
    if not args and not create:
        _err(f'specify a device to {words}, or "all"\n')
        bad = True
    for arg in args[0 if create else 1 :]:
        _err(f'unknown extra parameter "{arg}"\n')
        bad = True
    if bad:
        raise _usage_exit(usage, options)
    if cmd.verbose:
        cmd.ctx.log.priority = LOG_DEBUG
    if device and values.get("check_config"):
        if values.get("mode") is not None or cmd.no_online or cmd.no_movable:
            _err(f"{device}: -C cannot be used with --mode, --(no-)movable, or --(no-)online\n")
            raise _usage_exit(usage, options)
        device = _check_config(cmd, device)
    if cmd.name == "reconfigure-device":
        size, align, mode = values["size"], values["align"], values["mode"]
        if size is None and align is None and mode is None:
            _err("error: a 'align', 'mode' or 'size' option is required\n")
            raise _usage_exit(usage, options)
        if size is not None or align is not None:
            if size is not None:
                cmd.size = _signed(parse_size64(size))
            if align is not None:
                cmd.align = _signed(parse_size64(align))
        elif mode in ("system-ram", "devdax"):
            cmd.mode = mode
            if mode == "devdax" and cmd.no_online:
                _err("--no-online is incompatible with --mode=devdax\n")
                raise _usage_exit(usage, options)
    elif create:
        size, align = values["size"], values["align"]
        if values["input"] is not None:
            rc, found = _parse_device_file(values["input"])
            if rc:
                _err(f"error: failed to parse device file: {strerror(rc)}\n")
                raise _usage_exit(usage, options)
            size, align = found["size"], found["align"]
            values["region"] = found["region"]
            cmd.maps = found["maps"]
        if size is not None:
            cmd.size = _signed(parse_size64(size))
        if align is not None:
            cmd.align = _signed(parse_size64(align))
    return cmd, device


def run_device_command(name: str, argv: list[str], sysfs: Sysfs) -> int:
    try:
        cmd, device = parse_device_options(name, argv, DaxCtx(sysfs))
    except _Exit as e:
        return e.code
    _, _, _, doing, summary = COMMANDS[name]
    if name == "create-device":
        rc, processed = cmd.run_regions()
    else:
        rc, processed = cmd.run_devices(device)
    if rc < 0:
        _err(f"error {doing}: {strerror(rc)}\n")
    _err(summary.format(n=processed, s=_s(processed)) + "\n")
    return rc


def _memory_state(dev: DaxDevice) -> tuple[DaxMemory, int, int] | int:
    """What onlining and offlining both start from: the device's memory object, its
    section count and how many are online; or the error code, its line printed."""
    name = dev.devname
    mem = dev.memory()
    if mem is None:
        _err(f"{name}: failed to get the memory object\n")
        return -errno.ENXIO
    total = mem.num_sections()
    if total < 0:
        _err(f"{name}: failed to get number of memory sections\n")
        return total
    online = _online_sections(name, mem)
    return online if online < 0 else (mem, total, online)


def _online_sections(name: str, mem: DaxMemory) -> int:
    """The sections online now, or the error code, its line printed."""
    online = mem.is_online()
    if online < 0:
        _err(f"{name}: failed to determine online state: {strerror(online)}\n")
    return online
