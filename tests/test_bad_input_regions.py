"""Bad input to the region commands and to the kernel's attributes, against the oracle.

On twin cxl_test platforms (tests/twin.py; the firmware-committed auto region is the busy
one), each bad command line runs with pycxl in-process on twin A and with the upstream
binary on the FUSE mount of twin B: the same messages and exit status (the documented
v76.1 differences normalized), the same state afterwards (sysfs trees compared), the state
unchanged where the command fails before any store, and ``fake-sysfs check`` passing.

Garbage written straight to attributes goes through the mount with a shell's ``echo >``
(twin B) and through the in-process frontend (twin A): the errno the real kernel returns
(kernel-sysfs.md), nothing changed.

Needs root, FUSE and the oracle: skipped without them, except under CI=true.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from collections.abc import Iterator

import pytest

from fake_sysfs.errors import KernfsError
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests.twin import Twin, same_step, sysfs_tree, tree_diff, unavailable

CXL = "/sys/bus/cxl/devices"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twin]:
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"bad-input checks need FUSE and the oracle in CI: {reason}")
        pytest.skip(reason)
    twin = Twin("cxl_test", tmp_path_factory.mktemp("bad-input"))
    try:
        yield twin
    finally:
        twin.close()


#: (command line, pycxl's exit status, whether the state must stay as it was). cxl_test:
#: decoder0.3 is the x2 pmem window at 4k over host bridges 0 and 1, decoder0.4 the x1
#: pmem window of host bridge 2 (mem8, mem9), decoder0.0 a ram-only window; region0 is the
#: committed, enabled auto region (mem0, mem4).
COMMANDS: list[tuple[str, int, bool]] = [
    # Unknown memdevs and decoders.
    ("create-region -d decoder0.3 -t pmem -m mem99", 1, True),
    ("create-region -d decoder9.9 -t pmem -m mem0", 1, True),
    ("create-region -d decoder0.3 -t pmem -m mem0 nonsense", 1, True),
    # Memdevs the decoder cannot reach.
    ("create-region -d decoder0.4 -t pmem -m mem0", 1, True),
    ("create-region -d decoder0.3 -t pmem -m mem8 mem9", 1, True),
    # Ways against the number of targets; out-of-range numbers.
    ("create-region -d decoder0.3 -t pmem -w 3 -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -w 1 -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -w 0 -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -w -2 -m mem0 mem1", 1, True),
    # The option parser keeps the low 32 bits of a number too large for an int, as
    # upstream does (99999999999 -> 1215752191).
    ("create-region -d decoder0.3 -t pmem -w 99999999999 -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -w two -m mem0 mem1", 129, True),
    ("create-region -d decoder0.3 -t pmem -g -1 -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -s 1Q -m mem0 mem1", 1, True),
    ("create-region -d decoder0.3 -t pmem -s 3 -m mem0 mem1", 1, True),
    # Granularity the window forbids: refused by cxl (x2 root) after the region was
    # made, which is deleted again; refused by the kernel (x1 root, not a power of 2).
    ("create-region -d decoder0.3 -t pmem -g 512 -m mem1 mem0", 1, False),
    ("create-region -d decoder0.4 -t pmem -g 3000 -m mem8", 1, False),
    # Sizes: beyond the window, beyond the devices' capacity, not a multiple of 256M.
    ("create-region -d decoder0.3 -t pmem -s 100G -m mem1 mem0", 1, True),
    ("create-region -d decoder0.4 -t pmem -s 1000 -m mem8", 1, False),
    # Types the window does not take, or that do not exist.
    ("create-region -d decoder0.0 -t pmem -m mem0", 1, True),
    ("create-region -d decoder0.3 -t bogus -m mem0 mem1", 1, True),
    # The busy auto region and its decoders: no destroy without -f; unknown objects.
    ("destroy-region region0", 1, True),
    ("destroy-region region99", 0, True),
    ("enable-region region99", 0, True),
    ("disable-port -f port99", 0, True),
    ("enable-memdev mem99", 0, True),
    ("reserve-dpa mem1 -t pmem -s 100G", 1, True),
    ("free-dpa mem1 -t pmem", 1, True),
    ("reserve-dpa mem1 -t bogus", 1, True),
    # Targets in an order the window refuses: host bridges swapped, then switch ports
    # swapped below them. The kernel refuses at the first position that does not fit;
    # the endpoint decoders touched keep their mode and DPA (as on a real kernel).
    ("create-region -d decoder0.3 -t pmem -m mem1 mem0", 1, False),
    ("create-region -d decoder0.3 -t pmem -m mem0 mem1 mem5 mem4", 1, False),
    ("free-dpa mem1 -t pmem", 0, False),
]


def test_bad_commands_match_the_oracle(pair: Twin) -> None:
    ours = []
    for line, rc, unchanged in COMMANDS:
        before = sysfs_tree(pair.a) if unchanged else None
        result = pair.pycxl(*line.split())
        assert result.rc == rc, f"cxl {line}: {result.rc}\n{result.err.decode()}"
        assert b"Traceback" not in result.err
        if before is not None:
            after = sysfs_tree(pair.a)
            assert after == before, f"cxl {line}: " + "\n".join(tree_diff(before, after))
        ours.append(result)
    # The oracle's twin went through the same commands in the same order.
    theirs = pair.oracle([["cxl", *line.split()] for line, _, _ in COMMANDS])
    for (line, _, _), mine, upstream in zip(COMMANDS, ours, theirs, strict=True):
        same_step(line.split(), mine, upstream, oracle=True)
    a, b = pair.trees()
    assert a == b, "\n".join(tree_diff(a, b))
    pair.check()


def _endpoint_decoder(pair: Twin) -> str:
    """The first endpoint decoder of mem9, which no command here reaches (mem9 is only
    named where the window cannot reach it)."""
    ours = pair.pycxl("list", "-D", "-d", "endpoint", "-m", "mem9", "-i")
    decoders = [str(dec["decoder"]) for dec in json.loads(ours.out)]
    assert decoders, ours.err.decode()
    return decoders[0]


#: (attribute below /sys/bus/cxl/devices, bytes written, errno: kernel-sysfs.md).
def _stores(endpoint: str) -> list[tuple[str, bytes, int]]:
    return [
        # Root decoder: the name handshake parses, then compares with the offer.
        ("decoder0.3/create_pmem_region", b"garbage\n", errno.EINVAL),
        ("decoder0.3/create_pmem_region", b"region77\n", errno.EBUSY),
        ("decoder0.3/delete_region", b"region77\n", errno.ENODEV),
        # The committed auto region: numbers are parsed first, then the state refuses.
        ("region0/interleave_ways", b"garbage\n", errno.EINVAL),
        ("region0/interleave_ways", b"3\n", errno.EINVAL),  # 3 / root ways: no power of 2
        ("region0/interleave_ways", b"4\n", errno.EBUSY),
        ("region0/interleave_granularity", b"-1\n", errno.EINVAL),
        ("region0/size", b"99999999999999999999999\n", errno.ERANGE),
        ("region0/target0", b"decoder5.0\n", errno.EBUSY),
        # An endpoint decoder: mode names, DPA sizes (256M multiples, 64-bit numbers).
        (f"{endpoint}/mode", b"bogus\n", errno.EINVAL),
        (f"{endpoint}/dpa_size", b"0x10000\n", errno.EINVAL),
        (f"{endpoint}/dpa_size", b"99999999999999999999999\n", errno.ERANGE),
        (f"{endpoint}/dpa_size", b"ten\n", errno.EINVAL),
        # Read-only attributes cannot be opened for writing (kernfs).
        ("mem9/serial", b"1\n", errno.EACCES),
    ]


def test_garbage_stores_through_the_mount_and_in_process(pair: Twin) -> None:
    endpoint = _endpoint_decoder(pair)
    stores = _stores(endpoint)
    before_a, before_b = pair.trees()
    # Twin B: bash through the mount (bash's echo reports the errno of the write).
    script = [
        ["bash", "-c", f"echo {shlex.quote(data.decode().rstrip())} > {CXL}/{attr}"]
        for attr, data, _ in stores
    ]
    results = pair.oracle(script)
    frontend = InProcess(StateStore(pair.a))
    for (attr, data, expected), shell in zip(stores, results, strict=True):
        assert shell.rc == 1, f"{attr} <- {data!r}: {shell.err.decode()}"
        assert os.strerror(expected) in shell.err.decode(), f"{attr} <- {data!r}: {shell.err!r}"
        # Twin A: the same store in-process.
        with pytest.raises(KernfsError) as info:
            frontend.write(f"{CXL}/{attr}", data)
        assert info.value.errno == expected, f"{attr} <- {data!r}"
    frontend.close()
    after_a, after_b = pair.trees()
    assert after_a == before_a, "\n".join(tree_diff(before_a, after_a))
    assert after_b == before_b, "\n".join(tree_diff(before_b, after_b))
    pair.check()


def test_stores_on_a_new_region_through_both_frontends(pair: Twin) -> None:
    """A region made by hand (the create handshake, then attribute by attribute), with bad
    values before and between the good ones: each store answers as kernel-sysfs.md 2.5
    says, the same through the mount (bash, twin B) and in-process (twin A); deleting the
    region leaves the trees as they were."""
    before_a, before_b = pair.trees()
    kernel, _ = StateStore(pair.a).load()
    view = View(kernel)
    root = f"{CXL}/decoder0.4"  # x1 pmem window of host bridge 2
    region = view.read(f"{root}/create_pmem_region").decode().strip()
    endpoint = next(  # mem8's first endpoint decoder: no DPA, mode none
        str(d["decoder"])
        for d in json.loads(pair.pycxl("list", "-D", "-d", "endpoint", "-m", "mem8", "-i").out)
    )
    r = f"{CXL}/{region}"
    stores: list[tuple[str, str, int]] = [
        (f"{root}/create_pmem_region", region, 0),
        (f"{r}/size", "0x10000000", errno.ENXIO),  # ways and granularity not set
        (f"{r}/interleave_granularity", "3", errno.EINVAL),
        (f"{r}/interleave_granularity", "32768", errno.EINVAL),
        (f"{r}/interleave_granularity", "256", 0),
        (f"{r}/interleave_ways", "5", errno.EINVAL),
        (f"{r}/interleave_ways", "1", 0),
        (f"{r}/size", "0x10000000", errno.ENXIO),  # a pmem region needs its uuid first
        (f"{r}/uuid", "not-a-uuid", errno.EINVAL),
        (f"{r}/uuid", "00000000-0000-0000-0000-000000000000", errno.EINVAL),
        (f"{r}/uuid", "4b3ac7b2-4f0e-4d3a-9d0c-2a4b4c7e5f61", 0),
        (f"{r}/size", "0x1000", errno.EINVAL),  # not a multiple of 256M x ways
        (f"{r}/size", "0x10000000", 0),
        (f"{r}/size", "0x20000000", errno.EBUSY),  # another size: free first
        (f"{r}/commit", "maybe", errno.EINVAL),
        (f"{r}/commit", "1", errno.ENXIO),  # no targets yet
        (f"{r}/target0", "decoder99.0", errno.ENODEV),
        (f"{r}/target0", "decoder0.4", errno.EINVAL),  # not an endpoint decoder
        (f"{r}/target0", endpoint, errno.EINVAL),  # its mode (none) is not pmem
        (f"{root}/delete_region", region, 0),
        (f"{root}/delete_region", region, errno.ENODEV),
    ]
    results = pair.oracle(
        [["bash", "-c", f"echo {shlex.quote(value)} > {path}"] for path, value, _ in stores]
    )
    frontend = InProcess(StateStore(pair.a))
    try:
        for (path, value, expected), shell in zip(stores, results, strict=True):
            where = f"{path} <- {value}"
            if expected == 0:
                assert shell.rc == 0, f"{where}: {shell.err.decode()}"
                assert frontend.write(path, f"{value}\n".encode()) == len(value) + 1, where
                continue
            assert shell.rc == 1, f"{where}: succeeded"
            assert os.strerror(expected) in shell.err.decode(), f"{where}: {shell.err!r}"
            with pytest.raises(KernfsError) as info:
                frontend.write(path, f"{value}\n".encode())
            assert info.value.errno == expected, where
    finally:
        frontend.close()
    after_a, after_b = pair.trees()
    assert after_a == before_a, "\n".join(tree_diff(before_a, after_a))
    assert after_b == before_b, "\n".join(tree_diff(before_b, after_b))
    pair.check()
