"""The emulated kernel's store rules, as tables (kernel-sysfs.md §0.2, §1.3-§1.5, §2.3-§2.8,
§5.1).

Every state is built through stores (kernfs.transact.write, one state transaction each),
never by setting fields. For each writable attribute: the values it accepts and what they
do, and the ones it refuses with their errno; every refused store leaves the state (the
kernel minus its log) unchanged and records why in the kernel log (tests/kernel_stores.py).
The few stores the kernel fails after a change it keeps (``dpa_size`` freeing first, the
last ``targetN`` failing validation) are checked for exactly that change.

Platforms: cxl_test (kernel-sysfs.md §4.1; the auto region0 on mem0+mem4 below decoder0.0,
so those two memdevs allocate from endpoint decoder 1 up), cxl_test-xor, the QEMU presets.
cxl_test names: HB0 = port1 (root ports 0, 2), HB1 = port2 (1, 3), HB2 = port3 (4); switch
port4 (mem0, mem4), port6 (mem1, mem5), port8 (mem2, mem6), port10 (mem3, mem7), port16
(mem8, mem9); memK's endpoint decoders: mem0 5, mem1 7, mem2 9, mem3 11, mem4 12, mem5 13,
mem6 14, mem7 15, mem8 17, mem9 18, mem10 (the RCD) 19.
"""

from __future__ import annotations

import errno
import itertools
from pathlib import Path

import pytest

from fake_sysfs.kernel import log as klog
from fake_sysfs.platform.model import (
    HostBridge,
    Platform,
    RootPort,
    Switch,
    SwitchPort,
    Type3Device,
    Window,
)
from fake_sysfs.platform.validate import finalize
from tests.kernel_stores import GiB, MiB, Stores, attach_all, region_setup, reserve

P = 0xF0_0000_0000
UUID = "11111111-2222-3333-4444-555555555555"
UUID2 = "22222222-3333-4444-5555-666666666666"
SZ256 = 256 * MiB


@pytest.fixture
def cxl_test(tmp_path: Path) -> Stores:
    return Stores(tmp_path, "cxl_test")


# == root decoders: create_pmem_region, create_ram_region, delete_region (2.3) ================


def test_create_region_offer_and_compare_and_exchange(cxl_test: Stores) -> None:
    s = cxl_test
    # decoder0.0's region0 is the auto region, so it offers 6; the others offer 1..5.
    offers = {
        f"decoder0.{i}": s.read(f"decoder0.{i}/create_{m}_region")
        for i, m in enumerate(["ram", "ram", "pmem", "pmem", "pmem", "ram"])
    }
    assert offers == {
        "decoder0.0": "region6",
        "decoder0.1": "region1",
        "decoder0.2": "region2",
        "decoder0.3": "region3",
        "decoder0.4": "region4",
        "decoder0.5": "region5",
    }
    for data, err in [
        (b"foo\0", errno.EINVAL),
        (b"region\0", errno.EINVAL),
        (b"regionx3\0", errno.EINVAL),
        (b"\n", errno.EINVAL),
        (b"region99\0", errno.EBUSY),  # not the offered id
        (b"region4\0", errno.EBUSY),  # another decoder's offer
        (b"region-3\0", errno.EBUSY),
    ]:
        s.refuse("decoder0.3/create_pmem_region", data, err, "create_pmem_region")
    # What libcxl does: the offered name written back (with its NUL).
    s.ok("decoder0.3/create_pmem_region", b"region3\0")
    assert s.reads(
        "region3",
        "mode",
        "interleave_ways",
        "interleave_granularity",
        "size",
        "resource",
        "uuid",
        "commit",
    ) == {
        "mode": "pmem",
        "interleave_ways": "0",
        "interleave_granularity": "0",
        "size": "0x0",
        "resource": "0xffffffffffffffff",
        "uuid": "00000000-0000-0000-0000-000000000000",
        "commit": "0",
    }
    assert s.bound("region3") == ""
    assert s.view().realpath(f"{s.path('region3')}") == (
        "/sys/devices/platform/cxl_acpi.0/root0/decoder0.3/region3"
    )
    # The next offer is the lowest free memregion id; the consumed one is refused now.
    assert s.read("decoder0.3/create_pmem_region") == "region7"
    s.refuse("decoder0.3/create_pmem_region", b"region3\0", errno.EBUSY)
    # sscanf("region%d"): a newline, leading blanks before the number, trailing junk pass.
    s.ok("decoder0.3/create_pmem_region", b"region7\n")
    s.ok("decoder0.3/create_pmem_region", b"region 8")
    s.ok("decoder0.1/create_ram_region", b"region1abc")
    assert s.read("region1/mode") == "ram"
    assert s.view().lstat(s.path("region1/uuid")).mode & 0o777 == 0o444
    assert s.read("region1/uuid") == ""
    # The log names the root decoder and the region, as cxl_acpi's device.
    assert "cxl_acpi cxl_acpi.0: decoder0.1: created region1" in s.log_since(0)


