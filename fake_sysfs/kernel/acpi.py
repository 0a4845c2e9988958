"""cxl_acpi: the platform driver of the CXL root object (ACPI0017, cxl_test's cxl_acpi.0).

Its probe builds what the firmware tables describe: ``root0``, one root decoder per CFMWS
window (each reserving a memregion id, in window order), a root dport per host bridge
(id = its _UID), a port per host bridge that is not restricted (the cxl_port probe then
finds its dports and decoders), and ``nvdimm-bridge0`` when a window allows pmem. Its
remove unregisters ``root0``, and with it the whole CXL topology.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.kernel import core, hardware
from fake_sysfs.kernel.core import Device, Driver
from fake_sysfs.kernel.decoders import Decoder, add_decoders
from fake_sysfs.kernel.nvdimm import add_bridge
from fake_sysfs.kernel.ports import Dport, add_port
from fake_sysfs.platform.model import Window
from fake_sysfs.platform.naming import root_device_path

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel


def _root_decoder(root: int, index: int, win: Window) -> Decoder:
    assert win.base is not None
    return Decoder(
        port=root,
        index=index,
        kind="root",
        start=win.base,
        size=win.size,
        ways=win.ways,
        granularity=win.granularity,
        locked=win.locked,
        targets=list(win.targets),
        committed=True,
        cap_ram=win.ram,
        cap_pmem=win.pmem,
        cap_type2=win.type2,
        cap_type3=win.type3,
        qos_class=win.qos_class,
        next_region=index,
    )


def cxl_acpi_probe(k: Kernel, dev: Device) -> None:
    platform = k.platform
    root = add_port(k, "root", None, dev.key, root_device_path(platform))
    root.dports = [Dport(id=hb.uid, device=hb.path) for hb in platform.host_bridges]
    add_decoders(k, root, [_root_decoder(root.id, i, w) for i, w in enumerate(platform.windows)])
    for hb in platform.host_bridges:
        host = k.devices.get(hardware.hw_key(k, hb.path) or "")
        k.log.info(host, "host supports CXL (restricted)" if hb.rch else "host supports CXL")
        if not hb.rch:  # a restricted host gets no port; its RCD's endpoint sits below root
            add_port(k, "port", root, root.devkey, hb.path, hb.path)
    if any(w.pmem for w in platform.windows):
        add_bridge(k, root.devkey, "cxl_test" if platform.style == "cxl_test" else "CXL")


def cxl_acpi_remove(k: Kernel, dev: Device) -> None:
    """Regions were added last (cxl_acpi's device owns them), so they go first, each torn
    down as ``delete_region`` does; then ``root0`` and everything below it."""
    # Imported here: regions use what this module builds.
    from fake_sysfs.kernel.regions import unregister_region

    for region in sorted(k.regions.values(), key=lambda r: r.id, reverse=True):
        unregister_region(k, region)
    for child in reversed(core.children(k, dev)):
        core.device_unregister(k, child)


CXL_ACPI_DRIVER = Driver(
    "cxl_acpi",
    "platform",
    lambda k, dev: dev.type == "cxl-acpi-root",
    cxl_acpi_probe,
    cxl_acpi_remove,
)
