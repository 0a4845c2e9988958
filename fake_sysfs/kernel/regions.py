"""CXL regions (``regionN`` below a root decoder): state, attributes, the cxl_region driver,
the region state machine, hierarchy programming, commit and reset, teardown, and regions
firmware committed before boot (kernel-sysfs.md 2.5, 2.7, 2.8).

The memregion id space is global (shared with nvdimm regions): each root decoder holds the
id ``create_*_region`` offers; creating a region consumes it and the decoder takes the
lowest free id.

A region goes IDLE -> INTERLEAVE_ACTIVE (``size`` set) -> ACTIVE (every ``targetN`` set and
the hierarchy validated) -> COMMIT (the decoders programmed in hardware). Each endpoint
decoder attached holds, at every port between it and the root, the port's decoder for this
region (a RegionRef: cxl_region_ref), which counts the distinct downstream ports the
region's endpoints use there. When the last target arrives the switch and host-bridge
decoders are programmed in software (``setup_targets``); ``commit`` then enables every
decoder bottom-up in its port's commit order.

Binding a committed region to cxl_region gives it a child for the next driver: a RAM
region's ``dax_regionN`` (cxl_dax_region, then kmem: kernel.dax) or a PMEM region's
``pmem_regionN`` (cxl_pmem_region: kernel.nvdimm). Unbinding unregisters that child and
everything below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from itertools import pairwise
from typing import TYPE_CHECKING, Literal

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.kernel import changes, core, hardware
from fake_sysfs.kernel.attrs import (
    c_string,
    const,
    fail_after_change,
    kstrtobool,
    kstrtoint,
    kstrtouint,
    kstrtoull,
    show_only,
    show_store,
    streq,
    written_name,
)
from fake_sysfs.kernel.core import Device, DeviceType, lowest_free_id
from fake_sysfs.kernel.cxlbus import CXL_DEVICE_REGION, cxl_driver
from fake_sysfs.kernel.decoders import (
    Decoder,
    commit_decoder,
    free_dpa_starts,
    reserve_dpa,
    reset_decoder,
)
from fake_sysfs.kernfs.nodes import Attr, Node, Shown
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.ports import Port
    from fake_sysfs.kernel.state import Kernel
    from fake_sysfs.platform.model import Window

RegionMode = Literal["ram", "pmem"]
RegionState = Literal["idle", "interleave_active", "active", "commit"]
U64_MAX = (1 << 64) - 1
NULL_UUID = "00000000-0000-0000-0000-000000000000"
SZ_256M = 256 << 20
#: The numbers the kernel prints for a region's state (enum cxl_config_state) ...
_STATE = {"idle": 0, "interleave_active": 1, "active": 2, "reset_pending": 3, "commit": 4}
#: ... and for a decoder's mode (enum cxl_decoder_mode; "mixed" is also what dead ones show).
_MODE = {"none": 0, "ram": 1, "pmem": 2, "mixed": 3}
#: Interleave ways a region may have, and granularities any decoder may have (2.7.1).
WAYS = (1, 2, 4, 8, 16, 3, 6, 12)
GRANULARITIES = (256, 512, 1024, 2048, 4096, 8192, 16384)
#: The target type of every decoder here (host-only memory, a type-3 expander).
HOSTONLYMEM = 3


@dataclass(eq=False, repr=False)
class RegionRef(Record):
    """A region's hold on one port between its endpoints and the root (cxl_region_ref)."""

    #: Index of the port's decoder the region uses (an endpoint port's: the target itself).
    decoder: int
    #: Distinct downstream ports of the port that the region's endpoints use.
    nr_targets: int = 1
    #: How many of them validation has placed in the decoder's target list so far.
    nr_targets_set: int = 0
    #: The endpoint decoders reached through this port, in the order they attached.
    endpoints: list[str] = field(default_factory=list)


# The kernel's cxl_region_ref is no sysfs file: a region's references show in the region's
# directory at most, never below it (nor below the ports they name, thousands of devices).
changes.shown_by_holder_only(RegionRef)


@dataclass(eq=False, repr=False)
class Region(Record):
    id: int
    #: The root decoder, as (port id, decoder index).
    root_port: int
    root_decoder: int
    mode: RegionMode
    uuid: str = NULL_UUID
    ways: int = 0
    granularity: int = 0
    start: int | None = None
    size: int = 0
    #: Endpoint decoder names by position ("" for an empty slot).
    targets: list[str] = field(default_factory=list)
    state: RegionState = "idle"
    #: Assembled from firmware-committed decoders.
    auto: bool = False
    #: The ports the region holds a decoder of, by port id.
    refs: dict[int, RegionRef] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"region{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"

    def nr_targets(self) -> int:
        return sum(1 for name in self.targets if name)


def region_of(k: Kernel, dev: Device) -> Region:
    """The region of ``regionN``, ``pmem_regionN`` or ``dax_regionN`` (they share N)."""
    return k.regions[int(dev.name.rpartition("region")[2])]


def root_decoder(k: Kernel, region: Region) -> Decoder:
    return k.ports[region.root_port].decoders[region.root_decoder]


def _state(region: Region) -> int:
    return _STATE[region.state]


def _range(start: int | None, size: int) -> str:
    """``%pr`` of a memory resource."""
    begin = 0 if start is None else start
    return f"[mem {begin:#x}-{begin + size - 1:#x} flags 0x200]"


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _basename(path: str) -> str:
    return path.rpartition("/")[2]


# -- endpoint decoders and the ports above them ------------------------------------------------


def endpoint_decoder(k: Kernel, name: str) -> Decoder | None:
    """The endpoint decoder called ``name``, if it is registered."""
    dev = core.find_device(k, "cxl", name)
    if dev is None or dev.type != "cxl_decoder_endpoint":
        return None
    port, _, index = name[len("decoder") :].partition(".")
    return k.ports[int(port)].decoders[int(index)]


