"""One store as a state transaction, with the kernel log of a refused store kept.

A store is committed as one record of the state store's journal (fake_sysfs.journal): it
applies completely or fails with its errno and changes nothing. A refused store still leaves
its kernel log records, as the real kernel's log keeps them: those alone are committed. A
few kernel stores fail after a change they do not undo (kernel.attrs.fail_after_change):
that change is committed and the error is raised afterwards, as FailedAfterChange, which
carries the committed kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fake_sysfs.errors import KernfsError
from fake_sysfs.kernel.state import Kernel

if TYPE_CHECKING:
    from fake_sysfs.statedir import Snapshot


class Transactional(Protocol):
    """What this needs of fake_sysfs.store.StateStore."""

    #: The state file the last store committed, open.
    committed: Snapshot | None

    def write_attr(self, path: str, data: bytes) -> tuple[int, Kernel]: ...


class FailedAfterChange(KernfsError):
    """A store failed, but what it changed before failing is committed: ``kernel``."""

    def __init__(self, err: int, path: str, kernel: Kernel) -> None:
        super().__init__(err, path)
        self.kernel = kernel


def write(store: Transactional, path: str, data: bytes) -> tuple[int, Kernel]:
    """Apply one write of ``data`` to ``path`` as one committed store of ``store``: the
    byte count and the kernel as committed. A refused store raises its KernfsError after
    its log records are committed (and nothing else); a store that fails after a change it
    keeps raises FailedAfterChange once that change is committed."""
    return store.write_attr(path, data)
