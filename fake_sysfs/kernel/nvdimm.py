"""The NVDIMM side of CXL: ``nvdimm-bridgeN`` below the root, its nd bus ``ndbusN`` with
control node ``ndctlN``, ``pmemN`` below each persistent memdev and its DIMM ``nmemK``;
the drivers cxl_nvdimm_bridge, cxl_nvdimm, cxl_pmem_region and the nd bus's.

cxl_acpi adds the bridge when a window allows pmem; its driver registers the nd bus
(``ndbusN``, a device of the nd bus bound to nd_bus, with ``nd/ndctlN``). cxl_mem adds
``pmemN``; cxl_nvdimm registers its DIMM on the bridge's nd bus, where the nvdimm driver
binds it. cxl_pmem_region registers the nd region of a bound pmem region (kernel.nd_region;
namespaces and their claims: kernel.namespaces; labels: kernel.nd_labels). Each remove
unregisters what its probe registered.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel import changes, core, nd_labels
from fake_sysfs.kernel.attrs import const, not_emulated, show_attr, show_only, show_store
from fake_sysfs.kernel.core import Device, DeviceType, Driver, lowest_free_id
from fake_sysfs.kernel.cxlbus import (
    CXL_DEVICE_NVDIMM,
    CXL_DEVICE_NVDIMM_BRIDGE,
    CXL_DEVICE_PMEM_REGION,
    cxl_driver,
)
from fake_sysfs.kernel.namespaces import DAX_PMEM_DRIVER, ND_PMEM_DRIVER
from fake_sysfs.kernel.nd_region import ND_REGION_DRIVER, register_nd_region
from fake_sysfs.kernel.regions import Region, region_of
from fake_sysfs.kernfs.nodes import Dir, Node, static_dir
from fake_sysfs.record import Record

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: Character majors for /dev/ndctlN and /dev/nmemK (local/experimental range, see memdevs).
NDCTL_MAJOR = 62
NMEM_MAJOR = 63


@dataclass(eq=False, repr=False)
class Nmem(Record):
    id: int
    #: The memdev whose ``pmemN`` registered this DIMM.
    memdev: int
    serial: int
    minor: int = 0
    #: Label storage area size (the memdev's LSA).
    lsa_size: int = 0

    @property
    def name(self) -> str:
        return f"nmem{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/nd/{self.name}"


#: Namespace index blocks are 256-byte aligned; CXL namespace labels are 256 bytes.
NSINDEX_ALIGN = 256
LABEL_SIZE = 256
#: sizeof(struct nd_namespace_index) without its free-slot bitmap.
NSINDEX_HEADER = 72


def _index_size(nslot: int) -> int:
    return -(-(NSINDEX_HEADER + -(-nslot // 8)) // NSINDEX_ALIGN) * NSINDEX_ALIGN


def label_slots(lsa_size: int) -> int:
    """How many namespace labels fit beside the two index blocks (the nvdimm core's rule:
    size the index for as many slots as the area could hold, then count what is left)."""
    index = _index_size(lsa_size // LABEL_SIZE)
    return max(0, (lsa_size - 2 * index) // LABEL_SIZE)


@dataclass(eq=False, repr=False)
class NvdimmBridge(Record):
    id: int
    bus_id: int
    provider: str
    nmems: list[Nmem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"nvdimm-bridge{self.id}"

    @property
    def devkey(self) -> str:
        return f"bus/cxl/{self.name}"

    @property
    def ndbus_key(self) -> str:
        return f"bus/nd/ndbus{self.bus_id}"


def bridge_of(k: Kernel, dev: Device) -> NvdimmBridge:
    """The bridge of ``nvdimm-bridgeN``, of its ``ndbusN`` or of ``ndctlN``."""
    if dev.type == "cxl_nvdimm_bridge":
        number = int(dev.name[len("nvdimm-bridge") :])
        return next(b for b in k.bridges if b.id == number)
    number = int(dev.name.lstrip(string.ascii_lowercase))
    return next(b for b in k.bridges if b.bus_id == number)


# -- the bridge and its nd bus -----------------------------------------------------------------


def add_bridge(k: Kernel, root_key: str, provider: str) -> None:
    """cxl_acpi's nvdimm bridge below the root; cxl_nvdimm_bridge binds it."""
    bridge = NvdimmBridge(
        id=lowest_free_id({b.id for b in k.bridges}),
        bus_id=lowest_free_id({b.bus_id for b in k.bridges}),
        provider=provider,
    )
    k.bridges.append(bridge)
    core.device_add(k, Device(bridge.name, root_key, "cxl_nvdimm_bridge", "cxl"))


