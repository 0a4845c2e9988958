"""A persistent memo of what the emulated /sys answered, for one committed state.

Every read-side answer of the kernfs view (an attribute's bytes, a listing, a link's
resolution, an errno) is a pure function of the kernel state: nothing in the emulation
changes on a read. So the answers one process computed hold for every later process, until
the next commit changes the state. The in-process frontend records them here and saves them
beside ``state.json``; the next process answers repeated reads from the memo without loading
the state or building the tree at all, the way a real kernel keeps sysfs in memory.

Validity: the memo names the state its answers came from (statedir.identity: the random
generation of the state file's snapshot and the end of the journal of stores after it) and
a key of the emulation's own source files. It is used only while both match the snapshot
the process holds (statedir.Snapshot), so another process's store, a ``fake-sysfs reset``
or a new version of the code makes it stale at once, and a process never mixes answers of
two states.
Nothing read from disk is believed unchecked: the file carries a checksum and its length,
and one that fails them is ignored. It is an optimization only: a missing, stale, damaged
or unwritable memo, or something that is not a file in its place, just means answers are
computed again.

A store of this process does not make all of it stale (``carry``): the store names the
devices it changed (kernel/changes.py), and only the directories that show them are
forgotten, and asked again before the memo is saved. For that each directory's answers
are kept with the device whose directory holds it (none for ``/sys/bus``, ``/sys/class``,
tracefs, ``/dev/cxl``: those are forgotten at every store, but for what the directories
that index devices by name say of the devices the store did not touch). A directory
goes when its device changed, came or went, or is the ancestor of one that did (its
directory lists it, and some sum what their children hold).

Layout: a magic line, the CRC-32 and length of the rest, then the rest: a marshal of the
format, code key, generation, the answers grouped by directory (the directory a path
names, as asked), each group its own marshal blob, so loading the file decodes only the
group index, and a listing decodes the groups it touches; and where each group is.
"""

from __future__ import annotations

import marshal
import os
import zlib

from fake_sysfs.statedir import (
    CACHE_FILE,
    STATE_FILE,
    NotRegular,
    create_new,
    open_regular,
    pid_alive,
    read_generation,
    temp_name,
    temp_owner,
)

# Not imported at run time: typing alone costs a cached listing a tenth of its time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any

    from fake_sysfs.kernel.changes import Changes
    from fake_sysfs.statedir import Snapshot

    #: Where a group is: the keys of the devices whose directories it depends on (the
    #: one that holds it, and those holding links on its path); None: no device holds it.
    Place = tuple[str, ...] | None

#: Bump when the meaning of keys or answers changes.
CACHE_FORMAT = 4
MAGIC = b"fake-sysfs reads.cache\n"
#: After the magic: CRC-32 (4 bytes) and length (8 bytes) of the payload, big-endian.
_HEADER = len(MAGIC) + 12
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Miss:
    __slots__ = ()


#: What ``get`` returns for an answer not recorded (answers are bytes, str, bool, int or
#: tuples: see the frontend for what each key kind holds).
MISS: Any = _Miss()


def code_key() -> tuple[tuple[str, int, int], ...]:
    """(file, size, mtime) of every module of fake_sysfs: a new or edited emulation must
    never be answered from a memo the old one wrote."""
    return source_stamps(_PACKAGE)


def source_stamps(package: str) -> tuple[tuple[str, int, int], ...]:
    """(file below ``package``, size, mtime) of every Python source of the package
    directory ``package``, sorted (OSError when it cannot be read)."""
    found = []
    stack = [package]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append((entry.path[len(package) :], st.st_size, st.st_mtime_ns))
                elif entry.is_dir() and entry.name != "__pycache__":
                    stack.append(entry.path)
    return tuple(sorted(found))


def seal(payload: bytes) -> bytes:
    """The file's bytes for ``payload``: magic, checksum, length, payload."""
    crc = zlib.crc32(payload)
    return MAGIC + crc.to_bytes(4, "big") + len(payload).to_bytes(8, "big") + payload


