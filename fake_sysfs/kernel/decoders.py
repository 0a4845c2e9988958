"""HDM decoders: root decoders (one per CFMWS), switch decoders, endpoint decoders.

Switch and endpoint decoders reflect hardware registers: committed ones keep their
programming, the others read as a zeroed decoder (``size`` 0, one way, 256 granularity).
cxl_acpi registers the root decoders; the cxl_port probe registers a port's others, and its
remove unregisters them. An endpoint decoder that goes while in a region leaves the region.

The rules of one decoder live here: an endpoint decoder's DPA (device physical address)
allocation and partition mode (``dpa_size``, ``mode``: kernel-sysfs.md 2.3, 2.7.4), and the
commit and reset of a switch or endpoint decoder in its port's commit order (2.7.3). What a
region does with decoders is kernel.regions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core
from fake_sysfs.kernel.attrs import (
    fail_after_change,
    kstrtoull,
    show_only,
    show_store,
    store_only,
    streq,
    when,
)
from fake_sysfs.kernel.core import Device, DeviceType
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.ports import Port
    from fake_sysfs.kernel.state import Kernel

DecoderKind = Literal["root", "switch", "endpoint"]
U64_MAX = (1 << 64) - 1


@dataclass(eq=False, repr=False)
class Decoder(Record):
    port: int
    index: int
    kind: DecoderKind
    start: int = 0
    size: int = 0
    ways: int = 1
    granularity: int = 256
    locked: bool = False
    #: Target dport ids, in interleave position order (root and switch decoders).
    targets: list[int] = field(default_factory=list)
    #: Hardware commit (the ENABLE bit).
    committed: bool = False
    #: Id of the region using this decoder (switch and endpoint decoders).
    region: int | None = None
    # Root decoders.
    cap_ram: bool = False
    cap_pmem: bool = False
    cap_type2: bool = False
    cap_type3: bool = False
    qos_class: int = -1
    #: The memregion id ``create_*_region`` currently offers.
    next_region: int = -1
    # Endpoint decoders.
    mode: str = "none"
    dpa_base: int | None = None
    dpa_size: int = 0
    #: DPA reserved (wasted) below ``dpa_base``: the free tail of the ram partition that the
    #: first pmem allocation skips.
    skip: int = 0
    target_type: str = "expander"
    #: Endpoint decoders found committed at probe are in the "auto" state (firmware set them
    #: up for a region to be discovered); a reset hands them to userspace ("manual").
    auto: bool = False

    @property
    def name(self) -> str:
        return f"decoder{self.port}.{self.index}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"


# -- registration ------------------------------------------------------------------------------


def add_decoders(k: Kernel, port: Port, decoders: list[Decoder]) -> None:
    """Give ``port`` its decoders and register them (no driver matches a decoder)."""
    port.decoders = decoders
    for dec in decoders:
        core.device_add(k, Device(dec.name, port.devkey, f"cxl_decoder_{dec.kind}", bus="cxl"))


def switch_decoders(k: Kernel, port: Port, count: int) -> list[Decoder]:
    """The HDM decoders of a host-bridge or switch port, as the zeroed registers read."""
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


def passthrough_decoder(port: Port) -> Decoder:
    """A port without HDM decoder capability gets one software decoder that passes
    everything through to its single dport (still zeroed: ways 1, page-size granularity,
    an empty range)."""
    return Decoder(
        port=port.id, index=0, kind="switch", granularity=4096, targets=[port.dports[0].id]
    )


SZ_256M = 256 << 20


def _pa(value: int) -> str:
    """``%pa``: 0x and 16 zero-padded hex digits."""
    return f"0x{value:016x}"


def hdm_end(endpoint: Port) -> int:
    """The highest index of the endpoint's decoders holding DPA (-1: none). Allocations are
    made in index order and freed in reverse, so the ones holding DPA are 0 .. hdm_end."""
    end = -1
    for dec in endpoint.decoders:
        if dec.dpa_base is not None:
            end = dec.index
    return end


def free_dpa_starts(mem: Memdev, endpoint: Port) -> tuple[int, int]:
    """Where the next ram and pmem allocations start: after the last allocation (or
    skipped range) in each partition, else at the partition's base."""
    free_ram, free_pmem = 0, mem.ram_size
    for other in endpoint.decoders:
        if other.dpa_base is None:
            continue
        end = other.dpa_base + other.dpa_size
        if other.dpa_base < mem.ram_size:
            free_ram = max(free_ram, end)
        else:
            free_pmem = max(free_pmem, end)
        if other.skip:
            free_ram = max(free_ram, other.dpa_base)
    return free_ram, free_pmem


