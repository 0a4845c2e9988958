"""The NVDIMM side of CXL: ``nvdimm-bridgeN`` below the root, its nd bus ``ndbusN`` with
control node ``ndctlN``, ``pmemN`` below each persistent memdev and its DIMM ``nmemK``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fake_sysfs.kernfs.nodes import Attr, Node, not_emulated, ro, uevent

#: Character majors for /dev/ndctlN and /dev/nmemK (local/experimental range, see memdevs).
NDCTL_MAJOR = 62
NMEM_MAJOR = 63


@dataclass
class Nmem:
    id: int
    #: The memdev whose ``pmemN`` registered this DIMM.
    memdev: int
    serial: int
    minor: int = 0
    #: Label storage area size (the memdev's LSA).
    lsa_size: int = 0


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


@dataclass
class NvdimmBridge:
    id: int
    bus_id: int
    provider: str
    nmems: list[Nmem] = field(default_factory=list)


def bridge_attrs() -> dict[str, Node]:
    return {
        "devtype": ro("cxl_nvdimm_bridge"),
        "modalias": ro("cxl:t1"),
        "uevent": uevent(
            ["DEVTYPE=cxl_nvdimm_bridge", "DRIVER=cxl_nvdimm_bridge", "MODALIAS=cxl:t1"]
        ),
    }


def pmem_attrs() -> dict[str, Node]:
    return {
        "devtype": ro("cxl_nvdimm"),
        "modalias": ro("cxl:t2"),
        "uevent": uevent(["DEVTYPE=cxl_nvdimm", "DRIVER=cxl_nvdimm", "MODALIAS=cxl:t2"]),
    }


def ndbus_attrs(bridge: NvdimmBridge) -> dict[str, Node]:
    return {
        "provider": ro(bridge.provider),
        # CXL nd buses implement no bus-level commands.
        "commands": ro(""),
        "wait_probe": ro(1),
        "uevent": uevent(["MODALIAS=nd:t0"]),
    }


def ndctl_attrs(bridge: NvdimmBridge) -> dict[str, Node]:
    return {
        "dev": ro(f"{NDCTL_MAJOR}:{bridge.bus_id}"),
        "uevent": uevent(
            [f"MAJOR={NDCTL_MAJOR}", f"MINOR={bridge.bus_id}", f"DEVNAME=ndctl{bridge.bus_id}"]
        ),
    }


def nmem_attrs(nmem: Nmem, active: bool) -> dict[str, Node]:
    return {
        "dev": ro(f"{NMEM_MAJOR}:{nmem.minor}"),
        "devtype": ro("nvdimm"),
        "modalias": ro("nd:t1"),
        "uevent": uevent(
            [
                f"MAJOR={NMEM_MAJOR}",
                f"MINOR={nmem.minor}",
                f"DEVNAME=nmem{nmem.id}",
                "DEVTYPE=nvdimm",
                "DRIVER=nvdimm",
                "MODALIAS=nd:t1",
            ]
        ),
        "commands": ro("get_config_size get_config_data set_config_data "),
        "flags": ro("label "),
        "state": ro("active" if active else "idle"),
        # Free label slots minus one. The label area holds no valid index yet, so every slot
        # counts as free (the kernel writes an index with the first label).
        "available_slots": ro(max(0, label_slots(nmem.lsa_size) - 1)),
        "security": Attr(0o644, lambda: b"disabled\n", not_emulated),
        "frozen": ro(0),
    }


def nmem_cxl_attrs(nmem: Nmem) -> dict[str, Node]:
    # cxl/id is the memdev serial in decimal (%lld); cxl/provider names the pmemN device.
    return {"id": ro(nmem.serial), "provider": ro(f"pmem{nmem.memdev}")}
