"""The label ioctls of ``/dev/nmemN`` in the emulated kernel (fake_sysfs.kernel.nd_ioctl):
each rule of drivers/nvdimm/bus.c (__nd_ioctl, nd_cmd_clear_to_send) and drivers/cxl/pmem.c
(cxl_pmem_get_config_size / _data, cxl_pmem_set_config_data), the errno it gives, that a
refusal changes nothing, and the debug line the kernel logs where it logs one.

Expected values are the kernel source's: max_xfer = payload size - 8 (sizeof struct
cxl_mbox_set_lsa), E2BIG past the mailbox payload (cxl_internal_send_cmd), EBUSY for a set
while an enabled region holds the DIMM, ND_IOCTL_MAX_BUFLEN = 4 MiB; the mock refuses a
range past its 128 KiB area with -EINVAL, QEMU with "invalid input" (-ENXIO).
"""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest

from fake_sysfs.journal import Refused
from fake_sysfs.kernel import nd_ioctl
from fake_sysfs.kernel.lsa import lsa_read
from fake_sysfs.kernel.mailbox import ioctl as mbox
from fake_sysfs.kernel.mailbox.commands import TABLE
from fake_sysfs.kernel.nd_ioctl import (
    GET_CONFIG_DATA,
    GET_CONFIG_SIZE,
    SET_CONFIG_DATA,
    nd_ioctl_operation,
)
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.store import StateStore
from tests.kernel_helpers import fresh_kernel, unbind
from tests.nd_helpers import pmem_state

AREA = 128 << 10  # cxl_test's mock LSA
PAYLOAD = 4096  # the mock's mailbox payload


def get_size() -> bytes:
    return bytes(12)


def get_data(offset: int, length: int) -> bytes:
    return struct.pack("<II", offset, length) + bytes(4 + length)


def set_data(offset: int, data: bytes) -> bytes:
    return struct.pack("<II", offset, len(data)) + data + bytes(4)


def memdev_of(k: Kernel, name: str) -> int:
    nmem = nd_ioctl.nmem_named(k, name)
    assert nmem is not None
    return nmem.memdev


def area(k: Kernel, name: str) -> bytes:
    mem = k.memdevs[memdev_of(k, name)]
    return lsa_read(k, mem, 0, mem.lsa_size)


@pytest.fixture
def mock() -> Kernel:
    return fresh_kernel("cxl_test")


def test_get_config_size_reports_the_lsa_and_the_payload_less_the_set_lsa_header(
    mock: Kernel,
) -> None:
    reply = nd_ioctl.nd_ioctl(mock, "nmem0", GET_CONFIG_SIZE, get_size())
    assert reply.errno == 0
    assert struct.unpack("<III", reply.out) == (0, AREA, PAYLOAD - 8)


def test_get_and_set_config_data_move_the_lsa_bytes(mock: Kernel) -> None:
    data = bytes(range(256)) * 16
    reply = nd_ioctl.nd_ioctl(mock, "nmem3", SET_CONFIG_DATA, set_data(1000, data[:4088]))
    assert reply.errno == 0
    # The kernel copies the buffer back with the status (0) after the data.
    assert reply.out == set_data(1000, data[:4088])
    got = nd_ioctl.nd_ioctl(mock, "nmem3", GET_CONFIG_DATA, get_data(1000, 4088))
    assert got.errno == 0
    assert got.out[8:12] == bytes(4)
    assert got.out[12:] == data[:4088]
    assert area(mock, "nmem3")[1000:5088] == data[:4088]


@pytest.mark.parametrize(
    ("nr", "buf", "err"),
    [
        # No such DIMM behind the node.
        (GET_CONFIG_SIZE, get_size(), "ENXIO@nmem99"),
        # Commands a CXL DIMM does not implement (smart, flags, vendor, call, unknown).
        (1, get_size(), "ENOTTY"),
        (3, get_size(), "ENOTTY"),
        (9, get_size(), "ENOTTY"),
        (10, get_size(), "ENOTTY"),
        (64, get_size(), "ENOTTY"),
        # A buffer shorter than the command's fields.
        (GET_CONFIG_DATA, b"\0" * 6, "EFAULT"),
        (GET_CONFIG_DATA, get_data(0, 64)[:-1], "EFAULT"),
        (SET_CONFIG_DATA, set_data(0, b"x" * 32)[:-4], "EFAULT"),
        # Larger than the mailbox payload (cxl_internal_send_cmd).
        (GET_CONFIG_DATA, get_data(0, PAYLOAD + 1), "E2BIG"),
        (SET_CONFIG_DATA, set_data(0, b"x" * (PAYLOAD - 7)), "E2BIG"),
        # Past the end of the area: the mock refuses the request.
        (GET_CONFIG_DATA, get_data(AREA - 8, 16), "EINVAL"),
        (SET_CONFIG_DATA, set_data(AREA - 8, b"x" * 16), "EINVAL"),
    ],
)
def test_refusals_change_nothing(mock: Kernel, nr: int, buf: bytes, err: str) -> None:
    name = "nmem0"
    if "@" in err:
        err, name = err.split("@")
    before = area(mock, "nmem0")
    log = mock.log.next_seq
    reply = nd_ioctl.nd_ioctl(mock, name, nr, buf)
    assert reply == (getattr(errno, err), b"")
    assert area(mock, "nmem0") == before
    assert mock.log.next_seq == log  # the kernel logs none of these


