"""The emulated kernel's /sys against the Linux v6.14 sysfs ABI and the cxl_test topology.

Expected values are taken from the specification documents (kernel-sysfs.md, section
numbers in the test names and comments; cxl_test-platform.md for the mock topology), never
from the emulation's own code. Values are read through fake_sysfs.kernfs.view.View.
"""

from __future__ import annotations

import itertools
import re

import pytest

from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.regions import Region, add_region, create_region
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.model import GiB, Window
from tests.kernel_helpers import (
    CXL,
    PLATFORM,
    errno_of,
    exists,
    fresh_kernel,
    kind,
    mode,
    qemu_view,
    section_1_6_view,
    shared_view,
    small_platform,
    uevent_vars,
    unbind,
    value,
    walk,
    window,
)

# -- cxl_test constants (cxl_test-platform.md 4.2-4.5, kernel-sysfs.md 4.1) -----------------

#: The mock HPA pool base with 40 physical address bits: 2^40 - 64 GiB.
P = 0xF0_0000_0000
TEST_ROOT = f"{PLATFORM}/cxl_acpi.0/root0"

#: name -> (base, size, ways, reported granularity, target_list, ram, pmem)
MODULO_WINDOWS = {
    "decoder0.0": (P + 0x010000000, 1 * GiB, 1, 256, "0", True, False),
    "decoder0.1": (P + 0x050000000, 2 * GiB, 2, 4096, "0,1", True, False),
    "decoder0.2": (P + 0x0D0000000, 1 * GiB, 1, 256, "0", False, True),
    "decoder0.3": (P + 0x110000000, 2 * GiB, 2, 4096, "0,1", False, True),
    "decoder0.4": (P + 0x190000000, 1 * GiB, 1, 256, "2", False, True),
    "decoder0.5": (P + 0x1D0000000, 256 << 20, 1, 256, "3", True, False),
}
XOR_WINDOWS = {
    "decoder0.0": (P + 0x010000000, 2 * GiB, 1, 256, "0"),
    "decoder0.1": (P + 0x090000000, 2 * GiB, 2, 256, "0,1"),
    "decoder0.2": (P + 0x110000000, 3 * GiB, 3, 512, "0,1,2"),
}
#: memdev id -> (endpoint id, parent port of the endpoint)
ENDPOINTS = {
    0: (5, "port4"),
    1: (7, "port6"),
    2: (9, "port8"),
    3: (11, "port10"),
    4: (12, "port4"),
    5: (13, "port6"),
    6: (14, "port8"),
    7: (15, "port10"),
    8: (17, "port16"),
    9: (18, "port16"),
    10: (19, "root0"),
}
#: switch port -> (cxl_switch_uport index, parent host-bridge port, its dport ids)
SWITCH_PORTS = {
    "port4": (0, "port1", [0, 4]),
    "port6": (1, "port2", [1, 5]),
    "port8": (2, "port1", [2, 6]),
    "port10": (3, "port2", [3, 7]),
    "port16": (4, "port3", [8, 9]),
}
#: host-bridge port -> (host bridge index, dport ids)
HB_PORTS = {"port1": (0, [0, 2]), "port2": (1, [1, 3]), "port3": (2, [4])}


def mock_path(mem: int) -> str:
    """Hardware directory of cxl_mem.N / cxl_rcd.10 (cxl_test-platform.md 4.1)."""
    if mem == 10:
        return f"{PLATFORM}/cxl_host_bridge.3/cxl_rcd.10"
    uport = mem % 4 if mem < 8 else 4
    hb = uport % 2 if uport < 4 else 2
    return (
        f"{PLATFORM}/cxl_host_bridge.{hb}/cxl_root_port.{uport}/cxl_switch_uport.{uport}"
        f"/cxl_switch_dport.{mem}/cxl_mem.{mem}"
    )


DECODER = re.compile(r"decoder\d+\.\d+")


# == 0.1 / 2: formats ========================================================================

FORMAT_PRESETS = ["cxl_test", "cxl_test-xor", "qemu-mixed", "qemu-switch", "qemu-pmem"]
#: Files whose content is not one formatted value: uevent is KEY=value lines, CDAT and the
#: firmware-upload data file are binary, tracefs's ``trace`` is a buffer of lines, its
#: pipes return what is buffered (ring-buffer pages, lines) and its format files are text.
NOT_ONE_VALUE = {"uevent", "CDAT", "data", "meminfo", "numastat", "trace"} | {
    "trace_pipe",
    "trace_pipe_raw",
    "format",
    "header_page",
    "header_event",
}


@pytest.mark.parametrize("preset", FORMAT_PRESETS)
def test_every_value_ends_in_exactly_one_newline(preset: str) -> None:
    # 0.1: every read returns the value plus exactly one "\n"; an empty value is "\n".
    view = shared_view(preset)
    checked = 0
    for path, what in walk(view, "/sys"):
        name = path.rsplit("/", 1)[1]
        if what != "file" or name in NOT_ONE_VALUE or not mode(view, path) & 0o444:
            continue
        try:
            raw = view.read(path)
        except OSError:
            continue  # attributes whose read fails are covered elsewhere
        checked += 1
        assert raw.endswith(b"\n") and b"\n" not in raw[:-1], (path, raw)
    assert checked > 300


@pytest.mark.parametrize("preset", FORMAT_PRESETS)
def test_uevent_files_are_key_value_lines(preset: str) -> None:
    view = shared_view(preset)
    for path, what in walk(view, "/sys"):
        if what == "file" and path.endswith("/uevent") and mode(view, path) & 0o444:
            text = view.read(path).decode()
            assert text == "" or text.endswith("\n"), path
            for line in text.splitlines():
                assert re.fullmatch(r"[A-Z_]+=.*", line), (path, line)


@pytest.mark.parametrize("name", sorted(MODULO_WINDOWS))
def test_cxl_test_root_decoders(name: str) -> None:
    # 2.3 root decoders + cxl_test 4.2 CFMWS table (modulo arithmetic).
    view = shared_view("cxl_test")
    base, size, ways, gran, targets, ram, pmem = MODULO_WINDOWS[name]
    d = f"{CXL}/{name}"
    assert value(view, f"{d}/start") == f"{base:#x}"
    assert mode(view, f"{d}/start") == 0o400
    assert value(view, f"{d}/size") == f"{size:#x}"
    assert value(view, f"{d}/interleave_ways") == str(ways)
    # A 1-way window always reports granularity 256, whatever the CFMWS says (4096).
    assert value(view, f"{d}/interleave_granularity") == str(gran)
    assert value(view, f"{d}/target_list") == targets
    assert value(view, f"{d}/cap_ram") == str(int(ram))
    assert value(view, f"{d}/cap_pmem") == str(int(pmem))
    assert value(view, f"{d}/cap_type2") == "0"
    assert value(view, f"{d}/cap_type3") == "1"
    assert value(view, f"{d}/locked") == "0"
    assert value(view, f"{d}/qos_class") == "42"
    assert value(view, f"{d}/devtype") == "cxl_decoder_root"
    assert value(view, f"{d}/modalias") == "cxl:t0"
    for attr in ("size", "locked", "interleave_ways", "interleave_granularity", "target_list"):
        assert mode(view, f"{d}/{attr}") == 0o444, attr
    for attr in ("cap_ram", "cap_pmem", "cap_type2", "cap_type3", "qos_class"):
        assert mode(view, f"{d}/{attr}") == 0o444, attr
    # create_* visible iff cap_type3 and the capability; delete_region iff either is.
    assert exists(view, f"{d}/create_ram_region") == ram
    assert exists(view, f"{d}/create_pmem_region") == pmem
    offer = "create_ram_region" if ram else "create_pmem_region"
    assert mode(view, f"{d}/{offer}") == 0o644
    assert re.fullmatch(r"region\d+", value(view, f"{d}/{offer}"))
    assert mode(view, f"{d}/delete_region") == 0o200
    assert errno_of(view.read, f"{d}/delete_region") == 13  # EACCES
    # Root decoders have no region/target_type/mode files: regions are child directories.
    for absent in ("region", "target_type", "mode", "dpa_size", "dpa_resource"):
        assert not exists(view, f"{d}/{absent}"), absent


def test_root_decoder_region_offers_after_auto_region() -> None:
    # 1.4 / cxl_test 4.3: root decoders pre-allocate memregion ids 0..5; the auto region
    # takes decoder0.0's id 0, after which decoder0.0 offers region6.
    view = shared_view("cxl_test")
    assert value(view, f"{CXL}/decoder0.0/create_ram_region") == "region6"
    assert value(view, f"{CXL}/decoder0.1/create_ram_region") == "region1"
    assert value(view, f"{CXL}/decoder0.2/create_pmem_region") == "region2"
    assert value(view, f"{CXL}/decoder0.3/create_pmem_region") == "region3"
    assert value(view, f"{CXL}/decoder0.4/create_pmem_region") == "region4"
    assert value(view, f"{CXL}/decoder0.5/create_ram_region") == "region5"


