"""The emulated tracefs: instances (mkdir / rmdir), per-buffer switches, consuming reads,
the ``format`` / ``header_page`` / ``header_event`` files and the ring-buffer pages of
``trace_pipe_raw``; and pycxl's ``cxl list -L`` through its private instance.

Expected values come from the kernel, not from the code under test: format files as
TP_STRUCT__entry lays them out at v6.14 (offsets worked out here by hand from the C layout
rules), the header files as kernel/trace/ring_buffer.c prints them, pages decoded here
with struct from the ring buffer's documented layout.
"""

from __future__ import annotations

import errno
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.errors import KernfsError
from fake_sysfs.kernel import log as klog
from fake_sysfs.kernel import tracefs
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from pycxl.sysfs.emulated import EmulatedSysfs
from tests.helpers import environment, run_cxl, writers_lock_is_free

T = "/sys/kernel/tracing"
DEBUG = "/sys/kernel/debug/cxl"


@pytest.fixture
def mock(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    StateStore(state, create=True).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), True)
    return state


@pytest.fixture
def sysfs(mock: Path) -> Iterator[object]:
    from pycxl.sysfs.emulated import EmulatedSysfs

    with environment({"FAKE_SYSFS_STATE": str(mock), "PYCXL_SYSFS_ROOT": None}):
        s = EmulatedSysfs()
        try:
            yield s
        finally:
            s.close()


# -- format files -----------------------------------------------------------------------------

COMMON = (
    "\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n"
    "\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n"
    "\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;\n"
    "\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n"
    "\n"
)

#: cxl_poison's TP_STRUCT__entry: after the 8-byte trace_entry, two string slots (u32),
#: serial at 16 (u64), trace_type at 24, the region slot aligned to 28, three u64 from 32,
#: dpa_length at 56, char uuid[16] at 60, source and flags at 76 and 77.
POISON_FIELDS = (
    ("__data_loc char[] memdev", 8, 4, 0),
    ("__data_loc char[] host", 12, 4, 0),
    ("u64 serial", 16, 8, 0),
    ("u8 trace_type", 24, 1, 0),
    ("__data_loc char[] region", 28, 4, 0),
    ("u64 overflow_ts", 32, 8, 0),
    ("u64 hpa", 40, 8, 0),
    ("u64 dpa", 48, 8, 0),
    ("u32 dpa_length", 56, 4, 0),
    ("char uuid[16]", 60, 16, 1),
    ("u8 source", 76, 1, 0),
    ("u8 flags", 77, 1, 0),
)
#: cxl_overflow: int log at 16, serial realigned to 24.
OVERFLOW_FIELDS = (
    ("__data_loc char[] memdev", 8, 4, 0),
    ("__data_loc char[] host", 12, 4, 0),
    ("int log", 16, 4, 1),
    ("u64 serial", 24, 8, 0),
    ("u64 first_ts", 32, 8, 0),
    ("u64 last_ts", 40, 8, 0),
    ("u16 count", 48, 2, 0),
)


def _lines(fields: tuple[tuple[str, int, int, int], ...]) -> str:
    return "".join(
        f"\tfield:{decl};\toffset:{off};\tsize:{size};\tsigned:{sign};\n"
        for decl, off, size, sign in fields
    )


@pytest.mark.parametrize(
    ("event", "fields"), [("cxl_poison", POISON_FIELDS), ("cxl_overflow", OVERFLOW_FIELDS)]
)
def test_format_files(sysfs: object, event: str, fields: tuple[tuple[str, int, int, int]]) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    text = sysfs.read(f"{T}/events/cxl/{event}/format").decode()
    ident = int(sysfs.read(f"{T}/events/cxl/{event}/id"))
    head, _, rest = text.partition("format:\n")
    assert head == f"name: {event}\nID: {ident}\n"
    assert rest.startswith(COMMON + _lines(fields) + "\nprint fmt: ")
    # An instance shows the same events.
    sysfs.mkdir(f"{T}/instances/x")
    assert sysfs.read(f"{T}/instances/x/events/cxl/{event}/format").decode() == text


