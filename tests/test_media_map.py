"""The emulated media of pmem block devices, without FUSE: the interleave math against
hand-computed examples, each block device's address map, I/O landing at the DPA the CXL
decode says, erase by sanitize, reboot and init, and hostile media paths.

Expected values: the HDM decode of CXL 3.1 8.2.4.20 (modulo: granule g of a region is at
position g % ways, the member's granule g // ways), the XOR arithmetic of CXL 3.1 9.13.1
with cxl_test's CXIMS (cxl_test-platform.md: xormaps 0x404100, 0x808200, one map for a
2-way window), the pfn info block reserve of the nvdimm core (8 KiB plus 64 bytes of page
map per 4 KiB page, aligned up to 2 MiB), and the block capacities the emulated sysfs
shows. The preset's devices: qemu-mixed's mem2 is the type-3 device 0000:0d:00.0 and mem0
is 0000:df:00.0; its region0 (tests/nd_helpers.py) is 2-way at 8 KiB across both host
bridges, mem2 at position 0.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_sysfs.kernel import log as klog
from fake_sysfs.kernel.interleave import Interleave, of_region
from fake_sysfs.kernel.media import Piece, disk_geometry, media_name
from fake_sysfs.media import BlockDevice, MediaDir, MediaError, before_reboot, open_block
from fake_sysfs.store import StateStore
from tests.helpers import run_cxl, sysfs_read, sysfs_write
from tests.nd_helpers import CREATE_REGION, pmem_state, run_ndctl

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
#: qemu-mixed's decoder0.0 window, where region0 starts.
REGION0_START = 0x490000000
#: The pmem partition of qemu-mixed's devices starts after 512 MiB of ram.
PMEM_DPA = 512 * MiB
MEM2, MEM0 = "0000:0d:00.0", "0000:df:00.0"


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media-template")


@pytest.fixture
def state(tmp_path: Path, template_root: Path) -> Path:
    return pmem_state(tmp_path, template_root)


def ndctl(state: Path, *argv: str) -> None:
    result = run_ndctl(list(argv), state)
    assert result.rc == 0, result.err.decode()


def cxl(state: Path, *argv: str) -> None:
    result = run_cxl(list(argv), {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None})
    assert result.rc == 0, result.err.decode()


def kernel(state: Path):  # type: ignore[no-untyped-def]
    return StateStore(state).load()[0]


def media_bytes(state: Path, name: str, dpa: int, length: int, stamp: int = 0) -> bytes:
    path = state / "media" / f"{name}@{stamp}"
    if not path.exists():
        return bytes(length)
    with open(path, "rb") as f:
        f.seek(dpa)
        data = f.read(length)
    return data + bytes(length - len(data))


@contextlib.contextmanager
def _disk(state: Path, disk: str) -> Iterator[BlockDevice]:
    """The pmem disk ``disk`` of the state, open on its media files."""
    geometry = disk_geometry(kernel(state), disk)
    assert geometry is not None
    dev = open_block(str(state), geometry)
    try:
        yield dev
    finally:
        dev.close()


def write_disk(state: Path, disk: str, offset: int, data: bytes) -> int:
    with _disk(state, disk) as dev:
        return dev.write(offset, data)


def read_disk(state: Path, disk: str, offset: int, length: int) -> bytes:
    with _disk(state, disk) as dev:
        return dev.read(offset, length)


def fake_sysfs(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FAKE_SYSFS, *args], capture_output=True, text=True, timeout=120, check=False
    )


# -- the interleave --------------------------------------------------------------------------


def test_x1_is_the_identity() -> None:
    one = Interleave(start=0x1_0000_0000, size=GiB, ways=1, granularity=256)
    assert one.locate(0x1_0001_2345) == (0, 0x12345)
    assert one.address(0, 0x12345) == 0x1_0001_2345
    assert one.run(0x1_0000_01F0) == 0x10


def test_x2_modulo_across_host_bridges(state: Path) -> None:
    k = kernel(state)
    decode = of_region(k, k.regions[0])
    assert decode == Interleave(REGION0_START, GiB, 2, 8192, ())
    # granule 0 -> mem at position 0, its granule 0; granule 1 -> position 1, granule 0;
    # granule 2 -> position 0, granule 1.
    assert decode.locate(REGION0_START + 5) == (0, 5)
    assert decode.locate(REGION0_START + 8192 + 5) == (1, 5)
    assert decode.locate(REGION0_START + 2 * 8192 + 5) == (0, 8192 + 5)
    assert decode.locate(REGION0_START + 0x123456) == (1, 0x91456)  # granule 0x91
    assert decode.address(1, 0x91456) == REGION0_START + 0x123456
    assert decode.run(REGION0_START + 8000) == 192


def test_x3_modulo() -> None:
    three = Interleave(start=0xF1_1000_0000, size=3 * GiB, ways=3, granularity=512)
    # granule 4 -> position 1, that member's granule 1
    assert three.locate(0xF1_1000_0000 + 4 * 512 + 7) == (1, 512 + 7)
    assert three.address(1, 512 + 7) == 0xF1_1000_0000 + 4 * 512 + 7


def xor_region(tmp_path: Path) -> Path:
    from tests.test_mailbox_list import init_preset

    state = init_preset(tmp_path / "xor", "cxl_test-xor")
    cxl(state, "create-region", "-d", "decoder0.1", "-t", "pmem", "-w", "2", "-g", "256",
        "-m", "mem0", "mem1")  # fmt: skip
    return state


def test_xor_window(tmp_path: Path) -> None:
    """cxl_test-xor's decoder0.1: 2-way XOR at 256 over host bridges 0 and 1, based at
    0xf090000000 (bits 8, 14 and 22 clear); one XOR map, 0x404100."""
    state = xor_region(tmp_path)
    k = kernel(state)
    region = next(r for r in k.regions.values() if r.state == "commit")
    decode = of_region(k, region)
    base = 0xF0_9000_0000
    assert decode == Interleave(base, 2 * GiB, 2, 256, (0x404100,))
    # Bit 8 is replaced by bit 8 ^ bit 14 ^ bit 22 of the address.
    assert decode.locate(base + 0x100) == (1, 0)  # 1 ^ 0 ^ 0
    assert decode.locate(base + 0x4000) == (1, 0x2000)  # 0 ^ 1 ^ 0: granule 0x40 -> 0x20
    assert decode.locate(base + 0x4100) == (0, 0x2000)  # 1 ^ 1 ^ 0
    assert decode.locate(base + 0x404000) == (0, 0x202000)  # 0 ^ 1 ^ 1
    assert decode.address(1, 0x2000) == base + 0x4000
    assert decode.run(base + 0x4010) == 0xF0
    # A raw namespace at the region's start: device bytes [0x4000, 0x4200) are on the
    # member at position 1 (cxl_mem.1), then on position 0's (cxl_mem.0), both at DPA
    # offset 0x2000 of their pmem partition (from 1 GiB on cxl_test's devices).
    ndctl(state, "create-namespace", "-m", "raw", "-s", "16M", "-r", "region1")
    geometry = disk_geometry(kernel(state), "pmem1")
    assert geometry is not None
    assert [(m.media, m.dpa_base) for m in geometry.members] == [
        ("cxl_mem.0", GiB),
        ("cxl_mem.1", GiB),
    ]
    assert geometry.pieces(0x4000, 0x200) == [
        Piece(1, GiB + 0x2000, 256),
        Piece(0, GiB + 0x2000, 256),
    ]


def test_xor_decode_is_a_bijection() -> None:
    decode = Interleave(0xF0_9000_0000, 2 * GiB, 2, 256, (0x404100,))
    seen = set()
    for granule in range(0, 1 << 15, 7):
        hpa = decode.start + granule * 256 + 3
        pos, dpa = decode.locate(hpa)
        assert decode.address(pos, dpa) == hpa
        seen.add((pos, dpa))
    assert len(seen) == len(range(0, 1 << 15, 7))


# -- block device maps -----------------------------------------------------------------------


def raw_namespace(state: Path) -> None:
    ndctl(state, "create-namespace", "-m", "raw", "-s", "32M", "-r", "region0")  # pmem0


def make_namespaces(state: Path) -> None:
    raw_namespace(state)
    ndctl(state, "create-namespace", "-m", "fsdax", "-s", "64M", "-r", "region0")  # pmem0.1
    ndctl(state, "create-namespace", "-m", "sector", "-s", "64M", "-r", "region0")  # .2s


def test_maps_of_raw_fsdax_and_sector_disks(state: Path) -> None:
    make_namespaces(state)
    k = kernel(state)
    assert media_name(k.memdevs[2]) == MEM2 and media_name(k.memdevs[0]) == MEM0
    for disk in ("pmem0", "pmem0.1", "pmem0.2s"):
        geometry = disk_geometry(k, disk)
        assert geometry is not None
        sectors = int(sysfs_read(state, f"/sys/block/{disk}/size"))
        assert geometry.size == sectors * 512, disk
        # Members by position, as the nd region's mappings have them.
        mappings = sorted((m.position, m.memdev, m.start) for m in k.nd_regions[0].mappings)
        assert [(m.media, m.dpa_base) for m in geometry.members] == [
            (media_name(k.memdevs[mem]), start) for _, mem, start in mappings
        ]
    raw = disk_geometry(k, "pmem0")
    fsdax = disk_geometry(k, "pmem0.1")
    sector = disk_geometry(k, "pmem0.2s")
    assert raw is not None and fsdax is not None and sector is not None
    assert (raw.size, raw.data_offset, raw.extents) == (32 * MiB, 0, ((0, 32 * MiB),))
    # 8 KiB + 64 bytes per page of a 64 MiB namespace, up to 2 MiB.
    assert 8 * KiB + 64 * ((64 * MiB - 8 * KiB) // 4096) < 2 * MiB
    assert (fsdax.data_offset, fsdax.size) == (2 * MiB, 62 * MiB)
    assert fsdax.extents == ((32 * MiB, 64 * MiB),)
    # A btt of class BTT2 (what "btt" gives a CXL namespace) starts at the namespace's first
    # byte (nd_btt_version()); its data follows the one-page info block.
    assert (sector.sector, sector.internal_block, sector.data_offset) == (4096, 4096, 4 * KiB)


def test_writes_land_at_the_decoded_dpa(state: Path) -> None:
    """pmem0 (raw, the region's first 32 MiB): device bytes [0, 8K) are granule 0 (mem2,
    its first pmem granule), [8K, 16K) granule 1 (mem0's first), [16K, 24K) granule 2
    (mem2's second)."""
    make_namespaces(state)
    pattern = bytes(range(256)) * 96  # 24 KiB
    assert write_disk(state, "pmem0", 0, pattern) == len(pattern)
    assert media_bytes(state, MEM2, PMEM_DPA, 8 * KiB) == pattern[: 8 * KiB]
    assert media_bytes(state, MEM0, PMEM_DPA, 8 * KiB) == pattern[8 * KiB : 16 * KiB]
    assert media_bytes(state, MEM2, PMEM_DPA + 8 * KiB, 8 * KiB) == pattern[16 * KiB :]
    assert read_disk(state, "pmem0", 100, 20 * KiB) == pattern[100 : 100 + 20 * KiB]
    # fsdax pmem0.1: region offset 32 MiB (granule 4096, mem2's granule 2048) plus the
    # 2 MiB the pfn device reserves (256 granules: mem2's granule 2048 + 128).
    write_disk(state, "pmem0.1", 0, b"fsdax!")
    assert media_bytes(state, MEM2, PMEM_DPA + (2048 + 128) * 8 * KiB, 6) == b"fsdax!"
    # sector pmem0.2s: region offset 96 MiB (granule 12288: mem2's granule 6144); block 0
    # after the 4 KiB info block, in the namespace's granule 0 (mem2's granule 6144);
    # blocks 1 and 2 in granule 1 (mem0's granule 6144).
    write_disk(state, "pmem0.2s", 0, b"A" * 4096 + b"B" * 4096 + b"C" * 4096)
    assert media_bytes(state, MEM2, PMEM_DPA + 6144 * 8 * KiB + 4 * KiB, 4096) == b"A" * 4096
    assert media_bytes(state, MEM0, PMEM_DPA + 6144 * 8 * KiB, 8192) == b"B" * 4096 + b"C" * 4096
    assert read_disk(state, "pmem0.2s", 4090, 12) == b"A" * 6 + b"B" * 6
    # Sparse: a few writes allocate a few blocks, not the device's capacity.
    for path in (state / "media").iterdir():
        assert path.stat().st_blocks * 512 < 4 * MiB
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "media").stat().st_mode) == 0o700


