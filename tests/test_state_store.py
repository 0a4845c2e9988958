"""The state store (fake_sysfs/store.py): first use, init/reset, persistence round trips,
damaged files, and atomic, serialized transactions under concurrency and SIGKILL."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.errors import StateError
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import DEFAULT_PRESET, load_preset
from fake_sysfs.platform.qemu import parse_qemu
from fake_sysfs.store import Origin, StateStore, default_state_dir, seal_state
from tests.helpers import writers_lock_is_free
from tests.kernel_helpers import SECTION_1_6_QEMU, unbind, walk

FORK = multiprocessing.get_context("fork")


def counter(kernel: Kernel) -> int:
    """A mutable field used as a counter: the memregion id root decoder 0 offers."""
    return kernel.ports[0].decoders[0].next_region


def bump(kernel: Kernel) -> None:
    kernel.ports[0].decoders[0].next_region += 1


def with_counter(kernel: Kernel, value: int) -> dict[str, Any]:
    kernel.ports[0].decoders[0].next_region = value
    return kernel.to_json()


def new_store(tmp_path: Path, preset: str) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.init(load_preset(preset), Origin("preset", preset), force=False)
    return store


# == where the state lives ====================================================================


def test_default_state_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FAKE_SYSFS_STATE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert default_state_dir() == tmp_path / "explicit"
    monkeypatch.delenv("FAKE_SYSFS_STATE")
    assert default_state_dir() == tmp_path / "xdg" / "fake-sysfs"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_dir() == tmp_path / "home" / ".local" / "state" / "fake-sysfs"
    monkeypatch.setenv("FAKE_SYSFS_STATE", str(tmp_path / "env"))
    assert StateStore().dir == tmp_path / "env"


# == lifecycle ================================================================================


def test_first_use_boots_the_default_preset(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "a" / "b", create=True)
    assert not store.exists()
    kernel, origin = store.load()
    assert store.exists()
    assert origin == Origin("preset", DEFAULT_PRESET)
    assert kernel.to_json() == boot(load_preset(DEFAULT_PRESET)).to_json()
    # A second load reads the same state back.
    again, origin2 = store.load()
    assert again == kernel and origin2 == origin


def test_first_use_through_a_transaction_and_the_frontend(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "t", create=True)
    with store.transaction() as kernel:
        start = counter(kernel)
        bump(kernel)
    assert counter(store.load()[0]) == start + 1
    fresh = InProcess(StateStore(tmp_path / "f", create=True))
    assert "root0" in fresh.view.listdir("/sys/bus/cxl/devices")
    assert (tmp_path / "f" / "state.json").exists()


def test_init_refuses_an_existing_state_without_force(tmp_path: Path) -> None:
    store = new_store(tmp_path, "cxl_test")
    before = store.file.read_bytes()
    with pytest.raises(StateError) as info:
        store.init(load_preset("qemu-pmem"), Origin("preset", "qemu-pmem"), force=False)
    assert "\n" not in str(info.value)
    assert "force" in str(info.value)
    assert store.file.read_bytes() == before
    kernel = store.init(load_preset("qemu-pmem"), Origin("preset", "qemu-pmem"), force=True)
    loaded, origin = store.load()
    assert origin == Origin("preset", "qemu-pmem")
    assert loaded == kernel
    assert loaded.platform.name == "qemu-pmem"


def test_init_force_replaces_a_damaged_state(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "s")
    store.dir.mkdir()
    store.file.write_text("{broken")
    with pytest.raises(StateError):
        store.init(load_preset("qemu-pmem"), Origin("preset", "qemu-pmem"), force=False)
    store.init(load_preset("qemu-pmem"), Origin("preset", "qemu-pmem"), force=True)
    assert store.load()[0].platform.name == "qemu-pmem"


def test_reset_reboots_the_stored_platform(tmp_path: Path) -> None:
    store = new_store(tmp_path, "cxl_test")
    booted = store.load()[0]
    with store.transaction() as kernel:
        bump(kernel)
        unbind(kernel, "mem3")
    changed = store.load()[0]
    assert counter(changed) == counter(booted) + 1
    fresh, origin = store.reset()
    assert origin == Origin("preset", "cxl_test")
    assert fresh == booted
    assert store.load() == (booted, origin)


def test_reset_keeps_a_qemu_origin(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "q")
    store.init(parse_qemu(SECTION_1_6_QEMU), Origin("qemu", SECTION_1_6_QEMU), force=False)
    with store.transaction() as kernel:
        bump(kernel)
    fresh, origin = store.reset()
    assert origin == Origin("qemu", SECTION_1_6_QEMU)
    assert fresh.to_json() == boot(parse_qemu(SECTION_1_6_QEMU)).to_json()


def test_reset_without_a_state_fails(tmp_path: Path) -> None:
    with pytest.raises(StateError) as info:
        StateStore(tmp_path / "none").reset()
    assert "\n" not in str(info.value)


def test_a_failing_transaction_saves_nothing(tmp_path: Path) -> None:
    store = new_store(tmp_path, "qemu-pmem")
    before = store.file.read_bytes()
    with pytest.raises(RuntimeError), store.transaction() as kernel:
        bump(kernel)
        raise RuntimeError("store failed")
    assert store.file.read_bytes() == before
    # The lock was released: the next transaction goes through.
    with store.transaction() as kernel:
        bump(kernel)
    assert store.file.read_bytes() != before


# == persistence ==============================================================================


@pytest.mark.parametrize(
    "preset", ["cxl_test", "cxl_test-xor", "qemu-pmem", "qemu-mixed", "qemu-switch", "scale-64"]
)
def test_kernel_json_round_trip(preset: str) -> None:
    kernel = boot(load_preset(preset))
    data = kernel.to_json()
    text = json.dumps(data)
    again = Kernel.from_json(json.loads(text))
    assert again == kernel
    assert again.to_json() == data
    assert json.dumps(again.to_json()) == text


def test_stored_state_reads_back_identically(tmp_path: Path) -> None:
    store = new_store(tmp_path, "cxl_test")
    loaded, _ = store.load()
    original = View(boot(load_preset("cxl_test")))
    reloaded = View(loaded)
    paths = [p for p, what in walk(original, "/sys/bus/cxl/devices/root0") if what == "file"]
    assert paths
    for path in paths:
        try:
            expected = original.read(path)
        except OSError as e:
            expected = e.errno
        try:
            got = reloaded.read(path)
        except OSError as e:
            got = e.errno
        assert got == expected, path


def valid_state(tmp_path: Path) -> tuple[StateStore, dict[str, Any]]:
    store = new_store(tmp_path, "qemu-pmem")
    return store, json.loads(store.file.read_text())


def damage(kind: str, good: dict[str, Any]) -> bytes:
    text = json.dumps(good)
    raw = _damage(kind, good)
    if raw.startswith(b"{") and kind not in ("truncated", "binary"):
        # Sealed anew (the checksum holds), so the damage is met by the decoder itself.
        body = {k: v for k, v in json.loads(raw).items() if k not in _HEADER}
        return seal_state(json.dumps(body, separators=(",", ":")).encode())
    return raw if kind != "truncated" else text[: len(text) // 2].encode()


#: The fields seal_state writes.
_HEADER = ("format", "generation", "check", "length")


def _damage(kind: str, good: dict[str, Any]) -> bytes:
    text = json.dumps(good)
    if kind == "empty":
        return b""
    if kind == "truncated":
        return text[: len(text) // 2].encode()
    if kind == "binary":
        return b"\x00\xff\xfe garbage \x80"
    if kind == "no kernel":
        return json.dumps({k: v for k, v in good.items() if k != "kernel"}).encode()
    if kind == "empty kernel":
        return json.dumps({**good, "kernel": []}).encode()
    if kind == "kernel missing a field":
        return json.dumps({**good, "kernel": good["kernel"][:-1]}).encode()
    if kind == "origin not a mapping":
        return json.dumps({**good, "origin": ["preset", "x"]}).encode()
    if kind == "top level list":
        return b"[]"
    if kind == "top level null":
        return b"null"
    if kind == "ports not a mapping":
        at = good["schema"]["Kernel"].index("ports")
        kernel = [[] if i == at else v for i, v in enumerate(good["kernel"])]
        return json.dumps({**good, "kernel": kernel}).encode()
    if kind == "renamed memdev field":
        fields = good["schema"]["Memdev"]
        renamed = ["serail" if f == "serial" else f for f in fields]
        return json.dumps({**good, "schema": {**good["schema"], "Memdev": renamed}}).encode()
    if kind == "memdev row a field short":
        at = good["schema"]["Kernel"].index("memdevs")
        kernel = json.loads(json.dumps(good["kernel"]))
        kernel[at]["0"] = kernel[at]["0"][:-1]
        return json.dumps({**good, "kernel": kernel}).encode()
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "empty",
        "truncated",
        "binary",
        "no kernel",
        "empty kernel",
        "kernel missing a field",
        "origin not a mapping",
        "top level list",
        "top level null",
        "ports not a mapping",
        "renamed memdev field",
        "memdev row a field short",
    ],
)
def test_damaged_state_is_a_one_line_state_error(tmp_path: Path, kind: str) -> None:
    store, good = valid_state(tmp_path)
    store.file.write_bytes(damage(kind, good))
    for operation in (store.load, store.reset):
        with pytest.raises(StateError) as info:
            operation()
        message = str(info.value)
        assert "\n" not in message
        assert str(store.file) in message
    with pytest.raises(StateError), store.transaction():
        pass


def test_wrong_format_is_a_state_error(tmp_path: Path) -> None:
    store, good = valid_state(tmp_path)
    store.file.write_text(json.dumps({**good, "format": good["format"] + 100}))
    with pytest.raises(StateError) as info:
        store.load()
    assert "format" in str(info.value)
    assert "\n" not in str(info.value)
    store.file.write_text(json.dumps({k: v for k, v in good.items() if k != "format"}))
    with pytest.raises(StateError):
        store.load()


# == concurrency ==============================================================================


def _increment(directory: str, times: int, log: str, go: Any) -> None:
    go.wait()
    store = StateStore(Path(directory))
    seen = []
    for _ in range(times):
        with store.transaction() as kernel:
            bump(kernel)
            seen.append(counter(kernel))
    Path(log).write_text(" ".join(map(str, seen)))


def test_concurrent_transactions_serialize(tmp_path: Path) -> None:
    store = new_store(tmp_path, "qemu-pmem")
    start = counter(store.load()[0])
    workers, times = 6, 20
    go = FORK.Event()
    args = [(str(store.dir), times, str(tmp_path / f"log{i}"), go) for i in range(workers)]
    procs = [FORK.Process(target=_increment, args=a) for a in args]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert counter(store.load()[0]) == start + workers * times
    # Every transaction saw a distinct value: none read a state another one was changing.
    seen = [int(v) for i in range(workers) for v in (tmp_path / f"log{i}").read_text().split()]
    assert sorted(seen) == list(range(start + 1, start + workers * times + 1))


def test_exclusive_holds_other_writers_off_across_commits(tmp_path: Path) -> None:
    store = new_store(tmp_path, "qemu-pmem")
    start = counter(store.load()[0])
    assert writers_lock_is_free(store.dir)

    def commits() -> None:
        for _ in range(2):
            with store.transaction() as kernel:
                bump(kernel)
        with store.exclusive(), store.transaction() as kernel:  # nested: held once
            bump(kernel)

    with store.exclusive():
        assert not writers_lock_is_free(store.dir)
        # This store's own commits go on inside (one flock: a second would wait for
        # itself, so they run in a thread that must finish rather than hang the test).
        worker = threading.Thread(target=commits, daemon=True)
        worker.start()
        worker.join(30)
        assert not worker.is_alive()
        assert not writers_lock_is_free(store.dir)
    assert writers_lock_is_free(store.dir)
    assert counter(StateStore(store.dir).load()[0]) == start + 3


def test_exclusive_lets_go_when_its_body_fails(tmp_path: Path) -> None:
    store = new_store(tmp_path, "qemu-pmem")
    with pytest.raises(RuntimeError), store.exclusive():
        raise RuntimeError("body")
    assert writers_lock_is_free(store.dir)
    with store.transaction() as kernel:  # and the store takes the lock itself again
        bump(kernel)


def _first_use(directory: str, out: str, go: Any) -> None:
    go.wait()
    kernel, origin = StateStore(Path(directory), create=True).load()
    Path(out).write_text(json.dumps([origin.kind, origin.source, kernel.to_json()]))


def test_concurrent_first_use_boots_once(tmp_path: Path) -> None:
    directory = tmp_path / "fresh"
    go = FORK.Event()
    procs = [
        FORK.Process(target=_first_use, args=(str(directory), str(tmp_path / f"out{i}"), go))
        for i in range(4)
    ]
    for proc in procs:
        proc.start()
    go.set()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    results = [json.loads((tmp_path / f"out{i}").read_text()) for i in range(4)]
    expected = json.loads(json.dumps(boot(load_preset(DEFAULT_PRESET)).to_json()))
    for kind_, source, kernel in results:
        assert (kind_, source) == ("preset", DEFAULT_PRESET)
        assert kernel == expected


def _increment_forever(directory: str) -> None:
    store = StateStore(Path(directory))
    while True:
        with store.transaction() as kernel:
            bump(kernel)


def test_sigkill_at_any_instant_leaves_a_whole_state(tmp_path: Path) -> None:
    # A process looping over transactions is killed at random moments; every time the
    # state file still loads and is either the state before or after some transaction.
    store = new_store(tmp_path, "cxl_test")
    baseline_kernel, baseline_origin = store.load()
    start = counter(baseline_kernel)
    baseline = with_counter(baseline_kernel, 0)
    rng = random.Random(20250314)
    last = start
    for _ in range(30):
        proc = FORK.Process(target=_increment_forever, args=(str(store.dir),))
        proc.start()
        time.sleep(rng.uniform(0.001, 0.05))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert proc.exitcode == -signal.SIGKILL
        json.loads(store.file.read_bytes())  # never a torn file
        kernel, origin = store.load()
        assert origin == baseline_origin
        now = counter(kernel)
        assert now >= last
        assert with_counter(kernel, 0) == baseline
        last = now
    assert last > start, "no transaction completed between kills"
    # Temporary files left by killed writers do not get in the way of later writes.
    with store.transaction() as kernel:
        bump(kernel)
    assert counter(store.load()[0]) == last + 1
    assert store.reset()[0] == boot(load_preset("cxl_test"))


def test_stale_temporary_files_do_not_break_writes(tmp_path: Path) -> None:
    store = new_store(tmp_path, "qemu-pmem")
    start = counter(store.load()[0])
    # A leftover from a killed process whose pid is now ours, and one from another pid.
    (store.dir / f"state.json.{os.getpid()}.tmp").write_bytes(b"\x00garbage" * 1000)
    (store.dir / "state.json.999999999.tmp").write_bytes(b"{")
    with store.transaction() as kernel:
        bump(kernel)
    assert counter(store.load()[0]) == start + 1
    assert not (store.dir / f"state.json.{os.getpid()}.tmp").exists()
    json.loads(store.file.read_bytes())
