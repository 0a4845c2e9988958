"""Check a platform against what firmware and the kernel accept, then name its devices.

Every rule raises :class:`PlatformError` with one line that names the culprit; nothing is
written anywhere before a platform has passed here.
"""

from __future__ import annotations

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    CAPACITY_ALIGN,
    DECODER_COUNTS,
    WINDOW_GRANULARITIES,
    WINDOW_WAYS,
    HostBridge,
    Platform,
    Type3Device,
)
from fake_sysfs.platform.naming import assign_paths

MAX_MEMDEVS = 65536
U64 = (1 << 64) - 1


def _sz(value: int) -> str:
    return f"{value:#x}"


def finalize(platform: Platform) -> Platform:
    """Validate, allocate window bases and assign device paths. Returns the platform."""
    if not platform.host_bridges:
        raise PlatformError(f"platform {platform.name!r}: no host bridges")
    bs = platform.memory_block_size
    if bs < (1 << 20) or bs & (bs - 1):
        raise PlatformError(f"memory_block_size {_sz(bs)} is not a power of two of at least 1M")
    if platform.system_ram <= 0:
        raise PlatformError(f"system_ram {_sz(platform.system_ram)} must be positive")
    if platform.window_pool % CAPACITY_ALIGN:
        raise PlatformError(f"window_base {_sz(platform.window_pool)} is not 256M aligned")
    _check_host_bridges(platform)
    _check_windows(platform)
    assign_paths(platform)
    _check_auto_regions(platform)
    return platform


def _where(hb: HostBridge) -> str:
    return f"host bridge {hb.label or hb.uid}"


def _check_decoders(count: int, where: str) -> None:
    if count not in DECODER_COUNTS:
        allowed = ", ".join(map(str, DECODER_COUNTS))
        raise PlatformError(f"{where}: {count} HDM decoders is not encodable (use {allowed})")


def _check_targets(count: int, where: str) -> None:
    if count not in (1, 2, 4, 8):
        raise PlatformError(f"{where}: decoder target count {count} is not 1, 2, 4 or 8")


def _check_device(dev: Type3Device, where: str) -> None:
    name = f"{where}: device {dev.label}" if dev.label else f"{where}: device"
    for what, size in (("volatile", dev.ram_size), ("persistent", dev.pmem_size)):
        if size % CAPACITY_ALIGN:
            raise PlatformError(f"{name}: {what} capacity {_sz(size)} is not a multiple of 256M")
    if dev.ram_size + dev.pmem_size == 0:
        raise PlatformError(f"{name}: has neither volatile nor persistent capacity")
    if dev.lsa_size < 0 or dev.lsa_size > (1 << 32):
        raise PlatformError(f"{name}: label storage size {dev.lsa_size} out of range")
    if dev.serial is not None and not 0 <= dev.serial <= U64:
        raise PlatformError(f"{name}: serial {dev.serial} does not fit in 64 bits")
    if dev.numa_node < -1:
        raise PlatformError(f"{name}: numa node {dev.numa_node} is invalid (use -1 for none)")
    if not 256 <= dev.payload_max <= (1 << 20) or dev.payload_max & (dev.payload_max - 1):
        raise PlatformError(
            f"{name}: mailbox payload {dev.payload_max} is not a power of 2 in 256..1M"
        )
    if len(dev.firmware_version.encode()) > 16:
        raise PlatformError(f"{name}: firmware version {dev.firmware_version!r} is over 16 bytes")
    _check_decoders(dev.decoders, name)