def unseal(data: bytes) -> bytes | None:
    """The payload of a sealed file; None when anything about it does not check out."""
    if len(data) < _HEADER or not data.startswith(MAGIC):
        return None
    crc = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
    length = int.from_bytes(data[len(MAGIC) + 4 : _HEADER], "big")
    payload = data[_HEADER:]
    if len(payload) != length or zlib.crc32(payload) != crc:
        return None
    return payload


class ReadCache:
    def __init__(self) -> None:
        #: The snapshot the answers belong to; None until attached.
        self.snap: Snapshot | None = None
        self._code: tuple[tuple[str, int, int], ...] | None = None
        self._blobs: dict[str, bytes] = {}
        self._groups: dict[str, dict[Any, Any]] = {}
        self._dirty: set[str] = set()
        #: Where each group recorded is (_Places), as loaded (undecoded until needed) and
        #: decoded; and what finds where a new group is (the frontend, which has the
        #: kernel).
        self._where_blob: bytes | None = None
        self._where: _Places | None = None
        self.locate: Callable[[str], Place] | None = None
        #: For each group that indexes devices by name that was looked at: its keys that
        #: name no device (listings and the like).
        self._unnamed: dict[str, set[Any]] = {}
        #: Groups a store made stale, with the keys they held: asked again before saving.
        self._stale: dict[str, set[Any]] = {}
        #: Listings of directories that index devices by name a store made stale, as they
        #: were, and the names of the devices the stores changed (take_revisable).
        self._bases: dict[tuple[str, str], tuple[str, ...]] = {}
        self._changed_names: set[str] = set()
        #: Keys of the devices the stores carried over registered.
        self.came: set[str] = set()
        #: Whether answers were carried over a store (the memo then needs saving).
        self.carried = False

    def _code_key(self) -> tuple[tuple[str, int, int], ...]:
        if self._code is None:
            self._code = code_key()
        return self._code

    def attach(self, snap: Snapshot, load: bool = True) -> None:
        """Answers from now on describe the state ``snap`` holds: load the memo saved for
        it, if any (``load``); answers recorded for another state are dropped."""
        if self.snap is not None and snap.generation == self.snap.generation:
            self.snap = snap
            return
        self.snap = snap
        self._blobs.clear()
        self._groups.clear()
        self._dirty.clear()
        self._where_blob = None
        self._where = None
        self._unnamed.clear()
        self._stale.clear()
        self._bases.clear()
        self._changed_names.clear()
        self.came.clear()
        self.carried = False
        if snap.generation is None:
            return  # not a state this code wrote: nothing can be known to belong to it
        if not load:
            return
        loaded = self._load(snap)
        if loaded is not None:
            self._blobs, self._where_blob = loaded

    def _load(self, snap: Snapshot) -> tuple[dict[str, bytes], bytes] | None:
        saved = _read_memo(snap.dirfd, snap.generation)
        if saved is None:
            return None
        code, blobs, places = saved
        if code != self._code_key():
            return None
        if not (isinstance(blobs, dict) and isinstance(places, bytes)):
            return None
        return blobs, places

    def group(self, group: str) -> dict[Any, Any] | None:
        """The answers recorded for one directory (None: none yet). Read-only for callers."""
        answers = self._groups.get(group)
        if answers is None:
            blob = self._blobs.get(group)
            if blob is None:
                return None
            answers = self._groups[group] = marshal.loads(blob)
        return answers

    def get(self, group: str, key: Any) -> Any:
        """The recorded answer, or MISS."""
        answers = self._groups.get(group)
        if answers is None:
            answers = self.group(group)
            if answers is None:
                return MISS
        return answers.get(key, MISS)

    def put(self, group: str, key: Any, answer: Any) -> None:
        self._writable(group)[key] = answer
        if self._unnamed:
            self._note_unnamed(group, (key,))

    def put_many(self, group: str, answers: dict[Any, Any]) -> None:
        """``put`` of several answers of one group."""
        self._writable(group).update(answers)
        if self._unnamed:
            self._note_unnamed(group, answers)

    def _note_unnamed(self, group: str, keys: Iterable[Any]) -> None:
        unnamed = self._unnamed.get(group)
        if unnamed is not None:
            unnamed.update(k for k in keys if not _names_device(k))

    def _writable(self, group: str) -> dict[Any, Any]:
        """A group's answers, to be added to (and saved)."""
        answers = self._groups.get(group)
        if answers is None:
            blob = self._blobs.get(group)
            if blob is not None:
                answers = self._groups[group] = marshal.loads(blob)
            else:
                where = self._where_of()
                where.add(group, None if self.locate is None else self.locate(group))
                answers = self._groups[group] = {}
        self._dirty.add(group)
        return answers

    def _where_of(self) -> _Places:
        """Where the groups are, decoded on first need. Places that do not account for
        every group (a memo not written by this code) cost every answer: a group no
        index knows would never be forgotten."""
        where = self._where
        if where is None:
            where = _Places.loads(self._where_blob) if self._where_blob else _Places()
            self._where_blob = None
            if where.places.keys() != self._blobs.keys() | self._groups.keys():
                self._blobs.clear()
                self._groups.clear()
                self._dirty.clear()
                where = _Places()
            self._where = where
        return where

    # -- across a store --------------------------------------------------------------------

    def carry(self, snap: Snapshot, before: str, changes: Changes) -> None:
        """Answers from now on describe ``snap``, the state a store of this process
        committed: ``before`` names the state it applied to and ``changes`` what it
        changed. Answers of that state that the store cannot have changed are kept; the
        groups it may have changed are forgotten (and remembered, to be asked again
        before saving: ``take_stale``). Anything less certain drops every answer."""
        current = self.snap
        if (
            changes.unknown
            or current is None
            or current.generation is None
            or current.generation != before
            or snap.generation is None
        ):
            self.attach(snap, load=False)
            return
        where = self._where_of()
        for group in where.invalid(changes):
            self._forget(group)
        if where.indexes:
            self._forget_named(where, changes)
        self.came.update(changes.came)
        self.snap = snap
        self.carried = True

    def _forget(self, group: str) -> None:
        answers = self._groups.pop(group, None)
        blob = self._blobs.pop(group, None)
        if answers is None and blob is not None:
            answers = marshal.loads(blob)
        if answers:
            self._stale.setdefault(group, set()).update(answers)
        self._dirty.discard(group)
        self._unnamed.pop(group, None)
        if self._where is not None:
            self._where.remove(group)

    def _forget_named(self, where: _Places, changes: Changes) -> None:
        """In the directories that index devices by name (a bus's ``devices``, a driver's
        directory, a class, ``/dev``): forget the listings, and what was said of the
        devices the store changed, added or removed (named as their directories are)."""
        names = {key.rpartition("/")[2] for key in changes.devices}
        for group in where.indexes:
            answers = self.group(group)
            if answers is None:
                continue
            unnamed = self._unnamed.get(group)
            if unnamed is None:
                unnamed = self._unnamed[group] = {k for k in answers if not _names_device(k)}
            gone = [key for key in unnamed if key in answers]
            gone += [k + name for name in names for k in NAMING_KINDS if k + name in answers]
            if gone:
                answers = self._writable(group)
                self._stale.setdefault(group, set()).update(gone)
                revisable = group.startswith("/sys/")
                for key in gone:
                    old = answers.pop(key)
                    if revisable and _lists(key) and old.__class__ is tuple:
                        self._bases[(group, key)] = old
        self._changed_names.update(names)

    def take_stale(self) -> dict[str, set[Any]]:
        """The groups a store made stale and the keys each held (then forgotten here)."""
        stale, self._stale = self._stale, {}
        return stale

    def take_revisable(self) -> tuple[dict[tuple[str, str], tuple[str, ...]], set[str]]:
        """The listings of /sys directories that index devices by name which stores made
        stale, as they were last recorded (by group and key), and the names of every
        device the stores changed, added or removed. Only entries named so can have come
        or gone since: a listing is its old self with those names checked again."""
        bases, names = self._bases, self._changed_names
        self._bases, self._changed_names = {}, set()
        return bases, names

    def owned(self) -> dict[str, set[str]]:
        """Groups by the keys of the devices they depend on (read-only for callers)."""
        return self._where_of().by_owner

    def unowned(self) -> list[str]:
        """The groups no device holds."""
        where = self._where_of()
        return sorted(where.volatile | where.indexes)

    def groups(self) -> list[str]:
        """Every group recorded."""
        return list(self._blobs.keys() | self._groups.keys())

    def current(self) -> bool:
        """Whether the state these answers describe is still the one committed."""
        snap = self.snap
        if snap is None or snap.generation is None or snap.dirfd < 0:
            return False
        return _committed_generation(snap.dirfd) == snap.generation

    def save(self) -> None:
        """Write the memo back if this process learned something and its state is still the
        committed one. Failures are ignored: the memo is never needed for correctness."""
        snap = self.snap
        if not (self._dirty or self.carried) or snap is None or snap.generation is None:
            return
        if snap.dirfd < 0:
            return
        if _committed_generation(snap.dirfd) != snap.generation:
            return  # a commit landed since: these answers describe an older state
        blobs = dict(self._blobs)
        for group in self._dirty:
            blobs[group] = marshal.dumps(self._groups[group])
        where = self._where.dumps() if self._where is not None else self._where_blob
        data = seal(
            marshal.dumps((CACHE_FORMAT, self._code_key(), snap.generation, blobs, where or b""))
        )
        _clean_dead_writers(snap.dirfd)
        # A commit racing the rename leaves a memo of an older generation in place:
        # harmless, it is ignored by every reader and removed by the next commit.
        if not _replace_memo(snap.dirfd, data):
            return
        self._blobs = blobs
        self._dirty.clear()
        self.carried = False


