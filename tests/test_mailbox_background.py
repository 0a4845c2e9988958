"""The device's background work and its sysfs/tracefs stand-ins: firmware updates through
the firmware-upload device, sanitize and ``wait-sanitize``, the poison list (debugfs
injection, ``trigger_poison_list``, ``cxl list -L``), event logs and ``cxl monitor``.

Expected behaviour: specs/mailbox.md §2.6 (firmware upload), §2.8 (poison), §2.9 (sanitize),
§2.10 and cxl_test-platform.md §4.6 (events). Time is the kernel log's wall clock, which
these tests replace, so nothing waits for real seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_sysfs.kernel import log as klog
from fake_sysfs.kernel.mailbox import fwupload
from fake_sysfs.store import StateStore
from tests.helpers import sysfs_read, sysfs_write
from tests.test_mailbox_list import QEMU_DOCS, cxl, init_preset, init_qemu


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(klog, "wall_clock", c)
    monkeypatch.setattr(time, "sleep", c.sleep)
    return c


@pytest.fixture
def mock(tmp_path: Path) -> Path:
    return init_preset(tmp_path / "state", "cxl_test")


def firmware(state: Path, mem: str) -> dict[str, object]:
    r = cxl(state, "list", "-m", mem, "-F")
    obj: dict[str, object] = json.loads(r.out)[0]["firmware"]
    return obj


@pytest.fixture
def image(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "fw.bin"
    path.write_bytes(os.urandom(1 << 20))
    yield path


# -- update-firmware ---------------------------------------------------------------------------


def test_update_runs_in_the_background(mock: Path, image: Path, clock: Clock) -> None:
    r = cxl(mock, "update-firmware", "mem1", "-F", str(image))
    assert r.err == b"cxl memdev: cmd_update_fw: firmware update started on 1 mem device\n"
    fw = json.loads(r.out)[0]["firmware"]
    assert (fw["fw_update_in_progress"], fw["remaining_size"]) == (True, 1 << 20)
    assert "staged_slot" not in fw
    # 1 MiB in 3968-byte parts of 1.5 ms each: 0.4 s.
    clock.now += fwupload.transfer_seconds("mock", 4096, 1 << 20) + 0.001
    fw = firmware(mock, "mem1")
    assert (fw["fw_update_in_progress"], fw["staged_slot"], fw["active_slot"]) == (False, 3, 2)
    assert "remaining_size" not in fw
    checksum = sysfs_read(mock, "/sys/bus/platform/devices/cxl_mem.1/fw_buf_checksum")
    assert checksum == hashlib.sha256(image.read_bytes()).hexdigest().encode() + b"\n"


def test_wait_polls_until_done(mock: Path, image: Path, clock: Clock) -> None:
    r = cxl(mock, "update-firmware", "mem2", "mem3", "-F", str(image), "--wait")
    assert r.err == b"cxl memdev: cmd_update_fw: firmware update completed on 2 mem devices\n"
    for obj in json.loads(r.out):
        assert (obj["firmware"]["fw_update_in_progress"], obj["firmware"]["staged_slot"]) == (
            False,
            3,
        )


def test_cancel(mock: Path, image: Path, clock: Clock) -> None:
    cxl(mock, "update-firmware", "mem1", "-F", str(image))
    r = cxl(mock, "update-firmware", "mem1", "--cancel")
    assert (r.rc, r.out) == (0, b"[\n]\n")
    assert r.err.endswith(b"cxl memdev: cmd_update_fw: firmware update cancelled on 1 mem device\n")
    fw = firmware(mock, "mem1")
    assert fw["fw_update_in_progress"] is False and "staged_slot" not in fw
    base = "/sys/bus/cxl/devices/mem1/firmware/mem1"
    assert sysfs_read(mock, f"{base}/error") == b"transferring:user-abort\n"
    # A failed upload keeps its remaining size: a cancel then reaches the idle loader,
    # which refuses it (ENODEV) but records it, so the next upload aborts at once.
    assert sysfs_read(mock, f"{base}/remaining_size") == b"%d\n" % (1 << 20)
    r = cxl(mock, "update-firmware", "mem1", "--cancel")
    assert r.rc == 1
    cxl(mock, "update-firmware", "mem1", "-F", str(image))
    assert sysfs_read(mock, f"{base}/error") == b"preparing:user-abort\n"
    assert sysfs_read(mock, f"{base}/status") == b"idle\n"


def test_cancel_with_nothing_running_is_silent(mock: Path) -> None:
    r = cxl(mock, "update-firmware", "mem1", "-c")
    assert (r.rc, r.out) == (1, b"[\n]\n")
    assert r.err.endswith(b"cxl memdev: cmd_update_fw: firmware update cancelled on 0 mem device\n")


def test_bad_images(mock: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    r = cxl(mock, "update-firmware", "mem1", "-F", str(empty))
    assert r.rc == 1
    assert r.err.startswith(
        f"libcxl: cxl_memdev_update_fw: failed to map: {empty}: (Invalid argument)\n"
        "cxl memdev: action_update_fw: mem1 error: Invalid argument\n".encode()
    )
    r = cxl(mock, "update-firmware", "mem1", "-F", str(tmp_path / "none"))
    assert r.err.startswith(
        f"libcxl: cxl_memdev_update_fw: failed to open: {tmp_path}/none: "
        "(No such file or directory)\n".encode()
    )
    assert firmware(mock, "mem1")["fw_update_in_progress"] is False


def test_oversized_image_fails_in_preparing(
    mock: Path, image: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fwupload, "MOCK_LIMIT", 4096)
    cxl(mock, "update-firmware", "mem1", "-F", str(image))
    base = "/sys/bus/cxl/devices/mem1/firmware/mem1"
    assert sysfs_read(mock, f"{base}/error") == b"preparing:invalid-file-size\n"
    assert "staged_slot" not in firmware(mock, "mem1")


def test_qemu_stages_slot_2(tmp_path: Path, image: Path, clock: Clock) -> None:
    state = init_qemu(tmp_path / "state", QEMU_DOCS)
    cxl(state, "update-firmware", "mem0", "-F", str(image))
    clock.now += 10.001
    fw = firmware(state, "mem0")
    assert fw["staged_slot"] == 2 and fw["slot_2_version"] == "BWFW VERSION 1"


def test_loader_refuses_garbage(mock: Path) -> None:
    base = "/sys/bus/cxl/devices/mem1/firmware/mem1"
    for attr, data in (("loading", b"x\n"), ("cancel", b"0\n"), ("data", b"abc")):
        with pytest.raises(OSError):
            sysfs_write(mock, f"{base}/{attr}", data)
    assert sysfs_read(mock, f"{base}/status") == b"idle\n"


# -- sanitize ----------------------------------------------------------------------------------


def test_sanitize_and_wait(mock: Path, clock: Clock) -> None:
    # mem0 decodes the auto region: refused.
    with pytest.raises(OSError) as e:
        sysfs_write(mock, "/sys/bus/cxl/devices/mem0/security/sanitize", b"1\n")
    assert e.value.errno == 16
    sysfs_write(mock, "/sys/bus/platform/devices/cxl_mem.5/sanitize_timeout", b"3000\n")
    sysfs_write(mock, "/sys/bus/cxl/devices/mem5/security/sanitize", b"1\n")
    assert sysfs_read(mock, "/sys/bus/cxl/devices/mem5/security/state") == b"sanitize\n"
    with pytest.raises(OSError) as e:  # one at a time
        sysfs_write(mock, "/sys/bus/cxl/devices/mem5/security/sanitize", b"1\n")
    assert e.value.errno == 16
    start = clock.now
    r = cxl(mock, "wait-sanitize", "mem5")
    assert (r.err, r.rc) == (
        b"cxl memdev: cmd_wait_sanitize: wait sanitize completed on 1 mem device\n",
        0,
    )
    assert clock.now - start >= 3.0
    assert sysfs_read(mock, "/sys/bus/cxl/devices/mem5/security/state") == b"disabled\n"


def test_wait_sanitize_timeout(mock: Path, clock: Clock) -> None:
    sysfs_write(mock, "/sys/bus/platform/devices/cxl_mem.5/sanitize_timeout", b"3000\n")
    sysfs_write(mock, "/sys/bus/cxl/devices/mem5/security/sanitize", b"1\n")
    r = cxl(mock, "wait-sanitize", "mem5", "-t", "500")
    assert (r.err, r.rc) == (
        b"cxl memdev: cmd_wait_sanitize: wait sanitize failed on 0 mem device\n",
        1,
    )
    # Nothing running: done at once.
    r = cxl(mock, "wait-sanitize", "mem6")
    assert r.rc == 0


def test_qemu_sanitize_blocks_the_mailbox_and_clears_labels(tmp_path: Path, clock: Clock) -> None:
    state = init_qemu(tmp_path / "state", QEMU_DOCS)
    assert cxl(state, "disable-memdev", "mem0").rc == 0
    src = tmp_path / "labels"
    src.write_bytes(b"L" * 100)
    assert cxl(state, "write-labels", "mem0", "-i", str(src)).rc == 0
    assert cxl(state, "enable-memdev", "mem0").rc == 0
    sysfs_write(state, "/sys/bus/cxl/devices/mem0/security/sanitize", b"1\n")
    # Busy: every command but Get Health Info is refused, and -I loses its object.
    r = cxl(state, "list", "-m", "mem0", "-I")
    assert b"partition_info" not in r.out and r.err == b""
    clock.now += 4.001  # 256 MiB: 4 s
    r = cxl(state, "list", "-m", "mem0", "-I")
    assert b"partition_info" in r.out
    assert cxl(state, "read-labels", "mem0", "-s", "100").out == bytes(100)


# -- poison ------------------------------------------------------------------------------------


DEBUG = "/sys/kernel/debug/cxl"


def media_errors(state: Path, *args: str) -> list[dict[str, object]] | None:
    r = cxl(state, "list", *args, "-L")
    assert r.rc == 0, r.err
    objs = json.loads(r.out) if r.out.startswith(b"[") else [json.loads(r.out)]
    found: list[dict[str, object]] | None = objs[0].get("media_errors")
    return found


def test_poison_by_memdev(mock: Path) -> None:
    for addr in (b"0x40000000", b"0x40001000", b"0x600", b"0x0"):
        sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", addr + b"\n")
    found = media_errors(mock, "-m", "mem1")
    # The persistent partition (from 1 GiB) is read first, then the volatile one.
    assert found == [
        {"offset": 0x40000000, "length": 64, "source": "Injected"},
        {"offset": 0x40001000, "length": 64, "source": "Injected"},
        {"offset": 0x600, "length": 64, "source": "Injected"},
        {"offset": 0, "length": 64, "source": "Injected"},
    ]
    r = cxl(mock, "list", "-m", "mem1", "-L", "-u")
    assert b'"offset":"0x40000000"' in r.out and b'"offset":"0"' in r.out
    for addr in (b"0x40000000", b"0x40001000", b"0x600", b"0x0"):
        sysfs_write(mock, f"{DEBUG}/mem1/clear_poison", addr + b"\n")
    assert media_errors(mock, "-m", "mem1") is None


def test_poison_by_region(mock: Path) -> None:
    """region0 interleaves mem0 (position 0) and mem4 (position 1) by 4 KiB: DPA 0 of
    mem4 is the region's second granule."""
    sysfs_write(mock, f"{DEBUG}/mem0/inject_poison", b"0x1000\n")
    sysfs_write(mock, f"{DEBUG}/mem4/inject_poison", b"0x0\n")
    found = media_errors(mock, "-r", "region0")
    assert found == [
        {"offset": 0x1000, "length": 64, "source": "Injected"},
        {"offset": 0x2000, "length": 64, "source": "Injected"},
    ]


