"""Build a platform from a QEMU command line.

:func:`parse_qemu` reads the options of a ``qemu-system-*`` command line that shape what a
Linux guest sees of CXL, and ignores the rest:

* ``-machine``/``-M``: the machine type (``q35`` or ``virt``), ``cxl=on`` and the fixed
  memory windows ``cxl-fmw.N.targets.M``, ``cxl-fmw.N.size`` and
  ``cxl-fmw.N.interleave-granularity`` (plus QEMU 7.0's ``-cxl-fixed-memory-window``);
* ``-m``: RAM, ``maxmem`` and ``slots``, which decide where QEMU puts the windows;
* ``-object memory-backend-{file,ram,memfd}``: the sizes behind the type-3 devices;
* ``-device pxb-cxl|cxl-rp|cxl-upstream|cxl-downstream|cxl-type3``: the topology;
* ``-numa node``: only counted, to check ``pxb-cxl,numa_node=``.

Other devices are skipped, except that a device model whose name mentions CXL must be one
of QEMU's: ``cxl-switch-mailbox-cci`` (a PCI function with class code 0x0c0b that Linux
binds no CXL driver to, so the guest's CXL subsystem shows nothing of it) and
``i2c_mctp_cxl`` (an I2C endpoint for a fabric manager, invisible to the guest) are checked
and skipped, and any other, such as ``cxl-typo``, is refused.

Sizes are read as QEMU reads them (:mod:`fake_sysfs.platform.sizes`), ``-m`` included: a
suffix-less ``-m`` size is in MiB, ``-m 0`` means QEMU's default, and RAM is rounded up
to 8 KiB.

Every mistake becomes a one-line :class:`PlatformError` that names the culprit. The result is
validated, its windows placed and its devices named by :func:`finalize`.

A host bridge with a single root port has no HDM decoder capability (current QEMU drops it
unless ``hdm_for_passthrough=on``), so Linux gives its port one passthrough decoder.

Not modeled: ``addr=`` is checked but devices are numbered in command-line order on their
bus; dynamic capacity devices are refused.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import TypeAlias

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    GiB,
    HostBridge,
    MiB,
    Platform,
    RootPort,
    Switch,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.sizes import U64_MAX, parse_size
from fake_sysfs.platform.text import DIGITS, brief, check_id, quote
from fake_sysfs.platform.validate import MAX_CPUS, PHYS_ADDR_LIMIT, finalize

#: HDM decoders per component (``CXL_HDM_DECODER_COUNT`` in current QEMU; 7.2 had 1).
QEMU_HDM_DECODERS = 4
#: HDM decoder target count of a ``pxb-cxl`` host bridge. hdm_init_common() in
#: hw/cxl/cxl-component-utils.c advertises a TARGET_COUNT of 1 for every component, and
#: pxb_cxl_dev_reset() (hw/pci-bridge/pci_expander_bridge.c) raises it to 8.
QEMU_HOST_BRIDGE_TARGETS = 8
#: Same for a ``cxl-upstream`` switch port: latch_registers() in
#: hw/pci-bridge/cxl_upstream.c overrides the common 1 with 8.
QEMU_SWITCH_TARGETS = 8

#: QEMU's RAM size when there is no ``-m`` (or ``-m 0``).
DEFAULT_RAM = 128 * MiB
#: QEMU rounds the RAM size up to a multiple of this.
RAM_ALIGN = 8 * 1024
#: q35 keeps at most this much RAM below 4 GiB (2 GiB once RAM reaches it).
Q35_LOWMEM_LIMIT = 0xB000_0000
#: The CXL host bridge register area QEMU maps before the first window.
CXL_HOST_REG_SIZE = MiB
#: Windows start at this alignment.
FMW_ALIGN = 256 * MiB
#: At most this many memory hotplug slots (ACPI_MAX_RAM_SLOTS).
MAX_RAM_SLOTS = 256
#: NUMA node ids are below this (MAX_NODES).
MAX_NUMA_NODES = 128

#: QEMU options that take no argument; every other option consumes the next token.
NO_ARG_OPTIONS = frozenset(
    [
        "h",
        "help",
        "version",
        "S",
        "s",
        "snapshot",
        "nographic",
        "no-reboot",
        "no-shutdown",
        "daemonize",
        "enable-kvm",
        "no-kvm",
        "no-kvm-irqchip",
        "no-kvm-pit",
        "no-kvm-pit-reinjection",
        "enable-nesting",
        "nodefaults",
        "nodefconfig",
        "no-user-config",
        "no-acpi",
        "no-hpet",
        "full-screen",
        "no-fd-bootchk",
        "win2k-hack",
        "rtc-td-hack",
        "localtime",
        "usb",
        "enable-fips",
        "alt-grab",
        "ctrl-grab",
        "no-frame",
        "no-quit",
        "show-cursor",
        "sdl",
        "curses",
        "portrait",
        "semihosting",
        "preconfig",
        "only-migratable",
        "enable-sync-profile",
        "xen-attach",
        "xen-domid-restrict",
        "singlestep",
        "perfmap",
        "jitdump",
        "mem-prealloc",
        "async-teardown",
        "old-param",
    ]
)

_MEMORY_BACKENDS = frozenset({"memory-backend-file", "memory-backend-ram", "memory-backend-memfd"})
#: Properties of QEMU's memory backends (common ones and the file/memfd specific ones).
_BACKEND_KEYS = frozenset(
    {
        "id",
        "qom-type",
        "size",
        "share",
        "mem-path",
        "prealloc",
        "pmem",
        "align",
        "discard-data",
        "readonly",
        "host-nodes",
        "policy",
        "merge",
        "dump",
        "reserve",
        "x-use-canonical-path-for-ramblock-id",
        "hugetlb",
        "hugetlbsize",
        "seal",
        "offset",
        "rom",
        "prealloc-threads",
        "prealloc-context",
    }
)
_BACKEND_BOOLS = frozenset(
    {
        "share",
        "prealloc",
        "pmem",
        "discard-data",
        "readonly",
        "merge",
        "dump",
        "reserve",
        "x-use-canonical-path-for-ramblock-id",
        "hugetlb",
        "seal",
    }
)

# Properties every PCI device has (qdev ``bus``/``id`` and PCIDevice's own).
_PCI_KEYS = frozenset({"bus", "id", "addr", "multifunction", "romfile", "rombar"})
# PCIe ports (PCIEPort ``port``, PCIESlot ``chassis``/``slot``/``hotplug``, link knobs).
_PORT_KEYS = _PCI_KEYS | {"port", "chassis", "slot", "hotplug", "x-speed", "x-width"}
_DEVICE_KEYS: dict[str, frozenset[str]] = {
    "pxb-cxl": _PCI_KEYS | {"bus_nr", "numa_node", "hdm_for_passthrough", "bypass_iommu"},
    "cxl-rp": _PORT_KEYS
    | {
        "x-256b-flit",
        "bus-reserve",
        "io-reserve",
        "mem-reserve",
        "pref32-reserve",
        "pref64-reserve",
    },
    "cxl-upstream": _PCI_KEYS | {"port", "sn", "cdat", "x-speed", "x-width", "x-256b-flit"},
    "cxl-downstream": _PORT_KEYS | {"x-256b-flit"},
    "cxl-type3": _PCI_KEYS
    | {
        "memdev",
        "persistent-memdev",
        "volatile-memdev",
        "lsa",
        "sn",
        "cdat",
        "x-speed",
        "x-width",
        "x-256b-flit",
        "hdm-db",
        "chmu-port",
        # The switch example of QEMU 7.1's documentation still passes ``size=256M``, a
        # leftover of the pre-merge device; the capacity always comes from the backends.
        "size",
    },
}
_DEVICE_BOOLS = frozenset(
    {"multifunction", "hotplug", "x-256b-flit", "hdm-db", "hdm_for_passthrough", "bypass_iommu"}
)
_DYNAMIC_CAPACITY_KEYS = ("num-dc-regions", "volatile-dc-memdev")

#: QEMU's other CXL device models, which the guest's CXL subsystem does not show: checked,
#: then skipped. ``target`` names the switch upstream port whose CCI the device is.
_IGNORED_CXL_DEVICES: dict[str, frozenset[str]] = {
    "cxl-switch-mailbox-cci": _PCI_KEYS | {"target"},
    "i2c_mctp_cxl": frozenset({"bus", "id", "address", "target"}),
}
#: Every CXL device model of QEMU (hw/cxl, hw/mem/cxl_type3.c, hw/pci-bridge).
QEMU_CXL_MODELS = (*_DEVICE_KEYS, *_IGNORED_CXL_DEVICES)

_BOOL_VALUES = {"on": True, "yes": True, "true": True, "y": True}
_BOOL_VALUES |= {"off": False, "no": False, "false": False, "n": False}
_UINT_RE = re.compile(r"0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*")
_ADDR_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{1,8})(?:\.([0-7]))?")
_FMW_RE = re.compile(r"cxl-fmw\.([0-9]{1,6})\.(.+)")
_TARGET_RE = re.compile(r"targets\.([0-9]{1,6})")
_BINARY_RE = re.compile(r"qemu-system-[\w.+-]+|qemu-kvm", re.ASCII)


# --- small parsers ------------------------------------------------------------------------


def _parse_bool(value: str, what: str) -> bool:
    if value not in _BOOL_VALUES:
        raise PlatformError(f"{what}: expected on or off, got {quote(value)}")
    return _BOOL_VALUES[value]


def _parse_uint(value: str, what: str, maximum: int) -> int:
    """An unsigned integer the way QEMU's integer properties read it (base 0: 0x.., 0..)."""
    if len(value) > 64 or not _UINT_RE.fullmatch(value):
        raise PlatformError(f"{what}: not a number: {quote(value)}")
    if value[:2] in ("0x", "0X"):
        number = int(value[2:], 16)
    elif value.startswith("0"):
        number = int(value, 8)
    else:
        number = int(value)
    if number > maximum:
        raise PlatformError(f"{what}: {value} is out of range (at most {maximum})")
    return number


