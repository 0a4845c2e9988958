"""The state store: the emulated kernel's state, persisted between invocations.

Layout of a state directory: ``state.json`` (the kernel state and where its platform came
from), ``lock``, and the in-process frontend's ``reads.cache``. Every change is a
transaction: take the lock, load, apply, write a new temporary file, fsync it, rename it over
``state.json`` and fsync the directory. Concurrent writers therefore serialize, and a crash
at any instant leaves either the old or the new file; the temporary files a killed writer
leaves are removed by the next one. Readers take no lock: they hold the committed file open
(statedir.Snapshot), so a commit that lands meanwhile never mixes into what they read.

Every file is opened relative to the checked directory, never through a symlink, and only
if it is a regular file (statedir.py). A command is told a change succeeded only once it is
durable, and a failure only when it is not in place.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import gc
import json
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_sysfs import codec
from fake_sysfs.errors import PlatformError, StateError
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.changes import Changes, watch
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.model import Platform
from fake_sysfs.statedir import (
    CACHE_FILE,
    GENERATION_LEN,
    LOCK_FILE,
    RECORD_MARK,
    STATE_FILE,
    STATE_FORMAT,
    STATE_HEADER,
    Damaged,
    NotRegular,
    Snapshot,
    create_new,
    damaged_state,
    identity,
    new_generation,
    open_dir,
    open_lock,
    open_regular,
    open_snapshot,
    pid_alive,
    read_header,
    scan_journal,
    state_dir_is_explicit,
    temp_name,
    temp_owner,
)
from fake_sysfs.statedir import default_state_dir as _default_state_dir

__all__ = ["LOCK_FILE", "STATE_FILE", "Origin", "StateStore", "default_state_dir"]


def default_state_dir() -> Path:
    """``$FAKE_SYSFS_STATE``, else ``$XDG_STATE_HOME/fake-sysfs`` (``~/.local/state/...``)."""
    return Path(_default_state_dir())


@dataclass
class Origin:
    """Where a state's platform came from, for ``show`` and ``reset``."""

    kind: str  # "preset", "file", "qemu"
    source: str


