"""``/dev/nmemN`` of the emulated platform: the label ioctls go to the emulated kernel as
command numbers and bytes (fake_sysfs.kernel.nd_ioctl), never as emulator objects.

An ioctl that can only read (GET_CONFIG_SIZE, GET_CONFIG_DATA) is a pure function of the
state, answered from the state this process holds; the size joins the frontend's read
answers. One that may change the state (SET_CONFIG_DATA, or a refusal the kernel logs)
runs as the journaled operation ``nd_ioctl`` of the state store.
"""

from __future__ import annotations

import os

from fake_sysfs.errors import FakeSysfsError
from fake_sysfs.frontends.readcache import MISS
from pycxl.sysfs.base import SysfsUnavailable
from pycxl.sysfs.emulated import check_node
from pycxl.sysfs.ndioctl import ND_CMD_GET_CONFIG_SIZE, NdControl

TYPE_CHECKING = False  # typing costs every run its import
if TYPE_CHECKING:
    from typing import Any

    from fake_sysfs.frontends.inprocess import InProcess


class EmulatedNdControl(NdControl):
    def __init__(self, frontend: InProcess, path: str, devnum: tuple[int, int]) -> None:
        self.frontend = frontend
        self.path = path
        self.name = path.rpartition("/")[2]
        self.devnum = devnum

    def open(self) -> None:
        check_node(self.frontend, self.path, self.devnum)

    def call(self, nr: int, buf: bytes) -> bytes:
        from fake_sysfs.kernel import nd_ioctl

        group = f"/dev/{self.name}"
        # The answer depends on the input fields and the buffer's length only.
        key = b"N%d,%d," % (nr, len(buf)) + buf[:8]
        pure = nd_ioctl.is_pure(nr, buf)
        # Only the size is kept with the read answers: label data would make the memo as
        # large as the label areas (256 MiB on some platforms).
        keep = pure and nr == ND_CMD_GET_CONFIG_SIZE
        answer = self.frontend.cache.get(group, key) if keep else MISS
        if answer is MISS:
            if pure:
                reply = nd_ioctl.nd_ioctl(self.frontend.view.kernel, self.name, nr, buf)
                answer = (reply.errno, reply.out)
                if keep:
                    self.frontend.cache.put(group, key, answer)
            else:
                reply = self._transact(nr, [buf])[0]
                answer = (reply.errno, reply.out)
        err, out = answer
        if err:
            raise OSError(err, os.strerror(err))
        # The kernel copies back what it read in; a longer buffer keeps its tail.
        return bytes(out) + buf[len(out) :]

    def call_many(self, nr: int, bufs: list[bytes]) -> tuple[list[bytes], OSError | None]:
        """Ioctls that may change the state run as one journaled operation (one commit
        for a whole label area, not one per chunk)."""
        from fake_sysfs.kernel import nd_ioctl

        if all(nd_ioctl.is_pure(nr, buf) for buf in bufs):
            return super().call_many(nr, bufs)
        replies = self._transact(nr, bufs)
        done = [
            bytes(r.out) + buf[len(r.out) :]
            for r, buf in zip(replies, bufs, strict=False)
            if not r.errno
        ]
        failed = next((r.errno for r in replies if r.errno), 0)
        return done, OSError(failed, os.strerror(failed)) if failed else None

    def _transact(self, nr: int, bufs: list[bytes]) -> list[Any]:
        from fake_sysfs.journal import Refused
        from fake_sysfs.kernel.nd_ioctl import encode_batch

        if self.frontend._snap is None:
            self.frontend._snapshot()
        body = {"nmem": self.name, "nr": nr, "bufs": encode_batch(bufs)}
        try:
            replies, _ = self.frontend.run_operation("nd_ioctl", body)
        except Refused as e:
            return list(e.result)
        except FakeSysfsError as e:
            raise SysfsUnavailable(str(e)) from None
        return list(replies)