def reserve_dpa(k: Kernel, endpoint: Port, dec: Decoder, base: int, size: int, skip: int) -> None:
    """Claim ``[base - skip, base + size)`` for ``dec``, which must be the endpoint's next
    decoder in allocation order (EBUSY otherwise)."""
    end = hdm_end(endpoint)
    if end + 1 != dec.index:
        k.log.dbg(k.dev(endpoint), f"{dec.name}: expected decoder{endpoint.id}.{end + 1}")
        raise kerr(errno.EBUSY)
    dec.dpa_base, dec.dpa_size, dec.skip = base, size, skip


def allocate_dpa(k: Kernel, mem: Memdev, endpoint: Port, dec: Decoder, size: int) -> None:
    """Reserve ``size`` bytes of device physical address space for ``dec`` in its mode's
    partition, after the allocations of lower decoders (2.7.4).

    The DPA space is the ram partition ``[0, ram)`` then pmem ``[ram, ram + pmem)``. The first
    pmem allocation skips (and wastes) the free tail of the ram partition.
    """
    dev = k.dev(dec)
    if dec.region is not None:
        k.log.dbg(dev, f"decoder attached to region{dec.region}")
        raise kerr(errno.EBUSY)
    if dec.committed:
        k.log.dbg(dev, "decoder enabled")
        raise kerr(errno.EBUSY)
    free_ram, free_pmem = free_dpa_starts(mem, endpoint)
    if dec.mode == "ram":
        start, avail, skip = free_ram, mem.ram_size - free_ram, 0
    elif dec.mode == "pmem":
        start = free_pmem
        avail = mem.ram_size + mem.pmem_size - start
        pmem_allocated = free_pmem != mem.ram_size
        skip = 0 if pmem_allocated else start - free_ram
    else:
        k.log.dbg(dev, "mode not set")
        raise kerr(errno.EINVAL)
    if size > avail:
        k.log.dbg(dev, f"{_pa(size)} exceeds available {dec.mode} capacity: {_pa(avail)}")
        raise kerr(errno.ENOSPC)
    reserve_dpa(k, endpoint, dec, start, size, skip)


def free_dpa(k: Kernel, endpoint: Port, dec: Decoder) -> bool:
    """Release ``dec``'s DPA (and its skip): refused (EBUSY) while the decoder is in a
    region or committed, or when a higher decoder still holds DPA. False if it held none."""
    if dec.dpa_base is None:
        return False
    dev = k.dev(dec)
    if dec.region is not None:
        k.log.dbg(dev, f"decoder assigned to: region{dec.region}")
        raise kerr(errno.EBUSY)
    if dec.committed:
        k.log.dbg(dev, "decoder enabled")
        raise kerr(errno.EBUSY)
    end = hdm_end(endpoint)
    if dec.index != end:
        k.log.dbg(dev, f"expected decoder{endpoint.id}.{end}")
        raise kerr(errno.EBUSY)
    dec.dpa_base, dec.dpa_size, dec.skip = None, 0, 0
    return True


# -- commit order ------------------------------------------------------------------------------


def commit_decoder(k: Kernel, port: Port, dec: Decoder) -> None:
    """Commit (enable) a switch or endpoint decoder: it must be its port's next one to
    commit (EBUSY otherwise); an enabled decoder is left as it is."""
    if dec.committed:
        return
    if port.decoders_committed() != dec.index:
        k.log.dbg(
            k.dev(port),
            f"{dec.name}: out of order commit, expected "
            f"decoder{port.id}.{port.decoders_committed()}",
        )
        raise kerr(errno.EBUSY)
    port.commit_end += 1
    dec.committed = True


def reset_decoder(k: Kernel, port: Port, dec: Decoder) -> None:
    """Reset (disable) a committed decoder. Any order is allowed, but the port's count of
    committed decoders only drops when its highest one is reset; it then drops past the
    lower ones reset already. A reset endpoint decoder is userspace's to set up again."""
    if not dec.committed:
        return
    if port.commit_end == dec.index:
        reap(k, port)
    else:
        k.log.dbg(
            k.dev(port),
            f"{dec.name}: out of order reset, expected decoder{port.id}.{port.commit_end}",
        )
    dec.committed = False
    if dec.kind == "endpoint":
        dec.auto = False


def reap(k: Kernel, port: Port) -> None:
    """The highest committed decoder is going: free it and any lower ones reset before."""
    port.commit_end -= 1
    while port.commit_end > -1 and not port.decoders[port.commit_end].committed:
        port.commit_end -= 1


def decoder_of(k: Kernel, dev: Device) -> Decoder:
    port, _, index = dev.name[len("decoder") :].partition(".")
    return k.ports[int(port)].decoders[int(index)]


def _release(k: Kernel, dev: Device) -> None:
    dec = decoder_of(k, dev)
    if dec.region is not None and dec.kind == "endpoint":
        # Imported here: regions program decoders, so that module imports this one.
        from fake_sysfs.kernel.regions import detach_decoder

        detach_decoder(k, dec)


