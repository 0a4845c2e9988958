"""The kernel's state as a whole, and the lookups every object family shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fake_sysfs import codec
from fake_sysfs.kernel.dax import DaxRegion
from fake_sysfs.kernel.memdevs import Memdev
from fake_sysfs.kernel.memory import Memory
from fake_sysfs.kernel.nvdimm import NvdimmBridge
from fake_sysfs.kernel.ports import Port
from fake_sysfs.kernel.regions import Region
from fake_sysfs.platform.model import Platform

#: Bumped whenever the stored state's shape changes incompatibly.
STATE_FORMAT = 1


@dataclass
class Kernel:
    platform: Platform
    memory: Memory
    ports: dict[int, Port] = field(default_factory=dict)
    memdevs: dict[int, Memdev] = field(default_factory=dict)
    regions: dict[int, Region] = field(default_factory=dict)
    dax_regions: dict[int, DaxRegion] = field(default_factory=dict)
    bridges: list[NvdimmBridge] = field(default_factory=list)

    # -- lookups -------------------------------------------------------------------------

    def root(self) -> Port | None:
        for port in self.ports.values():
            if port.kind == "root":
                return port
        return None

    def path_to_root(self, port: Port) -> list[Port]:
        """``port`` and its ancestors, ending with the root."""
        chain = [port]
        while chain[-1].parent is not None:
            chain.append(self.ports[chain[-1].parent])
        return chain

    def allocated_region_ids(self) -> set[int]:
        used = set(self.regions)
        root = self.root()
        if root is not None:
            used.update(d.next_region for d in root.decoders if d.next_region >= 0)
        return used

    # -- persistence ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = codec.dump(self)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kernel:
        return codec.load(cls, data)
