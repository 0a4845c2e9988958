"""The emulated kernel's driver core: the device registry, bind / unbind / drivers_probe and
the probe and remove callbacks of each family, and what kernfs draws from the registry.

Expected behaviour is the kernel's (kernel-sysfs.md sections 0.4, 1.2-1.5, 2.2, 2.4, 2.5, 3):
one ``driver`` per device, the ``driver`` link only while bound, unbind cascades that take
down what the probe set up, boot as registration plus probing.
"""

from __future__ import annotations

import dataclasses
import errno
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fake_sysfs.kernel import core, dax, decoders, memdevs, memory, nvdimm, ports, regions
from fake_sysfs.kernel.boot import boot, probe_all, register_platform
from fake_sysfs.kernel.core import Device, Driver
from fake_sysfs.kernel.drivers import BUSES, TYPES
from fake_sysfs.kernel.regions import Region, add_region, create_region
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.model import GiB
from fake_sysfs.platform.presets import load_preset
from tests.kernel_helpers import CXL, errno_of, exists, fresh_kernel, uevent_vars, unbind

P = 0xF0_0000_0000
TEST_ROOT = "/sys/devices/platform/cxl_acpi.0/root0"


def driver(bus: str, name: str) -> Driver:
    return BUSES[bus].drivers[name]


def device(k: Kernel, name: str, bus: str = "cxl") -> Device:
    found = core.find_device(k, bus, name)
    assert found is not None, name
    return found


def comparable(k: Kernel) -> dict[str, Any]:
    """The state without its log, lists whose order only records history sorted."""
    data = k.to_json()
    del data["log"]
    for bridge in data["bridges"]:
        bridge["nmems"].sort(key=lambda n: n["id"])
    return data


# == the registry =============================================================================


def test_every_family_registers_its_devices() -> None:
    k = fresh_kernel("cxl_test")
    expected = {
        "bus/platform/cxl_acpi.0": ("cxl-acpi-root", "devices/platform", "cxl_acpi"),
        "bus/platform/cxl_mem.0": (
            "mock-platform-device",
            "bus/platform/cxl_switch_dport.0",
            "cxl_mock_mem",
        ),
        "bus/cxl/root0": ("cxl_port", "bus/platform/cxl_acpi.0", ""),
        "bus/cxl/port4": ("cxl_port", "bus/cxl/port1", "cxl_port"),
        "bus/cxl/endpoint5": ("cxl_port", "bus/cxl/port4", "cxl_port"),
        "bus/cxl/decoder0.0": ("cxl_decoder_root", "bus/cxl/root0", ""),
        "bus/cxl/decoder4.0": ("cxl_decoder_switch", "bus/cxl/port4", ""),
        "bus/cxl/decoder5.0": ("cxl_decoder_endpoint", "bus/cxl/endpoint5", ""),
        "bus/cxl/mem0": ("cxl_memdev", "bus/platform/cxl_mem.0", "cxl_mem"),
        "bus/cxl/pmem0": ("cxl_nvdimm", "bus/cxl/mem0", "cxl_nvdimm"),
        "bus/cxl/region0": ("cxl_region", "bus/cxl/decoder0.0", "cxl_region"),
        "bus/cxl/dax_region0": ("cxl_dax_region", "bus/cxl/region0", "cxl_dax_region"),
        "bus/dax/dax0.0": ("dax", "bus/cxl/dax_region0", "kmem"),
        "bus/cxl/nvdimm-bridge0": ("cxl_nvdimm_bridge", "bus/cxl/root0", "cxl_nvdimm_bridge"),
        "bus/nd/ndbus0": ("nd_bus", "bus/cxl/nvdimm-bridge0", "nd_bus"),
        "class/nd/ndctl0": ("nd_ctl", "bus/nd/ndbus0", ""),
        "bus/nd/nmem0": ("nvdimm", "bus/nd/ndbus0", "nvdimm"),
        "bus/memory/memory7682": ("memory_block", "devices/system/memory", ""),
        "bus/node/node0": ("node", "devices/system/node", ""),
    }
    for key, (dtype, parent, drv) in expected.items():
        dev = k.devices[key]
        assert (dev.type, dev.parent, dev.driver) == (dtype, parent, drv), key
        assert dev.key == key
    # Char devs: memdevs, DAX devices, the nd control device and DIMMs.
    assert k.devices["bus/cxl/mem3"].devt == [memdevs.CXL_MEM_MAJOR, 3]
    assert k.devices["bus/dax/dax0.0"].devt == [dax.DAX_MAJOR, 0]
    assert k.devices["class/nd/ndctl0"].devt == [nvdimm.NDCTL_MAJOR, 0]
    # Every family object has its device, and nothing else is registered on the cxl bus.
    on_cxl = {d.name for d in k.devices.values() if d.bus == "cxl"}
    objects = {p.name for p in k.ports.values()}
    objects |= {d.name for p in k.ports.values() for d in p.decoders}
    objects |= {m.name for m in k.memdevs.values()} | {f"pmem{m}" for m in range(10)}
    objects |= {r.name for r in k.regions.values()} | {"dax_region0", "nvdimm-bridge0"}
    assert on_cxl == objects