# -- attributes --------------------------------------------------------------------------------


def devtype_show(k: Kernel, dec: Decoder) -> str:
    return f"cxl_decoder_{dec.kind}"


def start_show(k: Kernel, dec: Decoder) -> str:
    return f"{dec.start:#x}"


def size_show(k: Kernel, dec: Decoder) -> str:
    return f"{dec.size:#x}"


def locked_show(k: Kernel, dec: Decoder) -> int:
    return int(dec.locked)


def interleave_ways_show(k: Kernel, dec: Decoder) -> int:
    return dec.ways


def interleave_granularity_show(k: Kernel, dec: Decoder) -> int:
    # A root decoder of a 1-way window reports 256: the driver minimises x1 granularity
    # so that any region granularity is allowed below it.
    return 256 if dec.kind == "root" and dec.ways == 1 else dec.granularity


def target_list_show(k: Kernel, dec: Decoder) -> str:
    # The target array up to the interleave ways (or its first empty slot).
    return ",".join(str(t) for t in dec.targets[: dec.ways])


def cap_pmem_show(k: Kernel, dec: Decoder) -> int:
    return int(dec.cap_pmem)


def cap_ram_show(k: Kernel, dec: Decoder) -> int:
    return int(dec.cap_ram)


def cap_type2_show(k: Kernel, dec: Decoder) -> int:
    return int(dec.cap_type2)


def cap_type3_show(k: Kernel, dec: Decoder) -> int:
    return int(dec.cap_type3)


def qos_class_show(k: Kernel, dec: Decoder) -> int:
    return dec.qos_class


def create_region_show(k: Kernel, dec: Decoder) -> str:
    """``create_pmem_region`` / ``create_ram_region``: the id the next region gets."""
    return f"region{dec.next_region}"


def _sscanf_region(buf: bytes) -> int | None:
    """``sscanf(buf, "region%d")``: the number, or None when nothing matches."""
    text = buf.split(b"\0", 1)[0]
    if not text.startswith(b"region"):
        return None
    rest = text[len(b"region") :].lstrip(b" \t\n\v\f\r")
    sign = -1 if rest[:1] == b"-" else 1
    if rest[:1] in (b"-", b"+"):
        rest = rest[1:]
    digits = len(rest) - len(rest.lstrip(b"0123456789"))
    if not digits:
        return None
    return sign * int(rest[:digits])


def _create_region_store(k: Kernel, dec: Decoder, buf: bytes, mode: str) -> None:
    # Imported here: regions use decoders, so that module imports this one.
    from fake_sysfs.kernel import regions

    wanted = _sscanf_region(buf)
    if wanted is None:
        k.log.dbg(k.dev(dec), f"create_{mode}_region: expected region%d, -EINVAL")
        raise kerr(errno.EINVAL)
    if wanted != dec.next_region:
        # The compare-and-exchange with the offered id failed: another writer took it.
        k.log.dbg(
            k.dev(dec),
            f"create_{mode}_region: region{wanted} is not the offered region{dec.next_region}, "
            "-EBUSY",
        )
        raise kerr(errno.EBUSY)
    regions.create_region(k, dec, "ram" if mode == "ram" else "pmem")


def create_pmem_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """``regionN`` equal to the offered name makes a pmem region (2.3): EINVAL if it does
    not read ``region%d``, EBUSY if another id was offered."""
    _create_region_store(k, dec, buf, "pmem")


def create_ram_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """``regionN`` equal to the offered name makes a ram region (2.3)."""
    _create_region_store(k, dec, buf, "ram")


def delete_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """Unregister the named child region of this root decoder (2.3): ENODEV if it has no
    such child; otherwise the region goes whatever its state (it is torn down first)."""
    from fake_sysfs.kernel import regions

    found = regions.child_region(k, dec, buf)
    if found is None:
        k.log.dbg(k.dev(dec), "delete_region: no such region below this decoder, -ENODEV")
        raise kerr(errno.ENODEV)
    regions.unregister_region(k, found)


def target_type_show(k: Kernel, dec: Decoder) -> str:
    return dec.target_type


def region_show(k: Kernel, dec: Decoder) -> str:
    region = k.regions.get(dec.region) if dec.region is not None else None
    return region.name if region is not None else ""


def mode_show(k: Kernel, dec: Decoder) -> str:
    return dec.mode


def _memdev(k: Kernel, dec: Decoder) -> Memdev:
    mem = k.ports[dec.port].memdev
    assert mem is not None
    return k.memdevs[mem]


