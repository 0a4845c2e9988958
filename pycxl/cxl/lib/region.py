"""Regions (``regionN`` inside a root decoder) and their mappings."""

from __future__ import annotations

from pycxl.util.cparse import ULLONG_MAX, to_uint
from pycxl.util.sysattr import attr_int, attr_u64

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pycxl.cxl.lib.decoder import Decoder
    from pycxl.cxl.lib.port import Bus

UINT_MAX = 0xFFFFFFFF
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_UUID_GROUPS = [8, 4, 4, 4, 12]


def is_uuid(text: str) -> bool:
    """The canonical UUID form: groups of 8, 4, 4, 4 and 12 hex digits (either case)
    joined by hyphens, and nothing else."""
    groups = text.split("-")
    return [len(g) for g in groups] == _UUID_GROUPS and all(
        _HEX_DIGITS.issuperset(g) for g in groups
    )


class Mapping:
    def __init__(self, region: Region, position: int, decoder: Decoder) -> None:
        self.region = region
        self.position = position
        self.decoder = decoder


class Region:
    def __init__(self, decoder: Decoder, region_id: int, dev_path: str) -> None:
        self.decoder = decoder
        self.ctx = decoder.ctx
        self.id = region_id
        self.dev_path = dev_path
        self.devname = dev_path.rpartition("/")[2]
        self.size = ULLONG_MAX
        self.start = 0
        self.uuid = ""
        self.interleave_granularity = UINT_MAX
        self.interleave_ways = UINT_MAX
        #: 1 committed, 0 reset, -1 unknown.
        self.commit = -1
        self.mode = "none"
        self._mappings: list[Mapping] | None = None

    @classmethod
    def create(cls, decoder: Decoder, region_id: int, dev_path: str) -> Region | None:
        region = cls(decoder, region_id, dev_path)
        ctx = decoder.ctx
        if ctx.log.debug:
            ctx.log.dbg("add_cxl_region", f"{region.devname}: base: '{dev_path}'\n")
        (size, resource, uuid, granularity, ways, commit, mode, _) = ctx.read_attrs(
            dev_path,
            [
                "size",
                "resource",
                "uuid",
                "interleave_granularity",
                "interleave_ways",
                "commit",
                "mode",
                "modalias",
            ],
        )
        region.size = attr_u64(size, ULLONG_MAX)
        start = attr_u64(resource, 0)
        region.start = 0 if start == ULLONG_MAX else start
        if uuid is None or (uuid and not is_uuid(uuid)):
            return None
        region.uuid = uuid
        region.interleave_granularity = to_uint(attr_u64(granularity, UINT_MAX))
        region.interleave_ways = to_uint(attr_u64(ways, UINT_MAX))
        region.commit = attr_int(commit, -1)
        region.mode = {"ram": "ram", "volatile": "ram", "pmem": "pmem"}.get(mode or "", "none")
        return region

    def is_enabled(self) -> bool:
        return self.ctx.is_enabled(self.dev_path)

    @property
    def committed(self) -> bool:
        return self.commit == 1

    def bus(self) -> Bus | None:
        return self.decoder.port.bus()

    def mappings(self) -> list[Mapping]:
        """One mapping per readable ``targetN`` naming a known decoder, highest first."""
        if self._mappings is None:
            self._mappings = []
            ways = self.interleave_ways
            if ways == UINT_MAX:
                # Upstream v81 would loop to 2^32 here; there are no targets to read.
                return self._mappings
            log = self.ctx.log
            for position in range(ways):
                name = self.ctx.read_attr(f"{self.dev_path}/target{position}")
                if name is None:
                    log.err(
                        "cxl_mappings_init", f"{self.devname}: failed to read target{position}\n"
                    )
                    continue
                decoder = find_decoder(self.ctx.buses(), name)
                if decoder is None:
                    log.err(
                        "cxl_mappings_init",
                        f"{self.devname} target{position}: {name} lookup failure\n",
                    )
                    continue
                self._mappings.insert(0, Mapping(self, position, decoder))
        return self._mappings


def find_decoder(buses: list[Bus], name: str) -> Decoder | None:
    """A decoder by name. Order: each bus's root decoders, the decoders of endpoints right
    below the root, then every port depth first (its decoders, then its endpoints')."""
    for bus in buses:
        for dec in bus.decoders():
            if dec.devname == name:
                return dec
        for ep in bus.endpoints():
            for dec in ep.decoders():
                if dec.devname == name:
                    return dec
        for port in bus.descendants():
            for dec in port.decoders():
                if dec.devname == name:
                    return dec
            for ep in port.endpoints():
                for dec in ep.decoders():
                    if dec.devname == name:
                        return dec
    return None