@pytest.mark.parametrize("port", ["port1", "port2", "port3", *SWITCH_PORTS])
def test_cxl_test_unprogrammed_switch_decoders(port: str) -> None:
    # 2.3 zeroed switch decoders; 4.1.2: the mock seeds target_list with the first child
    # of the uport (HB0 -> 0, HB1 -> 1, HB2 -> 4, uport i -> i, uport4 -> 8).
    view = shared_view("cxl_test")
    first = (HB_PORTS[port][1] if port in HB_PORTS else SWITCH_PORTS[port][2])[0]
    port_id = int(port[4:])
    # Decoder 0 of port1/port4 belongs to the auto region; 1..7 are untouched everywhere.
    for index in range(1, 8):
        d = f"{CXL}/decoder{port_id}.{index}"
        assert value(view, f"{d}/start") == "0x0"
        assert mode(view, f"{d}/start") == 0o400
        assert value(view, f"{d}/size") == "0x0"
        assert value(view, f"{d}/interleave_ways") == "1"
        assert value(view, f"{d}/interleave_granularity") == "256"
        assert value(view, f"{d}/locked") == "0"
        assert value(view, f"{d}/target_type") == "expander"
        assert value(view, f"{d}/region") == ""
        assert value(view, f"{d}/target_list") == str(first)
        assert value(view, f"{d}/devtype") == "cxl_decoder_switch"
        for absent in ("cap_ram", "qos_class", "create_ram_region", "mode", "dpa_size"):
            assert not exists(view, f"{d}/{absent}"), absent


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed"])
def test_unallocated_endpoint_decoders(preset: str) -> None:
    # 2.3: endpoint decoders with nothing allocated (zero-padded %pa dpa_size, all-ones
    # dpa_resource) and the file set of an endpoint decoder.
    view = shared_view(preset)
    names = [n for n in view.listdir(CXL) if DECODER.fullmatch(n)]
    endpoint_decoders = [
        n for n in names if value(view, f"{CXL}/{n}/devtype") == "cxl_decoder_endpoint"
    ]
    unallocated = [n for n in endpoint_decoders if value(view, f"{CXL}/{n}/mode") == "none"]
    assert len(unallocated) >= 8
    for name in unallocated:
        d = f"{CXL}/{name}"
        assert value(view, f"{d}/dpa_size") == "0x0000000000000000"
        assert value(view, f"{d}/dpa_resource") == "0xffffffffffffffff"
        assert value(view, f"{d}/start") == "0x0"
        assert value(view, f"{d}/size") == "0x0"
        assert value(view, f"{d}/interleave_ways") == "1"
        assert value(view, f"{d}/interleave_granularity") == "256"
        assert value(view, f"{d}/region") == ""
        assert value(view, f"{d}/target_type") == "expander"
        assert mode(view, f"{d}/mode") == 0o644
        assert mode(view, f"{d}/dpa_size") == 0o644
        assert mode(view, f"{d}/dpa_resource") == 0o444
        assert mode(view, f"{d}/region") == 0o444
        assert mode(view, f"{d}/target_type") == 0o444
        assert not exists(view, f"{d}/target_list")
        assert not exists(view, f"{d}/cap_type3")


def test_device_kinds_devtype_modalias_and_uevent() -> None:
    # 1.2 / 2.1: devtype and modalias per device kind; memdevs have neither file but their
    # uevent names DEVTYPE=cxl_memdev and MODALIAS=cxl:t5.
    view = shared_view("cxl_test")
    expected_prefix = [
        ("root", "cxl_port", "cxl:t4"),
        ("port", "cxl_port", "cxl:t3"),
        ("endpoint", "cxl_port", "cxl:t3"),
        ("region", "cxl_region", "cxl:t6"),
        ("dax_region", "cxl_dax_region", "cxl:t8"),
        ("nvdimm-bridge", "cxl_nvdimm_bridge", "cxl:t1"),
        ("pmem", "cxl_nvdimm", "cxl:t2"),
    ]
    seen: set[str] = set()
    for name in view.listdir(CXL):
        d = f"{CXL}/{name}"
        if name.startswith("mem"):
            assert not exists(view, f"{d}/devtype")
            assert not exists(view, f"{d}/modalias")
            env = uevent_vars(view, d)
            assert env["DEVTYPE"] == "cxl_memdev"
            assert env["MODALIAS"] == "cxl:t5"
            seen.add("mem")
            continue
        if DECODER.fullmatch(name):
            parent = view.realpath(f"{d}/..").rsplit("/", 1)[1]
            decoder_kind = {"root": "root", "port": "switch", "endp": "endpoint"}[parent[:4]]
            devtype, modalias = f"cxl_decoder_{decoder_kind}", "cxl:t0"
            seen.add(devtype)
        else:
            prefix, devtype, modalias = next(
                e for e in expected_prefix if re.fullmatch(rf"{e[0]}\d+", name)
            )
            seen.add(prefix)
        assert value(view, f"{d}/devtype") == devtype, name
        assert value(view, f"{d}/modalias") == modalias, name
        env = uevent_vars(view, d)
        assert env["DEVTYPE"] == devtype, name
        assert env["MODALIAS"] == modalias, name
    assert len(seen) == 11, seen


#: 1.2: the driver that binds each kind of cxl device (root and decoders: none).
DRIVER_OF = {
    "port": "cxl_port",
    "endpoint": "cxl_port",
    "mem": "cxl_mem",
    "region": "cxl_region",
    "dax_region": "cxl_dax_region",
    "nvdimm-bridge": "cxl_nvdimm_bridge",
    "pmem": "cxl_nvdimm",
}


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed"])
def test_driver_links_and_uevent_driver(preset: str) -> None:
    # 0.4 / 1.2: every device booted bound has a driver link to /sys/bus/cxl/drivers/<drv>
    # and DRIVER=<drv> in uevent; the driver directory links back. root0 and decoders have
    # no driver.
    view = shared_view(preset)
    for name in view.listdir(CXL):
        d = f"{CXL}/{name}"
        prefix = re.sub(r"[\d.]+$", "", name)
        driver = DRIVER_OF.get(prefix)
        env = uevent_vars(view, d)
        if driver is None:
            assert prefix in ("root", "decoder"), name
            assert not exists(view, f"{d}/driver"), name
            assert "DRIVER" not in env, name
            continue
        assert kind(view, f"{d}/driver") == "link", name
        assert view.realpath(f"{d}/driver") == f"/sys/bus/cxl/drivers/{driver}"
        assert env["DRIVER"] == driver, name
        assert view.realpath(f"/sys/bus/cxl/drivers/{driver}/{name}") == view.realpath(d)


def test_cxl_bus_and_driver_directories() -> None:
    # 0.4 / 1.1 / 1.3: bus files, driver directories and which have bind/unbind.
    view = shared_view("cxl_test")
    bus = "/sys/bus/cxl"
    assert {"devices", "drivers", "drivers_autoprobe", "drivers_probe", "uevent", "flush"} <= set(
        view.listdir(bus)
    )
    assert mode(view, f"{bus}/flush") == 0o200
    with_bind = {"cxl_port", "cxl_mem", "cxl_region"}
    without_bind = {"cxl_nvdimm_bridge", "cxl_nvdimm", "cxl_pmem_region", "cxl_dax_region"}
    drivers = set(view.listdir(f"{bus}/drivers"))
    assert with_bind | without_bind <= drivers
    for drv in with_bind | without_bind:
        entries = set(view.listdir(f"{bus}/drivers/{drv}"))
        assert mode(view, f"{bus}/drivers/{drv}/uevent") == 0o200
        has_bind = drv in with_bind
        assert ("bind" in entries) == has_bind, drv
        assert ("unbind" in entries) == has_bind, drv
        if has_bind:
            assert mode(view, f"{bus}/drivers/{drv}/bind") == 0o200
            assert mode(view, f"{bus}/drivers/{drv}/unbind") == 0o200


def test_cxl_core_devices_have_no_power_directory() -> None:
    # 0.4: CXL core devices are "pm not required"; DAX, nd, platform devices have power/.
    view = shared_view("cxl_test")
    for name in ("root0", "port1", "endpoint5", "decoder0.0", "decoder5.0", "region0"):
        assert not exists(view, f"{CXL}/{name}/power"), name
    for name in ("mem0", "dax_region0", "nvdimm-bridge0", "pmem0"):
        assert not exists(view, f"{CXL}/{name}/power"), name
    for path in (
        "/sys/bus/dax/devices/dax0.0",
        f"{PLATFORM}/cxl_host_bridge.0",
        mock_path(0),
    ):
        assert kind(view, f"{path}/power") == "dir", path
    # 3.4.1 (seen on a real kernel): ndbus, its ndctl and the nmems have no power/.
    for path in ("/sys/bus/nd/devices/nmem0", "/sys/bus/nd/devices/ndbus0", "/sys/class/nd/ndctl0"):
        assert not exists(view, f"{path}/power"), path


