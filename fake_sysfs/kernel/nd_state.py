"""The state the nvdimm core keeps for a CXL pmem region: the nd region, its mappings, its
namespaces and the devices that claim them (btt, pfn, nd dax), and the info block a claim
leaves on the media.

A leaf module (dataclasses only) so that the kernel state, the memdevs and every nd family
can name these types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fake_sysfs.record import Record

NULL_UUID = "00000000-0000-0000-0000-000000000000"
#: Sector sizes a pmem namespace and a btt support (the nvdimm core's tables, PMEM side).
NS_SECTOR_SIZES = (512, 4096)
BTT_SECTOR_SIZES = (512, 520, 528, 4096, 4104, 4160, 4224)
#: Alignments pfn and nd dax devices support on x86-64 (nd_pfn_supported_alignments()):
#: the page, the PMD size with transparent huge pages, and the PUD size, as x86-64 selects
#: HAVE_ARCH_TRANSPARENT_HUGEPAGE_PUD (only powerpc overrides has_transparent_pud_hugepage).
SUPPORTED_ALIGNMENTS = (4096, 2 << 20, 1 << 30)


@dataclass(eq=False, repr=False)
class NdMapping(Record):
    """One DIMM's part of the region: ``size`` bytes of its DPA from ``start``."""

    nmem: int
    #: The memdev whose DIMM ``nmem`` is (labels live on the memdev).
    memdev: int
    start: int
    size: int
    position: int


@dataclass(eq=False, repr=False)
class InfoBlock(Record):
    """What a claim device wrote at the start of its namespace (the btt / pfn / dax info
    block on the media): enough to find the claim again when the namespace is probed."""

    kind: str  # "btt", "pfn" or "dax"
    uuid: str
    mode: str = "pmem"  # pfn / dax: where the page map lives ("pmem" or "ram")
    align: int = 2 << 20
    sector_size: int = 4096


@dataclass(eq=False, repr=False)
class Claim(Record):
    """A btt, pfn or nd dax device: ``bttN.M`` / ``pfnN.M`` / ``daxN.M`` of the nd bus."""

    kind: str  # "btt", "pfn" or "dax"
    id: int
    uuid: str = ""
    #: pfn / dax: "none" until set, then "pmem" or "ram".
    mode: str = "none"
    align: int = 2 << 20
    sector_size: int = 0
    #: Index of the namespace it claims in its region, or -1.
    namespace: int = -1
    #: Block device minor while enabled (btt, pfn), -1 otherwise.
    minor: int = -1


@dataclass(eq=False, repr=False)
class Namespace(Record):
    """``namespaceN.M``: a label-backed pmem namespace."""

    index: int
    uuid: str = ""
    alt_name: str = ""
    #: Bytes allocated on each mapping, as [offset, size] extents relative to the mapping.
    extents: list[list[int]] = field(default_factory=list)
    #: 0 until chosen (reads list the sizes without brackets).
    sector_size: int = 0
    holder_class: str = ""
    force_raw: bool = False
    #: Block device minor while enabled raw, -1 otherwise.
    minor: int = -1

    def per_mapping(self) -> int:
        return sum(size for _, size in self.extents)


@dataclass(eq=False, repr=False)
class NdRegion(Record):
    """The nd region ``regionN`` of CXL pmem region N."""

    id: int
    bus: int
    start: int
    mappings: list[NdMapping] = field(default_factory=list)
    align: int = 16 << 20
    cookie: int = 0
    read_only: bool = False
    target_node: int = -1
    namespaces: list[Namespace] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    ns_seed: int = -1
    btt_seed: int = -1
    pfn_seed: int = -1
    dax_seed: int = -1
    #: init_namespaces: how many namespace devices the last probe registered, and that
    #: plus how many failed to (nd_region_probe's ns_active / ns_count).
    init_active: int = 0
    init_count: int = 0

    @property
    def name(self) -> str:
        return f"region{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/nd/{self.name}"

    @property
    def size(self) -> int:
        return sum(m.size for m in self.mappings)

    @property
    def ways(self) -> int:
        return max(1, len(self.mappings))

    def namespace(self, index: int) -> Namespace | None:
        return next((ns for ns in self.namespaces if ns.index == index), None)

    def claim(self, kind: str, cid: int) -> Claim | None:
        return next((c for c in self.claims if c.kind == kind and c.id == cid), None)
