"""The journal's records: what a committed store did, and how another process replays it.

A store is committed by appending one record to the state file (statedir.py has the
framing), not by rewriting the whole state: its cost does not grow with the platform. A
process that holds the kernel in memory catches up with other writers by replaying the
records they appended; one that starts cold decodes the snapshot and replays them all.

Replay is exact because a store is a deterministic function of the kernel state, the path,
the bytes written and the kernel log's clock, which is frozen at the record's time while the
store runs (no other input exists in the emulated kernel: no randomness, no process ids, no
iteration over hash-ordered sets). Two kinds of record:

* ``store``: a store that worked, or one that failed after a change it keeps
  (kernel.attrs.fail_after_change; ``keep`` is then its errno);
* ``log``: a refused store. Only its kernel log records (and ``*_once`` flags) are
  committed, so the record carries exactly those, not the store. (Whatever the refused
  store touched in memory on its way to the refusal is dropped with the kernel that held
  it: the next use decodes the committed state.)

A record that does not replay to the outcome it recorded means the file is not what its
writer wrote (or was written by different code): the state is reported damaged.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fake_sysfs import codec
from fake_sysfs.errors import KernfsError
from fake_sysfs.kernel import log as klog
from fake_sysfs.kernel.log import LogRecord
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs.view import View


class ReplayError(Exception):
    """A record that does not decode, or does not replay as recorded."""


@contextlib.contextmanager
def frozen_clock(when: float) -> Iterator[None]:
    """The kernel log's clock reads ``when`` meanwhile: every record a store makes carries
    the time its journal record names, when it runs and when it is replayed."""
    saved = klog.wall_clock
    klog.wall_clock = lambda: when
    try:
        yield
    finally:
        klog.wall_clock = saved


@dataclass
class Outcome:
    """What one store did to a kernel held in memory, and the record that commits it."""

    count: int
    #: Empty when there is nothing to commit (a refusal that logged nothing).
    record: bytes
    #: The error of a store that failed; ``kept``: after a change it keeps (otherwise the
    #: kernel it ran on must be dropped).
    error: KernfsError | None = None
    kept: bool = False


def perform_store(kernel: Kernel, path: str, data: bytes) -> Outcome:
    """Apply one store to ``kernel``, and say which record commits it. A refused store
    commits only the log records it made; unless the refusal is clean (KernfsError.clean),
    what it may have changed in ``kernel`` on its way is not committed, so the caller must
    drop ``kernel``."""
    when = klog.wall_clock()
    mark = kernel.log.mark()
    once = len(kernel.printed_once)
    before = _fingerprint(kernel) if paranoid() else None
    kernel.runtime.failed_after_change = False
    with frozen_clock(when):
        try:
            count = View(kernel).write(path, data)
        except KernfsError as e:
            if kernel.runtime.failed_after_change:
                record = _store_record(when, path, data, e.errno or 0)
                return Outcome(0, record, e, kept=True)
            if e.clean and before is not None and _fingerprint(kernel) != before:
                raise AssertionError(f"a clean refusal of {path} ({e}) changed the kernel") from e
            if kernel.log.next_seq == mark and len(kernel.printed_once) == once:
                return Outcome(0, b"", e)  # nothing to commit
            return Outcome(0, _log_record(when, kernel, mark, once), e)
    return Outcome(count, _store_record(when, path, data, 0))


def paranoid() -> bool:
    """Whether to check that a refusal marked clean (KernfsError.clean) changed nothing
    but the log, at the cost of fingerprinting the kernel before every store: set
    ``FAKE_SYSFS_PARANOID=1`` (the test suite does)."""
    return bool(os.environ.get("FAKE_SYSFS_PARANOID"))


def _fingerprint(kernel: Kernel) -> str:
    state = codec.dump(kernel)
    del state["log"], state["printed_once"]
    return json.dumps(state, sort_keys=True)


def _store_record(when: float, path: str, data: bytes, keep: int) -> bytes:
    body: dict[str, Any] = {"op": "store", "t": when, "path": path, "data": data.hex()}
    if keep:
        body["keep"] = keep
    return _encode(body)


def _log_record(when: float, kernel: Kernel, mark: int, once: int) -> bytes:
    body = {
        "op": "log",
        "t": when,
        "records": [codec.dump(r) for r in kernel.log.since(mark)],
        "next_seq": kernel.log.next_seq,
        "boot_wall": kernel.log.boot_wall,
        "once": kernel.printed_once[once:],
    }
    return _encode(body)


def _encode(body: dict[str, Any]) -> bytes:
    """A record's payload: compact JSON, as replay reads it."""
    return json.dumps(body, separators=(",", ":")).encode()