@pytest.mark.parametrize("data", [b"0x41\n", b"0x80000000\n", b"garbage\n"])
def test_bad_poison_addresses(mock: Path, data: bytes) -> None:
    with pytest.raises(OSError) as e:
        sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", data)
    assert e.value.errno == 22
    assert media_errors(mock, "-m", "mem1") is None


def test_inject_limit(mock: Path) -> None:
    for i in range(8):
        sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", b"%#x\n" % (i * 64))
    sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", b"0x0\n")  # again: no change
    with pytest.raises(OSError) as e:
        sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", b"0x1000\n")
    assert e.value.errno == 16
    assert len(media_errors(mock, "-m", "mem1") or []) == 8


def test_trace_records_inject_and_clear(mock: Path) -> None:
    sysfs_write(mock, "/sys/kernel/tracing/events/cxl/cxl_poison/enable", b"1\n")
    sysfs_write(mock, f"{DEBUG}/mem1/inject_poison", b"0x40\n")
    sysfs_write(mock, f"{DEBUG}/mem1/clear_poison", b"0x40\n")
    trace = sysfs_read(mock, "/sys/kernel/tracing/trace").decode()
    kinds = [
        line.split("trace_type=")[1].split()[0]
        for line in trace.splitlines()
        if "cxl_poison" in line
    ]
    assert kinds == ["Inject", "Clear"]