def test_header_files(sysfs: object) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    assert sysfs.read(f"{T}/events/header_page") == (
        b"\tfield: u64 timestamp;\toffset:0;\tsize:8;\tsigned:0;\n"
        b"\tfield: local_t commit;\toffset:8;\tsize:8;\tsigned:1;\n"
        b"\tfield: int overwrite;\toffset:8;\tsize:1;\tsigned:1;\n"
        b"\tfield: char data;\toffset:16;\tsize:4080;\tsigned:1;\n"
    )
    assert sysfs.read(f"{T}/events/header_event") == (
        b"# compressed entry header\n"
        b"\ttype_len    :    5 bits\n"
        b"\ttime_delta  :   27 bits\n"
        b"\tarray       :   32 bits\n"
        b"\n"
        b"\tpadding     : type == 29\n"
        b"\ttime_extend : type == 30\n"
        b"\ttime_stamp : type == 31\n"
        b"\tdata max type_len  == 28\n"
    )


# -- instances and buffers ------------------------------------------------------------------


def test_instance_mkdir_rmdir(sysfs: object) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    assert sysfs.listdir(f"{T}/instances") == []
    sysfs.mkdir(f"{T}/instances/cxl list")
    assert sysfs.listdir(f"{T}/instances") == ["cxl list"]
    inst = f"{T}/instances/cxl list"
    for name in ("tracing_on", "trace", "trace_pipe", "events", "per_cpu"):
        assert sysfs.exists(f"{inst}/{name}")
    assert not sysfs.exists(f"{inst}/instances")  # no nesting
    # A new instance traces, with no event enabled.
    assert sysfs.read(f"{inst}/tracing_on") == b"1\n"
    assert sysfs.read(f"{inst}/events/cxl/enable") == b"0\n"
    # cxl_test's platform has 4 CPUs: a per_cpu directory each.
    assert sorted(sysfs.listdir(f"{inst}/per_cpu")) == ["cpu0", "cpu1", "cpu2", "cpu3"]
    for path, err in (
        (inst, errno.EEXIST),
        (f"{T}/newdir", errno.EPERM),
        ("/sys/bus/cxl/new", errno.EPERM),
        (f"{inst}/sub", errno.EPERM),
    ):
        with pytest.raises(OSError) as e:
            sysfs.mkdir(path)
        assert e.value.errno == err, path
    sysfs.rmdir(inst)
    assert sysfs.listdir(f"{T}/instances") == []
    with pytest.raises(OSError) as e:
        sysfs.rmdir(inst)
    assert e.value.errno == errno.ENOENT


def _count(sysfs: object, trace: str) -> int:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    return sum(": cxl_poison: " in line for line in sysfs.read(trace).decode().splitlines())


def test_an_event_goes_to_every_buffer_that_traces_it(sysfs: object) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    for name in ("on", "off", "other"):
        sysfs.mkdir(f"{T}/instances/{name}")
    sysfs.write(f"{T}/instances/on/events/cxl/cxl_poison/enable", b"1")
    sysfs.write(f"{T}/instances/off/events/cxl/enable", b"1")
    sysfs.write(f"{T}/instances/off/tracing_on", b"0")
    sysfs.write(f"{T}/instances/other/events/cxl/cxl_dram/enable", b"1")
    assert sysfs.read(f"{T}/instances/other/events/cxl/enable") == b"X\n"
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    counts = {name: _count(sysfs, f"{T}/instances/{name}/trace") for name in ("on", "off", "other")}
    assert counts == {"on": 1, "off": 0, "other": 0}
    assert _count(sysfs, f"{T}/trace") == 0  # the top level has it disabled


