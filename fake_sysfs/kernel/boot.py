"""Boot: the kernel state Linux builds for a platform.

Boot is registration and probing, through the same paths ``bind`` takes later:

1. The memory the machine booted with (node 0), and the hardware devices firmware and bus
   enumeration present (kernel.hardware), all registered unbound.
2. ``drivers_probe`` of each of them, in registration order. cxl_acpi builds ``root0``, the
   root decoders and dports, the host-bridge ports (probed by cxl_port) and the nvdimm
   bridge; cxl_pci / cxl_mock_mem make the memdevs in probe order; cxl_mem attaches each
   to the port topology (switch port on first use, endpoint, ``pmemN``), and so on down,
   each new device probed as it is registered.
3. Regions firmware committed before boot are assembled and bound (kernel.regions), which
   brings up their DAX region and System RAM.

Ids: ports and endpoints share one allocator (lowest free); memdevs have their own.
"""

from __future__ import annotations

from fake_sysfs.kernel import core, hardware, hmem, memory
from fake_sysfs.kernel.regions import assemble_auto_region
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.model import Platform


def register_platform(platform: Platform) -> Kernel:
    """A kernel with the boot memory and every hardware device registered, nothing bound."""
    k = Kernel(platform=platform, memory=memory.boot_memory(platform))
    memory.register_boot_memory(k)
    for dev in hardware.hardware_devices(k):
        core.device_add(k, dev, probe=False)
    hmem.register_platform_device(k)
    return k


def probe_all(k: Kernel) -> None:
    """``drivers_probe`` of every registered device, oldest first."""
    for key in list(k.devices):
        dev = k.devices.get(key)
        if dev is not None:
            core.drivers_probe(k, dev)


def boot(platform: Platform) -> Kernel:
    k = register_platform(platform)
    probe_all(k)
    for index in range(len(platform.auto_regions)):
        assemble_auto_region(k, index)
    k.log.boot_done()
    return k