def test_the_end_of_the_device(state: Path) -> None:
    raw_namespace(state)
    size = 32 * MiB
    assert read_disk(state, "pmem0", size - 2, 10) == b"\0\0"
    assert read_disk(state, "pmem0", size, 10) == b""
    assert write_disk(state, "pmem0", size - 3, b"abcdef") == 3  # short, as a disk
    assert read_disk(state, "pmem0", size - 3, 3) == b"abc"
    with pytest.raises(OSError) as e:
        write_disk(state, "pmem0", size, b"x")
    assert e.value.errno == 28  # ENOSPC


# -- erase, reboot, init ---------------------------------------------------------------------


def recreate(state: Path) -> None:
    """The same region and raw namespace again: the same HPA and DPA."""
    cxl(state, *CREATE_REGION)
    raw_namespace(state)


def test_sanitize_zeroes_the_media(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_900_000_000.0]
    monkeypatch.setattr(klog, "wall_clock", lambda: now[0])
    raw_namespace(state)
    write_disk(state, "pmem0", 0, b"x" * 16 * KiB)  # on mem2 and mem0
    cxl(state, "destroy-region", "-f", "region0")
    sysfs_write(state, "/sys/bus/cxl/devices/mem0/security/sanitize", b"1\n")  # mem0 only
    now[0] += 60  # QEMU's sanitize of 1 GiB takes 8 s
    assert sysfs_read(state, "/sys/bus/cxl/devices/mem0/security/state") == b"disabled\n"
    erased = kernel(state).memdevs[0].erased_at
    assert erased == 1_900_000_008.0  # when the sanitize ended
    # The sanitize cleared mem0's labels only: mem2's label of the old namespace has no
    # partner, which fails the nd region's probe (scan_labels: "missing label"), so the
    # administrator clears mem2's labels too before making the region again.
    ndctl(state, "zero-labels", "nmem2")
    recreate(state)
    data = read_disk(state, "pmem0", 0, 16 * KiB)
    assert data == b"x" * 8 * KiB + bytes(8 * KiB)  # mem2 kept its granule, mem0 is blank
    assert sorted(p.name for p in (state / "media").iterdir()) == [MEM2 + "@0"]
    write_disk(state, "pmem0", 8 * KiB, b"new")
    assert media_bytes(state, MEM0, PMEM_DPA, 3, round(erased * 1e6)) == b"new"