# -- other operations ---------------------------------------------------------------------

#: Operations other than a store that are journaled (name -> "module:function"). The
#: function takes the kernel and the record's body (JSON values), changes the kernel and
#: returns its result, or raises Refused, having changed nothing. It is a deterministic
#: function of those two and the log's clock, like a store.
OPERATIONS = {
    "mailbox": "fake_sysfs.kernel.mailbox.transact:mailbox_operation",
    "nd_ioctl": "fake_sysfs.kernel.nd_ioctl:nd_ioctl_operation",
    "stream": "fake_sysfs.kernel.mailbox.transact:stream_operation",
    "consume": "fake_sysfs.kernel.tracefs:consume_operation",
    "tracefs_dir": "fake_sysfs.kernel.tracefs:dir_operation",
    "task_store": "fake_sysfs.kernel.tracefs:task_store_operation",
}


class Refused(Exception):
    """An operation that changed nothing but, maybe, the kernel log: ``result`` is what
    its caller is told; ``record`` (set by perform_operation) commits the log lines the
    refusal made, as a refused store's are committed."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result
        self.record = b""


def operation(name: str) -> Callable[[Kernel, dict[str, Any]], Any]:
    import importlib

    module, _, function = OPERATIONS[name].partition(":")
    found: Callable[[Kernel, dict[str, Any]], Any] = getattr(
        importlib.import_module(module), function
    )
    return found


def perform_operation(kernel: Kernel, name: str, body: dict[str, Any]) -> tuple[Any, bytes]:
    """Apply the operation ``name`` to ``kernel``: its result and the record that commits
    it. Refused propagates, carrying the record of what it logged (if anything)."""
    when = klog.wall_clock()
    mark = kernel.log.mark()
    once = len(kernel.printed_once)
    with frozen_clock(when):
        try:
            result = operation(name)(kernel, body)
        except Refused as e:
            if kernel.log.next_seq != mark or len(kernel.printed_once) != once:
                e.record = _log_record(when, kernel, mark, once)
            raise
    return result, _encode({"op": name, "t": when, "body": body})


def replay(kernel: Kernel, payload: bytes) -> None:
    """Apply one committed record to ``kernel``. Raises ReplayError."""
    try:
        body = json.loads(payload)
        op = body["op"]
        when = float(body["t"])
        if op in OPERATIONS:
            arguments = body["body"]
            if not isinstance(arguments, dict):
                raise TypeError("operation record")
            try:
                with frozen_clock(when):
                    operation(op)(kernel, arguments)
            except Refused:
                raise ReplayError(f"journal {op} operation is refused on replay") from None
            return
        if op == "store":
            path, data, keep = body["path"], bytes.fromhex(body["data"]), body.get("keep", 0)
            if not isinstance(path, str) or not isinstance(keep, int):
                raise TypeError("store record")
        elif op == "log":
            records = [codec.load(LogRecord, r) for r in body["records"]]
            next_seq, boot_wall, once = body["next_seq"], body["boot_wall"], body["once"]
            if not (isinstance(next_seq, int) and isinstance(once, list)):
                raise TypeError("log record")
            if boot_wall is not None:
                boot_wall = float(boot_wall)
        else:
            raise ValueError(f"unknown record {op!r}")
    except (ValueError, TypeError, KeyError) as e:
        raise ReplayError(f"journal record does not decode: {e}") from None
    if op == "log":
        log = kernel.log
        log.records.extend(records)
        if len(log.records) > klog.CAPACITY:
            del log.records[: len(log.records) - klog.CAPACITY]
        log.next_seq = next_seq
        log.boot_wall = boot_wall
        kernel.printed_once.extend(str(k) for k in once)
        return
    kernel.runtime.failed_after_change = False
    with frozen_clock(when):
        try:
            View(kernel).write(path, data)
        except KernfsError as e:
            if keep and e.errno == keep and kernel.runtime.failed_after_change:
                return
            raise ReplayError(f"journal store of {path} fails on replay: {e}") from None
    if keep:
        raise ReplayError(f"journal store of {path} no longer fails on replay")