def test_trace_pipe_consumes(sysfs: object) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    sysfs.write(f"{T}/events/cxl/cxl_poison/enable", b"1")
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    sysfs.write(f"{DEBUG}/mem1/clear_poison", b"0x40\n")
    text = sysfs.read_pipe(f"{T}/trace_pipe", 65536).decode()
    assert [line.split("trace_type=")[1].split()[0] for line in text.splitlines()] == [
        "Inject",
        "Clear",
    ]
    assert sysfs.read_pipe(f"{T}/trace_pipe", 65536) == b""
    assert b"entries-in-buffer/entries-written: 0/2 " in sysfs.read(f"{T}/trace")


def test_a_consuming_read_is_journaled(mock: Path, sysfs: object) -> None:
    """Another process (a cold load, replaying the journal) sees the records gone."""
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    sysfs.mkdir(f"{T}/instances/a")
    sysfs.write(f"{T}/instances/a/events/cxl/enable", b"1")
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    assert StateStore(mock).load()[0].trace.instances["a"].records
    assert sysfs.read_pipe(f"{T}/instances/a/per_cpu/cpu1/trace_pipe_raw", 4096) == b""
    page = sysfs.read_pipe(f"{T}/instances/a/per_cpu/cpu0/trace_pipe_raw", 4096)
    assert len(page) == 4096
    assert StateStore(mock).load()[0].trace.instances["a"].records == []
    assert sysfs.read_pipe(f"{T}/instances/a/per_cpu/cpu0/trace_pipe_raw", 4096) == b""


# -- the binary layout, decoded independently ------------------------------------------------


def _events(page: bytes) -> list[tuple[int, int, bytes]]:
    """(type_len, timestamp, data) of a page's events, per ring_buffer.c's layout."""
    ts, commit = struct.unpack_from("<QQ", page)
    pos, end, out = 16, 16 + commit, []
    while pos < end:
        (word,) = struct.unpack_from("<I", page, pos)
        type_len, delta = word & 0x1F, word >> 5
        if type_len == 30:  # time extend: bits above 27 in the next word
            ts += delta + (struct.unpack_from("<I", page, pos + 4)[0] << 27)
            out.append((30, ts, b""))
            pos += 8
            continue
        ts += delta
        if type_len == 0:
            length = struct.unpack_from("<I", page, pos + 4)[0] - 4
            data = page[pos + 8 : pos + 8 + length]
            pos += 8 + length
        else:
            data = page[pos + 4 : pos + 4 + type_len * 4]
            pos += 4 + type_len * 4
        out.append((type_len, ts, data))
    assert page[end:] == bytes(len(page) - end)  # the rest of the page is zero
    return out


def _string(data: bytes, offset: int) -> str:
    (loc,) = struct.unpack_from("<I", data, offset)
    start, length = loc & 0xFFFF, loc >> 16
    assert data[start + length - 1] == 0
    return data[start : start + length - 1].decode()


def test_raw_page_of_poison_records(mock: Path) -> None:
    kernel = StateStore(mock).load()[0]
    view = View(kernel)
    view.write(f"{T}/events/cxl/cxl_poison/enable", b"1")
    saved = klog.wall_clock
    try:
        # The first record, then one 3 s later: a delta over 27 bits of ns needs an extend.
        klog.wall_clock = lambda: 1_000_000.0
        view.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
        klog.wall_clock = lambda: 1_000_003.0
        view.write(f"{DEBUG}/mem1/clear_poison", b"0x40\n")
    finally:
        klog.wall_clock = saved
    page = tracefs.consume(kernel, f"{T}/per_cpu/cpu0/trace_pipe_raw", 4096)
    assert len(page) == 4096
    events = _events(page)
    assert [e[0] for e in events] == [24, 30, 24]  # 80 + "mem1", "cxl_mem.1", "" = 96 bytes
    (_, t0, inject), (_, t1, clear) = events[0], events[2]
    assert t1 - t0 == 3_000_000_000
    assert struct.unpack_from("<Q", page)[0] == t0
    ident = int(view.read(f"{T}/events/cxl/cxl_poison/id"))
    for data, kind in ((inject, 1), (clear, 2)):
        common_type, _flags, _preempt, pid = struct.unpack_from("<HBBi", data)
        assert (common_type, pid) == (ident, 0)
        assert [_string(data, 8), _string(data, 12), _string(data, 28)] == ["mem1", "cxl_mem.1", ""]
        assert struct.unpack_from("<QB", data, 16) == (1, kind)  # serial, trace_type
        # overflow_ts, hpa (no region: ULLONG_MAX), dpa, dpa_length, uuid, source, flags
        assert struct.unpack_from("<QQQI16sBB", data, 32) == (
            0,
            (1 << 64) - 1,
            0x40,
            64,
            bytes(16),
            3,
            0,
        )
    assert tracefs.consume(kernel, f"{T}/per_cpu/cpu0/trace_pipe_raw", 4096) == b""