def mode_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """The partition (``ram``/``pmem``) the next ``dpa_size`` allocates from (2.3): EINVAL
    for another word, EBUSY while committed, ENXIO if the device has no such capacity. The
    current allocation is neither checked nor moved."""
    dev = k.dev(dec)
    if streq(buf, "pmem"):
        mode = "pmem"
    elif streq(buf, "ram"):
        mode = "ram"
    else:
        k.log.dbg(dev, "mode: expected ram or pmem, -EINVAL")
        raise kerr(errno.EINVAL)
    if dec.committed:
        k.log.dbg(dev, "mode: decoder enabled, -EBUSY")
        raise kerr(errno.EBUSY)
    mem = _memdev(k, dec)
    if not (mem.pmem_size if mode == "pmem" else mem.ram_size):
        k.log.dbg(dev, f"no available {mode} capacity")
        raise kerr(errno.ENXIO)
    dec.mode = mode


def dpa_size_show(k: Kernel, dec: Decoder) -> str:
    # Printed with %pa: 0x and 16 zero-padded hex digits.
    return f"0x{dec.dpa_size:016x}"


def dpa_size_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """Free the decoder's DPA, then allocate this many bytes (2.3, 2.7.4). The free comes
    first and stays: a failed resize leaves the decoder without an allocation."""
    dev = k.dev(dec)
    try:
        size = kstrtoull(buf, 0)
    except OSError:
        k.log.dbg(dev, "dpa_size: not a number, -EINVAL")
        raise
    if size % SZ_256M:
        k.log.dbg(dev, f"dpa_size: {size:#x} is not a multiple of 256 MiB, -EINVAL")
        raise kerr(errno.EINVAL)
    endpoint = k.ports[dec.port]
    freed = free_dpa(k, endpoint, dec)
    if size == 0:
        return
    try:
        allocate_dpa(k, _memdev(k, dec), endpoint, dec, size)
    except OSError as e:
        if freed:
            fail_after_change(k, e.errno or errno.EIO)
        raise


def dpa_resource_show(k: Kernel, dec: Decoder) -> str:
    return f"{U64_MAX if dec.dpa_base is None else dec.dpa_base:#x}"


def _is_root(k: Kernel, dec: Decoder) -> bool:
    return dec.kind == "root"


def _not_root(k: Kernel, dec: Decoder) -> bool:
    return dec.kind != "root"


def _is_endpoint(k: Kernel, dec: Decoder) -> bool:
    return dec.kind == "endpoint"


def _creates_pmem(k: Kernel, dec: Decoder) -> bool:
    return dec.kind == "root" and dec.cap_type3 and dec.cap_pmem


def _creates_ram(k: Kernel, dec: Decoder) -> bool:
    return dec.kind == "root" and dec.cap_type3 and dec.cap_ram


def _deletes(k: Kernel, dec: Decoder) -> bool:
    return _creates_pmem(k, dec) or _creates_ram(k, dec)


#: A decoder's files; which exist depends on root/switch/endpoint.
DECODER_ENTRIES: core.Entries[Decoder] = {
    "devtype": show_only(devtype_show),
    "modalias": show_only(lambda k, dec: "cxl:t0"),
    "start": show_only(start_show, 0o400),
    "size": show_only(size_show),
    "locked": show_only(locked_show),
    "interleave_ways": show_only(interleave_ways_show),
    "interleave_granularity": show_only(interleave_granularity_show),
    "target_list": when(lambda k, dec: dec.kind != "endpoint", show_only(target_list_show)),
    "cap_pmem": when(_is_root, show_only(cap_pmem_show)),
    "cap_ram": when(_is_root, show_only(cap_ram_show)),
    "cap_type2": when(_is_root, show_only(cap_type2_show)),
    "cap_type3": when(_is_root, show_only(cap_type3_show)),
    "qos_class": when(_is_root, show_only(qos_class_show)),
    "create_pmem_region": when(
        _creates_pmem, show_store(create_region_show, create_pmem_region_store)
    ),
    "create_ram_region": when(
        _creates_ram, show_store(create_region_show, create_ram_region_store)
    ),
    "delete_region": when(_deletes, store_only(delete_region_store)),
    "target_type": when(_not_root, show_only(target_type_show)),
    "region": when(_not_root, show_only(region_show)),
    "mode": when(_is_endpoint, show_store(mode_show, mode_store)),
    "dpa_size": when(_is_endpoint, show_store(dpa_size_show, dpa_size_store)),
    "dpa_resource": when(_is_endpoint, show_only(dpa_resource_show)),
}


def _decoder_type(kind: DecoderKind) -> DeviceType[Decoder]:
    return DeviceType(
        f"cxl_decoder_{kind}",
        get=decoder_of,
        entries=DECODER_ENTRIES,
        devtype=f"cxl_decoder_{kind}",
        uevent_vars=lambda k, dec: ["MODALIAS=cxl:t0"],
        release=_release,
    )


ROOT_DECODER = _decoder_type("root")
SWITCH_DECODER = _decoder_type("switch")
ENDPOINT_DECODER = _decoder_type("endpoint")