def memdev_of_decoder(k: Kernel, dec: Decoder) -> Memdev:
    mem = k.ports[dec.port].memdev
    assert mem is not None
    return k.memdevs[mem]


def ports_of(k: Kernel, dec: Decoder) -> list[Port]:
    """The ports from ``dec``'s endpoint up to the root, the root excluded."""
    return k.path_to_root(k.ports[dec.port])[:-1]


def _ep(k: Kernel, port: Port, dec: Decoder) -> tuple[int | None, int | None]:
    """Where ``dec``'s memdev is reached from ``port`` (struct cxl_ep): the next port down
    and the dport of ``port`` leading to it; (None, None) at the endpoint port itself."""
    chain = k.path_to_root(k.ports[dec.port])
    i = next(i for i, p in enumerate(chain) if p.id == port.id)
    if i == 0:
        return None, None
    below = chain[i - 1]
    dport = next((d.id for d in port.dports if d.device == below.parent_dport), None)
    return below.id, dport


def _uport(port: Port) -> str:
    return _basename(port.uport)


def _ref_decoder(k: Kernel, port: Port, ref: RegionRef) -> Decoder:
    return port.decoders[ref.decoder]


# -- registration ------------------------------------------------------------------------------


def add_region(k: Kernel, region: Region) -> None:
    """Register ``region`` below its root decoder, which then offers the next free id. The
    bus probes it at once: only a committed region binds."""
    k.regions[region.id] = region
    root_decoder(k, region).next_region = lowest_free_id(k.allocated_region_ids())
    core.device_add(k, Device(region.name, root_decoder(k, region).devkey, "cxl_region", "cxl"))


def _root_platform_device(k: Kernel, root: Decoder) -> Device | None:
    """The device the root port's uport is (cxl_acpi's platform device)."""
    return k.devices.get(hardware.hw_key(k, k.ports[root.port].uport) or "")


def create_region(k: Kernel, root: Decoder, mode: RegionMode) -> Region:
    """What ``create_{pmem,ram}_region`` does once the written name matched the offer: a
    new idle region with the offered id (2.3)."""
    region = Region(id=root.next_region, root_port=root.port, root_decoder=root.index, mode=mode)
    add_region(k, region)
    k.log.dbg(_root_platform_device(k, root), f"{root.name}: created {region.name}")
    return region


def child_region(k: Kernel, root: Decoder, buf: bytes) -> Region | None:
    """The region below ``root`` whose name was written (compared as sysfs_streq does)."""
    name = written_name(buf)
    for region in k.regions.values():
        if (region.root_port, region.root_decoder, region.name) == (root.port, root.index, name):
            return region
    return None


def unregister_region(k: Kernel, region: Region) -> None:
    """``delete_region`` and the root's teardown: the region loses its driver, every target
    is detached (a committed region is reset first), the HPA range is released and the
    device goes; its id may be offered again."""
    dev = k.dev(region)
    core.device_release_driver(k, dev)
    for pos in range(region.ways):
        detach_target(k, region, pos)
    region.start = None
    core.device_unregister(k, dev)


def _release(k: Kernel, dev: Device) -> None:
    region = k.regions.pop(int(dev.name[len("region") :]))
    for port in k.ports.values():
        for dec in port.decoders:
            if dec.region == region.id:
                dec.region = None
                if dec.kind != "root":
                    dec.start = dec.size = 0
    # A freed id lower than the one its root decoder offers is offered again.
    root = k.ports.get(region.root_port)
    if root is not None and region.root_decoder < len(root.decoders):
        offer = root.decoders[region.root_decoder]
        offer.next_region = min(offer.next_region, region.id)


# -- the cxl_region driver ---------------------------------------------------------------------


def _system_ram(k: Kernel, start: int, size: int) -> bool:
    """Whether any of ``[start, start + size)`` is System RAM already (memory blocks)."""
    bs = k.memory.block_size
    return any(
        start < (b.index + 1) * bs and b.index * bs < start + size for b in k.memory.blocks.values()
    )


def cxl_region_probe(k: Kernel, dev: Device) -> None:
    """Only a committed region binds (ENXIO otherwise). A pmem region gets its
    pmem_region (ENODEV without an nvdimm bridge); a ram region its dax_region, unless part
    of its range is System RAM already (then nothing)."""
    region = region_of(k, dev)
    if _state(region) < _STATE["commit"]:
        k.log.dbg(dev, f"config state: {_state(region)}")
        raise kerr(errno.ENXIO)
    if region.mode == "pmem":
        if not k.bridges:
            k.log.dbg(dev, "nvdimm bridge not found")
            raise kerr(errno.ENODEV)
        core.device_add(k, Device(f"pmem_region{region.id}", dev.key, "cxl_pmem_region", "cxl"))
    elif region.start is not None:
        if _system_ram(k, region.start, region.size):
            return
        core.device_add(k, Device(f"dax_region{region.id}", dev.key, "cxl_dax_region", "cxl"))


def cxl_region_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


CXL_REGION_DRIVER = cxl_driver("cxl_region", CXL_DEVICE_REGION, cxl_region_probe, cxl_region_remove)


# -- attaching a target (2.5 targetN, 2.7.2) ---------------------------------------------------