def _round_up(value: int, align: int) -> int:
    return -(-value // align) * align


def _split_commas(text: str) -> list[str]:
    """Split a QEMU option list on commas; ``,,`` stands for a literal comma."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == ",":
            if text.startswith(",,", i):
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


@dataclass
class _Opts:
    """One option argument: an implied first value (driver, type, size) and key=value pairs."""

    head: str | None
    pairs: dict[str, str]


def _parse_opts(arg: str, option: str, implied: str | None) -> _Opts:
    """``head,key=value,...`` (QemuOpts/keyval syntax); ``implied=value`` may replace head.

    With ``implied`` None the list has no implied first value.
    """
    parts = _split_commas(arg)
    head: str | None = None
    pairs: dict[str, str] = {}
    for index, part in enumerate(parts):
        if "=" not in part:
            if index == 0 and part and implied is not None:
                head = part
                continue
            if not part:
                raise PlatformError(f"{option} {brief(arg)}: empty option in the list")
            raise PlatformError(f"{option} {brief(arg)}: expected key=value, got {quote(part)}")
        key, value = part.split("=", 1)
        if not key:
            raise PlatformError(f"{option} {brief(arg)}: option without a name in {quote(part)}")
        if key in pairs:
            raise PlatformError(f"{option} {brief(arg)}: option {quote(key)} given twice")
        pairs[key] = value
    if implied is not None and implied in pairs:
        if head is not None:
            raise PlatformError(f"{option} {brief(arg)}: {implied} given twice")
        head = pairs.pop(implied)
    return _Opts(head, pairs)


def _parse_json_opts(arg: str, option: str, implied: str) -> _Opts:
    """The JSON form QEMU accepts for ``-device`` and ``-object``: ``{"driver": ..., ...}``."""
    try:
        data = json.loads(arg)
    except (ValueError, RecursionError):
        raise PlatformError(f"{option} {brief(arg)}: malformed JSON") from None
    if not isinstance(data, dict):
        raise PlatformError(f"{option} {brief(arg)}: expected a JSON object")
    pairs: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, bool):
            pairs[key] = "on" if value else "off"
        elif isinstance(value, int | str):
            pairs[key] = str(value)
        else:
            pairs[key] = json.dumps(value)
    head = pairs.pop(implied, None)
    return _Opts(head, pairs)


def _option_list(arg: str, option: str, implied: str) -> _Opts:
    if arg.lstrip().startswith("{"):
        return _parse_json_opts(arg, option, implied)
    return _parse_opts(arg, option, implied)


# --- what the command line says -------------------------------------------------------------


@dataclass
class _WindowSpec:
    """A fixed memory window as written: ``where`` names it in messages."""

    where: str
    key_prefix: str
    targets: dict[int, str] = field(default_factory=dict)
    size: str | None = None
    granularity: str | None = None


@dataclass
class _Backend:
    qom_type: str
    size: int | None


@dataclass
class _Device:
    """One ``-device`` of a CXL driver, options checked but not yet connected."""

    driver: str
    opts: dict[str, str]
    index: int
    who: str

    @property
    def id(self) -> str:
        return self.opts.get("id", "")


@dataclass
class _Pxb:
    hb: HostBridge
    numa_node: int
    hdm_for_passthrough: bool = False


@dataclass
class _RootPort:
    rp: RootPort
    pxb: _Pxb


@dataclass
class _Upstream:
    sw: Switch
    pxb: _Pxb


@dataclass
class _Downstream:
    sp: SwitchPort
    pxb: _Pxb


_Node: TypeAlias = _Pxb | _RootPort | _Upstream | _Downstream


class _CommandLine:
    """Collects the options that matter, then builds the platform."""

    def __init__(self) -> None:
        self.machine_type: str | None = None
        self.cxl = False
        self.windows: dict[int, _WindowSpec] = {}
        self.fmw_keys: set[str] = set()
        self.legacy_windows: list[_WindowSpec] = []
        self.memory: dict[str, str] = {}
        self.numa_nodes = 0
        self.cpus = 1
        self.objects: dict[str, _Backend | None] = {}
        self.device_ids: dict[str, tuple[str, int]] = {}
        self.devices: list[_Device] = []
        self.driver_counts: dict[str, int] = {}
        self.device_count = 0
        self.slots: dict[tuple[int, int], str] = {}

    # -- options ----------------------------------------------------------------------------

    def option(self, option: str, name: str, arg: str) -> None:
        if name in ("machine", "M"):
            self.machine(option, arg)
        elif name == "m":
            self.memory_option(option, arg)
        elif name == "object":
            self.object(option, arg)
        elif name == "device":
            self.device(option, arg)
        elif name == "cxl-fixed-memory-window":
            self.legacy_window(option, arg)
        elif name == "numa":
            self.numa(option, arg)
        elif name == "smp":
            self.smp(option, arg)

    def smp(self, option: str, arg: str) -> None:
        """``-smp [cpus=]N[,sockets=,dies=,clusters=,cores=,threads=,maxcpus=]``: the CPUs
        present at boot (N, else the product of the topology given; QEMU's default is 1)."""
        opts = _parse_opts(arg, option, "cpus")
        counts: dict[str, int] = {}
        for key, value in [("cpus", opts.head), *opts.pairs.items()]:
            if value is None:
                continue
            if key not in ("cpus", "sockets", "dies", "clusters", "cores", "threads", "maxcpus"):
                raise PlatformError(f"{option} {brief(arg)}: unknown property {quote(key)}")
            if not value.isdigit() or not 1 <= int(value) <= MAX_CPUS:
                raise PlatformError(f"{option} {brief(arg)}: {key} must be 1 to {MAX_CPUS}")
            counts[key] = int(value)
        cpus = counts.get("cpus")
        if cpus is None:
            cpus = 1
            for key in ("sockets", "dies", "clusters", "cores", "threads"):
                cpus *= counts.get(key, 1)
        if cpus > MAX_CPUS:
            raise PlatformError(f"{option} {brief(arg)}: more than {MAX_CPUS} CPUs")
        self.cpus = cpus

    def machine(self, option: str, arg: str) -> None:
        opts = _parse_opts(arg, option, "type")
        if opts.head is not None:
            self.machine_type = opts.head
        for key, value in opts.pairs.items():
            if key == "cxl":
                self.cxl = _parse_bool(value, f"{option} cxl")
            elif key.startswith("cxl-fmw"):
                self.fmw_option(key, value)
            # Every other machine property (gic-version, accel, hmat, nvdimm, ...) does not
            # change what the guest sees of CXL.

    def fmw_option(self, key: str, value: str) -> None:
        match = _FMW_RE.fullmatch(key)
        if match is None:
            raise PlatformError(f"{brief(key)}: malformed window option (use cxl-fmw.N.<option>)")
        if key in self.fmw_keys:
            raise PlatformError(f"{brief(key)}: given twice")
        self.fmw_keys.add(key)
        index = int(match.group(1))
        spec = self.windows.setdefault(
            index, _WindowSpec(where=f"cxl-fmw.{index}", key_prefix=f"cxl-fmw.{index}.")
        )
        self.window_key(spec, match.group(2), value, key)

    @staticmethod
    def window_key(spec: _WindowSpec, sub: str, value: str, key: str) -> None:
        target = _TARGET_RE.fullmatch(sub)
        if target is not None:
            spec.targets[int(target.group(1))] = value
        elif sub == "size":
            spec.size = value
        elif sub == "interleave-granularity":
            spec.granularity = value
        else:
            raise PlatformError(
                f"{brief(key)}: unknown window option {quote(sub)} "
                "(use targets.N, size or interleave-granularity)"
            )

    def legacy_window(self, option: str, arg: str) -> None:
        opts = _parse_opts(arg, option, None)
        spec = _WindowSpec(where=f"{option} #{len(self.legacy_windows) + 1}", key_prefix="")
        for key, value in opts.pairs.items():
            self.window_key(spec, key, value, f"{option} {key}")
        self.legacy_windows.append(spec)

    def memory_option(self, option: str, arg: str) -> None:
        opts = _parse_opts(arg, option, "size")
        if opts.head is not None:
            opts.pairs["size"] = opts.head
        for key, value in opts.pairs.items():
            if key not in ("size", "maxmem", "slots"):
                raise PlatformError(f"{option}: unknown option {key!r} (use size, maxmem, slots)")
            self.memory[key] = value

    def numa(self, option: str, arg: str) -> None:
        # Only counted; -numa repeats keys (cpus=0-1,cpus=4-5), so no strict parsing here.
        first = _split_commas(arg)[0]
        kind = first.removeprefix("type=") if first.startswith("type=") else first
        if kind == "node":
            self.numa_nodes += 1

    def object(self, option: str, arg: str) -> None:
        opts = _option_list(arg, option, "qom-type")
        qom_type = opts.head
        if qom_type is None:
            raise PlatformError(f"{option} {brief(arg)}: missing the object type")
        where = f"{option} {brief(qom_type)},..."
        object_id = opts.pairs.get("id")
        if object_id is None:
            raise PlatformError(f"{where}: id is required")
        check_id(object_id, where)
        where = f"{option} {brief(qom_type)},id={object_id},..."
        if object_id in self.objects:
            raise PlatformError(f"{where}: duplicate object id {object_id!r}")
        if qom_type not in _MEMORY_BACKENDS:
            self.objects[object_id] = None
            return
        for key, value in opts.pairs.items():
            if key not in _BACKEND_KEYS:
                raise PlatformError(f"{where}: unknown option {key!r}")
            if key in _BACKEND_BOOLS:
                _parse_bool(value, f"{where}: {key}")
        size: int | None = None
        if "size" in opts.pairs:
            size = parse_size(opts.pairs["size"], f"{where}: size", qemu=True)
            if size == 0:
                raise PlatformError(f"{where}: size must not be 0")
        self.objects[object_id] = _Backend(qom_type, size)

    def device(self, option: str, arg: str) -> None:
        opts = _option_list(arg, option, "driver")
        driver = opts.head
        if driver is None:
            raise PlatformError(f"{option} {brief(arg)}: missing the device driver")
        self.device_count += 1
        device_id = opts.pairs.get("id")
        if device_id is not None:
            check_id(device_id, f"{option} {brief(driver)},...")
            if device_id in self.device_ids:
                other = self.device_ids[device_id][0]
                raise PlatformError(
                    f"{option} {brief(driver)},id={device_id}: duplicate id {device_id!r} "
                    f"(already used by a {brief(other)})"
                )
            self.device_ids[device_id] = (driver, self.device_count)
        allowed = _DEVICE_KEYS.get(driver)
        if allowed is None:
            if driver in _IGNORED_CXL_DEVICES:
                self.ignored_device(option, driver, opts.pairs)
            elif "cxl" in driver.lower():
                raise PlatformError(_unknown_cxl_model(option, driver))
            return  # e1000, virtio-*, pcie-root-port, ...: nothing a CXL guest sees
        count = self.driver_counts.get(driver, 0) + 1
        self.driver_counts[driver] = count
        who = f"{driver} {device_id}" if device_id else f"{driver} #{count}"
        for key in opts.pairs:
            if key in _DYNAMIC_CAPACITY_KEYS and driver == "cxl-type3":
                raise PlatformError(f"{who}: dynamic capacity ({key}) is not modeled by fake_sysfs")
            if key not in allowed:
                raise PlatformError(f"{option} {driver},...: unknown option {quote(key)}")
            if key in _DEVICE_BOOLS:
                _parse_bool(opts.pairs[key], f"{who}: {key}")
        self.devices.append(_Device(driver, opts.pairs, self.device_count, who))

    def ignored_device(self, option: str, driver: str, pairs: dict[str, str]) -> None:
        """A CXL device model the guest's CXL subsystem does not show: its options are
        checked, and its ``target`` must be a device created before it (for a switch CCI,
        the switch's upstream port)."""
        who = f"{driver} {pairs['id']}" if "id" in pairs else driver
        for key, value in pairs.items():
            if key not in _IGNORED_CXL_DEVICES[driver]:
                raise PlatformError(f"{option} {driver},...: unknown option {quote(key)}")
            if key in _DEVICE_BOOLS:
                _parse_bool(value, f"{who}: {key}")
        target = pairs.get("target")
        if target is None:
            raise PlatformError(f"{who}: target= is required (QEMU: Target not set)")
        defined = self.device_ids.get(target)
        if defined is None or defined[1] >= self.device_count:
            raise PlatformError(f"{who}: target {quote(target)} is not a device created before it")
        if driver == "cxl-switch-mailbox-cci" and defined[0] != "cxl-upstream":
            raise PlatformError(
                f"{who}: target {quote(target)} is a {brief(defined[0])}, "
                "not a cxl-upstream switch port"
            )

    # -- building ---------------------------------------------------------------------------

    def build(self, name: str) -> Platform:
        self.check_machine()
        if not self.cxl and any(dev.driver == "pxb-cxl" for dev in self.devices):
            raise PlatformError("pxb-cxl requires -machine cxl=on")
        nodes: dict[str, _Node] = {}
        bridges: list[HostBridge] = []
        used_backends: dict[str, str] = {}
        for dev in self.devices:
            _check_common(dev)
            if dev.driver == "pxb-cxl":
                pxb = self.pxb(dev)
                bridges.append(pxb.hb)
                node: _Node | None = pxb
            elif dev.driver == "cxl-rp":
                node = self.root_port(dev, nodes)
            elif dev.driver == "cxl-upstream":
                node = self.upstream(dev, nodes)
            elif dev.driver == "cxl-downstream":
                node = self.downstream(dev, nodes)
            else:
                self.type3(dev, nodes, used_backends)
                node = None
            if node is not None and dev.id:
                nodes[dev.id] = node
        windows = self.build_windows(nodes)
        for node in nodes.values():
            if (
                isinstance(node, _Pxb)
                and len(node.hb.root_ports) == 1
                and not node.hdm_for_passthrough
            ):
                node.hb.decoders = 0
        if not self.cxl:
            raise PlatformError("the command line does not enable CXL (-machine ...,cxl=on)")
        # QEMU puts each new PCI root bus at the head of its list, so ACPI (and Linux)
        # enumerate the pxb-cxl host bridges in the reverse of command-line order.
        bridges.reverse()
        ram, window_base = self.memory_map()
        platform = Platform(
            name=name,
            host_bridges=bridges,
            windows=windows,
            system_ram=ram,
            cpus=self.cpus,
            window_pool=window_base,
            description="a QEMU command line",
        )
        return finalize(platform)

    def check_machine(self) -> None:
        kind = self.machine_type
        if kind is None:
            return
        if kind in ("q35", "virt") or kind.startswith(("pc-q35-", "virt-")):
            return
        raise PlatformError(
            f"-machine {brief(kind)}: this machine type has no CXL (use q35 or virt)"
        )

    def resolve_bus(
        self, dev: _Device, nodes: dict[str, _Node], kinds: tuple[type, ...], expected: str
    ) -> _Node:
        bus = dev.opts.get("bus")
        if bus is None:
            raise PlatformError(f"{dev.who}: bus= is required (the id of a {expected})")
        node = nodes.get(bus)
        if node is not None and isinstance(node, kinds):
            return node
        defined = self.device_ids.get(bus)
        if defined is not None and defined[1] > dev.index and node is None:
            raise PlatformError(
                f"{dev.who}: bus {bus!r} is created later on the command line "
                "(QEMU creates devices in order)"
            )
        if dev.driver == "cxl-upstream" and isinstance(node, _Downstream):
            raise PlatformError(f"{dev.who}: a switch below a switch port is not modeled")
        raise PlatformError(f"{dev.who}: bus {bus!r} is not a {expected}")

    def pxb(self, dev: _Device) -> _Pxb:
        opts = dev.opts
        bus = opts.get("bus", "pcie.0")
        if bus != "pcie.0":
            raise PlatformError(f"{dev.who}: bus {bus!r} is not the main PCIe root bus pcie.0")
        if "bus_nr" not in opts:
            raise PlatformError(f"{dev.who}: bus_nr= is required")
        bus_nr = _parse_uint(opts["bus_nr"], f"{dev.who}: bus_nr", 0xFF)
        if bus_nr == 0:
            raise PlatformError(f"{dev.who}: bus_nr 0 is the number of the main root bus")
        numa_node = -1
        if "numa_node" in opts:
            numa_node = _parse_uint(opts["numa_node"], f"{dev.who}: numa_node", MAX_NUMA_NODES - 1)
            # QEMU refuses a node -numa did not define; without any -numa node option the
            # node is taken as given.
            if self.numa_nodes and numa_node >= self.numa_nodes:
                raise PlatformError(
                    f"{dev.who}: numa_node {numa_node} does not exist "
                    f"(the command line defines {self.numa_nodes} NUMA nodes)"
                )
        hb = HostBridge(
            uid=bus_nr,
            bus_nr=bus_nr,
            decoders=QEMU_HDM_DECODERS,
            targets=QEMU_HOST_BRIDGE_TARGETS,
            label=dev.id,
        )
        passthrough = _parse_bool(
            opts.get("hdm_for_passthrough", "off"), f"{dev.who}: hdm_for_passthrough"
        )
        return _Pxb(hb, numa_node, passthrough)

    def root_port(self, dev: _Device, nodes: dict[str, _Node]) -> _RootPort:
        pxb = self.resolve_bus(dev, nodes, (_Pxb,), "pxb-cxl host bridge")
        assert isinstance(pxb, _Pxb)
        port = _parse_uint(dev.opts.get("port", "0"), f"{dev.who}: port", 0xFF)
        self.claim_slot(dev)
        rp = RootPort(port=port, label=dev.id)
        pxb.hb.root_ports.append(rp)
        return _RootPort(rp, pxb)

    def claim_slot(self, dev: _Device) -> None:
        """Root and downstream ports are PCIe slots: (chassis, slot) is unique, as in QEMU."""
        chassis = _parse_uint(dev.opts.get("chassis", "0"), f"{dev.who}: chassis", 0xFF)
        slot = _parse_uint(dev.opts.get("slot", "0"), f"{dev.who}: slot", 0xFFFF)
        other = self.slots.get((chassis, slot))
        if other is not None:
            raise PlatformError(
                f"{dev.who}: chassis {chassis} slot {slot} is already taken by {other} "
                "(give each port its own chassis=/slot=)"
            )
        self.slots[(chassis, slot)] = dev.who

    def upstream(self, dev: _Device, nodes: dict[str, _Node]) -> _Upstream:
        parent = self.resolve_bus(dev, nodes, (_RootPort,), "cxl-rp root port")
        assert isinstance(parent, _RootPort)
        _check_free(dev, parent.rp.label, parent.rp.device, parent.rp.switch)
        if "sn" in dev.opts:
            _parse_uint(dev.opts["sn"], f"{dev.who}: sn", (1 << 64) - 1)
        sw = Switch(decoders=QEMU_HDM_DECODERS, targets=QEMU_SWITCH_TARGETS, label=dev.id)
        parent.rp.switch = sw
        return _Upstream(sw, parent.pxb)

    def downstream(self, dev: _Device, nodes: dict[str, _Node]) -> _Downstream:
        parent = self.resolve_bus(dev, nodes, (_Upstream,), "cxl-upstream switch port")
        assert isinstance(parent, _Upstream)
        port = _parse_uint(dev.opts.get("port", "0"), f"{dev.who}: port", 0xFF)
        self.claim_slot(dev)
        sp = SwitchPort(port=port, label=dev.id)
        parent.sw.ports.append(sp)
        return _Downstream(sp, parent.pxb)

    def type3(self, dev: _Device, nodes: dict[str, _Node], used: dict[str, str]) -> None:
        opts = dev.opts
        parent = self.resolve_bus(
            dev, nodes, (_RootPort, _Downstream), "cxl-rp or cxl-downstream port"
        )
        if isinstance(parent, _RootPort):
            _check_free(dev, parent.rp.label, parent.rp.device, parent.rp.switch)
        else:
            assert isinstance(parent, _Downstream)
            _check_free(dev, parent.sp.label, parent.sp.device, None)
        if "memdev" in opts and "persistent-memdev" in opts:
            raise PlatformError(f"{dev.who}: memdev and persistent-memdev cannot be used together")
        if not any(key in opts for key in ("memdev", "persistent-memdev", "volatile-memdev")):
            raise PlatformError(f"{dev.who}: needs volatile-memdev, persistent-memdev or memdev")
        flit = _parse_bool(opts.get("x-256b-flit", "off"), f"{dev.who}: x-256b-flit")
        if _parse_bool(opts.get("hdm-db", "off"), f"{dev.who}: hdm-db") and not flit:
            raise PlatformError(f"{dev.who}: hdm-db=on requires x-256b-flit=on")
        if "size" in opts:
            parse_size(opts["size"], f"{dev.who}: size", qemu=True)
        serial = None
        if "sn" in opts:
            serial = _parse_uint(opts["sn"], f"{dev.who}: sn", (1 << 64) - 1)
        if "chmu-port" in opts:
            _parse_uint(opts["chmu-port"], f"{dev.who}: chmu-port", 0xFFFF)
        # Legacy memdev= is persistent memory.
        pmem_key = "persistent-memdev" if "persistent-memdev" in opts else "memdev"
        device = Type3Device(
            ram_size=self.backend(dev, "volatile-memdev", used),
            pmem_size=self.backend(dev, pmem_key, used),
            lsa_size=self.backend(dev, "lsa", used),
            serial=serial,
            numa_node=parent.pxb.numa_node,
            firmware_version="BWFW VERSION 00",
            payload_max=2048,
            decoders=QEMU_HDM_DECODERS,
            qos_class=0,
            label=dev.id,
        )
        if isinstance(parent, _RootPort):
            parent.rp.device = device
        else:
            parent.sp.device = device

    def backend(self, dev: _Device, key: str, used: dict[str, str]) -> int:
        backend_id = dev.opts.get(key)
        if backend_id is None:
            return 0
        backend = self.objects.get(backend_id)
        if backend is None:
            what = "lsa" if key == "lsa" else "memdev"
            raise PlatformError(
                f"{dev.who}: {what} {backend_id!r} is not a memory backend ({key}={backend_id})"
            )
        if backend.size is None:
            raise PlatformError(
                f"{dev.who}: memory backend {backend_id!r} has no size= "
                "(fake_sysfs cannot read backing files)"
            )
        if backend_id in used:
            raise PlatformError(
                f"{dev.who}: memory backend {backend_id!r} is already used by {used[backend_id]}"
            )
        used[backend_id] = dev.who
        return backend.size

    def build_windows(self, nodes: dict[str, _Node]) -> list[Window]:
        specs: list[_WindowSpec] = []
        for expected, index in enumerate(sorted(self.windows)):
            if index != expected:
                raise PlatformError(
                    f"cxl-fmw.{index}: windows must be numbered from 0 without gaps "
                    f"(cxl-fmw.{expected} is missing)"
                )
            specs.append(self.windows[index])
        specs += self.legacy_windows
        if specs and not self.cxl:
            raise PlatformError(f"{specs[0].where} requires -machine cxl=on")
        return [_window(spec, nodes) for spec in specs]

    def memory_map(self) -> tuple[int, int]:
        """The RAM size, and where QEMU's q35 memory map puts the first CXL fixed window.

        RAM below 4 GiB is capped (2 GiB once RAM reaches 0xb0000000); the rest sits above
        4 GiB. With maxmem > RAM the hotplug (device memory) region follows, 1 GiB aligned,
        sized for the extra memory plus 1 GiB of alignment per slot. The 1 MiB CXL host
        register area comes next and the windows after it, 256 MiB aligned. The arm virt
        machine lays out its high memory differently; the same formula is used for it as an
        approximation.
        """
        where = "-m"
        ram = 0
        if "size" in self.memory:
            text = self.memory["size"]
            ram = parse_size(text, f"{where}: size", qemu=True)
            if ram and text[-1:] in DIGITS:
                # QEMU reads a suffix-less size in MiB, by appending "M" (so not in hex).
                ram = parse_size(text + "M", f"{where}: size (MiB without a suffix)", qemu=True)
        if ram == 0:
            ram = DEFAULT_RAM  # -m 0 is QEMU's default, as no -m
        ram = _round_up(ram, RAM_ALIGN)
        if ram > U64_MAX:
            raise PlatformError(f"{where}: RAM size too large")
        maxmem = ram
        if "maxmem" in self.memory:
            maxmem = parse_size(self.memory["maxmem"], f"{where}: maxmem", qemu=True)
            if maxmem < ram:
                raise PlatformError(
                    f"{where}: maxmem {maxmem:#x} is smaller than the RAM size {ram:#x}"
                )
        slots = 0
        if "slots" in self.memory:
            slots = _parse_uint(self.memory["slots"], f"{where}: slots", MAX_RAM_SLOTS)
        lowmem = 2 * GiB if ram >= Q35_LOWMEM_LIMIT else min(ram, Q35_LOWMEM_LIMIT)
        above_4g_end = 4 * GiB + (ram - lowmem)
        if maxmem > ram:
            device_memory = _round_up(above_4g_end, GiB)
            cxl_base = device_memory + (maxmem - ram) + slots * GiB
        else:
            cxl_base = _round_up(above_4g_end, GiB)
        if cxl_base > PHYS_ADDR_LIMIT:
            raise PlatformError(
                f"{where}: RAM and hotplug memory end at {cxl_base:#x}, beyond the "
                "52-bit physical address space"
            )
        return ram, _round_up(cxl_base + CXL_HOST_REG_SIZE, FMW_ALIGN)


def _unknown_cxl_model(option: str, driver: str) -> str:
    known = ", ".join(QEMU_CXL_MODELS)
    guess = difflib.get_close_matches(driver[:64], QEMU_CXL_MODELS, n=1)
    hint = f"did you mean {guess[0]}? " if guess else ""
    return f"{option} {brief(driver)}: not a CXL device model of QEMU ({hint}QEMU has {known})"


def _check_common(dev: _Device) -> None:
    """``addr=slot[.function]`` (hex), read the way QEMU reads it."""
    opts = dev.opts
    if "addr" in opts:
        match = _ADDR_RE.fullmatch(opts["addr"])
        if match is None or int(match.group(1), 16) > 0x1F:
            raise PlatformError(f"{dev.who}: addr {opts['addr']!r} is not a PCI slot[.function]")


def _check_free(dev: _Device, port: str, device: Type3Device | None, switch: Switch | None) -> None:
    occupant = device if device is not None else switch
    if occupant is not None:
        raise PlatformError(
            f"{dev.who}: port {port!r} already holds {occupant.label or 'a device'} "
            "(a port takes one device or one switch)"
        )


def _window(spec: _WindowSpec, nodes: dict[str, _Node]) -> Window:
    where = spec.where
    if not spec.targets:
        raise PlatformError(
            f"{where}: has no targets (use {spec.key_prefix}targets.0=<pxb-cxl id>)"
        )
    uids: list[int] = []
    for expected, index in enumerate(sorted(spec.targets)):
        if index != expected:
            raise PlatformError(
                f"{where}: targets must be numbered from 0 without gaps "
                f"({spec.key_prefix}targets.{expected} is missing)"
            )
        target = spec.targets[index]
        node = nodes.get(target)
        if not isinstance(node, _Pxb):
            raise PlatformError(f"{where}: target {target!r} is not a pxb-cxl device")
        uids.append(node.hb.uid)
    if spec.size is None:
        raise PlatformError(f"{where}: {spec.key_prefix}size is required")
    size = parse_size(spec.size, f"{where}: size", qemu=True)
    granularity = 256
    if spec.granularity is not None:
        granularity = parse_size(spec.granularity, f"{where}: interleave-granularity", qemu=True)
    # QEMU's CFMWS: restrictions 0x0f (type 2, type 3, volatile, persistent), QTG 0, modulo.
    return Window(
        size=size,
        targets=uids,
        granularity=granularity,
        ram=True,
        pmem=True,
        type2=True,
        type3=True,
        qos_class=0,
        xor=False,
    )


def _tokens(cmdline: str) -> list[str]:
    text = re.sub(r"\\\r?\n", " ", cmdline)
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise PlatformError(f"malformed QEMU command line: {exc}") from None
    if tokens and _BINARY_RE.fullmatch(posixpath.basename(tokens[0])):
        tokens = tokens[1:]
    return [token for token in tokens if token != "..."]


def parse_qemu(cmdline: str, name: str = "qemu") -> Platform:
    """Turn a QEMU command line into a validated platform (see the module docstring)."""
    if not isinstance(cmdline, str):
        raise PlatformError(f"a QEMU command line must be text, not {type(cmdline).__name__}")
    tokens = _tokens(cmdline)
    parsed = _CommandLine()
    i = 0
    previous = ""
    while i < len(tokens):
        token = tokens[i]
        # QEMU accepts --option for -option.
        option = token[1:] if token.startswith("--") else token
        option_name = option[1:]
        if not option.startswith("-") or not option_name or option_name.startswith("-"):
            after = f" after {brief(previous, 40)}" if previous else ""
            raise PlatformError(
                f"malformed QEMU command line: expected an option{after}, got {quote(token)}"
            )
        if option_name in NO_ARG_OPTIONS:
            previous = token
            i += 1
            continue
        if i + 1 >= len(tokens):
            raise PlatformError(f"{brief(token)}: missing argument")
        parsed.option(token, option_name, tokens[i + 1])
        previous = f"{token} {tokens[i + 1]}"
        i += 2
    return parsed.build(name)
