"""Named platforms.

The ``qemu-*`` presets are QEMU command lines (the examples of QEMU's CXL documentation,
with serial numbers), parsed by :mod:`fake_sysfs.platform.qemu` exactly as a user's own
command line would be. ``cxl_test`` and ``cxl_test-xor`` reproduce the kernel's mock
topology (tools/testing/cxl). ``hmem`` and ``hmem-devdax`` are a machine with
soft-reserved memory for dax_hmem. ``scale-N`` and ``scale:HxRxS`` generate large platforms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from fake_sysfs.errors import PlatformError
from fake_sysfs.platform.model import (
    AutoRegion,
    GiB,
    HostBridge,
    MiB,
    Platform,
    RootPort,
    SoftReserved,
    Switch,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.text import brief, quote
from fake_sysfs.platform.validate import MAX_MEMDEVS, PCI_DEVICES_PER_BUS, finalize

DEFAULT_PRESET = "qemu-mixed"

_MACHINE = "qemu-system-x86_64 -machine q35,cxl=on -m 4G,maxmem=8G,slots=8 -smp 4"


def _file(ident: str, path: str, size: str) -> str:
    return f" -object memory-backend-file,id={ident},share=on,mem-path=/tmp/{path}.raw,size={size}"


QEMU_PMEM = f"""{_MACHINE}
 -object memory-backend-file,id=cxl-mem1,share=on,mem-path=/tmp/cxltest.raw,size=256M
 -object memory-backend-file,id=cxl-lsa1,share=on,mem-path=/tmp/lsa.raw,size=256M
 -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1
 -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2
 -device cxl-type3,bus=root_port13,persistent-memdev=cxl-mem1,lsa=cxl-lsa1,id=cxl-pmem0,sn=0x1
 -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G"""

QEMU_VMEM = f"""{_MACHINE}
 -object memory-backend-ram,id=vmem0,share=on,size=256M
 -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1
 -device cxl-rp,port=0,bus=cxl.1,id=root_port13,chassis=0,slot=2
 -device cxl-type3,bus=root_port13,volatile-memdev=vmem0,id=cxl-vmem0,sn=0x1
 -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G"""


def _four_devices(backends: str, device_args: Callable[[int], str], windows: str) -> str:
    lines = [_MACHINE, backends]
    lines += [
        " -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
        " -device pxb-cxl,bus_nr=222,bus=pcie.0,id=cxl.2",
    ]
    for i, (bus, port, slot) in enumerate(
        (("cxl.1", 0, 2), ("cxl.1", 1, 3), ("cxl.2", 0, 5), ("cxl.2", 1, 6))
    ):
        rp = f"root_port{13 + i}"
        lines.append(f" -device cxl-rp,port={port},bus={bus},id={rp},chassis=0,slot={slot}")
        lines.append(f" -device cxl-type3,bus={rp},{device_args(i)},sn=0x{i + 1:x}")
    lines.append(windows)
    return "\n".join(lines)


QEMU_INTERLEAVE = _four_devices(
    "\n".join(
        _file(f"cxl-mem{i}", f"cxltest{i}", "256M") + "\n" + _file(f"cxl-lsa{i}", f"lsa{i}", "256M")
        for i in range(1, 5)
    ),
    lambda i: f"persistent-memdev=cxl-mem{i + 1},lsa=cxl-lsa{i + 1},id=cxl-pmem{i}",
    " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=4G,"
    "cxl-fmw.0.interleave-granularity=8k",
)

QEMU_MIXED = _four_devices(
    "\n".join(
        f" -object memory-backend-ram,id=cxl-vmem{i},share=on,size=512M\n"
        + _file(f"cxl-mem{i}", f"cxltest{i}", "512M")
        + "\n"
        + _file(f"cxl-lsa{i}", f"lsa{i}", "256M")
        for i in range(1, 5)
    ),
    lambda i: (
        f"volatile-memdev=cxl-vmem{i + 1},persistent-memdev=cxl-mem{i + 1},"
        f"lsa=cxl-lsa{i + 1},id=cxl-mem{i}"
    ),
    # An x2 window over both host bridges (x2 and x4 regions), and an x1 window per host
    # bridge (x1 regions, and x2 regions across one bridge's two root ports).
    " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.targets.1=cxl.2,cxl-fmw.0.size=4G,"
    "cxl-fmw.0.interleave-granularity=8k,"
    "cxl-fmw.1.targets.0=cxl.1,cxl-fmw.1.size=4G,"
    "cxl-fmw.2.targets.0=cxl.2,cxl-fmw.2.size=4G",
)

QEMU_SWITCH = "\n".join(
    [_MACHINE]
    + [
        _file(f"cxl-mem{i}", f"cxltest{i}", "256M") + "\n" + _file(f"cxl-lsa{i}", f"lsa{i}", "256M")
        for i in range(4)
    ]
    + [
        " -device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
        " -device cxl-rp,port=0,bus=cxl.1,id=root_port0,chassis=0,slot=0",
        " -device cxl-rp,port=1,bus=cxl.1,id=root_port1,chassis=0,slot=1",
        " -device cxl-upstream,bus=root_port0,id=us0",
    ]
    + [
        f" -device cxl-downstream,port={i},bus=us0,id=swport{i},chassis=0,slot={4 + i}"
        f"\n -device cxl-type3,bus=swport{i},persistent-memdev=cxl-mem{i},lsa=cxl-lsa{i},"
        f"id=cxl-pmem{i},sn=0x{i + 1:x}"
        for i in range(4)
    ]
    + [" -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G,cxl-fmw.0.interleave-granularity=4k"]
)

QEMU_PRESETS = {
    "qemu-pmem": (QEMU_PMEM, "one directly attached persistent device with LSA, one 4 GiB window"),
    "qemu-vmem": (QEMU_VMEM, "one directly attached volatile device, one 4 GiB window"),
    "qemu-interleave": (
        QEMU_INTERLEAVE,
        "2 host bridges x 2 root ports, 4 persistent devices, one x2 4 GiB window at 8k",
    ),
    "qemu-mixed": (
        QEMU_MIXED,
        "the interleave topology with volatile+persistent devices and LSA; "
        "an x2 window at 8k and an x1 window per host bridge (default)",
    ),
    "qemu-switch": (
        QEMU_SWITCH,
        "1 host bridge, a switch with 4 downstream ports and 4 persistent devices, 4k window",
    ),
}

# cxl_test: the CFMWS pool starts at 2^40 - 64 GiB (a 40-bit physical address space).
CXL_TEST_POOL = 0xF0_0000_0000


def _mock_mem(index: int, *, rcd: bool = False) -> Type3Device:
    return Type3Device(
        ram_size=2 * GiB if rcd else GiB,
        pmem_size=0 if rcd else GiB,
        lsa_size=0 if rcd else 128 * 1024,
        serial=index,
        numa_node=0 if rcd else (index % 2 if index < 8 else index - 8),
        firmware_version="mock fw v1 ",
        payload_max=4096,
        decoders=8,
        qos_class=42,
        rcd=rcd,
        order=index,
        label=f"cxl_rcd.{index}" if rcd else f"cxl_mem.{index}",
    )


def cxl_test(xor: bool = False) -> Platform:
    """The mock topology of tools/testing/cxl (Linux v6.14), modulo or XOR windows."""
    mems = {i: _mock_mem(i) for i in range(10)}

    def switch(uport: int, dports: list[int]) -> Switch:
        return Switch(
            ports=[
                SwitchPort(port=d, device=mems[d], label=f"cxl_switch_dport.{d}") for d in dports
            ],
            decoders=8,
            targets=2,
            label=f"cxl_switch_uport.{uport}",
        )

    def root_port(i: int, dports: list[int]) -> RootPort:
        return RootPort(port=i, switch=switch(i, dports), label=f"cxl_root_port.{i}")

    hbs = [
        HostBridge(
            uid=0,
            root_ports=[root_port(0, [0, 4]), root_port(2, [2, 6])],
            decoders=8,
            targets=2,
            label="cxl_host_bridge.0",
        ),
        HostBridge(
            uid=1,
            root_ports=[root_port(1, [1, 5]), root_port(3, [3, 7])],
            decoders=8,
            targets=2,
            label="cxl_host_bridge.1",
        ),
        HostBridge(
            uid=2,
            root_ports=[root_port(4, [8, 9])],
            decoders=8,
            targets=2,
            label="cxl_host_bridge.2",
        ),
        HostBridge(
            uid=3,
            rch=True,
            rcd=_mock_mem(10, rcd=True),
            decoders=8,
            targets=2,
            label="cxl_host_bridge.3",
        ),
    ]
    P = CXL_TEST_POOL

    def win(base: int, size: int, targets: list[int], gran: int, ram: bool) -> Window:
        return Window(
            size=size,
            targets=targets,
            granularity=gran,
            ram=ram,
            pmem=not ram,
            qos_class=42,
            xor=xor,
            base=P + base,
        )

    if xor:
        windows = [
            win(0x10000000, 2 * GiB, [0], 4096, False),
            win(0x90000000, 2 * GiB, [0, 1], 256, False),
            win(0x110000000, 3 * GiB, [0, 1, 2], 512, False),
        ]
        # The mock programs the auto-region decoders against the (unpopulated) modulo
        # window base 0, so no window claims them and no region is assembled.
        auto_base: int | None = 0
    else:
        windows = [
            win(0x10000000, GiB, [0], 4096, True),
            win(0x50000000, 2 * GiB, [0, 1], 4096, True),
            win(0xD0000000, GiB, [0], 4096, False),
            win(0x110000000, 2 * GiB, [0, 1], 4096, False),
            win(0x190000000, GiB, [2], 4096, False),
            win(0x1D0000000, 256 * MiB, [3], 4096, True),
        ]
        auto_base = None
    name = "cxl_test-xor" if xor else "cxl_test"
    return Platform(
        name=name,
        style="cxl_test",
        description=PRESET_DESCRIPTIONS[name],
        host_bridges=hbs,
        windows=windows,
        auto_regions=[
            AutoRegion(
                window=0,
                size=512 * MiB,
                granularity=4096,
                members=["cxl_mem.0", "cxl_mem.4"],
                mode="ram",
                base=auto_base,
            )
        ],
        window_pool=P,
    )


@dataclass(frozen=True)
class ScaleShape:
    host_bridges: int
    root_ports: int
    switch_ports: int  # 0: devices attach directly to root ports


_SCALE_SIZES = {64: ScaleShape(4, 4, 4), 256: ScaleShape(4, 4, 16), 1024: ScaleShape(8, 8, 16)}


#: scale:HxR[xS] bounds: H host bridges, R root ports per host bridge (a PCI bus has 32
#: device numbers), S downstream ports per switch (idem), 0 for no switches.
SCALE_MAX_HOST_BRIDGES = 64
SCALE_MAX_ROOT_PORTS = PCI_DEVICES_PER_BUS
SCALE_MAX_SWITCH_PORTS = PCI_DEVICES_PER_BUS
#: The root bus number of every generated host bridge; the buses below it end at 0xff.
SCALE_BUS_NR = 0x0C
_SCALE_NAME = re.compile(r"scale:([0-9]{1,6})x([0-9]{1,6})(?:x([0-9]{1,6}))?")


def scale_shape(name: str) -> ScaleShape | None:
    """``scale-N`` (N in 64, 256, 1024) or ``scale:HxR[xS]``; None if not a scale name.

    Numbers are ASCII decimal digits; a shape beyond the bounds is refused here, before
    anything is built.
    """
    if name.startswith("scale-"):
        sizes = {str(n): n for n in _SCALE_SIZES}
        count = sizes.get(name.removeprefix("scale-"))
        if count is None:
            choices = ", ".join(f"scale-{n}" for n in _SCALE_SIZES)
            raise PlatformError(
                f"unknown scale preset {quote(name)} (use {choices} or scale:HxRxS)"
            )
        return _SCALE_SIZES[count]
    m = _SCALE_NAME.fullmatch(name)
    if m:
        shape = ScaleShape(int(m.group(1)), int(m.group(2)), int(m.group(3) or 0))
        _check_shape(shape, name)
        return shape
    if name.startswith("scale"):
        raise PlatformError(
            f"bad scale preset {quote(name)}: use scale-64, scale-256, scale-1024 or "
            "scale:HxR or scale:HxRxS (H, R, S decimal numbers)"
        )
    return None


def _check_shape(shape: ScaleShape, name: str) -> None:
    where = brief(name)
    if not 1 <= shape.host_bridges <= SCALE_MAX_HOST_BRIDGES:
        raise PlatformError(f"{where}: use 1 to {SCALE_MAX_HOST_BRIDGES} host bridges")
    if not 1 <= shape.root_ports <= SCALE_MAX_ROOT_PORTS:
        raise PlatformError(
            f"{where}: use 1 to {SCALE_MAX_ROOT_PORTS} root ports (a PCI bus has "
            f"{PCI_DEVICES_PER_BUS} device numbers)"
        )
    if not 0 <= shape.switch_ports <= SCALE_MAX_SWITCH_PORTS:
        raise PlatformError(
            f"{where}: use 0 to {SCALE_MAX_SWITCH_PORTS} switch ports (a PCI bus has "
            f"{PCI_DEVICES_PER_BUS} device numbers)"
        )
    # Each root port takes a bus; with a switch, also the switch's internal bus and one per
    # downstream port.
    per_root_port = 1 + (shape.switch_ports + 1 if shape.switch_ports else 0)
    buses = shape.root_ports * per_root_port
    if SCALE_BUS_NR + buses > 0xFF:
        raise PlatformError(
            f"{where}: each host bridge needs {buses} PCI buses below bus {SCALE_BUS_NR:#x}, "
            f"more than the {0xFF - SCALE_BUS_NR} left (fewer root ports or switch ports)"
        )
    memdevs = shape.host_bridges * shape.root_ports * max(shape.switch_ports, 1)
    if memdevs > MAX_MEMDEVS:
        raise PlatformError(f"{where}: {memdevs} memdevs exceed the limit of {MAX_MEMDEVS}")


def scale(shape: ScaleShape, name: str) -> Platform:
    """H host bridges x R root ports (x S switch ports), one device per leaf port.

    Each host bridge sits in its own PCI segment so that bus numbers never run out. The
    windows are one interleaving every host bridge (when the count is a valid CFMWS way
    count) plus one per host bridge.
    """
    _check_shape(shape, name)
    serial = 0

    def device() -> Type3Device:
        nonlocal serial
        serial += 1
        return Type3Device(
            ram_size=256 * MiB, pmem_size=256 * MiB, lsa_size=128 * 1024, serial=serial
        )

    hbs = []
    for h in range(shape.host_bridges):
        rps = []
        for r in range(shape.root_ports):
            if shape.switch_ports:
                sw = Switch(
                    ports=[SwitchPort(port=s, device=device()) for s in range(shape.switch_ports)]
                )
                rps.append(RootPort(port=r, switch=sw))
            else:
                rps.append(RootPort(port=r, device=device()))
        hbs.append(HostBridge(uid=h, root_ports=rps, bus_nr=SCALE_BUS_NR, segment=h))
    uids = [hb.uid for hb in hbs]
    windows = []
    if len(uids) in (2, 3, 4, 6, 8, 12, 16):
        windows.append(Window(size=len(uids) * 16 * GiB, targets=uids, granularity=4096))
    windows += [Window(size=64 * GiB, targets=[uid]) for uid in uids]
    return Platform(
        name=name,
        host_bridges=hbs,
        windows=windows,
        description=(
            f"{shape.host_bridges} host bridges x {shape.root_ports} root ports"
            + (f" x {shape.switch_ports} switch ports" if shape.switch_ports else "")
        ),
    )


#: Where the hmem presets' soft-reserved memory lies, and how much (a multiple of 1 GiB, so
#: that a 1 GiB aligned DAX device fits, as daxctl-create.sh asks for).
HMEM_BASE = 8 * GiB
HMEM_SIZE = 4 * GiB


def hmem(name: str, *, kmem: bool) -> Platform:
    """A machine with one soft-reserved range (HBM-like, on memory-only node 1) beside a
    CXL host bridge with one RAM expander and no window: so that the CXL root decoders
    take no memregion id and dax_hmem's region is ``hmem.0``, DAX region 0."""
    device = Type3Device(ram_size=512 * MiB, serial=1)
    return Platform(
        name=name,
        host_bridges=[HostBridge(uid=0, root_ports=[RootPort(port=0, device=device)], bus_nr=12)],
        soft_reserved=[SoftReserved(start=HMEM_BASE, size=HMEM_SIZE, node=1)],
        kmem=kmem,
        description=PRESET_DESCRIPTIONS[name],
    )