def attach(k: Kernel, region: Region, dec: Decoder, pos: int) -> None:
    """Attach endpoint decoder ``dec`` at position ``pos`` (cxl_region_attach): the
    checks in their order, then each port's decoder reserved; the last target validates
    and programs the hierarchy. A failed validation keeps the target recorded."""
    rdev = k.dev(region)
    mem = memdev_of_decoder(k, dec)
    who = f"{mem.name}:{dec.name}"
    if dec.mode != region.mode:
        k.log.dbg(
            rdev,
            f"{dec.name} region mode: {_MODE[region.mode]} mismatch: {_MODE.get(dec.mode, 3)}",
        )
        raise kerr(errno.EINVAL)
    if _state(region) > _STATE["interleave_active"]:
        k.log.dbg(rdev, "region already active")
        raise kerr(errno.EBUSY)
    if _state(region) < _STATE["interleave_active"]:
        k.log.dbg(rdev, "interleave config missing")
        raise kerr(errno.ENXIO)
    if region.nr_targets() >= region.ways:
        k.log.dbg(rdev, f"region already has {region.nr_targets()} endpoints")
        raise kerr(errno.EINVAL)
    root = root_decoder(k, region)
    root_port = k.ports[region.root_port]
    host_bridge = k.path_to_root(k.ports[dec.port])[-2].parent_dport
    dport = next((d for d in root_port.dports if d.device == host_bridge), None)
    if dport is None:
        k.log.dbg(rdev, f"{who} invalid target for {root.name}")
        raise kerr(errno.ENXIO)
    if dec.target_type != "expander":
        k.log.dbg(rdev, f"{who} type mismatch: 2 vs {HOSTONLYMEM}")
        raise kerr(errno.ENXIO)
    if dec.dpa_base is None:
        k.log.dbg(rdev, f"{who}: missing DPA allocation.")
        raise kerr(errno.ENXIO)
    if dec.dpa_size * region.ways != region.size:
        k.log.dbg(
            rdev,
            f"{who}: decoder-size-{dec.dpa_size:#x} * ways-{region.ways} "
            f"!= region-size-{region.size:#x}",
        )
        raise kerr(errno.EINVAL)
    if region.auto:
        # Positions of a region firmware set up come from the hardware, not from userspace.
        if not dec.auto:
            k.log.err(rdev, f"{dec.name}: unable to add decoder to autodetected region")
        else:
            k.log.dbg(rdev, f"{dec.name}: expected auto position, not {pos}")
        raise kerr(errno.EINVAL)
    _validate_position(k, region, dec, mem, pos)
    if dport.id != root.targets[pos % root.ways]:
        k.log.dbg(rdev, f"{who} invalid target position for {root.name}")
        raise kerr(errno.ENXIO)
    # A failure below is not undone here: the store fails and its transaction goes.
    for port in ports_of(k, dec):
        _port_attach(k, region, port, dec, pos)
    region.targets[pos] = dec.name
    if region.nr_targets() == region.ways:
        try:
            setup_targets(k, region)
        except KernfsError as e:
            # The target stays recorded, the region waiting for targets: userspace has to
            # clear one before trying again.
            fail_after_change(k, e.errno or errno.ENXIO)
        region.state = "active"
    dec.ways, dec.granularity = region.ways, region.granularity
    dec.start, dec.size = region.start or 0, region.size
    if region.state == "active":
        for i, name in enumerate(region.targets):
            target = _decoder_named(k, name)
            test = calc_interleave_pos(k, target)
            k.log.dbg(
                k.dev(target),
                "Test cxl_calc_interleave_pos(): "
                f"{'success' if test == i else 'fail'} test_pos:{test} cxled->pos:{i}",
            )


def _decoder_named(k: Kernel, name: str) -> Decoder:
    port, _, index = name[len("decoder") :].partition(".")
    return k.ports[int(port)].decoders[int(index)]


def _validate_position(k: Kernel, region: Region, dec: Decoder, mem: Memdev, pos: int) -> None:
    rdev = k.dev(region)
    if not 0 <= pos < region.ways:
        k.log.dbg(rdev, f"position {pos} out of range {region.ways}")
        raise kerr(errno.ENXIO)
    held = region.targets[pos]
    if held == dec.name:
        # Attaching the decoder already at this position again: the kernel's second pass
        # over the ports fails on the duplicate endpoint entry (and then drops that
        # endpoint's bookkeeping while the target stays, a quirk not reproduced).
        k.log.dbg(
            rdev,
            f"{k.ports[dec.port].name}: failed to track endpoint {mem.name}:{dec.name} reference",
        )
        raise kerr(errno.EBUSY)
    if held:
        other = _decoder_named(k, held)
        k.log.dbg(
            rdev,
            f"position {pos} already assigned to {memdev_of_decoder(k, other).name}:{held}",
        )
        raise kerr(errno.EBUSY)
    for name in region.targets:
        if name and memdev_of_decoder(k, _decoder_named(k, name)).id == mem.id:
            k.log.dbg(rdev, f"{mem.name} already specified at position {pos} via: {name}")
            raise kerr(errno.EBUSY)


def _find_free_decoder(k: Kernel, port: Port) -> Decoder | None:
    """A port's decoder for a new region: the next one to commit, if no region holds it
    and every lower one is enabled (after an out-of-order reset none is free)."""
    index = port.decoders_committed()
    if index >= len(port.decoders):
        return None
    cand = port.decoders[index]
    if cand.region is not None:
        k.log.dbg(
            k.dev(port),
            f"next decoder to commit ({cand.name}) is already reserved (region{cand.region})",
        )
        return None
    if any(not lower.committed for lower in port.decoders[:index]):
        k.log.dbg(k.dev(port), f"unable to allocate {cand.name} due to out of order shutdown")
        return None
    return cand


