"""The ioctl server behind ``fake-sysfs run``'s shim (fake_sysfs/frontends/devioctl.py),
without root: its answers are the kernel's (the same the emulated mailbox gives pycxl, and
the uapi's layouts, mailbox.md §1.2), its wire format, and where the shim may be built.
The shim with an unmodified binary is tests/test_device_ioctl_twins.py (root, FUSE)."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_sysfs.frontends import devioctl
from fake_sysfs.frontends.devioctl import IoctlServer
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from pycxl.sysfs.emulated import EmulatedSysfs
from tests.helpers import environment

IDENTIFY = 1
GET_PARTITION_INFO = 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[IoctlServer]:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    StateStore(state).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True)
    srv = IoctlServer(StateStore(state), str(tmp_path / "s.sock"))
    yield srv
    srv.stop()


def _pycxl_mailbox(server: IoctlServer) -> EmulatedSysfs:
    with environment({"FAKE_SYSFS_STATE": str(server.store.dir), "PYCXL_SYSFS_ROOT": None}):
        sysfs = EmulatedSysfs()
    return sysfs


def test_query_is_the_kernels(server: IoctlServer) -> None:
    arg = bytearray(8)
    assert server.handle(1, "mem0", devioctl.CXL_MEM_QUERY_COMMANDS, arg, b"") == (0, b"")
    (count,) = struct.unpack_from("<I", arg)
    # v6.14's table has 25 slots (mailbox.md §1.3).
    assert count == 25
    arg = bytearray(8 + 16 * count)
    struct.pack_into("<I", arg, 0, count)
    assert server.handle(1, "mem0", devioctl.CXL_MEM_QUERY_COMMANDS, arg, b"")[0] == 0
    entries = [struct.unpack_from("<IIII", arg, 8 + 16 * i) for i in range(count)]
    # Slot 1 is IDENTIFY: enabled, no input, 0x43 bytes out (mailbox.md §1.3).
    assert entries[1] == (IDENTIFY, 1, 0, 0x43)
    assert entries[0] == (0, 0, 0, 0)
    sysfs = _pycxl_mailbox(server)
    with environment({"FAKE_SYSFS_STATE": str(server.store.dir)}):
        mailbox = sysfs.mailbox("/dev/cxl/mem0", _devnum(sysfs, "mem0"))
        assert mailbox.query(count) == (count, [tuple(e) for e in entries])


def _devnum(sysfs: EmulatedSysfs, name: str) -> tuple[int, int]:
    text = sysfs.read(f"/sys/bus/cxl/devices/{name}/dev").decode().strip()
    major, minor = text.split(":")
    return int(major), int(minor)


def _send(cmd_id: int, out_size: int) -> bytearray:
    return bytearray(struct.pack("<IIHHIIIQIIQ", cmd_id, 0, 0, 0, 0, 0, 0, 0, out_size, 0, 0))


def test_send_gives_the_devices_answer(server: IoctlServer) -> None:
    arg = _send(GET_PARTITION_INFO, 0x20)
    err, out = server.handle(1, "mem0", devioctl.CXL_MEM_SEND_COMMAND, arg, b"")
    assert err == 0
    fields = struct.unpack("<IIHHIIIQIIQ", arg)
    assert fields[4] == 0  # retval: success
    assert fields[8] == len(out) == 0x20  # out.size: what the device returned
    # Active volatile and persistent capacity of cxl_test's mem0: 1 GiB each, in 256 MiB
    # multiples (its listing: active_volatile_size, active_persistent_size).
    active_volatile, active_persistent, _, _ = struct.unpack_from("<QQQQ", out)
    assert (active_volatile, active_persistent) == (4, 4)
    sysfs = _pycxl_mailbox(server)
    with environment({"FAKE_SYSFS_STATE": str(server.store.dir)}):
        mailbox = sysfs.mailbox("/dev/cxl/mem0", _devnum(sysfs, "mem0"))
        assert mailbox.send(GET_PARTITION_INFO, 0, b"", 0x20) == (0, out)


def test_refusals(server: IoctlServer) -> None:
    assert server.handle(1, "mem99", devioctl.CXL_MEM_QUERY_COMMANDS, bytearray(8), b"")[0] == (
        errno.ENXIO
    )
    assert server.handle(1, "mem0", 0xC0DE, bytearray(), b"")[0] == errno.ENOTTY
    # An output buffer smaller than the command's fixed output (kernel: -ENOMEM).
    arg = _send(GET_PARTITION_INFO, 4)
    assert server.handle(1, "mem0", devioctl.CXL_MEM_SEND_COMMAND, arg, b"")[0] == errno.ENOMEM
    size = bytearray(12)
    assert server.handle(2, "nmem99", devioctl.ND_IOCTL_GET_CONFIG_SIZE, size, b"")[0] == (
        errno.ENXIO
    )


def test_nd_config_size(server: IoctlServer) -> None:
    arg = bytearray(12)
    assert server.handle(2, "nmem0", devioctl.ND_IOCTL_GET_CONFIG_SIZE, arg, b"") == (0, b"")
    status, size, max_xfer = struct.unpack("<III", arg)
    # cxl_test's label area is 128 KiB, its payload 4 KiB, less Set LSA's 8-byte header.
    assert (status, size, max_xfer) == (0, 128 << 10, 4096 - 8)


def test_the_wire_format(server: IoctlServer) -> None:
    """What the shim sends and reads back, over the socket."""
    server.start()
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(server.path)
    name = b"mem0"
    arg = struct.pack("<II", 0, 0)
    client.sendall(
        bytes((1, len(name)))
        + name
        + struct.pack("<Q", devioctl.CXL_MEM_QUERY_COMMANDS)
        + struct.pack("<I", len(arg))
        + arg
        + struct.pack("<I", 0)
    )
    reply = b""
    while chunk := client.recv(4096):
        reply += chunk
    client.close()
    err, length = struct.unpack_from("<iI", reply)
    assert (err, length) == (0, 8)
    assert struct.unpack_from("<I", reply, 8) == (25,)
    assert struct.unpack_from("<I", reply, 16) == (0,)  # no output payload


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_the_shim_is_never_kept_where_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared-cache"
    (shared / "fake-sysfs").mkdir(parents=True)
    os.chmod(shared / "fake-sysfs", 0o777)
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o700)
    with environment({"XDG_CACHE_HOME": str(shared)}):
        built = devioctl.shim_library(str(scratch))
    assert built is not None and Path(built).parent == scratch
    assert list((shared / "fake-sysfs").iterdir()) == []
    own = tmp_path / "own-cache"
    with environment({"XDG_CACHE_HOME": str(own)}):
        built = devioctl.shim_library(str(scratch))
    assert built is not None and Path(built).parent == own / "fake-sysfs"
    assert (own / "fake-sysfs").stat().st_mode & 0o077 == 0
