"""The state store's journal: a store costs one appended record, whatever the platform's
size, and every process (cold, or holding the kernel in memory) sees exactly the state the
writers committed.

The reference for "exactly" is independent of the journal: the same stores applied to a
freshly booted kernel in memory, with no store involved (``reference``), and, across
processes, a decode in another interpreter with another string-hash seed (so a store whose
effect depended on hash order would show).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs import journal
from fake_sysfs import store as store_mod
from fake_sysfs.errors import KernfsError, StateError
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.statedir import RECORD_MARK, STATE_FILE, read_header
from fake_sysfs.store import Origin, StateStore

CXL = "/sys/bus/cxl/devices"
GiB = 1 << 30
CLOCK = 1_800_000_000.0

# A pmem region on the default platform, end to end, with refusals on the way (each commits
# only its log records) and a teardown: (path, bytes, errno or 0).
SESSION: list[tuple[str, bytes, int]] = [
    (f"{CXL}/decoder0.0/create_pmem_region", b"region0", 0),
    (f"{CXL}/region0/interleave_granularity", b"3000", errno.EINVAL),
    (f"{CXL}/region0/uuid", b"e0f0b5f6-6a8c-4a3b-9c7e-2f1d7c9e0a11\n", 0),
    (f"{CXL}/region0/interleave_granularity", b"8192", 0),
    (f"{CXL}/region0/interleave_ways", b"2", 0),
    (f"{CXL}/region0/size", b"1073741824", 0),
    (f"{CXL}/decoder3.0/mode", b"pmem", 0),
    (f"{CXL}/decoder3.0/dpa_size", b"536870912", 0),
    (f"{CXL}/decoder5.0/mode", b"pmem", 0),
    (f"{CXL}/decoder5.0/dpa_size", b"536870912", 0),
    (f"{CXL}/region0/target0", b"decoder3.0", errno.ENXIO),
    (f"{CXL}/region0/target1", b"nonesuch", errno.ENODEV),
    (f"{CXL}/region0/target0", b"decoder5.0", 0),
    (f"{CXL}/region0/target1", b"decoder3.0", 0),
    (f"{CXL}/region0/commit", b"1", 0),
    (f"{CXL}/region0/commit", b"0", 0),
    (f"{CXL}/region0/target1", b"", 0),
    (f"{CXL}/region0/target0", b"", 0),
    (f"{CXL}/decoder0.0/delete_region", b"region0", 0),
    (f"{CXL}/decoder0.0/delete_region", b"region0", errno.ENODEV),
]


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that advances one millisecond per reading: records get distinct times,
    and the reference run reads the same ones."""
    from fake_sysfs.kernel import log as klog

    now = [CLOCK]

    def tick() -> float:
        now[0] += 0.001
        return now[0]

    monkeypatch.setattr(klog, "wall_clock", tick)


def _store(tmp_path: Path, preset: str = "qemu-mixed") -> StateStore:
    s = StateStore(tmp_path / "state", create=True)
    s.init(load_preset(preset), Origin("preset", preset), force=False)
    return s


def _apply(s: StateStore, path: str, data: bytes, err: int) -> None:
    if err:
        with pytest.raises(KernfsError) as info:
            s.write_attr(path, data)
        assert info.value.errno == err, (path, data)
    else:
        assert s.write_attr(path, data)[0] == len(data), (path, data)


def _dump(k: Kernel) -> str:
    return json.dumps(k.to_json(), sort_keys=True)


def _identity(s: StateStore) -> tuple[int, int]:
    st = os.stat(s.file)
    return st.st_ino, st.st_size


def test_a_store_appends_one_record_and_keeps_the_snapshot(tmp_path: Path) -> None:
    s = _store(tmp_path)
    inode, size = _identity(s)
    with open(s.file, "rb") as f:
        snapshot = f.read()
    s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
    inode2, _ = _identity(s)
    assert inode2 == inode  # not a new file: nothing was rewritten
    with open(s.file, "rb") as f:
        data = f.read()
    assert data[:size] == snapshot
    record = data[size:]
    assert record[0] == RECORD_MARK
    assert int.from_bytes(record[1:5], "big") == len(record) - 9
    body = json.loads(record[9:])
    assert (body["op"], body["path"], bytes.fromhex(body["data"])) == (
        "store",
        f"{CXL}/decoder0.0/create_ram_region",
        b"region0",
    )
    # Another process's view of the directory sees the region.
    fresh = StateStore(s.dir)
    assert "region0" in View(fresh.load()[0]).listdir(CXL)