def test_records_fill_pages(mock: Path) -> None:
    """21 records of 400-odd bytes take three pages; each page starts with its first
    record's time and holds whole records only."""
    kernel = StateStore(mock).load()[0]
    view = View(kernel)
    view.write(f"{T}/events/cxl/enable", b"1")
    view.write("/sys/bus/platform/devices/cxl_mem.3/event_trigger", b"1\n")
    assert len(kernel.trace.records) == 21
    seen = 0
    pages = 0
    while page := tracefs.consume(kernel, f"{T}/per_cpu/cpu0/trace_pipe_raw", 4096):
        pages += 1
        seen += len(_events(page))
    assert (seen, pages) == (21, 3)


def test_bad_consuming_paths(mock: Path) -> None:
    kernel = StateStore(mock).load()[0]
    for path in (f"{T}/instances/none/trace_pipe", f"{T}/per_cpu/cpu9/trace_pipe_raw"):
        with pytest.raises(KernfsError) as e:
            tracefs.consume(kernel, path, 4096)
        assert e.value.errno == errno.ENOENT


# -- cxl list -L through its instance -----------------------------------------------------------


def _list(mock: Path, *args: str) -> list[dict[str, object]]:
    r = run_cxl(["list", *args], {"FAKE_SYSFS_STATE": str(mock), "PYCXL_SYSFS_ROOT": None})
    assert r.rc == 0, r.err
    found: list[dict[str, object]] = json.loads(r.out)
    return found


def test_media_errors_use_a_private_instance(mock: Path, sysfs: object) -> None:
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    sysfs.close()
    assert _list(mock, "-m", "mem1", "-L")[0]["media_errors"] == [
        {"offset": 64, "length": 64, "source": "Injected"}
    ]
    sysfs.refresh()
    # The global tracing was not touched; the instance stays, the event on. On the
    # emulated platform tracing stays on in it (pycxl.cxl.lib.poison: the next listing
    # then changes nothing); on any other /sys it is off again, as upstream leaves it
    # (test_media_errors_through_a_mount).
    assert sysfs.read(f"{T}/events/cxl/cxl_poison/enable") == b"0\n"
    assert b"entries-in-buffer/entries-written: 0/0 " in sysfs.read(f"{T}/trace")
    inst = f"{T}/instances/cxl list"
    assert sysfs.read(f"{inst}/tracing_on") == b"1\n"
    assert sysfs.read(f"{inst}/events/cxl/cxl_poison/enable") == b"1\n"


