"""Where a platform's state lives, and the rules for touching anything in that directory.

Kept apart from the store itself, and free of heavy imports, so that readers which only need
the paths (the in-process frontend answering from its read cache) import nothing else.

The directory's guarantees, enforced here for every file the tools open in it:

* It is checked before use as ssh checks its files: owned by the user (or by root) and not
  writable by group or others. Every file in it is then opened relative to a descriptor of
  that directory, so a directory swapped under the path mid-command cannot redirect a write.
* Files are opened with ``O_NOFOLLOW | O_NONBLOCK``, and only a regular file is used: a
  planted symlink is never followed, a FIFO never blocks, a device never reaches a driver.
* New files are created with ``O_CREAT | O_EXCL``, so nothing that already exists under a
  temporary name (a planted symlink, another process's file) is ever written through.
"""

from __future__ import annotations

import os
import stat
import zlib

from fake_sysfs.errors import StateError

STATE_FILE = "state.json"
LOCK_FILE = "lock"
#: The in-process frontend's persistent read cache (frontends/readcache.py).
CACHE_FILE = "reads.cache"

#: Bumped whenever the stored state's shape changes incompatibly.
STATE_FORMAT = 7
#: Every state file begins with these bytes and a 32-hex-digit generation: a random name for
#: the snapshot it holds. The snapshot's checksum and length follow (store.py), then the
#: journal: the stores committed since the snapshot, appended one record each (below). The
#: generation and the end of the last whole record identify a committed state, for the read
#: cache, whatever inode numbers and timestamp granularity the filesystem has.
STATE_HEADER = b'{"format":%d,"generation":"' % STATE_FORMAT
GENERATION_LEN = 32
#: After the generation: '","check":"' 8 hex digits '","length":"' 16 hex digits '"'.
_CHECK_FIELD = b'","check":"'
_LENGTH_FIELD = b'","length":"'
HEADER_LEN = len(STATE_HEADER) + GENERATION_LEN + len(_CHECK_FIELD) + 8 + len(_LENGTH_FIELD) + 17

#: A journal record: this byte, the payload's length and CRC-32 (4 bytes each, big-endian),
#: then the payload. A record that runs past the end of the file is a torn append (its
#: writer was killed before it reported the store): it is not committed, readers stop before
#: it and the next writer cuts it off. A whole record with a wrong marker or checksum is
#: damage, never skipped silently.
RECORD_MARK = 0x1E
RECORD_HEAD = 9