class _Places:
    """Where each group is (its Place), and the groups by the device that holds them, and
    those no device holds: what ``carry`` looks up. Saved with the memo as one blob,
    decoded only by a process that stores, or records a new group."""

    def __init__(self) -> None:
        self.places: dict[str, Place] = {}
        self.by_owner: dict[str, set[str]] = {}
        #: Held by no device: forgotten at every store ...
        self.volatile: set[str] = set()
        #: ... but for the directories that index devices by name (indexes_devices).
        self.indexes: set[str] = set()

    @classmethod
    def loads(cls, blob: bytes) -> _Places:
        where = cls()
        try:
            where.places, where.by_owner, where.volatile, where.indexes = marshal.loads(blob)
        except (ValueError, EOFError, TypeError):
            return cls()  # then it accounts for no group, and the memo is not used
        return where

    def dumps(self) -> bytes:
        return marshal.dumps((self.places, self.by_owner, self.volatile, self.indexes))

    def add(self, group: str, owners: Place) -> None:
        self.places[group] = owners
        if owners is None:
            (self.indexes if indexes_devices(group) else self.volatile).add(group)
        else:
            for owner in owners:
                self.by_owner.setdefault(owner, set()).add(group)

    def remove(self, group: str) -> None:
        if group not in self.places:
            return
        owners = self.places.pop(group)
        if owners is None:
            self.volatile.discard(group)
            self.indexes.discard(group)
        else:
            for owner in owners:
                self.by_owner.get(owner, set()).discard(group)

    def invalid(self, changes: Changes) -> set[str]:
        """The groups a store that made ``changes`` may have changed: those the devices it
        names hold, and those no device holds (but the ones that index devices by name:
        ReadCache._forget_named)."""
        invalid = set(self.volatile)
        by_owner = self.by_owner
        for key in changes.devices:
            invalid.update(by_owner.get(key, ()))
        for key in changes.above:
            invalid.update(by_owner.get(key, ()))
        return invalid