def _port_attach(k: Kernel, region: Region, port: Port, dec: Decoder, pos: int) -> None:
    """Hold a decoder of ``port`` for the region and count the distinct downstream ports
    its endpoints use there (cxl_port_attach_region)."""
    rdev = k.dev(region)
    mem = memdev_of_decoder(k, dec)
    ep_next, _ = _ep(k, port, dec)
    ref = region.refs.get(port.id)
    if ref is not None:
        shares = any(
            _ep(k, port, _decoder_named(k, other))[0] == ep_next
            for other in ref.endpoints
            if other != dec.name
        )
        if not shares or ep_next is None:
            ref.nr_targets += 1
    else:
        for other in k.regions.values():
            if other is region or port.id not in other.refs or other.start is None:
                continue
            if region.start is not None and other.start >= region.start:
                k.log.dbg(
                    rdev,
                    f"{port.name}: HPA order violation {other.name}:"
                    f"{_range(other.start, other.size)} vs {_range(region.start, region.size)}",
                )
                k.log.dbg(rdev, f"{port.name}: failed to allocate region reference")
                raise kerr(errno.EBUSY)
        cand = dec if port.id == dec.port else _find_free_decoder(k, port)
        if cand is None:
            k.log.dbg(rdev, f"{port.name}: no decoder available")
            raise kerr(errno.EBUSY)
        if cand.region is not None:
            k.log.dbg(rdev, f"{port.name}: {cand.name} already attached to region{cand.region}")
            raise kerr(errno.EBUSY)
        cand.target_type = "expander"
        ref = RegionRef(decoder=cand.index)
        region.refs[port.id] = ref
    cxld = _ref_decoder(k, port, ref)
    if cxld.kind == "switch" and ref.nr_targets > port.decoder_targets:
        k.log.dbg(
            rdev,
            f"{_uport(port)}:{port.name} {cxld.name} add: {mem.name}:{dec.name} @ {pos} "
            f"overflows targets: {port.decoder_targets}",
        )
        raise kerr(errno.ENXIO)
    ref.endpoints.append(dec.name)
    if cxld.region is None:
        cxld.region = region.id
    nxt = "none" if ep_next is None else _uport(k.ports[ep_next])
    k.log.dbg(
        rdev,
        f"{_uport(port)}:{port.name} {cxld.name} add: {mem.name}:{dec.name} @ {pos} "
        f"next: {nxt} nr_eps: {len(ref.endpoints)} nr_targets: {ref.nr_targets}",
    )


# -- validating and programming the hierarchy (2.7.2) ------------------------------------------


def setup_targets(k: Kernel, region: Region) -> None:
    """Validate the region's hierarchy and program its switch and host-bridge decoders, for
    each target in position order from the host bridge down (cxl_region_setup_targets).
    A failure undoes the programming of the ranges (2.7.2 item 3)."""
    rch = vh = False
    for pos, name in enumerate(region.targets):
        dec = _decoder_named(k, name)
        if memdev_of_decoder(k, dec).rcd:
            rch = True
        else:
            vh = True
            for port in reversed(ports_of(k, dec)[1:]):
                try:
                    _port_setup_targets(k, region, port, dec, pos)
                except KernfsError:
                    teardown_targets(k, region)
                    raise
        if rch and vh:
            k.log.err(k.dev(region), "mismatched CXL topologies detected")
            teardown_targets(k, region)
            raise kerr(errno.ENXIO)


def _parent_interleave(k: Kernel, region: Region, port: Port) -> tuple[int, int]:
    """(granularity, ways) of what decodes for ``port`` above it: the region's granularity
    and the root's ways (power-of-two ways, so 3/6/12 count as 1/2/4) at a host bridge,
    else the parent port's decoder for this region."""
    assert port.parent is not None
    parent = k.ports[port.parent]
    if parent.kind == "root":
        ways = root_decoder(k, region).ways
        return region.granularity, ways if _pow2(ways) else ways // 3
    pdec = _ref_decoder(k, parent, region.refs[parent.id])
    return pdec.granularity, pdec.ways


def _port_setup_targets(k: Kernel, region: Region, port: Port, dec: Decoder, pos: int) -> None:
    rdev = k.dev(region)
    mem = memdev_of_decoder(k, dec)
    ref = region.refs[port.id]
    cxld = _ref_decoder(k, port, ref)
    _, dport = _ep(k, port, dec)
    where = f"{_uport(port)}:{port.name}"
    if not _pow2(ref.nr_targets):
        k.log.dbg(rdev, f"{where}: invalid target count {ref.nr_targets}")
        raise kerr(errno.EINVAL)
    if ref.nr_targets_set:
        # The distance between positions one downstream port of this port may host.
        distance = 1
        it: Port = port
        while it.kind != "root":
            distance *= region.refs[it.id].nr_targets
            assert it.parent is not None
            it = k.ports[it.parent]
        distance *= root_decoder(k, region).ways
        if dport in cxld.targets[: ref.nr_targets_set]:
            _check_last_peer(k, region, port, dec, pos, distance)
            _target_set(k, region, port, cxld, ref, dport, dec, pos, inc=0)
            return
    else:
        parent_ig, parent_iw = _parent_interleave(k, region, port)
        iw = ref.nr_targets
        ig = parent_ig * parent_iw
        if ig not in GRANULARITIES:
            assert port.parent is not None
            k.log.dbg(
                rdev,
                f"{k.ports[port.parent].name}: invalid granularity calculation "
                f"({parent_ig} * {parent_iw})",
            )
            raise kerr(errno.EINVAL)
        if iw > 8 or iw > port.decoder_targets:
            k.log.dbg(
                rdev,
                f"{where}:{cxld.name}: ways: {iw} overflows targets: {port.decoder_targets}",
            )
            raise kerr(errno.ENXIO)
        cxld.ways, cxld.granularity = iw, ig
        cxld.start, cxld.size = region.start or 0, region.size
        k.log.dbg(rdev, f"{where} iw: {iw} ig: {ig}")
    if ref.nr_targets_set == ref.nr_targets:
        k.log.dbg(rdev, f"{where}: targets full trying to add {mem.name}:{dec.name} at {pos}")
        raise kerr(errno.ENXIO)
    assert dport is not None
    del cxld.targets[ref.nr_targets_set :]
    cxld.targets.append(dport)
    _target_set(k, region, port, cxld, ref, dport, dec, pos, inc=1)