#: Every named preset and what it is, in listing order.
PRESET_DESCRIPTIONS = {
    **{name: description for name, (_, description) in QEMU_PRESETS.items()},
    "cxl_test": "the kernel's cxl_test mock topology, with its auto region",
    "cxl_test-xor": "the kernel's cxl_test mock topology with XOR interleave windows",
    "hmem": "4 GiB of soft-reserved memory (dax_hmem), as System RAM through kmem",
    "hmem-devdax": "4 GiB of soft-reserved memory (dax_hmem), a kernel without kmem",
    **{f"scale-{n}": f"a generated platform with {n} memdevs" for n in _SCALE_SIZES},
}


def preset_names() -> list[str]:
    return list(PRESET_DESCRIPTIONS)


def load_preset(name: str) -> Platform:
    """Build (and validate) the named preset."""
    if name in QEMU_PRESETS:
        from fake_sysfs.platform.qemu import parse_qemu

        platform = parse_qemu(QEMU_PRESETS[name][0], name=name)
        platform.description = QEMU_PRESETS[name][1]
        return platform
    if name in ("cxl_test", "cxl_test-xor"):
        return finalize(cxl_test(xor=name.endswith("xor")))
    if name in ("hmem", "hmem-devdax"):
        return finalize(hmem(name, kmem=name == "hmem"))
    shape = scale_shape(name)
    if shape is not None:
        return finalize(scale(shape, name))
    raise PlatformError(f"unknown preset {quote(name)} (see 'fake-sysfs presets')")
