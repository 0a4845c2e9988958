"""``/sys/devices/system/cpu``: the machine's CPUs, as topology tools read them.

The platform gives a count (``cpus``); each CPU is a core of its own in one package, on
NUMA node 0. They are drawn as plain directories: nothing in the emulation binds to them,
but hwloc and libnuma look here for the CPU topology before they read the NUMA nodes.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.kernel.memory import cpu_mask, node_cpus, node_list
from fake_sysfs.kernfs.nodes import Attr, Dir, Link, Node, static_dir, uevent

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

CPU_ROOT = "devices/system/cpu"
#: NR_CPUS - 1 of a distribution kernel.
KERNEL_MAX = 8191


def _topology(k: Kernel, cpu: int) -> dict[str, Node]:
    nbits = k.memory.cpus
    everyone = list(range(nbits))
    own = [cpu]
    entries: dict[str, Node] = {
        "physical_package_id": Attr(0o444, value=0),
        "die_id": Attr(0o444, value=0),
        "cluster_id": Attr(0o444, value=cpu),
        "core_id": Attr(0o444, value=cpu),
    }
    # Each CPU is a core (one thread) of the one package and die.
    for name, cpus in (
        ("thread_siblings", own),
        ("core_cpus", own),
        ("cluster_cpus", own),
        ("core_siblings", everyone),
        ("die_cpus", everyone),
        ("package_cpus", everyone),
    ):
        entries[name] = Attr(0o444, value=cpu_mask(cpus, nbits))
        entries[f"{name}_list"] = Attr(0o444, value=node_list(cpus))
    return entries


def _cpu(k: Kernel, cpu: int) -> dict[str, Node]:
    node = k.memory.cpu_nodes[0]
    entries: dict[str, Node] = {
        "topology": Dir(partial(_topology, k, cpu)),
        f"node{node}": Link(f"devices/system/node/node{node}"),
        "uevent": uevent([]),
        "power": static_dir({}),
    }
    if cpu:
        entries["online"] = Attr(0o644, value=1)  # the boot CPU cannot go offline
    return entries


def cpu_root_entries(k: Kernel) -> dict[str, Node]:
    every = node_list(list(range(k.memory.cpus)))
    entries: dict[str, Node] = {
        "online": Attr(0o444, value=every),
        "possible": Attr(0o444, value=every),
        "present": Attr(0o444, value=every),
        "offline": Attr(0o444, value=""),
        "kernel_max": Attr(0o444, value=KERNEL_MAX),
        "uevent": uevent([]),
        "power": static_dir({}),
    }
    for cpu in range(k.memory.cpus):
        entries[f"cpu{cpu}"] = Dir(partial(_cpu, k, cpu))
    return entries


def node_cpu_links(k: Kernel, node: int) -> dict[str, Node]:
    """``nodeK/cpuN``, for the CPUs of the node."""
    return {f"cpu{c}": Link(f"{CPU_ROOT}/cpu{c}") for c in node_cpus(k, node)}
