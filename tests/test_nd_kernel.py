"""The emulated nvdimm side (kernel-sysfs.md 3.4): the nd bus as a real kernel lays it out,
the nd region of a bound CXL pmem region, and the store rules of namespaces and of the
btt / pfn / nd dax devices, as tables. Every state is built through stores; each refused
store leaves the kernel (but its log) unchanged and says why in the log.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from fake_sysfs.store import StateStore
from tests.kernel_stores import Stores
from tests.nd_helpers import ND, REGION, pmem_state

UUID = "6a8d7b1c-3f5e-4c2a-9b0d-1e2f3a4b5c6d"
OTHER = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
MiB = 1 << 20
NS = f"{REGION}/namespace0.0"


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nd-template")


@pytest.fixture
def s(tmp_path: Path, template_root: Path) -> Stores:
    stores = Stores.__new__(Stores)
    stores.store = StateStore(pmem_state(tmp_path, template_root))
    return stores


def sized(s: Stores, size: int = 256 * MiB, ns: str = NS) -> None:
    s.ok(f"{ns}/uuid", f"{UUID}\n")
    s.ok(f"{ns}/size", f"{size:#x}\n")


# -- layout (3.4.1 / 3.4.2, corrected against a real 6.1 kernel) ------------------------------


def test_nd_bus_layout_as_on_a_real_kernel(s: Stores) -> None:
    view = s.view()
    bus = view.realpath(f"{ND}/ndbus0")
    assert bus.endswith("/nvdimm-bridge0/ndbus0")
    assert view.realpath(f"{bus}/driver") == "/sys/bus/nd/drivers/nd_bus"
    assert "DRIVER=nd_bus" in view.read(f"{bus}/uevent").decode()
    assert view.realpath("/sys/class/nd/ndctl0") == f"{bus}/nd/ndctl0"
    assert view.readlink(f"{bus}/nd/ndctl0/device") == "../../../ndbus0"
    for path in (bus, f"{bus}/nd/ndctl0", f"{ND}/nmem0"):
        assert "power" not in view.listdir(path), path
    for path in (bus, f"{ND}/nmem0"):
        assert view.listdir(f"{path}/firmware") == []
    assert view.read(f"{ND}/nmem0/commands") == b"get_size get_data set_data \n"
    assert sorted(view.listdir("/sys/bus/nd/drivers")) == [
        "dax_pmem",
        "nd_bus",
        "nd_pmem",
        "nd_region",
        "nvdimm",
    ]


def test_nd_region_of_a_bound_pmem_region(s: Stores) -> None:
    values = s.reads(
        REGION,
        "size",
        "align",
        "nstype",
        "mappings",
        "mapping0",
        "mapping1",
        "available_size",
        "max_available_extent",
        "namespace_seed",
        "btt_seed",
        "pfn_seed",
        "dax_seed",
        "persistence_domain",
        "devtype",
        "modalias",
        "deep_flush",
        "read_only",
        "init_namespaces",
    )
    # mem2 at position 0 and mem0 at 1; each gives 512 MiB of its pmem partition, which
    # starts after its 512 MiB of RAM.
    assert values == {
        "size": str(1 << 30),
        "align": "0x1000000",
        "nstype": "5",
        "mappings": "2",
        "mapping0": f"nmem2,{512 * MiB},{512 * MiB},0",
        "mapping1": f"nmem0,{512 * MiB},{512 * MiB},1",
        "available_size": str(1 << 30),
        "max_available_extent": str(1 << 30),
        "namespace_seed": "namespace0.0",
        "btt_seed": "btt0.0",
        "pfn_seed": "pfn0.0",
        "dax_seed": "dax0.0",
        "persistence_domain": "memory_controller",
        "devtype": "nd_pmem",
        "modalias": "nd:t2",
        "deep_flush": "0",
        "read_only": "0",
        # nd_region_probe(): namespaces registered / registered + failed; the seed counts.
        "init_namespaces": "1/1",
    }
    assert s.read(f"{ND}/nmem0/state") == "active"
    assert s.read(f"{ND}/nmem1/state") == "idle"


def test_interleave_set_cookie_is_fletcher64_of_offset_and_serial(s: Stores) -> None:
    # 3.4.3: fletcher64 over (DPA offset, serial) of each mapping in position order; mem2
    # has serial 1, mem0 serial 3 (qemu-mixed), both at DPA 512 MiB. Summed by hand:
    words = [0x20000000, 0, 1, 0, 0x20000000, 0, 3, 0]
    lo = hi = 0
    for w in words:
        lo = (lo + w) & 0xFFFFFFFF
        hi = (hi + lo) & 0xFFFFFFFF
    assert s.read(f"{REGION}/set_cookie") == f"{hi << 32 | lo:#x}"


def test_seed_namespace_attributes(s: Stores) -> None:
    values = s.reads(NS, "nstype", "size", "uuid", "alt_name", "sector_size", "holder", "mode")
    assert values == {
        "nstype": "5",
        "size": "0",
        "uuid": "",
        "alt_name": "",
        "sector_size": "512 4096 ",
        "holder": "",
        "mode": "raw",
    }
    assert s.errno(f"{NS}/resource", b"") in (errno.EACCES, errno.EINVAL, errno.EIO)
    with pytest.raises(OSError) as info:
        s.view().read(f"{NS}/resource")
    assert info.value.errno == errno.ENXIO


# -- namespace store rules (3.4.4) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "data", "err"),
    [
        ("uuid", "not-a-uuid\n", errno.EINVAL),
        ("uuid", "\n", errno.EINVAL),
        ("size", f"{16 * MiB:#x}\n", errno.ENXIO),  # no uuid yet
        ("size", "garbage\n", errno.EINVAL),
        ("sector_size", "1000\n", errno.EINVAL),
        ("sector_size", "x\n", errno.EINVAL),
        ("holder_class", "foo\n", errno.EINVAL),
        ("alt_name", "x" * 64 + "\n", errno.EINVAL),
        ("force_raw", "maybe\n", errno.EINVAL),
    ],
)
def test_namespace_refusals_on_a_seed(s: Stores, attr: str, data: str, err: int) -> None:
    s.refuse(f"{NS}/{attr}", data, err)


def test_size_rules(s: Stores) -> None:
    s.ok(f"{NS}/uuid", f"{UUID}\n")
    s.refuse(f"{NS}/size", f"{8 * MiB:#x}\n", errno.EINVAL, "aligned")  # not 16M aligned
    # size_store's dev_dbg: "<hex size> fail (<rc>)"; __size_store says nothing more.
    s.refuse(f"{NS}/size", f"{2 << 30:#x}\n", errno.ENOSPC, "fail (-28)")  # > free
    s.ok(f"{NS}/size", f"{256 * MiB:#x}\n")
    assert s.reads(REGION, "available_size", "max_available_extent") == {
        "available_size": str(768 * MiB),
        "max_available_extent": str(768 * MiB),
    }
    assert s.read(f"{NS}/dpa_extents") == "2"
    assert s.read(f"{NS}/resource") == s.read(f"{REGION}/resource")
    s.ok(f"{NS}/size", f"{512 * MiB:#x}\n")  # grows in place
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    for attr, data in (("size", "0\n"), ("uuid", f"{OTHER}\n"), ("alt_name", "x\n")):
        s.refuse(f"{NS}/{attr}", data, errno.EBUSY)


def test_uuid_in_use_by_another_namespace(s: Stores) -> None:
    # namespace_update_uuid(): a uuid nd_is_uuid_unique() finds on the bus is EINVAL.
    sized(s)
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    s.refuse(f"{REGION}/namespace0.1/uuid", f"{UUID}\n", errno.EINVAL)


def test_size_zero_frees_and_deletes_a_namespace_that_is_no_seed(s: Stores) -> None:
    sized(s)
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    assert s.read(f"{REGION}/namespace_seed") == "namespace0.1"
    ns1 = f"{REGION}/namespace0.1"
    s.ok(f"{ns1}/uuid", f"{OTHER}\n")
    s.ok(f"{ns1}/size", f"{64 * MiB:#x}\n")
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.1\n")
    s.ok(f"{ND}/namespace0.1/driver/unbind", "namespace0.1\n")
    # namespace0.1 was the seed and was enabled: namespace0.2 is the seed now.
    assert s.read(f"{REGION}/namespace_seed") == "namespace0.2"
    s.ok(f"{ns1}/size", "0\n")
    assert not s.exists(ns1)
    assert s.read(f"{REGION}/available_size") == str(768 * MiB)


def test_raw_namespace_block_device(s: Stores) -> None:
    sized(s)
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "namespace0.0\n")
    view = s.view()
    disk = f"{NS}/block/pmem0"
    assert view.realpath("/sys/block/pmem0") == view.realpath(disk)
    assert view.realpath("/sys/class/block/pmem0") == view.realpath(disk)
    numbers = view.read(f"{disk}/dev").decode().strip()
    assert view.realpath(f"/sys/dev/block/{numbers}") == view.realpath(disk)
    assert s.read(f"{disk}/size") == str(256 * MiB // 512)
    assert "DEVTYPE=disk" in view.read(f"{disk}/uevent").decode()


def fsdax(s: Stores, size: int = 256 * MiB) -> None:
    """ndctl create-namespace -m fsdax's write sequence (ndctl-daxctl.md 4.4)."""
    sized(s, size)
    s.ok(f"{NS}/sector_size", "512\n")
    s.ok(f"{NS}/holder_class", "pfn\0")
    pfn = f"{REGION}/pfn0.0"
    s.ok(f"{pfn}/uuid", f"{OTHER}\0")
    s.ok(f"{pfn}/mode", "pmem\0")
    s.ok(f"{pfn}/align", "2097152\n\0")
    s.ok(f"{pfn}/namespace", "namespace0.0\0")
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "pfn0.0\0")