def test_the_committed_state_is_the_reference_run(tmp_path: Path) -> None:
    """Held in memory, decoded cold, and the same stores on a booted kernel with no store at
    all: three times the same kernel, log included (times, sequence numbers)."""
    from fake_sysfs.kernel import log as klog

    s = _store(tmp_path)
    start = klog.wall_clock()
    for path, data, err in SESSION:
        _apply(s, path, data, err)
    held = s.load(keep=True)[0]
    cold = StateStore(s.dir).load()[0]
    assert _dump(held) == _dump(cold)

    # The reference: the clock restarted where the session's started.
    clock = [start]

    def tick() -> float:
        clock[0] += 0.001
        return clock[0]

    klog.wall_clock = tick
    ref = boot(load_preset("qemu-mixed"))
    for path, data, err in SESSION:
        # A transaction by hand: a refused store keeps its log records and nothing else.
        saved = copy.deepcopy(ref)
        try:
            with journal.frozen_clock(tick()):  # a store reads the clock once
                View(ref).write(path, data)
            assert not err
        except KernfsError as e:
            assert e.errno == err
            saved.log, saved.printed_once = ref.log, ref.printed_once
            ref = saved
    assert _dump(cold) == _dump(ref)


def test_replay_does_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    s = _store(tmp_path)
    for path, data, err in SESSION[:15]:
        _apply(s, path, data, err)
    here = _dump(StateStore(s.dir).load()[0])
    code = (
        "import json,sys\n"
        "from pathlib import Path\n"
        "from fake_sysfs.store import StateStore\n"
        "k = StateStore(Path(sys.argv[1])).load()[0]\n"
        "sys.stdout.write(json.dumps(k.to_json(), sort_keys=True))\n"
    )
    for seed in ("1", "2", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code, str(s.dir)],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            check=True,
        )
        assert out.stdout.decode() == here


def test_a_writer_catches_up_with_another(tmp_path: Path) -> None:
    """Two stores objects (two processes' worth) interleave stores; each replays what the
    other appended before applying its own, and both end at the reference state."""
    a = _store(tmp_path)
    b = StateStore(a.dir)
    writers = [a, b]
    for i, (path, data, err) in enumerate(SESSION):
        _apply(writers[i % 2], path, data, err)
    assert _dump(a.load(keep=True)[0]) == _dump(b.load(keep=True)[0])
    assert _dump(a.load(keep=True)[0]) == _dump(StateStore(a.dir).load()[0])


