"""Check a platform against what firmware and the kernel accept, then name its devices.

Every rule raises :class:`PlatformError` with one line that names the culprit; nothing is
written anywhere before a platform has passed here.

Besides the hardware's own rules, the size of a platform is bounded so that the largest
accepted one boots and lists well within 2 GB (fake-sysfs-platform(5), LIMITS). Peak memory
measured for ``fake-sysfs init`` / ``cxl list``: ``scale-1024`` 52 MB / -; ``scale:64x7x32``
(14336 memdevs, 60000 decoders) 240 / 630 MB; ``-m 8T`` (65536 memory blocks) 88 / 136 MB;
16384 memdevs with 131072 decoders, 1024 host bridges and windows 470 MB / 1.5 GB, too
close to 2 GB. At the limits below (8192 memdevs, 65536 decoders, 65536 memory blocks, 256
host bridges and windows, 1024 auto regions): 455 MB / 1.1 GB (``cxl list -vvv``).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    CAPACITY_ALIGN,
    DECODER_COUNTS,
    WINDOW_GRANULARITIES,
    WINDOW_WAYS,
    HostBridge,
    Platform,
    SoftReserved,
    Switch,
    Type3Device,
)
from fake_sysfs.platform.naming import assign_paths, root_device_path
from fake_sysfs.platform.text import quote

U64 = (1 << 64) - 1
#: Every address (window, firmware-committed decoder, RAM, device capacity) fits the 52-bit
#: physical address space, the most x86-64 and arm64 have.
PHYS_ADDR_LIMIT = 1 << 52
#: The kernel numbers memdevs below CXL_MEM_MAX_DEVS (65536, drivers/cxl/core/memdev.c);
#: fake_sysfs stops at an eighth of that.
MAX_MEMDEVS = 8192
#: HDM decoders of every port, root decoders included (4 per memdev leaves room for
#: switches and host bridges).
MAX_DECODERS = 65536
#: Each host bridge is a port with up to 32 decoders and its root ports as dports, even
#: with no device below it. QEMU fits fewer: pxb-cxl bus numbers are 1 to 255.
MAX_HOST_BRIDGES = 256
#: Fixed memory windows (root decoders), and firmware-committed regions.
MAX_WINDOWS = 256
MAX_AUTO_REGIONS = 1024
#: Soft-reserved ranges (each an hmem device and DAX region).
MAX_SOFT_RESERVED = 64
#: dax_hmem's DAX regions are PMD aligned: alloc_dax_region refuses a range that is not.
SOFT_RESERVED_ALIGN = 2 << 20
#: Memory blocks of boot RAM and of volatile firmware-committed regions: 8 TiB of 128 MiB
#: blocks (Linux's default size; it uses 2 GiB blocks from 64 GiB of RAM up).
MAX_MEMORY_BLOCKS = 65536
#: The CPUs a platform may have (x86-64's NR_CPUS in distribution kernels).
MAX_CPUS = 8192
#: The kernel's policies for hot-added memory (memhp_default_state=).
MEMORY_ONLINE = ("offline", "online", "online_kernel", "online_movable")
#: A PCI bus has 32 device numbers: root ports on a host bridge's root bus and downstream
#: ports on a switch's internal bus are devices 0 to 31.
PCI_DEVICES_PER_BUS = 32
#: QoS classes are QTG ids, 16-bit in the CFMWS and in the QTG _DSM's answer.
MAX_QOS_CLASS = 0xFFFF
#: NUMA node ids are below the kernel's MAX_NUMNODES (1 << CONFIG_NODES_SHIFT, at most 10).
MAX_NUMA_NODE = 1023


def _sz(value: int) -> str:
    return f"{value:#x}"


def finalize(platform: Platform) -> Platform:
    """Validate, allocate window bases and assign device paths. Returns the platform."""
    if not platform.host_bridges:
        raise PlatformError(f"platform {platform.name!r}: no host bridges")
    bs = platform.memory_block_size
    if bs < (1 << 20) or bs & (bs - 1):
        raise PlatformError(f"memory_block_size {_sz(bs)} is not a power of two of at least 1M")
    if not 1 <= platform.cpus <= MAX_CPUS:
        raise PlatformError(f"cpus {platform.cpus} is out of range (1 to {MAX_CPUS})")
    if platform.memory_online not in MEMORY_ONLINE:
        raise PlatformError(f"memory_online {platform.memory_online!r} is not a policy")
    if platform.system_ram <= 0:
        raise PlatformError(f"system_ram {_sz(platform.system_ram)} must be positive")
    if _ram_end(platform.system_ram) > PHYS_ADDR_LIMIT:
        raise PlatformError(
            f"system_ram {_sz(platform.system_ram)} does not fit the 52-bit physical address space"
        )
    if platform.window_pool % CAPACITY_ALIGN:
        raise PlatformError(f"window_base {_sz(platform.window_pool)} is not 256M aligned")
    if platform.window_pool >= PHYS_ADDR_LIMIT:
        raise PlatformError(
            f"window_base {_sz(platform.window_pool)} is beyond the 52-bit physical address space"
        )
    _check_host_bridges(platform)
    _check_windows(platform)
    _check_soft_reserved(platform)
    assign_paths(platform)
    _check_unique_paths(platform)
    _check_auto_regions(platform)
    _check_memory_blocks(platform)
    return platform


def _ram_end(ram: int) -> int:
    """Where boot RAM ends: up to 2 GiB (2.75 GiB if that is all) below 4 GiB, the rest
    from 4 GiB up, as the kernel's boot memory map lays it out."""
    low = ram if ram < 0xB000_0000 else 2 << 30
    return (4 << 30) + ram - low if ram > low else low


