"""The in-process frontend's persistent read cache (fake_sysfs/frontends/readcache.py).

What must hold: a later process gets exactly the answers (bytes, listings, links, errnos,
/dev nodes, pure store outcomes) the live kernfs view gives, without loading the state;
and a cache never answers for any state but the one it was recorded from, whatever happened
in between (a commit, a reset, a damaged or foreign file, new code, an unwritable directory).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.frontends import readcache
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.statedir import CACHE_FILE
from fake_sysfs.store import Origin, StateStore
from tests.kernel_helpers import CXL, walk

DECODER = f"{CXL}/decoder0.0"


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    store = StateStore(tmp_path / "state")
    store.init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=False)
    return store


def no_state_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any load of the kernel state fail the test."""

    def refuse(self: StateStore, *args: Any) -> Any:
        raise AssertionError("the state was loaded although the cache had every answer")

    monkeypatch.setattr(StateStore, "load", refuse)


def answer(fn: Callable[..., Any], *args: Any) -> Any:
    """What a call gives: its value, or ("errno", N)."""
    try:
        result = fn(*args)
    except OSError as e:
        return ("errno", e.errno)
    if isinstance(result, list):
        return [("errno", r.errno) if isinstance(r, OSError) else r for r in result]
    return result


def every_path(view: View) -> Iterator[tuple[str, str]]:
    yield from walk(view, "/sys/bus/cxl")
    yield from walk(view, "/sys/devices/platform")


def operations(view: View) -> list[tuple[str, tuple[Any, ...]]]:
    """Every read-side operation on every entry of the cxl bus and platform trees, plus
    some that fail, through links and not."""
    ops: list[tuple[str, tuple[Any, ...]]] = []
    for path, kind in every_path(view):
        ops += [("is_link", (path,)), ("exists", (path,)), ("realpath", (path,))]
        if kind == "dir":
            ops += [("listdir", (path,)), ("scan", (path, "decoder")), ("read", (path,))]
        elif kind == "file":
            ops.append(("read", (path,)))
    for mem in range(12):
        ops += [("dev_node", (f"/dev/cxl/mem{mem}",)), ("open_dev", (f"/dev/cxl/mem{mem}",))]
    ops += [
        ("read_many", (f"{CXL}/mem0", ["serial", "pmem/size", "nope", "ram/qos_class"])),
        ("read_many", ("/sys/nope", ["serial"])),
        ("read", (f"{CXL}/mem0/nope",)),
        ("listdir", ("/sys/nope",)),
        ("realpath", (f"{CXL}/nope/dev",)),
        ("write", ("/sys/bus/cxl/flush", b"1\n\0")),
        ("write", ("/sys/bus/cxl/flush", b"0")),
        ("write", (f"{CXL}/mem0/uevent", b"change\n")),
        ("write", (f"{CXL}/mem0/uevent", b"bogus")),
    ]
    return ops


