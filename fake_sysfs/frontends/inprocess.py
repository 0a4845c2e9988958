"""The embedded frontend: the emulated /sys and /dev inside the calling process.

Reads are answered from the persistent read cache when it holds the answer for the committed
state (frontends/readcache.py), and otherwise from a live kernfs view of the state, loaded on
the first such read; the answers are recorded, and ``close`` saves them for later processes.
Each write is one store applied in a state transaction, after which reads see the post-write
state. A store that only validates (``pure``, like ``bus/cxl/flush``) changes nothing, so its
outcome is recorded like a read.

Errors are KernfsError with the errno a real sysfs gives, carrying the path as asked.
The kernel and the kernfs tree are imported only when an answer must be computed.
"""

from __future__ import annotations

import os
import stat as stat_mod

from fake_sysfs.errors import KernfsError, errno, kerr
from fake_sysfs.frontends.readcache import MISS, NAMING_KINDS, ReadCache
from fake_sysfs.frontends.readcache import indexes_devices as readcache_indexes
from fake_sysfs.statedir import default_state_dir, open_snapshot, state_dir_is_explicit

TYPE_CHECKING = False  # typing itself is not imported: see readcache.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from fake_sysfs.kernel.state import Kernel
    from fake_sysfs.kernfs.view import Stat, View
    from fake_sysfs.statedir import Snapshot
    from fake_sysfs.store import StateStore


def _renaming(devices: dict[str, Any], model: Any, new: Any) -> dict[str, str] | None:
    """Names of ``model`` and its ancestors -> those of ``new`` and its own, up to where
    the two ancestries meet, with their char dev numbers (``/sys/dev/char/61:0``); None
    when the two are not alike up there."""
    names: dict[str, str] = {}
    while model is not new:
        if model is None or new is None or model.type != new.type:
            return None
        if model.name != new.name:
            names[model.name] = new.name
        if model.devt and new.devt and model.devt != new.devt:
            names[":".join(map(str, model.devt))] = ":".join(map(str, new.devt))
        model, new = devices.get(model.parent), devices.get(new.parent)
    return names


def _renamed(path: str, mapping: dict[str, str]) -> str:
    return "/".join(mapping.get(part, part) for part in path.split("/"))


#: The tracefs files whose reads consume (tracefs.is_consuming says which exactly).
_PIPES = ("/trace_pipe", "/trace_pipe_raw")
#: Mode of the /dev/cxl nodes the emulated kernel registers (devtmpfs default).
_DEV_MODE = stat_mod.S_IFCHR | 0o600


def _split(path: str) -> tuple[str, str]:
    head, _, name = path.rpartition("/")
    return head, name