#: The kinds of answer that, in a directory indexing devices by name, concern one device:
#: a realpath, an exists, an lstat, a /dev node (keyed kind + the device's name).
NAMING_KINDS = "peLD"
#: The answer kinds that list a directory: all of it, or the names with a prefix.
LISTING_KINDS = "ls"


def _lists(key: Any) -> bool:
    """Whether a key asks for a directory's listing (keys of pure stores are bytes)."""
    return key.__class__ is str and key[:1] in LISTING_KINDS


def _names_device(key: Any) -> bool:
    """Whether a key of a directory that indexes devices asks about one device (by the
    name of its link or node there): a realpath, an exists, an lstat, a /dev node."""
    return key.__class__ is str and key[:1] in NAMING_KINDS


def indexes_devices(group: str) -> bool:
    """Whether ``group`` is a directory of links or nodes named after devices, each the
    device's own business: ``/sys/bus/B/devices``, ``/sys/bus/B/drivers/D``,
    ``/sys/class/C``, ``/dev``, ``/dev/cxl``."""
    parts = group.split("/")
    if len(parts) < 2:
        return False  # "" (the root, as the directory of "/sys")
    if parts[1] == "dev":
        return len(parts) == 2 or (len(parts) == 3 and parts[2] == "cxl")
    if parts[1] != "sys":
        return False
    if len(parts) == 5 and parts[2] == "bus" and parts[4] == "devices":
        return True
    if len(parts) == 6 and parts[2] == "bus" and parts[4] == "drivers":
        return True
    return len(parts) == 4 and parts[2] == "class"


