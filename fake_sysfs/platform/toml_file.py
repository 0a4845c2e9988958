"""Platform files: a platform described in TOML (schema in fake-sysfs-platform(5)).

Example::

    name = "two-devices"
    [[host_bridge]]
    uid = 12
      [[host_bridge.root_port]]
      port = 0
        [host_bridge.root_port.device]
        ram = "512M"
        pmem = "512M"
        lsa = "128K"
        serial = 1
    [[window]]
    targets = [12]
    size = "4G"

Every key is checked: an unknown key, a wrong type or a bad value is refused with one line
naming where it is (``host_bridge[0].root_port[1].device.rams: unknown key``). Labels are
identifiers as QEMU accepts them (they name directories below /sys), integers stay within
64 bits, and a file is at most 16 MiB (:data:`MAX_FILE_SIZE`).
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    AutoRegion,
    DeviceMailbox,
    HostBridge,
    Platform,
    RootPort,
    SoftReserved,
    Switch,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.sizes import U64_MAX, parse_size
from fake_sysfs.platform.text import check_label, check_line, quote, show_int
from fake_sysfs.platform.validate import (
    MAX_CPUS,
    MAX_NUMA_NODE,
    MAX_QOS_CLASS,
    MEMORY_ONLINE,
    finalize,
)

Table = dict[str, Any]

#: The largest platform file read. The largest platform accepted (16384 devices, every key
#: written out) takes about 8 MiB of TOML.
MAX_FILE_SIZE = 16 << 20
#: Integers outside these bounds are refused whatever the key (TOML's own are i64; serial
#: numbers are unsigned 64-bit).
I64_MIN = -(1 << 63)


class _Reader:
    """Typed access to one TOML table that remembers which keys were used."""

    def __init__(self, table: object, where: str) -> None:
        if not isinstance(table, dict):
            raise PlatformError(f"{where}: expected a table")
        self.table: Table = table
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str) -> Any:
        self.used.add(key)
        return self.table.get(key)

    def has(self, key: str) -> bool:
        return key in self.table

    def get_int(
        self, key: str, default: int | None = None, lo: int | None = None, hi: int | None = None
    ) -> int:
        value = self._get(key)
        if value is None:
            if default is None:
                raise PlatformError(f"{self.where}: missing required key '{key}'")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise PlatformError(
                f"{self.where}.{key}: expected an integer, got {quote(value)}".lstrip(".")
            )
        low = I64_MIN if lo is None else lo
        high = U64_MAX if hi is None else hi
        if not low <= value <= high:
            raise PlatformError(
                f"{self.where}.{key}: {show_int(value)} is out of range ({low} to {high})".lstrip(
                    "."
                )
            )
        return value

    def get_size(self, key: str, default: int | None = None) -> int:
        value = self._get(key)
        if value is None:
            if default is None:
                raise PlatformError(f"{self.where}: missing required key '{key}'")
            return default
        return parse_size(value, f"{self.where}.{key}")

    def get_str(self, key: str, default: str) -> str:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise PlatformError(
                f"{self.where}.{key}: expected a string, got {quote(value)}".lstrip(".")
            )
        return value

    def get_label(self, key: str = "label") -> str:
        value = self.get_str(key, "")
        check_label(value, f"{self.where}.{key}".lstrip("."))
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise PlatformError(
                f"{self.where}.{key}: expected true or false, got {quote(value)}".lstrip(".")
            )
        return value

    def tables(self, key: str) -> list[_Reader]:
        value = self._get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise PlatformError(f"{self.where}.{key}: expected an array of tables ([[{key}]])")
        return [
            _Reader(item, f"{self.where}.{key}[{i}]".lstrip(".")) for i, item in enumerate(value)
        ]

    def table_or_none(self, key: str) -> _Reader | None:
        value = self._get(key)
        if value is None:
            return None
        return _Reader(value, f"{self.where}.{key}".lstrip("."))

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.used)
        if unknown:
            where = f"{self.where}.{unknown[0]}" if self.where else unknown[0]
            raise PlatformError(f"{where}: unknown key")


def _device(r: _Reader) -> Type3Device:
    qos: int | None = 0
    if r.has("qos_class"):
        raw = r.table["qos_class"]
        r.used.add("qos_class")
        if raw is False:
            qos = None
        elif isinstance(raw, bool) or not isinstance(raw, int):
            raise PlatformError(
                f"{r.where}.qos_class: expected an integer or false, got {quote(raw)}"
            )
        else:
            qos = r.get_int("qos_class", lo=0, hi=MAX_QOS_CLASS)
    serial = None
    if r.has("serial"):
        serial = r.get_int("serial", lo=0, hi=(1 << 64) - 1)
    dev = Type3Device(
        ram_size=r.get_size("ram", 0),
        pmem_size=r.get_size("pmem", 0),
        lsa_size=r.get_size("lsa", 0),
        serial=serial,
        numa_node=r.get_int("numa_node", -1, lo=-1, hi=MAX_NUMA_NODE),
        firmware_version=r.get_str("firmware_version", "BWFW VERSION 00"),
        payload_max=r.get_int("payload_max", 2048),
        decoders=r.get_int("decoders", 4),
        qos_class=qos,
        label=r.get_label(),
    )
    mailbox = r.table_or_none("mailbox")
    if mailbox is not None:
        dev.mailbox = _mailbox(mailbox)
    r.done()
    return dev


#: Health record keys and their ranges (the payload's field widths).
HEALTH_KEYS = {
    "status": (0, 7),
    "media": (0, 255),
    "ext_status": (0, 255),
    "life_used": (0, 255),
    "temperature": (-32768, 65535),
    "dirty_shutdowns": (0, (1 << 32) - 1),
    "volatile_errors": (0, (1 << 32) - 1),
    "pmem_errors": (0, (1 << 32) - 1),
}


def _mailbox(r: _Reader) -> DeviceMailbox:
    """``[...device.mailbox]``: what the device's mailbox reports (fake-sysfs-platform(5))."""
    box = DeviceMailbox()
    health = r.table_or_none("health")
    if health is not None:
        box.health = {key: health.get_int(key, 0, lo, hi) for key, (lo, hi) in HEALTH_KEYS.items()}
        health.done()
    if r.has("partition_align"):
        box.partition_align = r.get_size("partition_align")
    if r.has("firmware_slots"):
        slots = r._get("firmware_slots")
        if (
            not isinstance(slots, list)
            or not 1 <= len(slots) <= 4
            or not all(isinstance(x, str) for x in slots)
        ):
            raise PlatformError(
                f'{r.where}.firmware_slots: expected 1 to 4 strings ("" for an empty slot)'
            )
        box.firmware_slots = slots
    if r.has("active_slot"):
        box.active_slot = r.get_int("active_slot", lo=1, hi=4)
    if r.has("poison"):
        poison = r._get("poison")
        if not isinstance(poison, list) or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in poison
        ):
            raise PlatformError(f"{r.where}.poison: expected a list of addresses")
        box.poison = poison
    r.done()
    return box