def test_a_torn_record_is_not_committed_and_is_cut_off(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
    committed = os.path.getsize(s.file)
    before = _dump(StateStore(s.dir).load()[0])
    # A writer killed half-way through its append: a record longer than what follows.
    with open(s.file, "ab") as f:
        f.write(bytes((RECORD_MARK,)) + (500).to_bytes(4, "big") + b"\0\0\0\0" + b'{"op":')
    assert _dump(StateStore(s.dir).load()[0]) == before
    # The next writer cuts it off before appending its own.
    StateStore(s.dir).write_attr(f"{CXL}/region0/interleave_ways", b"2")
    cold = StateStore(s.dir).load()[0]
    assert View(cold).read(f"{CXL}/region0/interleave_ways") == b"2\n"
    with open(s.file, "rb") as f:
        f.seek(committed)
        assert f.read(1)[0] == RECORD_MARK
        length = int.from_bytes(f.read(4), "big")
        assert b'"interleave_ways"' not in f.read(4)  # the crc, then the record:
        assert b"interleave_ways" in f.read(length)


@pytest.mark.parametrize("where", ["mark", "length", "crc", "payload"])
def test_a_damaged_record_is_one_line_never_skipped(tmp_path: Path, where: str) -> None:
    s = _store(tmp_path)
    s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
    s.write_attr(f"{CXL}/region0/interleave_ways", b"2")
    with open(s.file, "rb") as f:
        _, length = read_header(f.fileno())
    offset = {"mark": 0, "length": 4, "crc": 6, "payload": 20}[where]
    data = bytearray(Path(s.file).read_bytes())
    data[length + offset] ^= 0x5A
    Path(s.file).write_bytes(bytes(data))
    with pytest.raises(StateError) as info:
        StateStore(s.dir).load()
    assert "unusable" in str(info.value) and "\n" not in str(info.value)


def test_a_record_that_does_not_replay_is_damage(tmp_path: Path) -> None:
    """A record whose store fails on replay (here: appended by hand) is reported, not
    half-applied."""
    s = _store(tmp_path)
    record = json.dumps(
        {"op": "store", "t": CLOCK, "path": f"{CXL}/region9/size", "data": b"1".hex()}
    ).encode()
    import zlib

    with open(s.file, "ab") as f:
        f.write(
            bytes((RECORD_MARK,))
            + len(record).to_bytes(4, "big")
            + zlib.crc32(record).to_bytes(4, "big")
            + record
        )
    with pytest.raises(StateError, match="fails on replay"):
        StateStore(s.dir).load()


def test_the_journal_is_folded_into_a_new_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_mod, "COMPACT_RECORDS", 4)
    s = _store(tmp_path)
    first = read_header(os.open(s.file, os.O_RDONLY))[0]
    for path, data, err in SESSION[:6]:
        _apply(s, path, data, err)
    fd = os.open(s.file, os.O_RDONLY)
    try:
        generation, length = read_header(fd)
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    assert generation != first  # a new snapshot was written
    assert size - length < 4 * 400  # and the journal after it is short
    assert _dump(s.load(keep=True)[0]) == _dump(StateStore(s.dir).load()[0])


def test_a_refused_store_commits_its_log_only(tmp_path: Path) -> None:
    s = _store(tmp_path)
    s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
    before = StateStore(s.dir).load()[0]
    _apply(s, f"{CXL}/region0/interleave_ways", b"5", errno.EINVAL)
    after = StateStore(s.dir).load()[0]
    new = after.log.records[len(before.log.records) :]
    assert new and all(r.device == "region0" for r in new)
    b, a = before.to_json(), after.to_json()
    for k in (b, a):
        del k["log"]
        del k["printed_once"]
    assert a == b


def _logs_then_refuses(kernel: Kernel, body: dict[str, object]) -> None:
    """A journaled operation that refuses after logging why (as a driver's dev_dbg does)."""
    kernel.log.dbg("mem0", f"refused: {body['why']}")
    raise journal.Refused(errno.EBUSY)


def test_a_refused_operation_commits_its_log_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(journal.OPERATIONS, "test_refusal", f"{__name__}:_logs_then_refuses")
    s = _store(tmp_path)
    before = StateStore(s.dir).load()[0]
    with pytest.raises(journal.Refused) as info:
        s.run_operation("test_refusal", {"why": "busy"})
    assert info.value.result == errno.EBUSY
    after = StateStore(s.dir).load()[0]
    new = after.log.records[len(before.log.records) :]
    assert [r.message for r in new] == ["refused: busy"]
    b, a = before.to_json(), after.to_json()
    for k in (b, a):
        del k["log"]
        del k["printed_once"]
    assert a == b
    # The writer reloads what it holds and goes on from the committed state.
    s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
    assert "region0" in [r.name for r in StateStore(s.dir).load()[0].regions.values()]


def test_a_store_costs_one_record_at_any_size(tmp_path: Path) -> None:
    """The bytes a store adds do not depend on the platform (a 1,024-memdev state is about
    4 MB; its stores still append a record of a hundred bytes or so)."""
    sizes = []
    for preset in ("qemu-mixed", "scale-256"):
        s = _store(tmp_path / preset, preset)
        before = os.path.getsize(s.file)
        s.write_attr(f"{CXL}/decoder0.0/create_ram_region", b"region0")
        sizes.append(os.path.getsize(s.file) - before)
    assert max(sizes) < 200  # the same record, but for the time stamp's digits


def test_replay_refuses_garbage(tmp_path: Path) -> None:
    k = boot(load_preset("qemu-mixed"))
    for payload in (b"{}", b"[]", b'{"op":"nope","t":1}', b'{"op":"store","t":"x"}', b"\xff"):
        with pytest.raises(journal.ReplayError):
            journal.replay(k, payload)