class StateStore:
    """The state directory at ``directory`` (default: ``default_state_dir()``).

    Only the default location is created on first use; a directory the user named
    (``--state``, ``$FAKE_SYSFS_STATE``) must exist, except for ``init``, so that a typo is
    refused rather than silently becoming a new platform. ``create`` overrides that."""

    def __init__(self, directory: Path | None = None, *, create: bool | None = None) -> None:
        if directory is None:
            self.dir = default_state_dir()
            default_create = not state_dir_is_explicit()
        else:
            if not str(directory):
                raise StateError("the state directory path is empty")
            self.dir = Path(os.path.abspath(directory))
            default_create = False
        self.create = default_create if create is None else create
        self.file = self.dir / STATE_FILE
        #: The state file this store last committed (see transaction()).
        self.committed: Snapshot | None = None
        #: The kernel kept in memory between stores (see load(keep=True)).
        self._held: _Held | None = None
        #: The directory's descriptor while ``exclusive`` holds the writers' lock.
        self._exclusive: int | None = None
        #: After a store or operation that worked: the identity of the state it applied to
        #: and what it changed (kernel.changes), for the read memo; None otherwise.
        self.changes: tuple[str, Changes] | None = None
        #: Whether each commit is durable before it returns (one fdatasync per record: a
        #: store through the FUSE mount is answered to another program). When False, the
        #: records are made durable together by ``sync`` (a command run in-process calls it
        #: before it reports anything): 53 stores of a 16-way create-region then cost one
        #: fdatasync. A process killed meanwhile loses nothing (its appends are in the page
        #: cache); a machine that stops meanwhile loses a tail of records, which is the state
        #: of the command killed earlier: records are appended in order and each is whole.
        self.sync_each = True
        #: Descriptors of state files holding records of ours not yet made durable, by
        #: snapshot generation (another writer may have folded the journal meanwhile).
        self._unsynced: dict[str, int] = {}
        #: How much longer than by default this store lets the journal grow before its
        #: stores fold it: a fork server's children leave the fold to the server, which
        #: makes it when idle (``fold``), with the kernel it holds anyway.
        self.fold_factor = 1

    def exists(self) -> bool:
        return self.file.exists()

    # -- the directory and its lock --------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the writers' lock across several commits of this store: no other writer's
        commit lands between them. A set-up made of several stores (a tracefs instance made,
        then an event enabled in it) needs this: each store applies to the state committed
        when it is made, and one replacing the whole state between two of them would leave
        the second without what the first made. Nested uses hold the lock once."""
        if self._exclusive is not None:
            yield
            return
        with self._locked(self.create) as dirfd:
            self._exclusive = dirfd
            try:
                yield
            finally:
                self._exclusive = None

    @contextlib.contextmanager
    def _locked(self, create: bool) -> Iterator[int]:
        """The directory's descriptor, with the writers' lock held (already, within
        ``exclusive``: a second flock of this process would wait for itself)."""
        if self._exclusive is not None:
            yield self._exclusive
            return
        dirfd = open_dir(str(self.dir), create)
        try:
            fd = open_lock(dirfd, LOCK_FILE, str(self.dir / LOCK_FILE))
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._clean_leftovers(dirfd)
                yield dirfd
            finally:
                os.close(fd)
        finally:
            os.close(dirfd)

    def _clean_leftovers(self, dirfd: int) -> None:
        """Remove what killed writers left: every temporary state file (only lock holders
        make them, and we hold the lock) and cache files whose writer is gone."""
        try:
            names = os.listdir(dirfd)
        except OSError:
            return
        for name in names:
            if temp_owner(STATE_FILE, name) is not None or (
                (pid := temp_owner(CACHE_FILE, name)) is not None and not pid_alive(pid)
            ):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=dirfd)

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The state committed now, held open; the default platform is booted on first use."""
        snap = open_snapshot(str(self.dir), self.create)
        if snap.fd is not None:
            return snap
        snap.close()
        with self._locked(self.create) as dirfd:
            if open_regular_or_none(dirfd, STATE_FILE, self.file) is None:
                from fake_sysfs.platform.presets import DEFAULT_PRESET, load_preset

                kernel = boot(load_preset(DEFAULT_PRESET))
                self._write(dirfd, kernel, Origin("preset", DEFAULT_PRESET)).close()
        return open_snapshot(str(self.dir), False)

    def load(self, snap: Snapshot | None = None, keep: bool = False) -> tuple[Kernel, Origin]:
        """The state of ``snap`` (default: the state committed now).

        ``keep``: the kernel returned is the one this store keeps in memory and applies its
        stores to (the in-process frontend's live view shares it): a later ``load`` of a
        newer state of the same snapshot only replays the journal records it lacks."""
        if snap is None:
            snap = self.snapshot()
            try:
                return self.load(snap, keep)
            finally:
                snap.close()
        held = self._held
        if keep and held is not None and held.follows(snap):
            assert snap.fd is not None
            self._catch_up(held, snap.fd, snap.end)
            return held.kernel, held.origin
        assert snap.fd is not None
        decoded = self._decode(snap.fd, snap.end if snap.base is not None else None)
        if keep:
            self._held = decoded
        return decoded.kernel, decoded.origin

    def held_kernel(self) -> Kernel | None:
        """The kernel this store keeps in memory (None after a refused store dropped it)."""
        return None if self._held is None else self._held.kernel

    def forget(self) -> None:
        """Keep no kernel in memory (the next ``load`` decodes the state)."""
        self._held = None

    def _decode(self, fd: int, end: int | None) -> _Held:
        """Decode the state file ``fd``'s snapshot and replay its journal (up to ``end``,
        default: all of it)."""
        # Decoding makes every object of the kernel at once and keeps them all: the cyclic
        # collector, run on the way, would only walk the growing heap again and again.
        collecting = gc.isenabled()
        gc.disable()
        try:
            return self._decode_file(fd, end)
        finally:
            if collecting:
                gc.enable()

    def _decode_file(self, fd: int, end: int | None) -> _Held:
        shown = str(self.file)
        try:
            base, length = read_header(fd)
            end, payloads = scan_journal(fd, length, end)
            raw = unseal_state(_pread_all(fd, length))
            data: dict[str, Any] = json.loads(raw)
        except Damaged as e:
            raise StateError(damaged_state(shown, str(e))) from None
        except OSError as e:
            raise StateError(damaged_state(shown, e.strerror)) from None
        except ValueError as e:
            raise StateError(damaged_state(shown, str(e))) from None
        try:
            if data["schema"] != _schema():
                raise ValueError("written by another version (its classes' fields differ)")
            kernel = Kernel.from_rows(data["kernel"])
            origin = Origin(**data["origin"])
            if not (isinstance(origin.kind, str) and isinstance(origin.source, str)):
                raise TypeError("origin")
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise StateError(damaged_state(shown, f"damaged: {_reason(e)}")) from None
        except RecursionError:
            raise StateError(damaged_state(shown, "damaged: nested too deep")) from None
        held = _Held(kernel, origin, base, length, length, 0)
        self._replay(held, payloads, end)
        return held

    def _catch_up(self, held: _Held, fd: int, end: int | None = None) -> None:
        """Replay into ``held`` the records committed after it (up to ``end``)."""
        try:
            stop, payloads = scan_journal(fd, held.end, end)
        except Damaged as e:
            self._held = None
            raise StateError(damaged_state(str(self.file), str(e))) from None
        self._replay(held, payloads, stop)

    def _replay(self, held: _Held, payloads: list[bytes], end: int) -> None:
        if payloads:
            from fake_sysfs.journal import ReplayError, replay

            try:
                for payload in payloads:
                    replay(held.kernel, payload)
            except BaseException as e:
                # Half replayed, the kernel is no state that was ever committed.
                if self._held is held:
                    self._held = None
                if isinstance(e, ReplayError):
                    raise StateError(damaged_state(str(self.file), str(e))) from None
                raise
        held.records += len(payloads)
        held.end = end

    # -- writing ---------------------------------------------------------------------------

    def _write(self, dirfd: int, kernel: Kernel, origin: Origin) -> Snapshot:
        """Commit ``kernel`` as a new snapshot, durably (the lock is held). Returns the
        committed file, open.

        Until the rename, nothing is changed; after it, the state is committed, so what
        remains (dropping the stale read cache) cannot fail the command."""
        # The rows are 30,000 new lists at 1,024 memdevs, all garbage a moment later: the
        # cyclic collector, run on the way, would walk the whole kernel several times.
        collecting = gc.isenabled()
        gc.disable()
        try:
            payload = seal_state(
                json.dumps(
                    {
                        "origin": {"kind": origin.kind, "source": origin.source},
                        "schema": _schema(),
                        "kernel": kernel.to_rows(),
                    },
                    separators=(",", ":"),
                ).encode()
            )
        finally:
            if collecting:
                gc.enable()
        tmp = temp_name(STATE_FILE)
        fd = -1
        try:
            fd = create_new(dirfd, tmp, 0o644)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            self._replace_state(dirfd, tmp)
            os.fsync(dirfd)
        except BaseException as e:
            if fd >= 0:  # only a file this call created is removed, never one in its way
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=dirfd)
            if isinstance(e, OSError):
                raise StateError(f"cannot write state to {self.dir}: {e.strerror}") from None
            raise
        # Answers recorded for the previous state are stale now. The cache names the
        # generation it belongs to, so one we fail to remove is ignored, never believed.
        with contextlib.suppress(OSError):
            os.unlink(CACHE_FILE, dir_fd=dirfd)
        return Snapshot(str(self.dir), os.dup(dirfd), fd)

    def _replace_state(self, dirfd: int, tmp: str) -> None:
        """rename(tmp, state.json). Something that is not a file in the way (a directory, a
        FIFO, a symlink) is a damaged state: it goes, except a non-empty directory."""
        try:
            os.replace(tmp, STATE_FILE, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except IsADirectoryError:
            try:
                os.rmdir(STATE_FILE, dir_fd=dirfd)
            except OSError:
                raise StateError(
                    f"{self.file} is a directory, not a state file; remove it"
                ) from None
            os.replace(tmp, STATE_FILE, src_dir_fd=dirfd, dst_dir_fd=dirfd)

    def init(self, platform: Platform, origin: Origin, force: bool) -> Kernel:
        """Boot ``platform`` into a new state. Refuses to replace a state unless forced.
        Never reads the old state: this is the recovery from a damaged one."""
        kernel = boot(platform)
        with self._locked(create=True) as dirfd:
            if not force and _present(dirfd, STATE_FILE):
                raise StateError(
                    f"a platform is already initialized in {self.dir}; use --force to replace it"
                )
            self._held = None
            self._write(dirfd, kernel, origin).close()
        return kernel

    def _sync(self, dirfd: int) -> tuple[_Held, int]:
        """The state committed now, in memory, read under the writers' lock (nothing can
        change it), and the state file open for appending. A torn record a killed writer
        left at the end is cut off here."""
        try:
            fd = os.open(STATE_FILE, _APPEND_FLAGS, dir_fd=dirfd)
        except FileNotFoundError:
            raise StateError(
                f"no platform initialized in {self.dir}; run 'fake-sysfs init'"
            ) from None
        except OSError as e:
            raise StateError(damaged_state(str(self.file), e.strerror)) from None
        try:
            if not _is_regular(fd):
                raise StateError(damaged_state(str(self.file), "not a regular file"))
            size = os.fstat(fd).st_size
            held = self._held
            if held is not None and held.follows_file(fd, size):
                self._catch_up(held, fd, size)
            else:
                self._held = None
                held = self._decode(fd, size)
                self._held = held
            if held.end < size:
                os.ftruncate(fd, held.end)
        except BaseException:
            os.close(fd)
            raise
        return held, fd

    def write_attr(self, path: str, data: bytes) -> tuple[int, Kernel]:
        """One store of ``data`` to the sysfs attribute ``path``, committed as one journal
        record: the byte count and the kernel as committed (the one this store keeps).

        A refused store changes nothing but the kernel log; its log records (if any) are
        committed and its KernfsError raised, and the kernel kept in memory is dropped. A
        store that fails after a change it keeps (kernel.attrs.fail_after_change) raises
        FailedAfterChange once that is committed.
        Either way ``committed`` holds the state committed, open."""
        from fake_sysfs.journal import perform_store
        from fake_sysfs.kernfs.transact import FailedAfterChange

        if self._held is None:
            self.snapshot().close()  # first use: boot the default platform
        self.changes = None
        with self._locked(self.create) as dirfd:
            held, fd = self._sync(dirfd)
            try:
                before = identity(held.base, held.snapshot_length, held.end)
                with watch(held.kernel) as changes:
                    outcome = perform_store(held.kernel, path, data)
                self._commit(dirfd, fd, held, outcome.record)
                if outcome.error is not None and not outcome.kept:
                    changes = Changes()  # only its kernel log records are committed
            except BaseException:
                self._held = None  # what is in memory may not be what is committed
                raise
            finally:
                os.close(fd)
            if outcome.error is not None and not (outcome.kept or outcome.error.clean):
                self._held = None  # a refused store may have touched it on its way
        self.changes = (before, changes)
        if outcome.error is not None:
            if outcome.kept:
                raise FailedAfterChange(outcome.error.errno or 0, path, held.kernel)
            raise outcome.error
        return outcome.count, held.kernel

    def run_operation(self, name: str, body: dict[str, Any]) -> tuple[Any, Kernel]:
        """Apply the journaled operation ``name`` (journal.OPERATIONS) with ``body`` to the
        state committed now, and commit it as one record: its result and the kernel as
        committed. A refused operation (journal.Refused) commits only the log lines it made
        (if any) and is raised."""
        from fake_sysfs.journal import Refused, perform_operation

        if self._held is None:
            self.snapshot().close()  # first use: boot the default platform
        self.changes = None
        with self._locked(self.create) as dirfd:
            held, fd = self._sync(dirfd)
            try:
                before = identity(held.base, held.snapshot_length, held.end)
                with watch(held.kernel) as changes:
                    result, record = perform_operation(held.kernel, name, body)
                self._commit(dirfd, fd, held, record)
            except Refused as e:
                if e.record:
                    self._commit(dirfd, fd, held, e.record)
                self._held = None  # not trusted past a refusal: reloaded when next needed
                # Only its kernel log records (if any) are committed.
                self.changes = (before, Changes())
                raise
            except BaseException:
                # A refusal changes nothing by contract, but what is in memory is not
                # trusted past one (nor past any other failure).
                self._held = None
                raise
            finally:
                os.close(fd)
        self.changes = (before, changes)
        return result, held.kernel

    def _commit(self, dirfd: int, fd: int, held: _Held, record: bytes) -> None:
        """Under the lock: append ``record`` (none when empty), then fold the journal into a
        new snapshot if it has grown past its limits, else keep the state as committed."""
        if record:
            self._append(fd, held, record)
        if self.committed is not None:
            self.committed.close()
            self.committed = None
        if record and _compaction_due(held, self.fold_factor):
            self._compact(dirfd, held)
        else:
            self.committed = Snapshot(
                str(self.dir),
                os.dup(dirfd),
                os.dup(fd),
                (held.base, held.snapshot_length, held.end),
            )

    def _append(self, fd: int, held: _Held, record: bytes) -> None:
        """Commit one journal record durably at the end of the state file."""
        frame = (
            bytes((RECORD_MARK,))
            + len(record).to_bytes(4, "big")
            + zlib.crc32(record).to_bytes(4, "big")
            + record
        )
        try:
            at = held.end
            view = memoryview(frame)
            while view:
                written = os.pwrite(fd, view, at)
                view = view[written:]
                at += written
            if self.sync_each:
                os.fdatasync(fd)
            elif held.base not in self._unsynced:
                self._unsynced[held.base] = os.dup(fd)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, held.end)
            raise StateError(f"cannot write state to {self.dir}: {e.strerror}") from None
        held.end += len(frame)
        held.records += 1

    def sync(self) -> None:
        """Make the records this store appended durable (see ``sync_each``)."""
        unsynced, self._unsynced = self._unsynced, {}
        failed: OSError | None = None
        for fd in unsynced.values():
            try:
                os.fdatasync(fd)
            except OSError as e:
                failed = failed or e
            finally:
                os.close(fd)
        if failed is not None:
            raise StateError(f"cannot write state to {self.dir}: {failed.strerror}")

    def _compact(self, dirfd: int, held: _Held) -> None:
        """Fold the journal into a new snapshot: a cold reader replays at most
        COMPACT_RECORDS stores."""
        committed = self._write(dirfd, held.kernel, held.origin)
        assert committed.base is not None
        held.base, held.snapshot_length, held.end = (
            committed.base,
            committed.snapshot_length,
            committed.end,
        )
        held.records = 0
        self.committed = committed

    def fold_due(self) -> bool:
        """Whether the journal behind the kernel kept has grown past the default limits."""
        return self._held is not None and _compaction_due(self._held)

    def fold(self, renaming: Renaming | None = None) -> None:
        """Fold the journal into a new snapshot now, from the kernel kept (caught up under
        the writers' lock first), if it is past the default limits. The state stays what
        it was, under another identity: ``renaming(dirfd, before)``, called with the lock
        held before the fold, returns what to call with the identity after it (the read
        memo, which the new snapshot would otherwise drop, carried over)."""
        with self._locked(self.create) as dirfd:
            held, fd = self._sync(dirfd)
            os.close(fd)
            if not _compaction_due(held):
                return
            rename = None
            if renaming is not None:
                rename = renaming(dirfd, identity(held.base, held.snapshot_length, held.end))
            self._compact(dirfd, held)
            if self.committed is not None:
                self.committed.close()
                self.committed = None
            if rename is not None:
                rename(identity(held.base, held.snapshot_length, held.end))

    def reset(self) -> tuple[Kernel, Origin]:
        """Reboot the stored platform: every change since boot is discarded."""
        with self._locked(self.create) as dirfd:
            held, fd = self._sync(dirfd)
            os.close(fd)
            self._held = None
            fresh = boot(held.kernel.platform)
            self._write(dirfd, fresh, held.origin).close()
            return fresh, held.origin

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Kernel]:
        """Lock, load, let the caller apply any change, save it as a new snapshot. Nothing
        is saved if it raises. Afterwards ``committed`` holds the state file written, open.
        (Stores are cheaper: ``write_attr`` appends one journal record.)"""
        self.changes = None  # what the caller changes is not watched
        self.snapshot().close()  # first use: boot the default platform
        with self._locked(self.create) as dirfd:
            held, fd = self._sync(dirfd)
            os.close(fd)
            try:
                yield held.kernel
            except BaseException:
                self._held = None
                raise
            if self.committed is not None:
                self.committed.close()
            self._compact(dirfd, held)