def test_memdev_attribute_modes_and_chardev() -> None:
    # 2.4 file modes; 1.4 /dev/cxl/memN with minor N; 0.4 dev = MAJ:MIN and uevent.
    view = shared_view("cxl_test")
    nodes = {name: (major, minor) for name, major, minor, _ in view.dev_nodes()}
    for mem in range(11):
        d = f"{CXL}/mem{mem}"
        for attr in ("serial", "numa_node", "firmware_version", "payload_max"):
            assert mode(view, f"{d}/{attr}") == 0o444, attr
        for attr in ("label_storage_size", "ram/size", "pmem/size", "security/state"):
            assert mode(view, f"{d}/{attr}") == 0o444, attr
        assert mode(view, f"{d}/security/sanitize") == 0o200
        assert mode(view, f"{d}/trigger_poison_list") == 0o200
        major, minor = nodes[f"cxl/mem{mem}"]
        assert minor == mem
        assert value(view, f"{d}/dev") == f"{major}:{minor}"
        env = uevent_vars(view, d)
        assert (env["MAJOR"], env["MINOR"], env["DEVNAME"]) == (
            str(major),
            str(minor),
            f"cxl/mem{mem}",
        )
        assert value(view, f"{d}/security/state") == "disabled"
        assert view.realpath(f"/sys/dev/char/{major}:{minor}") == view.realpath(d)
        fw = f"{d}/firmware/mem{mem}"
        assert {"loading", "data", "status", "error", "remaining_size", "cancel"} <= set(
            view.listdir(fw)
        )
        assert value(view, f"{fw}/status") == "idle"
        assert mode(view, f"{fw}/cancel") == 0o200


def test_memdev_serial_zero_without_dsn() -> None:
    # 2.4: a QEMU device without sn= has no DSN and reads serial 0x0.
    view = qemu_view(
        "qemu-system-x86_64 -machine q35,cxl=on -m 2G"
        " -object memory-backend-ram,id=vm0,share=on,size=256M"
        " -device pxb-cxl,bus_nr=52,bus=pcie.0,id=cxl.1"
        " -device cxl-rp,port=3,bus=cxl.1,id=rp0,chassis=0,slot=1"
        " -device cxl-rp,port=5,bus=cxl.1,id=rp1,chassis=0,slot=2"
        " -device cxl-type3,bus=rp0,volatile-memdev=vm0,id=dev0"
        " -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=1G"
    )
    assert value(view, f"{CXL}/mem0/serial") == "0x0"
    assert value(view, f"{CXL}/mem0/label_storage_size") == "0"
    assert value(view, f"{CXL}/mem0/pmem/size") == "0x0"
    assert value(view, f"{CXL}/mem0/ram/size") == "0x10000000"
    assert not exists(view, f"{CXL}/mem0/pmem/qos_class")
    assert value(view, f"{CXL}/mem0/ram/qos_class") == "0"
    # Root dport named by the _UID (= bus_nr 52 = 0x34), host-bridge dports by the root
    # ports' port numbers; the device sits below the port=3 root port.
    assert view.readlink(f"{CXL}/root0/dport52") == "../../../pci0000:34"
    assert sorted(n for n in view.listdir(f"{CXL}/port1") if n.startswith("dport")) == [
        "dport3",
        "dport5",
    ]
    rp3, rp5 = (view.realpath(f"{CXL}/port1/dport{i}") for i in (3, 5))
    assert rp3 != rp5
    for rp in (rp3, rp5):
        assert rp.rsplit("/", 1)[0] == "/sys/devices/pci0000:34"
    assert view.realpath(f"{CXL}/mem0").startswith(rp3 + "/")


# -- regions (2.5) -----------------------------------------------------------------------------


def test_new_pmem_region_formats() -> None:
    # 2.5: a region straight after create_pmem_region: ways/granularity 0, size 0x0,
    # resource all-ones, uuid all zeros (RW), no targets, unbound.
    k = fresh_kernel("cxl_test")
    create_region(k, k.ports[0].decoders[3], "pmem")
    view = View(k)
    d = f"{CXL}/region3"
    assert view.realpath(d) == f"{TEST_ROOT}/decoder0.3/region3"
    assert value(view, f"{d}/uuid") == "00000000-0000-0000-0000-000000000000"
    assert mode(view, f"{d}/uuid") == 0o644
    assert value(view, f"{d}/interleave_ways") == "0"
    assert value(view, f"{d}/interleave_granularity") == "0"
    assert value(view, f"{d}/size") == "0x0"
    assert value(view, f"{d}/resource") == "0xffffffffffffffff"
    assert mode(view, f"{d}/resource") == 0o444
    assert value(view, f"{d}/commit") == "0"
    assert value(view, f"{d}/mode") == "pmem"
    assert mode(view, f"{d}/mode") == 0o444
    for attr in ("commit", "interleave_ways", "interleave_granularity", "size"):
        assert mode(view, f"{d}/{attr}") == 0o644, attr
    assert not [n for n in view.listdir(d) if n.startswith("target")]
    assert not exists(view, f"{d}/driver")
    assert "DRIVER" not in uevent_vars(view, d)
    assert (value(view, f"{d}/devtype"), value(view, f"{d}/modalias")) == ("cxl_region", "cxl:t6")


def test_bound_pmem_region_has_pmem_region_child() -> None:
    # 1.2 / 2.5 / 2.6: targetN exist for N < ways only; a bound pmem region gets
    # pmem_regionN (same N, cxl_pmem_region, cxl:t7), also on the bus.
    k = fresh_kernel("cxl_test")
    # Registered committed, as attaching its targets and committing will leave it, so
    # cxl_region binds it at once.
    add_region(
        k,
        Region(
            id=3,
            root_port=0,
            root_decoder=3,
            mode="pmem",
            uuid="6a8d7b1c-3f5e-4c2a-9b0d-1e2f3a4b5c6d",
            ways=2,
            granularity=4096,
            start=P + 0x110000000,
            size=GiB,
            targets=["decoder7.1", "decoder9.1"],
            state="commit",
        ),
    )
    view = View(k)
    d = f"{CXL}/region3"
    assert value(view, f"{d}/uuid") == "6a8d7b1c-3f5e-4c2a-9b0d-1e2f3a4b5c6d"
    assert value(view, f"{d}/target0") == "decoder7.1"
    assert value(view, f"{d}/target1") == "decoder9.1"
    assert mode(view, f"{d}/target0") == 0o644
    assert not exists(view, f"{d}/target2")
    assert value(view, f"{d}/size") == "0x40000000"
    assert value(view, f"{d}/resource") == f"{P + 0x110000000:#x}"
    assert value(view, f"{d}/commit") == "1"
    child = f"{d}/pmem_region3"
    assert value(view, f"{child}/devtype") == "cxl_pmem_region"
    assert value(view, f"{child}/modalias") == "cxl:t7"
    assert view.realpath(f"{child}/driver") == "/sys/bus/cxl/drivers/cxl_pmem_region"
    assert view.realpath(f"{CXL}/pmem_region3") == f"{TEST_ROOT}/decoder0.3/region3/pmem_region3"


def test_ram_region_uuid_is_read_only_and_empty() -> None:
    # 2.5: ram regions have a 0444 uuid reading an empty line.
    k = fresh_kernel("cxl_test")
    create_region(k, k.ports[0].decoders[5], "ram")
    view = View(k)
    assert view.read(f"{CXL}/region5/uuid") == b"\n"
    assert mode(view, f"{CXL}/region5/uuid") == 0o444
    assert value(view, f"{CXL}/region5/mode") == "ram"
    assert view.read(f"{CXL}/region0/uuid") == b"\n"
    assert mode(view, f"{CXL}/region0/uuid") == 0o444


# -- capabilities, visibility and the nvdimm bridge (2.3, 2.6) ------------------------------


def test_cap_flags_follow_window_restrictions() -> None:
    # 2.3: caps come from the CFMWS restrictions; create_* visible iff cap_type3 and the
    # matching capability; delete_region iff either is visible; fixed -> locked=1.
    view = View(
        fresh_platform_kernel(
            [
                window(ram=True, pmem=False),
                window(ram=False, pmem=True),
                window(type2=True, type3=False, ram=True, pmem=True),
                window(type2=True, type3=True, locked=True, qos_class=5),
            ]
        )
    )
    d = [f"{CXL}/decoder0.{i}" for i in range(4)]
    assert [value(view, f"{x}/cap_ram") for x in d] == ["1", "0", "1", "1"]
    assert [value(view, f"{x}/cap_pmem") for x in d] == ["0", "1", "1", "1"]
    assert [value(view, f"{x}/cap_type2") for x in d] == ["0", "0", "1", "1"]
    assert [value(view, f"{x}/cap_type3") for x in d] == ["1", "1", "0", "1"]
    assert [value(view, f"{x}/locked") for x in d] == ["0", "0", "0", "1"]
    assert value(view, f"{d[3]}/qos_class") == "5"
    assert [exists(view, f"{x}/create_ram_region") for x in d] == [True, False, False, True]
    assert [exists(view, f"{x}/create_pmem_region") for x in d] == [False, True, False, True]
    assert [exists(view, f"{x}/delete_region") for x in d] == [True, True, False, True]
    # Root decoders created in order reserve memregion ids 0, 1, 2, ...
    assert value(view, f"{d[0]}/create_ram_region") == "region0"
    assert value(view, f"{d[1]}/create_pmem_region") == "region1"
    assert value(view, f"{d[3]}/create_pmem_region") == "region3"
    assert value(view, f"{d[3]}/create_ram_region") == "region3"


def fresh_platform_kernel(windows: list[Window]) -> Kernel:
    return boot(small_platform(windows, devices=2))


