"""pycxl's ``ndctl`` against upstream's (Debian 76.1), on the same emulated platform.

* Exported tree: the platform with namespaces in every mode (made by pycxl), exported;
  upstream lists it, pycxl lists the live state; the outputs must be identical. Usage and
  validation errors (all reported before upstream writes anything) are compared the same
  way.
* FUSE twins: two identical platforms; upstream runs through ``fake-sysfs run`` on one,
  pycxl in-process on the other; the same create-namespace sequence must print the same
  (uuids compared by shape) and leave the same listing.

Version differences and frontend gaps are applied from tests/ndctl_compat_v76.py only.
Needs root, unshare and the ndctl package (FUSE twins also /dev/fuse): skipped otherwise,
required in CI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.frontends.export import export
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests import ndctl_compat_v76 as compat
from tests.nd_helpers import pmem_state, run_ndctl
from tests.oracle import require_oracle, run_upstream
from tests.test_fuse_mount import require_fuse

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]

LISTINGS = [
    ["list"],
    ["list", "-i"],
    ["list", "-BDRNi", "-v"],
    ["list", "-RNi", "-vX"],
    ["list", "-X"],
    ["list", "-RDu"],
    ["list", "-Ni", "-u"],
    ["list", "-R", "-C"],
    ["list", "-vvv"],
    ["list", "-vv"],
    ["list", "-m", "fsdax"],
    ["list", "-m", "sector", "-R"],
    ["list", "-RN", "-m", "devdax"],
    ["list", "-n", "0.1"],
    ["list", "-n", "namespace0.2", "-v"],
    ["list", "-r", "region0", "-D"],
    ["list", "-d", "nmem0", "-R"],
    ["list", "-d", "nmem1", "-R"],
    ["list", "-b", "CXL", "-B"],
    ["list", "-c"],
    ["list", "-U", "0", "-N"],
    ["list", "-t", "blk"],
]

ERRORS = [
    ["list", "-m", "foo"],
    ["list", "-t", "foo"],
    ["list", "-U", "x"],
    ["list", "extra"],
    ["list", "-h"],
    ["create-namespace", "foo"],
    ["create-namespace", "-u", "xyz"],
    ["create-namespace", "-s", "1Q"],
    ["create-namespace", "-m", "foo"],
    ["create-namespace", "-M", "foo"],
    ["create-namespace", "-m", "raw", "-M", "mem"],
    ["create-namespace", "-l", "x"],
    ["create-namespace", "-t", "foo"],
    ["create-namespace", "-t", "blk", "-m", "fsdax"],
    ["create-namespace", "-a", "3"],
    ["create-namespace", "-a", "x"],
    ["create-namespace", "-n", "n" * 70],
    ["create-namespace", "-s", "100M"],
    ["create-namespace", "-s", "8M"],
    ["create-namespace", "-s", "32M", "-a", "1G"],
    ["create-namespace", "-m", "raw", "-a", "2M"],
    ["create-namespace", "-m", "sector", "-l", "999"],
    ["create-namespace", "-l", "999"],
    ["create-namespace", "-r", "5"],
    ["create-namespace", "-s", "2G"],
    ["create-namespace", "-e", "namespace9.9"],
    ["create-namespace", "-h"],
    ["destroy-namespace"],
    ["destroy-namespace", "a", "b"],
    ["destroy-namespace", "namespace9.9"],
    ["destroy-namespace", "-h"],
    ["enable-namespace"],
    ["disable-namespace", "namespace9.9"],
    ["disable-namespace", "all", "-r", "5"],
    ["enable-region"],
    ["enable-region", "1", "2"],
    ["enable-region", "all"],
    ["disable-region", "-t", "foo", "all"],
    ["enable-region", "region7"],
    ["disable-region", "-h"],
    ["read-labels"],
    ["read-labels", "foo"],
    ["read-labels", "nmem0", "-j", "-s", "10"],
    ["read-labels", "nmem0", "-s", "10", "-I"],
    ["read-labels", "nmem9"],
    ["read-labels", "-h"],
    ["check-labels", "-h"],
    ["check-labels"],
    ["enable-namespace", "-h"],
    ["disable-namespace", "-h"],
    ["enable-region", "-h"],
]


@pytest.fixture(scope="module")
def template_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ndctl-conformance")


def _compare(
    argv: list[str], ours: tuple[bytes, bytes, int], theirs: tuple[bytes, bytes, int]
) -> None:
    mine_out, mine_err, mine_rc = ours
    up_out, up_err, up_rc = theirs
    # Human iset_id strings appear only with -u; elsewhere this changes nothing.
    mine_out, up_out = compat.human_iset(mine_out), compat.human_iset(up_out)
    assert (compat.uuids(mine_out), compat.uuids(mine_err), mine_rc) == (
        compat.uuids(up_out),
        compat.uuids(up_err),
        up_rc,
    ), argv


def test_listing_and_errors_on_an_exported_tree(tmp_path: Path, template_root: Path) -> None:
    require_oracle()
    state = pmem_state(tmp_path, template_root)
    for argv in (
        ["create-namespace", "-s", "256M"],
        ["create-namespace", "-m", "devdax", "-s", "128M", "-n", "mydax"],
        ["create-namespace", "-m", "sector", "-s", "64M"],
        ["create-namespace", "-m", "raw", "-s", "32M"],
    ):
        assert run_ndctl(argv, state).rc == 0
    tree = tmp_path / "tree"
    export(View(StateStore(state).load()[0]), tree)
    commands = LISTINGS + ERRORS
    upstream = run_upstream(tree, [["/usr/bin/ndctl", *argv] for argv in commands], timeout=60)
    for argv, up in zip(commands, upstream, strict=True):
        mine = run_ndctl(argv, state)
        _compare(argv, (mine.out, mine.err, mine.rc), (up.out, up.err, up.rc))


def _run_upstream_live(state: Path, argv: list[str]) -> tuple[bytes, bytes, int]:
    proc = subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", "/usr/bin/ndctl", *argv],
        capture_output=True,
        timeout=120,
        check=False,
        env=dict(os.environ, NDCTL_TIMEOUT="100"),
    )
    return proc.stdout, proc.stderr, proc.returncode


def test_create_namespace_twins_on_the_live_kernel(tmp_path: Path, template_root: Path) -> None:
    require_oracle()
    require_fuse()
    ours = pmem_state(tmp_path / "ours", template_root)
    theirs = pmem_state(tmp_path / "theirs", template_root)
    sequence = [
        ["create-namespace", "-r", "region0", "-s", "256M", "-n", "fast"],
        ["create-namespace", "-m", "sector", "-s", "64M"],
        ["create-namespace", "-m", "raw", "-s", "32M"],
        ["create-namespace", "-m", "fsdax", "-M", "mem", "-s", "64M"],
        ["create-namespace", "-c"],
        ["create-namespace", "-r", "region0"],
        ["list", "-BDRNi", "-v"],
    ]
    for argv in sequence:
        mine = run_ndctl(argv, ours)
        _compare(argv, (mine.out, mine.err, mine.rc), _run_upstream_live(theirs, argv))


def test_devdax_life_cycle_twins_on_the_live_kernel(tmp_path: Path, template_root: Path) -> None:
    """The devdax namespace's dax device appears in the live /dev as upstream creates it, so
    its create output (with the daxregion's devices) is compared too."""
    require_oracle()
    require_fuse()
    ours = pmem_state(tmp_path / "ours", template_root)
    theirs = pmem_state(tmp_path / "theirs", template_root)
    sequence = [
        ["create-namespace", "-m", "devdax", "-s", "256M", "-n", "dax"],
        ["list", "-RNi", "-vX"],
        ["disable-namespace", "namespace0.0"],
        ["list", "-Ni"],
        ["enable-namespace", "namespace0.0"],
        ["list", "-X"],
        ["disable-region", "all"],
        ["list", "-RNi"],
        ["enable-region", "all"],
        ["list", "-BDRNi", "-vX"],
    ]
    for argv in sequence:
        mine = run_ndctl(argv, ours)
        _compare(argv, (mine.out, mine.err, mine.rc), _run_upstream_live(theirs, argv))


def test_fsdax_teardown_twins_on_the_live_kernel(tmp_path: Path, template_root: Path) -> None:
    """Upstream opens the namespace's disk (/dev/pmemN, served as a plain file) to check it
    is unused and clears its info block before disabling or destroying it; the emulation
    takes those writes, so fsdax, sector and raw namespaces are torn down as pycxl does."""
    require_oracle()
    require_fuse()
    ours = pmem_state(tmp_path / "ours", template_root)
    theirs = pmem_state(tmp_path / "theirs", template_root)
    sequence = [
        ["create-namespace", "-m", "fsdax", "-s", "128M"],
        ["create-namespace", "-m", "sector", "-s", "64M"],
        ["create-namespace", "-m", "raw", "-s", "32M"],
        ["disable-namespace", "namespace0.1"],
        ["destroy-namespace", "namespace0.0"],
        ["destroy-namespace", "-f", "namespace0.0"],
        ["list", "-RNi"],
        ["destroy-namespace", "-f", "all"],
        ["list", "-BDRNi", "-v"],
    ]
    for argv in sequence:
        mine = run_ndctl(argv, ours)
        _compare(argv, (mine.out, mine.err, mine.rc), _run_upstream_live(theirs, argv))
