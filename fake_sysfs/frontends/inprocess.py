"""The embedded frontend: the emulated /sys and /dev inside the calling process.

Reads use a snapshot of the state taken on first use; each write is one store applied in a
state transaction, after which the snapshot is the post-write state.
"""

from __future__ import annotations

import stat as stat_mod

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernfs.view import Stat, View
from fake_sysfs.store import StateStore


class InProcess:
    def __init__(self, store: StateStore | None = None) -> None:
        self.store = store if store is not None else StateStore()
        self._view: View | None = None
        self._devs: dict[str, tuple[int, int]] | None = None

    @property
    def view(self) -> View:
        if self._view is None:
            kernel, _ = self.store.load()
            self._view = View(kernel)
        return self._view

    def write(self, path: str, data: bytes) -> int:
        if self.view.check_writable(path).pure:
            # Validates and waits, changes nothing: no transaction needed.
            return self.view.write(path, data)
        with self.store.transaction() as kernel:
            view = View(kernel)
            count = view.write(path, data)
        self._view = View(kernel)
        self._devs = None
        return count

    def stat_dev(self, path: str) -> Stat:
        """stat() of a node below /dev: the char devices the kernel registered."""
        if self._devs is None:
            self._devs = {
                f"/dev/{name}": (major, minor) for name, major, minor, _ in self.view.dev_nodes()
            }
        node = self._devs.get(path)
        if node is None:
            raise kerr(errno.ENOENT, path)
        return Stat(stat_mod.S_IFCHR | 0o600, 0, rdev=node)

    def open_dev(self, path: str) -> None:
        """open() of a /dev node. No character device is backed by a driver in the
        emulation yet (the mailbox comes later), so opening one fails like a node whose
        major has no driver."""
        self.stat_dev(path)
        raise kerr(errno.ENXIO, path)
