"""Path operations on the /sys tree, with kernfs semantics.

Paths are absolute (``/sys/bus/cxl/devices/root0``). Symlinks are followed like the VFS
does; listings come in kernfs order; reads return the whole attribute; a write is one store
of at most a page. Errors are KernfsError carrying the errno a real sysfs gives.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

from fake_sysfs.errors import KernfsError, errno, kerr, refused
from fake_sysfs.kernel.core import Device
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.nodes import Attr, Dir, Link, Node
from fake_sysfs.kernfs.order import kernfs_sorted
from fake_sysfs.kernfs.tree import Tree

PAGE_SIZE = 4096
_MAX_LINKS = 40


@dataclass(frozen=True)
class Stat:
    """What lstat/stat tell about a node."""

    mode: int  # including the file type bits
    size: int
    #: (major, minor) of a device node.
    rdev: tuple[int, int] = (0, 0)


def link_text(link_dir: str, target: str) -> str:
    """The relative path sysfs stores in a link: up from the link's directory to the first
    ancestor that also contains the target's parent, then down (kernfs_get_target_path)."""
    target_parts = target.split("/")
    ancestors = {"/".join(target_parts[:i]) for i in range(len(target_parts))}
    base = link_dir
    ups = 0
    while base and base not in ancestors:
        base = base.rpartition("/")[0]
        ups += 1
    rest = target[len(base) + 1 :] if base else target
    return "../" * ups + rest