def _check_host_bridges(platform: Platform) -> None:
    uids: set[int] = set()
    labels: set[str] = set()
    count = 0
    for hb in platform.host_bridges:
        where = _where(hb)
        if hb.uid in uids:
            raise PlatformError(f"{where}: duplicate host bridge uid {hb.uid}")
        uids.add(hb.uid)
        if not 0 <= hb.bus_nr <= 0xFF:
            raise PlatformError(f"{where}: bus_nr {hb.bus_nr} is not in 0..255")
        if not 0 <= hb.segment <= 0xFFFF:
            raise PlatformError(f"{where}: PCI segment {hb.segment} is not in 0..65535")
        if hb.decoders == 0:
            # No HDM decoder capability: Linux can only pass through to a single dport.
            if hb.rch or len(hb.root_ports) != 1:
                raise PlatformError(
                    f"{where}: a host bridge without HDM decoders needs exactly one root port"
                )
        else:
            _check_decoders(hb.decoders, where)
        _check_targets(hb.targets, where)
        if hb.rch:
            if hb.rcd is None or hb.root_ports:
                raise PlatformError(
                    f"{where}: a restricted host (rch) has exactly one device and no root ports"
                )
            _check_device(hb.rcd, where)
            count += 1
            labels.add(hb.rcd.label)
            continue
        if hb.rcd is not None:
            raise PlatformError(
                f"{where}: only a restricted host (rch) has a directly attached device"
            )
        ports: set[int] = set()
        for rp in hb.root_ports:
            rwhere = f"{where}: root port {rp.label or rp.port}"
            if not 0 <= rp.port <= 255:
                raise PlatformError(f"{rwhere}: port number {rp.port} is not in 0..255")
            if rp.port in ports:
                raise PlatformError(f"{where}: duplicate root port number {rp.port}")
            ports.add(rp.port)
            if rp.device is not None and rp.switch is not None:
                raise PlatformError(f"{rwhere}: holds both a device and a switch")
            if rp.device is not None:
                _check_device(rp.device, rwhere)
                count += 1
                labels.add(rp.device.label)
            if rp.switch is not None:
                sw = rp.switch
                swhere = f"{rwhere}: switch {sw.label}".rstrip()
                _check_decoders(sw.decoders, swhere)
                _check_targets(sw.targets, swhere)
                if not sw.ports:
                    raise PlatformError(f"{swhere}: has no downstream ports")
                dports: set[int] = set()
                for sp in sw.ports:
                    if not 0 <= sp.port <= 255:
                        raise PlatformError(f"{swhere}: port number {sp.port} is not in 0..255")
                    if sp.port in dports:
                        raise PlatformError(f"{swhere}: duplicate downstream port number {sp.port}")
                    dports.add(sp.port)
                    if sp.device is not None:
                        _check_device(sp.device, f"{swhere}: port {sp.label or sp.port}")
                        count += 1
                        labels.add(sp.device.label)
    if count > MAX_MEMDEVS:
        raise PlatformError(
            f"platform {platform.name!r}: {count} devices exceed the {MAX_MEMDEVS} memdev limit"
        )
    if len(labels) != count and platform.auto_regions:
        raise PlatformError(f"platform {platform.name!r}: device labels must be unique")