#: What a fold's caller gives to carry the read memo over (StateStore.fold).
Renaming = Callable[[int, str], Callable[[str], None] | None]

#: The store a fork server's child inherits, its kernel loaded (frontends/forkserver.py).
_inherited: StateStore | None = None


def inherit(store: StateStore) -> None:
    """Make ``store`` the one this process's in-process frontend uses for its directory."""
    global _inherited
    _inherited = store


def inherited() -> StateStore | None:
    """The store this process inherited, if it is the default state directory's now."""
    store = _inherited
    if store is None:
        return None
    wanted = _default_state_dir()
    if str(store.dir) == wanted:
        return store
    try:  # the same directory by another path (a symlink on the way)
        mine, theirs = os.stat(store.dir), os.stat(wanted)
    except OSError:
        return None
    return store if (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino) else None


@functools.cache
def _schema() -> dict[str, list[str]]:
    """The field lists a snapshot's rows are read with (codec.schema), computed once."""
    return codec.schema(Kernel)


#: Fold the journal into a new snapshot once it holds this many records or bytes.
COMPACT_RECORDS = 256
COMPACT_BYTES = 1 << 20
#: ... or sooner: every process that decodes the state replays every record (r = 0.2 to
#: 0.3 ms each at 1,024 memdevs, mostly resolving its path), while writing a snapshot costs
#: C = about 25 ms per MiB of it (60 ms for scale-1024's 2.4 MiB of rows, 1 ms for
#: qemu-mixed's). A command of R stores then pays on average half a journal's replay plus
#: R/L of a snapshot, r*L/2 + C*R/L: at 1,024 memdevs, for R = 35 to 53 (a 16-way
#: destroy-region, create-region), that is flat from L = 150 to 256 (36 to 39 ms). The
#: rarer fold is chosen there, as the command that folds pays its 60 ms at once: one record
#: per 8 KiB of snapshot, capped at COMPACT_RECORDS. Small platforms, whose snapshots cost
#: next to nothing, fold every COMPACT_MIN_RECORDS.
SNAPSHOT_BYTES_PER_RECORD = 8 << 10
COMPACT_MIN_RECORDS = 16


