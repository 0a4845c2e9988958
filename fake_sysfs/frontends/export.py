"""The export frontend: materialize the view as plain files in ``DIR/sys`` and ``DIR/dev``.

Attributes become regular files holding what a read returns (write-only or unreadable
attributes become empty files), with the attribute's mode. Links keep sysfs's relative
targets. Device nodes are character devices when the process may create them (root),
otherwise empty regular files (libcxl only stat()s them to enumerate).

Replacing a directory is where an export can destroy data, so the rules are enforced here,
not left to the caller:

* ``DIR`` must be absent, an empty directory, or an earlier export (``--force``): a
  directory whose top holds the marker file ``.fake-sysfs-export`` and nothing but ``sys``,
  ``dev`` and the marker. The root, mount points, non-directories and any other directory
  are refused, with or without ``--force``. A tree exported before the marker existed (just
  ``sys`` and ``dev``) is refused too: telling it from someone's own ``sys`` and ``dev`` is
  guesswork, so its removal is left to the user.
* Atomic against the process being killed: the tree is built in a fresh sibling
  ``.NAME.fake-sysfs-new.PID`` (mode 0700 until complete, marker written last), then moved
  into place in one step: a rename when ``DIR`` is absent, otherwise an exchange
  (renameat2 RENAME_EXCHANGE). At any instant ``DIR`` is the complete old tree, the
  complete new one, or absent if it never existed. Filesystems that cannot exchange get two
  renames; a kill between them leaves the old tree at ``.NAME.fake-sysfs-old.PID``, which
  the next export to ``DIR`` moves back first. Not atomic against power loss: nothing is
  fsync()ed.
* The replaced tree is deleted after the new one is in place (building first also keeps
  ext4 without a journal from scanning the just-freed inodes on every create), through
  directory descriptors: no symbolic link is followed, no other filesystem entered, and
  read-only directories are made writable on the way.
* Siblings left by killed exports (their PID no longer runs) are deleted by the next export
  to the same ``DIR``.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from fake_sysfs.errors import KernfsError, StateError
from fake_sysfs.kernfs.nodes import Attr, Dir, Link
from fake_sysfs.kernfs.view import View, link_text

MARKER = ".fake-sysfs-export"
# The marker's first line: a format number, so a later layout can still be recognized.
MARKER_PREFIX = b"fake-sysfs export format "
MARKER_LINE = MARKER_PREFIX + b"1\n"
_TOP = frozenset({MARKER, "sys", "dev"})
_SIBLING_TAIL = re.compile(r"fake-sysfs-(new|old)\.([0-9]+)")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Kind(Enum):
    """What a path holds, as far as exporting over it goes."""

    ABSENT = "absent"
    EMPTY = "an empty directory"
    EXPORT = "an earlier export"
    NOT_DIR = "it exists and is not a directory"
    OLD_EXPORT = (
        "it is not empty and has no export marker (" + MARKER + "); a tree exported before "
        "exports were marked must be removed by hand"
    )
    EXPORT_AND_MORE = "it holds an earlier export and other files"
    FOREIGN = "it is not empty and holds no earlier export"


@dataclass(frozen=True)
class _Target:
    given: str  # as the user wrote it, for messages
    path: str  # absolute, symbolic links resolved: where the tree really goes
    parent: str
    name: str


def export(
    view: View, dest: str | os.PathLike[str], force: bool = False, char_devices: bool | None = None
) -> int:
    """Write the tree to ``dest`` (see the module's rules). Returns the number of entries
    written. ``dest`` given as the string "" is refused; note that ``Path("")`` is ".".
    """
    target = _resolve(dest)
    try:
        _recover(target)
        kind = _check(target, force)
        _remove_leftovers(target)
        new = _sibling(target, "new", os.getpid())
        count = _build(view, new, _top_mode(target, kind), char_devices)
        _install(target, new, kind, force)
    except OSError as e:
        raise StateError(f"cannot export to {target.given}: {_describe(e)}") from None
    return count


def check_destination(dest: str | os.PathLike[str], force: bool = False) -> None:
    """Refuse ``dest`` now, the way :func:`export` would, before any work is done."""
    target = _resolve(dest)
    try:
        _check(target, force)
    except OSError as e:
        raise StateError(f"cannot export to {target.given}: {_describe(e)}") from None


# == where the tree goes ========================================================================


def _resolve(dest: str | os.PathLike[str]) -> _Target:
    given = os.fspath(dest)
    if given == "":
        raise StateError("refusing to export to an empty path")
    # Resolved, so that a symbolic link to a directory has its target replaced (not the
    # link), and so that "/", "." and ".." are seen for what they are.
    try:
        path = os.path.realpath(given)
    except OSError as e:  # a relative path from a deleted current directory
        raise StateError(f"cannot export to {given}: {_describe(e)}") from None
    if os.path.islink(given) and not os.path.exists(given):
        raise StateError(f"refusing to export to {given}: it is a dangling symbolic link")
    if path == "/":
        raise StateError(f"refusing to export to {given}: it is the root directory")
    parent, name = os.path.split(path)
    # Nothing is created outside DIR and its sibling, not even a missing parent.
    if not os.path.isdir(parent):
        raise StateError(f"cannot export to {given}: its parent directory does not exist")
    return _Target(given, path, parent, name)


def _check(target: _Target, force: bool) -> _Kind:
    _refuse_mounts(target)
    kind = _inspect(target.path)
    if kind is _Kind.EXPORT and not force:
        raise StateError(f"{target.given} holds an earlier export; use --force to replace it")
    if kind not in (_Kind.ABSENT, _Kind.EMPTY, _Kind.EXPORT):
        raise StateError(f"refusing to export to {target.given}: {kind.value}")
    return kind


def _refuse_mounts(target: _Target) -> None:
    if not os.path.lexists(target.path):
        return
    if os.path.ismount(target.path) or (
        os.lstat(target.path).st_dev != os.lstat(target.parent).st_dev
    ):
        raise StateError(f"refusing to export to {target.given}: it is a mount point")
    # Bind mounts of the same filesystem only show in the mount table. A mount below DIR
    # would have its contents deleted along with the old tree.
    inside = _mounts_at_or_below(target.path)
    if inside:
        raise StateError(f"refusing to export to {target.given}: {inside[0]} is a mount point")


def _mounts_at_or_below(path: str) -> list[str]:
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return []  # no /proc: the st_dev checks are all there is
    found = []
    for line in lines:
        fields = line.split(b" ")
        if len(fields) < 5:
            continue
        point = _unescape_mountinfo(fields[4])
        if point == path or point.startswith(path + "/"):
            found.append(point)
    return found


def _unescape_mountinfo(field: bytes) -> str:
    # The kernel writes space, tab, newline and backslash in mount points as \ooo.
    raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)
    return os.fsdecode(raw)


def _inspect(path: str) -> _Kind:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _Kind.ABSENT
    if not stat.S_ISDIR(st.st_mode):
        return _Kind.NOT_DIR
    names = set(os.listdir(path))
    if not names:
        return _Kind.EMPTY
    if not _has_marker(path):
        return _Kind.OLD_EXPORT if names == {"sys", "dev"} else _Kind.FOREIGN
    return _Kind.EXPORT if names <= _TOP else _Kind.EXPORT_AND_MORE


def _has_marker(path: str) -> bool:
    try:
        fd = os.open(os.path.join(path, MARKER), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode) and os.read(fd, 64).startswith(MARKER_PREFIX)
    finally:
        os.close(fd)


def _top_mode(target: _Target, kind: _Kind) -> int:
    """DIR keeps the permissions it had; a new one gets what mkdir would give it."""
    if kind is not _Kind.ABSENT:
        return stat.S_IMODE(os.stat(target.path).st_mode)
    mask = os.umask(0o077)
    os.umask(mask)
    return 0o777 & ~mask


# == siblings: the tree being built, the tree being replaced, leftovers of killed exports =======


def _sibling(target: _Target, role: str, pid: int) -> str:
    return os.path.join(target.parent, f".{target.name}.fake-sysfs-{role}.{pid}")


def _dead_siblings(target: _Target, role: str | None = None) -> list[str]:
    """Siblings of ``target`` whose export no longer runs, newest first."""
    prefix = f".{target.name}."
    found = []
    with os.scandir(target.parent) as entries:
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            tail = _SIBLING_TAIL.fullmatch(entry.name[len(prefix) :])
            if not tail or (role is not None and tail[1] != role) or _alive(int(tail[2])):
                continue
            try:
                found.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
            except FileNotFoundError:
                continue  # another export deleted it meanwhile
    return [path for _, path in sorted(found, reverse=True)]


def _alive(pid: int) -> bool:
    # Our own PID here is a dead process's that was reused: this export has made no
    # sibling yet.
    if pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OverflowError:
        return False
    return True


def _recover(target: _Target) -> None:
    """Undo a two-rename replacement killed halfway: put the old tree back at DIR."""
    if os.path.lexists(target.path):
        return
    for old in _dead_siblings(target, "old"):
        if stat.S_ISDIR(os.lstat(old).st_mode):
            _rename_noreplace(old, target.path)
            return


def _remove_leftovers(target: _Target) -> None:
    for path in _dead_siblings(target):
        # Garbage we may not delete does not stop a new export.
        with contextlib.suppress(OSError):
            _remove_tree(path)


# == building and installing ====================================================================


def _build(view: View, new: str, top_mode: int, char_devices: bool | None) -> int:
    # mkdir fails if the name exists: never build into someone else's directory. 0700 keeps
    # the incomplete tree private.
    os.mkdir(new, 0o700)
    try:
        top = Path(new)
        (top / "sys").mkdir()
        count = _export_dir(view.tree.root(), "", top / "sys")
        count += _export_dev(view, top / "dev", char_devices)
        _write_marker(new)
        os.chmod(new, top_mode)
    except BaseException:
        _remove_quietly(new)
        raise
    return count


def _write_marker(top: str) -> None:
    fd = os.open(os.path.join(top, MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, MARKER_LINE)
    finally:
        os.close(fd)


def _install(target: _Target, new: str, kind: _Kind, force: bool) -> None:
    """Put the complete tree at ``new`` in place, then delete what it replaced."""
    if kind is _Kind.ABSENT:
        try:
            _rename_noreplace(new, target.path)
        except BaseException:
            _remove_quietly(new)
            raise
        return
    try:
        old, exchanged = _replace(target, new)
    except BaseException:
        _remove_quietly(new)
        raise
    _verify_replaced(target, new, old, exchanged, force)
    try:
        _remove_tree(old)
    except OSError as e:
        raise StateError(
            f"exported to {target.given}, but could not delete the tree it replaced, "
            f"left at {old}: {_describe(e)}"
        ) from None


def _replace(target: _Target, new: str) -> tuple[str, bool]:
    """Swap ``new`` into DIR. Returns where the old tree now is and whether it was one
    atomic exchange."""
    try:
        _renameat2(new, target.path, _RENAME_EXCHANGE)
        return new, True  # the sibling's name now holds the old tree
    except OSError as e:
        if e.errno not in _UNSUPPORTED:
            raise
    old = _sibling(target, "old", os.getpid())
    _rename_noreplace(target.path, old)
    # DIR is absent until the next rename; a kill here is undone by _recover.
    try:
        _rename_noreplace(new, target.path)
    except BaseException:
        _rename_noreplace(old, target.path)
        raise
    return old, False


def _verify_replaced(target: _Target, new: str, old: str, exchanged: bool, force: bool) -> None:
    """Check what was moved out of DIR before deleting it: if DIR changed since it was
    checked (someone filled it), put it back and refuse."""
    kind = _inspect(old)
    if kind is _Kind.EMPTY or (kind is _Kind.EXPORT and force):
        return
    try:
        if exchanged:
            _renameat2(old, target.path, _RENAME_EXCHANGE)
            new = old  # the new tree, back at the sibling's name
        else:
            os.rename(target.path, new)
            os.rename(old, target.path)
    except OSError as e:
        raise StateError(
            f"{target.given} changed during the export and could not be put back: "
            f"{_describe(e)}; its contents are at {old}"
        ) from None
    _remove_quietly(new)
    raise StateError(
        f"refusing to export to {target.given}: it changed during the export; left as it was"
    )


# renameat2(2) flags, and the errors of a kernel or filesystem that does not support them.
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP})


@functools.cache
def _libc_renameat2() -> Callable[..., int] | None:
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None  # a C library without it: treated like a kernel without it
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


def _renameat2(src: str, dst: str, flags: int) -> None:
    func = _libc_renameat2()
    if func is None:
        raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS), src, None, dst)
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), src, None, dst)


def _rename_noreplace(src: str, dst: str) -> None:
    try:
        _renameat2(src, dst, _RENAME_NOREPLACE)
    except OSError as e:
        if e.errno not in _UNSUPPORTED:
            raise
        # Without the flag rename(2) may still replace an empty directory, nothing more.
        os.rename(src, dst)


# == deleting a tree ============================================================================


def _remove_tree(path: str) -> None:
    """Delete ``path`` and everything below it, through directory descriptors: no symbolic
    link is followed and no mount point entered; read-only directories are made writable."""
    inside = _mounts_at_or_below(path)
    if inside:
        raise OSError(errno.EBUSY, "a mount point is inside the tree", inside[0])
    parent, name = os.path.split(path)
    parent_fd = os.open(parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            _remove_dir(parent_fd, name, os.fstat(parent_fd).st_dev, path)
        else:
            os.unlink(name, dir_fd=parent_fd)
    finally:
        os.close(parent_fd)


def _remove_dir(parent_fd: int, name: str, dev: int, where: str) -> None:
    fd = _open_dir(parent_fd, name, where)
    try:
        st = os.fstat(fd)
        if st.st_dev != dev:
            raise OSError(errno.EXDEV, "a mount point is inside the tree", where)
        if st.st_mode & 0o300 != 0o300:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) | 0o700)  # to delete its entries
        with os.scandir(fd) as it:
            entries = [(e.name, e.is_dir(follow_symlinks=False)) for e in it]
        for child, is_dir in entries:
            if is_dir:
                _remove_dir(fd, child, dev, f"{where}/{child}")
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def _open_dir(parent_fd: int, name: str, where: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        pass
    # An unreadable directory: give ourselves access to it, never through a symbolic link
    # (fchmodat refuses AT_SYMLINK_NOFOLLOW on a link: Python raises ValueError).
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    try:
        os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=parent_fd, follow_symlinks=False)
    except (ValueError, NotImplementedError):
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), where) from None
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _remove_quietly(path: str) -> None:
    # What cannot be deleted now is a leftover: the next export to the same DIR deletes it.
    with contextlib.suppress(OSError):
        _remove_tree(path)


def _describe(e: OSError) -> str:
    where = e.filename2 or e.filename
    return f"{e.strerror} ({where})" if where else str(e.strerror or e)


# == the tree ===================================================================================


def _export_dir(node: Dir, rel: str, out: Path) -> int:
    count = 0
    for name, child in node.entries.items():
        path = out / name
        child_rel = f"{rel}/{name}" if rel else name
        if isinstance(child, Dir):
            path.mkdir()
            count += 1 + _export_dir(child, child_rel, path)
            os.chmod(path, child.mode)
        elif isinstance(child, Link):
            os.symlink(link_text(rel, child.target), path)
            count += 1
        else:
            assert isinstance(child, Attr)
            data = b""
            if child.readable:
                try:
                    data = child.read()
                except KernfsError:
                    data = b""
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.chmod(path, child.mode)
            count += 1
    return count


def _export_dev(view: View, out: Path, char_devices: bool | None) -> int:
    out.mkdir(parents=True, exist_ok=True)
    if char_devices is None:
        char_devices = os.geteuid() == 0
    count = 0
    for name, major, minor in view.dev_numbers():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if char_devices:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(major, minor))
        else:
            path.touch(0o600)
        count += 1
    return count