def _switch(r: _Reader) -> Switch:
    sw = Switch(
        decoders=r.get_int("decoders", 4),
        targets=r.get_int("targets", 8),
        label=r.get_label(),
    )
    for p in r.tables("port"):
        dev = p.table_or_none("device")
        sw.ports.append(
            SwitchPort(
                port=p.get_int("port", lo=0, hi=255),
                device=_device(dev) if dev is not None else None,
                label=p.get_label(),
            )
        )
        p.done()
    r.done()
    return sw


def _host_bridge(r: _Reader) -> HostBridge:
    uid = r.get_int("uid", lo=0, hi=0xFFFFFFFF)
    hb = HostBridge(
        uid=uid,
        bus_nr=r.get_int("bus_nr", uid if uid <= 0xFF else 0, lo=0, hi=0xFF),
        segment=r.get_int("segment", 0, lo=0, hi=0xFFFF),
        decoders=r.get_int("decoders", 4),
        targets=r.get_int("targets", 8),
        rch=r.get_bool("rch", False),
        label=r.get_label(),
    )
    rcd = r.table_or_none("device")
    if rcd is not None:
        hb.rcd = _device(rcd)
        hb.rcd.rcd = True
    for p in r.tables("root_port"):
        dev = p.table_or_none("device")
        sw = p.table_or_none("switch")
        hb.root_ports.append(
            RootPort(
                port=p.get_int("port", lo=0, hi=255),
                device=_device(dev) if dev is not None else None,
                switch=_switch(sw) if sw is not None else None,
                label=p.get_label(),
            )
        )
        p.done()
    r.done()
    return hb


def _window(r: _Reader) -> Window:
    targets = r._get("targets")
    if not isinstance(targets, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) and 0 <= t <= 0xFFFF_FFFF for t in targets
    ):
        raise PlatformError(f"{r.where}.targets: expected a list of host bridge uids")
    gran = r._get("granularity")
    granularity = 256 if gran is None else parse_size(gran, f"{r.where}.granularity")
    base = r.get_size("base", 0) if r.has("base") else None
    win = Window(
        size=r.get_size("size"),
        targets=list(targets),
        granularity=granularity,
        ram=r.get_bool("ram", True),
        pmem=r.get_bool("pmem", True),
        type2=r.get_bool("type2", False),
        type3=r.get_bool("type3", True),
        locked=r.get_bool("locked", False),
        qos_class=r.get_int("qos_class", 0, lo=0, hi=MAX_QOS_CLASS),
        xor=r.get_bool("xor", False),
        base=base,
    )
    r.done()
    return win


