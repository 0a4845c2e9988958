"""A persistent memo of what the emulated /sys answered, for one committed state.

Every read-side answer of the kernfs view (an attribute's bytes, a listing, a link's
resolution, an errno) is a pure function of the kernel state: nothing in the emulation
changes on a read. So the answers one process computed hold for every later process, until
the next commit changes the state. The in-process frontend records them here and saves them
beside ``state.json``; the next process answers repeated reads from the memo without loading
the state or building the tree at all, the way a real kernel keeps sysfs in memory.

Validity: the memo carries the identity of the state file its answers came from (inode,
size, mtime; every commit renames a new file in) and a key of the emulation's own source
files. It is used only while both still match, so a commit, a ``fake-sysfs reset`` or a new
version of the code makes it stale at once. It is an optimization only: a missing, stale,
damaged or unwritable memo just means answers are computed again.

Layout: answers are grouped by directory (the directory a path names, as asked), and each
group is stored as its own marshal blob, so loading the file decodes only the group index,
and a listing decodes the groups it touches.
"""

from __future__ import annotations

import marshal
import os

from fake_sysfs.statedir import CACHE_FILE, STATE_FILE, StateIdentity, current_identity

# Not imported at run time: typing alone costs a cached listing a tenth of its time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Bump when the meaning of keys or answers changes.
CACHE_FORMAT = 1
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


class ReadCache:
    def __init__(self, directory: str) -> None:
        self.file = os.path.join(directory, CACHE_FILE)
        self.state_file = os.path.join(directory, STATE_FILE)
        #: The state the answers belong to; None until known (no valid memo, no state read).
        self.ident: StateIdentity | None = None
        self._code: tuple[tuple[str, int, int], ...] | None = None
        self._blobs: dict[str, bytes] = {}
        self._groups: dict[str, dict[Any, Any]] = {}
        self._dirty: set[str] = set()
        self._loaded = False

    def _code_key(self) -> tuple[tuple[str, int, int], ...]:
        if self._code is None:
            self._code = code_key()
        return self._code

    def _load(self) -> None:
        self._loaded = True
        ident = current_identity(self.state_file)
        if ident is None:
            return
        try:
            with open(self.file, "rb") as f:
                fmt, code, saved_ident, blobs = marshal.loads(f.read())
        except (OSError, ValueError, EOFError, TypeError):
            return  # no memo, or one this code cannot read: compute everything again
        if fmt != CACHE_FORMAT or tuple(saved_ident) != ident or code != self._code_key():
            return
        if isinstance(blobs, dict):
            self.ident = ident
            self._blobs = blobs

    def group(self, group: str) -> dict[Any, Any] | None:
        """The answers recorded for one directory (None: none yet). Read-only for callers."""
        answers = self._groups.get(group)
        if answers is None:
            if not self._loaded:
                self._load()
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
        answers = self._groups.get(group)
        if answers is None:
            blob = self._blobs.get(group)
            answers = self._groups[group] = marshal.loads(blob) if blob is not None else {}
        answers[key] = answer
        self._dirty.add(group)

    def adopt(self, ident: StateIdentity | None) -> None:
        """Answers from now on come from the state with this identity; a memo of any other
        state is dropped (a commit happened since it was loaded, or this process wrote)."""
        if not self._loaded:
            self._load()
        if ident != self.ident:
            self._blobs.clear()
            self._groups.clear()
            self._dirty.clear()
            self.ident = ident

    def save(self) -> None:
        """Write the memo back if this process learned something and its state is still the
        committed one. Failures are ignored: the memo is never needed for correctness."""
        if not self._dirty or self.ident is None:
            return
        if current_identity(self.state_file) != self.ident:
            return
        blobs = dict(self._blobs)
        for group in self._dirty:
            blobs[group] = marshal.dumps(self._groups[group])
        payload = marshal.dumps((CACHE_FORMAT, self._code_key(), self.ident, blobs))
        tmp = f"{self.file}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(payload)
            os.replace(tmp, self.file)
        except OSError:
            try:  # noqa: SIM105 - contextlib is an import this start-up path does without
                os.unlink(tmp)
            except OSError:
                pass
            return
        self._blobs = blobs
        self._dirty.clear()