def run_all(frontend: InProcess, ops: list[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    return [answer(getattr(frontend, name), *args) for name, args in ops]


def test_a_later_process_gets_the_same_answers_without_the_kernel(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = operations(View(store.load()[0]))
    assert len(ops) > 1000
    first = InProcess(store)
    live = run_all(first, ops)
    # Sanity: the list exercises successes and failures of each kind.
    assert ("errno", errno.EACCES) in live and ("errno", errno.ENOENT) in live
    assert ("errno", errno.EISDIR) in live and ("errno", errno.EINVAL) in live
    assert ("errno", errno.ENXIO) in live
    first.close()
    assert (store.dir / CACHE_FILE).exists()

    no_state_load(monkeypatch)
    assert run_all(InProcess(StateStore(store.dir)), ops) == live


def test_cached_answers_equal_a_fresh_live_view(store: StateStore) -> None:
    # The comparison the other way round: answers recorded by one process, served by the
    # cache in the next, equal those of a live view that never saw a cache.
    ops = operations(View(store.load()[0]))
    recorder = InProcess(store)
    run_all(recorder, ops)
    recorder.close()
    cached = run_all(InProcess(StateStore(store.dir)), ops)
    (store.dir / CACHE_FILE).unlink()
    assert cached == run_all(InProcess(StateStore(store.dir)), ops)


def bump(kernel: Kernel) -> None:
    """A committed change that shows in sysfs: the region name decoder0.0 offers."""
    kernel.ports[0].decoders[0].next_region += 1


def offered(frontend: InProcess) -> bytes:
    return frontend.read(f"{DECODER}/create_ram_region")


def test_a_commit_makes_the_cache_stale(store: StateStore) -> None:
    first = InProcess(store)
    before = offered(first)
    first.close()
    with StateStore(store.dir).transaction() as kernel:
        bump(kernel)
    assert not (store.dir / CACHE_FILE).exists()
    after = offered(InProcess(StateStore(store.dir)))
    assert after != before and after == b"region%d\n" % (int(before[6:]) + 1)


def test_a_stale_cache_put_back_is_ignored(store: StateStore) -> None:
    # Even a cache file of an older state (restored by hand, or saved by a reader racing a
    # commit) does not answer for the new state.
    first = InProcess(store)
    before = offered(first)
    first.close()
    saved = (store.dir / CACHE_FILE).read_bytes()
    with StateStore(store.dir).transaction() as kernel:
        bump(kernel)
    (store.dir / CACHE_FILE).write_bytes(saved)
    assert offered(InProcess(StateStore(store.dir))) != before


def test_a_reader_racing_a_commit_saves_nothing(store: StateStore) -> None:
    reader = InProcess(store)
    before = offered(reader)
    with StateStore(store.dir).transaction() as kernel:
        bump(kernel)
    reader.close()  # its answers are for the state before the commit
    assert not (store.dir / CACHE_FILE).exists()
    assert offered(InProcess(StateStore(store.dir))) != before


def test_reset_makes_the_cache_stale(store: StateStore) -> None:
    with store.transaction() as kernel:
        bump(kernel)
    first = InProcess(StateStore(store.dir))
    bumped = offered(first)
    first.close()
    StateStore(store.dir).reset()
    assert offered(InProcess(StateStore(store.dir))) != bumped


@pytest.mark.parametrize(
    "content", [b"", b"garbage", b"\xe3\x00\x00\x00", b"\xa9\x03\xe9\x01\x00\x00\x00"]
)
def test_a_damaged_cache_is_ignored(store: StateStore, content: bytes) -> None:
    expected = offered(InProcess(store))
    (store.dir / CACHE_FILE).write_bytes(content)
    frontend = InProcess(StateStore(store.dir))
    assert offered(frontend) == expected
    frontend.close()  # and is replaced by a good one
    assert offered(InProcess(StateStore(store.dir))) == expected
    assert (store.dir / CACHE_FILE).read_bytes() != content


def test_new_code_makes_the_cache_stale(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    first = InProcess(store)
    offered(first)
    first.close()
    monkeypatch.setattr(readcache, "code_key", lambda: (("/kernel/new.py", 1, 1),))
    loads: list[int] = []
    real_load = StateStore.load

    def counting_load(self: StateStore, *args: Any, **kwargs: Any) -> Any:
        loads.append(1)
        return real_load(self, *args, **kwargs)

    monkeypatch.setattr(StateStore, "load", counting_load)
    offered(InProcess(StateStore(store.dir)))
    assert loads == [1]


def test_the_code_key_covers_the_emulation() -> None:
    names = {path for path, _, _ in readcache.code_key()}
    assert {"/kernel/regions.py", "/kernfs/tree.py", "/platform/naming.py"} <= names
    assert "/frontends/readcache.py" in names


def test_an_unwritable_state_directory_only_costs_speed(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied")

    frontend = InProcess(store)
    expected = offered(frontend)
    monkeypatch.setattr(os, "replace", refuse)
    frontend.close()
    assert not (store.dir / CACHE_FILE).exists()
    assert not [p for p in store.dir.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert offered(InProcess(StateStore(store.dir))) == expected


def test_answers_learned_later_are_added(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = InProcess(store)
    serial = first.read(f"{CXL}/mem0/serial")
    first.close()
    second = InProcess(StateStore(store.dir))
    assert second.read(f"{CXL}/mem0/serial") == serial
    ram = second.read(f"{CXL}/mem1/ram/size")  # not seen before: computed and recorded
    second.close()
    no_state_load(monkeypatch)
    third = InProcess(StateStore(store.dir))
    assert third.read(f"{CXL}/mem0/serial") == serial
    assert third.read(f"{CXL}/mem1/ram/size") == ram


def test_the_first_use_of_a_state_directory(tmp_path: Path) -> None:
    # No state yet: the default platform is booted, and the cache belongs to that state.
    frontend = InProcess(StateStore(tmp_path / "fresh", create=True))
    names = frontend.listdir("/sys/bus/cxl/devices")
    frontend.close()
    assert "root0" in names
    assert (
        InProcess(StateStore(tmp_path / "fresh", create=True)).listdir("/sys/bus/cxl/devices")
        == names
    )


def cxl_list(state: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYCXL_SYSFS_ROOT",)}
    env["FAKE_SYSFS_STATE"] = str(state)
    code = "import sys; from pycxl.cxl.main import main; sys.argv[0] = 'cxl'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "list", *args], env=env, capture_output=True, check=False
    )


def test_cxl_list_from_the_cache_prints_the_same(store: StateStore, tmp_path: Path) -> None:
    for args in ([], ["-vvv", "-BPEMDRT"], ["-m", "mem3", "-u"], ["-b", "nope"]):
        cold = cxl_list(store.dir, *args)
        warm = cxl_list(store.dir, *args)
        assert (warm.returncode, warm.stdout, warm.stderr) == (
            cold.returncode,
            cold.stdout,
            cold.stderr,
        )
        assert cold.stdout or cold.stderr
    assert (store.dir / CACHE_FILE).exists()
    # And the same as a listing that never had a cache.
    clean = tmp_path / "clean"
    shutil.copytree(store.dir, clean)
    (clean / CACHE_FILE).unlink()
    assert cxl_list(clean, "-vvv").stdout == cxl_list(store.dir, "-vvv").stdout


def test_a_command_reads_the_memo_once_however_many_stores_it_makes(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memo is read when a command first opens the state, not again at each of its
    stores: the state a store commits is new, so the memo on disk is an older state's."""
    warm = InProcess(StateStore(store.dir))
    listing = warm.listdir(CXL)
    warm.close()
    loads: list[object] = []
    load = readcache.ReadCache._load

    def counted(self: readcache.ReadCache, snap: Any) -> Any:
        loads.append(snap)
        return load(self, snap)

    monkeypatch.setattr(readcache.ReadCache, "_load", counted)
    frontend = InProcess(StateStore(store.dir))
    assert frontend.listdir(CXL) == listing  # answered from the memo
    assert len(loads) == 1
    next_region = f"{CXL}/decoder0.0/create_ram_region"
    for _ in range(3):
        name = frontend.read(next_region).strip()
        frontend.write(next_region, name)
        frontend.write(f"{CXL}/decoder0.0/delete_region", name)
    assert len(loads) == 1
    # And what it answers after its stores is the state it committed.
    assert frontend.read(next_region) == InProcess(StateStore(store.dir)).read(next_region)
    frontend.close()