def test_the_state_file_name_is_unchanged(tmp_path: Path) -> None:
    s = _store(tmp_path)
    assert s.file.name == STATE_FILE


def _tree(
    view: View, path: str = "/sys", out: dict[str, object] | None = None
) -> dict[str, object]:
    """Every entry below ``path``: directories' listings and links' resolutions."""
    import stat

    out = {} if out is None else out
    names = view.listdir(path)
    out[path] = names
    for name in names:
        child = f"{path}/{name}"
        mode = view.lstat(child).mode
        if stat.S_ISLNK(mode):
            out[child] = view.realpath(child)
        elif stat.S_ISDIR(mode):
            _tree(view, child, out)
    return out


def test_the_kept_kernel_indexes_follow_devices_coming_and_going(tmp_path: Path) -> None:
    """The kernel a store keeps has its sysfs indexes updated as devices are registered and
    unregistered (not rebuilt): the whole tree it shows is the tree of the same state
    decoded afresh."""
    s = _store(tmp_path)
    held = s.load(keep=True)[0]
    _tree(View(held))  # build every index before the changes
    for path, data, err in SESSION[:15]:
        _apply(s, path, data, err)
    name = View(s.load(keep=True)[0]).read(f"{CXL}/decoder0.1/create_ram_region").strip()
    extra = [
        (f"{CXL}/decoder0.1/create_ram_region", name, 0),
        (f"{CXL}/{name.decode()}/interleave_ways", b"1", 0),
        ("/sys/bus/cxl/drivers/cxl_mem/unbind", b"mem3", 0),
        ("/sys/bus/cxl/drivers/cxl_mem/bind", b"mem3", 0),
    ]
    for path, data, err in extra:
        _apply(s, path, data, err)
    held = s.load(keep=True)[0]
    assert _tree(View(held)) == _tree(View(StateStore(s.dir).load()[0]))


def test_the_codec_resolves_every_stored_annotation_as_typing_does() -> None:
    """The state's loaders are built from annotations the codec resolves itself (cheaper
    than typing.get_type_hints, which every cold process would pay): on every class a state
    holds, its answer must convert exactly the fields typing's would."""
    import dataclasses
    import typing

    from fake_sysfs import codec

    seen: set[type] = set()
    todo: list[type] = [Kernel]
    while todo:
        tp = todo.pop()
        if tp in seen:
            continue
        seen.add(tp)
        reference = typing.get_type_hints(tp)
        ours = codec._hints(tp)
        for name, hint in reference.items():
            same = codec._loader(hint) is codec._identity
            assert same == (codec._loader(ours[name]) is codec._identity), (tp, name)
            if not same:
                assert ours[name] == hint, (tp, name)
            args = [hint, *typing.get_args(hint)]
            args += [a for t in typing.get_args(hint) for a in typing.get_args(t)]
            todo += [a for a in args if dataclasses.is_dataclass(a) and isinstance(a, type)]
    assert len(seen) > 20


def _writable(view: View, path: str = "/sys", out: list[str] | None = None) -> list[str]:
    """Every attribute below ``path`` that can be opened for writing (links not followed,
    so each is reached once)."""
    import stat

    out = [] if out is None else out
    for name in view.listdir(path):
        child = f"{path}/{name}"
        mode = view.lstat(child).mode
        if stat.S_ISDIR(mode):
            _writable(view, child, out)
        elif stat.S_ISREG(mode) and mode & 0o200:
            out.append(child)
    return out


_STEADY = ("uevent", "remove", "rescan", "new_id", "remove_id", "drivers_autoprobe")


