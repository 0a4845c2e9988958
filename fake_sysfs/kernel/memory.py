"""Memory blocks (``/sys/devices/system/memory``) and NUMA nodes (``.../system/node``),
kernel-sysfs.md §3.3.

Blocks are devices on the memory bus, nodes on the node bus. Boot RAM is node 0's; kmem
reserves a DAX device's range and adds the blocks it fully covers (bringing its node
online), online or not as ``auto_online_blocks`` says, and removes them again when they
are all offline (a node with neither memory nor CPUs then goes offline).

Zones follow the kernel's default "contig-zones" policy: an offline block's default zone is
the one whose span (per node, first to last online block of that zone) it falls in, if it
falls in exactly one, else ZONE_NORMAL. Onlining as ``online`` takes the default zone,
``online_kernel`` ZONE_NORMAL, ``online_movable`` ZONE_MOVABLE.

Offlining: memory in ZONE_MOVABLE holds only movable pages and always goes offline; memory
in a kernel zone (boot RAM, and hot-added memory onlined to ZONE_NORMAL) is treated as
holding unmovable kernel allocations, so offlining it fails with EBUSY, as it most often
does on a real machine. That is the emulation's one deterministic choice here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fake_sysfs import codec
from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import changes, core
from fake_sysfs.kernel.attrs import (
    kstrtobool,
    show_attr,
    show_only,
    show_store,
    show_store_attr,
    streq,
)
from fake_sysfs.kernel.core import Device, DeviceType
from fake_sysfs.kernfs.nodes import Dir, Link, Node, static_dir, uevent
from fake_sysfs.platform.model import GiB, MiB, Platform
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

MEMORY_ROOT = "devices/system/memory"
NODE_ROOT = "devices/system/node"

#: The values ``state`` and ``auto_online_blocks`` take (mhp_online_type_from_str).
ONLINE_TYPES = ("offline", "online", "online_kernel", "online_movable")
#: Zones a block can be onlined to; boot blocks may also be DMA32 or span two zones.
NORMAL, MOVABLE = "Normal", "Movable"


@dataclass(eq=False, repr=False)
class MemoryBlock(Record):
    index: int
    node: int
    online: bool = False
    #: Zone while online: "Normal", "Movable", or for boot memory "DMA32" or "none"
    #: (a block spanning two zones, which the kernel cannot offline).
    zone: str = NORMAL
    #: Legacy attribute: 1 wherever the kernel supports hot-remove.
    removable: bool = True
    #: What added the block: "" for boot memory, else the dax device name (kmem).
    owner: str = ""

    @property
    def devkey(self) -> str:
        return f"bus/memory/memory{self.index}"


@dataclass(eq=False, repr=False)
class KmemResource(Record):
    """A range kmem reserved (``daxN.M`` in /proc/iomem, with System RAM (kmem) below it):
    released when its memory is removed, kept until reboot when that fails."""

    start: int
    size: int
    name: str


@dataclass(eq=False, repr=False)
class Memory(Record):
    block_size: int
    #: memhp policy for hot-added blocks: offline, online, online_kernel, online_movable.
    auto_online: str = "offline"
    blocks: dict[int, MemoryBlock] = field(default_factory=dict)
    #: Nodes with CPUs (always online).
    cpu_nodes: list[int] = field(default_factory=lambda: [0])
    #: Nodes firmware described (the CPU nodes and one per CXL window): ``possible``.
    possible_nodes: list[int] = field(default_factory=lambda: [0])
    #: Ranges kmem holds, in the order reserved.
    kmem: list[KmemResource] = field(default_factory=list)
    #: CPUs of the machine, all on the first CPU node.
    cpus: int = 4
    #: Block indexes by node, built on first use; every change to ``blocks`` drops it.
    by_node: dict[int, list[int]] | None = field(
        default=None, compare=False, repr=False, metadata=codec.TRANSIENT
    )

    #: The node directories' ``memoryN`` links, by node, kept with ``by_node``.
    node_links: dict[int, dict[str, Node]] = field(
        default_factory=dict, compare=False, repr=False, metadata=codec.TRANSIENT
    )

    def blocks_of(self, node: int) -> list[int]:
        """The indexes of ``node``'s blocks (the node directory lists them all)."""
        if self.by_node is None:
            self.node_links = {}
            index: dict[int, list[int]] = {}
            for block in self.blocks.values():
                index.setdefault(block.node, []).append(block.index)
            self.by_node = index
        return self.by_node.get(node, [])

    def nodes_with_memory(self) -> list[int]:
        return sorted({b.node for b in self.blocks.values()})

    def online_nodes(self) -> list[int]:
        return sorted(set(self.cpu_nodes) | set(self.nodes_with_memory()))


