"""The export frontend: materialize the view as plain files in ``DIR/sys`` and ``DIR/dev``.

Attributes become regular files holding what a read returns (write-only or unreadable
attributes become empty files), with the attribute's mode. Links keep sysfs's relative
targets. Device nodes are character devices when the process may create them (root),
otherwise empty regular files (libcxl only stat()s them to enumerate).
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from fake_sysfs.errors import KernfsError, StateError
from fake_sysfs.kernfs.nodes import Attr, Dir, Link
from fake_sysfs.kernfs.view import View, link_text


def export(view: View, dest: Path, force: bool = False, char_devices: bool | None = None) -> int:
    """Write the tree below ``dest``. Returns the number of entries written."""
    if dest.exists() and any(dest.iterdir()):
        if not force:
            raise StateError(f"{dest} is not empty; use --force to replace its contents")
        for sub in ("sys", "dev"):
            target = dest / sub
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.exists():
                _make_writable(target)
                shutil.rmtree(target)
    try:
        (dest / "sys").mkdir(parents=True, exist_ok=True)
        count = _export_dir(view.tree.root(), "", dest / "sys")
        count += _export_dev(view, dest / "dev", char_devices)
    except OSError as e:
        raise StateError(f"cannot export to {dest}: {e.strerror} ({e.filename})") from None
    return count


def _make_writable(top: Path) -> None:
    for root, dirs, _ in os.walk(top):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)


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
    for name, major, minor, _ in view.dev_nodes():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if char_devices:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(major, minor))
        else:
            path.touch(0o600)
        count += 1
    return count
