"""The real-device mailbox path, without hardware: pycxl's ioctls against a fake
character device.

``fcntl.ioctl`` is replaced by a stand-in for the kernel's cxl_memdev_ioctl: it decodes the
structs pycxl built (reading the input payload through the user pointer, as the kernel's
copy_from_user does), passes the command to the emulated kernel's checks and device, and
writes the answer back through the output pointer. So every layout, pointer and size of
specs/mailbox.md §1.2 is exercised end to end, and the errno cases of §1.4 come from the
same checks the emulation uses. The node itself is /dev/null (a real character device);
its number stands in for the memdev's.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.kernel.mailbox import ioctl as kio
from fake_sysfs.kernel.state import Kernel
from pycxl.sysfs import ioctl as real
from pycxl.sysfs.base import NodeInvalid, NodeOpenFailed
from tests.kernel_helpers import fresh_kernel, unbind
from tests.test_mailbox_list import cxl, init_preset

NULL = (1, 3)  # /dev/null's major:minor


class FakeDevice:
    """The kernel side of /dev/cxl/memN for one memdev of ``kernel``."""

    def __init__(self, kernel: Kernel, mem_id: int = 0) -> None:
        self.kernel = kernel
        self.mem = kernel.memdevs[mem_id]
        self.calls: list[int] = []

    def ioctl(self, fd: int, request: int, arg: Any, mutate: bool = False) -> int:
        assert mutate and isinstance(arg, bytearray)
        self.calls.append(request)
        if request == real.CXL_MEM_QUERY_COMMANDS:
            n = struct.unpack_from("<I", arg)[0]
            assert len(arg) == 8 + 16 * n
            count, infos = kio.query(self.kernel, self.mem, n)
            struct.pack_into("<I", arg, 0, count)
            for i, info in enumerate(infos):
                struct.pack_into("<IIII", arg, 8 + 16 * i, *info)
            return 0
        if request == real.CXL_MEM_SEND_COMMAND:
            assert len(arg) == 48
            (cmd_id, flags, opcode, rsvd, _retval, in_size, in_rsvd, in_ptr, out_size, out_rsvd,
             out_ptr) = struct.unpack("<IIHHIIIQIIQ", arg)  # fmt: skip
            assert in_rsvd == 0 and out_rsvd == 0
            payload = ctypes.string_at(in_ptr, in_size) if in_size else b""
            reply = kio.send(self.kernel, self.mem, cmd_id, flags, opcode, rsvd, payload, out_size)
            if reply.errno:
                raise OSError(reply.errno, os.strerror(reply.errno))
            if reply.out:
                ctypes.memmove(out_ptr, reply.out, len(reply.out))
            struct.pack_into("<I", arg, 12, reply.retval)
            struct.pack_into("<I", arg, 32, len(reply.out))
            return 0
        raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))


def open_null(path: str) -> int:
    return os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)


@pytest.fixture
def mock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDevice]:
    dev = FakeDevice(fresh_kernel("cxl_test"))
    monkeypatch.setattr(fcntl, "ioctl", dev.ioctl)
    yield dev


@pytest.fixture
def qemu(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDevice]:
    dev = FakeDevice(fresh_kernel("qemu-mixed"))
    monkeypatch.setattr(fcntl, "ioctl", dev.ioctl)
    yield dev


def mailbox() -> real.IoctlMailbox:
    return real.IoctlMailbox(open_null, "/dev/cxl/mem0", NULL)


def test_query_count_then_entries(mock: FakeDevice) -> None:
    count, infos = mailbox().query(0)
    assert (count, infos) == (25, [])
    count, infos = mailbox().query(count)
    assert len(infos) == 25
    assert infos[0] == (0, 0, 0, 0)  # id 0 is a hole
    assert infos[1] == (1, 1, 0, 0x43)  # IDENTIFY: enabled, fixed sizes
    assert infos[6] == (6, 1, 8, 0xFFFF_FFFF)  # GET_LSA: variable output
    assert infos[11] == (11, 0, 0, 0x10)  # GET_ALERT_CONFIG: not in the mock's CEL
    assert infos[15] == (0, 0, 0, 0)  # withdrawn poison command: a hole
    assert mock.calls == [real.CXL_MEM_QUERY_COMMANDS] * 2


def test_identify_decodes(mock: FakeDevice) -> None:
    retval, out = mailbox().send(1, 0, b"", 0x43)
    assert retval == 0 and len(out) == 0x43
    assert out[:16] == b"mock fw v1 \0\0\0\0\0"
    total, vol, pers, align = struct.unpack_from("<QQQQ", out, 0x10)
    assert (total, vol, pers, align) == (8, 0, 0, 1)
    assert struct.unpack_from("<I", out, 0x38)[0] == 128 * 1024  # LSA size


def test_partition_health_and_firmware_decode(mock: FakeDevice) -> None:
    retval, out = mailbox().send(5, 0, b"", 0x20)
    assert (retval, struct.unpack("<QQQQ", out)) == (0, (4, 4, 0, 0))
    retval, out = mailbox().send(7, 0, b"", 0x12)
    assert (retval, struct.unpack("<BBBBHIII", out)) == (0, (7, 3, 0x18, 15, 25, 10, 20, 30))
    retval, out = mailbox().send(4, 0, b"", 0x50)
    assert retval == 0 and out[:3] == bytes([3, 2, 0])
    assert out[0x10:0x20] == b"cxl_test_fw_001\0" and out[0x40:0x50] == bytes(16)


def test_set_lsa_is_exclusive_while_the_nvdimm_is_bound(mock: FakeDevice) -> None:
    _, infos = mailbox().query(25)
    assert infos[10] == (10, 3, 0xFFFF_FFFF, 0)  # ENABLED | EXCLUSIVE
    with pytest.raises(OSError) as e:
        mailbox().send(10, 0, struct.pack("<II", 0, 0) + b"x", 0)
    assert e.value.errno == errno.EBUSY


def test_lsa_round_trip_through_the_pointers(mock: FakeDevice) -> None:
    unbind(mock.kernel, "pmem0")
    data = bytes(range(256)) * 4
    retval, out = mailbox().send(10, 0, struct.pack("<II", 0x100, 0) + data, 0)
    assert (retval, out) == (0, b"")
    retval, out = mailbox().send(6, 0, struct.pack("<II", 0x100, len(data)), 4096)
    assert (retval, out) == (0, data)


def test_alert_config_on_qemu(qemu: FakeDevice) -> None:
    retval, out = mailbox().send(11, 0, b"", 0x10)
    assert (retval, struct.unpack("<BBBB6H", out)) == (0, (0, 0, 75, 40, 35, 10, 25, 20, 0, 0))
    # Set the life-used warning to 50: stored, and the alert becomes programmable.
    retval, _ = mailbox().send(12, 0, struct.pack("<BBBBHHHH", 1, 1, 50, 0, 0, 0, 0, 0), 0)
    assert retval == 0
    _, out = mailbox().send(11, 0, b"", 0x10)
    assert struct.unpack("<BBBB6H", out)[:4] == (0, 1, 75, 50)
    # A warning at or above the critical threshold: invalid input (return code 2).
    retval, _ = mailbox().send(12, 0, struct.pack("<BBBBHHHH", 1, 1, 80, 0, 0, 0, 0, 0), 0)
    assert retval == 2


@pytest.mark.parametrize(
    ("cmd_id", "payload", "out_size", "err"),
    [
        (0, b"", 0, errno.ENOTTY),  # id 0
        (25, b"", 0, errno.ENOTTY),  # beyond the table
        (15, b"", 0, errno.ENOTTY),  # a hole: never enabled
        (11, b"", 0x10, errno.ENOTTY),  # GET_ALERT_CONFIG: not in the mock's CEL
        (9, bytes(10), 0, errno.ENOTTY),  # SET_PARTITION_INFO: neither device has it
        (1, b"x", 0x43, errno.ENOMEM),  # fixed input size 0
        (1, b"", 0x42, errno.ENOMEM),  # output buffer smaller than the fixed size
        (6, bytes(4097), 4096, errno.EINVAL),  # input over payload_max
        (2, b"", 0, errno.EPERM),  # RAW: not compiled in
        (6, struct.pack("<II", 128 * 1024 - 8, 16), 4096, errno.EINVAL),  # mock: beyond the LSA
    ],
)
def test_errno_cases(
    mock: FakeDevice, cmd_id: int, payload: bytes, out_size: int, err: int
) -> None:
    with pytest.raises(OSError) as e:
        mailbox().send(cmd_id, 0, payload, out_size)
    assert e.value.errno == err
    assert not isinstance(e.value, (NodeOpenFailed, NodeInvalid))


def test_qemu_answers_out_of_range_with_a_return_code(qemu: FakeDevice) -> None:
    lsa = qemu.mem.lsa_size
    retval, out = mailbox().send(6, 0, struct.pack("<II", lsa - 8, 16), 2048)
    assert (retval, out) == (2, b"")


def test_flags_and_reserved_fields_are_checked(mock: FakeDevice) -> None:
    with pytest.raises(OSError) as e:
        mailbox().send(1, 0, b"", 0x43, flags=4)
    assert e.value.errno == errno.EINVAL


def test_open_failure_and_a_foreign_node(mock: FakeDevice) -> None:
    def refuse(path: str) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    with pytest.raises(NodeOpenFailed) as e:
        real.IoctlMailbox(refuse, "/dev/cxl/mem0", NULL).query(0)
    assert e.value.errno == errno.EACCES
    with pytest.raises(NodeInvalid) as v:
        real.IoctlMailbox(open_null, "/dev/cxl/mem0", (60, 0)).query(0)
    assert v.value.errno == errno.ENXIO
    assert mock.calls == []  # no ioctl reached the device


# -- libcxl's lines through the real path ------------------------------------------------------


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return init_preset(tmp_path_factory.mktemp("ioctl") / "state", "cxl_test")


def through_real_ioctls(
    monkeypatch: pytest.MonkeyPatch, dev: FakeDevice, opener: Any = open_null
) -> None:
    """The emulated sysfs answers reads; its mailbox is the real ioctl path to ``dev``."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    def mailbox(self: EmulatedSysfs, path: str, devnum: tuple[int, int]) -> real.IoctlMailbox:
        return real.IoctlMailbox(opener, path, devnum)

    monkeypatch.setattr(EmulatedSysfs, "mailbox", mailbox)
    monkeypatch.setattr(real, "node_number", lambda fd: (60, dev.mem.id))
    monkeypatch.setattr(fcntl, "ioctl", dev.ioctl)