def test_registering_a_key_twice_is_refused() -> None:
    k = fresh_kernel("qemu-vmem")
    with pytest.raises(ValueError):
        core.device_add(k, Device("mem0", "devices", "cxl_memdev", "cxl"))


def test_no_family_object_records_binding() -> None:
    # One driver field for every device: the registry's. No family dataclass keeps its own.
    classes = [
        ports.Port,
        decoders.Decoder,
        memdevs.Memdev,
        regions.Region,
        dax.DaxRegion,
        dax.DaxDevice,
        nvdimm.NvdimmBridge,
        nvdimm.Nmem,
        memory.MemoryBlock,
    ]
    for cls in classes:
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & {"bound", "driver"}, cls
    assert "driver" in {f.name for f in dataclasses.fields(Device)}


def test_lowest_free_id() -> None:
    assert core.lowest_free_id(set()) == 0
    assert core.lowest_free_id({0, 1, 2}) == 3
    assert core.lowest_free_id({0, 2, 3}) == 1
    assert core.lowest_free_id({1, 2}) == 0


# == boot is registration plus probing =======================================================


def test_registration_binds_nothing() -> None:
    k = register_platform(load_preset("qemu-mixed"))
    assert not [d for d in k.devices.values() if d.driver]
    assert not [d for d in k.devices.values() if d.bus == "cxl"]
    assert {d.type for d in k.devices.values()} == {
        "cxl-acpi-root",
        "pci-host-bridge",
        "acpi-host-bridge",
        "pci-function",
        "memory_block",
        "node",
    }
    assert not k.ports and not k.memdevs


@pytest.mark.parametrize("preset", ["qemu-mixed", "qemu-switch", "cxl_test-xor"])
def test_boot_is_registration_and_drivers_probe(preset: str) -> None:
    platform = load_preset(preset)
    k = register_platform(platform)
    # Probing the CXL root object alone gives the topology cxl_acpi builds, no memdevs.
    acpi_root = next(d for d in k.devices.values() if d.type == "cxl-acpi-root")
    assert core.drivers_probe(k, acpi_root)
    assert acpi_root.driver == "cxl_acpi"
    assert k.root() is not None and not k.memdevs
    # Then every device, as drivers_probe does one at a time.
    probe_all(k)
    for index in range(len(platform.auto_regions)):
        regions.assemble_auto_region(k, index)
    k.log.boot_done()
    assert k == boot(platform)


def test_boot_is_deterministic() -> None:
    a, b = boot(load_preset("cxl_test")), boot(load_preset("cxl_test"))
    assert a == b and a.to_json() == b.to_json()
    assert a.log.records  # the boot log is part of the state, and the same every boot