def test_no_nvdimm_bridge_without_pmem_window() -> None:
    # 1.5 / 2.6: nvdimm-bridge0 exists iff some root decoder has cap_pmem=1; without a
    # bridge, memdevs with persistent capacity get no pmemN.
    view = View(fresh_platform_kernel([window(ram=True, pmem=False)]))
    assert not exists(view, f"{CXL}/nvdimm-bridge0")
    assert not exists(view, f"{CXL}/root0/nvdimm-bridge0")
    assert value(view, f"{CXL}/mem0/pmem/size") == "0x10000000"
    assert not [n for n in view.listdir(f"{CXL}/mem0") if re.fullmatch(r"pmem\d+", n)]
    assert not [n for n in view.listdir(CXL) if re.fullmatch(r"pmem\d+", n)]
    assert view.listdir("/sys/class/nd") == []

    view = View(fresh_platform_kernel([window(ram=True, pmem=False), window(pmem=True)]))
    assert view.realpath(f"{CXL}/nvdimm-bridge0") == (
        "/sys/devices/platform/ACPI0017:00/root0/nvdimm-bridge0"
    )
    assert kind(view, f"{CXL}/mem0/pmem0") == "dir"
    assert kind(view, f"{CXL}/mem1/pmem1") == "dir"


@pytest.mark.parametrize("preset", ["cxl_test", "cxl_test-xor", "qemu-pmem", "qemu-mixed"])
def test_nvdimm_bridge_present_with_pmem_window(preset: str) -> None:
    view = shared_view(preset)
    assert kind(view, f"{CXL}/root0/nvdimm-bridge0") == "dir"
    assert view.realpath(f"{CXL}/nvdimm-bridge0") == view.realpath(f"{CXL}/root0/nvdimm-bridge0")


# == 1: layout, naming, links ================================================================


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed", "qemu-switch"])
def test_bus_devices_are_relative_links_into_devices(preset: str) -> None:
    # 0.4: /sys/bus/cxl/devices/<name> -> ../../../devices/<path of the device>.
    view = shared_view(preset)
    for name in view.listdir(CXL):
        link = f"{CXL}/{name}"
        assert kind(view, link) == "link", name
        text = view.readlink(link)
        assert text.startswith("../../../devices/"), (name, text)
        real = view.realpath(link)
        assert real == "/sys/" + text[len("../../../") :], name
        assert real.rsplit("/", 1)[1] == name
        assert kind(view, real) == "dir"
        assert view.realpath(f"{link}/subsystem") == "/sys/bus/cxl"


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed", "qemu-switch", "qemu-pmem"])
def test_every_cxl_link_resolves(preset: str) -> None:
    # libcxl realpath()s uport/dport/parent_dport/driver/subsystem links; none may dangle.
    view = shared_view(preset)
    for path, what in walk(view, "/sys/bus/cxl"):
        if what == "link":
            view.realpath(path)
    for name in view.listdir(CXL):
        for entry in view.listdir(f"{CXL}/{name}"):
            if kind(view, f"{CXL}/{name}/{entry}") == "link":
                view.realpath(f"{CXL}/{name}/{entry}")


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed"])
def test_no_dangling_links_anywhere(preset: str) -> None:
    view = shared_view(preset)
    dangling = []
    for path, what in walk(view, "/sys"):
        if what == "link":
            try:
                view.realpath(path)
            except OSError:
                dangling.append(path)
    assert dangling == []


def test_port_and_endpoint_ids_share_one_allocator() -> None:
    # 1.4: rootN, portN and endpointN share one lowest-free id allocator.
    for view, expected in (
        (shared_view("cxl_test"), set(range(20))),
        (section_1_6_view(), {0, 1, 2, 3}),
        (shared_view("qemu-mixed"), set(range(7))),
    ):
        ids = [
            int(m.group(2))
            for n in view.listdir(CXL)
            if (m := re.fullmatch(r"(root|port|endpoint)(\d+)", n))
        ]
        assert len(ids) == len(set(ids))
        assert set(ids) == expected


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed", "qemu-switch"])
def test_decoder_names_use_the_owning_port_id(preset: str) -> None:
    # 1.4: decoderX.Y lives in port X; Y counts from 0.
    view = shared_view(preset)
    ports = [n for n in view.listdir(CXL) if re.fullmatch(r"(root|port|endpoint)\d+", n)]
    total = 0
    for port in ports:
        port_id = re.sub(r"^\D+", "", port)
        decoders = sorted(
            (n for n in view.listdir(f"{CXL}/{port}") if DECODER.fullmatch(n)),
            key=lambda n: int(n.split(".")[1]),
        )
        assert decoders, port
        assert decoders == [f"decoder{port_id}.{i}" for i in range(len(decoders))], port
        total += len(decoders)
    assert total == len([n for n in view.listdir(CXL) if DECODER.fullmatch(n)])


@pytest.mark.parametrize("preset", ["cxl_test", "qemu-mixed", "qemu-switch", "qemu-interleave"])
def test_endpoints_pair_with_memdevs_below_their_dports(preset: str) -> None:
    # 1.5: an endpoint's uport is its memdev; the memdev hangs below the parent dport's
    # device (string prefix of realpaths), the pmemN child below memN.
    view = shared_view(preset)
    endpoints = [n for n in view.listdir(CXL) if n.startswith("endpoint")]
    memdevs = {n for n in view.listdir(CXL) if re.fullmatch(r"mem\d+", n)}
    paired = set()
    for ep in endpoints:
        mem = view.realpath(f"{CXL}/{ep}/uport")
        name = mem.rsplit("/", 1)[1]
        assert name in memdevs
        assert mem == view.realpath(f"{CXL}/{name}")
        dport = view.realpath(f"{CXL}/{ep}/parent_dport")
        assert mem.startswith(dport + "/"), (ep, dport, mem)
        paired.add(name)
    assert paired == memdevs
    for pmem in (n for n in view.listdir(CXL) if re.fullmatch(r"pmem\d+", n)):
        assert view.realpath(f"{CXL}/{pmem}/..") == view.realpath(f"{CXL}/mem{pmem[4:]}")


@pytest.mark.parametrize("preset", ["qemu-mixed", "qemu-switch", "qemu-pmem"])
def test_memdevs_live_under_their_pci_function(preset: str) -> None:
    # 1.3 / 1.5: memN is a child of its type-3 PCI function (class 0x050210, cxl_pci).
    view = shared_view(preset)
    for mem in (n for n in view.listdir(CXL) if re.fullmatch(r"mem\d+", n)):
        fn = view.realpath(f"{CXL}/{mem}/..")
        assert re.fullmatch(r"/sys/devices/pci[0-9a-f]{4}:[0-9a-f]{2}(/[0-9a-f:.]+)+", fn)
        assert value(view, f"{fn}/class") == "0x050210"
        assert view.realpath(f"{fn}/driver") == "/sys/bus/pci/drivers/cxl_pci"


def test_root_has_no_driver_or_parent_dport() -> None:
    # 2.2: parent_dport on every port except the root; the root is never bound.
    for view in (shared_view("cxl_test"), section_1_6_view()):
        assert not exists(view, f"{CXL}/root0/driver")
        assert not exists(view, f"{CXL}/root0/parent_dport")
        assert value(view, f"{CXL}/root0/decoders_committed") == "0"
        for name in view.listdir(CXL):
            if re.fullmatch(r"(port|endpoint)\d+", name):
                assert kind(view, f"{CXL}/{name}/parent_dport") == "link", name
                assert kind(view, f"{CXL}/{name}/uport") == "link", name


def test_unbound_port_keeps_its_directory_only() -> None:
    # 0.4 / 2.2: a port unbound from cxl_port keeps its directory but loses the driver
    # link, its dports, decoders, child ports and endpoints. A host-bridge port: an unbound
    # switch port goes once the memdevs below it detach (4.1.7, test/cxl-topology.sh).
    k = fresh_kernel("cxl_test")
    unbind(k, "port1")
    view = View(k)
    d = f"{TEST_ROOT}/port1"
    entries = set(view.listdir(d))
    assert not exists(view, f"{d}/driver")
    assert "DRIVER" not in uevent_vars(view, d)
    assert not [n for n in entries if re.match(r"(dport|decoder|endpoint|port)\d", n)]
    assert {"uport", "parent_dport", "subsystem", "devtype", "modalias"} <= entries
    bus = set(view.listdir(CXL))
    assert "port1" in bus
    assert not {"decoder1.0", "port4", "port8", "endpoint5", "endpoint12", "decoder5.0"} & bus
    assert "port1" not in view.listdir("/sys/bus/cxl/drivers/cxl_port")
    assert kind(view, f"{TEST_ROOT}/port2/port6/endpoint7") == "dir"


def test_unbound_memdev_has_no_driver_files() -> None:
    # 0.4 / 2.4: driver link only while bound; trigger_poison_list is a cxl_mem driver file.
    k = fresh_kernel("cxl_test")
    unbind(k, "mem3")
    view = View(k)
    d = f"{CXL}/mem3"
    assert not exists(view, f"{d}/driver")
    assert not exists(view, f"{d}/trigger_poison_list")
    assert "DRIVER" not in uevent_vars(view, d)
    assert "mem3" not in view.listdir("/sys/bus/cxl/drivers/cxl_mem")
    assert "mem3" in view.listdir(CXL)
    assert exists(view, f"{CXL}/mem2/driver")


# -- 1.6: the worked QEMU example -------------------------------------------------------------