# -- events and monitor ------------------------------------------------------------------------


def test_event_trigger_counts(mock: Path) -> None:
    sysfs_write(mock, "/sys/kernel/tracing/events/cxl/enable", b"1\n")
    sysfs_write(mock, "/sys/bus/platform/devices/cxl_mem.0/event_trigger", b"1\n")
    trace = sysfs_read(mock, "/sys/kernel/tracing/trace").decode()
    counts = {log: trace.count(f"log={log}") for log in ("Fatal", "Failure", "Informational")}
    assert counts == {"Fatal": 2, "Failure": 16, "Informational": 3}
    assert trace.count("cxl_overflow") == 1
    # mem0's media events fall in region0.
    assert "region=region0" in trace


def test_monitor_prints_events(mock: Path, tmp_path: Path) -> None:
    out = tmp_path / "monitor.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCXL_")}
    env["FAKE_SYSFS_STATE"] = str(mock)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pycxl.cxl.main", "monitor", "-l", str(out)], env=env
    )
    try:
        deadline = time.monotonic() + 20
        # The monitor enables the events in its own instance, as upstream's does.
        enable = "/sys/kernel/tracing/instances/cxl_monitor/events/cxl/enable"
        while not os.path.exists(out) or b"1" not in _read_or_empty(mock, enable):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # the monitor's first look at the buffer
        sysfs_write(mock, "/sys/bus/platform/devices/cxl_mem.2/event_trigger", b"1\n")
        # Fatal 2, Failure 15 + 1 overflow, Informational 3 (cxl_test-platform.md 4.6).
        while out.read_text().count("\n") < 21:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["system"] for e in events] == ["cxl"] * 21
    assert events[0]["event"] == "cxl_generic_event" and events[0]["memdev"] == "mem2"
    assert sum(e["event"] == "cxl_overflow" for e in events) == 1