class View:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.tree = Tree(kernel)
        self._root = self.tree.root()
        # Any path as asked -> (canonical path, node), for the lookups a listing repeats.
        self._cache: dict[str, tuple[str, Node]] = {}

    # -- resolution ------------------------------------------------------------------------

    def _resolve(self, path: str, follow_last: bool = True) -> tuple[str, Node]:
        """(canonical path relative to /sys, node). Every prefix resolves once and is
        cached, so a listing that reads thousands of attributes walks each directory once."""
        key = path if follow_last else f"{path}\0"
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        found = self._resolve_uncached(path, follow_last, 0)
        self._cache[key] = found
        return found

    def _resolve_uncached(self, path: str, follow_last: bool, depth: int) -> tuple[str, Node]:
        if path == "/sys":
            return "", self._root
        head, _, name = path.rpartition("/")
        if not head.startswith("/sys"):
            raise kerr(errno.ENOENT, path)
        if depth > _MAX_LINKS:
            raise kerr(errno.ELOOP, path)
        parent_canon, parent = self._resolve(head)
        if not isinstance(parent, Dir):
            raise kerr(errno.ENOTDIR, path)
        if name in ("", "."):
            return parent_canon, parent
        if name == "..":
            # Like the VFS: up from where the directory really is, not from the link to it.
            up = parent_canon.rpartition("/")[0]
            return self._resolve(f"/sys/{up}" if up else "/sys")
        child = parent.child(name)
        if child is None:
            raise kerr(errno.ENOENT, path)
        if isinstance(child, Link) and follow_last:
            dev = child.device
            if dev is not None:
                # A link to a registered device's directory (a bus's devices/, a class):
                # the directory itself, without resolving each directory above it again.
                return self._device_dir(dev)
            try:
                return self._resolve_uncached(f"/sys/{child.target}", True, depth + 1)
            except KernfsError as e:
                raise kerr(e.errno or errno.ENOENT, path) from None
        canon = f"{parent_canon}/{name}" if parent_canon else name
        return canon, child

    def _device_dir(self, dev: Device) -> tuple[str, Node]:
        """(canonical path, node) of a registered device's directory."""
        canon = self.tree.path(dev)
        key = f"/sys/{canon}"
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = (canon, self.tree.device_node(dev))
        return found

    def links_on(self, path: str) -> tuple[str, list[str]]:
        """(canonical path of ``path`` relative to /sys, the canonical directories of the
        links followed on the way there, in order)."""
        holders: list[str] = []
        canon = ""
        asked = "/sys"
        for name in path[len("/sys/") :].split("/") if path != "/sys" else ():
            asked = f"{asked}/{name}"
            here, node = self._resolve(asked, follow_last=False)
            if isinstance(node, Link):
                holders.append(canon)
                here = self._resolve(asked)[0]
            canon = here
        return canon, holders

    def device_holding(self, canon: str) -> str | None:
        """The key of the device whose directory holds ``canon`` (a canonical directory
        relative to /sys): the one whose directory it is, or else the nearest above it;
        None when no device's does."""
        path = canon
        while path:
            node = self._resolve(f"/sys/{path}")[1]
            if isinstance(node, Dir) and node.device is not None:
                return node.device
            path = path.rpartition("/")[0]
        return None

    # -- operations ------------------------------------------------------------------------

    def lstat(self, path: str) -> Stat:
        return self._stat(self._resolve(path, follow_last=False)[1])

    def stat(self, path: str) -> Stat:
        return self._stat(self._resolve(path)[1])

    @staticmethod
    def _stat(node: Node) -> Stat:
        if isinstance(node, Dir):
            return Stat(stat.S_IFDIR | node.mode, 0)
        if isinstance(node, Link):
            return Stat(stat.S_IFLNK | 0o777, 0)
        assert isinstance(node, Attr)
        return Stat(stat.S_IFREG | node.mode, PAGE_SIZE)

    def has_entry(self, directory: str, name: str) -> bool:
        """Whether the directory ``directory`` lists ``name`` (a link to something gone
        included, as readdir shows it)."""
        try:
            _, node = self._resolve(directory)
        except KernfsError:
            return False
        return isinstance(node, Dir) and node.child(name) is not None

    def listdir(self, path: str) -> list[str]:
        _, node = self._resolve(path)
        if not isinstance(node, Dir):
            raise kerr(errno.ENOTDIR, path)
        return kernfs_sorted(list(node.entries))

    def scan(self, path: str, prefix: str) -> list[str]:
        """``listdir`` restricted to names starting with ``prefix`` (same order)."""
        _, node = self._resolve(path)
        if not isinstance(node, Dir):
            raise kerr(errno.ENOTDIR, path)
        return kernfs_sorted([name for name in node.entries if name.startswith(prefix)])

    def readlink(self, path: str) -> str:
        canon, node = self._resolve(path, follow_last=False)
        if not isinstance(node, Link):
            raise kerr(errno.EINVAL, path)
        return link_text(canon.rpartition("/")[0], node.target)

    def realpath(self, path: str) -> str:
        canon, _ = self._resolve(path)
        return f"/sys/{canon}" if canon else "/sys"

    def read(self, path: str) -> bytes:
        _, node = self._resolve(path)
        if isinstance(node, Dir):
            raise kerr(errno.EISDIR, path)
        assert isinstance(node, Attr)
        # kernfs refuses to open an attribute for reading without a read bit (even root).
        if not node.readable:
            raise kerr(errno.EACCES, path)
        return node.read()

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        """``read`` of each ``directory/name``, resolving the directory once."""
        try:
            _, node = self._resolve(directory)
        except KernfsError:
            node = None
        results: list[bytes | OSError] = []
        directory_node = node if isinstance(node, Dir) else None
        for name in names:
            child: Node | None
            if "/" not in name:
                child = None if directory_node is None else directory_node.child(name)
            else:
                child = node
                for part in name.split("/"):
                    child = child.child(part) if isinstance(child, Dir) else None
            try:
                if isinstance(child, Attr):
                    if not child.readable:
                        raise kerr(errno.EACCES, f"{directory}/{name}")
                    results.append(child.read())
                else:
                    results.append(self.read(f"{directory}/{name}"))
            except KernfsError as e:
                results.append(e)
        return results

    def check_writable(self, path: str) -> Attr:
        _, node = self._resolve(path)
        if isinstance(node, Dir):
            raise kerr(errno.EISDIR, path)
        assert isinstance(node, Attr)
        if not node.mode & 0o222:
            raise kerr(errno.EACCES, path)
        return node

    def write(self, path: str, data: bytes) -> int:
        """One store. Returns the byte count (a store consumes the whole write). A store
        that refuses has recorded why in the kernel log; kernfs.transact commits that record
        when the write is a state transaction."""
        try:
            node = self.check_writable(path)
        except KernfsError as e:
            raise refused(e.errno or errno.EIO, path) from None
        if len(data) > PAGE_SIZE:
            raise refused(errno.E2BIG, path)
        if not data:
            return 0  # kernfs returns before calling the store
        if node.store is None:
            raise refused(errno.EOPNOTSUPP, path)
        try:
            node.store(data)
        except KernfsError as e:
            error = kerr(e.errno or errno.EIO, path)
            error.clean = e.clean
            raise error from None
        return len(data)

    def dev_nodes(self) -> list[tuple[str, int, int, str]]:
        return self.tree.dev_nodes()

    def dev_numbers(self) -> list[tuple[str, int, int]]:
        return self.tree.dev_numbers()