def _compaction_due(held: _Held, factor: int = 1) -> bool:
    limit = held.snapshot_length // SNAPSHOT_BYTES_PER_RECORD
    limit = min(COMPACT_RECORDS, max(COMPACT_MIN_RECORDS, limit))
    return held.records >= limit * factor or held.journal_bytes() >= COMPACT_BYTES * factor


_APPEND_FLAGS = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass
class _Held:
    """The kernel a store keeps in memory, and the committed state it is: the snapshot's
    generation and length, and the end of the journal it has replayed."""

    kernel: Kernel
    origin: Origin
    base: str
    snapshot_length: int
    end: int
    records: int

    def follows(self, snap: Snapshot) -> bool:
        """``snap`` is this state, or a later one of the same snapshot."""
        return snap.base == self.base and self.end <= snap.end

    def follows_file(self, fd: int, size: int) -> bool:
        try:
            base, _ = read_header(fd)
        except Damaged:
            return False
        return base == self.base and self.end <= size

    def journal_bytes(self) -> int:
        return self.end - self.snapshot_length


#: The snapshot's header: generation, checksum and length (statedir.HEADER_LEN).
_CHECK = b'","check":"'
_LENGTH = b'","length":"'
_CHECK_AT = len(STATE_HEADER) + GENERATION_LEN + len(_CHECK)
_LENGTH_AT = _CHECK_AT + 8 + len(_LENGTH)


