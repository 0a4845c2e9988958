"""Sysfs served in-process by fake_sysfs: the emulated platform in the user's state
directory (or ``$FAKE_SYSFS_STATE``). This is pycxl's one link to the emulation.

The frontend answers repeated reads from its persistent read cache and loads the kernel
only for what it has not seen; ``close`` lets it keep what this process learned.
"""

from __future__ import annotations

import errno
import gc
import os
import stat

from fake_sysfs.errors import FakeSysfsError
from fake_sysfs.frontends.inprocess import InProcess
from fake_sysfs.frontends.readcache import MISS
from pycxl.sysfs.base import DevStat, Mailbox, NodeInvalid, NodeOpenFailed, Sysfs, SysfsUnavailable

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from fake_sysfs.kernfs.view import View
    from fake_sysfs.statedir import Snapshot
    from pycxl.sysfs.block import BlockIO
    from pycxl.sysfs.ndioctl import NdControl


class _Frontend(InProcess):
    """The frontend, with an unusable state (damaged state file, unsafe or missing state
    directory) reported as SysfsUnavailable, one line. Only opening the state, loading it
    and committing a store can meet one, so those are the three places that translate."""

    def _snapshot(self) -> Snapshot:
        try:
            return super()._snapshot()
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    #: Freeze the kernel this process loads first (set for a one-shot command: see view).
    freeze_on_load = False

    def refresh(self) -> None:
        """Answer from the latest committed state from now on."""
        self.close()
        self.freeze_on_load = False  # a command that polls: see Sysfs.refresh

    def write_stream(self, path: str, data: bytes) -> None:
        from fake_sysfs.kernel.mailbox import transact

        if self._snap is None:
            self._snapshot()
        try:
            transact.write_stream(self, path, data)  # adopted: see run_operation
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    @property
    def view(self) -> View:
        loading = self._view is None
        try:
            view = super().view
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        if loading and self.freeze_on_load:
            # The kernel just loaded (about 68,000 objects in reference cycles at 1,024
            # memdevs) lives until the command ends: frozen, the cyclic collector never
            # walks it again, and goes on freeing what the command drops (the live view
            # each store replaces).
            gc.freeze()
            self.freeze_on_load = False
        return view

    def write(self, path: str, data: bytes) -> int:
        try:
            return super().write(path, data)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    # -- the mailbox: opcodes and bytes to the emulated device ----------------------------

    def mailbox_query(self, name: str, n: int) -> tuple[int, list[tuple[int, int, int, int]]]:
        key = f"Q{n}"
        answer = self.cache.get(f"/dev/cxl/{name}", key)
        if answer is MISS:
            from fake_sysfs.kernel.mailbox import ioctl

            kernel = self.view.kernel
            mem = ioctl.memdev_named(kernel, name)
            if mem is None:
                answer = errno.ENXIO
            else:
                count, infos = ioctl.query(kernel, mem, n)
                answer = (count, tuple(tuple(i) for i in infos))
            self.cache.put(f"/dev/cxl/{name}", key, answer)
        if answer.__class__ is int:
            raise OSError(answer, os.strerror(answer))
        count, infos = answer
        return count, list(infos)

    def mailbox_send(
        self, name: str, cmd_id: int, flags: int, opcode: int, payload: bytes, out_size: int
    ) -> tuple[int, bytes]:
        # A command that changes nothing is a pure function of the state: its answer is
        # kept with the state's other read answers (only such answers are kept), so a
        # repeated listing needs neither the kernel nor its modules.
        group = f"/dev/cxl/{name}"
        key = b"M%d,%d,%d,%d," % (cmd_id, flags, opcode, out_size) + payload
        answer = self.cache.get(group, key)
        if answer is MISS:
            answer, pure = self._live_mailbox_send(name, cmd_id, flags, opcode, payload, out_size)
            if pure:
                self.cache.put(group, key, answer)
        err, retval, out = answer
        if err:
            raise OSError(err, os.strerror(err))
        return retval, out

    def _live_mailbox_send(
        self, name: str, cmd_id: int, flags: int, opcode: int, payload: bytes, out_size: int
    ) -> tuple[tuple[int, int, bytes], bool]:
        """(errno, return code, output) of the command, and whether it was pure; one that
        may change the device runs as a transaction, and this process then answers for
        the state it committed."""
        from fake_sysfs.kernel.mailbox import ioctl

        if not ioctl.changes_state(cmd_id, opcode):
            view_kernel = self.view.kernel
            mem = ioctl.memdev_named(view_kernel, name)
            if mem is None:
                return (errno.ENXIO, 0, b""), True
            reply = ioctl.send(view_kernel, mem, cmd_id, flags, opcode, 0, payload, out_size)
            return (reply.errno, reply.retval, reply.out), True
        from fake_sysfs.kernel.mailbox import transact

        try:
            # Given this frontend as its store, so that it adopts what the command leaves.
            reply, _ = transact.mailbox(self, name, cmd_id, flags, opcode, 0, payload, out_size)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        return (reply.errno, reply.retval, reply.out), False


def check_node(frontend: InProcess, path: str, devnum: tuple[int, int]) -> None:
    """What opening an emulated /dev node checks, as the real paths' open and fstat do:
    that it is there (NodeOpenFailed) and is the device's character node (NodeInvalid)."""
    try:
        mode, major, minor = frontend.dev_node(path)
    except OSError as e:
        raise NodeOpenFailed.of(e, path) from None
    if not stat.S_ISCHR(mode) or (major, minor) != devnum:
        raise NodeInvalid.at(path)


