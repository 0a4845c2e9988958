"""Helpers for the emulated-kernel tests: booting platforms, walking and reading a View.

Nothing here reads files outside the repository; expected values live in the tests.
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest

from fake_sysfs.kernel import core
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.model import (
    GiB,
    HostBridge,
    MiB,
    Platform,
    RootPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.platform.qemu import parse_qemu
from fake_sysfs.platform.validate import finalize

CXL = "/sys/bus/cxl/devices"
PLATFORM = "/sys/devices/platform"

#: The QEMU command line of kernel-sysfs.md section 1.6 (one window, one host bridge with
#: bus_nr 12, two root ports, a volatile device with sn=0x1 and a persistent one with an LSA
#: and sn=0x2).
SECTION_1_6_QEMU = " ".join(
    [
        "qemu-system-x86_64 -machine q35,cxl=on -m 4G,maxmem=8G,slots=8",
        "-object memory-backend-ram,id=vmem0,share=on,size=256M",
        "-object memory-backend-file,id=pmem1,share=on,mem-path=pmem1.raw,size=256M",
        "-object memory-backend-file,id=lsa1,share=on,mem-path=lsa1.raw,size=256M",
        "-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
        "-device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2",
        "-device cxl-rp,port=1,bus=cxl.1,id=root_port14,chassis=0,slot=3",
        "-device cxl-type3,bus=root_port13,volatile-memdev=vmem0,id=cxl-vmem0,sn=0x1",
        "-device cxl-type3,bus=root_port14,persistent-memdev=pmem1,lsa=lsa1,id=cxl-pmem1,sn=0x2",
        "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G",
    ]
)


def unbind(k: Kernel, name: str, bus: str = "cxl") -> None:
    """Unbind device ``name`` of ``bus`` from its driver, as its driver's unbind file does."""
    dev = core.find_device(k, bus, name)
    assert dev is not None and dev.driver, name
    core.unbind(k, core.bus_type(bus).drivers[dev.driver], dev)


def fresh_kernel(preset: str) -> Kernel:
    """A newly booted kernel of a named preset; the caller may change it."""
    return boot(load_preset(preset))


@cache
def shared_view(preset: str) -> View:
    """A view of a booted preset that tests only read (never mutate its kernel)."""
    return View(fresh_kernel(preset))


@cache
def section_1_6_view() -> View:
    return View(boot(parse_qemu(SECTION_1_6_QEMU)))


def qemu_view(cmdline: str) -> View:
    return View(boot(parse_qemu(cmdline)))


def value(view: View, path: str) -> str:
    """An attribute's value without the kernel's single trailing newline."""
    raw = view.read(path)
    assert raw.endswith(b"\n"), f"{path}: {raw!r} does not end in a newline"
    return raw[:-1].decode()


def mode(view: View, path: str) -> int:
    return view.lstat(path).mode & 0o7777


def kind(view: View, path: str) -> str:
    st = view.lstat(path).mode
    if stat.S_ISLNK(st):
        return "link"
    if stat.S_ISDIR(st):
        return "dir"
    return "file"


def exists(view: View, path: str) -> bool:
    try:
        view.lstat(path)
    except OSError:
        return False
    return True


def walk(view: View, top: str) -> Iterator[tuple[str, str]]:
    """Every entry below ``top`` as (path, kind), not following links."""
    for name in view.listdir(top):
        path = f"{top}/{name}"
        what = kind(view, path)
        yield path, what
        if what == "dir":
            yield from walk(view, path)


def errno_of(fn: Callable[..., Any], *args: Any) -> int:
    """The errno ``fn(*args)`` fails with (the test fails if it succeeds)."""
    with pytest.raises(OSError) as info:
        fn(*args)
    assert info.value.errno is not None
    return info.value.errno


def uevent_vars(view: View, device: str) -> dict[str, str]:
    text = view.read(f"{device}/uevent").decode()
    assert text == "" or text.endswith("\n")
    return dict(line.split("=", 1) for line in text.splitlines())


def small_platform(
    windows: list[Window],
    devices: int = 1,
    ram: int = 256 * MiB,
    pmem: int = 256 * MiB,
    name: str = "test",
) -> Platform:
    """One host bridge (uid 7, bus 0x30) with ``devices`` root ports, one device each."""
    hb = HostBridge(
        uid=7,
        bus_nr=0x30,
        root_ports=[
            RootPort(port=i, device=Type3Device(ram_size=ram, pmem_size=pmem, serial=i + 1))
            for i in range(devices)
        ],
    )
    return finalize(Platform(name=name, host_bridges=[hb], windows=windows))


def window(**kw: Any) -> Window:
    """A 1 GiB window over host bridge 7 (see small_platform), overridable."""
    args: dict[str, Any] = {"size": GiB, "targets": [7]}
    args.update(kw)
    return Window(**args)