def _target_set(
    k: Kernel,
    region: Region,
    port: Port,
    cxld: Decoder,
    ref: RegionRef,
    dport: int | None,
    dec: Decoder,
    pos: int,
    inc: int,
) -> None:
    ref.nr_targets_set += inc
    found = port.dport(dport) if dport is not None else None
    k.log.dbg(
        k.dev(region),
        f"{_uport(port)}:{port.name} target[{ref.nr_targets_set - 1}] = "
        f"{_basename(found.device) if found else 'none'} for "
        f"{memdev_of_decoder(k, dec).name}:{dec.name} @ {pos}",
    )


def _check_last_peer(
    k: Kernel, region: Region, port: Port, dec: Decoder, pos: int, distance: int
) -> None:
    """A second use of one downstream port is only for the position ``distance`` lower."""
    rdev = k.dev(region)
    mem = memdev_of_decoder(k, dec)
    where = f"{_uport(port)}:{port.name}"
    if pos < distance:
        k.log.dbg(rdev, f"{where}: cannot host {mem.name}:{dec.name} at {pos}")
        raise kerr(errno.ENXIO)
    peer = _decoder_named(k, region.targets[pos - distance])
    if _ep(k, port, peer)[1] != _ep(k, port, dec)[1]:
        k.log.dbg(
            rdev,
            f"{where}: {mem.name}:{dec.name} pos {pos} mismatched peer "
            f"{memdev_of_decoder(k, peer).name}:{peer.name}",
        )
        raise kerr(errno.ENXIO)


def teardown_targets(k: Kernel, region: Region) -> None:
    """Undo the programming of the ranges (the target lists, ways and granularity stay as
    they were set). A region firmware set up keeps its active decode."""
    if region.auto:
        return
    for name in region.targets:
        if not name:
            continue
        dec = _decoder_named(k, name)
        if memdev_of_decoder(k, dec).rcd:
            continue
        for port in reversed(ports_of(k, dec)[1:]):
            ref = region.refs.get(port.id)
            if ref is None:
                continue
            ref.nr_targets_set = 0
            cxld = _ref_decoder(k, port, ref)
            cxld.start = cxld.size = 0


def calc_interleave_pos(k: Kernel, dec: Decoder) -> int:
    """The position the hardware decode gives ``dec`` (cxl_calc_interleave_pos): from the
    endpoint up, at each port the index of its downstream port in the target list of the
    parent's decoder mapping the range; -ENXIO if some decoder does not map it."""
    pos = 0
    port = k.ports[dec.port]
    end = dec.start + dec.size
    while port.parent is not None:
        parent = k.ports[port.parent]
        if parent.kind == "root":
            mapping = next(
                (d for d in parent.decoders if d.start <= dec.start and end <= d.start + d.size),
                None,
            )
        else:
            mapping = next(
                (d for d in parent.decoders if (d.start, d.size) == (dec.start, dec.size)), None
            )
        if mapping is None:
            return -errno.ENXIO
        index = next(
            (
                i
                for i, t in enumerate(mapping.targets[: mapping.ways])
                if (d := parent.dport(t)) is not None and d.device == port.parent_dport
            ),
            None,
        )
        if index is None:
            return -errno.ENXIO
        pos = pos * mapping.ways + index
        port = parent
    return pos


# -- detaching a target (2.8) ------------------------------------------------------------------


def detach_target(k: Kernel, region: Region, pos: int) -> None:
    """An empty ``targetN``: ENXIO past the ways, nothing for an empty slot."""
    if pos >= region.ways:
        k.log.dbg(k.dev(region), f"position {pos} out of range {region.ways}")
        raise kerr(errno.ENXIO)
    name = region.targets[pos]
    if name:
        detach(k, region, _decoder_named(k, name))


def detach(k: Kernel, region: Region, dec: Decoder) -> None:
    """``dec`` leaves the region (cxl_region_detach): a committed region is reset first;
    each port lets go of it (a port's decoder is released with its last endpoint); an
    active region goes back to waiting for targets; then the region loses its driver."""
    if _state(region) > _STATE["active"]:
        decode_reset(k, region, region.ways)
        region.state = "active"
    for port in ports_of(k, dec):
        _port_detach(k, region, port, dec)
    if region.state == "active":
        region.state = "interleave_active"
        teardown_targets(k, region)
    region.targets = ["" if name == dec.name else name for name in region.targets]
    dec.start = dec.size = 0
    dev = k.devices.get(region.devkey)
    if dev is not None:
        core.device_release_driver(k, dev)


def _port_detach(k: Kernel, region: Region, port: Port, dec: Decoder) -> None:
    ref = region.refs.get(port.id)
    if ref is None or dec.name not in ref.endpoints:
        return
    ep_next, _ = _ep(k, port, dec)
    ref.endpoints.remove(dec.name)
    if port.id != dec.port and not any(
        _ep(k, port, _decoder_named(k, other))[0] == ep_next for other in ref.endpoints
    ):
        ref.nr_targets -= 1
    if not ref.endpoints:
        _free_ref(k, region, port, ref)


def _free_ref(k: Kernel, region: Region, port: Port, ref: RegionRef) -> None:
    """The port no longer serves the region: its decoder is released."""
    if ref.decoder < len(port.decoders):
        cxld = port.decoders[ref.decoder]
        if cxld.region == region.id:
            cxld.region = None
            if cxld.kind == "switch":
                cxld.start = cxld.size = 0
    del region.refs[port.id]