def _blocks(start: int, size: int, block: int, *, whole: bool) -> int:
    """Memory blocks in ``[start, start + size)``: those it starts in (boot RAM), or only
    those it covers whole (kmem hotplug)."""
    first = -(-start // block) if whole else start // block
    return max(0, (start + size) // block - first)


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
    if dev.ram_size + dev.pmem_size > PHYS_ADDR_LIMIT:
        raise PlatformError(
            f"{name}: capacity {_sz(dev.ram_size + dev.pmem_size)} is over 4 PiB, more than "
            "the 52-bit physical address space can map"
        )
    if dev.lsa_size < 0 or dev.lsa_size > (1 << 32):
        raise PlatformError(f"{name}: label storage size {dev.lsa_size} out of range")
    if dev.serial is not None and not 0 <= dev.serial <= U64:
        raise PlatformError(f"{name}: serial {dev.serial} does not fit in 64 bits")
    if not -1 <= dev.numa_node <= MAX_NUMA_NODE:
        raise PlatformError(
            f"{name}: numa node {dev.numa_node} is invalid (0 to {MAX_NUMA_NODE}, -1 for none)"
        )
    if dev.qos_class is not None and not 0 <= dev.qos_class <= MAX_QOS_CLASS:
        raise PlatformError(f"{name}: qos class {dev.qos_class} is not in 0..{MAX_QOS_CLASS}")
    if not 256 <= dev.payload_max <= (1 << 20) or dev.payload_max & (dev.payload_max - 1):
        raise PlatformError(
            f"{name}: mailbox payload {dev.payload_max} is not a power of 2 in 256..1M"
        )
    _check_mailbox(dev, name)
    if len(dev.firmware_version.encode()) > 16:
        raise PlatformError(
            f"{name}: firmware version {quote(dev.firmware_version)} is over 16 bytes"
        )
    if not all(" " <= char <= "~" for char in dev.firmware_version):
        raise PlatformError(
            f"{name}: firmware version {dev.firmware_version!r} is not printable ASCII"
        )
    _check_decoders(dev.decoders, name)


def _check_counts(platform: Platform) -> None:
    """The size limits, counted before anything else is looked at."""
    name = f"platform {platform.name!r}"
    if len(platform.host_bridges) > MAX_HOST_BRIDGES:
        raise PlatformError(
            f"{name}: {len(platform.host_bridges)} host bridges exceed the limit of "
            f"{MAX_HOST_BRIDGES}"
        )
    count = len(platform.devices())
    if count > MAX_MEMDEVS:
        raise PlatformError(
            f"{name}: {count} memory devices exceed the limit of {MAX_MEMDEVS} memdevs"
        )
    if len(platform.windows) > MAX_WINDOWS:
        raise PlatformError(
            f"{name}: {len(platform.windows)} windows exceed the limit of {MAX_WINDOWS}"
        )
    if len(platform.auto_regions) > MAX_AUTO_REGIONS:
        raise PlatformError(
            f"{name}: {len(platform.auto_regions)} auto regions exceed the limit of "
            f"{MAX_AUTO_REGIONS}"
        )
    for hb in platform.host_bridges:
        if len(hb.root_ports) > PCI_DEVICES_PER_BUS:
            raise PlatformError(
                f"{_where(hb)}: {len(hb.root_ports)} root ports do not fit on one PCI bus "
                f"(at most {PCI_DEVICES_PER_BUS})"
            )
        for rp in hb.root_ports:
            if rp.switch is not None and len(rp.switch.ports) > PCI_DEVICES_PER_BUS:
                swhere = f"{_where(hb)}: root port {rp.label or rp.port}: switch"
                swhere = f"{swhere} {rp.switch.label}" if rp.switch.label else swhere
                raise PlatformError(
                    f"{swhere}: {len(rp.switch.ports)} downstream ports do not fit on one PCI "
                    f"bus (at most {PCI_DEVICES_PER_BUS})"
                )


def _check_host_bridges(platform: Platform) -> None:
    _check_counts(platform)
    uids: set[int] = set()
    labels: set[str] = set()
    count = 0
    for hb in platform.host_bridges:
        where = _where(hb)
        if hb.uid in uids:
            raise PlatformError(f"{where}: duplicate host bridge uid {hb.uid}")
        if not 0 <= hb.uid <= 0xFFFF_FFFF:
            raise PlatformError(f"{where}: uid {hb.uid} is not a 32-bit ACPI _UID")
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
    decoders = len(platform.windows) + sum(dev.decoders for dev in platform.devices())
    for hb in platform.host_bridges:
        decoders += 0 if hb.rch else max(hb.decoders, 1)  # 0: one passthrough decoder
        decoders += sum(rp.switch.decoders for rp in hb.root_ports if rp.switch)
    if decoders > MAX_DECODERS:
        raise PlatformError(
            f"platform {platform.name!r}: {decoders} decoders (root, host bridge, switch and "
            f"endpoint) exceed the limit of {MAX_DECODERS}"
        )
    if len(labels) != count and platform.auto_regions:
        raise PlatformError(f"platform {platform.name!r}: device labels must be unique")


def _check_windows(platform: Platform) -> None:
    uids = {hb.uid: hb for hb in platform.host_bridges}
    if not platform.windows and not platform.soft_reserved:
        # A machine whose only special memory is soft-reserved needs no CXL window.
        raise PlatformError(f"platform {platform.name!r}: no CXL fixed memory window")
    placed: list[tuple[int, int, int]] = []  # (start, end, window index), sorted
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
        if not 0 <= win.qos_class <= MAX_QOS_CLASS:
            raise PlatformError(f"{where}: qos class {win.qos_class} is not in 0..{MAX_QOS_CLASS}")
        if win.size > PHYS_ADDR_LIMIT or (
            win.base is not None and win.base + win.size > PHYS_ADDR_LIMIT
        ):
            raise PlatformError(f"{where}: ends beyond the 52-bit physical address space")
    # Place windows without a base first fit from the pool, like firmware would.
    for index, win in enumerate(platform.windows):
        if win.base is not None:
            entry = (win.base, win.base + win.size, index)
            at = bisect.bisect(placed, entry)
            for start, end, other in placed[max(0, at - 1) : at + 1]:
                if win.base < end and start < win.base + win.size:
                    raise PlatformError(f"window {index}: overlaps window {other}")
            placed.insert(at, entry)
    for index, win in enumerate(platform.windows):
        if win.base is None:
            base = platform.window_pool
            for start, end, _ in placed:
                if base < end and start < base + win.size:
                    base = end
            win.base = base
            if base + win.size > PHYS_ADDR_LIMIT:
                raise PlatformError(
                    f"window {index}: ends beyond the 52-bit physical address space"
                )
            bisect.insort(placed, (base, base + win.size, index))


def _check_soft_reserved(platform: Platform) -> None:
    """Soft-reserved ranges: PMD aligned, inside the physical address space, clear of boot
    RAM, of the CXL windows (a range inside one is CXL's to claim, not dax_hmem's) and of
    each other; their node a valid NUMA node."""
    if len(platform.soft_reserved) > MAX_SOFT_RESERVED:
        raise PlatformError(
            f"platform {platform.name!r}: {len(platform.soft_reserved)} soft-reserved ranges "
            f"exceed the limit of {MAX_SOFT_RESERVED}"
        )
    ram = platform.system_ram
    low = ram if ram < 0xB000_0000 else 2 << 30
    taken: list[tuple[int, int, str]] = [(0, low, "boot RAM")]
    if ram > low:
        taken.append((4 << 30, _ram_end(ram), "boot RAM"))
    for index, win in enumerate(platform.windows):
        assert win.base is not None
        taken.append((win.base, win.base + win.size, f"window {index}"))
    for index, sr in enumerate(platform.soft_reserved):
        where = f"soft_reserved {index}"
        _check_one_soft_reserved(sr, where)
        for start, end, what in taken:
            if sr.start < end and start < sr.start + sr.size:
                raise PlatformError(f"{where}: overlaps {what}")
        taken.append((sr.start, sr.start + sr.size, where))
    platform.soft_reserved.sort(key=lambda sr: sr.start)


def _check_one_soft_reserved(sr: SoftReserved, where: str) -> None:
    if sr.size <= 0 or sr.size % SOFT_RESERVED_ALIGN:
        raise PlatformError(f"{where}: size {_sz(sr.size)} is not a positive multiple of 2M")
    if sr.start < 0 or sr.start % SOFT_RESERVED_ALIGN:
        raise PlatformError(f"{where}: start {_sz(sr.start)} is not 2M aligned")
    if sr.start + sr.size > PHYS_ADDR_LIMIT:
        raise PlatformError(f"{where}: ends beyond the 52-bit physical address space")
    if not 0 <= sr.node <= MAX_NUMA_NODE:
        raise PlatformError(f"{where}: node {sr.node} is not in 0..{MAX_NUMA_NODE}")


def _check_unique_paths(platform: Platform) -> None:
    """No two components may get the same directory (cxl_test style: equal labels)."""
    seen = {root_device_path(platform): "the CXL root"}
    for hb in platform.host_bridges:
        parts: list[tuple[str, str]] = [(hb.path, _where(hb))]
        devices = [hb.rcd] if hb.rcd is not None else []
        for rp in hb.root_ports:
            parts.append((rp.path, f"{_where(hb)}: root port {rp.label or rp.port}"))
            if rp.device is not None:
                devices.append(rp.device)
            if rp.switch is not None:
                parts.append((rp.switch.path, f"{_where(hb)}: switch {rp.switch.label}"))
                for sp in rp.switch.ports:
                    parts.append((sp.path, f"{_where(hb)}: switch port {sp.label or sp.port}"))
                    if sp.device is not None:
                        devices.append(sp.device)
        parts += [(dev.path, f"{_where(hb)}: device {dev.label}") for dev in devices]
        for path, who in parts:
            if path in seen:
                raise PlatformError(
                    f"{who}: its name {path!r} is that of {seen[path]} too (labels must differ)"
                )
            seen[path] = who


def _check_auto_regions(platform: Platform) -> None:
    """Firmware-committed decoders must be ones hardware could hold: valid interleave, one
    decoder per member device, and room in the partition they decode."""
    labels = {d.label: d for d in platform.devices() if d.label}
    above = _components_above(platform)
    used_decoders: dict[str, int] = {}
    used_dpa: dict[tuple[str, str], int] = {}
    # Host bridges and switches: decoders used so far, keyed by the component's identity.
    used_upstream: dict[int, int] = {}
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
        if base + auto.size > PHYS_ADDR_LIMIT:
            raise PlatformError(f"{where}: ends beyond the 52-bit physical address space")
        inside = win.base <= base and base + auto.size <= win.base + win.size
        # Outside every window the decoders stay committed without a region (cxl_test's
        # XOR mode), so the window's restrictions only matter inside it.
        if inside and not (win.ram if auto.mode == "ram" else win.pmem):
            raise PlatformError(f"{where}: window {auto.window} does not allow {auto.mode} memory")
        dports: dict[int, tuple[_Upstream, set[int]]] = {}
        for member in auto.members:
            dev = labels.get(member)
            if dev is None:
                raise PlatformError(
                    f"{where}: member {quote(member)} is not a device of this platform"
                )
            for component, dport in above[id(dev)]:
                dports.setdefault(id(component.node), (component, set()))[1].add(dport)
            used_decoders[member] = used_decoders.get(member, 0) + 1
            if used_decoders[member] > dev.decoders:
                raise PlatformError(f"{where}: device {quote(member)} has no decoder left")
            capacity = dev.ram_size if auto.mode == "ram" else dev.pmem_size
            key = (member, auto.mode)
            used_dpa[key] = used_dpa.get(key, 0) + auto.size // ways
            if used_dpa[key] > capacity:
                raise PlatformError(
                    f"{where}: device {quote(member)} lacks {auto.mode} capacity for its share"
                )
        # The host bridge and switch decoders on the way are committed too (one each).
        for ident, (component, targets) in dports.items():
            used_upstream[ident] = used_upstream.get(ident, 0) + 1
            if used_upstream[ident] > component.decoders:
                raise PlatformError(
                    f"{where}: {component.name}: no decoder left (it has {component.decoders})"
                )
            if len(targets) > component.targets:
                raise PlatformError(
                    f"{where}: {component.name}: its decoders take {component.targets} "
                    f"targets, this region needs {len(targets)}"
                )


@dataclass
class _Upstream:
    """A host bridge or switch whose decoders a firmware-committed region uses."""

    node: HostBridge | Switch
    name: str
    decoders: int
    targets: int


def _components_above(platform: Platform) -> dict[int, list[tuple[_Upstream, int]]]:
    """For each device (by ``id()``): the host bridge and switch above it, each with the
    dport the device is reached through."""
    found: dict[int, list[tuple[_Upstream, int]]] = {}
    for hb in platform.host_bridges:
        # Without HDM decoder capability the kernel gives the port one passthrough decoder.
        hb_up = _Upstream(hb, _where(hb), hb.decoders or 1, hb.targets if hb.decoders else 1)
        if hb.rcd is not None:
            found[id(hb.rcd)] = []
        for rp in hb.root_ports:
            if rp.device is not None:
                found[id(rp.device)] = [(hb_up, rp.port)]
            if rp.switch is not None:
                sw = rp.switch
                name = f"switch {sw.label}" if sw.label else f"the switch below root port {rp.port}"
                sw_up = _Upstream(sw, f"{_where(hb)}: {name}", sw.decoders, sw.targets)
                for sp in sw.ports:
                    if sp.device is not None:
                        found[id(sp.device)] = [(hb_up, rp.port), (sw_up, sp.port)]
    return found


def _check_memory_blocks(platform: Platform) -> None:
    """Boot RAM and the volatile firmware-committed regions become memory blocks."""
    block = platform.memory_block_size
    ram = platform.system_ram
    low = ram if ram < 0xB000_0000 else 2 << 30
    count = _blocks(0, low, block, whole=False) + _blocks(4 << 30, ram - low, block, whole=False)
    for auto in platform.auto_regions:
        win = platform.windows[auto.window]
        assert win.base is not None
        base = win.base if auto.base is None else auto.base
        if auto.mode == "ram" and win.base <= base and base + auto.size <= win.base + win.size:
            count += _blocks(base, auto.size, block, whole=True)
    for sr in platform.soft_reserved:
        # kmem adds them as memory blocks.
        count += _blocks(sr.start, sr.size, block, whole=True)
    if count > MAX_MEMORY_BLOCKS:
        raise PlatformError(
            f"platform {platform.name!r}: {count} memory blocks of {_sz(block)} exceed the "
            f"limit of {MAX_MEMORY_BLOCKS} (less RAM, or a larger memory_block_size)"
        )


def _check_mailbox(dev: Type3Device, name: str) -> None:
    """The device's mailbox settings fit its capacity and the payloads' fields."""
    box = dev.mailbox
    capacity = dev.ram_size + dev.pmem_size
    if box.partition_align is not None and (
        box.partition_align % CAPACITY_ALIGN or box.partition_align > capacity
    ):
        raise PlatformError(
            f"{name}: partition alignment {box.partition_align} is not a multiple of 256 MiB "
            "within the capacity"
        )
    slots = box.firmware_slots
    if slots is not None:
        for rev in slots:
            if len(rev.encode()) > 16 or not all(" " <= c <= "~" for c in rev):
                raise PlatformError(
                    f"{name}: firmware slot revision {rev!r} is not printable ASCII of at most "
                    "16 bytes"
                )
    count = len(slots) if slots is not None else None
    if box.active_slot is not None and count is not None and box.active_slot > count:
        raise PlatformError(f"{name}: active slot {box.active_slot} beyond {count} slots")
    for dpa in box.poison:
        if dpa < 0 or dpa % 64 or dpa >= capacity:
            raise PlatformError(
                f"{name}: poison address {dpa:#x} is not a 64-byte aligned device address"
            )
    if len(box.poison) > 256:
        raise PlatformError(f"{name}: more than 256 poison records")