@pytest.mark.parametrize(("preset", "seed"), [("qemu-mixed", 1), ("cxl_test", 2)])
def test_random_stores_replay_exactly(tmp_path: Path, preset: str, seed: int) -> None:
    """Stores of every writable attribute the platform has, with values that are sometimes
    right and often wrong: the kernel the writer keeps, a cold decode of the journal, and a
    decode in interpreters with other string-hash seeds are the same state. (A store that
    depended on anything but the state, the bytes and the log clock would show here.)"""
    import random

    rng = random.Random(seed)
    s = _store(tmp_path, preset)
    names: list[bytes] = [b"0", b"1", b"2", b"4", b"8", b"256", b"4096", b"", b"ram", b"pmem"]
    names += [b"268435456", b"536870912", b"1073741824", b"online", b"offline", b"-1"]
    paths: list[str] = []
    worked = 0
    for step in range(240):
        if step % 40 == 0:
            view = View(s.load(keep=True)[0])
            paths = [p for p in _writable(view) if p.rpartition("/")[2] not in _STEADY]
            devices = view.listdir("/sys/bus/cxl/devices")
            names += [d.encode() for d in devices]
        path = rng.choice(paths)
        data = rng.choice(names)
        creates = path.endswith(("create_ram_region", "create_pmem_region"))
        if rng.random() < (0.8 if creates else 0.3):  # what it shows is often valid
            with contextlib.suppress(KernfsError):
                data = View(s.load(keep=True)[0]).read(path).strip()
        try:
            s.write_attr(path, data)
            worked += 1
        except KernfsError:
            pass  # a StateError (a journal that does not replay) fails the test
    assert worked >= 15
    held = _dump(s.load(keep=True)[0])
    assert held == _dump(StateStore(s.dir).load()[0])
    code = (
        "import json,sys\n"
        "from pathlib import Path\n"
        "from fake_sysfs.store import StateStore\n"
        "k = StateStore(Path(sys.argv[1])).load()[0]\n"
        "sys.stdout.write(json.dumps(k.to_json(), sort_keys=True))\n"
    )
    for hash_seed in ("3", "4"):
        out = subprocess.run(
            [sys.executable, "-c", code, str(s.dir)],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            check=True,
        )
        assert out.stdout.decode() == held


def test_mailbox_commands_are_journaled_and_replay(tmp_path: Path) -> None:
    """A command that changes the device (here Set LSA, in several chunks) is one journal
    record per command, not a new snapshot, and other processes replay it to the same
    label area, whatever their hash seed."""
    from tests.helpers import run_cxl
    from tests.test_mailbox_list import QEMU_DOCS, init_qemu

    s = StateStore(init_qemu(tmp_path / "state", QEMU_DOCS))
    env: dict[str, str | None] = {"FAKE_SYSFS_STATE": str(s.dir), "PYCXL_SYSFS_ROOT": None}
    # Disabled, the memdev has no nvdimm, and its label area takes the mailbox's writes.
    assert run_cxl(["disable-memdev", "mem0"], env).rc == 0
    fd = os.open(s.file, os.O_RDONLY)
    try:
        first = read_header(fd)[0]
    finally:
        os.close(fd)
    data = os.urandom(5000)
    (tmp_path / "in").write_bytes(data)
    wrote = run_cxl(["write-labels", "mem0", "-i", str(tmp_path / "in")], env)
    assert wrote.rc == 0, wrote.err
    raw = Path(s.file).read_bytes()
    fd = os.open(s.file, os.O_RDONLY)
    try:
        generation, length = read_header(fd)
    finally:
        os.close(fd)
    assert generation == first  # journaled, no new snapshot
    assert raw[length:].count(b'"op":"mailbox"') >= 3  # 5000 bytes in 2040-byte chunks
    read = run_cxl(["read-labels", "mem0", "-s", "5000"], env)
    assert read.out == data
    here = _dump(StateStore(s.dir).load()[0])
    code = (
        "import json,sys\n"
        "from pathlib import Path\n"
        "from fake_sysfs.store import StateStore\n"
        "k = StateStore(Path(sys.argv[1])).load()[0]\n"
        "sys.stdout.write(json.dumps(k.to_json(), sort_keys=True))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(s.dir)],
        env={**os.environ, "PYTHONHASHSEED": "7"},
        capture_output=True,
        check=True,
    )
    assert out.stdout.decode() == here


