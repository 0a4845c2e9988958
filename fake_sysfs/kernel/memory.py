"""Memory blocks (``/sys/devices/system/memory``) and NUMA nodes (``.../system/node``).

Blocks are devices on the memory bus, nodes on the node bus. Boot RAM is node 0's; kmem
adds the blocks a DAX device fully covers (bringing its node online) and removes them
again when they are offline (a node with neither memory nor CPUs goes offline).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fake_sysfs.kernel import core
from fake_sysfs.kernel.attrs import not_emulated, show_attr, show_only, show_store, show_store_attr
from fake_sysfs.kernel.core import Device, DeviceType
from fake_sysfs.kernfs.nodes import Dir, Link, Node, static_dir, uevent
from fake_sysfs.platform.model import GiB, Platform

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

MEMORY_ROOT = "devices/system/memory"
NODE_ROOT = "devices/system/node"


@dataclass
class MemoryBlock:
    index: int
    node: int
    online: bool = False
    #: Zone while online ("Normal" or "Movable").
    zone: str = "Normal"
    removable: bool = True
    #: What added the block: "" for boot memory, else the dax device name (kmem).
    owner: str = ""

    @property
    def devkey(self) -> str:
        return f"bus/memory/memory{self.index}"


@dataclass
class Memory:
    block_size: int
    #: memhp policy for hot-added blocks: offline, online, online_kernel, online_movable.
    auto_online: str = "offline"
    blocks: dict[int, MemoryBlock] = field(default_factory=dict)
    #: Nodes with CPUs (always online).
    cpu_nodes: list[int] = field(default_factory=lambda: [0])

    def nodes_with_memory(self) -> list[int]:
        return sorted({b.node for b in self.blocks.values()})

    def online_nodes(self) -> list[int]:
        return sorted(set(self.cpu_nodes) | set(self.nodes_with_memory()))


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


def node_meminfo(node: int, online_bytes: int) -> str:
    """``nodeK/meminfo``: the node's online memory (all of it free here), in kB."""
    kb = online_bytes // 1024
    rows = [("MemTotal", kb), ("MemFree", kb), ("MemUsed", 0)]
    return "\n".join(f"Node {node} {name + ':':<15} {value:>8} kB" for name, value in rows)


# -- state changes -----------------------------------------------------------------------------


def boot_memory(platform: Platform) -> Memory:
    """The machine's RAM, laid out as on q35: below 4 GiB up to 2.75 GiB, else 2 GiB below
    and the rest above 4 GiB; all online, on node 0."""
    mem = Memory(block_size=platform.memory_block_size)
    low = platform.system_ram if platform.system_ram < 0xB000_0000 else 2 * GiB
    spans = [(0, low), (4 * GiB, platform.system_ram - low)]
    for start, size in spans:
        for index in range(start // mem.block_size, (start + size) // mem.block_size):
            mem.blocks[index] = MemoryBlock(index=index, node=0, online=True, removable=False)
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


def add_memory(k: Kernel, start: int, size: int, node: int, owner: str) -> None:
    """Hot-add the blocks ``[start, start + size)`` fully covers on ``node`` (brought online
    if it was not), online or not per the auto-online policy."""
    mem = k.memory
    if core.find_device(k, "node", f"node{node}") is None:
        _add_node(k, node)
    bs = mem.block_size
    online = mem.auto_online.startswith("online")
    zone = "Normal" if mem.auto_online == "online_kernel" else "Movable"
    for index in range(-(-start // bs), (start + size) // bs):
        block = MemoryBlock(index=index, node=node, online=online, zone=zone, owner=owner)
        mem.blocks[index] = block
        _add_block(k, block)


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
    nodes = {b.node for b in blocks}
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


# -- /sys/devices/system/memory ---------------------------------------------------------------


def block_size_bytes_show(k: Kernel, mem: Memory) -> str:
    # Hex without the 0x prefix.
    return f"{mem.block_size:x}"


def auto_online_blocks_show(k: Kernel, mem: Memory) -> str:
    return mem.auto_online


def auto_online_blocks_store(k: Kernel, mem: Memory, buf: bytes) -> None:
    """The policy for hot-added blocks (3.3)."""
    not_emulated(k, "memory", "auto_online_blocks")


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
    """``online``/``online_kernel``/``online_movable``/``offline``: EINVAL if the block is
    in that state already (3.3)."""
    not_emulated(k, k.dev(block), "state")


def online_show(k: Kernel, block: MemoryBlock) -> int:
    return int(block.online)


def online_store(k: Kernel, block: MemoryBlock, buf: bytes) -> None:
    not_emulated(k, k.dev(block), "online")


def valid_zones_show(k: Kernel, block: MemoryBlock) -> str:
    return block.zone if block.online else "Normal Movable"


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


def online_nodes_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.online_nodes())


def possible_nodes_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.online_nodes())


def has_memory_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.nodes_with_memory())


def has_normal_memory_show(k: Kernel, mem: Memory) -> str:
    return node_list(mem.nodes_with_memory())


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


def cpulist_show(k: Kernel, node: int) -> str:
    return "0-3" if node in k.memory.cpu_nodes and node == 0 else ""


def distance_show(k: Kernel, node: int) -> str:
    return " ".join("10" if n == node else "20" for n in k.memory.online_nodes())


def meminfo_show(k: Kernel, node: int) -> str:
    mem = k.memory
    online = sum(mem.block_size for b in mem.blocks.values() if b.node == node and b.online)
    return node_meminfo(node, online)


def _access() -> Dir:
    # Access classes: performance from initiators to this node (nothing reported here).
    return static_dir({"initiators": static_dir({}), "targets": static_dir({})})


def _node_memory_links(k: Kernel, node: int) -> dict[str, Node]:
    return {
        f"memory{b.index}": Link(f"{MEMORY_ROOT}/memory{b.index}")
        for b in k.memory.blocks.values()
        if b.node == node
    }


NODE: DeviceType[int] = DeviceType(
    "node",
    get=lambda k, dev: int(dev.name[len("node") :]),
    entries={
        "cpulist": show_only(cpulist_show),
        "distance": show_only(distance_show),
        "meminfo": show_only(meminfo_show),
        "access0": lambda k, node: _access(),
        "access1": lambda k, node: _access(),
    },
    more=_node_memory_links,
    power=True,
)
