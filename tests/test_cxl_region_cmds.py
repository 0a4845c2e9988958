"""The region commands: create-region, enable-region, disable-region, destroy-region.

Most tests run pycxl on the golden tree (tests/data/golden/cxl-list: one root with an x2
window decoder0.0 holding the committed, bound region0 on mem0+mem1, and an x1 volatile
window decoder0.1; mem2 disabled) under the fake kernel for tests, and check the exact
stores made (specs/cxl-cli.md §5.3/§5.4, verified there with strace on the real binary),
stdout, stderr and the exit status. The last part runs the upstream binary (v76.1) and
pycxl on the same plain-file trees, under strace, and compares the two.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import pytest

from pycxl.sysfs.base import DevStat
from pycxl.sysfs.order import kernfs_sorted
from tests import compat_v76
from tests.cxl_write_helpers import (
    RecordingFileSysfs,
    copy_golden,
    cxl,
    fake_golden,
    strace_upstream,
    upstream,
    without_v81_usage,
)
from tests.fake_writable_sysfs import FakeKernelSysfs

ROOT = "/sys/devices/platform/ACPI0017:00/root0"
DEC0 = f"{ROOT}/decoder0.0"
REGION0 = f"{DEC0}/region0"
MEM0 = "/sys/devices/pci0000:34/0000:34:00.0/0000:35:00.0/mem0"
MEM1 = "/sys/devices/pci0000:36/0000:36:00.0/0000:37:00.0/mem1"
UUID = "11111111-2222-3333-4444-555555555555"
DRIVERS = kernfs_sorted(["cxl_mem", "cxl_nvdimm_bridge", "cxl_port", "cxl_region"])


def binds(name: str, driver: str) -> list[tuple[str, bytes]]:
    """util_bind: the name offered to each driver in readdir order until ``driver``."""
    return [(f"{d}/bind", f"{name}\0".encode()) for d in DRIVERS[: DRIVERS.index(driver) + 1]]


def created(n: int) -> str:
    return f"cxl region: cmd_create_region: created {n} region{'' if n == 1 else 's'}\n"


#: specs/cxl-cli.md §5.3, the verified example:
#: cxl create-region -d decoder0.0 -m mem0 mem1 -s 1G -g 256 -w 2 -U 1111...
SPEC_CREATE_WRITES = [
    ("decoder0.0/create_pmem_region", b"region1\0"),
    ("region1/interleave_granularity", b"256\n\0"),
    ("region1/interleave_ways", b"2\n\0"),
    ("region1/uuid", f"{UUID}\0".encode()),
    ("region1/size", b"0x40000000\n\0"),
    ("decoder2.1/dpa_size", b"0\n\0"),
    ("decoder2.1/mode", b"pmem\0"),
    ("decoder2.1/dpa_size", b"0x20000000\n\0"),
    ("region1/target0", b"decoder2.1\0"),
    ("decoder4.1/dpa_size", b"0\n\0"),
    ("decoder4.1/mode", b"pmem\0"),
    ("decoder4.1/dpa_size", b"0x20000000\n\0"),
    ("region1/target1", b"decoder4.1\0"),
    ("region1/commit", b"1\n\0"),
]

SPEC_CREATE_JSON = """\
{
  "region":"region1",
  "resource":1031865892864,
  "size":1073741824,
  "type":"pmem",
  "interleave_ways":2,
  "interleave_granularity":256,
  "decode_state":"commit",
  "mappings":[
    {
      "position":1,
      "memdev":"mem1",
      "decoder":"decoder4.1"
    },
    {
      "position":0,
      "memdev":"mem0",
      "decoder":"decoder2.1"
    }
  ]
}
"""

SPEC_ARGS = ["create-region", "-d", "decoder0.0", "-m", "mem0", "mem1"]


# -- create-region: the full sequence ------------------------------------------------------


def test_create_region_spec_example() -> None:
    fs = fake_golden()
    r = cxl(fs, *SPEC_ARGS, "-s", "1G", "-g", "256", "-w", "2", "-U", UUID)
    assert r.writes == [*SPEC_CREATE_WRITES, *binds("region1", "cxl_region")]
    # The region JSON with its mappings; the resource is the one the kernel allocated
    # (the first free range after region0), re-read once the region is bound.
    assert r.out == SPEC_CREATE_JSON
    assert (r.err, r.rc) == (created(1), 0)


def test_create_region_prints_the_region_as_cxl_list_does() -> None:
    fs = fake_golden()
    made = cxl(fs, *SPEC_ARGS, "-s", "1G", "-U", UUID)
    listed = cxl(fs, "list", "-R", "-T", "-r", "region1")
    assert listed.out == "[\n" + "".join(f"  {line}\n" for line in made.out.splitlines()) + "]\n"
    # And the kernel state it left: bound, committed, members attached.
    assert fs.text(f"{DEC0}/region1/commit") == "1"
    assert fs.is_link(f"{DEC0}/region1/driver")
    assert fs.text(f"{ROOT}/port1/endpoint2/decoder2.1/region") == "region1"


def test_create_region_target_order_is_the_command_line_order() -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.0", "-m", "mem1", "mem0", "-s", "1G", "-U", UUID)
    targets = [w for w in r.writes if w[0].startswith("region1/target")]
    assert targets == [("region1/target0", b"decoder4.1\0"), ("region1/target1", b"decoder2.1\0")]
    assert r.rc == 0


def test_create_region_defaults() -> None:
    """No -s/-t/-g/-w/-U: type from the window's capabilities (pmem wins over ram), the
    window's granularity, one way per target, size = smallest member capacity x ways,
    a random version-4 UUID."""
    fs = fake_golden()
    assert cxl(fs, "destroy-region", "-f", "region0").rc == 0
    r = cxl(fs, *SPEC_ARGS)
    assert r.rc == 0, r.err
    written = dict(r.writes)
    assert written["region0/interleave_granularity"] == b"256\n\0"
    assert written["region0/interleave_ways"] == b"2\n\0"
    assert written["decoder0.0/create_pmem_region"] == b"region0\0"
    assert written["region0/size"] == b"0x80000000\n\0"
    assert written["decoder2.0/dpa_size"] == b"0x40000000\n\0"
    uuid = written["region0/uuid"]
    assert re.fullmatch(
        rb"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\0", uuid
    )
    assert fs.text(f"{DEC0}/region0/uuid") == uuid[:-1].decode()
    assert '"type":"pmem"' in r.out and '"size":2147483648' in r.out


def test_create_region_default_size_ignores_allocated_capacity() -> None:
    """The default size counts each member's whole partition, whatever is allocated
    already: with region0 holding half of the pmem, the kernel refuses the allocation."""
    fs = fake_golden()
    r = cxl(fs, *SPEC_ARGS)
    assert ("region1/size", b"0x80000000\n\0") in r.writes
    assert r.err == (
        "cxl region: create_region: decoder2.1: set_dpa_size failed: No space left on device\n"
        + created(0)
    )
    assert r.writes[-2:] == [
        ("decoder2.1/dpa_size", b"0x40000000\n\0"),
        ("decoder0.0/delete_region", b"region1\0"),
    ]


def test_create_region_without_targets_takes_every_memdev_below_the_window() -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.0", "-s", "1G", "-U", UUID)
    assert r.writes == [*SPEC_CREATE_WRITES, *binds("region1", "cxl_region")]


def test_create_ram_region_type_from_a_volatile_window() -> None:
    """decoder0.1 is volatile only: a ram region, created through create_ram_region, no
    uuid; the endpoint decoder is already in ram mode, so it is not switched."""
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.1", "-m", "mem0")
    assert r.writes == [
        ("decoder0.1/create_ram_region", b"region1\0"),
        ("region1/interleave_granularity", b"256\n\0"),
        ("region1/interleave_ways", b"1\n\0"),
        ("region1/size", b"0x40000000\n\0"),
        ("decoder2.1/dpa_size", b"0x40000000\n\0"),
        ("region1/target0", b"decoder2.1\0"),
        ("region1/commit", b"1\n\0"),
        *binds("region1", "cxl_region"),
    ]
    assert '"type":"ram"' in r.out and (r.err, r.rc) == (created(1), 0)


def test_create_ram_region_on_a_mixed_window_with_a_granularity() -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.0", "-t", "volatile", "-s", "1G", "-g", "256")
    assert r.writes[0] == ("decoder0.0/create_ram_region", b"region1\0")
    assert not any(w[0] == "region1/uuid" for w in r.writes)
    # The endpoint decoders are in ram mode already.
    assert ("decoder2.1/mode", b"ram\0") not in r.writes
    assert r.rc == 0


def test_create_region_any_granularity_under_an_x1_window() -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.1", "-m", "mem0", "-g", "4096")
    assert ("region1/interleave_granularity", b"4096\n\0") in r.writes
    assert r.rc == 0


def test_create_region_root_keyword_picks_the_first_root_decoder() -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "root", "-m", "mem0", "mem1", "-s", "1G", "-U", UUID)
    assert r.writes[0] == ("decoder0.0/create_pmem_region", b"region1\0")
    assert r.rc == 0


def test_create_region_default_size_is_capped_to_the_free_extent() -> None:
    """With members of 4 GiB the computed 8 GiB exceed the 3 GiB left in the window: the
    size becomes the free extent aligned down to 256 MiB x ways."""
    fs = fake_golden()
    for mem in (MEM0, MEM1):
        fs.put(f"{mem}/pmem/size", "0x100000000")
    r = cxl(fs, *SPEC_ARGS, "-U", UUID)
    assert ("region1/size", b"0xc0000000\n\0") in r.writes
    assert ("decoder2.1/dpa_size", b"0x60000000\n\0") in r.writes
    assert r.rc == 0


def test_create_region_comma_list_quirk() -> None:
    """upstream's to_csv picks the separator from the argument as strtok has already cut
    it, so ``mem0,mem1,mem2`` counts as two targets (``mem0``, ``mem1,mem2``): with mem2
    disabled, two memdevs are found and the count agrees (checked on the binary below)."""
    fs = fake_golden()
    r = cxl(fs, "create-region", "-d", "decoder0.0", "-m", "mem0,mem1,mem2", "-s", "1G")
    assert ("region1/interleave_ways", b"2\n\0") in r.writes
    assert r.rc == 0


def test_create_region_human_json_on_a_terminal() -> None:
    fs = fake_golden()
    r = cxl(fs, *SPEC_ARGS, "-s", "1G", "-U", UUID, tty=True)
    assert '"resource":"0xf040000000"' in r.out
    assert '"size":"1024.00 MiB (1073.74 MB)"' in r.out
    # -u alone changes nothing: human output depends on the terminal only.
    r = cxl(fake_golden(), *SPEC_ARGS, "-s", "1G", "-U", UUID, "-u")
    assert r.out == SPEC_CREATE_JSON


def test_create_region_qos_class() -> None:
    fs = fake_golden()
    fs.put(f"{MEM1}/pmem/qos_class", "7")
    r = cxl(fs, *SPEC_ARGS, "-s", "1G", "-Q")
    assert (
        r.err
        == "cxl region: create_region_validate_qos_class: decoder0.0 qos_class mismatch mem1\n"
        + created(0)
    )
    assert (r.rc, r.writes) == (1, [])
    # Without -Q the region is made, and says so.
    r = cxl(fs, *SPEC_ARGS, "-s", "1G")
    assert r.rc == 0 and '"qos_class_mismatch":true' in r.out


# -- create-region: refusals ----------------------------------------------------------------

NO_WRITES_FAILURES = [
    ([], "cxl region: parse_create_options: no root decoder specified\n"),
    (
        ["-d", "decoder0.0", "mem0"],
        "cxl region: parse_create_options: must specify option for target object types (-m)\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem9"],
        "cxl region: collect_memdevs: no active memdevs found: decoder: decoder0.0 filter: mem9\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem2"],
        "cxl region: collect_memdevs: no active memdevs found: decoder: decoder0.0 filter: mem2\n",
    ),
    (
        ["-d", "decoder0.1", "-m", "mem1"],
        "cxl region: collect_memdevs: no active memdevs found: decoder: decoder0.1 filter: mem1\n",
    ),
    (
        ["-d", "decoder0.5"],
        "cxl region: collect_memdevs: no active memdevs found: decoder: decoder0.5 filter: none\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem7,mem8"],
        "cxl region: collect_memdevs: no active memdevs found: decoder: decoder0.0 "
        "filter: mem7,mem8,\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem0", "mem1", "-w", "3"],
        "cxl region: validate_ways: Interleave ways 3 is greater than number of memdevs "
        "specified: 2\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem0", "mem1", "-w", "1"],
        "cxl region: validate_ways: Interleave ways 1 is less than number of memdevs "
        "specified: 2\n",
    ),
    (
        ["-d", "decoder0.0", "-w", "3"],
        "cxl region: validate_ways: Interleave ways 3 is greater than number of memdevs found: 2\n",
    ),
    (
        ["-d", "decoder0.0", "-w", "0"],
        "cxl region: parse_create_options: Invalid interleave ways: 0\n",
    ),
    (
        ["-d", "decoder0.0", "--no-ways"],
        "cxl region: parse_create_options: Invalid interleave ways: 0\n",
    ),
    (
        ["-d", "decoder0.0", "-g", "-5"],
        "cxl region: parse_create_options: Invalid interleave granularity: -5\n",
    ),
    (["-d", "decoder0.0", "-s", "1X"], "cxl region: parse_create_options: Invalid size: 1X\n"),
    (["-d", "decoder0.0", "-s", "-1"], "cxl region: parse_create_options: Invalid size: -1\n"),
    (
        ["-d", "decoder0.0", "-s", "1025"],
        "cxl region: parse_create_options: size (1025) is not an integral multiple of "
        "interleave-ways (2)\n",
    ),
    (
        ["-d", "decoder0.0", "-t", "bogus"],
        "cxl region: parse_create_options: unsupported type: bogus\n",
    ),
    (
        ["-d", "decoder0.0", "-t", "ram", "-U", UUID],
        "cxl region: parse_create_options: can't set UUID for ram / volatile regions",
    ),
    (["-d", "decoder0.0", "-U", "not-a-uuid"], "  Error: failed to parse uuid: 'not-a-uuid'\n\n"),
    (
        ["-d", "decoder0.0", "-b", "root1"],
        "cxl region: create_region_validate_config: decoder0.0 not found in CXL topology\n",
    ),
    (
        ["-d", "decoder0.1", "-t", "pmem", "-m", "mem0"],
        "cxl region: validate_decoder: decoder0.1 is not pmem capable\n",
    ),
    (
        ["-d", "decoder0.0", "-m", "mem0", "mem1", "-s", "5G"],
        "cxl region: create_region: decoder0.0: region size 0x140000000 exceeds max available "
        "space (0xc0000000)\n",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"),
    NO_WRITES_FAILURES,
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_create_region_refused_before_any_store(args: list[str], message: str) -> None:
    fs = fake_golden()
    r = cxl(fs, "create-region", *args)
    assert (r.out, r.err, r.rc, r.writes) == ("", message + created(0), 1, [])


def test_create_region_granularity_not_allowed_under_an_interleaved_window() -> None:
    fs = fake_golden()
    r = cxl(fs, *SPEC_ARGS, "-g", "512")
    assert r.err == (
        "cxl region: cxl_region_determine_granularity: region1: For an x2 root, only root "
        "decoder granularity (256) permitted\n" + created(0)
    )
    # The region that was made is deleted again.
    assert r.writes == [
        ("decoder0.0/create_pmem_region", b"region1\0"),
        ("decoder0.0/delete_region", b"region1\0"),
    ]
    assert r.rc == 1 and not fs.exists(f"{DEC0}/region1")


def test_create_region_no_free_endpoint_decoder() -> None:
    fs = fake_golden()
    assert cxl(fs, *SPEC_ARGS, "-s", "1G").rc == 0
    r = cxl(fs, *SPEC_ARGS, "-s", "512M", "-U", UUID)
    assert r.err == (
        "cxl region: cxl_memdev_find_decoder: could not get a free decoder for mem0\n" + created(0)
    )
    assert r.writes == [
        ("decoder0.0/create_pmem_region", b"region2\0"),
        ("region2/interleave_granularity", b"256\n\0"),
        ("region2/interleave_ways", b"2\n\0"),
        ("region2/uuid", f"{UUID}\0".encode()),
        ("region2/size", b"0x20000000\n\0"),
        ("decoder0.0/delete_region", b"region2\0"),
    ]
    assert r.rc == 1


@pytest.mark.parametrize(
    ("refused", "code", "message", "last_before_delete"),
    [
        (
            "region1/size",
            errno.ERANGE,
            "cxl region: create_region: region1: set_size failed: Numerical result out of range\n",
            "region1/size",
        ),
        (
            "region1/interleave_ways",
            errno.EINVAL,
            "cxl region: create_region: region1: set_interleave_ways failed: Invalid argument\n",
            "region1/interleave_ways",
        ),
        (
            "decoder4.1/mode",
            errno.EBUSY,
            "cxl region: create_region: decoder4.1: set_mode failed: Device or resource busy\n",
            "decoder4.1/mode",
        ),
        (
            "region1/target1",
            errno.ENXIO,
            "cxl region: create_region: region1: failed to set target1 to mem1\n",
            "region1/target1",
        ),
        (
            "region1/commit",
            errno.ENXIO,
            "cxl region: create_region: region1: failed to commit decode: No such device or "
            "address\n",
            "region1/commit",
        ),
        (
            "cxl_region/bind",
            errno.ENXIO,
            "libcxl: cxl_region_enable: region1: failed to enable\n"
            "cxl region: create_region: region1: failed to enable: No such device or address\n",
            "cxl_region/bind",
        ),
    ],
)
def test_create_region_kernel_refuses_a_store(
    refused: str, code: int, message: str, last_before_delete: str
) -> None:
    fs = fake_golden()
    fs.refuse[refused] = code
    r = cxl(fs, *SPEC_ARGS, "-s", "1G", "-U", UUID)
    assert (r.err, r.rc) == (message + created(0), 1)
    names = [w[0] for w in r.writes]
    assert names[-2:] == [last_before_delete, "decoder0.0/delete_region"]
    assert (
        names[: len(names) - 2]
        == [w[0] for w in [*SPEC_CREATE_WRITES, *binds("region1", "cxl_region")]][: len(names) - 2]
    )
    assert not fs.exists(f"{DEC0}/region1")


def test_create_region_new_region_not_found() -> None:
    """The kernel accepted the name but no region appeared: deleted again."""
    fs = fake_golden()
    fs._create_region = lambda dec, mode, value: None  # type: ignore[method-assign]
    r = cxl(fs, *SPEC_ARGS, "-s", "1G")
    assert r.err == (
        "libcxl: cxl_decoder_create_region: failed to add new region to libcxl\n"
        "libcxl: cxl_region_delete_name: error deleting region: No such device\n"
        "cxl region: create_region: failed to create region under decoder0.0\n" + created(0)
    )
    assert r.writes == [
        ("decoder0.0/create_pmem_region", b"region1\0"),
        ("decoder0.0/delete_region", b"region1\0"),
    ]


def test_create_region_usage_errors() -> None:
    r = cxl(fake_golden(), "create-region", "-w", "x")
    assert r.rc == 129 and r.err.startswith("  Error: switch `w' expects a numerical value\n")


# -- enable / disable / destroy -------------------------------------------------------------


def test_destroy_active_region_needs_force() -> None:
    fs = fake_golden()
    r = cxl(fs, "destroy-region", "region0")
    assert r.err == (
        "cxl region: destroy_region: region0 active. Disable it or use --force\n"
        "cxl region: decoder_region_action: region0: failed: Device or resource busy\n"
        "cxl region: region_action: one or more failures, last failure: Device or resource "
        "busy\n"
        "cxl region: cmd_destroy_region: destroyed 0 regions\n"
    )
    assert (r.rc, r.writes) == (1, [])


#: specs/cxl-cli.md §5.4, the verified sequence for a disabled 2-way region.
SPEC_DESTROY_WRITES = [
    ("region0/commit", b"0\n\0"),
    ("region0/target0", b"\0"),
    ("decoder2.0/dpa_size", b"0\n\0"),
    ("region0/target1", b"\0"),
    ("decoder4.0/dpa_size", b"0\n\0"),
    ("decoder0.0/delete_region", b"region0\0"),
]


def test_destroy_region_force() -> None:
    fs = fake_golden()
    r = cxl(fs, "destroy-region", "-f", "region0")
    assert r.writes == [("cxl_region/unbind", b"region0\0"), *SPEC_DESTROY_WRITES]
    assert (r.err, r.rc) == ("cxl region: cmd_destroy_region: destroyed 1 region\n", 0)
    assert not fs.exists(REGION0)
    assert fs.text(f"{ROOT}/port1/endpoint2/decoder2.0/dpa_size") == "0x0000000000000000"


def test_disable_enable_destroy_cycle() -> None:
    fs = fake_golden()
    r = cxl(fs, "disable-region", "region0")
    assert r.writes == [("cxl_region/unbind", b"region0\0")]
    assert (r.err, r.rc) == ("cxl region: cmd_disable_region: disabled 1 region\n", 0)
    assert '"state":"disabled"' in cxl(fs, "list", "-R", "-i").out
    r = cxl(fs, "enable-region", "0")
    assert r.writes == binds("region0", "cxl_region")
    assert (r.err, r.rc) == ("cxl region: cmd_enable_region: enabled 1 region\n", 0)
    assert cxl(fs, "disable-region", "all").rc == 0
    r = cxl(fs, "destroy-region", "region0")
    assert r.writes == SPEC_DESTROY_WRITES
    assert r.rc == 0
    assert cxl(fs, "list", "-R", "-i").out == "[\n]\n"


def test_enable_an_enabled_region_writes_nothing() -> None:
    r = cxl(fake_golden(), "enable-region", "all")
    assert (r.writes, r.err, r.rc) == ([], "cxl region: cmd_enable_region: enabled 1 region\n", 0)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["region1"],
        ["1"],
        ["-d", "decoder0.1", "region0"],
        ["-b", "root1", "all"],
        ["-d", "switch", "all"],
    ],
    ids=str,
)
def test_region_commands_that_match_nothing_succeed(args: list[str]) -> None:
    for verb, past in (("enable", "enabled"), ("disable", "disabled"), ("destroy", "destroyed")):
        r = cxl(fake_golden(), f"{verb}-region", *args)
        assert (r.writes, r.rc) == ([], 0)
        assert r.err == f"cxl region: cmd_{verb}_region: {past} 0 regions\n"


def test_region_filter_forms() -> None:
    for arg in ("region0", "0", "all", "region9 region0", "region9,0"):
        r = cxl(fake_golden(), "disable-region", "-d", "0.0", arg)
        assert r.summary == "cxl region: cmd_disable_region: disabled 1 region", arg


def test_disable_region_refused_by_the_kernel() -> None:
    fs = fake_golden()
    fs.refuse["cxl_region/unbind"] = errno.EBUSY
    r = cxl(fs, "disable-region", "region0")
    assert r.err == (
        "libcxl: cxl_region_disable: region0: failed to disable\n"
        "cxl region: decoder_region_action: region0: failed: Device or resource busy\n"
        "cxl region: region_action: one or more failures, last failure: Device or resource "
        "busy\n"
        "cxl region: cmd_disable_region: disabled 0 regions\n"
    )
    assert r.rc == 1


def test_enable_an_uncommitted_region_fails() -> None:
    fs = fake_golden()
    fs.write(f"{DEC0}/create_pmem_region", b"region1\0")
    r = cxl(fs, "enable-region", "region1")
    assert r.writes == binds("region1", "cxl_region")
    assert r.err == (
        "libcxl: cxl_region_enable: region1: failed to enable\n"
        "cxl region: decoder_region_action: region1: failed: No such device or address\n"
        "cxl region: region_action: one or more failures, last failure: No such device or "
        "address\n"
        "cxl region: cmd_enable_region: enabled 0 regions\n"
    )
    # destroy-region on it: the decode is reset, but it has no interleave ways.
    r = cxl(fs, "destroy-region", "region1")
    assert r.writes == [("region1/commit", b"0\n\0")]
    assert r.err == (
        "cxl region: destroy_region: region1: error getting interleave ways\n"
        "cxl region: decoder_region_action: region1: failed: No such device or address\n"
        "cxl region: region_action: one or more failures, last failure: No such device or "
        "address\n"
        "cxl region: cmd_destroy_region: destroyed 0 regions\n"
    )


def test_destroy_region_target_naming_an_unknown_decoder() -> None:
    fs = fake_golden()
    assert cxl(fs, "disable-region", "region0").rc == 0
    fs.put(f"{REGION0}/target1", "decoder9.9")
    r = cxl(fs, "destroy-region", "region0")
    assert r.writes == SPEC_DESTROY_WRITES[:3]
    assert r.err.startswith(
        "libcxl: cxl_region_get_target_decoder: region0: error locating decoder for target1\n"
        "cxl region: decoder_region_action: region0: failed: No such device or address\n"
    )


def test_region_commands_debug_option() -> None:
    fs = fake_golden()
    r = cxl(fs, "disable-region", "--debug", "region0")
    assert "libcxl: cxl_region_disable: region0: disabled\n" in r.err
    assert r.rc == 0


# -- disable-region: memory of system-ram DAX devices ---------------------------------------


def _with_dax(fs: FakeKernelSysfs, removable: str = "1") -> list[str]:
    """Give region0 a DAX device bound to kmem whose two memory blocks are online."""
    dax = f"{REGION0}/dax_region0"
    dev = f"{dax}/dax0.0"
    for d in (
        dax,
        f"{dax}/dax_region",
        dev,
        "/sys/bus/dax",
        "/sys/bus/dax/drivers/kmem",
        "/sys/dev/char",
    ):
        fs._add(d, "dir", None)
    for name, value in (("size", "0x10000000"), ("align", "0x200000"), ("available_size", "0x0")):
        fs._add(f"{dax}/dax_region/{name}", "file", f"{value}\n".encode())
    for name, value in (("size", "0x10000000"), ("resource", "0xf000000000"), ("target_node", "1")):
        fs._add(f"{dev}/{name}", "file", f"{value}\n".encode())
    fs._link(f"{dev}/driver", "/sys/bus/dax/drivers/kmem")
    fs._link(f"{dev}/subsystem", "/sys/bus/dax")
    fs._add("/dev/dax0.0", "dev", DevStat(True, 252, 0))
    fs._link("/sys/dev/char/252:0", dev)
    memory = "/sys/devices/system/memory"
    for d in (memory, "/sys/devices/system/node", "/sys/devices/system/node/node1"):
        fs._add(d, "dir", None)
    fs._add(f"{memory}/block_size_bytes", "file", b"8000000\n")
    blocks = ["memory7680", "memory7681"]
    for i, block in enumerate(blocks):
        fs._add(f"{memory}/{block}", "dir", None)
        for name, value in (
            ("phys_index", f"{0x1E00 + i:08x}"),
            ("state", "online"),
            ("removable", removable),
        ):
            fs._add(f"{memory}/{block}/{name}", "file", f"{value}\n".encode())
        fs._link(f"/sys/devices/system/node/node1/{block}", f"{memory}/{block}")
    return kernfs_sorted(blocks)


def test_disable_region_offlines_system_ram_first() -> None:
    fs = fake_golden()
    blocks = _with_dax(fs)
    r = cxl(fs, "disable-region", "region0")
    assert r.writes == [
        *[(f"{b}/state", b"offline\0") for b in blocks],
        ("cxl_region/unbind", b"region0\0"),
    ]
    assert (r.err, r.rc) == ("cxl region: cmd_disable_region: disabled 1 region\n", 0)
    assert fs.text("/sys/devices/system/memory/memory7680/state") == "offline"


def test_disable_region_when_memory_cannot_go_offline() -> None:
    fs = fake_golden()
    blocks = _with_dax(fs, removable="0")
    r = cxl(fs, "disable-region", "region0")
    assert r.err == (
        f"libdaxctl: offline_one_memblock: dax0.0: {blocks[0]} is unremovable\n"
        "cxl region: disable_region: region0: unable to offline dax0.0: Operation not supported\n"
        "cxl region: decoder_region_action: region0: failed: Operation not supported\n"
        "cxl region: region_action: one or more failures, last failure: Operation not "
        "supported\n"
        "cxl region: cmd_disable_region: disabled 0 regions\n"
    )
    assert (r.rc, r.writes) == (1, [])
    r = cxl(fs, "disable-region", "-f", "region0")
    assert r.err == (
        f"libdaxctl: offline_one_memblock: dax0.0: {blocks[0]} is unremovable\n"
        "cxl region: disable_region: region0: unable to offline dax0.0: Operation not supported\n"
        "cxl region: disable_region: region0: Forcing region disable without successful "
        "offline.\n"
        "cxl region: disable_region: region0: Physical address space has now been permanently "
        "leaked.\n"
        "cxl region: disable_region: region0: Leaked address cannot be recovered until a "
        "reboot.\n"
        "cxl region: cmd_disable_region: disabled 1 region\n"
    )
    assert (r.rc, r.writes) == (0, [("cxl_region/unbind", b"region0\0")])


# -- usage and option errors, compared with the upstream binary ----------------------------

REGION_COMMANDS = ["create-region", "enable-region", "disable-region", "destroy-region"]


@pytest.mark.parametrize("command", REGION_COMMANDS)
@pytest.mark.parametrize(
    "args",
    [
        ["-h"],
        ["--help-all"],
        ["--bogus"],
        ["-Z"],
        ["--decoder"],
        ["-d"],
        ["--deb=1"],
        ["--list-opts"],
    ],
    ids=str,
)
def test_usage_matches_upstream(command: str, args: list[str]) -> None:
    up_out, up_err, up_rc = upstream(command, *args)
    ours = cxl(fake_golden(), command, *args)
    out = ours.out
    if args == ["--list-opts"]:
        # The options v81 added are listed too.
        for word in ("--uuid ", "--enforce-qos ") if command == "create-region" else ():
            out = out.replace(word, "")
        if command == "disable-region":
            out = out.replace("--force ", "")
    assert (out, without_v81_usage(command, ours.err), ours.rc) == (up_out, up_err, up_rc)


@pytest.mark.parametrize(
    "args",
    [
        ["-s"],
        ["-w", "x"],
        ["--ways=2x"],
        ["-g", ""],
        ["--type"],
        ["--mem=1"],
        ["-md"],
        [],
        ["mem0"],
        ["-d", "decoder0.0", "mem0", "mem1"],
    ],
    ids=str,
)
def test_create_region_parse_errors_match_upstream(args: list[str]) -> None:
    """Errors found before any sysfs access (upstream then never reads /sys)."""
    up_out, up_err, up_rc = upstream("create-region", *args)
    ours = cxl(fake_golden(), "create-region", *args)
    assert (ours.out, without_v81_usage("create-region", ours.err), ours.rc) == (
        up_out,
        up_err,
        up_rc,
    )


def test_list_cmds_matches_upstream_for_the_commands_that_exist() -> None:
    up_out, _, up_rc = upstream("--list-cmds")
    ours = cxl(fake_golden(), "--list-cmds")
    assert up_rc == ours.rc == 0
    # v81's three commands v76.1 lacks (cxl-cli.md 1.1) aside, the tables agree in order.
    v81_only = {"update-firmware", "set-alert-config", "wait-sanitize"}
    mine = [c for c in ours.out.splitlines() if c not in v81_only]
    assert mine == [c for c in up_out.splitlines() if c in mine]
    assert set(REGION_COMMANDS) <= set(ours.out.splitlines())


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
@pytest.mark.parametrize("command", REGION_COMMANDS)
def test_help_shows_our_man_page(command: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    cxl_bin = Path(sys.executable).with_name("cxl")
    env = dict(
        os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80", FAKE_SYSFS_STATE=str(tmp_path)
    )
    for argv in (["help", command], [command, "--help"]):
        proc = subprocess.run([str(cxl_bin), *argv], capture_output=True, env=env, text=True)
        assert proc.returncode == 0, proc.stderr
        assert f"CXL-{command.upper()}" in proc.stdout
        assert "pycxl" in proc.stdout


# -- the upstream binary on plain-file trees, under strace -----------------------------------

#: Documented v76.1 -> v81 differences (specs/cxl-cli.md §5.2, §5.3, §10) this comparison
#: has to allow for, and nothing else:
#: * v76.1's create-region goes on after a failed creation and exits 0 unless a positional
#:   names a region (the "exit-status quirk");
#: * v76.1 says "... exceeds max available space" without the "(0x...)" part;
#: * v76.1's libcxl function is cxl_decoder_create_pmem_region (v81 shares it with ram
#:   regions as cxl_decoder_create_region);
#: * v76.1 has no -U: the UUID written is random on both sides;
#: * region JSON keys added after v76.1 (tests/compat_v76.py).
_V76_QUIRK_CREATE_STAGE = "create-stage"


def _normalize_ours(text: str) -> str:
    text = re.sub(r" \(0x[0-9a-f]+\)\n", "\n", text)
    return text.replace("cxl_decoder_create_region:", "cxl_decoder_create_pmem_region:")


def _normalize_writes(writes: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    return [(p, b"<uuid>" if p.endswith("/uuid") else d) for p, d in writes]


#: (argv, v76.1 exit status where it differs from ours)
PLAIN_TREE_COMMANDS: list[tuple[list[str], int | None]] = [
    (["enable-region", "region0"], None),
    (["enable-region"], None),
    (["disable-region", "region0"], None),
    (["destroy-region", "region0"], None),
    (["destroy-region", "-f", "0"], None),
    (["disable-region", "-d", "decoder0.1", "all"], None),
    (["create-region"], None),
    (["create-region", "-d", "decoder0.0", "mem0"], None),
    (["create-region", "-d", "decoder0.0", "-m", "mem5"], None),
    (["create-region", "-d", "decoder0.0", "-m", "mem7,mem8"], None),
    (["create-region", "-d", "decoder0.0", "-m", "mem0", "mem1", "-w", "3"], None),
    (["create-region", "-d", "decoder0.0", "-m", "mem0", "mem1", "-w", "1"], None),
    (["create-region", "-d", "decoder0.0", "-w", "3"], None),
    (["create-region", "-d", "decoder0.0", "-s", "1X"], None),
    (["create-region", "-d", "decoder0.0", "-s", "1025"], None),
    (["create-region", "-d", "decoder0.0", "-g", "0"], None),
    (["create-region", "-d", "decoder0.0", "-t", "bogus"], None),
    (["create-region", "-d", "decoder0.0", "-b", "root1"], None),
    (["create-region", "-d", "decoder0.1", "-t", "pmem", "-m", "mem0"], 0),
    (["create-region", "-d", "decoder0.0", "-m", "mem0", "mem1", "-s", "5G"], 0),
    # No region1 appears on plain files: "failed to add new region", deleted again.
    (["create-region", "-d", "decoder0.0", "-m", "mem0,mem1,mem2", "-s", "1G"], 0),
]


def test_plain_tree_matches_upstream(tmp_path: Path) -> None:
    tree = copy_golden(tmp_path / "ours")
    runs = strace_upstream(tree, [argv for argv, _ in PLAIN_TREE_COMMANDS], tmp_path / "strace")
    for (argv, v76_rc), up in zip(PLAIN_TREE_COMMANDS, runs, strict=True):
        fs = RecordingFileSysfs(tree)
        ours = cxl(fs, *argv)
        assert _normalize_ours(ours.err) == up.err, argv
        assert compat_v76.stdout(ours.out.encode()).decode() == up.out, argv
        assert (v76_rc if v76_rc is not None else ours.rc) == up.rc, argv
        assert _normalize_writes(ours.writes) == _normalize_writes(up.writes), argv


def _stage_region1(tree: Path) -> None:
    """region1 made in advance below decoder0.0 (as the kernel shows a new region) and
    already bound, so that the binary on plain files goes through the whole creation."""
    src = tree / "sys" / REGION0[5:]
    dst = src.with_name("region1")
    dst.mkdir()
    for name, value in (
        ("uuid", "00000000-0000-0000-0000-000000000000"),
        ("commit", "0"),
        ("interleave_ways", "0"),
        ("interleave_granularity", "0"),
        ("resource", "0xffffffffffffffff"),
        ("size", "0x0"),
        ("mode", "pmem"),
        ("target0", ""),
        ("target1", ""),
    ):
        (dst / name).write_text(f"{value}\n")
    os.symlink(os.readlink(src / "driver"), dst / "driver")


@pytest.mark.parametrize(
    ("argv", "v76_rc"),
    [
        (["-d", "decoder0.0", "-m", "mem0", "mem1", "-s", "1G", "-g", "256", "-w", "2"], None),
        (["-d", "decoder0.0", "-m", "mem1", "mem0", "-s", "1G"], None),
        (["-d", "decoder0.0", "-s", "512M"], None),
        (["-d", "decoder0.0", "-m", "mem0", "mem1", "-g", "512"], 0),
    ],
    ids=str,
)
def test_whole_creation_matches_upstream(
    argv: list[str], v76_rc: int | None, tmp_path: Path
) -> None:
    tree = copy_golden(tmp_path / "ours")
    _stage_region1(tree)
    (up,) = strace_upstream(tree, [["create-region", *argv]], tmp_path / "strace")
    ours = cxl(RecordingFileSysfs(tree), "create-region", *argv)
    assert _normalize_ours(ours.err) == up.err
    assert compat_v76.stdout(ours.out.encode()).decode() == up.out
    assert (v76_rc if v76_rc is not None else ours.rc) == up.rc
    assert _normalize_writes(ours.writes) == _normalize_writes(up.writes)


def test_destroy_matches_upstream(tmp_path: Path) -> None:
    tree = copy_golden(tmp_path / "ours")
    (tree / "sys" / REGION0[5:] / "driver").unlink()
    (up,) = strace_upstream(tree, [["destroy-region", "region0"]], tmp_path / "strace")
    ours = cxl(RecordingFileSysfs(tree), "destroy-region", "region0")
    assert (ours.out, ours.err, ours.rc) == (up.out, up.err, up.rc)
    assert ours.writes == up.writes == SPEC_DESTROY_WRITES


# -- the library's setters ------------------------------------------------------------------


def test_setters_keep_the_cached_fields_current() -> None:
    """As libcxl's: a successful store updates the object's field, which is not read
    again; a refused one leaves it alone and returns -errno."""
    from pycxl.cxl.lib.ctx import Ctx
    from pycxl.cxl.lib.region import find_decoder

    fs = fake_golden()
    fs._store = lambda path, data: None  # type: ignore[method-assign] # accepted, no effect
    ctx = Ctx(fs)
    region = ctx.buses()[0].decoders()[0].regions()[0]
    assert region.set_interleave_granularity(512) == 0 and region.interleave_granularity == 512
    assert region.set_interleave_ways(4) == 0 and region.interleave_ways == 4
    assert region.set_uuid(UUID.upper()) == 0 and region.uuid == UUID
    assert region.set_size(1 << 31) == 0 and region.size == 1 << 31
    assert region.decode_reset() == 0 and region.commit == 0
    assert fs.text(f"{REGION0}/interleave_ways") == "2"  # the kernel kept its value
    decoder = find_decoder(ctx.buses(), "decoder2.1")
    assert decoder is not None
    assert decoder.set_mode("pmem") == 0 and decoder.mode == "pmem"
    assert decoder.set_dpa_size(1 << 28) == 0 and decoder.dpa_size == 1 << 28
    fs.refuse["region0/size"] = errno.EBUSY
    assert region.set_size(1 << 30) == -errno.EBUSY and region.size == 1 << 31
    assert region.set_size(0) == -errno.EINVAL
    root = ctx.buses()[0].decoders()[0]
    writes = len(fs.writes)
    assert root.set_dpa_size(0) == -errno.EINVAL  # not an endpoint decoder: no store
    assert len(fs.writes) == writes


# -- platforms exported from the emulation -------------------------------------------------


@pytest.mark.parametrize(("preset", "args"), [("qemu-switch", []), ("qemu-vmem", ["-t", "ram"])])
def test_exported_platform_create_and_destroy(preset: str, args: list[str], tmp_path: Path) -> None:
    """The whole cycle on an exported emulated platform (fake-sysfs export) under the fake
    kernel: every memdev below the first window, the computed size, then teardown."""
    from fake_sysfs.frontends.export import export
    from fake_sysfs.kernfs.view import View
    from fake_sysfs.platform.presets import load_preset
    from fake_sysfs.store import Origin, StateStore

    kernel = StateStore(tmp_path / "state").init(
        load_preset(preset), Origin("preset", preset), force=True
    )
    export(View(kernel), tmp_path / "tree")
    fs = FakeKernelSysfs(tmp_path / "tree")
    memdevs = cxl(fs, "list", "-M").out.count('"memdev":')
    r = cxl(fs, "create-region", "-d", "root", *args)
    assert (r.err, r.rc) == (created(1), 0)
    kind = "ram" if args else "pmem"
    assert r.writes[0] == (f"decoder0.0/create_{kind}_region", b"region0\0")
    assert ("region0/interleave_ways", f"{memdevs}\n\0".encode()) in r.writes
    targets = [w for w in r.writes if w[0].startswith("region0/target")]
    assert [w[0] for w in targets] == [f"region0/target{i}" for i in range(memdevs)]
    listed = cxl(fs, "list", "-R", "-T")
    assert listed.out == "[\n" + "".join(f"  {line}\n" for line in r.out.splitlines()) + "]\n"
    r = cxl(fs, "destroy-region", "-f", "all")
    assert (r.err, r.rc) == ("cxl region: cmd_destroy_region: destroyed 1 region\n", 0)
    assert r.writes[-1] == ("decoder0.0/delete_region", b"region0\0")
    assert cxl(fs, "list", "-R", "-i").out == "[\n]\n"
