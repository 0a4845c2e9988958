"""The emulated kernel log: what a refused store records, that nothing else of the state
changes, that the log survives between processes, ``fake-sysfs dmesg`` (``-c``,
``--since``), the ring's bound, its clock and the journalctl rendering."""

from __future__ import annotations

import contextlib
import errno
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.kernel import log as klog
from fake_sysfs.kernel.log import CAPACITY, Log, journal, journal_since, select
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs import transact
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.kernel_helpers import CXL, errno_of, fresh_kernel

REGION0 = f"{CXL}/region0"
#: cxl_test's boot log: cxl_acpi's message for each host bridge.
BOOT_LINES = [
    "[    1.000000] platform cxl_host_bridge.0: host supports CXL",
    "[    1.000137] platform cxl_host_bridge.1: host supports CXL",
    "[    1.000274] platform cxl_host_bridge.2: host supports CXL",
    "[    1.000411] platform cxl_host_bridge.3: host supports CXL (restricted)",
]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The log's wall clock, settable: ``clock[0]`` is now."""
    now = [1_700_000_000.0]
    monkeypatch.setattr(klog, "wall_clock", lambda: now[0])
    return now


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    st = StateStore(tmp_path / "state", create=True)
    st.init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=False)
    return st


def without_log(k: Kernel) -> dict[str, Any]:
    data = k.to_json()
    del data["log"]
    return data


def dmesg(store: StateStore, *args: str) -> subprocess.CompletedProcess[str]:
    """``fake-sysfs dmesg`` in a process of its own."""
    code = "import sys; from fake_sysfs.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, "dmesg", "--state", str(store.dir), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )


# == refused stores ===========================================================================


def test_refused_store_records_why_and_changes_nothing_else(
    store: StateStore, clock: list[float]
) -> None:
    before, _ = store.load()
    # Three ways under cxl_test's 1-way window: not a power-of-two multiple of the root's.
    assert errno_of(transact.write, store, f"{REGION0}/interleave_ways", b"3\n") == errno.EINVAL
    after, _ = store.load()
    assert without_log(after) == without_log(before)
    new = after.log.since(before.log.mark())
    assert [(r.level, r.device, r.driver, r.text) for r in new] == [
        (klog.DEBUG, "region0", "cxl_region", "cxl_region region0: invalid interleave: 3")
    ]
    assert new[0].seq == len(before.log.records)


def test_refusal_that_records_nothing_commits_nothing(store: StateStore) -> None:
    # kernfs refuses a write to a read-only file before any store runs: no log, no commit.
    state = store.file.read_bytes()
    assert errno_of(transact.write, store, f"{REGION0}/mode", b"ram\n") == errno.EACCES
    assert store.file.read_bytes() == state


def test_each_family_names_the_device_and_attribute(store: StateStore) -> None:
    # Stores whose rules are not emulated yet (the region, decoder and bind stores are).
    writes = {
        "/sys/bus/platform/devices/cxl_mem.0/security_lock": (
            "cxl_mock_mem cxl_mem.0: security_lock"
        ),
        "/sys/bus/nd/devices/nmem0/security": "nvdimm nmem0: security",
        "/sys/bus/cxl/drivers/cxl_mem/uevent": "cxl_mem: uevent",
        "/sys/bus/cxl/drivers_autoprobe": "cxl: drivers_autoprobe",
    }
    for path, words in writes.items():
        assert errno_of(transact.write, store, path, b"1\n") == errno.EOPNOTSUPP, path
        text = store.load()[0].log.records[-1].text
        assert text == f"{words}: store not emulated, returning -EOPNOTSUPP", path


def test_successful_store_commits_the_state(store: StateStore) -> None:
    # A store that works (flush accepts 1) commits in one transaction, logging nothing.
    before = store.load()[0]
    count, kernel = transact.write(store, "/sys/bus/cxl/flush", b"1\n")
    assert count == 2
    assert kernel == store.load()[0] == before


def test_reads_never_log() -> None:
    k = fresh_kernel("cxl_test")
    records = list(k.log.records)
    view = View(k)
    for attr in ("commit", "size", "uuid", "target0", "nonexistent"):
        with contextlib.suppress(OSError):
            view.read(f"{REGION0}/{attr}")
    view.listdir("/sys/bus/cxl/devices")
    assert k.log.records == records


# == dmesg ====================================================================================


def test_the_log_is_kept_between_processes(store: StateStore) -> None:
    with pytest.raises(OSError):
        transact.write(store, f"{REGION0}/size", b"0x10000000\n")
    out = dmesg(store)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == BOOT_LINES
    assert lines[4].endswith(
        "] cxl_region region0: size: 0x20000000 allocated, free it first, -EBUSY"
    )
    assert len(lines) == 5


def test_dmesg_read_clear(store: StateStore) -> None:
    out = dmesg(store, "-c")
    assert out.stdout.splitlines() == BOOT_LINES
    assert dmesg(store).stdout == ""
    assert store.load()[0].log.next_seq == 4  # numbers go on after a clear
    with pytest.raises(OSError):
        transact.write(store, f"{REGION0}/commit", b"x\n")
    assert [r.seq for r in store.load()[0].log.records] == [4]
    assert len(dmesg(store, "--read-clear").stdout.splitlines()) == 1
    assert dmesg(store).stdout == ""