class InProcess:
    """One process's view of the emulated platform: every answer it gives describes one
    committed state, the one its snapshot holds (until this process commits a change of its
    own), however many commits other processes make meanwhile."""

    def __init__(self, store: StateStore | None = None) -> None:
        self._store = store
        self.cache = ReadCache()
        self.cache.locate = self._locate
        self._snap: Snapshot | None = None
        self._view: View | None = None
        #: /dev nodes of the live view: path -> (mode, major, minor).
        self._devs: dict[str, tuple[int, int, int]] | None = None

    @property
    def store(self) -> StateStore:
        if self._store is None:
            from fake_sysfs.store import StateStore, inherited

            # A fork server's child: the server's store, its kernel already loaded.
            self._store = inherited() or StateStore()
            # One command, one fdatasync: sync() before the command reports.
            self._store.sync_each = False
        return self._store

    def sync(self) -> None:
        """Make the stores of this process durable (before the command says they worked)."""
        if self._store is not None:
            self._store.sync()

    def _snapshot(self) -> Snapshot:
        """The committed state this process answers for, opened on first use. Cheap when a
        state exists (no kernel import); the first use of a directory boots the default."""
        if self._snap is None:
            if self._store is None:
                snap = open_snapshot(default_state_dir(), not state_dir_is_explicit())
            else:
                snap = open_snapshot(str(self._store.dir), self._store.create)
            if snap.fd is None:
                snap.close()
                snap = self.store.snapshot()
            self._snap = snap
            self.cache.attach(snap)
            self.finish_due_work()
        return self._snap

    def finish_due_work(self) -> None:
        """The devices' background work (a firmware transfer, a sanitize) ends at a
        deadline, and no kernel thread runs meanwhile: when the state held has work due,
        it is finished first, in a transaction, and this frontend answers for the result.
        Nothing pending (the common case) is known from the read cache."""
        deadline = self.cache.get("/", "Tdeadline")
        if deadline is MISS:
            from fake_sysfs.kernel.mailbox import timers

            deadline = timers.next_deadline(self.view.kernel)
            self.cache.put("/", "Tdeadline", deadline)
        if deadline is None:
            return
        from fake_sysfs.kernel.mailbox import timers
        from fake_sysfs.kernel.mailbox.clock import now

        if now() < deadline:
            return
        # Also when nothing was due any more: the transaction caught the kernel the live
        # view reads up with other writers first.
        self._adopt(timers.finish_due(self.store, now()))

    @property
    def view(self) -> View:
        """A live view of the snapshot's state (loaded once; a write replaces it)."""
        if self._view is None:
            from fake_sysfs.kernfs.view import View

            # The store keeps this kernel and applies this process's stores to it, so a
            # command that reads, writes and reads again loads the state once.
            kernel, _ = self.store.load(self._snapshot(), keep=True)
            self._view = View(kernel)
        return self._view

    def close(self) -> None:
        """Make this process's stores durable (if ``sync`` was not called), and save what it
        learned for the next ones."""
        self.sync()
        if self._snap is not None:
            stale = self.cache.take_stale()
            if self.cache.carried and self.cache.current():
                self._ask_again(stale)
                if self.cache.came:
                    self._ask_about_new_devices(self.cache.came)
                from fake_sysfs.journal import paranoid

                if paranoid():
                    self.check_memo()
            self.cache.save()
            self._snap.close()
            self._snap = None
        self._view = None
        self._devs = None

    # -- where answers belong, and answers asked again after a store ------------------------

    def _locate(self, group: str) -> tuple[str, ...] | None:
        """The keys of the devices whose directories the directory ``group`` depends on
        (readcache.Place): the one whose directory holds it, and each one whose directory
        holds a link the path goes through (``root0/dport0`` leads into an ACPI device's
        directory, but root0 says where). For a /dev node's answers: the node's device.
        None when no device holds it, or it does not resolve."""
        view = self.view
        if group.startswith("/dev/"):
            node = self._live_dev_node(group)
            if node.__class__ is int:
                return None
            _, major, minor = node  # type: ignore[misc]
            group = f"/sys/dev/char/{major}:{minor}"
        if group != "/sys" and not group.startswith("/sys/"):
            return None
        try:
            real, links = view.links_on(group)
        except KernfsError:
            return None
        holder = view.device_holding(real)
        if holder is None:
            return None
        owners = [view.device_holding(link) for link in links]
        owners.append(holder)
        return tuple(dict.fromkeys(owner for owner in owners if owner is not None))

    def _ask_again(self, stale: dict[str, set[Any]]) -> None:
        """Compute again, from the state committed now, the answers a store of this process
        made stale, so that the memo it saves holds them for the next process."""
        bases, names = self.cache.take_revisable()
        for group, keys in stale.items():
            known = self.cache.group(group) or {}
            for key in keys:
                if key in known:
                    continue
                base = bases.get((group, key))
                if base is not None:
                    self.cache.put(group, key, self._revised_listing(group, key, base, names))
                else:
                    self._ask(group, key)

    def _revised_listing(
        self, group: str, key: str, base: tuple[str, ...], names: set[str]
    ) -> tuple[str, ...]:
        """The listing ``key`` of ``group`` (a directory of entries named after devices)
        now, from ``base``, what it was before the stores that changed the devices named
        ``names``: the entries of other names are as they were, and each of ``names`` is
        in it if the directory has it now, at its place in kernfs order. A bus with 10,000
        devices is not listed and ordered again because one came."""
        from bisect import insort

        from fake_sysfs.kernfs.order import kernfs_key

        prefix = key[1:]
        listing = [name for name in base if name not in names]
        for name in names:
            if name.startswith(prefix) and self.view.has_entry(group, name):
                insort(listing, name, key=kernfs_key)
        return tuple(listing)

    def _ask_about_new_devices(self, came: set[str]) -> None:
        """Ask of each device the stores registered what was asked of another device of
        its type (a listing that read region0 will read a new region5 the same way), so
        that the first listing after a ``create-region`` finds its answers in the memo
        too. The other device's directories and names are renamed along the two devices'
        ancestries; a directory it holds is used only where the renamed one is the new
        device's. Nothing is guessed: only what the kernel answers is recorded."""
        devices = self.view.kernel.devices
        owned = self.cache.owned()
        by_type: dict[str, list[str]] = {}
        for key in owned:
            dev = devices.get(key)
            if dev is not None and key not in came:
                by_type.setdefault(dev.type, []).append(key)
        pairs: list[tuple[str, str, dict[str, str]]] = []
        names: dict[str, str] = {}
        for key in sorted(came):
            dev = devices.get(key)
            like = None if dev is None else by_type.get(dev.type)
            if not like:
                continue
            model = max(like, key=lambda k: len(owned[k]))
            renaming = _renaming(devices, devices[model], dev)
            if renaming:
                pairs.append((model, key, renaming))
                # A region's directories name its dax_region too.
                for old, new in renaming.items():
                    names.setdefault(old, new)
        shared = self.cache.unowned()
        for model, key, renaming in pairs:
            mapping = {**names, **renaming}
            own = devices[model].name
            for group in sorted(owned[model]):
                new = _renamed(group, mapping)
                if new != group:
                    places = self._locate(new)
                    if places is not None and places[-1] == key:
                        self._ask_renamed(group, new, mapping)
            # Directories no device holds that name the other device (what did not
            # resolve, such as a probe for a legacy layout).
            for group in shared:
                if own in group.split("/") and not readcache_indexes(group):
                    self._ask_renamed(group, _renamed(group, mapping), mapping)
        # The directories that index devices by name (a bus's devices/, /dev): what was
        # asked there of each other device, asked of its new one.
        for group in shared:
            if not readcache_indexes(group):
                continue
            asked = self.cache.group(group) or {}
            for _, _, renaming in pairs:
                for old, new in renaming.items():
                    for kind in NAMING_KINDS:
                        if kind + old in asked and kind + new not in asked:
                            self._ask(group, kind + new)

    def _ask_renamed(self, group: str, new: str, mapping: dict[str, str]) -> None:
        """Ask in ``new`` what was asked in ``group``, renamed."""
        known = self.cache.group(new) or {}
        for asked in list(self.cache.group(group) or ()):
            if asked.__class__ is not str:
                continue
            renamed = asked[:1] + _renamed(asked[1:], mapping)
            if not ((new == group and renamed == asked) or renamed in known):
                self._ask(new, renamed)

    def _ask(self, group: str, key: Any) -> None:
        """Compute the answer ``key`` of ``group`` from the kernel and record it."""
        if key.__class__ is bytes:
            if key[:1] == b"w":  # a store that changed nothing: only if it still changes nothing
                name, _, data = key[1:].partition(b"\0")
                path = f"{group}/{os.fsdecode(name)}"
                try:
                    if self.view.check_writable(path).pure_for(data):
                        self.write(path, data)
                except (OSError, KernfsError):
                    pass  # an error is an answer too: recorded, raised to the asker
            return  # other frontends' answers (mailbox, nd ioctls) are computed when asked
        answer = self._live_answer(group, key)
        if answer is not MISS:
            self.cache.put(group, key, answer)

    def check_memo(self) -> None:
        """Check every answer recorded against the kernel (FAKE_SYSFS_PARANOID: the test
        suite does, after each command whose stores carried answers over): an answer
        carried over a store that changed it is a bug of kernel/changes.py's mapping."""
        for group in self.cache.groups():
            for key, answer in (self.cache.group(group) or {}).items():
                live = self._live_answer(group, key)
                if live is not MISS and live != answer:
                    raise AssertionError(
                        f"read memo: {group!r} {key!r} holds {answer!r}, the kernel {live!r}"
                    )

    def _live_answer(self, group: str, key: Any) -> Any:
        """The answer ``key`` of ``group`` as the kernel gives it now (an int: an errno),
        as the read methods record it; MISS for a key kind computed elsewhere."""
        if key.__class__ is bytes:
            return MISS
        kind, name = key[:1], key[1:]
        path = f"{group}/{name}"
        view = self.view
        try:
            if kind == "r":
                return self._live_read(path)
            if kind == "l":
                return tuple(view.listdir(group))
            if kind == "s":
                return tuple(view.scan(group, name))
            if kind == "p":
                return self._live_realpath(path)
            if kind == "L":
                return self._live_is_link(path)
            if kind == "e":
                return self._live_exists(path)
            if kind == "D":
                return self._live_dev_node(path)
            if kind == "P":
                return self._pending(path)
            if kind == "T":
                from fake_sysfs.kernel.mailbox import timers

                return timers.next_deadline(view.kernel)
        except KernfsError as e:
            return e.errno or errno.EIO
        return MISS

    # -- reads -----------------------------------------------------------------------------

    def _answer(self, path: str, kind: str, live: Callable[[str], Any]) -> Any:
        """The recorded answer of ``kind`` for ``path``, else ``live(path)`` recorded.
        Answers are recorded under the path's directory; an int answer is an errno."""
        if self._snap is None:
            self._snapshot()
        head, name = _split(path)
        answer = self.cache.get(head, kind + name)
        if answer is MISS:
            answer = live(path)
            self.cache.put(head, kind + name, answer)
        return answer

    def read(self, path: str) -> bytes:
        """The bytes one read() of an attribute returns."""
        if path.endswith(_PIPES) and path.startswith("/sys/kernel/tracing/"):
            # A trace pipe consumes what it returns: a page of a raw pipe, else text.
            return self.consume(path, 4096 if path.endswith("_raw") else 1 << 16)
        answer = self._answer(path, "r", self._live_read)
        if answer.__class__ is int:
            raise kerr(answer, path)
        return answer  # type: ignore[no-any-return]

    def _live_read(self, path: str) -> bytes | int:
        try:
            return self.view.read(path)
        except KernfsError as e:
            return e.errno or errno.EIO

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        """``read`` of each ``directory/name`` (a name may be ``sub/attr``): the bytes or
        the error, in order."""
        if self._snap is None:
            self._snapshot()
        # The common case, a listing reading a device's attributes again, is one group
        # lookup and then one dict lookup per name.
        answers = self.cache.group(directory) or {}
        results: list[bytes | OSError] = []
        missing: list[int] = []
        for name in names:
            if "/" in name:  # ``sub/attr``: recorded under its own directory
                head, leaf = _split(f"{directory}/{name}")
                answer = self.cache.get(head, "r" + leaf)
            else:
                answer = answers.get("r" + name, MISS)
            if answer is MISS:
                missing.append(len(results))
            elif answer.__class__ is int:
                answer = kerr(answer, f"{directory}/{name}")
            results.append(answer)
        if missing:
            # Computed in one go, so the live view resolves the directory once, and
            # recorded in one go under the directory (a ``sub/attr`` under its own).
            wanted = [names[i] for i in missing]
            live = self.view.read_many(directory, wanted)
            plain: dict[str, bytes | int] = {}
            for i, name, result in zip(missing, wanted, live, strict=True):
                recorded: bytes | int
                if isinstance(result, OSError):
                    recorded = result.errno or errno.EIO
                    result = kerr(recorded, f"{directory}/{name}")
                else:
                    recorded = result
                if "/" in name:
                    head, leaf = _split(f"{directory}/{name}")
                    self.cache.put(head, "r" + leaf, recorded)
                else:
                    plain["r" + name] = recorded
                results[i] = result
            if plain:
                self.cache.put_many(directory, plain)
        return results

    def listdir(self, path: str) -> list[str]:
        """Entries in kernfs readdir order."""
        return self._listing(path, "l", None)

    def scan(self, path: str, prefix: str) -> list[str]:
        """``listdir`` restricted to the names that start with ``prefix``."""
        return self._listing(path, "s" + prefix, prefix)

    def _listing(self, path: str, key: str, prefix: str | None) -> list[str]:
        if self._snap is None:
            self._snapshot()
        answer = self.cache.get(path, key)
        if answer is MISS:
            try:
                view = self.view
                names = view.listdir(path) if prefix is None else view.scan(path, prefix)
                answer = tuple(names)
            except KernfsError as e:
                answer = e.errno or errno.EIO
            self.cache.put(path, key, answer)
        if answer.__class__ is int:
            raise kerr(answer, path)
        return list(answer)

    def realpath(self, path: str) -> str:
        """``path`` with every symlink resolved."""
        answer = self._answer(path, "p", self._live_realpath)
        if answer.__class__ is int:
            raise kerr(answer, path)
        return answer  # type: ignore[no-any-return]

    def _live_realpath(self, path: str) -> str | int:
        try:
            return self.view.realpath(path)
        except KernfsError as e:
            return e.errno or errno.EIO

    def is_link(self, path: str) -> bool:
        """lstat() says symlink (False when the path does not exist)."""
        return self._answer(path, "L", self._live_is_link)  # type: ignore[no-any-return]

    def _live_is_link(self, path: str) -> bool:
        try:
            return stat_mod.S_ISLNK(self.view.lstat(path).mode)
        except KernfsError:
            return False

    def exists(self, path: str) -> bool:
        """stat() succeeds."""
        return self._answer(path, "e", self._live_exists)  # type: ignore[no-any-return]

    def _live_exists(self, path: str) -> bool:
        try:
            self.view.stat(path)
        except KernfsError:
            return False
        return True

    # -- /dev ------------------------------------------------------------------------------

    def dev_node(self, path: str) -> tuple[int, int, int]:
        """(mode, major, minor) of a node below /dev: the char devices the kernel registered."""
        answer = self._answer(path, "D", self._live_dev_node)
        if answer.__class__ is int:
            raise kerr(answer, path)
        return answer  # type: ignore[no-any-return]

    def _live_dev_node(self, path: str) -> tuple[int, int, int] | int:
        if self._devs is None:
            self._devs = {
                f"/dev/{node}": (_DEV_MODE, major, minor)
                for node, major, minor in self.view.dev_numbers()
            }
        return self._devs.get(path, errno.ENOENT)

    def stat_dev(self, path: str) -> Stat:
        """stat() of a node below /dev."""
        from fake_sysfs.kernfs.view import Stat

        mode, major, minor = self.dev_node(path)
        return Stat(mode, 0, rdev=(major, minor))

    def open_dev(self, path: str) -> None:
        """open() of a /dev node. No character device is backed by a driver in the
        emulation yet (the mailbox comes later), so opening one fails like a node whose
        major has no driver."""
        self.dev_node(path)
        raise kerr(errno.ENXIO, path)

    # -- writes ----------------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> int:
        """One store; returns the byte count. A store that changes the kernel is a state
        transaction; a pure one is answered like a read (it depends on the data only)."""
        if self._snap is None:
            self._snapshot()
        head, name = _split(path)
        key = b"w" + os.fsencode(name) + b"\0" + data
        answer = self.cache.get(head, key)
        if answer is not MISS:
            if answer < 0:
                raise kerr(-answer, path)
            return answer  # type: ignore[no-any-return]
        if self.view.check_writable(path).pure_for(data):
            try:
                count = self.view.write(path, data)
            except KernfsError as e:
                self.cache.put(head, key, -(e.errno or errno.EIO))
                raise
            self.cache.put(head, key, count)
            return count
        from fake_sysfs.kernfs import transact

        # However the store ends, this process answers from then on for the state
        # committed now: the kernel the store keeps, which the store brought up to date
        # with other writers first. A refused store committed only its kernel log records
        # (if any); a store that failed after a change it keeps committed that change.
        try:
            count, kernel = transact.write(self.store, path, data)
        except transact.FailedAfterChange as e:
            self._adopt(e.kernel)
            raise kerr(e.errno or errno.EIO, path) from None
        except KernfsError as e:
            self._adopt(self.store.held_kernel() if e.clean else None)
            raise
        self._adopt(kernel)
        return count

    def _adopt(self, kernel: Kernel | None) -> None:
        """From now on this process answers for the state committed by its store:
        ``kernel``, or when None (after a refused store), that state loaded again. Every
        transaction ends here, however it ends: one that commits nothing has still caught
        the kernel the live view shares up with other writers, so the view is dropped
        (and the state held loaded again when next needed)."""
        from fake_sysfs.kernfs.view import View

        committed = self.store.committed
        self.store.committed = None
        changes = self.store.changes
        self.store.changes = None
        if committed is None:  # nothing was committed, nor caught up with
            if kernel is None:
                self._view = None
            return
        if self._snap is not None:
            self._snap.close()
        self._snap = committed
        self._view = None if kernel is None else View(kernel)
        self._devs = None
        if changes is not None:
            # The answers the store cannot have changed are kept (readcache.carry).
            self.cache.carry(committed, *changes)
        else:
            # This process committed that state a moment ago (or, for a refused store,
            # caught up with it under the lock): the memo on disk is almost surely one of
            # an older state, and one of this state could only spare computing answers
            # again. Not read, so that each store of a command does not read and check the
            # whole memo (3 MB after a full listing at 1,024 memdevs) only to find it stale.
            self.cache.attach(committed, load=False)
        if kernel is not None:
            # What finish_due_work asks of every state, known here without another load.
            from fake_sysfs.kernel.mailbox import timers

            self.cache.put("/", "Tdeadline", timers.next_deadline(kernel))

    # -- tracefs: instance directories, consuming reads, stores that name their task ------

    def consume(self, path: str, size: int) -> bytes:
        """One read() of ``trace_pipe`` or ``per_cpu/cpuN/trace_pipe_raw``: what it
        returns is taken from the buffer, a journaled state change (never cached). An
        empty buffer answers b"" without a transaction."""
        # Whether the buffer holds anything is a function of the state: kept with the read
        # answers, so a listing that finds its buffers empty needs no kernel.
        pending = self._answer(path, "P", self._pending)
        if not pending:
            return b""
        result = self._operation("consume", {"path": path, "size": size})
        return bytes.fromhex(result)

    def _pending(self, path: str) -> bool:
        from fake_sysfs.kernel import tracefs

        return tracefs.pending(self.view.kernel, path)

    def make_dir(self, path: str) -> None:
        """mkdir(): only a tracefs instance can be made."""
        self._dir_operation("mkdir", path)

    def remove_dir(self, path: str) -> None:
        """rmdir(): only a tracefs instance can be removed."""
        self._dir_operation("rmdir", path)

    def _dir_operation(self, op: str, path: str) -> None:
        if self._snap is None:
            self._snapshot()
        self._operation("tracefs_dir", {"op": op, "path": path})

    def task_write(self, path: str, data: bytes, pid: int) -> int:
        """A store made by the task ``pid`` (trace records it makes carry it): a journaled
        operation when it changes the kernel, else an ordinary (pure) store."""
        if self._snap is None:
            self._snapshot()
        head, name = _split(path)
        known = self.cache.get(head, b"w" + os.fsencode(name) + b"\0" + data)
        # A store answered before is a pure one (only those answers are kept).
        if known is not MISS or self.view.check_writable(path).pure_for(data):
            return self.write(path, data)
        self._operation("task_store", {"path": path, "data": data.hex(), "pid": pid})
        return len(data)

    def run_operation(self, name: str, body: dict[str, Any]) -> tuple[Any, Kernel]:
        """The store's journaled operation ``name`` (its result and the kernel committed),
        after which this process answers for the state it leaves: the one committed, or
        after a refusal (journal.Refused, raised), the state held, loaded again. Before
        refusing, the store caught the kernel the live view reads up with other writers'
        commits (and the operation may have touched it on its way): so every journaled
        operation of this process goes through here (mailbox commands, stream writes and
        nd ioctls too: this is the store the ``transact`` helpers are given)."""
        from fake_sysfs.journal import Refused

        try:
            result, kernel = self.store.run_operation(name, body)
        except Refused:
            self._adopt(None)
            raise
        self._adopt(kernel)
        return result, kernel

    def _operation(self, name: str, body: dict[str, Any]) -> Any:
        """``run_operation``'s result; a refusal raises the KernfsError it carries, with
        the path asked."""
        from fake_sysfs.journal import Refused

        try:
            return self.run_operation(name, body)[0]
        except Refused as e:
            error = e.result
            if isinstance(error, KernfsError):
                raise kerr(error.errno or errno.EIO, str(body["path"])) from None
            raise