def test_the_media_error_setup_holds_other_writers_off(
    mock: Path, sysfs: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The instance is made and its event enabled with no other command's store between
    the two: one replacing the platform there would leave the listing without the instance,
    and it would make it halfway through, answering the rest from another platform."""
    from pycxl.cxl.lib import poison
    from pycxl.sysfs.base import Sysfs
    from pycxl.util import event_trace

    assert isinstance(sysfs, Sysfs)
    free: list[bool] = []
    enable = event_trace.event_enable

    def checked(*args: Any) -> int:
        free.append(writers_lock_is_free(mock))
        return enable(*args)

    monkeypatch.setattr(event_trace, "event_enable", checked)
    poison.prepare(sysfs)
    assert free == [False]
    inst = f"{T}/instances/cxl list"
    assert sysfs.read(f"{inst}/events/cxl/cxl_poison/enable") == b"1\n"
    assert writers_lock_is_free(mock)  # held only for the set-up


def test_the_media_error_setup_starts_from_the_state_committed_now(
    mock: Path, sysfs: object
) -> None:
    """Two listings begun on a state without the instance: the one that sets up second
    finds the instance the first made, rather than making it again (refused, EEXIST)."""
    from pycxl.cxl.lib import poison
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    assert "mem1" in sysfs.listdir("/sys/bus/cxl/devices")  # this one has begun
    _list(mock, "-m", "mem1", "-L")  # the other one
    assert "cxl list" in StateStore(mock).load()[0].trace.instances
    poison.prepare(sysfs)
    inst = f"{T}/instances/cxl list"
    assert sysfs.read(f"{inst}/events/cxl/cxl_poison/enable") == b"1\n"
    assert sysfs.read(f"{inst}/tracing_on") == b"1\n"


def test_a_trace_pipe_read_and_its_path_keep_apart(sysfs: object) -> None:
    """Whether a pipe has records and where its path leads are two answers about one path,
    kept apart: neither is taken for the other."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    assert isinstance(sysfs, EmulatedSysfs)
    pipe = f"{T}/trace_pipe"
    assert sysfs.read_pipe(pipe, 65536) == b""  # empty: recorded as "nothing pending"
    assert sysfs.realpath(pipe) == pipe
    sysfs.write(f"{T}/events/cxl/cxl_poison/enable", b"1")
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    other = f"{T}/per_cpu/cpu0/trace_pipe_raw"
    assert sysfs.realpath(other) == other  # recorded first, then asked whether pending
    assert len(sysfs.read_pipe(other, 4096)) == 4096
    assert sysfs.read_pipe(other, 4096) == b""


def test_a_listing_without_poison_changes_nothing(mock: Path) -> None:
    """Once the instance is set up, a media-error listing whose devices hold no poison is
    a pure read: the state stays as it was (and the next listing is answered cached)."""
    _list(mock, "-M", "-L")
    before = (mock / "state.json").read_bytes()
    _list(mock, "-M", "-L")
    _list(mock, "-vvv")
    assert (mock / "state.json").read_bytes() == before


def test_media_errors_through_a_mount(mock: Path, tmp_path: Path) -> None:
    """On a /sys that is not the emulated state (here the FUSE mount of it), the listing
    makes upstream's switches: tracing on in the instance for the trigger, then off."""
    from tests.test_fuse_mount import mount, require_fuse, unmount_quietly, wait_gone

    require_fuse()
    mnt = tmp_path / "mnt"
    pid = mount(mock, mnt)
    try:
        with environment({"FAKE_SYSFS_STATE": str(mock), "PYCXL_SYSFS_ROOT": None}):
            s = EmulatedSysfs()
            s.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
            s.close()
        r = run_cxl(
            ["list", "-m", "mem1", "-L"],
            {"PYCXL_SYSFS_ROOT": str(mnt / "sys"), "PYCXL_DEV_ROOT": str(mnt / "dev")},
        )
        assert r.rc == 0, r.err
        assert json.loads(r.out)[0]["media_errors"] == [
            {"offset": 64, "length": 64, "source": "Injected"}
        ]
        inst = mnt / "sys/kernel/tracing/instances/cxl list"
        assert (inst / "tracing_on").read_bytes() == b"0\n"
        assert (inst / "events/cxl/cxl_poison/enable").read_bytes() == b"1\n"
    finally:
        unmount_quietly(mnt)
        wait_gone(pid)


def test_media_errors_keep_only_this_process_records(mock: Path, sysfs: object) -> None:
    """A listing keeps the records its own trigger made (common_pid), as libcxl's does:
    another task's list events in the same instance are read and dropped."""
    from pycxl.sysfs.base import Sysfs

    assert isinstance(sysfs, Sysfs)
    inst = f"{T}/instances/cxl list"
    sysfs.mkdir(inst)
    sysfs.write(f"{inst}/events/cxl/cxl_poison/enable", b"1")
    sysfs.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")  # recorded: an inject of pid 0
    # Another task (pid 1) lists: its records name it.
    sysfs.frontend.task_write(  # type: ignore[attr-defined]
        "/sys/bus/cxl/devices/mem1/trigger_poison_list", b"1\n", 1
    )
    records = StateStore(mock).load()[0].trace.instances["cxl list"].records
    assert [(r.values["trace_type"], r.pid) for r in records] == [(1, 0), (0, 1)]
    sysfs.close()
    found = _list(mock, "-m", "mem1", "-L")[0]["media_errors"]  # (run in this process)
    assert found == [{"offset": 64, "length": 64, "source": "Injected"}]  # its own list only
    assert StateStore(mock).load()[0].trace.instances["cxl list"].records == []


# -- through the FUSE operations (no mount needed) -------------------------------------------


def test_fuse_operations_make_instances_and_consume(mock: Path) -> None:
    from tests.test_fuse_mount import errno_of, operations

    ops = operations(mock)
    inst = f"{T}/instances/cxl_monitor"
    assert ops.mkdir(inst, 0o755) == 0
    assert errno_of(ops.mkdir, inst, 0o755) == errno.EEXIST
    assert ops.readdir(f"{T}/instances", 0) == [".", "..", "cxl_monitor"]
    fh = ops.open(f"{inst}/events/cxl/enable", os.O_WRONLY)
    ops.write(f"{inst}/events/cxl/enable", b"1", 0, fh)
    ops.release(f"{inst}/events/cxl/enable", fh)
    # libtracefs opens trace_pipe read-write (root may); the raw pipe non-blocking.
    ops.release(f"{inst}/trace_pipe", ops.open(f"{inst}/trace_pipe", os.O_RDWR))
    raw = f"{inst}/per_cpu/cpu0/trace_pipe_raw"
    fh = ops.open(raw, os.O_RDONLY | os.O_NONBLOCK)
    assert errno_of(ops.read, raw, 4096, 0, fh) == errno.EAGAIN
    wfh = ops.open(f"{DEBUG}/mem1/inject_poison", os.O_WRONLY)
    ops.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n", 0, wfh)
    page = ops.read(raw, 4096, 0, fh)
    assert [e[0] for e in _events(page)] == [24]
    assert errno_of(ops.read, raw, 4096, 4096, fh) == errno.EAGAIN  # consumed
    ops.release(raw, fh)
    assert ops.rmdir(inst) == 0
    assert errno_of(ops.rmdir, inst) == errno.ENOENT
    assert errno_of(ops.mkdir, "/sys/bus/new", 0o755) == errno.EPERM


def test_media_errors_on_a_copied_tree_fail_cleanly(mock: Path, tmp_path: Path) -> None:
    """On a copy of a tree (an export: plain files), mkdir makes no instance: the listing
    says so in libcxl's one line, leaves the key out, and takes back the directory it
    made."""
    from fake_sysfs.frontends.export import export

    tree = tmp_path / "tree"
    export(View(StateStore(mock).load()[0]), tree, char_devices=False)
    r = run_cxl(
        ["list", "-m", "mem1", "-L"],
        {"PYCXL_SYSFS_ROOT": str(tree / "sys"), "PYCXL_DEV_ROOT": None},
    )
    assert r.rc == 0
    assert r.err == b"tracefs_instance_create() failed\n"
    assert "media_errors" not in json.loads(r.out)[0]
    assert os.listdir(tree / "sys/kernel/tracing/instances") == []