def cxl_nvdimm_bridge_probe(k: Kernel, dev: Device) -> None:
    """Register the libnvdimm bus and its control device ``ndctlN``."""
    bridge = bridge_of(k, dev)
    # ndbusN is a device of the nd bus itself, bound to its nd_bus driver (3.4.1); its
    # class device sits in the ``nd/`` glue directory kernfs draws for a class device
    # below a bus device.
    ndbus = core.device_add(k, Device(f"ndbus{bridge.bus_id}", dev.key, "nd_bus", "nd"))
    core.device_add(
        k,
        Device(
            f"ndctl{bridge.bus_id}",
            ndbus.key,
            "nd_ctl",
            devclass="nd",
            devt=[NDCTL_MAJOR, bridge.bus_id],
        ),
    )


def cxl_nvdimm_bridge_remove(k: Kernel, dev: Device) -> None:
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


def _bridge_release(k: Kernel, dev: Device) -> None:
    k.bridges.remove(bridge_of(k, dev))


CXL_NVDIMM_BRIDGE_DRIVER = cxl_driver(
    "cxl_nvdimm_bridge",
    CXL_DEVICE_NVDIMM_BRIDGE,
    cxl_nvdimm_bridge_probe,
    cxl_nvdimm_bridge_remove,
    bind_attrs=False,
)

BRIDGE: DeviceType[NvdimmBridge] = DeviceType(
    "cxl_nvdimm_bridge",
    get=bridge_of,
    entries={"devtype": const("cxl_nvdimm_bridge"), "modalias": const("cxl:t1")},
    devtype="cxl_nvdimm_bridge",
    uevent_vars=lambda k, b: ["MODALIAS=cxl:t1"],
    release=_bridge_release,
)


def provider_show(k: Kernel, bridge: NvdimmBridge) -> str:
    return bridge.provider


def commands_show(k: Kernel, bridge: NvdimmBridge) -> str:
    # CXL nd buses implement no bus-level commands.
    return ""


def wait_probe_show(k: Kernel, bridge: NvdimmBridge) -> int:
    """Reading flushes pending nd probes (none here) and says 1."""
    return 1


def _empty_dir(k: Kernel, obj: object) -> Node:
    # The firmware attribute group: every attribute hidden for CXL, the directory stays.
    return static_dir({})


#: ``ndbusN``: on the nd bus, bound to nd_bus, no ``power/`` (3.4.1, seen on a real kernel).
NDBUS: DeviceType[NvdimmBridge] = DeviceType(
    "nd_bus",
    get=bridge_of,
    entries={
        "provider": show_only(provider_show),
        "commands": show_only(commands_show),
        "wait_probe": show_only(wait_probe_show),
        "firmware": _empty_dir,
    },
    uevent_vars=lambda k, b: ["MODALIAS=nd:t0"],
)

NDCTL: DeviceType[NvdimmBridge] = DeviceType("nd_ctl", get=bridge_of)


# -- pmemN (cxl_nvdimm) and its DIMM nmemK -----------------------------------------------------


def add_nvdimm(k: Kernel, mem: Memdev) -> bool:
    """cxl_mem's ``pmemN`` for a memdev with persistent capacity; False (nothing added)
    when the platform has no nvdimm bridge."""
    if not k.bridges:
        return False
    core.device_add(k, Device(f"pmem{mem.id}", mem.devkey, "cxl_nvdimm", "cxl"))
    return True


def _pmem_memdev(k: Kernel, dev: Device) -> Memdev:
    return k.memdevs[int(dev.name[len("pmem") :])]


