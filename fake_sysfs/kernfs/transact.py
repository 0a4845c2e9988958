"""One store as a state transaction, with the kernel log of a refused store kept.

A store that fails changes nothing, but the kernel log should still say why, as the real
kernel's does. The state store commits a transaction only if its body returns, so a refused
store is run in one transaction that is abandoned (nothing of it is saved), and the log
records it made are then committed alone in a second one. Between the two, another writer
may commit; the records then simply follow its changes. A refusal that records nothing (a
bad open mode, a write over a page) costs no second transaction.

A few kernel stores fail after a change they do not undo (kernel.attrs.fail_after_change):
their transaction is committed as it stands and the error is raised afterwards, as
FailedAfterChange, which carries the committed kernel.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Protocol

from fake_sysfs.errors import KernfsError
from fake_sysfs.kernel.log import LogRecord
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View

if TYPE_CHECKING:
    from fake_sysfs.statedir import Snapshot


class Transactional(Protocol):
    """What this needs of fake_sysfs.store.StateStore."""

    #: The state file the last transaction committed, open.
    committed: Snapshot | None

    def transaction(self) -> contextlib.AbstractContextManager[Kernel]: ...


class FailedAfterChange(KernfsError):
    """A store failed, but what it changed before failing is committed: ``kernel``."""

    def __init__(self, err: int, path: str, kernel: Kernel) -> None:
        super().__init__(err, path)
        self.kernel = kernel


def write(store: Transactional, path: str, data: bytes) -> tuple[int, Kernel]:
    """Apply one write of ``data`` to ``path`` as a transaction of ``store``: the byte
    count and the kernel as committed. A refused store raises its KernfsError after its
    log records are committed (and nothing else); a store that fails after a change it
    keeps raises FailedAfterChange once that change is committed."""
    records: list[LogRecord] = []
    kept: KernfsError | None = None
    try:
        with store.transaction() as kernel:
            mark = kernel.log.mark()
            kernel.runtime.failed_after_change = False
            try:
                count = View(kernel).write(path, data)
            except KernfsError as e:
                if not kernel.runtime.failed_after_change:
                    records = kernel.log.since(mark)
                    raise
                kept = e
    except KernfsError:
        if records:
            with store.transaction() as kernel:
                kernel.log.replay(records)
            # Only the log changed, which /sys does not show: the committed file is not
            # handed on to the caller, who keeps answering from the state it had.
            if store.committed is not None:
                store.committed.close()
                store.committed = None
        raise
    if kept is not None:
        raise FailedAfterChange(kept.errno or 0, path, kernel)
    return count, kernel
