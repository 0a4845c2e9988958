"""Boot: the kernel state Linux builds for a platform, in the order it probes things.

1. cxl_acpi: ``root0``, one root decoder per CFMWS (each reserving a memregion id), root
   dports (one per host bridge, id = _UID), a port per (non-restricted) host bridge with its
   dports and HDM decoders, and ``nvdimm-bridge0`` when a window allows pmem.
2. cxl_pci / cxl_mock_mem create the memdevs in probe order (``mem0`` ...).
3. cxl_mem probes each memdev: the switch port above it is created on first use, then its
   endpoint with the endpoint decoders; firmware-committed decoders reserve their DPA.
4. Auto regions are assembled from committed decoders and bound (RAM: dax_region + kmem).
5. cxl_nvdimm registers ``pmemN``/``nmemK`` for memdevs with persistent capacity.

Ids: ports and endpoints share one allocator (lowest free); memdevs have their own.
"""

from __future__ import annotations

from fake_sysfs.kernel.dax import DaxDevice, DaxRegion
from fake_sysfs.kernel.decoders import Decoder
from fake_sysfs.kernel.memdevs import Memdev, allocate_dpa
from fake_sysfs.kernel.memory import Memory, MemoryBlock
from fake_sysfs.kernel.nvdimm import Nmem, NvdimmBridge
from fake_sysfs.kernel.ports import Dport, Port
from fake_sysfs.kernel.regions import NULL_UUID, Region, lowest_free_id, program_hierarchy
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.model import (
    GiB,
    HostBridge,
    Platform,
    RootPort,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.naming import root_device_path


def boot(platform: Platform) -> Kernel:
    k = Kernel(platform=platform, memory=_boot_memory(platform))
    _acpi_probe(k)
    devices = sorted(platform.devices(), key=lambda d: d.order)
    for mem_id, dev in enumerate(devices):
        k.memdevs[mem_id] = _memdev(mem_id, dev)
    for mem_id, dev in enumerate(devices):
        probe_memdev(k, k.memdevs[mem_id], dev)
    for index in range(len(platform.auto_regions)):
        _assemble_auto_region(k, index)
    _register_nvdimms(k)
    return k


def _boot_memory(platform: Platform) -> Memory:
    mem = Memory(block_size=platform.memory_block_size)
    low = platform.system_ram if platform.system_ram < 0xB000_0000 else 2 * GiB
    spans = [(0, low), (4 * GiB, platform.system_ram - low)]
    for start, size in spans:
        for index in range(start // mem.block_size, (start + size) // mem.block_size):
            mem.blocks[index] = MemoryBlock(index=index, node=0, online=True, removable=False)
    return mem


def _next_port_id(k: Kernel) -> int:
    return lowest_free_id(set(k.ports))


def _passthrough_decoder(port: Port) -> Decoder:
    """A port without HDM decoder capability gets one software decoder that passes
    everything through to its single dport (still zeroed: ways 1, page-size granularity,
    an empty range)."""
    return Decoder(
        port=port.id, index=0, kind="switch", granularity=4096, targets=[port.dports[0].id]
    )


def _switch_decoders(k: Kernel, port: Port, count: int) -> list[Decoder]:
    # A zeroed decoder's target list register decodes to dport id 0 at position 0, which
    # shows only when such a dport exists. The cxl_test mock instead seeds it with the
    # first dport below the port's uport.
    if k.platform.style == "cxl_test":
        default = [port.dports[0].id] if port.dports else []
    else:
        default = [0] if port.dport(0) is not None else []
    return [
        Decoder(port=port.id, index=i, kind="switch", targets=list(default)) for i in range(count)
    ]


def _acpi_probe(k: Kernel) -> None:
    platform = k.platform
    root_dev = root_device_path(platform)
    root = Port(
        id=0,
        kind="root",
        parent=None,
        uport=root_dev,
        dports=[Dport(id=hb.uid, device=hb.path) for hb in platform.host_bridges],
    )
    k.ports[0] = root
    for index, win in enumerate(platform.windows):
        root.decoders.append(_root_decoder(index, win))
    for hb in platform.host_bridges:
        if hb.rch:
            continue  # a restricted host gets no port; its RCD's endpoint sits below root
        port = Port(
            id=_next_port_id(k),
            kind="port",
            parent=0,
            uport=hb.path,
            parent_dport=hb.path,
            dports=[Dport(id=rp.port, device=rp.path) for rp in hb.root_ports],
            decoder_targets=hb.targets,
        )
        k.ports[port.id] = port
        if hb.decoders:
            port.decoders = _switch_decoders(k, port, hb.decoders)
        else:
            port.decoders = [_passthrough_decoder(port)]
    if any(d.cap_pmem for d in root.decoders):
        provider = "cxl_test" if platform.style == "cxl_test" else "CXL"
        k.bridges.append(NvdimmBridge(id=0, bus_id=0, provider=provider))


def _root_decoder(index: int, win: Window) -> Decoder:
    assert win.base is not None
    return Decoder(
        port=0,
        index=index,
        kind="root",
        start=win.base,
        size=win.size,
        ways=win.ways,
        granularity=win.granularity,
        locked=win.locked,
        targets=list(win.targets),
        committed=True,
        cap_ram=win.ram,
        cap_pmem=win.pmem,
        cap_type2=win.type2,
        cap_type3=win.type3,
        qos_class=win.qos_class,
        next_region=index,
    )


def _memdev(mem_id: int, dev: Type3Device) -> Memdev:
    return Memdev(
        id=mem_id,
        parent=dev.path,
        ram_size=dev.ram_size,
        pmem_size=dev.pmem_size,
        lsa_size=dev.lsa_size,
        serial=dev.serial or 0,
        numa_node=dev.numa_node,
        firmware_version=dev.firmware_version,
        payload_max=dev.payload_max,
        qos_class=dev.qos_class,
        rcd=dev.rcd,
        label=dev.label,
    )


def _locate(
    platform: Platform, dev: Type3Device
) -> tuple[HostBridge, RootPort | None, SwitchPort | None]:
    for hb in platform.host_bridges:
        if hb.rcd is dev:
            return hb, None, None
        for rp in hb.root_ports:
            if rp.device is dev:
                return hb, rp, None
            if rp.switch is not None:
                for sp in rp.switch.ports:
                    if sp.device is dev:
                        return hb, rp, sp
    raise LookupError(dev.label)


def probe_memdev(k: Kernel, mem: Memdev, dev: Type3Device) -> None:
    """cxl_mem probe: create the switch port above the device if needed, then its endpoint."""
    hb, rp, sp = _locate(k.platform, dev)
    if rp is None:
        parent = 0
        parent_dport = hb.path
    else:
        hb_port = next(p for p in k.ports.values() if p.kind == "port" and p.uport == hb.path)
        parent = hb_port.id
        parent_dport = rp.path
        if rp.switch is not None and sp is not None:
            sw = rp.switch
            sw_port = next((p for p in k.ports.values() if p.uport == sw.path), None)
            if sw_port is None:
                sw_port = Port(
                    id=_next_port_id(k),
                    kind="port",
                    parent=hb_port.id,
                    uport=sw.path,
                    parent_dport=rp.path,
                    dports=[Dport(id=p.port, device=p.path) for p in sw.ports],
                    decoder_targets=sw.targets,
                )
                k.ports[sw_port.id] = sw_port
                sw_port.decoders = _switch_decoders(k, sw_port, sw.decoders)
            parent = sw_port.id
            parent_dport = sp.path
    endpoint = Port(
        id=_next_port_id(k),
        kind="endpoint",
        parent=parent,
        uport=f"{mem.parent}/{mem.name}",
        parent_dport=parent_dport,
        memdev=mem.id,
        cdat=k.platform.style == "acpi",
    )
    endpoint.decoders = [
        Decoder(port=endpoint.id, index=i, kind="endpoint") for i in range(dev.decoders)
    ]
    k.ports[endpoint.id] = endpoint
    mem.endpoint = endpoint.id


def _assemble_auto_region(k: Kernel, index: int) -> None:
    auto = k.platform.auto_regions[index]
    win = k.platform.windows[auto.window]
    assert win.base is not None
    base = win.base if auto.base is None else auto.base
    by_label = {m.label: m for m in k.memdevs.values()}
    members = [by_label[label] for label in auto.members]
    ways = len(members)
    targets: list[Decoder] = []
    for mem in members:
        assert mem.endpoint is not None
        ep = k.ports[mem.endpoint]
        dec = ep.decoders[ep.decoders_committed()]
        dec.start, dec.size, dec.ways, dec.granularity = base, auto.size, ways, auto.granularity
        dec.mode = auto.mode
        allocate_dpa(mem, ep, dec, auto.size // ways)
        dec.committed = True
        targets.append(dec)
    decoders = program_hierarchy(k, win, targets, base, auto.size, auto.granularity)
    for dec in decoders:
        dec.committed = True
    if not (win.base <= base and base + auto.size <= win.base + win.size):
        return  # no window claims the range: decoders stay committed, no region
    root = k.ports[0]
    root_dec = root.decoders[auto.window]
    region = Region(
        id=root_dec.next_region,
        root_port=0,
        root_decoder=auto.window,
        mode=auto.mode,
        uuid="" if auto.mode == "ram" else NULL_UUID,
        ways=ways,
        granularity=auto.granularity,
        start=base,
        size=auto.size,
        targets=[d.name for d in targets],
        state="commit",
        auto=True,
    )
    k.regions[region.id] = region
    root_dec.next_region = lowest_free_id(k.allocated_region_ids())
    for dec in [*targets, *decoders]:
        dec.region = region.id
    bind_region(k, region)


def target_node(k: Kernel, window: int) -> int:
    """The NUMA node memory of a window comes up on.

    QEMU describes no CXL memory in SRAT, so Linux gives each window a memory-only node
    after the firmware nodes; cxl_test's mock addresses have none and fall back to node 0.
    """
    if k.platform.style == "cxl_test":
        return 0
    return max(k.memory.cpu_nodes) + 1 + window


def bind_region(k: Kernel, region: Region) -> None:
    """cxl_region probe of a committed region: RAM regions get a DAX region whose single
    device binds to kmem; PMEM regions get a pmem_region for the nvdimm bridge."""
    region.bound = True
    if region.mode != "ram" or region.start is None:
        return
    dax = DaxRegion(
        id=region.id,
        start=region.start,
        size=region.size,
        target_node=target_node(k, region.root_decoder),
    )
    minor = sum(len(r.devices) for r in k.dax_regions.values())
    dev = DaxDevice(id=0, ranges=[[region.start, region.size]], driver="kmem", minor=minor)
    dax.devices.append(dev)
    k.dax_regions[dax.id] = dax
    _hotplug(k, dax, dev)


def _hotplug(k: Kernel, dax: DaxRegion, dev: DaxDevice) -> None:
    """kmem: add the memory blocks the device fully covers, per the auto-online policy."""
    bs = k.memory.block_size
    name = f"dax{dax.id}.{dev.id}"
    online = k.memory.auto_online.startswith("online")
    zone = "Normal" if k.memory.auto_online == "online_kernel" else "Movable"
    for start, size in dev.ranges:
        first = -(-start // bs)
        for index in range(first, (start + size) // bs):
            k.memory.blocks[index] = MemoryBlock(
                index=index, node=dax.target_node, online=online, zone=zone, owner=name
            )


def _register_nvdimms(k: Kernel) -> None:
    if not k.bridges:
        return
    bridge = k.bridges[0]
    for mem in k.memdevs.values():
        if mem.pmem_size and mem.bound:
            nmem_id = len(bridge.nmems)
            bridge.nmems.append(
                Nmem(
                    id=nmem_id,
                    memdev=mem.id,
                    serial=mem.serial,
                    minor=nmem_id,
                    lsa_size=mem.lsa_size,
                )
            )
