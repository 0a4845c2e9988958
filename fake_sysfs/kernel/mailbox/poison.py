"""The device's poison list: debugfs ``inject_poison`` / ``clear_poison`` (the kernel's
test hooks) and ``trigger_poison_list``, which reads the list into ``cxl_poison`` trace
events (drivers/cxl/core/mbox.c, memdev.c, trace.h).

Records are 64-byte units of device physical address (DPA) with a source (3: injected).
Reading the list follows the kernel: with no committed endpoint decoder the persistent
partition, then the volatile one; otherwise each committed decoder's DPA range (records
there name the region and its host physical address), then what no decoder maps.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from fake_sysfs.errors import errno, kerr
from fake_sysfs.kernel.attrs import kstrtobool, kstrtoull
from fake_sysfs.kernel.mailbox.records import INJECTED, PoisonRecord
from fake_sysfs.kernel.tracefs import emit, recording
from fake_sysfs.kernfs.nodes import Attr, Dir, Node, static_dir

if TYPE_CHECKING:
    from fake_sysfs.kernel.decoders import Decoder
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.regions import Region
    from fake_sysfs.kernel.state import Kernel

UNIT = 64
#: trace_type values (enum cxl_poison_trace_type).
LIST, INJECT, CLEAR = 0, 1, 2
#: Records the mock accepts per device (its poison_inject_max default).
MOCK_INJECT_MAX = 8
#: What QEMU's list holds.
QEMU_LIST_MAX = 256
ULLONG_MAX = (1 << 64) - 1


def _capacity(mem: Memdev) -> int:
    return mem.ram_size + mem.pmem_size


def _check_dpa(k: Kernel, mem: Memdev, buf: bytes) -> int:
    dpa = kstrtoull(buf, 0)
    if dpa % UNIT or dpa >= _capacity(mem):
        k.log.dbg(k.dev(mem), f"poison dpa {dpa:#x} is not a valid device address")
        raise kerr(errno.EINVAL)
    return dpa


def _emit(
    k: Kernel, mem: Memdev, kind: int, dpa: int, length: int, source: int, flags: int = 0
) -> None:
    region, hpa = region_of(k, mem, dpa)
    emit(
        k,
        "cxl_poison",
        {
            "memdev": mem.name,
            "host": mem.parent.rpartition("/")[2],
            "serial": mem.serial,
            "trace_type": kind,
            "region": "" if region is None else f"region{region.id}",
            "hpa": hpa,
            "dpa": dpa,
            "dpa_length": length * UNIT,
            "uuid": list(_uuid_bytes(None if region is None else region.uuid)),
            "source": source,
            "flags": flags,
        },
    )


def _uuid_bytes(text: str | None) -> bytes:
    """A region's uuid as the kernel copies it (16 bytes, the text's order); a region
    without one (ram), or none, gives zeros."""
    if not text:
        return bytes(16)
    return bytes.fromhex(text.replace("-", ""))


def inject_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    dpa = _check_dpa(k, mem, buf)
    records = mem.device.poison
    if any(r.dpa == dpa for r in records):
        return  # already poisoned: injecting again changes nothing
    limit = MOCK_INJECT_MAX if mem.device.model == "mock" else QEMU_LIST_MAX
    if len(records) >= limit:
        raise kerr(errno.EBUSY)  # return code 0x10: inject limit reached
    records.append(PoisonRecord(dpa))
    _emit(k, mem, INJECT, dpa, 1, INJECTED)


def clear_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    dpa = _check_dpa(k, mem, buf)
    kept: list[PoisonRecord] = []
    for r in mem.device.poison:
        end = r.dpa + r.length * UNIT
        if not r.dpa <= dpa < end:
            kept.append(r)
        elif mem.device.model == "qemu":
            # QEMU splits a record the cleared 64 bytes fall inside.
            if dpa > r.dpa:
                kept.append(PoisonRecord(r.dpa, (dpa - r.dpa) // UNIT, r.source))
            if dpa + UNIT < end:
                kept.append(PoisonRecord(dpa + UNIT, (end - dpa - UNIT) // UNIT, r.source))
    mem.device.poison = kept
    _emit(k, mem, CLEAR, dpa, 1, INJECTED)


def _committed(k: Kernel, mem: Memdev) -> list[Decoder]:
    if mem.endpoint is None or mem.endpoint not in k.ports:
        return []
    return [d for d in k.ports[mem.endpoint].decoders if d.committed and d.size]


def _dpa_range(d: Decoder) -> tuple[int, int]:
    return (d.dpa_base or 0), d.dpa_size


def region_of(k: Kernel, mem: Memdev, dpa: int) -> tuple[Region | None, int]:
    """The region a committed decoder maps ``dpa`` into, and its host physical address
    (ULLONG_MAX without one)."""
    for d in _committed(k, mem):
        start, size = _dpa_range(d)
        if not start <= dpa < start + size or d.region is None:
            continue
        region = k.regions.get(d.region)
        if region is None:
            continue
        offset = dpa - start
        ways, gran = d.ways, d.granularity
        name = f"decoder{d.port}.{d.index}"
        pos = region.targets.index(name) if name in region.targets else 0
        # Modulo interleave: each granule of this device's DPA is every ways-th granule
        # of the region, at this device's position.
        hpa_offset = ((offset // gran) * ways + pos) * gran + offset % gran
        return region, d.start + hpa_offset
    return None, ULLONG_MAX


def _ranges(k: Kernel, mem: Memdev) -> list[tuple[int, int]]:
    """The DPA ranges read, in the kernel's order."""
    ram = (0, mem.ram_size)
    pmem = (mem.ram_size, mem.pmem_size)
    decoders = _committed(k, mem)
    if not decoders:
        return [r for r in (pmem, ram) if r[1]]
    ranges = [_dpa_range(d) for d in decoders]
    last_end = max(start + size for start, size in ranges)
    for part_start, part_size in (ram, pmem):
        part_end = part_start + part_size
        if part_size and last_end < part_end:
            begin = max(part_start, last_end)
            ranges.append((begin, part_end - begin))
    return ranges