def test_fsdax_claim(s: Stores) -> None:
    fsdax(s)
    assert s.bound("pfn0.0", "nd") == "nd_pmem"
    assert s.bound("namespace0.0", "nd") == ""
    assert s.reads(NS, "mode", "holder") == {"mode": "memory", "holder": "pfn0.0"}
    # ndctl-daxctl.md 3.8: a 256 MiB namespace leaves 250 MiB after the struct page array.
    assert s.read(f"{REGION}/pfn0.0/size") == "262144000"
    assert s.exists(f"{REGION}/pfn0.0/block/pmem0")
    assert s.read(f"{REGION}/pfn_seed") == "pfn0.1"
    assert s.read(f"{REGION}/namespace_seed") == "namespace0.1"
    for attr, data, err in (
        ("mode", "ram\n", errno.EBUSY),
        ("namespace", "\n", errno.EBUSY),
    ):
        s.refuse(f"{REGION}/pfn0.0/{attr}", data, err)
    s.refuse(f"{NS}/holder_class", "\n", errno.EBUSY)


@pytest.mark.parametrize(
    ("attr", "data", "err"),
    [
        ("mode", "fast\n", errno.EINVAL),
        ("align", "12345\n", errno.EINVAL),
        ("uuid", "zzz\n", errno.EINVAL),
        ("namespace", "namespace7.7\n", errno.ENODEV),
    ],
)
def test_claim_refusals(s: Stores, attr: str, data: str, err: int) -> None:
    s.refuse(f"{REGION}/pfn0.0/{attr}", data, err)


