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


def _builtin(parameters: dict[str, str]) -> Node:
    """A built-in module shows only its parameters (no initstate: nothing was loaded)."""
    params: dict[str, Node] = {name: Attr(0o444, value=value) for name, value in parameters.items()}
    return static_dir({"parameters": static_dir(params), "uevent": uevent([])})


def module_root(k: Kernel) -> dict[str, Node]:
    names = [n for n in MODULES if n != "kmem" or k.platform.kmem]
    found: dict[str, Node] = {name: _module() for name in names}
    if k.platform.soft_reserved:
        # dax_hmem, loaded for the hmem devices, and device_hmem, built in, whose
        # ``disable`` parameter (hmem.disable=) would have kept them away.
        found["dax_hmem"] = _module()
        found["device_hmem"] = _builtin({"disable": "N"})
    return dict(sorted(found.items()))