def seal_state(body: bytes) -> bytes:
    """The snapshot for the JSON object ``body``: the same object with a new generation,
    the checksum and the snapshot's length as its first members (readers find them at
    fixed places)."""
    if not body.startswith(b"{"):
        raise ValueError("a state is a JSON object")
    head = STATE_HEADER + new_generation().encode() + _CHECK
    rest = b'",' + body[1:] if body != b"{}" else b'"}'
    length = len(head) + 8 + len(_LENGTH) + 16 + len(rest)
    tail = _LENGTH + b"%016x" % length + rest
    crc = zlib.crc32(head + b"00000000" + tail)
    return head + b"%08x" % crc + tail


def unseal_state(data: bytes) -> bytes:
    """``data`` (a snapshot, as long as its header says) if its header is this version's
    and its checksum holds; else ValueError saying which. (The bytes stay one JSON object:
    nothing needs to be cut off.)"""
    if not data.startswith(STATE_HEADER):
        if data.startswith(b'{"format":'):
            raise ValueError(f"written in another format; this version reads {STATE_FORMAT}")
        raise ValueError("not a state file")
    digits = data[_CHECK_AT : _CHECK_AT + 8]
    if data[_CHECK_AT - len(_CHECK) : _CHECK_AT] != _CHECK or len(digits) != 8:
        raise ValueError("damaged: no checksum")
    if digits.strip(b"0123456789abcdef"):
        raise ValueError("damaged: no checksum")
    length = data[_LENGTH_AT : _LENGTH_AT + 16]
    if data[_LENGTH_AT - len(_LENGTH) : _LENGTH_AT] != _LENGTH or length.strip(b"0123456789abcdef"):
        raise ValueError("damaged: no length")
    if int(length, 16) != len(data):
        raise ValueError("damaged: truncated")
    crc = int(digits, 16)
    if zlib.crc32(data[:_CHECK_AT] + b"00000000" + data[_CHECK_AT + 8 :]) != crc:
        raise ValueError("damaged: checksum mismatch")
    return data


