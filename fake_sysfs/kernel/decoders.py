"""HDM decoders: root decoders (one per CFMWS), switch decoders, endpoint decoders.

Switch and endpoint decoders reflect hardware registers: committed ones keep their
programming, the others read as a zeroed decoder (``size`` 0, one way, 256 granularity).
cxl_acpi registers the root decoders; the cxl_port probe registers a port's others, and its
remove unregisters them. An endpoint decoder that goes while in a region leaves the region.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import core
from fake_sysfs.kernel.attrs import not_emulated, show_only, show_store, store_only, when
from fake_sysfs.kernel.core import Device, DeviceType

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.ports import Port
    from fake_sysfs.kernel.state import Kernel

DecoderKind = Literal["root", "switch", "endpoint"]
U64_MAX = (1 << 64) - 1


@dataclass
class Decoder:
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
    skip: int = 0
    target_type: str = "expander"

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


def allocate_dpa(mem: Memdev, endpoint: Port, dec: Decoder, size: int) -> None:
    """Reserve ``size`` bytes of device physical address space for ``dec`` in its mode's
    partition, after the allocations of lower decoders.

    The DPA space is the ram partition ``[0, ram)`` then pmem ``[ram, ram + pmem)``. The first
    pmem allocation skips (and wastes) the free tail of the ram partition.
    """
    ram_end = 0
    pmem_end = mem.ram_size
    for other in endpoint.decoders:
        if other is dec or other.dpa_base is None or not other.dpa_size:
            continue
        end = other.dpa_base + other.dpa_size
        if other.dpa_base < mem.ram_size:
            ram_end = max(ram_end, end)
        else:
            pmem_end = max(pmem_end, end)
    if dec.mode == "ram":
        base, limit, skip = ram_end, mem.ram_size, 0
    elif dec.mode == "pmem":
        first_pmem = pmem_end == mem.ram_size
        base, limit = pmem_end, mem.ram_size + mem.pmem_size
        skip = mem.ram_size - ram_end if first_pmem else 0
    else:
        raise kerr(errno.EINVAL)
    if base + size > limit:
        raise kerr(errno.ENOSPC)
    dec.dpa_base, dec.dpa_size, dec.skip = base, size, skip


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
    return ",".join(str(t) for t in dec.targets)


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


def create_pmem_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """``regionN`` equal to the offered name makes a pmem region (2.3)."""
    not_emulated(k, k.dev(dec), "create_pmem_region")


def create_ram_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """``regionN`` equal to the offered name makes a ram region (2.3)."""
    not_emulated(k, k.dev(dec), "create_ram_region")


def delete_region_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """Unregister the named child region of this root decoder (2.3)."""
    not_emulated(k, k.dev(dec), "delete_region")


def target_type_show(k: Kernel, dec: Decoder) -> str:
    return dec.target_type


def region_show(k: Kernel, dec: Decoder) -> str:
    region = k.regions.get(dec.region) if dec.region is not None else None
    return region.name if region is not None else ""


def mode_show(k: Kernel, dec: Decoder) -> str:
    return dec.mode


def mode_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """The partition (``ram``/``pmem``) the next ``dpa_size`` allocates from (2.3)."""
    not_emulated(k, k.dev(dec), "mode")


def dpa_size_show(k: Kernel, dec: Decoder) -> str:
    # Printed with %pa: 0x and 16 zero-padded hex digits.
    return f"0x{dec.dpa_size:016x}"


def dpa_size_store(k: Kernel, dec: Decoder, buf: bytes) -> None:
    """Free the decoder's DPA, then allocate this many bytes (2.3, 2.7.4)."""
    not_emulated(k, k.dev(dec), "dpa_size")


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