# == bind, unbind and the probe / remove order ================================================


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every probe and remove the driver core calls, as ``probe cxl_mem mem1``."""
    seen: list[str] = []

    def spy(kind: str, drv: Driver, fn: Callable[[Kernel, Device], None]) -> Any:
        def call(k: Kernel, dev: Device) -> None:
            seen.append(f"{kind} {drv.name} {dev.name}")
            fn(k, dev)

        return call

    for bus in BUSES.values():
        for name, drv in list(bus.drivers.items()):
            wrapped = dataclasses.replace(
                drv, probe=spy("probe", drv, drv.probe), remove=spy("remove", drv, drv.remove)
            )
            monkeypatch.setitem(bus.drivers, name, wrapped)
    yield seen


def test_memdev_unbind_and_bind_run_the_cascade_in_order(calls: list[str]) -> None:
    k = fresh_kernel("cxl_test")
    booted = comparable(k)
    nmem = next(n for b in k.bridges for n in b.nmems if n.memdev == 1).name
    calls.clear()  # what boot probed
    unbind(k, "mem1")
    assert calls == [
        "remove cxl_mem mem1",
        "remove cxl_nvdimm pmem1",
        f"remove nvdimm {nmem}",
        "remove cxl_port endpoint7",
    ]
    assert device(k, "mem1").driver == ""
    assert core.find_device(k, "cxl", "endpoint7") is None
    assert core.find_device(k, "cxl", "pmem1") is None
    assert core.find_device(k, "nd", nmem) is None
    assert k.memdevs[1].endpoint is None and 7 not in k.ports
    # port6 keeps mem5's endpoint, so it stays.
    assert device(k, "port6").driver == "cxl_port"
    calls.clear()
    core.bind(k, driver("cxl", "cxl_mem"), device(k, "mem1"))
    assert calls == [
        "probe cxl_mem mem1",
        "probe cxl_port endpoint7",
        "probe cxl_nvdimm pmem1",
        f"probe nvdimm {nmem}",
    ]
    # The same ids come back (lowest free), so the state is the booted one again.
    assert comparable(k) == booted


def test_last_memdev_below_a_switch_takes_the_switch_port_along() -> None:
    # 1.5: a switch port is deleted when the last memdev beneath it goes away.
    k = fresh_kernel("cxl_test")
    booted = comparable(k)
    unbind(k, "mem8")
    assert device(k, "port16").driver == "cxl_port"
    unbind(k, "mem9")
    assert core.find_device(k, "cxl", "port16") is None
    assert core.find_device(k, "cxl", "decoder16.0") is None
    assert 16 not in k.ports
    # Host-bridge ports belong to cxl_acpi and stay.
    assert device(k, "port3").driver == "cxl_port"
    for name in ("mem8", "mem9"):
        core.bind(k, driver("cxl", "cxl_mem"), device(k, name))
    assert comparable(k) == booted


def test_bind_errors() -> None:
    # 0.4: ENODEV for a driver that does not match, EBUSY when bound already; unbind ENODEV
    # unless bound to that driver.
    k = fresh_kernel("cxl_test")
    mem1 = device(k, "mem1")
    assert errno_of(core.bind, k, driver("cxl", "cxl_mem"), mem1) == errno.EBUSY
    assert errno_of(core.bind, k, driver("cxl", "cxl_port"), mem1) == errno.ENODEV
    assert errno_of(core.bind, k, driver("cxl", "cxl_port"), device(k, "decoder0.0")) == (
        errno.ENODEV
    )
    assert errno_of(core.bind, k, driver("cxl", "cxl_port"), device(k, "root0")) == errno.ENODEV
    assert errno_of(core.unbind, k, driver("cxl", "cxl_port"), mem1) == errno.ENODEV
    assert errno_of(core.bind, k, driver("pci", "cxl_pci"), mem1) == errno.ENODEV
    assert mem1.driver == "cxl_mem"


def test_failed_probe_leaves_the_device_unbound_and_says_why() -> None:
    # 2.4: enabling a memdev whose parent port is disabled fails ENXIO; the driver core
    # logs ENXIO rejections at debug level. (A host-bridge port: an unbound switch port
    # goes once its memdevs detach, see the next test.)
    k = fresh_kernel("cxl_test")
    decoders2 = [d.name for d in k.ports[2].decoders]
    unbind(k, "port2")
    assert not k.ports[2].decoders and not k.ports[2].dports
    # Unbinding the port took its endpoints and switch ports, and their memdevs let go of
    # cxl_mem.
    for mem in (1, 3, 5, 7):
        assert device(k, f"mem{mem}").driver == "" and k.memdevs[mem].endpoint is None
    assert 6 not in k.ports and 10 not in k.ports
    mark = k.log.mark()
    assert errno_of(core.bind, k, driver("cxl", "cxl_mem"), device(k, "mem1")) == errno.ENXIO
    assert device(k, "mem1").driver == ""
    assert [r.text for r in k.log.since(mark)] == [
        "cxl_mem mem1: CXL port topology port2 not enabled",
        "cxl_mem mem1: probe with driver cxl_mem rejects match -6",
    ]
    # Rebinding the port brings back its dports and decoders; then the memdev binds.
    core.bind(k, driver("cxl", "cxl_port"), device(k, "port2"))
    assert [d.name for d in k.devices.values() if d.parent == "bus/cxl/port2"] == decoders2
    assert [d.id for d in k.ports[2].dports] == [1, 3]
    core.bind(k, driver("cxl", "cxl_mem"), device(k, "mem1"))
    assert device(k, "mem1").driver == "cxl_mem"


def test_unbound_switch_port_goes_with_its_last_memdev() -> None:
    # 4.1.7 / test/cxl-topology.sh: disable-port on a switch takes its endpoints; as their
    # memdevs detach the switch port, now empty, goes (its parent is bound); enabling a
    # memdev below re-creates it.
    k = fresh_kernel("cxl_test")
    booted = comparable(k)
    unbind(k, "port6")
    assert core.find_device(k, "cxl", "port6") is None and 6 not in k.ports
    assert device(k, "mem1").driver == "" and device(k, "mem5").driver == ""
    for name in ("mem1", "mem5"):
        core.bind(k, driver("cxl", "cxl_mem"), device(k, name))
    assert device(k, "port6").driver == "cxl_port"
    assert comparable(k) == booted


def test_region_needs_commit_to_bind() -> None:
    # 2.5: binding a region that is not committed fails ENXIO.
    k = fresh_kernel("cxl_test")
    region = create_region(k, k.ports[0].decoders[1], "ram")
    assert region.name == "region1"
    assert device(k, "region1").driver == ""
    # The decoder offers the lowest id no region and no other decoder's offer holds.
    assert k.ports[0].decoders[1].next_region == 7
    # Logged while the driver is recorded, as the kernel prints it; then cxl_acpi's device
    # (the root port's uport, which owns regions) says the region was created.
    assert [r.text for r in k.log.records[-3:]] == [
        "cxl_region region1: config state: 0",
        "cxl_region region1: probe with driver cxl_region rejects match -6",
        "cxl_acpi cxl_acpi.0: decoder0.1: created region1",
    ]
    assert errno_of(core.bind, k, driver("cxl", "cxl_region"), device(k, "region1")) == (
        errno.ENXIO
    )


def test_region_unbind_takes_dax_and_system_ram_down() -> None:
    # 3.1-3.3: unbinding the auto region removes dax_region0, dax0.0 and the memory blocks
    # kmem added (they are offline); binding it again brings them back.
    k = fresh_kernel("cxl_test")
    booted = comparable(k)
    blocks = {b.index for b in k.memory.blocks.values() if b.owner == "dax0.0"}
    assert blocks == set(range(7682, 7686))
    unbind(k, "region0")
    assert core.find_device(k, "cxl", "dax_region0") is None
    assert core.find_device(k, "dax", "dax0.0") is None
    assert not k.dax_regions
    assert not blocks & set(k.memory.blocks)
    assert not [d for d in k.devices if d.startswith("bus/memory/memory768")]
    assert k.regions[0].state == "commit"
    core.bind(k, driver("cxl", "cxl_region"), device(k, "region0"))
    assert comparable(k) == booted


def test_online_memory_stays_when_kmem_lets_go() -> None:
    # 3.1.3: kmem's remove cannot take online blocks; they stay and the error is logged.
    k = fresh_kernel("cxl_test")
    for block in k.memory.blocks.values():
        if block.owner == "dax0.0":
            block.online = True
    unbind(k, "dax0.0", bus="dax")
    assert {b.index for b in k.memory.blocks.values() if b.owner == "dax0.0"} == set(
        range(7682, 7686)
    )
    start, end = P + 0x10000000, P + 0x10000000 + (512 << 20) - 1
    assert k.log.records[-1].text == (
        f"kmem dax0.0: mapping0: {start:#x}-{end:#x} cannot be hotremoved until the next reboot"
    )
    assert k.log.records[-1].level == 3


def test_endpoint_leaving_a_committed_region_resets_it() -> None:
    # 2.8: an endpoint decoder that goes away leaves its region; a committed region is reset
    # (its decoders lose ENABLE) and unbound first; decoders no member uses are released.
    k = fresh_kernel("cxl_test")
    unbind(k, "mem4")
    region = k.regions[0]
    assert region.targets == ["decoder5.0", ""]
    assert region.state == "interleave_active"
    assert device(k, "region0").driver == ""
    assert not k.dax_regions
    assert not any(d.committed for p in k.ports.values() for d in p.decoders if p.kind != "root")
    # mem0 still reaches the region through port4 and port1, so their decoders stay held.
    assert (k.ports[4].decoders[0].region, k.ports[1].decoders[0].region) == (0, 0)
    unbind(k, "mem0")
    assert region.targets == ["", ""]
    assert 4 not in k.ports  # its last memdev left
    assert (k.ports[1].decoders[0].region, k.ports[1].decoders[0].size) == (None, 0)


def test_cxl_acpi_unbind_takes_the_topology_and_rebind_rebuilds_it() -> None:
    # 2.2: unbinding cxl_acpi destroys the whole CXL topology; memdevs stay, unbound.
    k = fresh_kernel("qemu-mixed")
    booted = comparable(k)
    root_dev = device(k, "ACPI0017:00", bus="platform")
    core.unbind(k, driver("platform", "cxl_acpi"), root_dev)
    assert not k.ports and not k.bridges
    assert {d.name for d in k.devices.values() if d.bus == "cxl"} == {
        m.name for m in k.memdevs.values()
    }
    assert not [m for m in k.memdevs.values() if k.dev(m).driver]
    core.bind(k, driver("platform", "cxl_acpi"), root_dev)
    for mem in list(k.memdevs.values()):
        assert core.drivers_probe(k, k.dev(mem))
    assert comparable(k) == booted


def test_memdev_goes_with_its_pci_function() -> None:
    k = fresh_kernel("qemu-mixed")
    pci = next(d for d in k.devices.values() if d.driver == "cxl_pci")
    mem = next(d for d in k.devices.values() if d.parent == pci.key)
    core.unbind(k, driver("pci", "cxl_pci"), pci)
    assert mem.key not in k.devices
    assert int(mem.name[3:]) not in k.memdevs
    core.bind(k, driver("pci", "cxl_pci"), pci)
    assert k.devices[mem.key].driver == "cxl_mem"


# == kernfs draws bus, class, /sys/dev/char, subsystem and driver from the registry ============


def with_pmem_region(k: Kernel) -> Kernel:
    """``k`` plus a committed pmem region (cxl_test decoder0.3), which binds at once."""
    add_region(
        k,
        Region(
            id=3,
            root_port=0,
            root_decoder=3,
            mode="pmem",
            ways=2,
            granularity=4096,
            start=P + 0x110000000,
            size=GiB,
            targets=["decoder7.1", "decoder9.1"],
            state="commit",
        ),
    )
    # A raw namespace on its nd region, enabled: its pmem disk is a device too.
    view = View(k)
    ns = "/sys/bus/nd/devices/namespace3.0"
    view.write(f"{ns}/uuid", b"6a8d7b1c-3f5e-4c2a-9b0d-1e2f3a4b5c6d\n")
    view.write(f"{ns}/size", b"0x2000000\n")
    view.write("/sys/bus/nd/drivers/nd_pmem/bind", b"namespace3.0\n")
    return k


def check_generic_entries(k: Kernel) -> set[str]:
    """Every registered device's generic entries, as kernfs draws them; the device types
    seen."""
    view = View(k)
    seen = set()
    for dev in k.devices.values():
        seen.add(dev.type)
        path = f"/sys/{view.tree.path(dev)}"
        assert view.realpath(path) == path, dev.key
        names = set(view.listdir(path))
        if dev.bus:
            assert view.realpath(f"/sys/bus/{dev.bus}/devices/{dev.name}") == path
            assert view.realpath(f"{path}/subsystem") == f"/sys/bus/{dev.bus}"
        elif dev.devclass:
            assert view.realpath(f"/sys/class/{dev.devclass}/{dev.name}") == path
            assert view.realpath(f"{path}/subsystem") == f"/sys/class/{dev.devclass}"
            parent = view.tree.path(k.devices[dev.parent])
            assert view.realpath(f"{path}/device") == f"/sys/{parent}"
        else:
            assert "subsystem" not in names, dev.key
        if dev.driver:
            drivers = f"/sys/bus/{dev.bus}/drivers/{dev.driver}"
            assert view.realpath(f"{path}/driver") == drivers
            assert view.realpath(f"{drivers}/{dev.name}") == path
        else:
            assert "driver" not in names, dev.key
            assert "DRIVER" not in uevent_vars(view, path), dev.key
        if dev.devt is not None:
            major, minor = dev.devt
            kind = "block" if dev.devclass == "block" else "char"
            assert view.realpath(f"/sys/dev/{kind}/{major}:{minor}") == path
            assert view.read(f"{path}/dev") == f"{major}:{minor}\n".encode()
        else:
            assert "dev" not in names, dev.key
    # Nothing is listed that is not registered.
    for bus in view.listdir("/sys/bus"):
        for name in view.listdir(f"/sys/bus/{bus}/devices"):
            assert core.find_device(k, bus, name) is not None, (bus, name)
        for drv in view.listdir(f"/sys/bus/{bus}/drivers"):
            for name in view.listdir(f"/sys/bus/{bus}/drivers/{drv}"):
                if not re.fullmatch(
                    r"bind|unbind|uevent|new_id|remove_id|module|poison_inject_max", name
                ):
                    assert device(k, name, bus).driver == drv
    for cls in view.listdir("/sys/class"):
        for name in view.listdir(f"/sys/class/{cls}"):
            assert k.devices[f"class/{cls}/{name}"].devclass == cls
    numbers: dict[str, set[str]] = {"char": set(), "block": set()}
    for d in k.devices.values():
        if d.devt is not None:
            kind = "block" if d.devclass == "block" else "char"
            numbers[kind].add(f"{d.devt[0]}:{d.devt[1]}")
    assert set(view.listdir("/sys/dev/char")) == numbers["char"]
    assert set(view.listdir("/sys/dev/block")) == numbers["block"]
    return seen


def test_every_family_is_drawn_the_same_way() -> None:
    seen = check_generic_entries(with_pmem_region(fresh_kernel("cxl_test")))
    seen |= check_generic_entries(fresh_kernel("qemu-mixed"))
    seen |= check_generic_entries(fresh_kernel("hmem"))
    assert seen == set(TYPES)


def test_unbound_devices_of_every_family_lose_their_driver_link() -> None:
    k = with_pmem_region(fresh_kernel("cxl_test"))
    unbind(k, "mem2")
    unbind(k, "region3")
    unbind(k, "dax0.0", bus="dax")
    unbind(k, "cxl_mem.6", bus="platform")
    unbind(k, "nmem0", bus="nd")
    unbind(k, "port10")
    view = View(k)
    for path in (
        f"{CXL}/mem2",
        f"{CXL}/region3",
        "/sys/bus/dax/devices/dax0.0",
        "/sys/bus/platform/devices/cxl_mem.6",
        "/sys/bus/nd/devices/nmem0",
        f"{CXL}/port10",
        f"{CXL}/mem3",
    ):
        assert not exists(view, f"{path}/driver"), path
    assert not exists(view, f"{CXL}/pmem_region3")
    assert not exists(view, f"{CXL}/mem6")
    # mem2 and mem6 were port8's last memdevs; port10 stays, without its endpoints.
    assert not exists(view, f"{TEST_ROOT}/port1/port8")
    assert not exists(view, f"{TEST_ROOT}/port2/port10/endpoint11")
    check_generic_entries(k)