def test_section_1_6_bus_devices() -> None:
    view = section_1_6_view()
    expected = {
        "decoder0.0",
        *(f"decoder{p}.{i}" for p in (1, 2, 3) for i in range(4)),
        "endpoint2",
        "endpoint3",
        "mem0",
        "mem1",
        "nvdimm-bridge0",
        "pmem1",
        "port1",
        "root0",
    }
    assert set(view.listdir(CXL)) == expected
    assert view.readlink(f"{CXL}/endpoint2") == (
        "../../../devices/platform/ACPI0017:00/root0/port1/endpoint2"
    )
    assert view.readlink(f"{CXL}/port1") == "../../../devices/platform/ACPI0017:00/root0/port1"
    assert view.readlink(f"{CXL}/mem0") == (
        "../../../devices/pci0000:0c/0000:0c:00.0/0000:0d:00.0/mem0"
    )
    assert view.readlink(f"{CXL}/pmem1") == (
        "../../../devices/pci0000:0c/0000:0c:01.0/0000:0e:00.0/mem1/pmem1"
    )


def test_section_1_6_root_and_window() -> None:
    view = section_1_6_view()
    root = "/sys/devices/platform/ACPI0017:00/root0"
    assert view.realpath(f"{CXL}/root0") == root
    assert view.readlink(f"{root}/uport") == "../../ACPI0017:00"
    assert view.readlink(f"{root}/dport12") == "../../../pci0000:0c"
    assert {"decoders_committed", "devtype", "modalias", "subsystem", "uevent"} <= set(
        view.listdir(root)
    )
    assert view.realpath("/sys/devices/platform/ACPI0017:00/driver") == (
        "/sys/bus/platform/drivers/cxl_acpi"
    )
    d = f"{root}/decoder0.0"
    start = int(value(view, f"{d}/start"), 16)
    assert start and start % (256 << 20) == 0
    assert value(view, f"{d}/size") == "0x100000000"
    assert value(view, f"{d}/interleave_ways") == "1"
    assert value(view, f"{d}/interleave_granularity") == "256"
    assert value(view, f"{d}/target_list") == "12"
    for cap in ("cap_pmem", "cap_ram", "cap_type2", "cap_type3"):
        assert value(view, f"{d}/{cap}") == "1", cap
    assert value(view, f"{d}/locked") == "0"
    assert value(view, f"{d}/qos_class") == "0"
    assert value(view, f"{d}/create_pmem_region") == "region0"
    assert value(view, f"{d}/create_ram_region") == "region0"
    assert mode(view, f"{d}/delete_region") == 0o200
    bridge = f"{root}/nvdimm-bridge0"
    assert view.realpath(f"{bridge}/driver") == "/sys/bus/cxl/drivers/cxl_nvdimm_bridge"
    assert value(view, f"{bridge}/ndbus0/provider") == "CXL"
    assert {"nd", "nmem0"} <= set(view.listdir(f"{bridge}/ndbus0"))
    assert view.listdir(f"{bridge}/ndbus0/nd") == ["ndctl0"]


def test_section_1_6_ports_and_endpoints() -> None:
    view = section_1_6_view()
    port = "/sys/devices/platform/ACPI0017:00/root0/port1"
    assert view.realpath(f"{port}/driver") == "/sys/bus/cxl/drivers/cxl_port"
    assert view.readlink(f"{port}/uport") == "../../../../pci0000:0c"
    assert view.readlink(f"{port}/parent_dport") == "../../../../pci0000:0c"
    assert view.readlink(f"{port}/dport0") == "../../../../pci0000:0c/0000:0c:00.0"
    assert view.readlink(f"{port}/dport1") == "../../../../pci0000:0c/0000:0c:01.0"
    assert value(view, f"{port}/decoders_committed") == "0"
    for i in range(4):
        assert value(view, f"{port}/decoder1.{i}/devtype") == "cxl_decoder_switch"
        # Zeroed registers: target list decodes to port id 0, which exists here.
        assert value(view, f"{port}/decoder1.{i}/target_list") == "0"
    ep2, ep3 = f"{port}/endpoint2", f"{port}/endpoint3"
    assert view.readlink(f"{ep2}/uport") == (
        "../../../../../pci0000:0c/0000:0c:00.0/0000:0d:00.0/mem0"
    )
    assert view.readlink(f"{ep2}/parent_dport") == "../../../../../pci0000:0c/0000:0c:00.0"
    assert view.readlink(f"{ep3}/uport") == (
        "../../../../../pci0000:0c/0000:0c:01.0/0000:0e:00.0/mem1"
    )
    assert view.readlink(f"{ep3}/parent_dport") == "../../../../../pci0000:0c/0000:0c:01.0"
    for ep in (ep2, ep3):
        # QEMU devices have a CDAT DOE mailbox: the 0400 binary CDAT file exists.
        assert mode(view, f"{ep}/CDAT") == 0o400
        n = ep.rsplit("endpoint", 1)[1]
        for i in range(4):
            assert value(view, f"{ep}/decoder{n}.{i}/devtype") == "cxl_decoder_endpoint"


def test_section_1_6_pci_side() -> None:
    view = section_1_6_view()
    hb = "/sys/devices/pci0000:0c"
    assert view.realpath(f"{hb}/firmware_node").startswith(
        "/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0016:"
    )
    mem0 = f"{hb}/0000:0c:00.0/0000:0d:00.0/mem0"
    mem1 = f"{hb}/0000:0c:01.0/0000:0e:00.0/mem1"
    assert value(view, f"{mem0}/serial") == "0x1"
    assert value(view, f"{mem0}/ram/size") == "0x10000000"
    assert value(view, f"{mem0}/pmem/size") == "0x0"
    assert value(view, f"{mem0}/firmware_version") == "BWFW VERSION 00"
    assert value(view, f"{mem0}/payload_max") == "2048"
    assert value(view, f"{mem0}/label_storage_size") == "0"
    assert value(view, f"{mem0}/security/state") == "disabled"
    assert view.realpath(f"{mem0}/driver") == "/sys/bus/cxl/drivers/cxl_mem"
    assert not [n for n in view.listdir(mem0) if re.fullmatch(r"pmem\d+", n)]
    assert value(view, f"{mem1}/serial") == "0x2"
    assert value(view, f"{mem1}/ram/size") == "0x0"
    assert value(view, f"{mem1}/pmem/size") == "0x10000000"
    assert value(view, f"{mem1}/label_storage_size") == "268435456"
    assert view.realpath(f"{mem1}/pmem1/driver") == "/sys/bus/cxl/drivers/cxl_nvdimm"


# -- QEMU presets (4.2) -----------------------------------------------------------------------


def ports_by_uport(view: View) -> dict[str, str]:
    """Host-bridge and switch port names keyed by the basename of their uport."""
    return {
        view.realpath(f"{CXL}/{n}/uport").rsplit("/", 1)[1]: n
        for n in view.listdir(CXL)
        if re.fullmatch(r"port\d+", n)
    }


def decoders_of(view: View, port: str) -> list[str]:
    return [n for n in view.listdir(f"{CXL}/{port}") if DECODER.fullmatch(n)]


@pytest.mark.parametrize("preset", ["qemu-pmem", "qemu-interleave", "qemu-mixed", "qemu-switch"])
def test_qemu_common_properties(preset: str) -> None:
    # 4.2: ACPI0017:00 root, pxb host bridges pci0000:BB with an ACPI0016 companion, QEMU
    # device identity, restrictions 0x0f and QTG 0, nvdimm bridge with provider CXL.
    view = shared_view(preset)
    assert view.realpath(f"{CXL}/root0/uport") == "/sys/devices/platform/ACPI0017:00"
    for dport in (n for n in view.listdir(f"{CXL}/root0") if n.startswith("dport")):
        bus = int(dport[5:])
        target = view.readlink(f"{CXL}/root0/{dport}")
        assert target == f"../../../pci0000:{bus:02x}"
        fw = view.realpath(f"/sys/devices/pci0000:{bus:02x}/firmware_node")
        assert re.fullmatch(r"/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0016:[0-9a-f]{2}", fw)
    for dec in (n for n in view.listdir(f"{CXL}/root0") if DECODER.fullmatch(n)):
        d = f"{CXL}/root0/{dec}"
        for cap in ("cap_type2", "cap_type3", "cap_ram", "cap_pmem"):
            assert value(view, f"{d}/{cap}") == "1", (dec, cap)
        assert value(view, f"{d}/qos_class") == "0"
        assert value(view, f"{d}/locked") == "0"
    mems = [n for n in view.listdir(CXL) if re.fullmatch(r"mem\d+", n)]
    assert mems
    for mem in mems:
        d = f"{CXL}/{mem}"
        assert value(view, f"{d}/firmware_version") == "BWFW VERSION 00"
        assert value(view, f"{d}/payload_max") == "2048"
        for part in ("ram", "pmem"):
            size = int(value(view, f"{d}/{part}/size"), 16)
            assert exists(view, f"{d}/{part}/qos_class") == bool(size)
            if size:
                assert value(view, f"{d}/{part}/qos_class") == "0"
    for ep in (n for n in view.listdir(CXL) if n.startswith("endpoint")):
        assert mode(view, f"{CXL}/{ep}/CDAT") == 0o400
    assert value(view, f"{CXL}/nvdimm-bridge0/ndbus0/provider") == "CXL"