def _auto_region(r: _Reader) -> AutoRegion:
    members = r._get("members")
    if not isinstance(members, list) or not all(isinstance(m, str) for m in members) or not members:
        raise PlatformError(f"{r.where}.members: expected a list of device labels")
    mode = r.get_str("mode", "ram")
    if mode not in ("ram", "pmem"):
        raise PlatformError(f'{r.where}.mode: expected "ram" or "pmem", got {quote(mode)}')
    gran = r._get("granularity")
    auto = AutoRegion(
        window=r.get_int("window", lo=0, hi=U64_MAX),
        size=r.get_size("size"),
        granularity=256 if gran is None else parse_size(gran, f"{r.where}.granularity"),
        members=list(members),
        mode="ram" if mode == "ram" else "pmem",
        base=r.get_size("base", 0) if r.has("base") else None,
    )
    r.done()
    return auto


def _soft_reserved(r: _Reader) -> SoftReserved:
    sr = SoftReserved(
        start=r.get_size("start"),
        size=r.get_size("size"),
        node=r.get_int("node", 0, lo=0, hi=MAX_NUMA_NODE),
    )
    r.done()
    return sr


def parse_platform(data: Table, name: str) -> Platform:
    r = _Reader(data, "")
    style = r.get_str("style", "acpi")
    if style not in ("acpi", "cxl_test"):
        raise PlatformError(f'style: expected "acpi" or "cxl_test", got {quote(style)}')
    platform_name = r.get_str("name", name)
    check_line(platform_name, "name", empty=False)
    description = r.get_str("description", "")
    check_line(description, "description", empty=True)
    platform = Platform(
        name=platform_name,
        style="acpi" if style == "acpi" else "cxl_test",
        description=description,
        memory_block_size=r.get_size("memory_block_size", 128 << 20),
        system_ram=r.get_size("system_ram", 4 << 30),
        cpus=r.get_int("cpus", 4, lo=1, hi=MAX_CPUS),
        memory_online=r.get_str("memory_online", "offline"),
        kmem=r.get_bool("kmem", True),
    )
    if platform.memory_online not in MEMORY_ONLINE:
        choices = ", ".join(f'"{c}"' for c in MEMORY_ONLINE)
        raise PlatformError(
            f"memory_online: expected one of {choices}, got {quote(platform.memory_online)}"
        )
    if r.has("window_base"):
        platform.window_pool = r.get_size("window_base")
    platform.host_bridges = [_host_bridge(h) for h in r.tables("host_bridge")]
    platform.windows = [_window(w) for w in r.tables("window")]
    platform.auto_regions = [_auto_region(a) for a in r.tables("auto_region")]
    platform.soft_reserved = [_soft_reserved(s) for s in r.tables("soft_reserved")]
    r.done()
    _check_labels(platform)
    return finalize(platform)


def _check_labels(platform: Platform) -> None:
    """cxl_test-style platforms name devices by label; labels must then be unique."""
    if platform.style != "cxl_test":
        return
    seen: set[str] = set()
    for hb in platform.host_bridges:
        names = [hb.label] + [rp.label for rp in hb.root_ports]
        for rp in hb.root_ports:
            if rp.switch is not None:
                names += [rp.switch.label] + [sp.label for sp in rp.switch.ports]
        names += [d.label for d in platform.devices()]
        for label in names:
            if not label:
                raise PlatformError(
                    "style cxl_test: every host bridge, port and device needs a label"
                )
    for dev in platform.devices():
        if dev.label in seen:
            raise PlatformError(f"duplicate device label {dev.label!r}")
        seen.add(dev.label)


def _read_regular(path: Path) -> bytes:
    """The file's bytes, if it is a regular file: a FIFO or a device would block or never
    end, so they are refused without reading (opening with O_NONBLOCK cannot block)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise PlatformError(f"{path}: {e.strerror}") from None
    except ValueError:  # an embedded NUL
        raise PlatformError(f"{str(path)!r}: not a file name") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PlatformError(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as file:
        try:
            return file.read(MAX_FILE_SIZE + 1)
        except OSError as e:
            raise PlatformError(f"{path}: {e.strerror}") from None


def load_platform_file(path: Path) -> Platform:
    raw = _read_regular(path)
    if len(raw) > MAX_FILE_SIZE:
        raise PlatformError(f"{path}: larger than {MAX_FILE_SIZE >> 20} MiB")
    try:
        data = tomllib.loads(raw.decode())
    except UnicodeDecodeError:
        raise PlatformError(f"{path}: not a text file") from None
    except tomllib.TOMLDecodeError as e:
        raise PlatformError(f"{path}: invalid TOML: {e}") from None
    except ValueError:  # int() refuses integers of more than 4300 digits
        raise PlatformError(f"{path}: invalid TOML: an integer with too many digits") from None
    except RecursionError:
        raise PlatformError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    try:
        return parse_platform(data, path.stem)
    except PlatformError as e:
        raise PlatformError(f"{path}: {e}") from None