def test_list_through_the_real_ioctls(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    dev = FakeDevice(fresh_kernel("cxl_test"))
    through_real_ioctls(monkeypatch, dev)
    r = cxl(state, "list", "-m", "mem0", "-H", "-I", "-F")
    assert r.err == b"" and r.rc == 0
    assert b'"life_used_percent":15' in r.out and b'"next_persistent_size":0' in r.out
    assert b'"slot_3_version":"cxl_test_fw_003"' in r.out
    # Per command: QUERY(0), QUERY(25), SEND; partition info is a second command.
    assert dev.calls.count(real.CXL_MEM_SEND_COMMAND) == 4
    assert dev.calls.count(real.CXL_MEM_QUERY_COMMANDS) == 8


def test_open_failure_lines(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    def refuse(path: str) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    through_real_ioctls(monkeypatch, FakeDevice(fresh_kernel("cxl_test")), refuse)
    r = cxl(state, "list", "-m", "mem0", "-H")
    assert r.err == (
        b"libcxl: do_cmd: failed to open /dev/cxl/mem0: Permission denied\n"
        b"libcxl: alloc_do_query: mem0: query commands failed: Permission denied\n"
        b"libcxl: cxl_cmd_new_generic: mem0: query returned: Permission denied\n"
    )
    assert b"health" not in r.out and r.rc == 0


def test_failed_send_and_bad_status_are_silent(
    monkeypatch: pytest.MonkeyPatch, state: Path
) -> None:
    """§1.5: an ioctl that fails at SEND, or a non-zero return code, drops the key without
    a word."""
    dev = FakeDevice(fresh_kernel("cxl_test"))
    dev.mem.device.cel.remove(0x4200)  # Get Health Info: ENOTTY at SEND
    dev.mem.device.firmware.slots = []
    through_real_ioctls(monkeypatch, dev)
    original = dev.ioctl

    def fw_busy(fd: int, request: int, arg: Any, mutate: bool = False) -> int:
        if request == real.CXL_MEM_SEND_COMMAND and struct.unpack_from("<I", arg)[0] == 4:
            struct.pack_into("<I", arg, 12, 6)  # Get FW Info answers "busy"
            return 0
        return original(fd, request, arg, mutate)

    monkeypatch.setattr(fcntl, "ioctl", fw_busy)
    r = cxl(state, "list", "-m", "mem0", "-H", "-F")
    assert (r.err, r.rc) == (b"", 0)
    assert b'"health"' not in r.out and b'"firmware"' not in r.out