def cxl_nvdimm_probe(k: Kernel, dev: Device) -> None:
    """Register the memdev's DIMM on the bridge's nd bus (ENXIO without a bound bridge);
    the nvdimm driver binds it."""
    mem = _pmem_memdev(k, dev)
    bridge = k.bridges[0] if k.bridges else None
    if bridge is None or not k.dev(bridge).driver:
        raise kerr(errno.ENXIO)
    nmem_id = lowest_free_id({n.id for b in k.bridges for n in b.nmems})
    nmem = Nmem(id=nmem_id, memdev=mem.id, serial=mem.serial, minor=nmem_id, lsa_size=mem.lsa_size)
    bridge.nmems.append(nmem)
    core.device_add(
        k, Device(nmem.name, bridge.ndbus_key, "nvdimm", "nd", devt=[NMEM_MAJOR, nmem.minor])
    )


def cxl_nvdimm_remove(k: Kernel, dev: Device) -> None:
    mem = _pmem_memdev(k, dev)
    for bridge in k.bridges:
        for nmem in bridge.nmems:
            if nmem.memdev == mem.id:
                core.device_unregister(k, k.dev(nmem))
                return


CXL_NVDIMM_DRIVER = cxl_driver(
    "cxl_nvdimm", CXL_DEVICE_NVDIMM, cxl_nvdimm_probe, cxl_nvdimm_remove, bind_attrs=False
)

PMEM: DeviceType[Memdev] = DeviceType(
    "cxl_nvdimm",
    get=_pmem_memdev,
    entries={"devtype": const("cxl_nvdimm"), "modalias": const("cxl:t2")},
    devtype="cxl_nvdimm",
    uevent_vars=lambda k, mem: ["MODALIAS=cxl:t2"],
)


def nmem_of(k: Kernel, dev: Device) -> Nmem:
    number = int(dev.name[len("nmem") :])
    return next(n for b in k.bridges for n in b.nmems if n.id == number)


def _nmem_release(k: Kernel, dev: Device) -> None:
    nmem = nmem_of(k, dev)
    for bridge in k.bridges:
        # By identity: ``in`` and ``remove`` would compare it field by field with every
        # nmem before it (1,024 of them on a large platform).
        for i, other in enumerate(bridge.nmems):
            if other is nmem:
                del bridge.nmems[i]
                break


def nmem_commands_show(k: Kernel, nmem: Nmem) -> str:
    # The short ND command names, each followed by a space (3.4.2, from a real kernel).
    return "get_size get_data set_data "


def flags_show(k: Kernel, nmem: Nmem) -> str:
    return "label "


def state_show(k: Kernel, nmem: Nmem) -> str:
    """``active`` while an enabled nd region uses the DIMM."""
    for nd in k.nd_regions.values():
        if any(m.nmem == nmem.id for m in nd.mappings) and k.dev(nd).driver:
            return "active"
    return "idle"


def available_slots_show(k: Kernel, nmem: Nmem) -> int:
    """Free label slots minus one; ENXIO while the nvdimm driver is not bound."""
    if not k.dev(nmem).driver:
        raise kerr(errno.ENXIO)
    used = nd_labels.used_slots(k, k.memdevs[nmem.memdev]) or 0
    return max(0, label_slots(nmem.lsa_size) - used - 1)


@changes.also_shows
def _labels_show_in_dimms(
    k: Kernel, keys: set[str], objects: list[Any], device: Callable[[str], Device | None]
) -> None:
    """A DIMM shows what its memdev's label storage holds (available_slots_show), and so do
    the nd regions that map it (their namespaces, their free capacity): a memdev that
    changed makes its DIMMs and their regions' subtrees count."""
    from fake_sysfs.kernel.memdevs import Memdev

    memdevs = {obj.id for obj in objects if isinstance(obj, Memdev)}
    if not memdevs:
        return
    dimms = set()
    for bridge in k.bridges:
        for nmem in bridge.nmems:
            if nmem.memdev in memdevs:
                keys.add(nmem.devkey)
                dimms.add(nmem.id)
    for nd in k.nd_regions.values():
        if any(m.nmem in dimms for m in nd.mappings):
            changes.add_subtree(k, keys, nd.devkey)


def security_show(k: Kernel, nmem: Nmem) -> str:
    return "disabled"


