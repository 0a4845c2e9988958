"""The label ioctls of ``/dev/nmemN``: ND_CMD_GET_CONFIG_SIZE (4), GET_CONFIG_DATA (5) and
SET_CONFIG_DATA (6), as libnvdimm checks them (drivers/nvdimm/bus.c) and cxl_pmem answers
them for a CXL DIMM (drivers/cxl/pmem.c), in front of the emulated device.

The caller hands the ioctl's whole argument buffer (bytes) and gets back the errno (0: done)
and, on success, the buffer as the kernel copies it back. Layouts (packed, little-endian u32):

* 4: out ``status, config_size, max_xfer`` (12 bytes);
* 5: in ``in_offset, in_length``, out ``status`` then ``in_length`` bytes of data;
* 6: in ``in_offset, in_length``, ``in_length`` bytes, out a 4-byte status.

Checks, in the kernel's order:

1. the DIMM must exist on an nd bus (the file's minor names it), else ENXIO. Whether the
   nvdimm driver is bound does not matter: the kernel finds the device, not its driver;
2. a command the DIMM does not implement: ENOTTY (a CXL DIMM has exactly these three);
3. SET on a node opened read-only: EPERM, with a debug line on the bus device;
4. more than 4 MiB in all: EINVAL, with a debug line;
5. a buffer shorter than the command needs: EFAULT (what copy_from_user says);
6. SET while the DIMM is busy (an enabled nd region holds it, ``state`` says ``active``):
   EBUSY. The kernel owns the labels then;
7. cxl_pmem: GET_CONFIG_SIZE reports the LSA size and ``payload_max - 8`` as max_xfer.
   A transfer larger than the mailbox payload (GET: the data; SET: 8 header bytes plus the
   data) is E2BIG; otherwise Get / Set LSA go to the device, whose refusal of a range beyond
   the area is EINVAL (the cxl_test mock) or ENXIO (QEMU's "invalid input", as the kernel
   turns any device return code into ENXIO); a device busy sanitizing answers EBUSY.

The user-space exclusivity of Set LSA (the mailbox ioctl gets EBUSY while cxl_pmem holds
the device) does not apply here: this is the kernel's own path to the device.

GET commands change nothing. SET changes the LSA; the caller runs it as the journaled
operation ``nd_ioctl`` (``nd_ioctl_operation``), which is a deterministic function of the
kernel state and the record's body, as is a GET refused with a debug line (the line is
the kernel's state too).
"""

from __future__ import annotations

import binascii
import errno
import struct
import zlib
from typing import TYPE_CHECKING, Any, NamedTuple

from fake_sysfs.kernel import core
from fake_sysfs.kernel.mailbox import labels
from fake_sysfs.kernel.mailbox.reply import DeviceErrno

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.nvdimm import Nmem
    from fake_sysfs.kernel.state import Kernel

GET_CONFIG_SIZE = 4
GET_CONFIG_DATA = 5
SET_CONFIG_DATA = 6
#: nvdimm_cmd_name() of the three, as they appear in the DIMM's ``commands``.
NAMES = {GET_CONFIG_SIZE: "get_size", GET_CONFIG_DATA: "get_data", SET_CONFIG_DATA: "set_data"}
#: ND_IOCTL_MAX_BUFLEN (SZ_4M).
MAX_BUFLEN = 4 << 20
#: sizeof(struct cxl_mbox_set_lsa) without its data: what max_xfer leaves for the header.
SET_LSA_HEADER = 8

_U32 = struct.Struct("<I")
_PAIR = struct.Struct("<II")


class NdReply(NamedTuple):
    #: errno of the ioctl; 0 when it succeeded.
    errno: int
    #: The argument buffer as copied back (only on success).
    out: bytes = b""


def nmem_named(k: Kernel, name: str) -> Nmem | None:
    """The DIMM behind ``/dev/<name>``, None when no DIMM has that name (ENXIO)."""
    for bridge in k.bridges:
        for nmem in bridge.nmems:
            if nmem.name == name:
                return nmem
    return None


def buffer_length(nr: int, buf: bytes) -> int | None:
    """What the kernel copies in for command ``nr`` (input and output envelopes), or None
    when the buffer is too short even for the fields that size it."""
    if nr == GET_CONFIG_SIZE:
        return 12
    if len(buf) < 8:
        return None
    length: int = _PAIR.unpack_from(buf)[1]
    return 12 + length if nr == GET_CONFIG_DATA else 8 + length + 4


def is_pure(nr: int, buf: bytes) -> bool:
    """The ioctl neither changes the device nor logs: its answer is a function of the
    state (what a caller may cache)."""
    size = buffer_length(nr, buf)
    return nr != SET_CONFIG_DATA and (size is None or size <= MAX_BUFLEN)


def busy(k: Kernel, nmem: Nmem) -> bool:
    """An enabled nd region holds the DIMM (nvdimm->busy, which ``state`` shows)."""
    from fake_sysfs.kernel.nvdimm import state_show

    return state_show(k, nmem) == "active"