def test_claim_refuses_a_namespace_of_another_class_or_too_small(s: Stores) -> None:
    sized(s, 16 * MiB)
    s.ok(f"{NS}/holder_class", "btt\n")
    s.refuse(f"{REGION}/pfn0.0/namespace", "namespace0.0\n", errno.EBUSY)
    s.ok(f"{NS}/holder_class", "\n")
    s.ok(f"{NS}/size", "0\n")
    s.ok(f"{NS}/uuid", f"{UUID}\n")
    s.ok(f"{NS}/size", f"{16 * MiB:#x}\n")
    # 16 MiB is the least a pfn hosts (less: "too small to host").
    s.ok(f"{REGION}/pfn0.0/namespace", "namespace0.0\n")


def test_devdax_claim_puts_a_device_on_the_dax_bus(s: Stores) -> None:
    sized(s, 128 * MiB)
    s.ok(f"{NS}/holder_class", "dax\0")
    dax = f"{REGION}/dax0.0"
    s.ok(f"{dax}/uuid", f"{OTHER}\0")
    s.ok(f"{dax}/mode", "pmem\0")
    s.ok(f"{dax}/align", "2097152\n\0")
    s.ok(f"{dax}/namespace", "namespace0.0\0")
    s.ok("/sys/bus/nd/drivers/dax_pmem/bind", "dax0.0\0")
    view = s.view()
    # The device-dax device is named after the namespace (index 0) and binds device_dax.
    assert view.realpath("/sys/bus/dax/devices/dax0.0") == view.realpath(f"{dax}/dax0.0")
    assert s.bound("dax0.0", "dax") == "device_dax"
    assert s.reads(f"{dax}/dax_region", "id", "size", "align") == {
        "id": "0",
        "size": "130023424",
        "align": "2097152",
    }
    assert s.read(f"{NS}/mode") == "dax"