def detach_decoder(k: Kernel, dec: Decoder) -> None:
    """Endpoint decoder ``dec`` goes away (its endpoint is unregistered) and leaves its
    region (2.8), as a cleared ``targetN`` does."""
    region = k.regions.get(dec.region) if dec.region is not None else None
    if region is None or dec.name not in region.targets:
        dec.region = None
        dec.start = dec.size = 0
        return
    detach(k, region, dec)


# -- commit and reset (2.5 commit, 2.7.3) ------------------------------------------------------


def invalidate_memregion(k: Kernel, region: Region) -> None:
    """Before the decode of a region changes, CPU caches are invalidated. The emulated
    kernel is built with CONFIG_CXL_REGION_INVALIDATION_TEST (as cxl_test needs and QEMU
    guests do, which cannot invalidate otherwise): it skips that, saying so once."""
    if k.print_once("cxl_region_invalidate_memregion"):
        k.log.info(k.dev(region), "Bypassing cpu_cache_invalidate_memregion() for testing!")


def decode_commit(k: Kernel, region: Region) -> None:
    """Enable every decoder of the region bottom-up, target by target in position order;
    a decoder shared by several targets is enabled once. A decoder that is not its port's
    next to commit fails the whole (EBUSY), and what was enabled is reset again."""
    for i, name in enumerate(region.targets):
        dec = _decoder_named(k, name)
        chain = ports_of(k, dec)
        for depth, port in enumerate(chain):
            try:
                commit_decoder(k, port, _ref_decoder(k, port, region.refs[port.id]))
            except KernfsError:
                for below in reversed(chain[1 : depth + 1]):
                    reset_decoder(k, below, _ref_decoder(k, below, region.refs[below.id]))
                reset_decoder(k, chain[0], dec)
                decode_reset(k, region, i)
                raise


def decode_reset(k: Kernel, region: Region, count: int) -> None:
    """Reset the decoders of the first ``count`` targets, last target first, each from
    its host bridge down to the endpoint."""
    invalidate_memregion(k, region)
    for i in reversed(range(min(count, len(region.targets)))):
        name = region.targets[i]
        if not name:
            continue
        dec = _decoder_named(k, name)
        chain = ports_of(k, dec)
        if not memdev_of_decoder(k, dec).rcd:
            for port in reversed(chain[1:]):
                ref = region.refs.get(port.id)
                if ref is not None:
                    reset_decoder(k, port, _ref_decoder(k, port, ref))
        reset_decoder(k, chain[0], dec)


# -- attributes --------------------------------------------------------------------------------


def commit_show(k: Kernel, region: Region) -> int:
    return int(region.state == "commit")


def commit_store(k: Kernel, region: Region, buf: bytes) -> None:
    """1 programs the region's decoders in commit order (ENXIO before every target is set
    and validated; EBUSY, all undone, when a decoder is not its port's next); 0 unbinds the
    region and resets them. Writing the current state changes nothing (2.5)."""
    dev = k.dev(region)
    try:
        commit = kstrtobool(buf)
    except KernfsError:
        k.log.dbg(dev, "commit: not a boolean, -EINVAL")
        raise
    state = _state(region)
    if commit == (state >= _STATE["commit"]):
        return
    if commit and state < _STATE["active"]:
        k.log.dbg(dev, f"commit: config state {state}: targets not all set, -ENXIO")
        raise kerr(errno.ENXIO)
    first = "cxl_region_invalidate_memregion" not in k.printed_once
    invalidate_memregion(k, region)
    if commit:
        try:
            decode_commit(k, region)
        except KernfsError as e:
            if first:  # what stays is the once-only message having been printed
                fail_after_change(k, e.errno or errno.EBUSY)
            raise
        region.state = "commit"
        return
    core.device_release_driver(k, dev)
    decode_reset(k, region, region.ways)
    region.state = "active"


def interleave_ways_show(k: Kernel, region: Region) -> int:
    return region.ways