@pytest.mark.parametrize("preset", ["scale-256"])
def test_a_smaller_platform_folds_its_journal_sooner(tmp_path: Path, preset: str) -> None:
    # A record costs every process that decodes the state its replay; a snapshot costs the
    # writer in proportion to its size: the journal is folded once it holds a record per
    # SNAPSHOT_BYTES_PER_RECORD of snapshot (never before COMPACT_MIN_RECORDS, never after
    # COMPACT_RECORDS).
    s = _store(tmp_path, preset)
    fd = os.open(s.file, os.O_RDONLY)
    try:
        first, length = read_header(fd)
    finally:
        os.close(fd)
    limit = min(
        store_mod.COMPACT_RECORDS,
        max(store_mod.COMPACT_MIN_RECORDS, length // store_mod.SNAPSHOT_BYTES_PER_RECORD),
    )
    assert store_mod.COMPACT_MIN_RECORDS < limit < store_mod.COMPACT_RECORDS
    stores = 0
    while True:
        # The next region's name, as the handshake wants it, then its deletion.
        name = View(s.load(keep=True)[0]).read(f"{CXL}/decoder0.0/create_ram_region")
        s.write_attr(f"{CXL}/decoder0.0/create_ram_region", name)
        s.write_attr(f"{CXL}/decoder0.0/delete_region", name)
        stores += 2
        fd = os.open(s.file, os.O_RDONLY)
        try:
            generation = read_header(fd)[0]
        finally:
            os.close(fd)
        if generation != first:
            break
        assert stores < limit
    assert stores in (limit, limit + 1)
    assert _dump(s.load(keep=True)[0]) == _dump(StateStore(s.dir).load()[0])


def test_in_process_stores_are_made_durable_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the FUSE mount each store is answered to another program: durable at once.
    # A command run in-process reports only when it ends: its records are synced together.
    s = _store(tmp_path)
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])

    def create_and_delete() -> None:
        name = View(s.load(keep=True)[0]).read(f"{CXL}/decoder0.0/create_ram_region")
        s.write_attr(f"{CXL}/decoder0.0/create_ram_region", name)
        s.write_attr(f"{CXL}/decoder0.0/delete_region", name)

    create_and_delete()
    assert len(synced) == 2
    s.sync_each = False
    for _ in range(3):
        create_and_delete()
    assert len(synced) == 2
    s.sync()
    assert len(synced) == 3
    s.sync()  # nothing left to sync
    assert len(synced) == 3
    # What another process reads is the same state, synced or not.
    assert _dump(StateStore(s.dir).load()[0]) == _dump(s.load(keep=True)[0])


def test_the_in_process_frontend_syncs_once_per_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fake_sysfs.frontends.inprocess import InProcess

    s = _store(tmp_path)
    monkeypatch.setenv("FAKE_SYSFS_STATE", str(s.dir))
    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    frontend = InProcess()
    name = frontend.read(f"{CXL}/decoder0.0/create_ram_region")
    frontend.write(f"{CXL}/decoder0.0/create_ram_region", name)
    frontend.write(f"{CXL}/decoder0.0/delete_region", name)
    assert synced == []
    frontend.close()
    assert len(synced) == 1


