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
the process holds (statedir.Snapshot), so a store, a ``fake-sysfs reset`` or a new version
of the code makes it stale at once, and a process never mixes answers of two states.
Nothing read from disk is believed unchecked: the file carries a checksum and its length,
and one that fails them is ignored. It is an optimization only: a missing, stale, damaged
or unwritable memo, or something that is not a file in its place, just means answers are
computed again.

Layout: a magic line, the CRC-32 and length of the rest, then the rest: a marshal of the
format, code key, generation and the answers grouped by directory (the directory a path
names, as asked), each group its own marshal blob, so loading the file decodes only the
group index, and a listing decodes the groups it touches.
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
    from typing import Any

    from fake_sysfs.statedir import Snapshot

#: Bump when the meaning of keys or answers changes.
CACHE_FORMAT = 3
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
    found = []
    stack = [_PACKAGE]
    while stack:
        directory = stack.pop()
        with os.scandir(directory) as it:
            for entry in it:
                if entry.name.endswith(".py"):
                    st = entry.stat()
                    found.append((entry.path[len(_PACKAGE) :], st.st_size, st.st_mtime_ns))
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
        if snap.generation is None:
            return  # not a state this code wrote: nothing can be known to belong to it
        if not load:
            return
        loaded = self._load(snap)
        if loaded is not None:
            self._blobs = loaded

    def _load(self, snap: Snapshot) -> dict[str, bytes] | None:
        try:
            fd = open_regular(snap.dirfd, CACHE_FILE)
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
            return None  # damaged: costs only speed
        try:
            fmt, code, generation, blobs = marshal.loads(payload)
        except (ValueError, EOFError, TypeError):
            return None  # sealed by a writer this code cannot read
        if fmt != CACHE_FORMAT or generation != snap.generation or code != self._code_key():
            return None
        if not isinstance(blobs, dict):
            return None
        return blobs

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

    def put_many(self, group: str, answers: dict[Any, Any]) -> None:
        """``put`` of several answers of one group."""
        self._writable(group).update(answers)

    def _writable(self, group: str) -> dict[Any, Any]:
        """A group's answers, to be added to (and saved)."""
        answers = self._groups.get(group)
        if answers is None:
            blob = self._blobs.get(group)
            answers = self._groups[group] = marshal.loads(blob) if blob is not None else {}
        self._dirty.add(group)
        return answers

    def save(self) -> None:
        """Write the memo back if this process learned something and its state is still the
        committed one. Failures are ignored: the memo is never needed for correctness."""
        snap = self.snap
        if not self._dirty or snap is None or snap.generation is None or snap.dirfd < 0:
            return
        if _committed_generation(snap.dirfd) != snap.generation:
            return  # a commit landed since: these answers describe an older state
        blobs = dict(self._blobs)
        for group in self._dirty:
            blobs[group] = marshal.dumps(self._groups[group])
        data = seal(marshal.dumps((CACHE_FORMAT, self._code_key(), snap.generation, blobs)))
        _clean_dead_writers(snap.dirfd)
        tmp = temp_name(CACHE_FILE)
        try:
            fd = create_new(snap.dirfd, tmp)
        except OSError:
            return
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            # A commit racing this rename leaves a memo of an older generation in place:
            # harmless, it is ignored by every reader and removed by the next commit.
            os.replace(tmp, CACHE_FILE, src_dir_fd=snap.dirfd, dst_dir_fd=snap.dirfd)
        except OSError:
            try:  # noqa: SIM105 - contextlib is an import this start-up path does without
                os.unlink(tmp, dir_fd=snap.dirfd)
            except OSError:
                pass
            return
        self._blobs = blobs
        self._dirty.clear()


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


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