def interleave_ways_store(k: Kernel, region: Region, buf: bytes) -> None:
    """Ways allowed under the root decoder, before ``size`` is set (2.5): 1, 2, 4, 8, 16,
    3, 6 or 12, a power-of-two multiple of the root's ways, else EINVAL; EBUSY once the
    HPA is allocated. The ``targetN`` files follow."""
    dev = k.dev(region)
    try:
        ways = kstrtouint(buf, 0)
    except KernfsError:
        k.log.dbg(dev, "interleave_ways: not a number, -EINVAL")
        raise
    if ways not in WAYS:
        k.log.dbg(dev, f"interleave_ways: {ways} is not a valid interleave, -EINVAL")
        raise kerr(errno.EINVAL)
    root_ways = root_decoder(k, region).ways
    if not _pow2(ways // root_ways) or ways % root_ways:
        k.log.dbg(dev, f"invalid interleave: {ways}")
        raise kerr(errno.EINVAL)
    if _state(region) >= _STATE["interleave_active"]:
        k.log.dbg(dev, "interleave_ways: size already set, -EBUSY")
        raise kerr(errno.EBUSY)
    region.ways = ways
    region.targets = [""] * ways


def interleave_granularity_show(k: Kernel, region: Region) -> int:
    return region.granularity


def interleave_granularity_store(k: Kernel, region: Region, buf: bytes) -> None:
    """A power of two 256..16384 (EINVAL), the root's when it interleaves (EINVAL);
    EBUSY once the HPA is allocated (2.5)."""
    dev = k.dev(region)
    try:
        value = kstrtoint(buf, 0)
    except KernfsError:
        k.log.dbg(dev, "interleave_granularity: not a number, -EINVAL")
        raise
    if value not in GRANULARITIES:
        k.log.dbg(dev, f"interleave_granularity: {value} is not a valid granularity, -EINVAL")
        raise kerr(errno.EINVAL)
    root = root_decoder(k, region)
    if root.ways > 1 and value != root.granularity:
        k.log.dbg(
            dev,
            f"interleave_granularity: an x{root.ways} root only permits its granularity "
            f"{root.granularity}, -EINVAL",
        )
        raise kerr(errno.EINVAL)
    if _state(region) >= _STATE["interleave_active"]:
        k.log.dbg(dev, "interleave_granularity: size already set, -EBUSY")
        raise kerr(errno.EBUSY)
    region.granularity = value


def resource_show(k: Kernel, region: Region) -> str:
    return f"{U64_MAX if region.start is None else region.start:#x}"


def size_show(k: Kernel, region: Region) -> str:
    return f"{region.size:#x}"


def _free_gap(k: Kernel, region: Region, size: int) -> int | None:
    """The lowest 256 MiB-aligned base of ``size`` free bytes in the region's window that
    no other region of the window overlaps."""
    root = root_decoder(k, region)
    used = sorted(
        (r.start, r.start + r.size)
        for r in k.regions.values()
        if r is not region
        and (r.root_port, r.root_decoder) == (region.root_port, region.root_decoder)
        and r.start is not None
    )
    base = -(-root.start // SZ_256M) * SZ_256M
    for start, end in used:
        if base + size <= start:
            break
        base = max(base, -(-end // SZ_256M) * SZ_256M)
    return base if base + size <= root.start + root.size else None


def size_store(k: Kernel, region: Region, buf: bytes) -> None:
    """Allocate the region's HPA range in its window, or with 0 free it (2.5)."""
    dev = k.dev(region)
    try:
        size = kstrtoull(buf, 0)
    except KernfsError:
        k.log.dbg(dev, "size: not a number, -EINVAL")
        raise
    state = _state(region)
    if size == 0:
        if region.start is None:
            return
        if state >= _STATE["active"]:
            k.log.dbg(dev, "size: targets are set, -EBUSY")
            raise kerr(errno.EBUSY)
        region.start, region.size = None, 0
        region.state = "idle"
        return
    if region.start is not None and region.size == size:
        return
    if region.start is not None:
        k.log.dbg(dev, f"size: {region.size:#x} allocated, free it first, -EBUSY")
        raise kerr(errno.EBUSY)
    if state >= _STATE["interleave_active"]:
        k.log.dbg(dev, "size: -EBUSY")
        raise kerr(errno.EBUSY)
    if (
        not region.ways
        or not region.granularity
        or (region.mode == "pmem" and region.uuid == NULL_UUID)
    ):
        k.log.dbg(dev, "size: interleave ways, granularity and uuid come first, -ENXIO")
        raise kerr(errno.ENXIO)
    if size % (SZ_256M * region.ways):
        k.log.dbg(
            dev, f"size: {size:#x} is not a multiple of 256 MiB x {region.ways} ways, -EINVAL"
        )
        raise kerr(errno.EINVAL)
    base = _free_gap(k, region, size)
    if base is None:
        root = root_decoder(k, region)
        k.log.dbg(
            dev,
            f"HPA allocation error (-{errno.ERANGE}) for size:0x{size:016x} in "
            f"CXL Window {root.index} {_range(root.start, root.size)}",
        )
        raise kerr(errno.ERANGE)
    region.start, region.size = base, size
    region.state = "interleave_active"


def mode_show(k: Kernel, region: Region) -> str:
    return region.mode


def uuid_show(k: Kernel, region: Region) -> str:
    # RAM regions have no uuid: the attribute is read-only and empty.
    return region.uuid if region.mode == "pmem" else ""


def uuid_store(k: Kernel, region: Region, buf: bytes) -> None:
    """A pmem region's uuid (2.5): exactly 37 bytes written (36 characters and a newline
    or NUL), a valid and non-null UUID (EINVAL); EBUSY once every target is set, or when
    another region has it."""
    dev = k.dev(region)
    if len(buf) != 37:
        k.log.dbg(dev, f"uuid: {len(buf)} bytes written, not 37, -EINVAL")
        raise kerr(errno.EINVAL)
    text = buf[:36].decode("ascii", "replace")
    valid = all(
        (c == "-") if i in (8, 13, 18, 23) else c in "0123456789abcdefABCDEF"
        for i, c in enumerate(text)
    )
    if not valid:
        k.log.dbg(dev, f"uuid: {c_string(buf[:36])!r} is not a uuid, -EINVAL")
        raise kerr(errno.EINVAL)
    value = text.lower()  # uuid_parse() took the digits; they print in lower case
    if value == NULL_UUID:
        k.log.dbg(dev, "uuid: the null uuid, -EINVAL")
        raise kerr(errno.EINVAL)
    if value == region.uuid:
        return
    if _state(region) >= _STATE["active"]:
        k.log.dbg(dev, "uuid: targets are set, -EBUSY")
        raise kerr(errno.EBUSY)
    for other in k.regions.values():
        if other is not region and other.mode == "pmem" and other.uuid == value:
            k.log.dbg(k.dev(other), f"already has uuid: {value}")
            raise kerr(errno.EBUSY)
    region.uuid = value


def target_show(k: Kernel, region: Region, pos: int) -> str:
    return region.targets[pos] if pos < len(region.targets) else ""


def target_store(k: Kernel, region: Region, pos: int, buf: bytes) -> None:
    """Attach an endpoint decoder at position ``pos`` (ENODEV: no such device; EINVAL:
    not an endpoint decoder; then the attach checks), or detach with an empty value
    (2.5, 2.7.2)."""
    if streq(buf, ""):
        detach_target(k, region, pos)
        return
    name = written_name(buf)
    dev = core.find_device(k, "cxl", name)
    if dev is None:
        k.log.dbg(k.dev(region), f"target{pos}: no device {name!r} on the cxl bus, -ENODEV")
        raise kerr(errno.ENODEV)
    if dev.type != "cxl_decoder_endpoint":
        k.log.dbg(k.dev(region), f"target{pos}: {name} is not an endpoint decoder, -EINVAL")
        raise kerr(errno.EINVAL)
    attach(k, region, _decoder_named(k, name), pos)


def _uuid(k: Kernel, region: Region) -> Node:
    # Read-write for pmem regions, read-only (and empty) for RAM regions.
    if region.mode == "pmem":
        return Attr(0o644, store=partial(uuid_store, k, region), value=Shown(uuid_show, k, region))
    return Attr(0o444, value=Shown(uuid_show, k, region))


def _targets(k: Kernel, region: Region) -> dict[str, Node]:
    """``target0`` .. ``target(ways-1)``."""
    return {
        f"target{pos}": Attr(
            0o644,
            store=partial(target_store, k, region, pos),
            value=Shown(target_show, k, region, pos),
        )
        for pos in range(region.ways)
    }


REGION_ENTRIES: core.Entries[Region] = {
    "devtype": const("cxl_region"),
    "modalias": const("cxl:t6"),
    "commit": show_store(commit_show, commit_store),
    "interleave_ways": show_store(interleave_ways_show, interleave_ways_store),
    "interleave_granularity": show_store(interleave_granularity_show, interleave_granularity_store),
    "resource": show_only(resource_show),
    "size": show_store(size_show, size_store),
    "mode": show_only(mode_show),
    "uuid": _uuid,
}

REGION: DeviceType[Region] = DeviceType(
    "cxl_region",
    get=region_of,
    entries=REGION_ENTRIES,
    more=_targets,
    devtype="cxl_region",
    uevent_vars=lambda k, region: ["MODALIAS=cxl:t6"],
    release=_release,
)


# -- regions firmware committed before boot ----------------------------------------------------


def program_hierarchy(
    k: Kernel, win: Window, targets: list[Decoder], base: int, size: int, granularity: int
) -> list[Decoder]:
    """Program the switch and host-bridge decoders between ``targets`` (endpoint decoders
    in position order) and the root, as firmware does for a region it sets up. Returns
    those decoders, host bridges first.

    Each port's decoder (its next one to commit) targets the distinct dports used, in the
    order positions first use them. Its ways are that count; its granularity is its
    parent's granularity times the parent's ways, the root counting as (region
    granularity, window ways / 3 for 3/6/12-way windows).
    """
    chosen: dict[int, Decoder] = {}
    used: dict[int, list[int]] = {}
    for epdec in targets:
        chain = k.path_to_root(k.ports[epdec.port])
        for child, port in pairwise(chain):
            if port.kind == "root":
                break
            dport = next(d for d in port.dports if d.device == child.parent_dport)
            if port.id not in chosen:
                chosen[port.id] = port.decoders[port.decoders_committed()]
                used[port.id] = []
            if dport.id not in used[port.id]:
                used[port.id].append(dport.id)
    root_ways = win.ways // 3 if win.ways in (3, 6, 12) else win.ways
    ordered = sorted(chosen, key=lambda pid: len(k.path_to_root(k.ports[pid])))
    for pid in ordered:
        port = k.ports[pid]
        dec = chosen[pid]
        if port.parent is not None and port.parent in chosen:
            parent = chosen[port.parent]
            parent_ig, parent_iw = parent.granularity, parent.ways
        else:
            parent_ig, parent_iw = granularity, root_ways
        dec.targets = used[pid]
        dec.ways = len(used[pid])
        dec.granularity = parent_ig * parent_iw
        dec.start, dec.size = base, size
    return [chosen[pid] for pid in ordered]


def assemble_auto_region(k: Kernel, index: int) -> None:
    """Region discovery for the platform's auto region ``index``: its members' next
    endpoint decoders and the decoders above them hold what firmware programmed and
    committed (their DPA reserved), and the region is registered committed, so cxl_region
    binds it. If no window claims the range, the decoders stay committed and no region is
    made (the kernel says so for each member)."""
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
        free_ram, free_pmem = free_dpa_starts(mem, ep)
        start = free_ram if auto.mode == "ram" else free_pmem
        skip = start - free_ram if auto.mode == "pmem" and free_pmem == mem.ram_size else 0
        reserve_dpa(k, ep, dec, start, auto.size // ways, skip)
        commit_decoder(k, ep, dec)
        dec.auto = True
        targets.append(dec)
    decoders = program_hierarchy(k, win, targets, base, auto.size, auto.granularity)
    for dec in decoders:
        commit_decoder(k, k.ports[dec.port], dec)
    if not (win.base <= base and base + auto.size <= win.base + win.size):
        for mem, dec in zip(members, targets, strict=True):
            k.log.err(
                k.devices.get(hardware.hw_key(k, mem.parent) or ""),
                f"{mem.name}:{dec.name} no CXL window for range "
                f"{base:#x}:{base + auto.size - 1:#x}",
            )
        return
    root = k.root()
    assert root is not None
    region = Region(
        id=root.decoders[auto.window].next_region,
        root_port=root.id,
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
    for dec in targets:
        for port in ports_of(k, dec):
            held = dec if port.id == dec.port else next(d for d in decoders if d.port == port.id)
            ep_next, _ = _ep(k, port, dec)
            ref = region.refs.get(port.id)
            if ref is None:
                ref = region.refs[port.id] = RegionRef(decoder=held.index, nr_targets=0)
            if ep_next is None or all(
                _ep(k, port, _decoder_named(k, o))[0] != ep_next for o in ref.endpoints
            ):
                ref.nr_targets += 1
            ref.endpoints.append(dec.name)
            ref.nr_targets_set = ref.nr_targets if port.id != dec.port else 0
            held.region = region.id
    add_region(k, region)