def test_delete_region(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.3/create_pmem_region", "region3\0")
    s.ok("decoder0.3/create_pmem_region", "region7\0")
    for data in (b"region0\0", b"region1\0", b"nonexistent\0", b"\0"):
        s.refuse("decoder0.3/delete_region", data, errno.ENODEV, "delete_region")
    # region0 belongs to decoder0.0, not decoder0.2.
    s.refuse("decoder0.2/delete_region", b"region3", errno.ENODEV)
    s.ok("decoder0.3/delete_region", b"region3\n")
    assert not s.exists("region3")
    # The freed id is lower than the offered one (8): it is offered again.
    assert s.read("decoder0.3/create_pmem_region") == "region3"
    s.ok("decoder0.3/delete_region", "region7\0")
    assert s.read("decoder0.3/create_pmem_region") == "region3"
    assert not s.exists("region7")


def test_delete_region_tears_down_whatever_the_state(cxl_test: Stores) -> None:
    # The kernel never refuses: a bound committed region is unbound, reset, its targets
    # detached and its HPA released (2.3, 2.8).
    s = cxl_test
    region_setup(s, "decoder0.3", "region3", ways=2, granularity=4096, size=GiB)
    attach_all(s, "region3", ["decoder5.1", "decoder7.0"], "pmem", 512 * MiB)
    s.ok("region3/commit", "1\n\0")
    s.ok("/sys/bus/cxl/drivers/cxl_region/bind", "region3\0")
    assert s.exists("region3/pmem_region3")
    assert s.read("port1/decoders_committed") == "2"
    s.ok("decoder0.3/delete_region", "region3\0")
    assert not s.exists("region3") and not s.exists("pmem_region3")
    for port, committed in [
        ("port1", "1"),
        ("port4", "1"),
        ("endpoint5", "1"),
        ("port2", "0"),
        ("port6", "0"),
        ("endpoint7", "0"),
    ]:
        assert s.read(f"{port}/decoders_committed") == committed, port
    for dec in ("decoder5.1", "decoder7.0", "decoder1.1", "decoder4.1", "decoder2.0"):
        assert s.reads(dec, "region", "size") == {"region": "", "size": "0x0"}, dec
    # The DPA stays with the endpoint decoders: userspace frees it.
    assert s.read("decoder5.1/dpa_size") == "0x0000000020000000"
    assert s.read("decoder0.3/create_pmem_region") == "region3"


# == regions: uuid (2.5) =======================================================================


def test_uuid(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.2/create_pmem_region", "region2\0")
    s.ok("decoder0.2/create_pmem_region", "region7\0")
    # Exactly 37 bytes: 36 characters and a newline or NUL (or anything: it is not read).
    s.ok("region2/uuid", UUID + "\n")
    assert s.read("region2/uuid") == UUID
    s.ok("region2/uuid", UUID.upper() + "\0")  # the same uuid again: nothing to do
    assert s.read("region2/uuid") == UUID
    for data, words in [
        (UUID, "36 bytes"),
        (UUID + "\n\0", "38 bytes"),
        ("\n", "1 bytes"),
        ("11111111x2222-3333-4444-555555555555\n", "not a uuid"),
        ("1111111g-2222-3333-4444-555555555555\n", "not a uuid"),
        ("00000000-0000-0000-0000-000000000000\0", "null uuid"),
    ]:
        s.refuse("region2/uuid", data, errno.EINVAL, words)
    # Another region already has it: EBUSY, said about that other region.
    records = s.refuse("region7/uuid", UUID + "\0", errno.EBUSY)
    assert records[-1].text == f"cxl region2: already has uuid: {UUID}"
    s.ok("region7/uuid", UUID2 + "\0")
    # Changing it is fine until every target is set.
    region_setup_rest(s, "region2", ways=1, granularity=4096, size=SZ256)
    s.ok("region2/uuid", UUID2.replace("2", "3") + "\0")
    reserve(s, "decoder5.1", "pmem", SZ256)
    s.ok("region2/target0", "decoder5.1\0")
    s.refuse("region2/uuid", UUID + "\0", errno.EBUSY, "targets are set")
    # The written value equal to the current one is still fine.
    s.ok("region2/uuid", UUID2.replace("2", "3") + "\0")


def region_setup_rest(s: Stores, region: str, ways: int, granularity: int, size: int) -> None:
    s.ok(f"{region}/interleave_granularity", f"{granularity}\n\0")
    s.ok(f"{region}/interleave_ways", f"{ways}\n\0")
    s.ok(f"{region}/size", f"{size:#x}\n\0")


# == regions: interleave_granularity, interleave_ways (2.5) ====================================


def test_interleave_granularity(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.2/create_pmem_region", "region2\0")  # x1 window: any granularity
    for g in (256, 512, 1024, 2048, 4096, 8192, 16384):
        s.ok("region2/interleave_granularity", f"{g}\n\0")
        assert s.read("region2/interleave_granularity") == str(g)
    s.ok("region2/interleave_granularity", "0x100")  # kstrtoint, base 0
    for data in ("0\n", "128\n", "300\n", "32768\n", "-256\n", "abc\n", "256 \n", " 256", ""):
        if data:
            s.refuse("region2/interleave_granularity", data, errno.EINVAL, "granularity")
    s.refuse("region2/interleave_granularity", "99999999999\n", errno.ERANGE)
    # Under an interleaved (x2) root only the root's granularity.
    s.ok("decoder0.3/create_pmem_region", "region3\0")
    s.ok("region3/interleave_granularity", "4096\n")
    for g in (256, 8192):
        s.refuse("region3/interleave_granularity", f"{g}\n", errno.EINVAL, "x2 root")
    # Not once the HPA is allocated.
    s.ok("region2/interleave_ways", "1\n")
    s.ok("region2/uuid", UUID + "\0")
    s.ok("region2/size", f"{SZ256:#x}\n")
    s.refuse("region2/interleave_granularity", "256\n", errno.EBUSY, "size already set")


@pytest.mark.parametrize(
    ("preset", "root", "mode", "good", "bad"),
    [
        # 1-way window: 1, 2, 4, 8, 16.
        ("cxl_test", "decoder0.2", "pmem", [1, 2, 4, 8, 16], [0, 3, 5, 6, 12, 32]),
        # 2-way: a power-of-two multiple of 2.
        ("cxl_test", "decoder0.3", "pmem", [2, 4, 8, 16], [1, 3, 6, 12, 0]),
        # 3-way: 3, 6, 12.
        ("cxl_test-xor", "decoder0.2", "pmem", [3, 6, 12], [1, 2, 4, 8, 16, 9, 24]),
    ],
)
def test_interleave_ways(
    tmp_path: Path, preset: str, root: str, mode: str, good: list[int], bad: list[int]
) -> None:
    s = Stores(tmp_path, preset)
    region = s.read(f"{root}/create_{mode}_region")
    s.ok(f"{root}/create_{mode}_region", region + "\0")
    for ways in good:
        s.ok(f"{region}/interleave_ways", f"{ways}\n\0")
        # The targetN files follow the ways.
        names = [n for n in s.view().listdir(s.path(region)) if n.startswith("target")]
        assert sorted(names) == sorted(f"target{i}" for i in range(ways))
    for ways in bad:
        s.refuse(f"{region}/interleave_ways", f"{ways}\n", errno.EINVAL, "interleave")
    s.refuse(f"{region}/interleave_ways", "x\n", errno.EINVAL)
    s.refuse(f"{region}/interleave_ways", "-2\n", errno.EINVAL)


def test_interleave_ways_fixed_once_sized(cxl_test: Stores) -> None:
    s = cxl_test
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    s.refuse("region2/interleave_ways", "2\n", errno.EBUSY, "size already set")
    s.ok("region2/size", "0\n")  # freeing the HPA makes it idle again
    s.ok("region2/interleave_ways", "2\n")


# == regions: size (2.5) =======================================================================


def test_size_needs_ways_granularity_and_uuid_first(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.2/create_pmem_region", "region2\0")
    s.refuse("region2/size", f"{SZ256:#x}\n", errno.ENXIO, "come first")
    s.ok("region2/interleave_granularity", "4096\n")
    s.refuse("region2/size", f"{SZ256:#x}\n", errno.ENXIO)
    s.ok("region2/interleave_ways", "1\n")
    s.refuse("region2/size", f"{SZ256:#x}\n", errno.ENXIO)  # a pmem region needs its uuid
    s.ok("region2/uuid", UUID + "\0")
    s.ok("region2/size", f"{SZ256:#x}\n\0")
    assert s.reads("region2", "size", "resource") == {
        "size": "0x10000000",
        "resource": f"{P + 0xD0000000:#x}",
    }
    # A ram region needs no uuid.
    s.ok("decoder0.1/create_ram_region", "region1\0")
    region_setup_rest(s, "region1", ways=2, granularity=4096, size=512 * MiB)
    assert s.read("region1/resource") == f"{P + 0x50000000:#x}"


def test_size_values(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.3/create_pmem_region", "region3\0")
    s.ok("region3/interleave_granularity", "4096\n")
    s.ok("region3/interleave_ways", "2\n")
    s.ok("region3/uuid", UUID + "\0")
    s.ok("region3/size", "0\n")  # nothing allocated: nothing to free
    for data, err, words in [
        (f"{SZ256:#x}\n", errno.EINVAL, "256 MiB x 2 ways"),  # 256 MiB x ways multiples
        ("0x1000\n", errno.EINVAL, "not a multiple"),
        ("1G\n", errno.EINVAL, "not a number"),
        ("-1\n", errno.EINVAL, "not a number"),
        ("0x100000000\n", errno.ERANGE, "HPA allocation error (-34)"),  # 4 GiB > 2 GiB window
        ("0x10000000000000000\n", errno.ERANGE, ""),  # kstrtou64 overflow
    ]:
        s.refuse("region3/size", data, err, words)
    s.ok("region3/size", "536870912\n")  # decimal works too
    assert s.read("region3/size") == "0x20000000"
    s.ok("region3/size", "0x20000000\n")  # the same size: nothing to do
    s.refuse("region3/size", "0x40000000\n", errno.EBUSY, "free it first")
    s.ok("region3/size", "0\n")
    assert s.reads("region3", "size", "resource") == {
        "size": "0x0",
        "resource": "0xffffffffffffffff",
    }
    # The HPA comes back once freed; granularity and ways may change again (state idle).
    s.ok("region3/interleave_ways", "4\n")


def test_size_first_free_aligned_gap(cxl_test: Stores) -> None:
    # First fit upwards from the window base, 256 MiB aligned, no overlap with other
    # regions of the window (decoder0.2: 1 GiB at P + 0xd0000000).
    s = cxl_test
    base = P + 0xD0000000
    names = []
    for i, size in enumerate([SZ256, SZ256]):
        name = s.read("decoder0.2/create_pmem_region")
        region_setup(
            s,
            "decoder0.2",
            name,
            ways=1,
            granularity=256,
            size=size,
            uuid=f"{i + 1}" * 8 + UUID[8:],
        )
        names.append(name)
    assert [s.read(f"{n}/resource") for n in names] == [f"{base:#x}", f"{base + SZ256:#x}"]
    s.ok("decoder0.2/delete_region", names[0] + "\0")
    big = s.read("decoder0.2/create_pmem_region")
    region_setup(s, "decoder0.2", big, ways=1, granularity=256, size=512 * MiB, uuid=UUID2)
    assert s.read(f"{big}/resource") == f"{base + 2 * SZ256:#x}"  # the hole is too small
    small = s.read("decoder0.2/create_pmem_region")
    region_setup(
        s, "decoder0.2", small, ways=1, granularity=256, size=SZ256, uuid="3" * 8 + UUID[8:]
    )
    assert s.read(f"{small}/resource") == f"{base:#x}"  # the hole fits
    # The window is full now.
    last = s.read("decoder0.2/create_pmem_region")
    s.ok("decoder0.2/create_pmem_region", last + "\0")
    s.ok(f"{last}/interleave_granularity", "256\n")
    s.ok(f"{last}/interleave_ways", "1\n")
    s.ok(f"{last}/uuid", "4" * 8 + UUID[8:] + "\0")
    s.refuse(f"{last}/size", f"{SZ256:#x}\n", errno.ERANGE, "HPA allocation error")


def test_size_zero_refused_once_active(cxl_test: Stores) -> None:
    s = cxl_test
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    reserve(s, "decoder5.1", "pmem", SZ256)
    s.ok("region2/target0", "decoder5.1\0")
    s.refuse("region2/size", "0\n", errno.EBUSY, "targets are set")
    s.ok("region2/size", "0x10000000\n")  # the same size is still no change


# == endpoint decoders: mode, dpa_size (2.3, 2.7.4) ============================================


def test_decoder_mode(cxl_test: Stores) -> None:
    s = cxl_test
    assert s.read("decoder7.0/mode") == "none"
    for data in (b"pmem", b"pmem\n", b"pmem\0", b"ram\0"):
        s.ok("decoder7.0/mode", data)
    assert s.read("decoder7.0/mode") == "ram"
    for data in (b"none\0", b"mixed\0", b"RAM\0", b"pmem \0", b"\0", b"pmem\n\n"):
        s.refuse("decoder7.0/mode", data, errno.EINVAL, "expected ram or pmem")
    # Committed (the auto region's decoder): EBUSY.
    s.refuse("decoder5.0/mode", b"pmem\0", errno.EBUSY, "decoder enabled")
    # The RCD has no pmem capacity.
    s.refuse("decoder19.0/mode", b"pmem\0", errno.ENXIO, "no available pmem capacity")
    s.ok("decoder19.0/mode", b"ram\0")
    # Neither the allocation nor region membership is checked: it only says where the
    # next allocation goes.
    s.ok("decoder7.0/dpa_size", f"{SZ256:#x}\n")
    s.ok("decoder7.0/mode", b"pmem\0")
    assert s.reads("decoder7.0", "mode", "dpa_resource", "dpa_size") == {
        "mode": "pmem",
        "dpa_resource": "0x0",
        "dpa_size": "0x0000000010000000",
    }


def test_dpa_size_allocation_order_and_skip(cxl_test: Stores) -> None:
    # mem1 (endpoint7): ram [0, 1G), pmem [1G, 2G).
    s = cxl_test
    assert s.reads("decoder7.0", "dpa_size", "dpa_resource") == {
        "dpa_size": "0x0000000000000000",
        "dpa_resource": "0xffffffffffffffff",
    }
    s.refuse("decoder7.0/dpa_size", f"{SZ256:#x}\n", errno.EINVAL, "mode not set")
    s.ok("decoder7.0/mode", "ram\0")
    s.ok("decoder7.0/dpa_size", "0x10000000\n\0")
    # Allocations go in decoder order: decoder7.2 before decoder7.1 is refused.
    s.ok("decoder7.2/mode", "ram\0")
    s.refuse("decoder7.2/dpa_size", f"{SZ256:#x}\n", errno.EBUSY, "expected decoder7.1")
    # The first pmem allocation skips the free ram tail [256M, 1G).
    s.ok("decoder7.1/mode", "pmem\0")
    s.ok("decoder7.1/dpa_size", "268435456\n")
    assert s.read("decoder7.1/dpa_resource") == "0x40000000"
    # ... which is lost to ram until decoder7.1 is freed.
    s.refuse("decoder7.2/dpa_size", f"{SZ256:#x}\n", errno.ENOSPC, "exceeds available ram")
    s.ok("decoder7.2/mode", "pmem\0")
    s.ok("decoder7.2/dpa_size", f"{SZ256:#x}\n")
    assert s.read("decoder7.2/dpa_resource") == "0x50000000"  # no second skip
    # Frees go in decreasing order.
    s.refuse("decoder7.1/dpa_size", "0\n", errno.EBUSY, "expected decoder7.2")
    s.ok("decoder7.2/dpa_size", "0\n")
    s.ok("decoder7.1/dpa_size", "0\n")
    s.ok("decoder7.1/dpa_size", "0\n")  # nothing to free: nothing to do
    s.ok("decoder7.1/mode", "ram\0")
    s.ok("decoder7.1/dpa_size", f"{SZ256:#x}\n")
    assert s.read("decoder7.1/dpa_resource") == "0x10000000"
    for data, words in [
        ("0x1000\n", "not a multiple of 256 MiB"),
        ("1G\n", "not a number"),
        ("\n", "not a number"),
        ("-0x10000000\n", "not a number"),
    ]:
        s.refuse("decoder7.3/dpa_size", data, errno.EINVAL, words)
    s.refuse("decoder7.3/dpa_size", "0x10000000000000000\n", errno.ERANGE)


def test_dpa_size_failed_resize_leaves_no_allocation(cxl_test: Stores) -> None:
    # The free comes first and stays (2.3 step 1): the store fails, the DPA is gone.
    s = cxl_test
    s.ok("decoder7.0/mode", "ram\0")
    s.ok("decoder7.0/dpa_size", f"{SZ256:#x}\n")
    mark = s.mark()
    assert s.errno("decoder7.0/dpa_size", f"{2 * GiB:#x}\n") == errno.ENOSPC
    assert s.reads("decoder7.0", "dpa_size", "dpa_resource", "mode") == {
        "dpa_size": "0x0000000000000000",
        "dpa_resource": "0xffffffffffffffff",
        "mode": "ram",
    }
    assert s.log_since(mark) == [
        "cxl decoder7.0: 0x0000000080000000 exceeds available ram capacity: 0x0000000040000000"
    ]
    # Without an allocation to free, the same failure changes nothing.
    s.refuse("decoder7.0/dpa_size", f"{2 * GiB:#x}\n", errno.ENOSPC)


def test_dpa_size_busy_in_a_region_or_committed(cxl_test: Stores) -> None:
    s = cxl_test
    # The auto region's decoder: in a region (and committed).
    s.refuse("decoder5.0/dpa_size", "0\n", errno.EBUSY, "decoder assigned to: region0")
    s.refuse("decoder5.0/dpa_size", f"{SZ256:#x}\n", errno.EBUSY)
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    reserve(s, "decoder9.0", "pmem", SZ256)
    s.ok("region2/target0", "decoder9.0\0")
    s.refuse("decoder9.0/dpa_size", "0\n", errno.EBUSY, "decoder assigned to: region2")
    s.refuse("decoder9.0/dpa_size", f"{2 * SZ256:#x}\n", errno.EBUSY, "assigned")


# == regions: targetN (2.5, 2.7.2) =============================================================


def test_target_checks_in_order(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.3/create_pmem_region", "region3\0")
    s.ok("region3/interleave_granularity", "4096\n")
    s.ok("region3/interleave_ways", "2\n")
    s.ok("region3/uuid", UUID + "\0")
    reserve(s, "decoder7.0", "pmem", SZ256)
    # 4: the size is not set yet.
    s.refuse("region3/target1", "decoder7.0\0", errno.ENXIO, "interleave config missing")
    s.ok("region3/size", f"{2 * SZ256:#x}\n")
    # The written name: no such device; not an endpoint decoder.
    s.refuse("region3/target1", "decoder99.0\0", errno.ENODEV, "no device")
    s.refuse("region3/target1", "mem1\0", errno.EINVAL, "not an endpoint decoder")
    s.refuse("region3/target1", "decoder1.1\0", errno.EINVAL, "not an endpoint decoder")
    # 2: mode.
    s.ok("decoder9.0/mode", "ram\0")
    s.refuse("region3/target0", "decoder9.0\0", errno.EINVAL, "region mode: 2 mismatch: 1")
    # 8: no DPA.
    s.ok("decoder9.0/mode", "pmem\0")
    s.refuse("region3/target0", "decoder9.0\0", errno.ENXIO, "missing DPA allocation")
    # 9: DPA size x ways != region size.
    s.ok("decoder9.0/dpa_size", f"{2 * SZ256:#x}\n")
    s.refuse(
        "region3/target0",
        "decoder9.0\0",
        errno.EINVAL,
        "mem2:decoder9.0: decoder-size-0x20000000 * ways-2 != region-size-0x20000000",
    )
    s.ok("decoder9.0/dpa_size", "0\n")
    s.ok("decoder9.0/dpa_size", f"{SZ256:#x}\n")
    # 11: p % root ways picks the host bridge: position 0 is HB0's, 1 HB1's.
    s.refuse("region3/target1", "decoder9.0\0", errno.ENXIO, "invalid target position")
    s.refuse("region3/target0", "decoder7.0\0", errno.ENXIO, "invalid target position")
    s.ok("region3/target0", "decoder9.0\n")
    assert s.reads(
        "decoder9.0", "region", "interleave_ways", "interleave_granularity", "start", "size"
    ) == {
        "region": "region3",
        "interleave_ways": "2",
        "interleave_granularity": "4096",
        "start": f"{P + 0x110000000:#x}",
        "size": "0x20000000",
    }
    # 10: the decoder already at this position; another decoder at it; the same memdev.
    s.refuse("region3/target0", "decoder9.0\0", errno.EBUSY, "failed to track endpoint")
    reserve(s, "decoder11.0", "pmem", SZ256)
    s.refuse("region3/target0", "decoder11.0\0", errno.EBUSY, "already assigned to mem2")
    s.ok("decoder9.1/mode", "pmem\0")
    s.ok("decoder9.1/dpa_size", f"{SZ256:#x}\n")
    s.refuse("region3/target1", "decoder9.1\0", errno.EBUSY, "mem2 already specified")
    s.ok("region3/target1", "decoder7.0\0")
    assert s.read("region3/target1") == "decoder7.0"
    # 4: all targets set.
    s.refuse("region3/target1", "decoder11.0\0", errno.EBUSY, "region already active")
    s.refuse("region3/target0", "decoder11.0\0", errno.EBUSY, "region already active")
    # The endpoint decoder in another region (one above region3: HPA order holds).
    region_setup(s, "decoder0.3", "region7", ways=2, granularity=4096, size=2 * SZ256, uuid=UUID2)
    s.refuse("region7/target0", "decoder9.0\0", errno.EBUSY, "already attached to region3")
    # A region below region3 is refused first by the HPA order at mem2's endpoint.
    region_setup(
        s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256, uuid="3" * 8 + UUID[8:]
    )
    s.refuse("region2/target0", "decoder9.0\0", errno.EBUSY, "endpoint9: HPA order violation")


def test_target_detach(cxl_test: Stores) -> None:
    s = cxl_test
    region_setup(s, "decoder0.3", "region3", ways=2, granularity=4096, size=GiB)
    attach_all(s, "region3", ["decoder9.0", "decoder7.0"], "pmem", 512 * MiB)
    assert s.reads(
        "decoder1.1", "region", "interleave_ways", "interleave_granularity", "size", "target_list"
    ) == {
        "region": "region3",
        "interleave_ways": "1",
        "interleave_granularity": "8192",
        "size": "0x40000000",
        "target_list": "2",
    }
    # Detaching: the endpoint decoder is released (range back to 0, ways and granularity
    # kept); the region waits for targets again; ports no member reaches release theirs.
    s.ok("region3/target1", "\0")
    assert s.read("region3/target1") == ""
    assert s.reads(
        "decoder7.0",
        "region",
        "start",
        "size",
        "interleave_ways",
        "interleave_granularity",
        "dpa_size",
    ) == {
        "region": "",
        "start": "0x0",
        "size": "0x0",
        "interleave_ways": "2",
        "interleave_granularity": "4096",
        "dpa_size": "0x0000000020000000",
    }
    for dec in ("decoder2.0", "decoder6.0"):
        assert s.reads(dec, "region", "size") == {"region": "", "size": "0x0"}, dec
    # mem2 is still attached: HB0 and its switch keep their decoders, reset to no range.
    assert s.reads("decoder1.1", "region", "size") == {"region": "region3", "size": "0x0"}
    s.ok("region3/target1", "\n")  # an empty slot: nothing to do
    s.ok("region3/target1", "decoder7.0\0")
    assert s.read("decoder1.1/size") == "0x40000000"
    s.ok("region3/target0", b"\0")
    s.ok("region3/target1", b"\0")
    assert s.read("decoder1.1/region") == ""
    s.ok("decoder9.0/dpa_size", "0\n")


def test_reservation_is_the_port_next_decoder_to_commit(cxl_test: Stores) -> None:
    # 2.7.2 item 2: a port's decoder for a region is the one at its decoders_committed;
    # a second region cannot reserve through that port before the first commits.
    s = cxl_test
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    attach_all(s, "region2", ["decoder9.0"], "pmem", SZ256)
    assert s.read("decoder1.1/region") == "region2"  # port1 has decoder1.0 committed
    assert s.read("decoder8.0/region") == "region2"
    region_setup(s, "decoder0.2", "region7", ways=1, granularity=4096, size=SZ256, uuid=UUID2)
    reserve(s, "decoder14.0", "pmem", SZ256)  # mem6, the same switch port8
    records = s.refuse("region7/target0", "decoder14.0\0", errno.EBUSY, "no decoder available")
    assert "cxl_port port8: next decoder to commit (decoder8.0) is already reserved (region2)" in [
        r.text for r in records
    ]
    s.ok("region2/commit", "1\n\0")
    s.ok("region7/target0", "decoder14.0\0")
    assert s.read("decoder8.1/region") == "region7"
    assert s.read("decoder1.2/region") == "region7"


def test_hpa_order_per_port(cxl_test: Stores) -> None:
    # Regions join a port in increasing HPA order, the endpoint port included.
    s = cxl_test
    uuids = iter(f"{i}" * 8 + UUID[8:] for i in range(1, 9))
    names = []
    for _ in range(2):
        name = s.read("decoder0.2/create_pmem_region")
        region_setup(s, "decoder0.2", name, ways=1, granularity=4096, size=SZ256, uuid=next(uuids))
        names.append(name)
    low, high = names
    s.ok("decoder0.2/delete_region", low + "\0")
    # high holds decoders on mem2's path; a new region lands in the lower hole.
    attach_all(s, high, ["decoder9.0"], "pmem", SZ256)
    s.ok(f"{high}/commit", "1\n")
    lower = s.read("decoder0.2/create_pmem_region")
    region_setup(s, "decoder0.2", lower, ways=1, granularity=4096, size=SZ256, uuid=next(uuids))
    assert s.read(f"{lower}/resource") == f"{P + 0xD0000000:#x}"
    reserve(s, "decoder9.1", "pmem", SZ256)
    s.refuse(f"{lower}/target0", "decoder9.1\0", errno.EBUSY, "HPA order violation")
    # Another memdev below the same host bridge and switch is refused at the switch.
    reserve(s, "decoder14.0", "pmem", SZ256)
    records = s.refuse(f"{lower}/target0", "decoder14.0\0", errno.EBUSY, "HPA order violation")
    assert any(
        r.text.startswith(f"cxl {lower}: port8: HPA order violation {high}:") for r in records
    )


def test_target_count_overflow(tmp_path: Path) -> None:
    # More distinct downstream ports than the port decoder's target count: ENXIO (2.7.2).
    def dev(i: int) -> Type3Device:
        return Type3Device(pmem_size=SZ256, serial=i + 1)

    switch = Switch(ports=[SwitchPort(port=i, device=dev(i)) for i in range(4)], targets=2)
    platform = finalize(
        Platform(
            name="narrow-switch",
            host_bridges=[HostBridge(uid=5, bus_nr=0x20, root_ports=[RootPort(0, switch=switch)])],
            windows=[Window(size=4 * GiB, targets=[5], granularity=4096)],
        )
    )
    s = Stores(tmp_path, platform)
    region = s.read("decoder0.0/create_pmem_region")
    region_setup(s, "decoder0.0", region, ways=4, granularity=4096, size=GiB)
    endpoints = sorted(
        (n for n in s.view().listdir("/sys/bus/cxl/devices") if n.startswith("endpoint")),
        key=lambda n: int(n[8:]),
    )
    decoders = [f"decoder{e[8:]}.0" for e in endpoints]
    attach_all(s, region, decoders[:2], "pmem", SZ256)
    reserve(s, decoders[2], "pmem", SZ256)
    s.refuse(f"{region}/target2", decoders[2] + "\0", errno.ENXIO, "overflows targets: 2")


# == the last target: validation and programming (2.7.2) =======================================

#: The worked example of 2.7.2 item 6 on qemu-interleave: root x2 over HB0 (bus 12, port2)
#: and HB1 (bus 222, port1) at 8192; A = mem2 (HB0 root port 0), B = mem3 (HB0, 1),
#: C = mem0 (HB1, 0), D = mem1 (HB1, 1).
A, B, C, D = "decoder5.0", "decoder6.0", "decoder3.0", "decoder4.0"


def test_worked_example_2_7_2_item_6(tmp_path: Path) -> None:
    s = Stores(tmp_path, "qemu-interleave")
    assert s.read("decoder0.0/target_list") == "12,222"
    s.ok("decoder0.0/create_pmem_region", "region0\0")
    for g in (256, 4096, 16384):
        s.refuse("region0/interleave_granularity", f"{g}\n", errno.EINVAL)
    s.ok("region0/interleave_granularity", "8192\n")
    s.ok("region0/interleave_ways", "4\n")
    s.ok("region0/uuid", UUID + "\0")
    s.refuse("region0/size", f"{2 * SZ256:#x}\n", errno.EINVAL)  # not 4 x 256 MiB
    s.ok("region0/size", f"{4 * SZ256:#x}\n")
    for dec in (A, B, C, D):
        reserve(s, dec, "pmem", SZ256)
    # target2 = D, an HB1 device at an even position: ENXIO at once.
    s.refuse("region0/target2", D + "\0", errno.ENXIO, "invalid target position for decoder0.0")
    for pos, dec in enumerate([A, C, B, D]):
        s.ok(f"region0/target{pos}", dec + "\0")
    start = s.read("region0/resource")
    assert s.read("decoder0.0/interleave_ways") == "2"
    assert s.read("decoder0.0/interleave_granularity") == "8192"
    for hb in ("decoder2.0", "decoder1.0"):  # HB0, HB1
        assert s.reads(
            hb,
            "interleave_ways",
            "interleave_granularity",
            "start",
            "size",
            "target_list",
            "region",
        ) == {
            "interleave_ways": "2",
            "interleave_granularity": "16384",
            "start": start,
            "size": "0x40000000",
            "target_list": "0,1",
            "region": "region0",
        }, hb
    for dec in (A, B, C, D):
        assert s.reads(dec, "interleave_ways", "interleave_granularity", "start", "size") == {
            "interleave_ways": "4",
            "interleave_granularity": "8192",
            "start": start,
            "size": "0x40000000",
        }, dec
    # The self-check agrees: A 0, C 1, B 2, D 3.
    assert [t for t in s.log_since(0) if "Test cxl_calc_interleave_pos" in t] == [
        f"cxl {dec}: Test cxl_calc_interleave_pos(): success test_pos:{i} cxled->pos:{i}"
        for i, dec in enumerate([A, C, B, D])
    ]
    # commit goes target by target, each decoder its port's next.
    s.ok("region0/commit", "1\n\0")
    for port in ("endpoint3", "endpoint4", "endpoint5", "endpoint6", "port1", "port2"):
        assert s.read(f"{port}/decoders_committed") == "1", port
    assert s.read("region0/commit") == "1"


def test_worked_example_root_ports_in_either_order(tmp_path: Path) -> None:
    # Within a host bridge the root ports may come in either order: the host-bridge
    # decoder's target list follows the positions.
    s = Stores(tmp_path, "qemu-interleave")
    region_setup(s, "decoder0.0", "region0", ways=4, granularity=8192, size=GiB)
    attach_all(s, "region0", [B, D, A, C], "pmem", SZ256)
    assert s.read("decoder2.0/target_list") == "1,0"
    assert s.read("decoder1.0/target_list") == "1,0"
    s.ok("region0/commit", "1\n")


def two_level_platform(granularity: int) -> Platform:
    """Root x2 over two host bridges, each with two root ports holding a two-port switch
    with a device on each port: 8 devices."""
    serial = iter(range(1, 100))
    hbs = []
    for h in range(2):
        rps = []
        for r in range(2):
            ports = [
                SwitchPort(port=p, device=Type3Device(pmem_size=SZ256, serial=next(serial)))
                for p in range(2)
            ]
            rps.append(RootPort(port=r, switch=Switch(ports=ports)))
        hbs.append(HostBridge(uid=10 + h, bus_nr=0x20 + 0x40 * h, root_ports=rps))
    window = Window(size=8 * GiB, targets=[10, 11], granularity=granularity)
    return finalize(Platform(name="two-level", host_bridges=hbs, windows=[window]))


def _memdevs_by_path(s: Stores) -> dict[tuple[int, int, int], str]:
    """(host bridge index in the root's target list, root port index, switch port index)
    -> the first endpoint decoder of the memdev there."""
    k = s.kernel()
    root = k.ports[0]
    found = {}
    for port in k.ports.values():
        if port.kind != "endpoint":
            continue
        chain = k.path_to_root(port)  # endpoint, switch, host bridge, root
        index = []
        for child, parent in itertools.pairwise(chain):
            ids = sorted(d.id for d in parent.dports)
            dport = next(d.id for d in parent.dports if d.device == child.parent_dport)
            index.append(
                root.decoders[0].targets.index(dport) if parent is root else ids.index(dport)
            )
        sw, rp, hb = index
        found[(hb, rp, sw)] = f"decoder{port.id}.0"
    return found


def test_granularity_limit_below_the_host_bridges(tmp_path: Path) -> None:
    # 8192 at the root: host bridges 16384, switches would need 32768: EINVAL at the
    # last target, which stays recorded; the programming of ranges is undone.
    s = Stores(tmp_path, two_level_platform(8192))
    by = _memdevs_by_path(s)
    order = [by[(p % 2, (p // 2) % 2, p // 4)] for p in range(8)]
    region_setup(s, "decoder0.0", "region0", ways=8, granularity=8192, size=2 * GiB)
    attach_all(s, "region0", order[:7], "pmem", SZ256)
    reserve(s, order[7], "pmem", SZ256)
    before = s.kernel()
    mark = s.mark()
    assert s.errno("region0/target7", order[7] + "\0") == errno.EINVAL
    assert any("invalid granularity calculation (16384 * 2)" in t for t in s.log_since(mark))
    after = s.kernel()
    assert after != before
    assert s.read("region0/target7") == order[7]
    assert s.read("region0/commit") == "0"
    s.refuse("region0/commit", "1\n", errno.ENXIO, "targets not all set")
    # Every position is taken: a further target is refused, and so is the last again.
    s.refuse("region0/target7", order[7] + "\0", errno.EINVAL, "region already has 8")
    # No switch or host-bridge decoder keeps a range; the last endpoint decoder got none.
    view = s.view()
    for name in view.listdir("/sys/bus/cxl/devices"):
        if name.startswith("decoder") and not name.startswith("decoder0."):
            path = f"/sys/bus/cxl/devices/{name}"
            if "mode" not in view.listdir(path):
                assert view.read(f"{path}/size") == b"0x0\n", name
    assert s.read(f"{order[7]}/size") == "0x0"
    assert s.read(f"{order[0]}/size") == "0x80000000"
    # Clearing it lets the region be taken down.
    s.ok("region0/target7", "\0")
    s.ok("decoder0.0/delete_region", "region0\0")
    # With 4096 at the root the same region validates: HB 8192, switches 16384.
    s2 = Stores(tmp_path / "b", two_level_platform(4096))
    by = _memdevs_by_path(s2)
    order = [by[(p % 2, (p // 2) % 2, p // 4)] for p in range(8)]
    region_setup(s2, "decoder0.0", "region0", ways=8, granularity=4096, size=2 * GiB)
    attach_all(s2, "region0", order, "pmem", SZ256)
    view = s2.view()
    held = [
        d
        for d in view.listdir("/sys/bus/cxl/devices")
        if d.startswith("decoder")
        and not d.startswith("decoder0.")
        and "mode" not in view.listdir(s2.path(d))
        and s2.read(f"{d}/region") == "region0"
    ]
    grans = sorted(s2.read(f"{d}/interleave_granularity") for d in held)
    assert grans == ["16384"] * 4 + ["8192"] * 2


def test_cxl_region_sysfs_ordering_example(cxl_test: Stores) -> None:
    # 2.7.2 item 4 (test/cxl-region-sysfs.sh): x8 over decoder0.3 (x2 over HB0, HB1), each
    # host bridge with 2 switches of 2 memdevs. mK = the K-th memdev of a host bridge as
    # listed below it: HB0 mem0, mem4 (port4), mem2, mem6 (port8); HB1 mem1, mem5, mem3,
    # mem7. Valid: H0.m0 H1.m0 H0.m2 H1.m2 H0.m1 H1.m1 H0.m3 H1.m3.
    s = cxl_test
    ep = {
        0: "decoder5.1",
        4: "decoder12.1",
        2: "decoder9.0",
        6: "decoder14.0",
        1: "decoder7.0",
        5: "decoder13.0",
        3: "decoder11.0",
        7: "decoder15.0",
    }
    h0, h1 = [0, 4, 2, 6], [1, 5, 3, 7]
    valid = [h0[0], h1[0], h0[2], h1[2], h0[1], h1[1], h0[3], h1[3]]
    region_setup(s, "decoder0.3", "region3", ways=8, granularity=4096, size=2 * GiB)
    # Wrong order first: H0.m1 (mem4, behind the root port of mem0) at position 2.
    wrong = [h0[0], h1[0], h0[1], h1[1], h0[2], h1[2], h0[3], h1[3]]
    attach_all(s, "region3", [ep[m] for m in wrong[:7]], "pmem", SZ256)
    reserve(s, ep[wrong[7]], "pmem", SZ256)
    mark = s.mark()
    assert s.errno("region3/target7", ep[wrong[7]] + "\0") == errno.ENXIO
    assert any(
        "cxl_host_bridge.0:port1: cannot host mem4:decoder12.1 at 2" in t for t in s.log_since(mark)
    )
    for pos in range(8):
        s.ok(f"region3/target{pos}", "\0")
    for pos, m in enumerate(valid):
        s.ok(f"region3/target{pos}", ep[m] + "\0")
    # Host-bridge decoders: ways 2, granularity 2 x G; switch decoders ways 2, 4 x G
    # (ig == root_ig << depth).
    for hb in ("decoder1.1", "decoder2.0"):
        assert (s.read(f"{hb}/interleave_ways"), s.read(f"{hb}/interleave_granularity")) == (
            "2",
            "8192",
        )
    for sw in ("decoder4.1", "decoder6.0", "decoder8.0", "decoder10.0"):
        assert (s.read(f"{sw}/interleave_ways"), s.read(f"{sw}/interleave_granularity")) == (
            "2",
            "16384",
        )
    assert s.read("decoder1.1/target_list") == "0,2"
    assert s.read("decoder4.1/target_list") == "0,4"
    s.ok("region3/commit", "1\n")
    # Commit and reset: the counts go up and back down.
    assert s.read("port1/decoders_committed") == "2"
    s.ok("region3/commit", "0\n")
    assert s.read("port1/decoders_committed") == "1"
    assert s.read("region3/target0") == ep[valid[0]]


@pytest.mark.parametrize(
    ("preset", "root", "ways", "gran", "order", "bad"),
    [
        # XOR x2 over HB0, HB1 (granularity 256): p % 2 picks the host bridge.
        (
            "cxl_test-xor",
            "decoder0.1",
            2,
            256,
            ["decoder9.0", "decoder7.0"],
            ["decoder7.0", "decoder9.0"],
        ),
        # XOR x4.
        (
            "cxl_test-xor",
            "decoder0.1",
            4,
            256,
            ["decoder9.0", "decoder7.0", "decoder14.0", "decoder13.0"],
            ["decoder9.0", "decoder14.0", "decoder7.0", "decoder13.0"],
        ),
        # 3-way window: p % 3 over HB0, HB1, HB2 (granularity 512).
        (
            "cxl_test-xor",
            "decoder0.2",
            3,
            512,
            ["decoder9.0", "decoder7.0", "decoder17.0"],
            ["decoder7.0", "decoder9.0", "decoder17.0"],
        ),
        # x6 on the 3-way window.
        (
            "cxl_test-xor",
            "decoder0.2",
            6,
            512,
            [
                "decoder9.0",
                "decoder7.0",
                "decoder17.0",
                "decoder14.0",
                "decoder11.0",
                "decoder18.0",
            ],
            [
                "decoder9.0",
                "decoder7.0",
                "decoder17.0",
                "decoder11.0",
                "decoder14.0",
                "decoder18.0",
            ],
        ),
    ],
)
def test_xor_and_three_way_windows(
    tmp_path: Path,
    preset: str,
    root: str,
    ways: int,
    gran: int,
    order: list[str],
    bad: list[str],
) -> None:
    s = Stores(tmp_path, preset)
    region = s.read(f"{root}/create_pmem_region")
    region_setup(s, root, region, ways=ways, granularity=gran, size=ways * SZ256)
    for dec in order:
        reserve(s, dec, "pmem", SZ256)
    first_bad = next(i for i, (a, b) in enumerate(zip(order, bad, strict=True)) if a != b)
    for pos in range(first_bad):
        s.ok(f"{region}/target{pos}", bad[pos] + "\0")
    s.refuse(
        f"{region}/target{first_bad}", bad[first_bad] + "\0", errno.ENXIO, "invalid target position"
    )
    for pos in range(first_bad, ways):
        s.ok(f"{region}/target{pos}", order[pos] + "\0")
    s.ok(f"{region}/commit", "1\n")
    tests = [t for t in s.log_since(0) if "Test cxl_calc_interleave_pos" in t]
    assert all("success" in t for t in tests) and len(tests) == ways


# == regions: commit (2.5, 2.7.3) ===============================================================


def test_commit_values_and_order(cxl_test: Stores) -> None:
    s = cxl_test
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    s.refuse("region2/commit", "1\n", errno.ENXIO, "targets not all set")
    reserve(s, "decoder9.0", "pmem", SZ256)
    s.ok("region2/target0", "decoder9.0\0")
    for data in ("x\n", "\n", "2\n", "\0"):
        s.refuse("region2/commit", data, errno.EINVAL, "not a boolean")
    s.ok("region2/commit", "0\n")  # not committed: nothing to do
    mark = s.mark()
    s.ok("region2/commit", "yes\n")  # kstrtobool
    # cxl_test's kernel skips the cache flush and says so once, on the first commit.
    assert "cxl region2: Bypassing cpu_cache_invalidate_memregion() for testing!" in s.log_since(
        mark
    )
    assert s.read("region2/commit") == "1"
    for port in ("endpoint9", "port8", "port1"):
        assert s.read(f"{port}/decoders_committed") == ("2" if port == "port1" else "1"), port
    s.ok("region2/commit", "1\n")  # committed: nothing to do
    s.ok("/sys/bus/cxl/drivers/cxl_region/bind", "region2\0")
    s.ok("region2/commit", "off\n")
    assert s.bound("region2") == ""  # reset unbinds
    assert not s.exists("region2/pmem_region2")
    assert s.read("region2/target0") == "decoder9.0"  # targets stay
    assert [s.read(f"{p}/decoders_committed") for p in ("endpoint9", "port8", "port1")] == [
        "0",
        "0",
        "1",
    ]
    s.ok("region2/commit", "1\n")
    # The message is printed once per boot.
    assert sum("Bypassing" in t for t in s.log_since(0)) == 1


def test_commit_out_of_order_is_refused_and_rolled_back(cxl_test: Stores) -> None:
    # Two regions through port8 (mem2 decoder9.0 / decoder9.1): the first reset while the
    # second stays committed cannot commit again (its decoders are below the port's
    # count); decoders_committed only drops when the highest committed decoder goes.
    s = cxl_test
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    attach_all(s, "region2", ["decoder9.0"], "pmem", SZ256)
    s.ok("region2/commit", "1\n")
    region_setup(s, "decoder0.2", "region7", ways=1, granularity=4096, size=SZ256, uuid=UUID2)
    attach_all(s, "region7", ["decoder9.1"], "pmem", SZ256)
    s.ok("region7/commit", "1\n")
    counts = ("endpoint9", "port8", "port1")
    assert [s.read(f"{p}/decoders_committed") for p in counts] == ["2", "2", "3"]
    # Out-of-order reset is allowed; the counts stay.
    s.ok("region2/commit", "0\n")
    assert [s.read(f"{p}/decoders_committed") for p in counts] == ["2", "2", "3"]
    records = s.refuse("region2/commit", "1\n", errno.EBUSY, "out of order commit")
    assert records[0].text == (
        "cxl_port endpoint9: decoder9.0: out of order commit, expected decoder9.2"
    )
    # No new region can reserve a decoder of these ports now (out-of-order shutdown).
    region_setup(
        s, "decoder0.2", "region8", ways=1, granularity=4096, size=SZ256, uuid="3" * 8 + UUID[8:]
    )
    reserve(s, "decoder14.0", "pmem", SZ256)
    records = s.refuse("region8/target0", "decoder14.0\0", errno.EBUSY, "no decoder available")
    assert any(
        "unable to allocate decoder8.2 due to out of order shutdown" in r.text for r in records
    )
    # Resetting the highest brings the counts down past the decoders reset before.
    s.ok("region7/commit", "0\n")
    assert [s.read(f"{p}/decoders_committed") for p in counts] == ["0", "0", "1"]
    s.ok("region2/commit", "1\n")
    s.ok("region7/commit", "1\n")
    assert [s.read(f"{p}/decoders_committed") for p in counts] == ["2", "2", "3"]


# == driver bind / unbind / drivers_probe (0.4, 1.3) ==========================================


def test_bind_unbind_files(cxl_test: Stores) -> None:
    s = cxl_test
    drivers = "/sys/bus/cxl/drivers"
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    attach_all(s, "region2", ["decoder9.0"], "pmem", SZ256)
    # Not committed: the probe fails ENXIO, logged as the driver core does.
    records = s.refuse(f"{drivers}/cxl_region/bind", "region2\0", errno.ENXIO)
    assert [r.text for r in records] == [
        "cxl_region region2: config state: 2",
        "cxl_region region2: probe with driver cxl_region rejects match -6",
    ]
    s.ok("region2/commit", "1\n")
    for drv, name, err in [
        ("cxl_port", "region2", errno.ENODEV),  # no match
        ("cxl_mem", "region2", errno.ENODEV),
        ("cxl_region", "nonexistent", errno.ENODEV),
        ("cxl_region", "decoder0.2", errno.ENODEV),
        ("cxl_region", "mem2", errno.ENODEV),
        ("cxl_mem", "mem2", errno.EBUSY),  # bound already
        ("cxl_port", "port8", errno.EBUSY),
        ("cxl_port", "root0", errno.ENODEV),  # no driver matches the root
    ]:
        s.refuse(f"{drivers}/{drv}/bind", f"{name}\0", err)
    s.ok(f"{drivers}/cxl_region/bind", "region2\n")
    assert s.bound("region2") == "cxl_region"
    assert s.bound("pmem_region2") == "cxl_pmem_region"
    s.refuse(f"{drivers}/cxl_region/bind", "region2\0", errno.EBUSY)
    for drv, name in [
        ("cxl_port", "region2"),
        ("cxl_region", "region0x"),
        ("cxl_region", "mem2"),
        ("cxl_mem", "region2"),
    ]:
        s.refuse(f"{drivers}/{drv}/unbind", f"{name}\0", errno.ENODEV)
    s.ok(f"{drivers}/cxl_region/unbind", "region2\0")
    assert s.bound("region2") == "" and not s.exists("pmem_region2")
    assert s.read("region2/commit") == "1"  # unbinding keeps the decode
    s.refuse(f"{drivers}/cxl_region/unbind", "region2\0", errno.ENODEV)
    # drivers_probe: ENODEV for no such device; a device it cannot bind is no failure.
    s.refuse("/sys/bus/cxl/drivers_probe", "region99\0", errno.ENODEV)
    s.ok("/sys/bus/cxl/drivers_probe", "region2\0")
    assert s.bound("region2") == "cxl_region"
    s.ok("/sys/bus/cxl/drivers_probe", "region2\0")  # bound already: nothing to do
    s.ok("decoder0.3/create_pmem_region", "region3\0")
    s.ok("/sys/bus/cxl/drivers_probe", "region3\0")
    assert s.bound("region3") == ""


def test_ram_region_bind_brings_up_dax_and_kmem(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("decoder0.1/create_ram_region", "region1\0")
    region_setup_rest(s, "region1", ways=2, granularity=4096, size=512 * MiB)
    attach_all(s, "region1", ["decoder9.0", "decoder7.0"], "ram", SZ256)
    s.ok("region1/commit", "1\n")
    s.ok("/sys/bus/cxl/drivers/cxl_region/bind", "region1\0")
    assert s.bound("dax_region1") == "cxl_dax_region"
    assert s.bound("dax1.0", "dax") == "kmem"
    view = s.view()
    blocks = [n for n in view.listdir("/sys/devices/system/memory") if n.startswith("memory")]
    start = (P + 0x50000000) // (128 * MiB)
    assert {f"memory{start + i}" for i in range(4)} <= set(blocks)
    s.ok("/sys/bus/cxl/drivers/cxl_region/unbind", "region1\0")
    view = s.view()
    assert not s.exists("dax_region1")
    assert f"memory{start}" not in view.listdir("/sys/devices/system/memory")


def test_memdev_and_port_unbind_cascades(cxl_test: Stores) -> None:
    s = cxl_test
    drivers = "/sys/bus/cxl/drivers"
    region_setup(s, "decoder0.2", "region2", ways=1, granularity=4096, size=SZ256)
    attach_all(s, "region2", ["decoder9.0"], "pmem", SZ256)
    s.ok("region2/commit", "1\n")
    s.ok(f"{drivers}/cxl_region/bind", "region2\0")
    # The memdev goes: its endpoint and decoders with it; the region is reset, unbound,
    # and loses the target.
    s.ok(f"{drivers}/cxl_mem/unbind", "mem2\0")
    assert not s.exists("endpoint9") and s.bound("mem2") == ""
    assert s.reads("region2", "commit", "target0") == {"commit": "0", "target0": ""}
    assert s.bound("region2") == ""
    assert s.read("port1/decoders_committed") == "1"  # the auto region's decoder1.0
    # mem6 keeps port8; unbinding it too takes the switch port away.
    s.ok(f"{drivers}/cxl_mem/unbind", "mem6\0")
    assert not s.exists("port8")
    s.ok(f"{drivers}/cxl_mem/bind", "mem2\0")
    assert s.exists("port8") and s.bound("mem2") == "cxl_mem"
    # The endpoint comes back (the lowest free id) with zeroed decoders: nothing stayed
    # committed.
    assert s.reads("endpoint9", "decoders_committed") == {"decoders_committed": "0"}
    assert s.read("decoder9.0/dpa_size") == "0x0000000000000000"
    # A host-bridge port unbound: its memdevs lose cxl_mem, and cannot bind until it is back.
    s.ok(f"{drivers}/cxl_port/unbind", "port2\0")
    for mem in ("mem1", "mem5", "mem3", "mem7"):
        assert s.bound(mem) == "", mem
    s.refuse(f"{drivers}/cxl_mem/bind", "mem1\0", errno.ENXIO, "not enabled")
    s.ok(f"{drivers}/cxl_port/bind", "port2\0")
    s.ok(f"{drivers}/cxl_mem/bind", "mem1\0")
    assert s.bound("mem1") == "cxl_mem"


# == firmware-committed decoders and regions ==================================================


def test_auto_region_teardown(cxl_test: Stores) -> None:
    # cxl_test's region0: committed by firmware, bound at boot. Userspace cannot attach to
    # it; it can reset and destroy it as cxl destroy-region does.
    s = cxl_test
    reserve(s, "decoder9.0", "ram", SZ256)
    s.refuse("region0/target0", "decoder9.0\0", errno.EBUSY, "region already active")
    s.ok("/sys/bus/cxl/drivers/cxl_region/unbind", "region0\0")
    s.ok("region0/commit", "0\n")
    for port in ("endpoint5", "endpoint12", "port4", "port1"):
        assert s.read(f"{port}/decoders_committed") == "0", port
    s.ok("region0/target0", "\0")
    assert s.read("region0/target0") == ""
    # Reset decoders are userspace's now, but the region stays one firmware set up.
    reserve(s, "decoder9.0", "ram", SZ256)
    s.refuse("region0/target0", "decoder9.0\0", errno.EINVAL, "unable to add decoder")
    s.ok("decoder5.0/dpa_size", "0\n")
    s.ok("region0/target1", "\0")
    s.ok("decoder12.0/dpa_size", "0\n")
    s.ok("decoder0.0/delete_region", "region0\0")
    # The id is offered again; the window is free from its base.
    assert s.read("decoder0.0/create_ram_region") == "region0"
    s.ok("decoder0.0/create_ram_region", "region0\0")
    region_setup_rest(s, "region0", ways=1, granularity=256, size=GiB)
    assert s.read("region0/resource") == f"{P + 0x10000000:#x}"


def test_auto_region_recommit_and_memdev_loss(cxl_test: Stores) -> None:
    s = cxl_test
    s.ok("/sys/bus/cxl/drivers/cxl_region/unbind", "region0\0")
    s.ok("region0/commit", "0\n")
    s.ok("region0/commit", "1\n")
    s.ok("/sys/bus/cxl/drivers/cxl_region/bind", "region0\0")
    assert s.bound("dax0.0", "dax") == "kmem"
    # Losing a member resets the whole region.
    s.ok("/sys/bus/cxl/drivers/cxl_mem/unbind", "mem4\0")
    assert s.reads("region0", "commit", "target0", "target1") == {
        "commit": "0",
        "target0": "decoder5.0",
        "target1": "",
    }
    assert s.read("endpoint5/decoders_committed") == "0"


def test_xor_firmware_decoders_survive_a_memdev_rebind(tmp_path: Path) -> None:
    # cxl_test-xor: the auto decoders are committed with no window, so no region; they stay
    # committed in the hardware when the memdev goes and come back with it (DPA reserved).
    s = Stores(tmp_path, "cxl_test-xor")
    assert "cxl_mock_mem cxl_mem.0: mem0:decoder5.0 no CXL window for range 0x0:0x1fffffff" in [
        r.text for r in s.kernel().log.records
    ]
    s.ok("/sys/bus/cxl/drivers/cxl_mem/unbind", "mem0\0")
    mark = s.mark()
    s.ok("/sys/bus/cxl/drivers/cxl_mem/bind", "mem0\0")
    assert s.reads("decoder5.0", "size", "dpa_size", "dpa_resource", "mode") == {
        "size": "0x20000000",
        "dpa_size": "0x0000000010000000",
        "dpa_resource": "0x0",
        "mode": "ram",
    }
    assert s.read("endpoint5/decoders_committed") == "1"
    assert s.log_since(mark) == [
        "cxl_mock_mem cxl_mem.0: mem0:decoder5.0 no CXL window for range 0x0:0x1fffffff"
    ]
    s.refuse("decoder5.0/dpa_size", "0\n", errno.EBUSY, "decoder enabled")


def test_locked_window_behaves_as_others(tmp_path: Path) -> None:
    # A CFMWS with the fixed-configuration restriction reads locked=1; v6.14 enforces
    # nothing more (refusing to reset such regions came later): create, commit, tear down.
    dev = Type3Device(pmem_size=GiB, serial=1)
    platform = finalize(
        Platform(
            name="locked",
            host_bridges=[HostBridge(uid=3, bus_nr=0x30, root_ports=[RootPort(0, device=dev)])],
            windows=[Window(size=4 * GiB, targets=[3], locked=True)],
        )
    )
    s = Stores(tmp_path, platform)
    assert s.read("decoder0.0/locked") == "1"
    region_setup(s, "decoder0.0", "region0", ways=1, granularity=256, size=GiB)
    attach_all(s, "region0", ["decoder2.0"], "pmem", GiB)
    s.ok("region0/commit", "1\n")
    s.ok("region0/commit", "0\n")
    s.ok("decoder0.0/delete_region", "region0\0")


def test_every_refusal_is_logged_at_debug_or_error(cxl_test: Stores) -> None:
    s = cxl_test
    records = s.refuse("region0/interleave_ways", "3\n", errno.EINVAL)
    assert {r.level for r in records} <= {klog.DEBUG, klog.ERR}


def test_in_process_frontend_answers_for_a_change_a_failed_store_kept(cxl_test: Stores) -> None:
    # pycxl's frontend: after a store that fails but keeps its change (a failed resize
    # freed the DPA), the same process reads the state that store committed.
    from fake_sysfs.frontends.inprocess import InProcess

    s = cxl_test
    s.ok("decoder7.0/mode", "ram\0")
    s.ok("decoder7.0/dpa_size", f"{SZ256:#x}\n")
    fe = InProcess(s.store)
    path = s.path("decoder7.0/dpa_size")
    assert fe.read(path) == b"0x0000000010000000\n"
    with pytest.raises(OSError) as info:
        fe.write(path, f"{2 * GiB:#x}\n\0".encode())
    assert info.value.errno == errno.ENOSPC
    assert fe.read(path) == b"0x0000000000000000\n"
    assert fe.read(s.path("decoder7.0/dpa_resource")) == b"0xffffffffffffffff\n"
    fe.close()
    # A refused store that changed nothing leaves the process on the state it had.
    fe = InProcess(s.store)
    assert fe.read(path) == b"0x0000000000000000\n"
    with pytest.raises(OSError):
        fe.write(s.path("decoder7.0/mode"), b"bogus\0")
    assert fe.read(s.path("decoder7.0/mode")) == b"ram\n"
    fe.close()