def test_a_command_makes_its_stores_durable_before_it_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    from pycxl.cxl.main import run
    from tests.helpers import _stream

    s = _store(tmp_path)
    monkeypatch.setenv("FAKE_SYSFS_STATE", str(s.dir))
    monkeypatch.delenv("PYCXL_SYSFS_ROOT", raising=False)
    out = _stream()
    printed_when_synced: list[bytes] = []
    real_sync = StateStore.sync

    def sync(store: StateStore) -> None:
        printed_when_synced.append(out.buffer.getvalue())  # type: ignore[attr-defined]
        real_sync(store)

    monkeypatch.setattr(StateStore, "sync", sync)
    monkeypatch.setattr(sys, "stdout", out)
    rc = run(["create-region", "-d", "decoder0.1", "-t", "ram"])
    out.flush()
    assert rc == 0
    assert printed_when_synced[0] == b""
    assert b'"region":"region' in out.buffer.getvalue()  # type: ignore[attr-defined]

    def fail(store: StateStore) -> None:
        raise StateError(f"cannot write state to {store.dir}: Input/output error")

    monkeypatch.setattr(StateStore, "sync", fail)
    from pycxl.sysfs.base import SysfsUnavailable

    with pytest.raises(SysfsUnavailable, match="cannot write state"):
        run(["destroy-region", "-f", "all"])
    # The console script says so in one line, exit status 1 (and so does a command whose
    # stores are synced only as it closes, after a failure of its own).
    from pycxl.cxl.main import main

    capfd.readouterr()
    monkeypatch.setattr(sys, "argv", ["cxl", "destroy-region", "-f", "all"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    *_, last = capfd.readouterr().err.splitlines()
    assert last.startswith("cxl: cannot write state to ") and last.endswith("Input/output error")
    from pycxl.sysfs.emulated import EmulatedSysfs

    sysfs = EmulatedSysfs()
    create = f"{CXL}/decoder0.1/create_ram_region"
    sysfs.write(create, sysfs.read(create))
    with pytest.raises(SysfsUnavailable, match="cannot write state"):
        sysfs.close()


def test_the_kept_kernel_indexes_follow_memory_blocks_coming_and_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, for devices registered below a plain directory: the memory blocks a ram
    region brings online (devices/system/memory) and takes away."""
    from fake_sysfs.frontends.inprocess import InProcess
    from tests.helpers import run_cxl

    # The stores of a ram create-region and its destroy, as pycxl makes them.
    scratch = _store(tmp_path / "scratch")
    writes: list[tuple[str, bytes, int]] = []
    real_write = InProcess.write

    def write(self: InProcess, path: str, data: bytes) -> int:
        try:
            count = real_write(self, path, data)
        except OSError as e:
            writes.append((path, data, e.errno or errno.EIO))
            raise
        writes.append((path, data, 0))
        return count

    monkeypatch.setattr(InProcess, "write", write)
    env: dict[str, str | None] = {"FAKE_SYSFS_STATE": str(scratch.dir), "PYCXL_SYSFS_ROOT": None}
    assert run_cxl(["create-region", "-t", "ram", "-d", "decoder0.1"], env=env).rc == 0
    created = len(writes)
    assert run_cxl(["destroy-region", "-f", "all"], env=env).rc == 0
    monkeypatch.setattr(InProcess, "write", real_write)

    s = _store(tmp_path)
    blocks = len(s.load()[0].memory.blocks)
    held = s.load(keep=True)[0]
    _tree(View(held))  # build every index before the changes
    for path, data, err in writes[:created]:
        _apply(s, path, data, err)
    held = s.load(keep=True)[0]
    assert len(held.memory.blocks) > blocks  # the region's memory came online
    assert _tree(View(held)) == _tree(View(StateStore(s.dir).load()[0]))
    for path, data, err in writes[created:]:
        _apply(s, path, data, err)
    held = s.load(keep=True)[0]
    assert len(held.memory.blocks) == blocks
    assert _tree(View(held)) == _tree(View(StateStore(s.dir).load()[0]))


def test_plain_directories_come_and_go_with_their_devices() -> None:
    """A plain directory (no device's) exists while a device is registered below it: the
    kept indexes add it with its first device and drop it with its last, as a fresh
    decode of the same state shows."""
    import dataclasses

    from fake_sysfs import codec
    from fake_sysfs.kernel import core

    def fresh(k: Kernel) -> View:
        return View(codec.load_rows(Kernel, json.loads(json.dumps(codec.dump_rows(k)))))

    def listings(view: View, path: str = "/sys/devices") -> dict[str, list[str]]:
        """Every directory's listing below ``path`` (links are not followed: without its
        ACPI companion a host bridge's firmware_node dangles)."""
        import stat

        out = {path: view.listdir(path)}
        for name in out[path]:
            if stat.S_ISDIR(view.lstat(f"{path}/{name}").mode):
                out.update(listings(view, f"{path}/{name}"))
        return out

    k = boot(load_preset("qemu-mixed"))
    _tree(View(k))  # build every index before the changes
    plain = "/sys/devices/LNXSYSTM:00/LNXSYBUS:00"
    bridges = [dev for dev in k.devices.values() if dev.type == "acpi-host-bridge"]
    assert len(bridges) == 2 and all(f"/sys/{dev.parent}" == plain for dev in bridges)
    copies = [dataclasses.replace(dev, driver="") for dev in bridges]
    for dev in bridges:
        core.device_unregister(k, dev)
    tree = listings(View(k))
    assert "LNXSYSTM:00" not in tree["/sys/devices"]
    assert tree == listings(fresh(k))
    for dev in copies:
        core.device_add(k, dev, probe=False)
    tree = listings(View(k))
    assert {"ACPI0016:00", "ACPI0016:01"} <= set(tree[plain])
    assert tree == listings(fresh(k))
