"""The block device I/O ``ndctl`` makes before it changes a namespace, as upstream makes it
(ndctl v81 and v76.1 alike; ndctl-daxctl.md 5.3):

* disable-safe opens the disk that serves the namespace (``/dev/pmemN`` of its pfn, btt,
  or itself) with O_RDWR | O_EXCL and disables only while it holds it; a failed open is
  the command's error;
* destroy and reconfigure then enable the namespace raw, read the first 8 KiB of its disk
  (O_RDWR | O_DIRECT | O_EXCL), and write 8 KiB of zeros there unless they read as zeros.

Checked three ways: in-process on the emulated disks (what lands on the media, at the
DPAs of tests/test_media_map.py's interleave: namespace bytes [0, 8 KiB) are mem2's first
pmem granule, [8, 16 KiB) mem0's); on an exported tree whose ``dev/pmem0`` is a plain
file, against the upstream binary on a copy of the same tree (same output, same bytes);
and as FUSE twins, upstream under ``fake-sysfs run`` on one platform and pycxl in-process
on the other, whose media must end up identical. The oracle tests need root, unshare and
the ndctl package, the twins also FUSE; they skip otherwise (required in CI).
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path

import pytest

from fake_sysfs.frontends.export import export
from fake_sysfs.kernel.media import disk_geometry
from fake_sysfs.kernfs.view import View
from fake_sysfs.media import open_block
from fake_sysfs.store import StateStore
from pycxl.sysfs.block import FileBlockIO
from tests import ndctl_compat_v76 as compat
from tests.helpers import environment
from tests.nd_helpers import pmem_state, run_ndctl
from tests.oracle import require_oracle, run_upstream
from tests.test_fuse_mount import require_fuse
from tests.test_media_map import MEM0, MEM2, PMEM_DPA, media_bytes
from tests.test_ndctl_conformance import _run_upstream_live

KiB = 1 << 10
#: 16 KiB that read as no info block and as no zeros.
PATTERN = bytes(range(1, 256)) * 64 + bytes(range(1, 65))
assert len(PATTERN) == 16 * KiB


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ndctl-blockio")


def ndctl(state: Path, *argv: str) -> bytes:
    result = run_ndctl(list(argv), state)
    assert result.rc == 0, result.err.decode()
    return result.out


def write_namespace_start(state: Path, disk: str, data: bytes) -> None:
    """Write ``data`` at offset 0 of the namespace behind ``disk`` (the raw view of it,
    whatever mode the disk is in: where an info block would be)."""
    geometry = disk_geometry(StateStore(state).load()[0], disk)
    assert geometry is not None
    dev = open_block(str(state), dataclasses.replace(geometry, data_offset=0, sector=0))
    try:
        assert dev.write(0, data) == len(data)
    finally:
        dev.close()


def namespace_start(state: Path) -> bytes:
    """Namespace bytes [0, 16 KiB) of region0's first namespace, from the media files."""
    return media_bytes(state, MEM2, PMEM_DPA, 8 * KiB) + media_bytes(state, MEM0, PMEM_DPA, 8 * KiB)


CLEARED = bytes(8 * KiB) + PATTERN[8 * KiB :]


# -- in-process, on the emulated disks -----------------------------------------------------


def test_reconfigure_clears_what_the_raw_disk_held(tmp_path: Path, template_root: Path) -> None:
    state = pmem_state(tmp_path, template_root)
    ndctl(state, "create-namespace", "-m", "raw", "-s", "64M", "-r", "region0")
    write_namespace_start(state, "pmem0", PATTERN)
    assert namespace_start(state) == PATTERN
    ndctl(state, "create-namespace", "-e", "namespace0.0", "-m", "fsdax", "-f")
    assert namespace_start(state) == CLEARED


def test_destroy_clears_an_old_info_block_of_an_fsdax_namespace(
    tmp_path: Path, template_root: Path
) -> None:
    state = pmem_state(tmp_path, template_root)
    ndctl(state, "create-namespace", "-m", "fsdax", "-s", "64M", "-r", "region0")
    write_namespace_start(state, "pmem0", PATTERN)
    result = run_ndctl(["destroy-namespace", "-f", "namespace0.0"], state)
    assert (result.rc, result.err) == (0, b"destroyed 1 namespace\n")
    assert namespace_start(state) == CLEARED


def test_nothing_is_written_where_zeros_are_read(tmp_path: Path, template_root: Path) -> None:
    """Upstream writes only after it read something other than zeros: a destroy of a
    namespace whose first 8 KiB were never written leaves the media untouched (nothing
    was ever written, so no media file exists at all)."""
    state = pmem_state(tmp_path, template_root)
    ndctl(state, "create-namespace", "-m", "sector", "-s", "64M", "-r", "region0")
    ndctl(state, "destroy-namespace", "-f", "namespace0.0")
    assert not (state / "media").exists()