def _read_or_empty(state: Path, path: str) -> bytes:
    try:
        return sysfs_read(state, path)
    except OSError:
        return b""


def test_monitor_options() -> None:
    from tests.helpers import run_cxl

    r = run_cxl(["monitor", "extra"])
    assert r.rc == 129 and r.err.startswith(b'  Error: unknown parameter "extra"\n')
    r = run_cxl(["monitor", "--daemon", "-l", "rel.log"])
    assert (r.rc, r.err) == (
        234,
        b"  Error: relative path or 'standard' are not compatible with daemon mode\n",
    )


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/sys/bus/cxl/devices/mem5/security/sanitize", b"0\n"),
        ("/sys/bus/cxl/devices/mem5/security/sanitize", b"please\0"),
        ("/sys/bus/cxl/devices/mem1/trigger_poison_list", b"maybe\n"),
        ("/sys/kernel/tracing/tracing_on", b"2x\n"),
        ("/sys/kernel/tracing/events/cxl/enable", b"2\n"),
        ("/sys/bus/platform/devices/cxl_mem.5/sanitize_timeout", b"-1\n"),
    ],
)
def test_garbage_is_refused_and_changes_nothing(mock: Path, path: str, data: bytes) -> None:
    before = StateStore(mock).load()[0]
    with pytest.raises(OSError) as e:
        sysfs_write(mock, path, data)
    assert e.value.errno == 22
    after = StateStore(mock).load()[0]
    assert (after.memdevs, after.trace) == (before.memdevs, before.trace)