class _EmulatedMailbox(Mailbox):
    """The emulated device behind ``/dev/cxl/memN``: the node is checked as a real one
    would be at open, then the command goes to the emulated kernel as fields and bytes."""

    def __init__(self, frontend: _Frontend, path: str, devnum: tuple[int, int]) -> None:
        self.frontend = frontend
        self.path = path
        self.name = path.rpartition("/")[2]
        self.devnum = devnum
        #: The state the node was last found good in, and the query answers of that state
        #: (a listing sends several commands, each after two queries).
        self._checked: object = None
        self._queries: dict[int, tuple[int, list[tuple[int, int, int, int]]]] = {}

    def _open(self) -> None:
        state = self.frontend._snap
        if state is not None and state is self._checked:
            return
        check_node(self.frontend, self.path, self.devnum)
        self._checked = self.frontend._snap
        self._queries = {}

    def query(self, n: int) -> tuple[int, list[tuple[int, int, int, int]]]:
        self._open()
        answer = self._queries.get(n)
        if answer is None:
            answer = self._queries[n] = self.frontend.mailbox_query(self.name, n)
        return answer  # never changed by its users

    def send(
        self, cmd_id: int, opcode: int, payload: bytes, out_size: int, flags: int = 0
    ) -> tuple[int, bytes]:
        self._open()
        return self.frontend.mailbox_send(self.name, cmd_id, flags, opcode, payload, out_size)


class _Hold:
    """``exclusive`` on the emulated platform: the state directory's writers' lock, held
    by this process's store (whose commits then take it no more), with an unusable state
    directory reported as SysfsUnavailable."""

    def __init__(self, frontend: _Frontend) -> None:
        self.frontend = frontend
        self.hold: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        try:
            self.hold = self.frontend.store.exclusive()
            self.hold.__enter__()
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def __exit__(self, *exc: object) -> None:
        assert self.hold is not None
        self.hold.__exit__(None, None, None)


class EmulatedSysfs(Sysfs):
    emulated = True

    def __init__(self) -> None:
        self.frontend = _Frontend()
        self.frontend.freeze_on_load = self.one_shot
        self._mailboxes: dict[tuple[str, tuple[int, int]], _EmulatedMailbox] = {}

    def read(self, path: str) -> bytes:
        return self.frontend.read(path)

    def read_many(self, directory: str, names: list[str]) -> list[bytes | OSError]:
        return self.frontend.read_many(directory, names)

    def listdir(self, path: str) -> list[str]:
        return self.frontend.listdir(path)

    def scan(self, path: str, prefix: str) -> list[str]:
        return self.frontend.scan(path, prefix)

    def realpath(self, path: str) -> str:
        if path.startswith("/dev/"):
            self.frontend.dev_node(path)
            return path
        return self.frontend.realpath(path)

    def is_link(self, path: str) -> bool:
        return self.frontend.is_link(path)

    def exists(self, path: str) -> bool:
        return self.frontend.exists(path)

    def write(self, path: str, data: bytes) -> None:
        if path.endswith("/trigger_poison_list"):
            # The trace records the store makes name this process (common_pid), which
            # is how a listing knows its own.
            self.frontend.task_write(path, data, os.getpid())
            return
        self.frontend.write(path, data)

    def stat_dev(self, path: str) -> DevStat:
        mode, major, minor = self.frontend.dev_node(path)
        return DevStat(stat.S_ISCHR(mode), major, minor)

    def open_dev(self, path: str) -> int:
        self.frontend.open_dev(path)
        raise OSError(errno.ENXIO, os.strerror(errno.ENXIO), path)

    def open_block(self, path: str, flags: int) -> BlockIO:
        from pycxl.sysfs.emulated_block import open_block

        return open_block(self.frontend, path, flags)

    def mailbox(self, path: str, devnum: tuple[int, int]) -> Mailbox:
        key = (path, devnum)
        found = self._mailboxes.get(key)
        if found is None:
            found = self._mailboxes[key] = _EmulatedMailbox(self.frontend, path, devnum)
        return found

    def nd_control(self, path: str, devnum: tuple[int, int]) -> NdControl:
        from pycxl.sysfs.emulated_nd import EmulatedNdControl

        return EmulatedNdControl(self.frontend, path, devnum)

    def exclusive(self) -> AbstractContextManager[None]:
        return _Hold(self.frontend)

    def refresh(self) -> None:
        super().refresh()
        self.frontend.refresh()

    def mkdir(self, path: str) -> None:
        self.frontend.make_dir(path)

    def rmdir(self, path: str) -> None:
        self.frontend.remove_dir(path)

    def read_pipe(self, path: str, size: int) -> bytes:
        return self.frontend.consume(path, size)

    def write_stream(self, path: str, data: bytes) -> None:
        self.frontend.write_stream(path, data)

    def wait_notify(self, path: str, timeout_ms: int) -> int:
        """The emulated kernel notifies no one: look again every 50 ms (each look sees the
        latest state, and finishes background work that is due) until the attribute
        reads differently, or the time is up."""
        import time

        first = self.read(path)
        waited = 0
        while timeout_ms < 0 or waited < timeout_ms:
            step = 50 if timeout_ms < 0 else min(50, timeout_ms - waited)
            time.sleep(step / 1000)
            waited += step
            self.refresh()
            try:
                if self.read(path) != first:
                    return 1
            except OSError:
                return 1
        return 0

    def sync(self) -> None:
        try:
            self.frontend.sync()
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None

    def close(self) -> None:
        try:
            self.frontend.close()
        except FakeSysfsError as e:  # its stores could not be made durable (sync)
            raise SysfsUnavailable(str(e)) from None