def _committed_generation(dirfd: int) -> str | None:
    try:
        fd = open_regular(dirfd, STATE_FILE)
    except (NotRegular, OSError):
        return None
    if fd is None:
        return None
    try:
        return read_generation(fd)
    finally:
        os.close(fd)


def _clean_dead_writers(dirfd: int) -> None:
    """Temporary memo files of killed readers (their pid is gone) go."""
    try:
        names = os.listdir(dirfd)
    except OSError:
        return
    for name in names:
        pid = temp_owner(CACHE_FILE, name)
        if pid is not None and not pid_alive(pid):
            try:  # noqa: SIM105
                os.unlink(name, dir_fd=dirfd)
            except OSError:
                pass


def renaming(dirfd: int, before: str) -> Callable[[str], None] | None:
    """For a writer about to fold the journal into a snapshot (holding the writers' lock,
    so nothing else changes): the memo saved for the state ``before``, read now, and what
    saves it under the identity ``after`` the fold gives the same state. Without it the
    next command would compute every answer again. None when there is no such memo;
    failures are ignored, as for ``save``."""
    saved = _read_memo(dirfd, before)
    if saved is None:
        return None
    code, blobs, places = saved

    def rename(after: str) -> None:
        _replace_memo(dirfd, seal(marshal.dumps((CACHE_FORMAT, code, after, blobs, places))))

    return rename


def _read_memo(dirfd: int, generation: str | None) -> tuple[Any, Any, Any] | None:
    """The code key, answer blobs and places of the memo file, if it is whole, of this
    format, and saved for the state ``generation``; else None (a missing, damaged or
    foreign memo costs only speed)."""
    try:
        fd = open_regular(dirfd, CACHE_FILE)
    except (NotRegular, OSError):
        return None
    if fd is None:
        return None
    try:
        data = _read_all(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    payload = unseal(data)
    if payload is None:
        return None  # damaged
    try:
        fmt, code, saved_for, blobs, places = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None  # sealed by a writer this code cannot read
    if fmt != CACHE_FORMAT or saved_for != generation:
        return None
    return code, blobs, places


def _replace_memo(dirfd: int, data: bytes) -> bool:
    """Write ``data`` as the memo file (a new temporary file renamed over it); whether it
    worked."""
    tmp = temp_name(CACHE_FILE)
    try:
        fd = create_new(dirfd, tmp)
    except OSError:
        return False
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, CACHE_FILE, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except OSError:
        try:  # noqa: SIM105 - contextlib is an import this start-up path does without
            os.unlink(tmp, dir_fd=dirfd)
        except OSError:
            pass
        return False
    return True


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
