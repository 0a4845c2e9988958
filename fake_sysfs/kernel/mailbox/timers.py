"""The device's background work that ends at a deadline: firmware transfers and
sanitize. The emulation has no thread to finish them; whoever next looks at the state
applies what is due (``run_due``) in a state transaction, before answering from it.
``next_deadline`` is a pure function of the state, so it can be remembered with the
state's other answers."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Protocol

from fake_sysfs.kernel.mailbox import fwupload, security

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel


class Transactional(Protocol):
    def transaction(self) -> contextlib.AbstractContextManager[Kernel]: ...


class _NothingDue(Exception):
    pass


def started(k: Kernel, mem: Memdev) -> None:
    """``mem``'s device began background work (its deadline is recorded on the device)."""
    if mem.id not in k.background:
        k.background.append(mem.id)


def next_deadline(k: Kernel) -> float | None:
    """The earliest pending deadline (wall-clock seconds), None when nothing runs."""
    found: list[float] = []
    for mem_id in k.background:
        mem = k.memdevs.get(mem_id)
        if mem is None:
            continue
        up = mem.device.upload
        if up.status == "transferring":
            found.append(up.deadline)
        if mem.device.security.sanitize_deadline:
            found.append(mem.device.security.sanitize_deadline)
    return min(found) if found else None


def run_due(k: Kernel, now: float) -> bool:
    """Finish every piece of work whose deadline is ``now`` or earlier: whether any was."""
    fired = False
    for mem_id in list(k.background):
        mem = k.memdevs.get(mem_id)
        if mem is not None:
            up = mem.device.upload
            if up.status == "transferring" and up.deadline <= now:
                fwupload.finish(k, mem)
                fired = True
            deadline = mem.device.security.sanitize_deadline
            if deadline and deadline <= now:
                security.finish(k, mem)
                fired = True
        if mem is None or not (
            mem.device.upload.status == "transferring" or mem.device.security.sanitize_deadline
        ):
            k.background.remove(mem_id)
    return fired


def finish_due(store: Transactional, now: float) -> Kernel | None:
    """``run_due`` as a transaction of ``store``: the kernel committed, or None when
    nothing was due any more (another process finished it first)."""
    try:
        with store.transaction() as kernel:
            if not run_due(kernel, now):
                raise _NothingDue
    except _NothingDue:
        return None
    return kernel
