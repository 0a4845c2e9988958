"""How a region's host physical addresses are spread over its members' device physical
addresses (CXL 3.1 8.2.4.20, HDM decoders; 9.13.1, XOR interleave arithmetic).

A region of ``ways`` members at ``granularity`` decodes its HPA range granule by granule:
granule ``g`` of the region (counted from the region's start) belongs to the member at
position ``g % ways``, which stores it as its own granule ``g // ways`` from the DPA base
of its endpoint decoder. That is modulo arithmetic, and what every switch and endpoint
decoder does; 3, 6 and 12 ways are the same integer arithmetic.

A window with XOR arithmetic (the root decoder's CFMWS says so) selects the host bridge
differently: for each XOR map of the CXIMS table, the lowest bit the map names is replaced
by the parity of all the address bits the map selects. Linux undoes that selection when it
translates a DPA (cxl_xor_hpa_to_spa); the replacement is its own inverse (the maps' lowest
bits are distinct and no map reads another's lowest bit), so the same step maps an HPA back
to the address the modulo decoders below the root see.

One module for both directions, used by everything that translates: a pmem block device's
I/O (kernel.media) and the HPA the poison and event records report (kernel.mailbox).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fake_sysfs.kernel.regions import Region
    from fake_sysfs.kernel.state import Kernel

#: The XOR maps of the CXIMS table the emulated firmware publishes: cxl_test's (host bridge
#: interleave granularity 256). The platform model names no other table, so every XOR
#: window of every platform uses these.
CXIMS_XORMAPS = (0x404100, 0x808200)


def xormaps_for(host_bridge_ways: int) -> tuple[int, ...]:
    """The maps an XOR window of ``host_bridge_ways`` targets uses: one per power-of-two
    factor of its ways (none for 1 and 3 ways, whose selection needs no map)."""
    count = 0
    ways = host_bridge_ways
    while ways > 1 and ways % 2 == 0:
        ways //= 2
        count += 1
    return CXIMS_XORMAPS[:count]


def _xor_fold(hpa: int, maps: tuple[int, ...]) -> int:
    for xormap in maps:
        low = xormap & -xormap
        parity = (hpa & xormap).bit_count() & 1
        hpa = (hpa & ~low) | (low if parity else 0)
    return hpa


@dataclass(frozen=True)
class Interleave:
    """A committed region's decode: its HPA range, ways, granularity and the XOR maps of
    its window (empty for modulo arithmetic)."""

    start: int
    size: int
    ways: int
    granularity: int
    xormaps: tuple[int, ...] = ()

    def locate(self, hpa: int) -> tuple[int, int]:
        """(position, DPA offset within the member's decoder) of host address ``hpa``."""
        offset = _xor_fold(hpa, self.xormaps) - self.start
        granule, within = divmod(offset, self.granularity)
        return granule % self.ways, (granule // self.ways) * self.granularity + within

    def address(self, position: int, dpa_offset: int) -> int:
        """The host address of byte ``dpa_offset`` of the member at ``position``."""
        granule, within = divmod(dpa_offset, self.granularity)
        offset = (granule * self.ways + position) * self.granularity + within
        return _xor_fold(self.start + offset, self.xormaps)

    def run(self, hpa: int) -> int:
        """How many bytes from ``hpa`` on stay contiguous on one member: up to the next
        granule, or to the next 2^n boundary at which an XOR map's lowest bit can flip."""
        step = self.granularity
        for xormap in self.xormaps:
            step = min(step, xormap & -xormap)
        # Granules count from the region's start, XOR bits from address 0: both are
        # multiples of ``step`` apart for any real window (256 MiB aligned).
        return step - (hpa - self.start) % step


def of_region(k: Kernel, region: Region) -> Interleave:
    """The decode of a region with an HPA range (its ways and granularity as set)."""
    from fake_sysfs.kernel.regions import root_decoder

    root = root_decoder(k, region)
    xor = False
    if region.root_port == 0 and region.root_decoder < len(k.platform.windows):
        xor = k.platform.windows[region.root_decoder].xor
    maps = xormaps_for(len(root.targets)) if xor else ()
    return Interleave(
        start=region.start or 0,
        size=region.size,
        ways=max(1, region.ways),
        granularity=region.granularity or 256,
        xormaps=maps,
    )
