"""The firmware-upload class device of a memdev (``memN/firmware/memN``) and the CXL
driver's transfer behind it (drivers/base/firmware_loader/sysfs_upload.c,
drivers/cxl/core/memdev.c).

``loading`` 1 starts receiving an image, ``data`` takes its bytes in order, ``loading`` 0
hands it to the driver: the checks of its prepare step (an empty or oversized image, a
cancel recorded meanwhile) end the upload at once with an error; otherwise the transfer
runs in the background for as long as the device takes (``duration``), and ends in the
next slot after the active one being staged. ``cancel`` aborts a running upload, and while
idle is recorded by the driver for the next one (the store still fails with ENODEV).
"""

from __future__ import annotations

import binascii
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel.attrs import fail_after_change, kstrtobool, kstrtoint
from fake_sysfs.kernel.mailbox.clock import now

if TYPE_CHECKING:
    from fake_sysfs.kernel.mailbox.device import FwUpload
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: Largest image each device model takes.
MOCK_LIMIT = 64 << 20
QEMU_LIMIT = 32 << 20
#: The mock moves payload_max - 128 bytes per Transfer FW part, about 1.5 ms each; QEMU
#: takes about 10 s per transfer.
MOCK_PART_SECONDS = 0.0015
QEMU_SECONDS = 10.0


def duration(mem: Memdev, size: int) -> float:
    return transfer_seconds(mem.device.model, mem.payload_max, size)


def transfer_seconds(model: str, payload_max: int, size: int) -> float:
    """How long a transfer of ``size`` bytes takes on a device model."""
    if model == "mock":
        part = max(payload_max - 128, 1)
        return -(-size // part) * MOCK_PART_SECONDS
    return QEMU_SECONDS


def _up(mem: Memdev) -> FwUpload:
    return mem.device.upload


# -- shows -------------------------------------------------------------------------------------


def loading_show(k: Kernel, mem: Memdev) -> int:
    return 1 if _up(mem).status == "receiving" else 0


def status_show(k: Kernel, mem: Memdev) -> str:
    return _up(mem).status


def error_show(k: Kernel, mem: Memdev) -> str:
    up = _up(mem)
    if up.status != "idle":
        raise kerr(errno.EBUSY)
    return up.error


def remaining_size_show(k: Kernel, mem: Memdev) -> int:
    return _up(mem).remaining


def data_read(k: Kernel, mem: Memdev) -> bytes:
    return b""


# -- stores ------------------------------------------------------------------------------------


def loading_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    value = kstrtoint(buf, 10)
    up = _up(mem)
    if value == 1:
        if up.status != "idle":
            raise kerr(errno.EBUSY)
        up.status, up.image, up.error = "receiving", [], ""
    elif value == 0:
        if up.status == "receiving":
            _start(k, mem)
        elif up.status != "idle":
            raise kerr(errno.EBUSY)
    elif value == -1:
        if up.status == "receiving":
            up.status, up.image = "idle", []
    else:
        k.log.err(k.dev(mem), f"firmware: unexpected value ({value})")


def data_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    up = _up(mem)
    if up.status != "receiving":
        raise kerr(errno.ENODEV)
    up.image.append(binascii.b2a_base64(buf, newline=False).decode("ascii"))


def cancel_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    if not kstrtobool(buf):
        raise kerr(errno.EINVAL)
    up = _up(mem)
    up.cancel = True
    if up.status == "idle":
        # The request still reached the driver, which keeps it for the next upload.
        fail_after_change(k, errno.ENODEV)
    if up.status == "transferring":
        up.deadline = min(up.deadline, now())  # the transfer notices at its next part


def _start(k: Kernel, mem: Memdev) -> None:
    """``loading`` 0 after an image: the driver's prepare step, then the transfer."""
    up = _up(mem)
    image = b"".join(binascii.a2b_base64(piece) for piece in up.image)
    up.image = []
    up.size = up.remaining = len(image)
    up.sha256 = _sha256(image)
    limit = MOCK_LIMIT if mem.device.model == "mock" else QEMU_LIMIT
    if up.cancel:
        up.cancel = False
        _fail(up, "preparing", "user-abort")
    elif not image or len(image) > limit:
        _fail(up, "preparing", "invalid-file-size")
    else:
        fw = mem.device.firmware
        up.status = "transferring"
        up.slot = fw.active % max(len(fw.slots), 1) + 1
        up.deadline = now() + duration(mem, len(image))
        from fake_sysfs.kernel.mailbox.timers import started

        started(k, mem)


def _fail(up: FwUpload, progress: str, code: str) -> None:
    up.status = "idle"
    up.error = f"{progress}:{code}"


def finish(k: Kernel, mem: Memdev) -> None:
    """The transfer's deadline passed: the image is in its slot, activated at the next
    cold reset (staged) — or the transfer was cancelled."""
    up = _up(mem)
    up.deadline = 0.0
    if up.cancel:
        up.cancel = False
        _fail(up, "transferring", "user-abort")
        return
    fw = mem.device.firmware
    up.status, up.remaining, up.error = "idle", 0, ""
    fw.staged = up.slot
    if mem.device.model == "mock":
        up.checksum = up.sha256
    else:
        fw.slots[up.slot - 1] = "BWFW VERSION 1"


def fw_buf_checksum(mem: Memdev | None) -> str:
    """The mock's sha256 of the last image it received (of nothing before any)."""
    if mem is None or not mem.device.upload.checksum:
        return _sha256(b"")
    return mem.device.upload.checksum


def _sha256(data: bytes) -> str:
    # hashlib is imported here, not by every cold command that loads the kernel.
    import hashlib

    return hashlib.sha256(data).hexdigest()
