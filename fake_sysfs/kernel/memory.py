"""Memory blocks (``/sys/devices/system/memory``) and NUMA nodes (``.../system/node``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fake_sysfs.kernfs.nodes import Attr, Node, not_emulated, ro, uevent


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


def memory_attrs(mem: Memory) -> dict[str, Node]:
    return {
        # block_size_bytes is hex without the 0x prefix.
        "block_size_bytes": ro(f"{mem.block_size:x}"),
        "auto_online_blocks": Attr(0o644, lambda: f"{mem.auto_online}\n".encode(), not_emulated),
        "uevent": uevent([]),
    }


def block_attrs(block: MemoryBlock) -> dict[str, Node]:
    state = "online" if block.online else "offline"
    zones = block.zone if block.online else "Normal Movable"
    return {
        "phys_index": ro(f"{block.index:08x}"),
        "state": Attr(0o644, lambda: f"{state}\n".encode(), not_emulated),
        "online": Attr(0o644, lambda: f"{int(block.online)}\n".encode(), not_emulated),
        "valid_zones": ro(zones),
        "removable": ro(int(block.removable)),
        "phys_device": ro(0),
        "uevent": uevent([]),
    }


def node_root_attrs(mem: Memory) -> dict[str, Node]:
    online = node_list(mem.online_nodes())
    with_memory = node_list(mem.nodes_with_memory())
    return {
        "online": ro(online),
        "possible": ro(online),
        "has_memory": ro(with_memory),
        "has_normal_memory": ro(with_memory),
        "has_cpu": ro(node_list(mem.cpu_nodes)),
        "uevent": uevent([]),
    }
