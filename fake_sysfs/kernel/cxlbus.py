"""The cxl bus (cxl_bus_type): its device type numbers, driver matching and ``flush``.

A cxl driver matches a device iff the device's type number (the ``tN`` of its modalias)
equals the driver's id; decoders (t0) and the root (t4) match no driver.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel.core import Device, Driver
from fake_sysfs.kernfs.nodes import Attr, Node, sysfs_streq

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

CXL_DEVICE_NVDIMM_BRIDGE = 1
CXL_DEVICE_NVDIMM = 2
CXL_DEVICE_PORT = 3
CXL_DEVICE_ROOT = 4
CXL_DEVICE_MEMORY_EXPANDER = 5
CXL_DEVICE_REGION = 6
CXL_DEVICE_PMEM_REGION = 7
CXL_DEVICE_DAX_REGION = 8

#: Device type name -> type number (the root is a cxl_port with its own number).
_IDS = {
    "cxl_decoder_root": 0,
    "cxl_decoder_switch": 0,
    "cxl_decoder_endpoint": 0,
    "cxl_nvdimm_bridge": CXL_DEVICE_NVDIMM_BRIDGE,
    "cxl_nvdimm": CXL_DEVICE_NVDIMM,
    "cxl_port": CXL_DEVICE_PORT,
    "cxl_memdev": CXL_DEVICE_MEMORY_EXPANDER,
    "cxl_region": CXL_DEVICE_REGION,
    "cxl_pmem_region": CXL_DEVICE_PMEM_REGION,
    "cxl_dax_region": CXL_DEVICE_DAX_REGION,
}


def cxl_device_id(dev: Device) -> int:
    if dev.type == "cxl_port" and dev.name.startswith("root"):
        return CXL_DEVICE_ROOT
    return _IDS.get(dev.type, -1)


def cxl_driver(
    name: str,
    device_id: int,
    probe: Callable[[Kernel, Device], None],
    remove: Callable[[Kernel, Device], None],
    bind_attrs: bool = True,
) -> Driver:
    """A driver on the cxl bus for devices of type ``device_id``."""

    def match(k: Kernel, dev: Device) -> bool:
        return cxl_device_id(dev) == device_id

    return Driver(name, "cxl", match, probe, remove, bind_attrs)


def flush_store(k: Kernel, buf: bytes) -> None:
    """``/sys/bus/cxl/flush``: ``1`` waits for pending port work (there is none: every
    cascade here completes within its store); anything else is EINVAL."""
    if not sysfs_streq(buf, b"1"):
        raise kerr(errno.EINVAL)


def cxl_bus_attrs(k: Kernel) -> dict[str, Node]:
    # A pure store: it validates and waits, it never changes the state.
    return {"flush": Attr(0o200, None, lambda buf: flush_store(k, buf), pure=True)}