def open_regular_or_none(dirfd: int, name: str, shown: Path) -> int | None:
    """``open_regular``, with a non-file in the way reported as a damaged state."""
    try:
        return open_regular(dirfd, name)
    except NotRegular as e:
        raise StateError(damaged_state(str(shown), str(e))) from None


def _present(dirfd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dirfd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_regular(fd: int) -> bool:
    import stat

    return stat.S_ISREG(os.fstat(fd).st_mode)


def _pread_all(fd: int, length: int) -> bytes:
    """The first ``length`` bytes of the file ``fd`` (fewer if it is shorter)."""
    chunks: list[bytes] = []
    at = 0
    while at < length:
        chunk = os.pread(fd, min(length - at, 1 << 24), at)
        if not chunk:
            break
        chunks.append(chunk)
        at += len(chunk)
    return b"".join(chunks)


def _read_all(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    chunks: list[bytes] = []
    offset = 0
    while True:
        chunk = os.pread(fd, max(size - offset, 1 << 16), offset)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        offset += len(chunk)


def _reason(e: BaseException) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.splitlines()[0][:200] if text else type(e).__name__


def _exists(name: str) -> bool:
    """Whether a platform file of this name is there; a name no file can have (too long,
    a NUL in it) is a clean refusal, not an internal error."""
    try:
        os.stat(name)
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as e:
        raise PlatformError(f"platform file {name[:80]!r}: {_reason(e)}") from None
    return True


def load_platform_source(platform: str | None, qemu: str | None) -> tuple[Platform, Origin]:
    """A platform from a preset name, a platform file, or a QEMU command line."""
    if platform is not None and qemu is not None:
        raise PlatformError("give either --platform or --qemu, not both")
    if qemu is not None:
        from fake_sysfs.platform.qemu import parse_qemu

        return parse_qemu(qemu), Origin("qemu", qemu)
    from fake_sysfs.platform.presets import DEFAULT_PRESET, load_preset, preset_names

    if platform == "":
        raise PlatformError("--platform: the name is empty")
    name = platform or DEFAULT_PRESET
    is_preset = name in preset_names() or name.startswith("scale")
    if not is_preset and _exists(name):
        from fake_sysfs.platform.toml_file import load_platform_file

        return load_platform_file(Path(name)), Origin("file", os.path.abspath(name))
    if not is_preset and ("/" in name or name.endswith(".toml")):
        raise PlatformError(f"platform file {name!r} does not exist")
    return load_preset(name), Origin("preset", name)