def nd_ioctl(k: Kernel, name: str, nr: int, buf: bytes, read_only: bool = False) -> NdReply:
    """One ioctl ``_IOWR('N', nr, ...)`` on ``/dev/<name>`` with argument ``buf``."""
    nmem = nmem_named(k, name)
    if nmem is None:
        return NdReply(errno.ENXIO)
    if nr not in NAMES:
        return NdReply(errno.ENOTTY)
    bus = core.find_device(k, "nd", f"ndbus{_bus_id(k, nmem)}")
    if read_only and nr == SET_CONFIG_DATA:
        k.log.dbg(bus, f"'{NAMES[nr]}' command while read-only.")
        return NdReply(errno.EPERM)
    size = buffer_length(nr, buf)
    if size is None:
        return NdReply(errno.EFAULT)
    if size > MAX_BUFLEN:
        k.log.dbg(bus, f"{name} cmd: {NAMES[nr]} buf_len: {size} > {MAX_BUFLEN}")
        return NdReply(errno.EINVAL)
    if len(buf) < size:
        return NdReply(errno.EFAULT)
    if nr == SET_CONFIG_DATA and busy(k, nmem):
        return NdReply(errno.EBUSY)
    mem = k.memdevs[nmem.memdev]
    if nr == GET_CONFIG_SIZE:
        return NdReply(0, struct.pack("<III", 0, mem.lsa_size, mem.payload_max - SET_LSA_HEADER))
    offset, length = _PAIR.unpack_from(buf)
    if nr == GET_CONFIG_DATA:
        if length > mem.payload_max:
            return NdReply(errno.E2BIG)
        err, data = _device(k, mem, 0x4102, _PAIR.pack(offset, length))
        if err:
            return NdReply(err)
        return NdReply(0, buf[:8] + _U32.pack(0) + data)
    if SET_LSA_HEADER + length > mem.payload_max:
        return NdReply(errno.E2BIG)
    payload = _PAIR.pack(offset, 0) + buf[8 : 8 + length]
    err, _ = _device(k, mem, 0x4103, payload)
    if err:
        return NdReply(err)
    return NdReply(0, buf[: 8 + length] + _U32.pack(0))


def _bus_id(k: Kernel, nmem: Nmem) -> int:
    return next(b.bus_id for b in k.bridges if nmem in b.nmems)


def _device(k: Kernel, mem: Memdev, opcode: int, payload: bytes) -> tuple[int, bytes]:
    """cxl_internal_send_cmd of Get / Set LSA: (errno, output)."""
    if mem.device.security.sanitize_deadline:
        return errno.EBUSY, b""  # only health info passes while a sanitize runs
    handler = labels.get_lsa if opcode == 0x4102 else labels.set_lsa
    try:
        retval, out = handler(k, mem, payload)
    except DeviceErrno as e:
        return e.errno, b""
    return (errno.ENXIO, b"") if retval else (0, out)


# -- the journaled operation -------------------------------------------------------------------


def nd_ioctl_batch(
    k: Kernel, name: str, nr: int, bufs: list[bytes], read_only: bool = False
) -> list[NdReply]:
    """Several ioctls in order, as a caller makes them one after another: the replies up
    to and including the first failure (after which the caller stops)."""
    replies = []
    for buf in bufs:
        reply = nd_ioctl(k, name, nr, buf, read_only)
        replies.append(reply)
        if reply.errno:
            break
    return replies


def encode_batch(bufs: list[bytes]) -> str:
    """The buffers as one JSON-ready string: their count and lengths (u32) then their
    bytes, deflated (label areas are mostly zeros: a 256 MiB zeroing journals in ~256 KiB)."""
    head = struct.pack(f"<I{len(bufs)}I", len(bufs), *(len(b) for b in bufs))
    packed = zlib.compress(head + b"".join(bufs), 1)
    return binascii.b2a_base64(packed, newline=False).decode("ascii")


def decode_batch(text: str) -> list[bytes]:
    raw = zlib.decompress(binascii.a2b_base64(text))
    (count,) = _U32.unpack_from(raw)
    sizes = struct.unpack_from(f"<{count}I", raw, 4)
    at = 4 + 4 * count
    bufs = []
    for size in sizes:
        bufs.append(raw[at : at + size])
        at += size
    return bufs


def nd_ioctl_operation(kernel: Kernel, body: dict[str, Any]) -> list[NdReply]:
    """The journal's "nd_ioctl" operation: ioctls that may change the state (SET) or log,
    run in order until one fails. When the first one fails and logs nothing, nothing
    changed and the operation is refused (nothing to commit); otherwise the record commits
    the changes and log lines made, and replays to the same replies."""
    from fake_sysfs.journal import Refused

    mark = kernel.log.next_seq
    replies = nd_ioctl_batch(
        kernel,
        str(body["nmem"]),
        int(body["nr"]),
        decode_batch(str(body["bufs"])),
        bool(body.get("read_only", False)),
    )
    if len(replies) == 1 and replies[0].errno and kernel.log.next_seq == mark:
        raise Refused(replies)
    return replies