def test_a_full_payload_read_is_allowed(mock: Kernel) -> None:
    # GET's limit is the payload itself (only SET carries the 8-byte header).
    assert nd_ioctl.nd_ioctl(mock, "nmem0", GET_CONFIG_DATA, get_data(0, PAYLOAD)).errno == 0


def test_qemu_answers_a_range_past_the_area_with_invalid_input() -> None:
    k = fresh_kernel("qemu-pmem")
    size = k.memdevs[memdev_of(k, "nmem0")].lsa_size
    reply = nd_ioctl.nd_ioctl(k, "nmem0", GET_CONFIG_DATA, get_data(size - 8, 16))
    assert reply.errno == errno.ENXIO


def test_more_than_4_mib_is_refused_with_a_debug_line(mock: Kernel) -> None:
    length = 4 << 20
    reply = nd_ioctl.nd_ioctl(mock, "nmem0", GET_CONFIG_DATA, struct.pack("<II", 0, length))
    assert reply.errno == errno.EINVAL
    assert mock.log.records[-1].text == (
        f"nd_bus ndbus0: nmem0 cmd: get_data buf_len: {length + 12} > {4 << 20}"
    )
    assert not nd_ioctl.is_pure(GET_CONFIG_DATA, struct.pack("<II", 0, length))


def test_set_on_a_read_only_node_is_refused_with_a_debug_line(mock: Kernel) -> None:
    reply = nd_ioctl.nd_ioctl(mock, "nmem0", SET_CONFIG_DATA, set_data(0, b"x"), read_only=True)
    assert reply.errno == errno.EPERM
    assert mock.log.records[-1].text == "nd_bus ndbus0: 'set_data' command while read-only."
    assert area(mock, "nmem0") == bytes(AREA)


def test_the_kernel_path_ignores_the_user_space_exclusivity_of_set_lsa(mock: Kernel) -> None:
    """While cxl_pmem holds the device, user space's Set LSA through /dev/cxl/memN is EBUSY;
    the nvdimm path is the kernel's own and goes through."""
    mem = mock.memdevs[memdev_of(mock, "nmem0")]
    set_lsa_id = next(c.id for c in TABLE if c.opcode == 0x4103)
    user = mbox.send(mock, mem, set_lsa_id, 0, 0, 0, struct.pack("<II", 0, 0) + b"x", 0)
    assert user.errno == errno.EBUSY
    assert nd_ioctl.nd_ioctl(mock, "nmem0", SET_CONFIG_DATA, set_data(0, b"x")).errno == 0


def test_an_unbound_dimm_still_answers(mock: Kernel) -> None:
    """The ioctl finds the DIMM device, not its driver (nd_ioctl's device_find_child)."""
    unbind(mock, "nmem0", "nd")
    assert nd_ioctl.nd_ioctl(mock, "nmem0", GET_CONFIG_SIZE, get_size()).errno == 0
    assert nd_ioctl.nd_ioctl(mock, "nmem0", SET_CONFIG_DATA, set_data(0, b"y")).errno == 0


def test_set_while_an_enabled_region_holds_the_dimm_is_busy(tmp_path: Path) -> None:
    state = pmem_state(tmp_path, tmp_path / "template")
    k = StateStore(state).load()[0]
    before = area(k, "nmem0")
    reply = nd_ioctl.nd_ioctl(k, "nmem0", SET_CONFIG_DATA, set_data(0, b"x" * 16))
    assert reply.errno == errno.EBUSY
    assert area(k, "nmem0") == before
    # Reading stays allowed, and a DIMM outside the region may be written.
    assert nd_ioctl.nd_ioctl(k, "nmem0", GET_CONFIG_DATA, get_data(0, 16)).errno == 0
    assert nd_ioctl.nd_ioctl(k, "nmem1", SET_CONFIG_DATA, set_data(0, b"x")).errno == 0


def test_the_journaled_operation_replays_and_refuses_cleanly(mock: Kernel) -> None:
    chunks = [set_data(0, b"a" * 100), set_data(4088, b"b" * 100), set_data(AREA, b"c")]
    body = {"nmem": "nmem2", "nr": SET_CONFIG_DATA, "bufs": nd_ioctl.encode_batch(chunks)}
    assert nd_ioctl.decode_batch(str(body["bufs"])) == chunks
    replies = nd_ioctl_operation(mock, body)
    # In order, up to the first failure; the writes before it are kept.
    assert [r.errno for r in replies] == [0, 0, errno.EINVAL]
    data = area(mock, "nmem2")
    assert data[:100] == b"a" * 100 and data[4088:4188] == b"b" * 100
    # A lone refused ioctl that logged nothing commits nothing.
    lone = {"nmem": "nmem2", "nr": SET_CONFIG_DATA, "bufs": nd_ioctl.encode_batch(chunks[2:])}
    with pytest.raises(Refused):
        nd_ioctl_operation(mock, lone)