def security_store(k: Kernel, nmem: Nmem, buf: bytes) -> None:
    """Security operations (update, erase, overwrite ...) on the DIMM's passphrase."""
    not_emulated(k, k.dev(nmem), "security")


def frozen_show(k: Kernel, nmem: Nmem) -> int:
    return 0


def cxl_id_show(k: Kernel, nmem: Nmem) -> int:
    # cxl/id is the memdev serial in decimal (%lld).
    return nmem.serial


def cxl_provider_show(k: Kernel, nmem: Nmem) -> str:
    return f"pmem{nmem.memdev}"


def _nmem_cxl(k: Kernel, nmem: Nmem) -> dict[str, Node]:
    return {
        "id": show_attr(cxl_id_show, k, nmem),
        "provider": show_attr(cxl_provider_show, k, nmem),
    }


NMEM: DeviceType[Nmem] = DeviceType(
    "nvdimm",
    get=nmem_of,
    entries={
        "devtype": const("nvdimm"),
        "modalias": const("nd:t1"),
        "commands": show_only(nmem_commands_show),
        "flags": show_only(flags_show),
        "state": show_only(state_show),
        "available_slots": show_only(available_slots_show),
        "security": show_store(security_show, security_store),
        "frozen": show_only(frozen_show),
        "cxl": lambda k, nmem: Dir(lambda: _nmem_cxl(k, nmem)),
        "firmware": _empty_dir,
    },
    devtype="nvdimm",
    uevent_vars=lambda k, nmem: ["MODALIAS=nd:t1"],
    release=_nmem_release,
)


def _nd_match(device_type: str) -> Callable[[Kernel, Device], bool]:
    return lambda k, dev: dev.type == device_type


#: The nd bus's drivers (3.4.1): no nd_btt, nd_pmem handles btt devices.
ND_DRIVERS = {
    "nd_bus": Driver("nd_bus", "nd", _nd_match("nd_bus")),
    "nvdimm": Driver("nvdimm", "nd", _nd_match("nvdimm")),
    "nd_region": ND_REGION_DRIVER,
    "nd_pmem": ND_PMEM_DRIVER,
    "dax_pmem": DAX_PMEM_DRIVER,
}


# -- pmem_regionN (cxl_pmem_region) ------------------------------------------------------------


def cxl_pmem_region_probe(k: Kernel, dev: Device) -> None:
    """Register the nd region of the CXL region (3.4.3) on the bridge's nd bus: ENXIO
    while the bridge has no nd bus, ENODEV if a member has no DIMM."""
    region = region_of(k, dev)
    bridge = k.bridges[0] if k.bridges else None
    if bridge is None or not k.dev(bridge).driver:
        k.log.dbg(dev, "nvdimm bus not found")
        raise kerr(errno.ENXIO)
    nmems = {n.memdev for n in bridge.nmems}
    for i, name in enumerate(region.targets):
        port, _, _ = name[len("decoder") :].partition(".")
        mem = k.ports[int(port)].memdev if name else None
        if mem is None or mem not in nmems:
            k.log.dbg(dev, f"[{i}]: mem{mem}: no nvdimm found")
            raise kerr(errno.ENODEV)
    register_nd_region(k, region, bridge.bus_id, bridge.ndbus_key)


def cxl_pmem_region_remove(k: Kernel, dev: Device) -> None:
    """Unregister the nd region (its namespaces and their devices go with it)."""
    found = core.find_device(k, "nd", f"region{region_of(k, dev).id}")
    if found is not None:
        core.device_unregister(k, found)


CXL_PMEM_REGION_DRIVER = cxl_driver(
    "cxl_pmem_region",
    CXL_DEVICE_PMEM_REGION,
    cxl_pmem_region_probe,
    cxl_pmem_region_remove,
    bind_attrs=False,
)

PMEM_REGION: DeviceType[Region] = DeviceType(
    "cxl_pmem_region",
    get=region_of,
    entries={"devtype": const("cxl_pmem_region"), "modalias": const("cxl:t7")},
    devtype="cxl_pmem_region",
    uevent_vars=lambda k, region: ["MODALIAS=cxl:t7"],
)