def test_dmesg_since(store: StateStore, clock: list[float]) -> None:
    for attr in ("commit", "size", "interleave_ways"):
        clock[0] += 10
        with pytest.raises(OSError):
            transact.write(store, f"{REGION0}/{attr}", b"x\n")
    log = store.load()[0].log
    times = [r.usec for r in log.records[4:]]
    # The first record after boot comes just after boot; the rest follow the clock.
    assert times[0] == log.records[3].usec + klog.LIVE_GAP_US
    assert [b - a for a, b in itertools.pairwise(times)] == [10_000_000] * 2
    assert [r.seq for r in select(log, "5")] == [5, 6]
    assert [r.seq for r in select(log, "0")] == list(range(7))
    second = times[1] / 1e6
    assert [r.seq for r in select(log, f"{second:.6f}")] == [5, 6]
    assert [r.seq for r in select(log, f"{second + 0.000001:.6f}s")] == [6]
    assert select(log, "99") == []
    out = dmesg(store, "--since", "6")
    assert out.returncode == 0
    assert out.stdout.splitlines() == [log.records[-1].dmesg()]
    assert "interleave_ways: not a number" in out.stdout


@pytest.mark.parametrize("since", ["x", "-1", "1.5ss", "nan", ""])
def test_dmesg_since_refuses_nonsense(store: StateStore, since: str) -> None:
    out = dmesg(store, "--since", since)
    assert out.returncode == 1
    assert out.stderr.startswith("fake-sysfs: --since") and out.stdout == ""


def test_dmesg_writes_only_to_clear(store: StateStore) -> None:
    booted = store.file.read_bytes()
    assert dmesg(store).returncode == 0
    assert store.file.read_bytes() == booted  # reading the log is a read
    out = dmesg(store, "--since", "100", "-c")  # prints nothing, clears everything
    assert (out.returncode, out.stdout) == (0, "")
    assert store.load()[0].log.records == []
    cleared = store.file.read_bytes()
    assert cleared != booted
    assert dmesg(store, "-c").returncode == 0  # nothing left to clear: no new commit
    assert store.file.read_bytes() == cleared


# == the ring and the clock ===================================================================


def test_the_ring_keeps_the_newest_records(clock: list[float]) -> None:
    log = Log(booted=True)
    for i in range(CAPACITY + 10):
        log.info(None, f"message {i}")
    assert len(log.records) == CAPACITY
    assert (log.records[0].seq, log.records[-1].seq) == (10, CAPACITY + 9)
    assert log.records[0].message == "message 10"
    log.replay(log.records[-20:])
    assert len(log.records) == CAPACITY and log.next_seq == CAPACITY + 30


def test_boot_records_have_fixed_times_and_live_ones_never_go_back(clock: list[float]) -> None:
    a, b = fresh_kernel("cxl_test").log, fresh_kernel("cxl_test").log
    assert a == b and a.boot_wall is None
    assert [r.dmesg() for r in a.records] == BOOT_LINES
    a.warn(None, "first")
    assert a.records[-1].usec == a.records[-2].usec + klog.LIVE_GAP_US
    assert a.boot_wall == clock[0] - a.records[-1].usec / 1e6
    clock[0] -= 3600  # the wall clock is set back an hour
    a.warn(None, "second")
    assert a.records[-1].usec == a.records[-2].usec
    clock[0] += 3600 + 2.5
    a.err(None, "third")
    assert a.records[-1].usec == a.records[-3].usec + 2_500_000
    assert a.records[-1].text == "third" and a.records[-1].level == klog.ERR


def test_journal_rendering(clock: list[float]) -> None:
    log = fresh_kernel("cxl_test").log
    now = clock[0]
    # Nothing ran since boot: the boot records count as just made.
    text = journal(log, now=now, since=journal_since("-5s", now))
    assert text.count("\n") == 4
    assert text.splitlines()[0].endswith(" localhost kernel: " + BOOT_LINES[0][15:])
    clock[0] += 60
    log.err(None, "Call Trace")
    # The machine booted just before its first record after boot, half a second earlier.
    recent = journal(log, now=clock[0], since=journal_since("-0.1s", clock[0]), reverse=True)
    assert len(recent.splitlines()) == 1
    assert recent.endswith(" localhost kernel: Call Trace\n")
    assert journal(log, now=clock[0], since=clock[0] - 0.6).count("\n") == 5
    everything = journal(log, now=clock[0], reverse=True, hostname="vm")
    assert everything.splitlines()[0].endswith(" vm kernel: Call Trace")
    assert everything.splitlines()[-1].endswith(BOOT_LINES[0][15:])
    assert journal(Log(), now=now) == "-- No entries --\n"
    assert journal_since("-7", now) == now - 7
    assert journal_since("@1234.5", now) == 1234.5
    assert journal_since("now", now) == now
    with pytest.raises(ValueError):
        journal_since("yesterday", now)