def _check_windows(platform: Platform) -> None:
    uids = {hb.uid: hb for hb in platform.host_bridges}
    if not platform.windows:
        raise PlatformError(f"platform {platform.name!r}: no CXL fixed memory window")
    placed: list[tuple[int, int, int]] = []
    for index, win in enumerate(platform.windows):
        where = f"window {index}"
        if win.size <= 0 or win.size % CAPACITY_ALIGN:
            raise PlatformError(f"{where}: size {_sz(win.size)} is not a positive multiple of 256M")
        if win.ways not in WINDOW_WAYS:
            raise PlatformError(
                f"{where}: {win.ways} targets is not a valid interleave "
                f"(use {', '.join(map(str, WINDOW_WAYS))})"
            )
        if win.granularity not in WINDOW_GRANULARITIES:
            raise PlatformError(
                f"{where}: interleave granularity {win.granularity} is not one of "
                f"{', '.join(map(str, WINDOW_GRANULARITIES))}"
            )
        if win.size % (CAPACITY_ALIGN * win.ways):
            raise PlatformError(
                f"{where}: size {_sz(win.size)} is not a multiple of 256M x {win.ways} ways"
            )
        seen: set[int] = set()
        for uid in win.targets:
            hb = uids.get(uid)
            if hb is None:
                raise PlatformError(f"{where}: targets host bridge {uid}, which does not exist")
            if uid in seen:
                raise PlatformError(f"{where}: targets host bridge {uid} twice")
            seen.add(uid)
            if hb.rch and win.ways > 1:
                raise PlatformError(f"{where}: a restricted host (uid {uid}) cannot be interleaved")
        if not (win.ram or win.pmem):
            raise PlatformError(f"{where}: allows neither volatile nor persistent memory")
        if not (win.type2 or win.type3):
            raise PlatformError(f"{where}: allows neither type-2 nor type-3 devices")
        if win.base is not None and win.base % CAPACITY_ALIGN:
            raise PlatformError(f"{where}: base {_sz(win.base)} is not 256M aligned")
    # Place windows without a base first fit from the pool, like firmware would.
    for index, win in enumerate(platform.windows):
        if win.base is not None:
            for other, start, end in placed:
                if win.base < end and start < win.base + win.size:
                    raise PlatformError(f"window {index}: overlaps window {other}")
            placed.append((index, win.base, win.base + win.size))
    for index, win in enumerate(platform.windows):
        if win.base is None:
            base = platform.window_pool
            for _, start, end in sorted(placed, key=lambda p: p[1]):
                if base < end and start < base + win.size:
                    base = end
            win.base = base
            placed.append((index, base, base + win.size))
    for index, win in enumerate(platform.windows):
        assert win.base is not None
        if win.base + win.size > (1 << 52):
            raise PlatformError(f"window {index}: ends beyond the 52-bit physical address space")


def _check_auto_regions(platform: Platform) -> None:
    """Firmware-committed decoders must be ones hardware could hold: valid interleave, one
    decoder per member device, and room in the partition they decode."""
    labels = {d.label: d for d in platform.devices() if d.label}
    used_decoders: dict[str, int] = {}
    used_dpa: dict[tuple[str, str], int] = {}
    for index, auto in enumerate(platform.auto_regions):
        where = f"auto region {index}"
        if not 0 <= auto.window < len(platform.windows):
            raise PlatformError(f"{where}: window {auto.window} does not exist")
        win = platform.windows[auto.window]
        ways = len(auto.members)
        if ways not in WINDOW_WAYS:
            raise PlatformError(f"{where}: {ways} members is not a valid interleave")
        if auto.granularity not in WINDOW_GRANULARITIES:
            raise PlatformError(f"{where}: granularity {auto.granularity} is not valid")
        if len(set(auto.members)) != ways:
            raise PlatformError(f"{where}: a device is listed twice in members")
        if auto.size <= 0 or auto.size % (CAPACITY_ALIGN * ways):
            raise PlatformError(f"{where}: size {_sz(auto.size)} is not a multiple of 256M x ways")
        if auto.base is not None and auto.base % CAPACITY_ALIGN:
            raise PlatformError(f"{where}: base {_sz(auto.base)} is not 256M aligned")
        assert win.base is not None
        base = win.base if auto.base is None else auto.base
        inside = win.base <= base and base + auto.size <= win.base + win.size
        # Outside every window the decoders stay committed without a region (cxl_test's
        # XOR mode), so the window's restrictions only matter inside it.
        if inside and not (win.ram if auto.mode == "ram" else win.pmem):
            raise PlatformError(f"{where}: window {auto.window} does not allow {auto.mode} memory")
        for member in auto.members:
            dev = labels.get(member)
            if dev is None:
                raise PlatformError(f"{where}: member {member!r} is not a device of this platform")
            used_decoders[member] = used_decoders.get(member, 0) + 1
            if used_decoders[member] > dev.decoders:
                raise PlatformError(f"{where}: device {member!r} has no decoder left")
            capacity = dev.ram_size if auto.mode == "ram" else dev.pmem_size
            key = (member, auto.mode)
            used_dpa[key] = used_dpa.get(key, 0) + auto.size // ways
            if used_dpa[key] > capacity:
                raise PlatformError(
                    f"{where}: device {member!r} lacks {auto.mode} capacity for its share"
                )
