"""``/sys/module``: the kernel modules the emulated kernel runs, as a loaded module shows
itself there (``initstate`` reads ``live``).

The tools load the module of a driver before they bind to it (libkmod's probe-insert);
libkmod first reads ``/sys/module/<name>/initstate``, and a live module is not loaded again.
So the upstream tools find every emulated driver present, as on a machine whose kernel has
them loaded, and never try to insert a real module for a fake device.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.kernfs.nodes import Attr, Node, static_dir, uevent

if TYPE_CHECKING:
    from fake_sysfs.kernel.state import Kernel

#: The modules providing the emulated drivers (names as /sys/module spells them).
MODULES = (
    "cxl_acpi",
    "cxl_core",
    "cxl_mem",
    "cxl_pci",
    "cxl_pmem",
    "cxl_port",
    "dax",
    "dax_cxl",
    "dax_pmem",
    "device_dax",
    "kmem",
    "libnvdimm",
    "nd_pmem",
)


def _module() -> Node:
    return static_dir(
        {
            "initstate": Attr(0o444, value="live"),
            "refcnt": Attr(0o444, value=0),
            "holders": static_dir({}),
            "uevent": uevent([]),
        }
    )


def module_root(k: Kernel) -> dict[str, Node]:
    return {name: _module() for name in MODULES}