def test_reset_keeps_the_media_and_init_starts_blank(state: Path) -> None:
    raw_namespace(state)
    write_disk(state, "pmem0", 0, b"kept over a reboot")
    proc = fake_sysfs("reset", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    assert not kernel(state).regions
    recreate(state)
    assert read_disk(state, "pmem0", 0, 18) == b"kept over a reboot"
    proc = fake_sysfs("init", "--force", "-p", "qemu-mixed", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    assert list((state / "media").iterdir()) == []
    recreate(state)
    assert read_disk(state, "pmem0", 0, 18) == bytes(18)


def test_reset_applies_an_erase_not_seen_yet(state: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_900_000_000.0]
    monkeypatch.setattr(klog, "wall_clock", lambda: now[0])
    raw_namespace(state)
    write_disk(state, "pmem0", 0, b"y" * 16 * KiB)
    cxl(state, "destroy-region", "-f", "region0")
    sysfs_write(state, "/sys/bus/cxl/devices/mem2/security/sanitize", b"1\n")
    now[0] += 60
    assert kernel(state).memdevs[2].erased_at == 0  # nobody looked since it ended
    before_reboot(StateStore(state))  # what `fake-sysfs reset` does first
    assert sorted(p.name for p in (state / "media").iterdir()) == [MEM0 + "@0"]


# -- hostile media paths ---------------------------------------------------------------------


def test_a_planted_media_link_is_refused_and_init_removes_it(state: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_bytes(b"keep")
    os.symlink(elsewhere, state / "media")
    with pytest.raises(MediaError) as e:
        MediaDir(str(state))
    assert str(e.value) == (
        f"media directory {state}/media is a symbolic link; refusing to use it (remove it, "
        "or run 'fake-sysfs init --force' to start over)"
    )
    proc = fake_sysfs("init", "--force", "-p", "qemu-mixed", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    assert not (state / "media").exists()
    assert (elsewhere / "precious").read_bytes() == b"keep"


def test_a_media_file_in_the_way_is_refused(state: Path) -> None:
    (state / "media").write_bytes(b"")
    with pytest.raises(MediaError, match="is not a directory; refusing to use it"):
        MediaDir(str(state))


def test_a_shared_media_directory_is_refused(state: Path) -> None:
    (state / "media").mkdir(mode=0o700)
    os.chmod(state / "media", 0o770)
    (state / "media" / "planted").write_bytes(b"")
    with pytest.raises(MediaError, match=r"is writable by others \(mode 0770\)"):
        MediaDir(str(state))
    proc = fake_sysfs("init", "--force", "-p", "qemu-mixed", "--state", str(state))
    assert proc.returncode == 0, proc.stderr
    assert not (state / "media").exists()  # emptied and removed: made private when needed
    with MediaDir(str(state)) as media:
        assert media.fd >= 0
    assert stat.S_IMODE((state / "media").stat().st_mode) == 0o700


def test_a_planted_media_file_link_is_never_followed(state: Path, tmp_path: Path) -> None:
    raw_namespace(state)
    target = tmp_path / "target"
    target.write_bytes(b"not yours")
    (state / "media").mkdir(mode=0o700)
    os.symlink(target, state / "media" / f"{MEM2}@0")
    with pytest.raises(MediaError, match="is a symbolic link; refusing to follow it"):
        write_disk(state, "pmem0", 0, b"overwrite")
    assert target.read_bytes() == b"not yours"
