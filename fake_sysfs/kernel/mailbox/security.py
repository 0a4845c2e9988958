"""``memN/security/{state,sanitize,erase}``: the security state and media sanitization
(drivers/cxl/core/memdev.c, mbox.c).

A sanitize runs in the background: ``state`` reads ``sanitize`` until its deadline, then
the device has cleared its media (QEMU also its label area and event logs). A memdev
whose endpoint decodes anything (a committed decoder) is refused with EBUSY, as is a
second request while one runs; a user passphrase makes the kernel refuse with EINVAL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel.attrs import kstrtobool
from fake_sysfs.kernel.lsa import lsa_clear
from fake_sysfs.kernel.mailbox.clock import now

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

SANITIZE = 0x4400
SECURE_ERASE = 0x4401

#: Security state bits.
USER_PASS, MASTER_PASS, LOCKED, FROZEN, USER_LIMIT, MASTER_LIMIT = (1 << i for i in range(6))

GiB = 1 << 30


def qemu_sanitize_seconds(capacity: int) -> float:
    """QEMU's estimate: 4 s up to 512 MiB, 8 s to 1 GiB, 15 s to 2 GiB, 30 s to 4 GiB, then
    doubling with each doubling of capacity, up to 4 hours."""
    if capacity <= GiB // 2:
        return 4.0
    if capacity <= GiB:
        return 8.0
    if capacity <= 2 * GiB:
        return 15.0
    seconds, limit = 30.0, 4 * GiB
    while capacity > limit and seconds < 4 * 3600:
        seconds, limit = seconds * 2, limit * 2
    return min(seconds, 4 * 3600.0)


def state_show(k: Kernel, mem: Memdev) -> str:
    sec = mem.device.security
    if sec.sanitize_deadline:
        return "sanitize"
    if not sec.state & USER_PASS:
        return "disabled"
    if sec.state & (FROZEN | USER_LIMIT | MASTER_LIMIT):
        return "frozen"
    if sec.state & LOCKED:
        return "locked"
    return "unlocked"


def _busy(k: Kernel, mem: Memdev) -> bool:
    """Unbound, or its endpoint has a committed decoder (it may be in use)."""
    if not k.dev(mem).driver or mem.endpoint is None:
        return True
    port = k.ports.get(mem.endpoint)
    return port is None or any(d.committed for d in port.decoders)


def sanitize_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    if not kstrtobool(buf):
        raise kerr(errno.EINVAL)
    if _busy(k, mem):
        k.log.dbg(k.dev(mem), "sanitize: device is in use or has no endpoint")
        raise kerr(errno.EBUSY)
    sec = mem.device.security
    if sec.state & USER_PASS:
        raise kerr(errno.EINVAL)
    if sec.sanitize_deadline:
        raise kerr(errno.EBUSY)
    if mem.device.model == "mock":
        seconds = sec.sanitize_timeout_ms / 1000
    else:
        seconds = qemu_sanitize_seconds(mem.ram_size + mem.pmem_size)
    if seconds <= 0:
        finish(k, mem)
    else:
        sec.sanitize_deadline = now() + seconds
        from fake_sysfs.kernel.mailbox.timers import started

        started(k, mem)


def erase_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    """Secure erase: synchronous (neither modeled device advertises it)."""
    if not kstrtobool(buf):
        raise kerr(errno.EINVAL)
    if _busy(k, mem):
        raise kerr(errno.EBUSY)
    sec = mem.device.security
    if sec.state & (USER_PASS | LOCKED):
        raise kerr(errno.EINVAL)
    finish(k, mem)


def finish(k: Kernel, mem: Memdev) -> None:
    """The media is clear; QEMU also clears the label area.

    The media's bytes are not kernel state: the time the erase completed (the deadline of a
    background sanitize, else now) is recorded, and the media layer drops what was written
    before it (fake_sysfs.media). The info blocks the nd claims left on the media go too."""
    sec = mem.device.security
    mem.erased_at = sec.sanitize_deadline or now()
    mem.media.clear()
    sec.sanitize_deadline = 0.0
    if mem.device.model == "qemu":
        lsa_clear(k, mem)
    k.log.info(k.dev(mem), "sanitize complete")


def sanitize_timeout_show(mem: Memdev | None) -> int:
    return 0 if mem is None else mem.device.security.sanitize_timeout_ms


def sanitize_timeout_store(mem: Memdev | None, buf: bytes) -> None:
    from fake_sysfs.kernel.attrs import kstrtoull

    value = kstrtoull(buf, 0)
    if mem is None:
        raise kerr(errno.ENXIO)
    mem.device.security.sanitize_timeout_ms = value