def test_emulated_open_errors(tmp_path: Path, template_root: Path) -> None:
    """What open(2) gives for what the emulated /dev holds: a disk opens (exclusively:
    nothing can hold it), a missing node is ENOENT, ``/dev/`` (what upstream opens when
    a namespace shows no disk) EISDIR, a character node ENXIO; O_DIRECT refuses a
    transfer that is not a whole number of 512-byte blocks, as the block layer does."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    state = pmem_state(tmp_path, template_root)
    ndctl(state, "create-namespace", "-m", "raw", "-s", "64M", "-r", "region0")
    with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
        sysfs = EmulatedSysfs()
        try:
            for path, code in (
                ("/dev/pmem1", errno.ENOENT),
                ("/dev/", errno.EISDIR),
                ("/dev/cxl", errno.EISDIR),
                ("/dev/cxl/mem0", errno.ENXIO),
            ):
                with pytest.raises(OSError) as e:
                    sysfs.open_block(path, os.O_RDWR | os.O_EXCL)
                assert e.value.errno == code, path
            flags = os.O_RDWR | os.O_DIRECT | os.O_EXCL
            with sysfs.open_block("/dev/pmem0", flags) as disk:
                assert disk.pwrite(PATTERN, 0) == len(PATTERN)
                assert disk.pread(len(PATTERN), 0) == PATTERN
                with pytest.raises(OSError) as e:
                    disk.pread(100, 0)
                assert e.value.errno == errno.EINVAL
            with sysfs.open_block("/dev/pmem0", os.O_RDONLY) as disk:
                with pytest.raises(OSError) as e:
                    disk.pwrite(b"x", 0)
                assert e.value.errno == errno.EBADF
        finally:
            sysfs.close()
    assert namespace_start(state) == PATTERN


def test_file_block_io_with_o_direct(tmp_path: Path) -> None:
    """The real calls: O_DIRECT transfers go through an aligned buffer (a plain bytes
    buffer would be refused with EINVAL where the file system honours O_DIRECT)."""
    disk = tmp_path / "pmem0"
    disk.write_bytes(PATTERN)
    try:
        io = FileBlockIO(str(disk), os.O_RDWR | os.O_DIRECT | os.O_EXCL)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        pytest.skip(f"{tmp_path} does not support O_DIRECT")
    with io:
        assert io.pread(8 * KiB, 8 * KiB) == PATTERN[8 * KiB :]
        assert io.pwrite(bytes(8 * KiB), 0) == 8 * KiB
    assert disk.read_bytes() == CLEARED


# -- the real calls on an exported tree, against upstream ------------------------------------


def test_exported_tree_same_output_and_bytes_as_upstream(
    tmp_path: Path, template_root: Path
) -> None:
    """A raw namespace (served by /dev/pmem0, a plain file here) and an fsdax one whose
    disk is missing from /dev. Nothing in the tree reacts to a store, so the namespace
    stays enabled: upstream still zeroes pmem0's first 8 KiB, then cannot delete the
    enabled namespace (EBUSY); the fsdax namespace's exclusive open fails (ENOENT)."""
    require_oracle()
    state = pmem_state(tmp_path, template_root)
    ndctl(state, "create-namespace", "-m", "raw", "-s", "32M", "-r", "region0")
    ndctl(state, "create-namespace", "-m", "fsdax", "-s", "64M", "-r", "region0")
    for name in ("ours", "theirs"):
        export(View(StateStore(state).load()[0]), tmp_path / name)
        (tmp_path / name / "dev" / "pmem0").write_bytes(PATTERN)
    commands = [
        ["destroy-namespace", "-f", "namespace0.0"],
        ["disable-namespace", "namespace0.1"],
        ["destroy-namespace", "-f", "namespace0.1"],
    ]
    upstream = run_upstream(
        tmp_path / "theirs",
        [["/usr/bin/ndctl", *argv] for argv in commands] + [["cat", "/dev/pmem0"]],
        timeout=60,
    )
    # pycxl's /dev elsewhere, as PYCXL_DEV_ROOT allows.
    (tmp_path / "ours" / "dev").rename(tmp_path / "devroot")
    env: dict[str, str | None] = {
        "PYCXL_SYSFS_ROOT": str(tmp_path / "ours" / "sys"),
        "PYCXL_DEV_ROOT": str(tmp_path / "devroot"),
    }
    for argv, up in zip(commands, upstream, strict=False):
        mine = run_ndctl(argv, state, env)
        assert (mine.out, mine.err, mine.rc) == (up.out, up.err, up.rc), argv
    assert upstream[0].err.endswith(
        b"error destroying namespaces: Device or resource busy\ndestroyed 0 namespaces\n"
    )
    assert upstream[1].err.startswith(b"error disabling namespaces: No such file or directory\n")
    assert upstream[-1].out == CLEARED
    assert (tmp_path / "devroot" / "pmem0").read_bytes() == CLEARED


# -- FUSE twins -------------------------------------------------------------------------------


def test_twins_media_after_reconfigure_and_destroy(tmp_path: Path, template_root: Path) -> None:
    require_oracle()
    require_fuse()
    ours = pmem_state(tmp_path / "ours", template_root)
    theirs = pmem_state(tmp_path / "theirs", template_root)

    def both(*argv: str) -> None:
        mine = run_ndctl(list(argv), ours)
        up_out, up_err, up_rc = _run_upstream_live(theirs, list(argv))
        assert (compat.uuids(mine.out), mine.err, mine.rc) == (
            compat.uuids(up_out),
            up_err,
            up_rc,
        ), argv

    both("create-namespace", "-m", "raw", "-s", "64M", "-r", "region0")
    for state in (ours, theirs):
        write_namespace_start(state, "pmem0", PATTERN)
    both("create-namespace", "-e", "namespace0.0", "-m", "fsdax", "-f")
    assert namespace_start(ours) == namespace_start(theirs) == CLEARED
    for state in (ours, theirs):
        write_namespace_start(state, "pmem0", PATTERN)
    both("disable-namespace", "namespace0.0")
    both("destroy-namespace", "-f", "namespace0.0")
    assert namespace_start(ours) == namespace_start(theirs) == CLEARED
    names = sorted(os.listdir(ours / "media"))
    assert names == sorted(os.listdir(theirs / "media"))
    for name in names:
        assert (ours / "media" / name).stat().st_size == (theirs / "media" / name).stat().st_size