def test_qemu_pmem_preset() -> None:
    view = shared_view("qemu-pmem")
    d = f"{CXL}/decoder0.0"
    assert value(view, f"{d}/target_list") == "12"
    assert value(view, f"{d}/size") == "0x100000000"
    assert value(view, f"{d}/interleave_ways") == "1"
    assert value(view, f"{d}/interleave_granularity") == "256"
    assert view.readlink(f"{CXL}/root0/dport12") == "../../../pci0000:0c"
    assert ports_by_uport(view) == {"pci0000:0c": "port1"}
    assert view.readlink(f"{CXL}/port1/dport0") == "../../../../pci0000:0c/0000:0c:00.0"
    mem = f"{CXL}/mem0"
    assert view.realpath(mem) == "/sys/devices/pci0000:0c/0000:0c:00.0/0000:0d:00.0/mem0"
    assert value(view, f"{mem}/serial") == "0x1"
    assert value(view, f"{mem}/pmem/size") == "0x10000000"
    assert value(view, f"{mem}/ram/size") == "0x0"
    assert value(view, f"{mem}/label_storage_size") == "268435456"
    assert kind(view, f"{mem}/pmem0") == "dir"
    assert len(decoders_of(view, "endpoint2")) == 4


@pytest.mark.parametrize("preset", ["qemu-interleave", "qemu-mixed"])
def test_qemu_two_host_bridge_presets(preset: str) -> None:
    # Two pxb-cxl (bus_nr 12 and 222), two root ports each (port=0,1), one device per
    # root port with sn=0x1..0x4 in cxl.1 port 0, cxl.1 port 1, cxl.2 port 0, cxl.2 port 1.
    view = shared_view(preset)
    root = f"{CXL}/root0"
    assert view.readlink(f"{root}/dport12") == "../../../pci0000:0c"
    assert view.readlink(f"{root}/dport222") == "../../../pci0000:de"
    assert value(view, f"{root}/decoder0.0/target_list") == "12,222"
    assert value(view, f"{root}/decoder0.0/interleave_ways") == "2"
    assert value(view, f"{root}/decoder0.0/interleave_granularity") == "8192"
    assert value(view, f"{root}/decoder0.0/size") == "0x100000000"
    ports = ports_by_uport(view)
    assert set(ports) == {"pci0000:0c", "pci0000:de"}
    serials = {}
    for bus in ("0c", "de"):
        port = ports[f"pci0000:{bus}"]
        assert view.readlink(f"{CXL}/{port}/parent_dport") == f"../../../../pci0000:{bus}"
        for dport in (0, 1):
            assert view.readlink(f"{CXL}/{port}/dport{dport}") == (
                f"../../../../pci0000:{bus}/0000:{bus}:{dport:02x}.0"
            )
        assert len(decoders_of(view, port)) == 4  # current QEMU: 4 HDM decoders
        for ep in (n for n in view.listdir(f"{CXL}/{port}") if n.startswith("endpoint")):
            assert len(decoders_of(view, ep)) == 4
            mem = view.realpath(f"{CXL}/{port}/{ep}/uport")
            rp = view.realpath(f"{CXL}/{port}/{ep}/parent_dport").rsplit("/", 1)[1]
            serials[(bus, rp)] = value(view, f"{mem}/serial")
    assert serials == {
        ("0c", "0000:0c:00.0"): "0x1",
        ("0c", "0000:0c:01.0"): "0x2",
        ("de", "0000:de:00.0"): "0x3",
        ("de", "0000:de:01.0"): "0x4",
    }
    mems = [n for n in view.listdir(CXL) if re.fullmatch(r"mem\d+", n)]
    assert len(mems) == 4
    for mem in mems:
        d = f"{CXL}/{mem}"
        assert value(view, f"{d}/label_storage_size") == "268435456"
        if preset == "qemu-interleave":
            assert (value(view, f"{d}/ram/size"), value(view, f"{d}/pmem/size")) == (
                "0x0",
                "0x10000000",
            )
        else:
            assert (value(view, f"{d}/ram/size"), value(view, f"{d}/pmem/size")) == (
                "0x20000000",
                "0x20000000",
            )


def test_qemu_mixed_windows() -> None:
    # An x2 window over both bridges at 8k and one x1 window per bridge, 4G each; QEMU
    # places them 256 MiB aligned without overlap.
    view = shared_view("qemu-mixed")
    expected = [("12,222", "2", "8192"), ("12", "1", "256"), ("222", "1", "256")]
    spans = []
    for i, (targets, ways, gran) in enumerate(expected):
        d = f"{CXL}/decoder0.{i}"
        assert value(view, f"{d}/target_list") == targets
        assert value(view, f"{d}/interleave_ways") == ways
        assert value(view, f"{d}/interleave_granularity") == gran
        assert value(view, f"{d}/size") == "0x100000000"
        start = int(value(view, f"{d}/start"), 16)
        assert start % (256 << 20) == 0
        spans.append((start, start + 4 * GiB))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_qemu_switch_preset() -> None:
    # One host bridge (bus 12) with root ports 0 and 1; a switch below root port 0 with
    # downstream ports 0..3, one persistent device each (sn 0x1..0x4); window x1 at 4k.
    view = shared_view("qemu-switch")
    assert value(view, f"{CXL}/decoder0.0/target_list") == "12"
    assert value(view, f"{CXL}/decoder0.0/interleave_granularity") == "256"
    ports = ports_by_uport(view)
    hb = ports["pci0000:0c"]
    switches = [p for u, p in ports.items() if u != "pci0000:0c"]
    assert len(switches) == 1
    sw = switches[0]
    assert view.realpath(f"{CXL}/{sw}/..") == view.realpath(f"{CXL}/{hb}")
    rp0 = view.realpath(f"{CXL}/{hb}/dport0")
    assert rp0 == "/sys/devices/pci0000:0c/0000:0c:00.0"
    assert view.realpath(f"{CXL}/{sw}/parent_dport") == rp0
    uport = view.realpath(f"{CXL}/{sw}/uport")
    assert uport.rsplit("/", 1)[0] == rp0
    dports = sorted(n for n in view.listdir(f"{CXL}/{sw}") if n.startswith("dport"))
    assert dports == ["dport0", "dport1", "dport2", "dport3"]
    for dport in dports:
        assert view.realpath(f"{CXL}/{sw}/{dport}").rsplit("/", 1)[0] == uport
    assert len(decoders_of(view, sw)) == 4
    eps = [n for n in view.listdir(f"{CXL}/{sw}") if n.startswith("endpoint")]
    assert len(eps) == 4
    serial_by_dport = {}
    for ep in eps:
        dport = view.realpath(f"{CXL}/{sw}/{ep}/parent_dport")
        port_no = next(n for n in dports if view.realpath(f"{CXL}/{sw}/{n}") == dport)
        mem = view.realpath(f"{CXL}/{sw}/{ep}/uport")
        serial_by_dport[port_no] = value(view, f"{mem}/serial")
        assert value(view, f"{mem}/pmem/size") == "0x10000000"
    assert serial_by_dport == {f"dport{i}": f"0x{i + 1}" for i in range(4)}


# == cxl_test-platform.md =====================================================================


def test_cxl_test_platform_devices() -> None:
    # 4.1: nesting of the mock platform devices, ACPI self links, mock hooks.
    view = shared_view("cxl_test")
    for hb in range(4):
        d = f"{PLATFORM}/cxl_host_bridge.{hb}"
        link = "firmware_node" if hb == 3 else "physical_node"
        other = "physical_node" if hb == 3 else "firmware_node"
        assert view.realpath(f"{d}/{link}") == d
        assert not exists(view, f"{d}/{other}")
    for rp in range(5):
        hb = rp % 2 if rp < 4 else 2
        assert kind(view, f"{PLATFORM}/cxl_host_bridge.{hb}/cxl_root_port.{rp}") == "dir"
    for mem in range(11):
        d = mock_path(mem)
        assert kind(view, d) == "dir", d
        assert view.realpath(f"/sys/bus/platform/devices/{d.rsplit('/', 1)[1]}") == d
        assert view.realpath(f"{d}/driver") == "/sys/bus/platform/drivers/cxl_mock_mem"
        assert value(view, f"{d}/security_lock") == "0"
        assert mode(view, f"{d}/security_lock") == 0o644
        assert mode(view, f"{d}/event_trigger") == 0o200
        assert value(view, f"{d}/sanitize_timeout") == "0"
        assert mode(view, f"{d}/sanitize_timeout") == 0o644
    assert view.realpath("/sys/bus/platform/devices/cxl_acpi.0") == f"{PLATFORM}/cxl_acpi.0"


def test_cxl_test_mock_hooks_complete() -> None:
    view = shared_view("cxl_test")
    missing = [
        f"{mock_path(mem)}/fw_buf_checksum"
        for mem in range(11)
        if not exists(view, f"{mock_path(mem)}/fw_buf_checksum")
    ]
    driver_attr = "/sys/bus/platform/drivers/cxl_mock_mem/poison_inject_max"
    if not exists(view, driver_attr):
        missing.append(driver_attr)
    assert missing == []
    for mem in range(11):
        assert mode(view, f"{mock_path(mem)}/fw_buf_checksum") == 0o444
    assert value(view, driver_attr) == "8"
    assert mode(view, driver_attr) == 0o644