_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CREATE_FLAGS = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def default_state_dir() -> str:
    """``$FAKE_SYSFS_STATE``, else ``$XDG_STATE_HOME/fake-sysfs``, else
    ``~/.local/state/fake-sysfs``, per the XDG base directory rules: an empty variable is
    unset, and a relative ``XDG_STATE_HOME`` is invalid and ignored. The home directory is
    ``$HOME`` when absolute, else the password database's. A string: pathlib costs a start-up
    that a cached ``cxl list`` cannot afford."""
    explicit = os.environ.get("FAKE_SYSFS_STATE")
    if explicit:
        return os.path.abspath(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and os.path.isabs(xdg):
        return os.path.join(xdg, "fake-sysfs")
    return os.path.join(_home(), ".local", "state", "fake-sysfs")


def _home() -> str:
    home = os.environ.get("HOME")
    if home and os.path.isabs(home):
        return home
    import pwd

    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = ""
    if not home or not os.path.isabs(home):
        raise StateError(
            "no home directory to keep the state in; set FAKE_SYSFS_STATE to a directory"
        )
    return home


def state_dir_is_explicit() -> bool:
    """The user named the directory (``$FAKE_SYSFS_STATE``): it is not created for them."""
    return bool(os.environ.get("FAKE_SYSFS_STATE"))


def open_dir(path: str, create: bool) -> int:
    """A descriptor of the state directory, after checking that it is safe to use.

    ``create``: make it (and missing parents, private) when it does not exist; otherwise a
    missing directory is refused, so a mistyped path never becomes a new platform."""
    if not path:
        raise StateError("the state directory path is empty")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        if not create:
            raise StateError(
                f"state directory {path} does not exist; run 'fake-sysfs init --state {path}'"
            ) from None
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise StateError(f"cannot create state directory {path}: {e.strerror}") from None
    except OSError as e:
        raise StateError(f"cannot use state directory {path}: {e.strerror}") from None
    try:
        check_dir(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_dir(fd: int, path: str) -> None:
    """Refuse a directory another user could plant files in."""
    st = os.fstat(fd)
    if st.st_uid not in (os.geteuid(), 0):
        raise StateError(
            f"state directory {path} belongs to uid {st.st_uid}, not to you; refusing to use it"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise StateError(
            f"state directory {path} is writable by others (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run 'chmod go-w {path}' or choose another"
        )


class NotRegular(Exception):
    """A name in the state directory is not a regular file (a FIFO, a directory, a link)."""


def open_regular(dirfd: int, name: str) -> int | None:
    """``name`` opened for reading if it is a regular file; None if it does not exist.
    Raises NotRegular for anything else, without ever blocking or following a link."""
    try:
        fd = os.open(name, _READ_FLAGS, dir_fd=dirfd)
    except FileNotFoundError:
        return None
    except OSError as e:
        # ELOOP: a symlink (O_NOFOLLOW); EISDIR cannot happen for O_RDONLY, ENXIO: a socket.
        raise NotRegular(os.strerror(e.errno or 0)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotRegular("not a regular file")
    return fd


def create_new(dirfd: int, name: str, mode: int = 0o600) -> int:
    """Create ``name`` for writing (and reading back); fails if anything of that name
    exists (OSError)."""
    return os.open(name, _CREATE_FLAGS, mode, dir_fd=dirfd)


class Damaged(Exception):
    """A state file whose header or journal is not what a writer wrote."""


def read_header(fd: int) -> tuple[str, int]:
    """(generation, snapshot length) from a state file's header. Raises Damaged."""
    try:
        head = os.pread(fd, HEADER_LEN, 0)
    except OSError as e:
        raise Damaged(e.strerror) from None
    if not head.startswith(STATE_HEADER):
        if head.startswith(b'{"format":'):
            raise Damaged(f"written in another format; this version reads {STATE_FORMAT}")
        raise Damaged("not a state file")
    at = len(STATE_HEADER)
    generation = head[at : at + GENERATION_LEN]
    at += GENERATION_LEN
    if head[at : at + len(_CHECK_FIELD)] != _CHECK_FIELD:
        raise Damaged("bad header")
    at += len(_CHECK_FIELD) + 8
    length = head[at + len(_LENGTH_FIELD) : at + len(_LENGTH_FIELD) + 16]
    if (
        len(generation) != GENERATION_LEN
        or generation.strip(b"0123456789abcdef")
        or head[at : at + len(_LENGTH_FIELD)] != _LENGTH_FIELD
        or len(length) != 16
        or length.strip(b"0123456789abcdef")
        or head[-1:] != b'"'
    ):
        raise Damaged("bad header")
    return generation.decode(), int(length, 16)


def scan_journal(fd: int, start: int, size: int | None = None) -> tuple[int, list[bytes]]:
    """The journal records from ``start`` (a record boundary) to the end of the file:
    (end of the last whole record, their payloads). Raises Damaged."""
    if size is None:
        size = os.fstat(fd).st_size
    if size <= start:
        if size < start:
            raise Damaged("shorter than its snapshot")
        return start, []
    try:
        data = os.pread(fd, size - start, start)
    except OSError as e:
        raise Damaged(e.strerror) from None
    payloads: list[bytes] = []
    at = 0
    while at + RECORD_HEAD <= len(data):
        if data[at] != RECORD_MARK:
            raise Damaged(f"journal damaged at byte {start + at}")
        length = int.from_bytes(data[at + 1 : at + 5], "big")
        end = at + RECORD_HEAD + length
        if end > len(data):
            break  # torn: not committed
        payload = data[at + RECORD_HEAD : end]
        if zlib.crc32(payload) != int.from_bytes(data[at + 5 : at + 9], "big"):
            raise Damaged(f"journal damaged at byte {start + at}")
        payloads.append(payload)
        at = end
    return start + at, payloads


def identity(generation: str, snapshot_length: int, end: int) -> str:
    """The name of a committed state: its snapshot's generation, and how much journal
    follows it."""
    return generation if end == snapshot_length else f"{generation}+{end}"


def read_generation(fd: int) -> str | None:
    """The identity of the state a state file holds now (``identity``); None when it is not
    a state file of ours or its journal is damaged."""
    try:
        generation, length = read_header(fd)
        end, _ = scan_journal(fd, length)
    except Damaged:
        return None
    return identity(generation, length, end)


def new_generation() -> str:
    return os.urandom(GENERATION_LEN // 2).hex()


def pid_alive(pid: int) -> bool:
    """Whether a process of this id exists (a temporary file's writer may still need it)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours to signal
    return True


def temp_name(base: str) -> str:
    """A fresh temporary name beside ``base``: ``base.PID.RANDOM.tmp``."""
    return f"{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp"


def temp_owner(base: str, name: str) -> int | None:
    """The writer's pid of a temporary file made by ``temp_name(base)``, else None."""
    if not (name.startswith(base + ".") and name.endswith(".tmp")):
        return None
    pid = name[len(base) + 1 :].split(".", 1)[0]
    return int(pid) if pid.isascii() and pid.isdigit() else None


class Snapshot:
    """One committed state, held open. A commit never writes a state file in place: it
    renames a new one over it. So whatever is committed later, this descriptor goes on
    reading the state it was opened on, and every answer a process derives from it (from
    the read cache or from the kernel it loads) describes that one state.

    ``dirfd`` is the checked state directory; ``fd`` is None when no state exists yet."""

    __slots__ = ("base", "dirfd", "end", "fd", "generation", "path", "snapshot_length")

    def __init__(
        self, path: str, dirfd: int, fd: int | None, at: tuple[str, int, int] | None = None
    ) -> None:
        """``at``: (generation, snapshot length, journal end) when the caller knows them
        (it just wrote them); otherwise they are read from the file as it is now."""
        self.path = path
        self.dirfd = dirfd
        self.fd = fd
        #: The snapshot's generation, its length and the end of the journal this state
        #: includes (the file may grow later: records past ``end`` are not part of it).
        self.base: str | None = None
        self.snapshot_length = 0
        self.end = 0
        if at is None and fd is not None:
            try:
                base, length = read_header(fd)
                at = (base, length, scan_journal(fd, length)[0])
            except Damaged:
                at = None  # loading it says what is wrong
        if at is not None:
            self.base, self.snapshot_length, self.end = at
        self.generation = None if at is None else identity(*at)

    def close(self) -> None:
        for fd in (self.fd, self.dirfd):
            if fd is not None and fd >= 0:
                try:  # noqa: SIM105 - contextlib is an import the cached path does without
                    os.close(fd)
                except OSError:
                    pass
        self.fd = None
        self.dirfd = -1

    def __del__(self) -> None:
        self.close()


def open_lock(dirfd: int, name: str, shown: str) -> int:
    """The lock file ``name`` in the checked directory ``dirfd`` (``shown``: its path, for
    messages), opened for flock, made if missing; never through a symlink, and only a
    regular file."""
    try:
        fd = os.open(name, _LOCK_FLAGS, 0o600, dir_fd=dirfd)
    except OSError as e:
        raise StateError(f"cannot use lock file {shown}: {e.strerror}; remove it") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StateError(f"lock file {shown} is not a regular file; remove it")
    return fd


def open_snapshot(path: str, create: bool) -> Snapshot:
    """The state committed now in the directory at ``path``, held open."""
    dirfd = open_dir(path, create)
    try:
        fd = open_regular(dirfd, STATE_FILE)
    except NotRegular as e:
        os.close(dirfd)
        raise StateError(damaged_state(os.path.join(path, STATE_FILE), str(e))) from None
    except OSError as e:
        os.close(dirfd)
        raise StateError(damaged_state(os.path.join(path, STATE_FILE), e.strerror)) from None
    return Snapshot(path, dirfd, fd)


def damaged_state(file: str, why: str | None) -> str:
    """The one line for a state file that cannot be used, with the recovery that works:
    ``init --force`` never reads the old file (``reset`` would need it)."""
    return f"state file {file} is unusable ({why}); run 'fake-sysfs init --force' to start over"
