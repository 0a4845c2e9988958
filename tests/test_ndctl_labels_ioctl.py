"""pycxl.sysfs.ndioctl's real path: the ioctl numbers and buffers it hands to
``fcntl.ioctl`` on ``/dev/nmemN`` (include/uapi/linux/ndctl.h, ndctl-daxctl.md 7.2), the
node validation before it, and errno propagation. ``fcntl.ioctl`` is replaced by a fake
kernel working on the buffer in place; the node is /dev/null, a real character device.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
from typing import Any

import pytest

from pycxl.sysfs.base import NodeInvalid, NodeOpenFailed
from pycxl.sysfs.ndioctl import IoctlNdControl

NULL = (os.major(os.stat("/dev/null").st_rdev), os.minor(os.stat("/dev/null").st_rdev))


class FakeKernel:
    """Answers the three ioctls over a small area, recording each call."""

    def __init__(self) -> None:
        self.area = bytearray(b"\x11" * 64)
        self.calls: list[tuple[int, bytes]] = []
        self.fail: int = 0

    def ioctl(self, fd: int, request: int, arg: bytearray, mutate: bool) -> int:
        assert mutate and isinstance(arg, bytearray)
        self.calls.append((request, bytes(arg)))
        if self.fail:
            raise OSError(self.fail, os.strerror(self.fail))
        if request == 0xC00C4E04:
            struct.pack_into("<III", arg, 0, 0, len(self.area), 24)
        elif request == 0xC00C4E05:
            offset, length = struct.unpack_from("<II", arg)
            struct.pack_into("<I", arg, 8, 0)
            arg[12 : 12 + length] = self.area[offset : offset + length]
        elif request == 0xC0084E06:
            offset, length = struct.unpack_from("<II", arg)
            self.area[offset : offset + length] = arg[8 : 8 + length]
            struct.pack_into("<I", arg, 8 + length, 0)
        return 0


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()
    monkeypatch.setattr(fcntl, "ioctl", fake.ioctl)
    return fake


def node(devnum: tuple[int, int] = NULL, **kw: Any) -> IoctlNdControl:
    def open_dev(path: str) -> int:
        assert path == "/dev/nmem0"
        return os.open("/dev/null", os.O_RDWR)

    return IoctlNdControl(kw.get("open_dev", open_dev), "/dev/nmem0", devnum)


def test_the_three_commands_encode_and_decode(kernel: FakeKernel) -> None:
    control = node()
    control.open()
    assert control.get_config_size() == (0, 64, 24)
    assert control.get_config_data(8, 4) == (0, b"\x11" * 4)
    assert control.set_config_data(2, b"abc") == 0
    control.close()
    assert kernel.area[2:5] == b"abc"
    assert kernel.calls == [
        (0xC00C4E04, bytes(12)),
        (0xC00C4E05, struct.pack("<II", 8, 4) + bytes(8)),
        (0xC0084E06, struct.pack("<II", 2, 3) + b"abc" + bytes(4)),
    ]


def test_call_many_stops_at_the_first_failure(kernel: FakeKernel) -> None:
    control = node()
    statuses, failure = control.set_config_data_many([(0, b"a"), (1, b"b")])
    assert (statuses, failure) == ([0, 0], None)
    kernel.fail = errno.EBUSY
    statuses, failure = control.set_config_data_many([(0, b"a"), (1, b"b")])
    assert statuses == [] and failure is not None and failure.errno == errno.EBUSY
    assert len(kernel.calls) == 3  # the second write was not tried
    control.close()


def test_an_ioctl_errno_reaches_the_caller(kernel: FakeKernel) -> None:
    kernel.fail = errno.ENOTTY
    control = node()
    with pytest.raises(OSError) as caught:
        control.get_config_size()
    assert caught.value.errno == errno.ENOTTY
    control.close()


def test_the_node_must_be_the_dimms_character_device(kernel: FakeKernel) -> None:
    with pytest.raises(NodeInvalid) as caught:
        node((NULL[0], NULL[1] + 1)).open()
    assert caught.value.errno == errno.ENXIO
    assert kernel.calls == []


def test_a_node_that_cannot_be_opened(kernel: FakeKernel) -> None:
    def refuse(path: str) -> int:
        raise OSError(errno.ENOENT, "gone")

    with pytest.raises(NodeOpenFailed) as caught:
        node(open_dev=refuse).open()
    assert caught.value.errno == errno.ENOENT