def test_cxl_test_root_port() -> None:
    view = shared_view("cxl_test")
    assert view.realpath(f"{CXL}/root0") == TEST_ROOT
    assert view.readlink(f"{TEST_ROOT}/uport") == "../../cxl_acpi.0"
    for hb in range(4):
        assert view.readlink(f"{TEST_ROOT}/dport{hb}") == f"../../cxl_host_bridge.{hb}"
    decoders = sorted(n for n in view.listdir(TEST_ROOT) if DECODER.fullmatch(n))
    assert decoders == sorted(MODULO_WINDOWS)
    children = {n for n in view.listdir(TEST_ROOT) if re.fullmatch(r"(port|endpoint)\d+", n)}
    # The RCH gets no port; its RCD's endpoint sits directly below root0.
    assert children == {"port1", "port2", "port3", "endpoint19"}


@pytest.mark.parametrize("port", sorted(HB_PORTS))
def test_cxl_test_host_bridge_ports(port: str) -> None:
    view = shared_view("cxl_test")
    hb, dports = HB_PORTS[port]
    d = f"{TEST_ROOT}/{port}"
    assert view.realpath(f"{CXL}/{port}") == d
    host = f"{PLATFORM}/cxl_host_bridge.{hb}"
    assert view.realpath(f"{d}/uport") == host
    assert view.realpath(f"{d}/parent_dport") == host
    assert sorted(n for n in view.listdir(d) if n.startswith("dport")) == [
        f"dport{i}" for i in dports
    ]
    for i in dports:
        assert view.realpath(f"{d}/dport{i}") == f"{host}/cxl_root_port.{i}"
    assert sorted(decoders_of(view, port)) == [f"decoder{port[4:]}.{i}" for i in range(8)]
    assert view.realpath(f"{d}/driver") == "/sys/bus/cxl/drivers/cxl_port"
    assert not exists(view, f"{d}/CDAT")


@pytest.mark.parametrize("port", sorted(SWITCH_PORTS))
def test_cxl_test_switch_ports(port: str) -> None:
    view = shared_view("cxl_test")
    uport, parent, dports = SWITCH_PORTS[port]
    d = view.realpath(f"{CXL}/{port}")
    assert d == f"{TEST_ROOT}/{parent}/{port}"
    uport_dir = view.realpath(f"{d}/uport")
    assert uport_dir.endswith(f"/cxl_root_port.{uport}/cxl_switch_uport.{uport}")
    assert view.realpath(f"{d}/parent_dport") == uport_dir.rsplit("/", 1)[0]
    assert sorted(n for n in view.listdir(d) if n.startswith("dport")) == sorted(
        f"dport{i}" for i in dports
    )
    for i in dports:
        assert view.realpath(f"{d}/dport{i}") == f"{uport_dir}/cxl_switch_dport.{i}"
    assert sorted(decoders_of(view, port)) == [f"decoder{port[4:]}.{i}" for i in range(8)]


@pytest.mark.parametrize("mem", sorted(ENDPOINTS))
def test_cxl_test_endpoints(mem: int) -> None:
    view = shared_view("cxl_test")
    ep_id, parent = ENDPOINTS[mem]
    ep = f"endpoint{ep_id}"
    parent_dir = TEST_ROOT if parent == "root0" else view.realpath(f"{CXL}/{parent}")
    d = f"{parent_dir}/{ep}"
    assert view.realpath(f"{CXL}/{ep}") == d
    assert view.realpath(f"{d}/uport") == f"{mock_path(mem)}/mem{mem}"
    assert view.realpath(f"{d}/parent_dport") == mock_path(mem).rsplit("/", 1)[0]
    assert sorted(decoders_of(view, ep)) == [f"decoder{ep_id}.{i}" for i in range(8)]
    # cxl_test mocks expose no CDAT mailbox.
    assert not exists(view, f"{d}/CDAT")
    assert not [n for n in view.listdir(d) if n.startswith("dport")]


@pytest.mark.parametrize("mem", range(11))
def test_cxl_test_memdevs(mem: int) -> None:
    # cxl_test-platform.md 4.4 / kernel-sysfs.md 4.1.4 (v6.14 serials = platform id).
    view = shared_view("cxl_test")
    d = f"{CXL}/mem{mem}"
    assert view.realpath(d) == f"{mock_path(mem)}/mem{mem}"
    rcd = mem == 10
    assert value(view, f"{d}/ram/size") == ("0x80000000" if rcd else "0x40000000")
    assert value(view, f"{d}/pmem/size") == ("0x0" if rcd else "0x40000000")
    assert value(view, f"{d}/label_storage_size") == ("0" if rcd else "131072")
    assert value(view, f"{d}/payload_max") == "4096"
    assert view.read(f"{d}/firmware_version") == b"mock fw v1 \n"
    assert value(view, f"{d}/serial") == f"{mem:#x}"
    numa = 0 if rcd else (mem % 2 if mem < 8 else mem - 8)
    assert value(view, f"{d}/numa_node") == str(numa)
    assert value(view, f"{d}/ram/qos_class") == "42"
    if rcd:
        assert not exists(view, f"{d}/pmem/qos_class")
        assert not [n for n in view.listdir(d) if re.fullmatch(r"pmem\d+", n)]
    else:
        assert value(view, f"{d}/pmem/qos_class") == "42"
        assert view.realpath(f"{CXL}/pmem{mem}") == f"{view.realpath(d)}/pmem{mem}"
    assert view.realpath(f"{d}/driver") == "/sys/bus/cxl/drivers/cxl_mem"


def test_cxl_test_auto_region() -> None:
    # cxl_test-platform.md 4.5 / kernel-sysfs.md 4.1.5.
    view = shared_view("cxl_test")
    region = f"{TEST_ROOT}/decoder0.0/region0"
    assert view.realpath(f"{CXL}/region0") == region
    assert [n for n in view.listdir(CXL) if re.fullmatch(r"region\d+", n)] == ["region0"]
    assert value(view, f"{region}/mode") == "ram"
    assert value(view, f"{region}/size") == "0x20000000"
    assert value(view, f"{region}/resource") == f"{P + 0x10000000:#x}"
    assert value(view, f"{region}/interleave_ways") == "2"
    assert value(view, f"{region}/interleave_granularity") == "4096"
    assert value(view, f"{region}/commit") == "1"
    assert value(view, f"{region}/target0") == "decoder5.0"
    assert value(view, f"{region}/target1") == "decoder12.0"
    assert not exists(view, f"{region}/target2")
    assert view.read(f"{region}/uuid") == b"\n"
    assert view.realpath(f"{region}/driver") == "/sys/bus/cxl/drivers/cxl_region"
    for ep_decoder in ("decoder5.0", "decoder12.0"):
        d = f"{CXL}/{ep_decoder}"
        assert value(view, f"{d}/mode") == "ram"
        assert value(view, f"{d}/dpa_resource") == "0x0"
        assert value(view, f"{d}/dpa_size") == "0x0000000010000000"
        assert value(view, f"{d}/interleave_ways") == "2"
        assert value(view, f"{d}/interleave_granularity") == "4096"
        assert value(view, f"{d}/start") == f"{P + 0x10000000:#x}"
        assert value(view, f"{d}/size") == "0x20000000"
        assert value(view, f"{d}/region") == "region0"
    switch = f"{CXL}/decoder4.0"
    assert value(view, f"{switch}/target_list") == "0,4"
    assert value(view, f"{switch}/interleave_ways") == "2"
    assert value(view, f"{switch}/interleave_granularity") == "4096"
    assert value(view, f"{switch}/region") == "region0"
    hb = f"{CXL}/decoder1.0"
    assert value(view, f"{hb}/target_list") == "0"
    assert value(view, f"{hb}/interleave_ways") == "1"
    assert value(view, f"{hb}/interleave_granularity") == "4096"
    assert value(view, f"{hb}/region") == "region0"
    for d in (switch, hb):
        assert value(view, f"{d}/start") == f"{P + 0x10000000:#x}"
        assert value(view, f"{d}/size") == "0x20000000"
    committed = {
        n: value(view, f"{CXL}/{n}/decoders_committed")
        for n in view.listdir(CXL)
        if re.fullmatch(r"(root|port|endpoint)\d+", n)
    }
    assert {n for n, c in committed.items() if c == "1"} == {
        "port1",
        "port4",
        "endpoint5",
        "endpoint12",
    }
    assert set(committed.values()) == {"0", "1"}
    # New regions on HB0/switch0 and DPA on mem0/mem4 use decoder 1 and up.
    assert value(view, f"{CXL}/decoder5.1/dpa_resource") == "0xffffffffffffffff"