def _node_devices(k: Kernel, obj: object = None) -> list[str]:
    # The node directories list and sum the blocks of their node (and which nodes have
    # memory), so the memory state and every block show in all of them.
    return [key for key, dev in k.devices.items() if dev.type == "node"]


changes.shown_by(Memory, _node_devices)
changes.shown_by(MemoryBlock, lambda k, block: [block.devkey, *_node_devices(k)])


def node_list(nodes: list[int]) -> str:
    """Format a node mask the way the kernel does: ``0``, ``0-1``, ``0,2-3``."""
    parts: list[str] = []
    start = prev = None
    for n in nodes:
        if start is None:
            start = prev = n
        elif prev is not None and n == prev + 1:
            prev = n
        else:
            parts.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = prev = n
    if start is not None:
        parts.append(f"{start}" if start == prev else f"{start}-{prev}")
    return ",".join(parts)


def cpu_mask(cpus: list[int], nbits: int) -> str:
    """``%*pb`` of a CPU bitmap of ``nbits`` bits: hex, 32-bit groups joined by commas,
    the first group as wide as the bits it holds."""
    value = sum(1 << c for c in cpus)
    groups = []
    for i in range(max(1, -(-nbits // 32))):
        groups.append((value >> (32 * i)) & 0xFFFF_FFFF)
    groups.reverse()
    head_bits = nbits % 32 or 32
    out = [f"{groups[0]:0{max(1, -(-head_bits // 4))}x}"]
    out += [f"{g:08x}" for g in groups[1:]]
    return ",".join(out)


def node_meminfo(node: int, online_bytes: int) -> str:
    """``nodeK/meminfo``: the node's online memory (all of it free here), in kB."""
    kb = online_bytes // 1024
    rows = [("MemTotal", kb), ("MemFree", kb), ("MemUsed", 0)]
    return "\n".join(f"Node {node} {name + ':':<15} {value:>8} kB" for name, value in rows)


# -- state changes -----------------------------------------------------------------------------


def _boot_zone(start: int, size: int) -> str:
    """The zone of a boot block on x86-64: DMA below 16 MiB, DMA32 below 4 GiB, Normal
    above; a block across a boundary spans two zones ("none")."""
    end = start + size
    for limit, below in ((16 * MiB, "DMA"), (4 * GiB, "DMA32")):
        if end <= limit:
            return below
        if start < limit:
            return "none"
    return NORMAL


def boot_memory(platform: Platform) -> Memory:
    """The machine's RAM, laid out as on q35: below 4 GiB up to 2.75 GiB, else 2 GiB below
    and the rest above 4 GiB; all online, on node 0."""
    mem = Memory(
        block_size=platform.memory_block_size,
        auto_online=platform.memory_online,
        cpus=platform.cpus,
    )
    if platform.style != "cxl_test":
        mem.possible_nodes = [0] + [1 + w for w in range(len(platform.windows))]
    # SRAT describes the nodes of soft-reserved memory too.
    extra = {sr.node for sr in platform.soft_reserved}
    mem.possible_nodes = sorted(set(mem.possible_nodes) | extra)
    low = platform.system_ram if platform.system_ram < 0xB000_0000 else 2 * GiB
    spans = [(0, low), (4 * GiB, platform.system_ram - low)]
    bs = mem.block_size
    for start, size in spans:
        for index in range(start // bs, (start + size) // bs):
            zone = _boot_zone(index * bs, bs)
            mem.blocks[index] = MemoryBlock(index=index, node=0, online=True, zone=zone)
    return mem


def register_boot_memory(k: Kernel) -> None:
    """The node and block devices of the memory the machine booted with."""
    for node in k.memory.online_nodes():
        _add_node(k, node)
    for block in k.memory.blocks.values():
        _add_block(k, block)


def _add_node(k: Kernel, node: int) -> None:
    core.device_add(k, Device(f"node{node}", NODE_ROOT, "node", "node"))


def _add_block(k: Kernel, block: MemoryBlock) -> None:
    core.device_add(k, Device(f"memory{block.index}", MEMORY_ROOT, "memory_block", "memory"))


def reserve(k: Kernel, start: int, size: int, name: str) -> bool:
    """request_mem_region for kmem: False if any of the range is reserved already."""
    end = start + size
    if any(r.start < end and start < r.start + r.size for r in k.memory.kmem):
        return False
    k.memory.kmem.append(KmemResource(start, size, name))
    return True


def release(k: Kernel, start: int, name: str) -> None:
    k.memory.kmem = [r for r in k.memory.kmem if not (r.start == start and r.name == name)]


def _zone_span(k: Kernel, node: int, zone: str) -> tuple[int, int] | None:
    """First and last block index of a zone of a node (its online blocks), if any."""
    found = [
        b.index for b in k.memory.blocks.values() if b.node == node and b.online and b.zone == zone
    ]
    return (min(found), max(found)) if found else None


def default_zone(k: Kernel, block: MemoryBlock) -> str:
    """zone_for_pfn_range(MMOP_ONLINE): the zone whose span alone holds the block, else
    ZONE_NORMAL (contig-zones policy)."""

    def within(zone: str) -> bool:
        span = _zone_span(k, block.node, zone)
        return span is not None and span[0] <= block.index <= span[1]

    in_kernel, in_movable = within(NORMAL), within(MOVABLE)
    return MOVABLE if in_movable and not in_kernel else NORMAL


def _online_zone(k: Kernel, block: MemoryBlock, how: str) -> str:
    if how == "online_kernel":
        return NORMAL
    if how == "online_movable":
        return MOVABLE
    return default_zone(k, block)


def add_memory(k: Kernel, start: int, size: int, node: int, owner: str) -> None:
    """Hot-add the blocks ``[start, start + size)`` covers on ``node`` (brought online if it
    was not), onlined as the auto-online policy says."""
    mem = k.memory
    if core.find_device(k, "node", f"node{node}") is None:
        _add_node(k, node)
    bs = mem.block_size
    for index in range(-(-start // bs), (start + size) // bs):
        block = MemoryBlock(index=index, node=node, owner=owner)
        mem.blocks[index] = block
        mem.by_node = None
        _add_block(k, block)
        if mem.auto_online != "offline":
            block.zone = _online_zone(k, block, mem.auto_online)
            block.online = True


def remove_memory(k: Kernel, start: int, size: int, owner: str) -> bool:
    """Hot-remove the blocks ``owner`` added in ``[start, start + size)``. False, removing
    nothing, while any of them is online."""
    blocks = [
        b
        for b in k.memory.blocks.values()
        if b.owner == owner and start <= b.index * k.memory.block_size < start + size
    ]
    if any(b.online for b in blocks):
        return False
    nodes = sorted({b.node for b in blocks})
    for block in blocks:
        core.device_unregister(k, k.dev(block))
    for node in nodes:
        if node not in k.memory.online_nodes():
            found = core.find_device(k, "node", f"node{node}")
            if found is not None:
                core.device_unregister(k, found)
    return True


def _block_of(k: Kernel, dev: Device) -> MemoryBlock:
    return k.memory.blocks[int(dev.name[len("memory") :])]


def _block_release(k: Kernel, dev: Device) -> None:
    del k.memory.blocks[int(dev.name[len("memory") :])]
    k.memory.by_node = None


def _range(k: Kernel, block: MemoryBlock) -> str:
    start = block.index * k.memory.block_size
    return f"[mem {start:#010x}-{start + k.memory.block_size - 1:#010x}]"


def online_block(k: Kernel, block: MemoryBlock, how: str) -> bool:
    """device_online with an online type: False (nothing done) if already online."""
    if block.online:
        return False
    block.zone = _online_zone(k, block, how)
    block.online = True
    return True


def offline_block(k: Kernel, block: MemoryBlock) -> bool:
    """device_offline: False if already offline; EBUSY for memory of a kernel zone."""
    if not block.online:
        return False
    if block.zone != MOVABLE:
        reason = "multiple zones" if block.zone == "none" else "unmovable page"
        k.log.dbg(k.dev(block), f"memory offlining {_range(k, block)} failed due to {reason}")
        raise kerr(errno.EBUSY)
    block.online = False
    return True


# -- /sys/devices/system/memory ---------------------------------------------------------------


def block_size_bytes_show(k: Kernel, mem: Memory) -> str:
    # Hex without the 0x prefix.
    return f"{mem.block_size:x}"


def auto_online_blocks_show(k: Kernel, mem: Memory) -> str:
    return mem.auto_online


def _online_type(buf: bytes) -> str | None:
    return next((t for t in ONLINE_TYPES if streq(buf, t)), None)


def auto_online_blocks_store(k: Kernel, mem: Memory, buf: bytes) -> None:
    """The policy for hot-added blocks: one of offline, online, online_kernel,
    online_movable (EINVAL otherwise) (3.3)."""
    how = _online_type(buf)
    if how is None:
        k.log.dbg("memory", "auto_online_blocks: not an online type")
        raise kerr(errno.EINVAL)
    mem.auto_online = how


def memory_root_entries(k: Kernel) -> dict[str, Node]:
    mem = k.memory
    return {
        "block_size_bytes": show_attr(block_size_bytes_show, k, mem),
        "auto_online_blocks": show_store_attr(
            auto_online_blocks_show, auto_online_blocks_store, k, mem
        ),
        "uevent": uevent([]),
        "power": static_dir({}),
    }


def phys_index_show(k: Kernel, block: MemoryBlock) -> str:
    return f"{block.index:08x}"


def state_show(k: Kernel, block: MemoryBlock) -> str:
    return "online" if block.online else "offline"


def state_store(k: Kernel, block: MemoryBlock, buf: bytes) -> None:
    """``online``/``online_kernel``/``online_movable``/``offline``: EINVAL for anything
    else and for a block in that state already; EBUSY when offlining fails (3.3)."""
    dev = k.dev(block)
    how = _online_type(buf)
    if how is None:
        k.log.dbg(dev, "state: not an online type")
        raise kerr(errno.EINVAL)
    done = offline_block(k, block) if how == "offline" else online_block(k, block, how)
    if not done:
        k.log.dbg(dev, f"state: {how}: already {state_show(k, block)}")
        raise kerr(errno.EINVAL)


def online_show(k: Kernel, block: MemoryBlock) -> int:
    return int(block.online)


def online_store(k: Kernel, block: MemoryBlock, buf: bytes) -> None:
    """The generic device ``online`` file: a boolean, idempotent; onlines to the default
    zone."""
    try:
        value = kstrtobool(buf)
    except KernfsError:
        k.log.dbg(k.dev(block), "online: not a boolean")
        raise
    if value:
        online_block(k, block, "online")
    else:
        offline_block(k, block)


def valid_zones_show(k: Kernel, block: MemoryBlock) -> str:
    if block.online:
        return block.zone
    first = default_zone(k, block)
    return f"{first} {MOVABLE if first == NORMAL else NORMAL}"


def removable_show(k: Kernel, block: MemoryBlock) -> int:
    return int(block.removable)


def phys_device_show(k: Kernel, block: MemoryBlock) -> int:
    return 0


MEMORY_BLOCK: DeviceType[MemoryBlock] = DeviceType(
    "memory_block",
    get=_block_of,
    entries={
        "phys_index": show_only(phys_index_show),
        "state": show_store(state_show, state_store),
        "online": show_store(online_show, online_store),
        "valid_zones": show_only(valid_zones_show),
        "removable": show_only(removable_show),
        "phys_device": show_only(phys_device_show),
    },
    more=lambda k, block: {
        f"node{block.node}": Link(f"{NODE_ROOT}/node{block.node}"),
    },
    power=True,
    release=_block_release,
)


# -- /sys/devices/system/node -----------------------------------------------------------------


def _nodes_with_online(mem: Memory, zones: tuple[str, ...] | None) -> list[int]:
    return sorted(
        {b.node for b in mem.blocks.values() if b.online and (zones is None or b.zone in zones)}
    )


def online_nodes_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.online_nodes())


def possible_nodes_show(k: Kernel, mem: Memory) -> str:
    return node_list(sorted(set(mem.possible_nodes) | set(mem.online_nodes())))


def has_memory_show(k: Kernel, mem: Memory) -> str:
    """N_MEMORY: nodes with online memory."""
    return node_list(_nodes_with_online(mem, None))


def has_normal_memory_show(k: Kernel, mem: Memory) -> str:
    """N_NORMAL_MEMORY: nodes with online memory in a kernel zone (not only Movable)."""
    return node_list(_nodes_with_online(mem, ("DMA", "DMA32", "none", NORMAL)))


def has_cpu_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.cpu_nodes)


def node_root_entries(k: Kernel) -> dict[str, Node]:
    mem = k.memory
    return {
        "online": show_attr(online_nodes_show, k, mem),
        "possible": show_attr(possible_nodes_show, k, mem),
        "has_memory": show_attr(has_memory_show, k, mem),
        "has_normal_memory": show_attr(has_normal_memory_show, k, mem),
        "has_cpu": show_attr(has_cpu_show, k, mem),
        "uevent": uevent([]),
        "power": static_dir({}),
    }


def node_cpus(k: Kernel, node: int) -> list[int]:
    """Every CPU sits on the first CPU node."""
    return list(range(k.memory.cpus)) if node == k.memory.cpu_nodes[0] else []


def cpulist_show(k: Kernel, node: int) -> str:
    return node_list(node_cpus(k, node))


def cpumap_show(k: Kernel, node: int) -> str:
    return cpu_mask(node_cpus(k, node), k.memory.cpus)


def distance_show(k: Kernel, node: int) -> str:
    """No SLIT: local 10, remote 20 (LOCAL_DISTANCE / REMOTE_DISTANCE), per online node."""
    return " ".join("10" if n == node else "20" for n in k.memory.online_nodes())


def meminfo_show(k: Kernel, node: int) -> str:
    mem = k.memory
    online = sum(mem.block_size for b in mem.blocks.values() if b.node == node and b.online)
    return node_meminfo(node, online)


def numastat_show(k: Kernel, node: int) -> str:
    # Nothing allocates in the emulation: every counter stays 0.
    names = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node")
    return "\n".join(f"{name} 0" for name in (*names, "other_node"))


def _access() -> Dir:
    # Access classes: performance from initiators to this node (nothing reported here).
    return static_dir({"initiators": static_dir({}), "targets": static_dir({})})


def _node_links(k: Kernel, node: int) -> dict[str, Node]:
    from fake_sysfs.kernel.cpu import node_cpu_links

    mem = k.memory
    if mem.by_node is None or node not in mem.node_links:
        # Drawn once per node while its blocks stay: a node of a large region has
        # hundreds, and every path through the node directory draws it.
        links: dict[str, Node] = {
            f"memory{i}": Link(f"{MEMORY_ROOT}/memory{i}") for i in mem.blocks_of(node)
        }
        mem.node_links[node] = links
    return {**node_cpu_links(k, node), **mem.node_links[node]}


NODE: DeviceType[int] = DeviceType(
    "node",
    get=lambda k, dev: int(dev.name[len("node") :]),
    entries={
        "cpumap": show_only(cpumap_show),
        "cpulist": show_only(cpulist_show),
        "distance": show_only(distance_show),
        "meminfo": show_only(meminfo_show),
        "numastat": show_only(numastat_show),
        "access0": lambda k, node: _access(),
        "access1": lambda k, node: _access(),
    },
    more=_node_links,
    power=True,
)