def trigger_changes_state(k: Kernel, mem: Memdev) -> bool:
    """Whether a trigger would record anything: otherwise the store is pure (it only
    validates), and a listing that finds nothing stays a read."""
    if not recording(k, "cxl_poison") or mem.endpoint is None:
        return False
    return any(
        start <= r.dpa < start + size for start, size in _ranges(k, mem) for r in mem.device.poison
    )


def trigger_attr(k: Kernel, mem: Memdev) -> Attr:
    return Attr(0o200, store=partial(trigger_store, k, mem), pure=not trigger_changes_state(k, mem))


def trigger_store(k: Kernel, mem: Memdev, buf: bytes) -> None:
    """Read the poison list into ``cxl_poison`` List events."""
    if not kstrtobool(buf):
        return
    if mem.endpoint is None:
        raise kerr(errno.EINVAL)
    for start, size in _ranges(k, mem):
        for r in mem.device.poison:
            if start <= r.dpa < start + size:
                _emit(k, mem, LIST, r.dpa, r.length, r.source)


def _memdev_dir(k: Kernel, mem: Memdev) -> Dir:
    return static_dir(
        {
            "inject_poison": Attr(0o200, store=partial(inject_store, k, mem)),
            "clear_poison": Attr(0o200, store=partial(clear_store, k, mem)),
        }
    )


def debugfs_cxl(k: Kernel) -> dict[str, Node]:
    """``/sys/kernel/debug/cxl``: a directory per memdev whose device takes poison
    injection (the test hooks exist where the CEL lists Inject Poison)."""
    return {
        f"mem{i}": _memdev_dir(k, k.memdevs[i])
        for i in sorted(k.memdevs)
        if 0x4301 in k.memdevs[i].device.cel
    }