def test_cxl_test_dax_and_memory_blocks() -> None:
    # cxl_test 4.5 / kernel-sysfs.md 3.1, 3.3: dax_region0 + dax0.0 bound to kmem, the
    # 512 MiB hot-added as four offline 128 MiB blocks on node 0.
    view = shared_view("cxl_test")
    base, size = P + 0x10000000, 512 << 20
    dr = f"{CXL}/dax_region0"
    assert view.realpath(dr) == f"{TEST_ROOT}/decoder0.0/region0/dax_region0"
    assert view.realpath(f"{dr}/driver") == "/sys/bus/cxl/drivers/cxl_dax_region"
    group = f"{dr}/dax_region"
    assert value(view, f"{group}/id") == "0"
    assert value(view, f"{group}/size") == str(size)
    assert value(view, f"{group}/align") == "2097152"
    assert mode(view, f"{group}/align") == 0o400
    assert value(view, f"{group}/available_size") == "0"
    assert mode(view, f"{group}/create") == 0o644
    assert mode(view, f"{group}/delete") == 0o200
    dev = f"{dr}/dax0.0"
    assert view.realpath("/sys/bus/dax/devices/dax0.0") == view.realpath(dev)
    assert view.realpath(f"{dev}/driver") == "/sys/bus/dax/drivers/kmem"
    assert view.realpath(f"{dev}/subsystem") == "/sys/bus/dax"
    assert value(view, f"{dev}/size") == str(size)
    assert value(view, f"{dev}/align") == "2097152"
    assert value(view, f"{dev}/resource") == f"{base:#x}"
    assert mode(view, f"{dev}/resource") == 0o400
    assert value(view, f"{dev}/target_node") == "0"
    assert value(view, f"{dev}/numa_node") == "-1"
    assert value(view, f"{dev}/modalias") == "dax:t0"
    assert value(view, f"{dev}/memmap_on_memory") == "1"
    assert mode(view, f"{dev}/mapping") == 0o200
    assert value(view, f"{dev}/mapping0/start") == f"{base:#x}"
    assert value(view, f"{dev}/mapping0/end") == f"{base + size - 1:#x}"
    assert value(view, f"{dev}/mapping0/page_offset") == "0x0"
    for attr in ("start", "end", "page_offset"):
        assert mode(view, f"{dev}/mapping0/{attr}") == 0o400
    major, minor = value(view, f"{dev}/dev").split(":")
    assert ("dax0.0", int(major), int(minor)) in [(n, a, b) for n, a, b, _ in view.dev_nodes()]
    char = f"/sys/dev/char/{major}:{minor}"
    assert view.realpath(char) == view.realpath(dev)
    assert view.realpath(f"{char}/subsystem") == "/sys/bus/dax"
    assert "dax0.0" in view.listdir("/sys/bus/dax/drivers/kmem")

    memory = "/sys/devices/system/memory"
    assert value(view, f"{memory}/block_size_bytes") == "8000000"
    first = base // (128 << 20)
    assert first == 7682
    for index in range(first, first + 4):
        block = f"{memory}/memory{index}"
        assert value(view, f"{block}/phys_index") == f"{index:08x}"
        assert value(view, f"{block}/state") == "offline"
        assert value(view, f"{block}/online") == "0"
        assert value(view, f"{block}/valid_zones") == "Normal Movable"
        assert view.readlink(f"{block}/node0") == "../../node/node0"
        node_link = f"/sys/devices/system/node/node0/memory{index}"
        assert view.readlink(node_link) == f"../../memory/memory{index}"
    assert not exists(view, f"{memory}/memory{first + 4}")
    assert not exists(view, f"{memory}/memory{first - 1}")


def test_memory_block_formats() -> None:
    # 3.3: phys_index is 8 hex digits (no 0x) equal to N; block_size_bytes hex without 0x.
    view = shared_view("qemu-pmem")
    memory = "/sys/devices/system/memory"
    assert re.fullmatch(r"[0-9a-f]+", value(view, f"{memory}/block_size_bytes"))
    blocks = [n for n in view.listdir(memory) if re.fullmatch(r"memory\d+", n)]
    assert blocks
    for name in blocks:
        index = int(name[6:])
        phys = value(view, f"{memory}/{name}/phys_index")
        assert re.fullmatch(r"[0-9a-f]{8}", phys) and int(phys, 16) == index
        assert value(view, f"{memory}/{name}/phys_device") == "0"
        assert value(view, f"{memory}/{name}/state") in ("online", "offline")
    node = "/sys/devices/system/node"
    assert {"online", "possible", "has_memory", "has_normal_memory", "has_cpu"} <= set(
        view.listdir(node)
    )


def test_node_directory_contents() -> None:
    view = shared_view("cxl_test")
    entries = set(view.listdir("/sys/devices/system/node/node0"))
    assert {"meminfo", "cpulist", "distance", "access0", "access1"} <= entries


def test_cxl_test_nvdimm_side() -> None:
    # cxl_test 4.3/4.1.6 and kernel-sysfs.md 3.4.1/3.4.2: ndbus0 provider cxl_test, one
    # nmem per pmem-capable memdev (10), cxl/id = serial, cxl/provider = pmemN.
    view = shared_view("cxl_test")
    bus = f"{TEST_ROOT}/nvdimm-bridge0/ndbus0"
    assert value(view, f"{bus}/provider") == "cxl_test"
    assert value(view, f"{bus}/commands") == ""
    assert view.realpath("/sys/class/nd/ndctl0") == f"{bus}/nd/ndctl0"
    assert view.realpath("/sys/class/nd/ndctl0/device") == bus
    assert re.fullmatch(r"\d+:0", value(view, f"{bus}/nd/ndctl0/dev"))
    nmems = [n for n in view.listdir("/sys/bus/nd/devices") if n.startswith("nmem")]
    assert len(nmems) == 10
    providers = set()
    for nmem in nmems:
        d = f"/sys/bus/nd/devices/{nmem}"
        assert view.realpath(d) == f"{bus}/{nmem}"
        assert value(view, f"{d}/devtype") == "nvdimm"
        assert value(view, f"{d}/modalias") == "nd:t1"
        # 3.4.2, corrected from a real kernel: the short ND command names.
        commands = b"get_size get_data set_data \n"
        assert view.read(f"{d}/commands") == commands
        assert view.read(f"{d}/flags") == b"label \n"
        assert value(view, f"{d}/state") == "idle"
        assert value(view, f"{d}/security") == "disabled"
        assert mode(view, f"{d}/security") == 0o644
        assert value(view, f"{d}/frozen") == "0"
        assert not exists(view, f"{d}/numa_node")
        assert not exists(view, f"{d}/target_node")
        provider = value(view, f"{d}/cxl/provider")
        assert re.fullmatch(r"pmem\d+", provider)
        mem = provider[4:]
        serial = int(value(view, f"{CXL}/mem{mem}/serial"), 16)
        assert value(view, f"{d}/cxl/id") == str(serial)
        providers.add(provider)
        # cxl-security.sh: provider -> pmemN -> two levels up -> cxl_mem.N/security_lock.
        host = view.realpath(f"{CXL}/{provider}/../..")
        assert host == mock_path(int(mem))
        assert exists(view, f"{host}/security_lock")
    assert providers == {f"pmem{i}" for i in range(10)}


def test_bound_nmem_available_slots_is_readable() -> None:
    view = shared_view("cxl_test")
    d = "/sys/bus/nd/devices/nmem0"
    assert view.realpath(f"{d}/driver") == "/sys/bus/nd/drivers/nvdimm"
    assert re.fullmatch(r"\d+", value(view, f"{d}/available_slots"))


def test_cxl_test_xor_mode() -> None:
    # cxl_test 4.2 XOR set / kernel-sysfs.md 4.1.3, 4.1.5: three pmem windows, the auto
    # decoders committed at [0, 512 MiB) but no region, no DAX, no hot-added memory.
    view = shared_view("cxl_test-xor")
    decoders = sorted(n for n in view.listdir(TEST_ROOT) if DECODER.fullmatch(n))
    assert decoders == sorted(XOR_WINDOWS)
    for name, (base, size, ways, gran, targets) in XOR_WINDOWS.items():
        d = f"{CXL}/{name}"
        assert value(view, f"{d}/start") == f"{base:#x}"
        assert value(view, f"{d}/size") == f"{size:#x}"
        assert value(view, f"{d}/interleave_ways") == str(ways)
        assert value(view, f"{d}/interleave_granularity") == str(gran)
        assert value(view, f"{d}/target_list") == targets
        assert value(view, f"{d}/cap_pmem") == "1"
        assert value(view, f"{d}/cap_ram") == "0"
        assert value(view, f"{d}/qos_class") == "42"
        assert not exists(view, f"{d}/create_ram_region")
        assert value(view, f"{d}/create_pmem_region") == f"region{name[-1]}"
    assert not [n for n in view.listdir(CXL) if n.startswith(("region", "dax_region"))]
    assert view.listdir("/sys/bus/dax/devices") == []
    for name in ("decoder1.0", "decoder4.0", "decoder5.0", "decoder12.0"):
        d = f"{CXL}/{name}"
        assert value(view, f"{d}/start") == "0x0"
        assert value(view, f"{d}/size") == "0x20000000"
        assert value(view, f"{d}/region") == ""
    for name in ("decoder5.0", "decoder12.0"):
        assert value(view, f"{CXL}/{name}/mode") == "ram"
        assert value(view, f"{CXL}/{name}/dpa_resource") == "0x0"
        assert value(view, f"{CXL}/{name}/dpa_size") == "0x0000000010000000"
    assert value(view, f"{CXL}/decoder4.0/target_list") == "0,4"
    for port in ("port1", "port4", "endpoint5", "endpoint12"):
        assert value(view, f"{CXL}/{port}/decoders_committed") == "1"
    for port in ("port2", "port3", "port6", "endpoint7", "endpoint19"):
        assert value(view, f"{CXL}/{port}/decoders_committed") == "0"
    memory = "/sys/devices/system/memory"
    window_blocks = range(P // (128 << 20), (P + 16 * GiB) // (128 << 20))
    assert not [
        n for n in view.listdir(memory) if n.startswith("memory") and int(n[6:]) in window_blocks
    ]