def test_sector_claim_block_device_has_the_s_suffix(s: Stores) -> None:
    sized(s, 64 * MiB)
    s.ok(f"{NS}/sector_size", "4096\n")
    s.ok(f"{NS}/holder_class", "btt\0")
    btt = f"{REGION}/btt0.0"
    s.ok(f"{btt}/uuid", f"{OTHER}\0")
    s.ok(f"{btt}/sector_size", "4096\n\0")
    s.ok(f"{btt}/namespace", "namespace0.0\0")
    s.ok("/sys/bus/nd/drivers/nd_pmem/bind", "btt0.0\0")
    assert s.exists(f"{btt}/block/pmem0s")
    assert s.read(f"{NS}/mode") == "safe"
    assert s.read(f"{btt}/sector_size") == "512 520 528 [4096] 4104 4160 4224 "


def test_labels_bring_namespaces_back_after_the_region_is_reenabled(s: Stores) -> None:
    fsdax(s)
    s.ok(f"{REGION}/driver/unbind", "region0\n")
    assert not s.exists(NS)
    # nd_region_available_dpa() asks only the DIMMs, which keep the labelled 256 MiB.
    assert s.read(f"{REGION}/available_size") == str(768 * MiB)
    s.ok("/sys/bus/nd/drivers/nd_region/bind", "region0\n")
    # The label names namespace0.0 and the info block on it names the pfn claim.
    assert s.read(f"{NS}/size") == str(256 * MiB)
    assert s.read(f"{NS}/uuid") == UUID
    holder = s.read(f"{NS}/holder")
    assert holder.startswith("pfn0.")
    assert s.read(f"{REGION}/{holder}/uuid") == OTHER
    assert s.bound(holder, "nd") == "nd_pmem"
    # One labelled namespace registered (it is the seed until it is enabled).
    assert s.read(f"{REGION}/init_namespaces") == "1/1"


def test_region_align_rules(s: Stores) -> None:
    s.refuse(f"{REGION}/align", "0x1000\n", errno.EINVAL)  # 2 KiB per mapping
    s.refuse(f"{REGION}/align", "0x3000000\n", errno.EINVAL)  # 24 MiB per mapping
    s.refuse(f"{REGION}/align", "nope\n", errno.EINVAL)
    s.ok(f"{REGION}/align", "0x2000000\n")
    sized(s, 32 * MiB)
    # align_store() does not look at the namespaces: a sized one keeps its allocation.
    s.ok(f"{REGION}/align", "0x1000000\n")
    assert s.read(f"{NS}/size") == str(32 * MiB)
