"""/dev/pmemN keeps what is written: the FUSE file system's operations on the block
file (size, reads and writes, the end, fsync, a device that goes away), and, under
``fake-sysfs run``, ``dd`` round trips landing at the DPA the interleave decodes (the map
itself: test_media_map.py), a file system made and checked by e2fsprogs, and a mount
refused when the media directory is hostile. The ``run`` tests need root and FUSE and
skip otherwise, as the other FUSE tests do.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from fake_sysfs.frontends.fuse import Live, SysfsOperations
from fake_sysfs.store import StateStore
from tests.nd_helpers import CREATE_REGION, pmem_state, run_ndctl
from tests.test_fuse_mount import require_fuse, run
from tests.test_media_map import MEM0, MEM2, PMEM_DPA, cxl, fake_sysfs, media_bytes

KiB, MiB = 1 << 10, 1 << 20


@pytest.fixture
def fsdax_state(tmp_path: Path) -> Path:
    """region0 with one 64 MiB fsdax namespace: /dev/pmem0, 62 MiB of data after the
    2 MiB the pfn device reserves."""
    state = pmem_state(tmp_path, tmp_path)
    result = run_ndctl(["create-namespace", "-m", "fsdax", "-s", "64M", "-r", "region0"], state)
    assert result.rc == 0, result.err.decode()
    return state


@pytest.fixture
def fsdax(fsdax_state: Path) -> Path:
    """The same, to mount: skips without FUSE."""
    require_fuse()
    return fsdax_state


def test_operations_on_the_block_file(fsdax_state: Path) -> None:
    """The file system operations themselves (no mount needed): the size, read and write
    through one handle and another, fsync, and EIO once the namespace is gone."""
    ops = SysfsOperations(Live(StateStore(fsdax_state)))
    try:
        attrs = ops.getattr("/dev/pmem0")
        assert stat.S_ISREG(attrs["st_mode"]) and attrs["st_size"] == 62 * MiB
        # A reader opened before anything was written (no media yet) sees what a
        # writer's handle writes later.
        other = ops.open("/dev/pmem0", os.O_RDONLY)
        assert ops.read("/dev/pmem0", 4, 8 * KiB, other) == bytes(4)
        assert not (fsdax_state / "media").exists()  # reads make nothing
        fh = ops.open("/dev/pmem0", os.O_RDWR)
        assert ops.write("/dev/pmem0", b"persistent", 8 * KiB, fh) == 10
        assert ops.fsync("/dev/pmem0", 0, fh) == 0
        assert ops.read("/dev/pmem0", 12, 8 * KiB - 1, other) == b"\0persistent\0"
        assert ops.read("/dev/pmem0", 4096, 62 * MiB, other) == b""
        with pytest.raises(OSError) as e:
            ops.write("/dev/pmem0", b"x", 62 * MiB, fh)
        assert e.value.errno == errno.ENOSPC
        result = run_ndctl(["destroy-namespace", "-f", "namespace0.0"], fsdax_state)
        assert result.rc == 0, result.err.decode()
        with pytest.raises(OSError) as e:
            ops.read("/dev/pmem0", 10, 8 * KiB, fh)
        assert e.value.errno == errno.EIO
        ops.release("/dev/pmem0", fh)
        ops.release("/dev/pmem0", other)
        with pytest.raises(OSError) as e:
            ops.getattr("/dev/pmem0")
        assert e.value.errno == errno.ENOENT
    finally:
        ops.destroy("/")
    # Device offset 8 KiB: region granule 257 (2 MiB + 8 KiB), mem0's granule 128.
    assert media_bytes(fsdax_state, MEM0, PMEM_DPA + 128 * 8 * KiB, 10) == b"persistent"


def test_dd_round_trip_lands_on_the_members_media(fsdax: Path, tmp_path: Path) -> None:
    """Device offset 8 KiB is namespace offset 2 MiB + 8 KiB: region granule 257, i.e.
    position 1 (mem0), its granule 128; the next 8 KiB are mem2's granule 129."""
    pattern = os.urandom(16 * KiB)
    (tmp_path / "pattern").write_bytes(pattern)
    script = (
        "stat -c %s /dev/pmem0; "
        f"dd if={tmp_path}/pattern of=/dev/pmem0 bs=8k seek=1 conv=notrunc,fsync 2>/dev/null; "
        f"dd if=/dev/pmem0 bs=8k skip=1 count=2 2>/dev/null | cmp - {tmp_path}/pattern "
        "&& echo same; "
        "dd if=/dev/pmem0 bs=4k skip=15872 2>/dev/null | wc -c; "
        "dd if=/dev/zero of=/dev/pmem0 bs=4k seek=15872 count=1 conv=notrunc 2>&1 "
        "| grep -c 'No space left on device'"
    )
    proc = run(fsdax, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == [str(62 * MiB), "same", "0", "1"]
    assert media_bytes(fsdax, MEM0, PMEM_DPA + 128 * 8 * KiB, 8 * KiB) == pattern[: 8 * KiB]
    assert media_bytes(fsdax, MEM2, PMEM_DPA + 129 * 8 * KiB, 8 * KiB) == pattern[8 * KiB :]


def test_mkfs_and_fsck_on_pmem0(fsdax: Path) -> None:
    if shutil.which("mkfs.ext4") is None or shutil.which("fsck.ext4") is None:
        pytest.skip("e2fsprogs is not installed")
    script = (
        "mkfs.ext4 -q -F -b 4096 -L media-test /dev/pmem0 && fsck.ext4 -n -f /dev/pmem0 >/dev/null "
        "&& dumpe2fs -h /dev/pmem0 2>/dev/null | grep -E '^(Filesystem volume name|Block count)'"
    )
    proc = run(fsdax, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = [" ".join(line.split()) for line in proc.stdout.decode().splitlines()]
    assert lines == ["Filesystem volume name: media-test", f"Block count: {62 * MiB // 4096}"]
    # Persistent: after a reboot, the same region and fsdax namespace made again (the same
    # DPA on each device), another mount finds the file system intact.
    assert fake_sysfs("reset", "--state", str(fsdax)).returncode == 0
    assert not StateStore(fsdax).load()[0].regions
    cxl(fsdax, *CREATE_REGION)
    result = run_ndctl(["create-namespace", "-m", "fsdax", "-s", "64M", "-r", "region0"], fsdax)
    assert result.rc == 0, result.err.decode()
    proc = run(fsdax, "fsck.ext4", "-n", "-f", "/dev/pmem0")
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_a_hostile_media_directory_stops_the_mount(fsdax: Path, tmp_path: Path) -> None:
    os.symlink(tmp_path, fsdax / "media")
    proc = run(fsdax, "true")
    assert proc.returncode == 1
    assert proc.stderr.decode() == (
        f"fake-sysfs: media directory {fsdax}/media is a symbolic link; refusing to use it "
        "(remove it, or run 'fake-sysfs init --force' to start over)\n"
    )
