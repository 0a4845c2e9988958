"""``fake-sysfs check``: every booted platform is consistent, and each kind of damage to a
/sys (made by hand in an exported copy, since the kernel never produces it) is reported in
one line naming what is wrong, with a non-zero exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.check import FileView, check
from fake_sysfs.frontends.export import export
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset

BIN = Path(sys.executable).parent
PRESETS = ["qemu-pmem", "qemu-vmem", "qemu-mixed", "qemu-switch", "cxl_test", "cxl_test-xor"]


@pytest.mark.parametrize("preset", [*PRESETS, "scale:2x2x2"])
def test_every_booted_platform_is_consistent(preset: str) -> None:
    report = check(View(boot(load_preset(preset))))
    assert report.problems == []
    assert report.links > 100 and report.decoders >= 4  # the walk really went through


@pytest.fixture(scope="module")
def cxl_test_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cxl_test exported: its firmware-committed region0 (x2, decoder5.0 and decoder12.0)
    gives every check something to look at."""
    dest = tmp_path_factory.mktemp("export") / "tree"
    export(View(boot(load_preset("cxl_test"))), dest, char_devices=False)
    return dest


@pytest.fixture
def tree(cxl_test_export: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    shutil.copytree(cxl_test_export, copy, symlinks=True)
    return copy / "sys"


def devices(sys_root: Path) -> Path:
    return sys_root / "bus" / "cxl" / "devices"


def write(path: Path, text: str) -> None:
    path.chmod(0o644)
    path.write_text(text + "\n")


def test_an_export_checks_as_the_kernel_does(tree: Path) -> None:
    live = check(View(boot(load_preset("cxl_test"))))
    files = check(FileView(str(tree)))
    assert files.problems == []
    assert (files.links, files.decoders, files.regions) == (
        live.links,
        live.decoders,
        live.regions,
    )
    assert files.regions >= 1


def damaged(tree: Path) -> list[str]:
    return check(FileView(str(tree))).problems


def test_a_dpa_range_outside_its_partition(tree: Path) -> None:
    write(devices(tree) / "decoder5.0" / "dpa_resource", "0x7ffffff0000")
    assert (
        "decoder5.0: DPA 0x7ffffff0000+0x10000000 lies outside the ram partition"
        in (damaged(tree)[0])
    )


def test_overlapping_dpa(tree: Path) -> None:
    # A second allocation on the same endpoint, over the first one.
    write(devices(tree) / "decoder5.1" / "dpa_resource", "0x8000000")
    write(devices(tree) / "decoder5.1" / "dpa_size", "0x0000000010000000")
    write(devices(tree) / "decoder5.1" / "mode", "ram")
    assert "decoder5.0 and decoder5.1: DPA allocations overlap" in damaged(tree)


def test_a_region_outside_its_window(tree: Path) -> None:
    write(devices(tree) / "region0" / "resource", "0x10")
    problems = damaged(tree)
    assert any(p.startswith("region0: HPA 0x10+0x20000000 lies outside window decoder0.0")
               for p in problems)  # fmt: skip


def test_a_decoder_that_names_another_region(tree: Path) -> None:
    write(devices(tree) / "decoder12.0" / "region", "region7")
    assert "region0 target1: decoder12.0 names region 'region7'" in damaged(tree)


def test_one_decoder_at_two_positions(tree: Path) -> None:
    write(devices(tree) / "region0" / "target1", "decoder5.0")
    assert "decoder5.0: used at region0 target0 and at region0 target1" in damaged(tree)


def test_a_committed_region_with_an_uncommitted_decoder(tree: Path) -> None:
    write(devices(tree) / "endpoint5" / "decoders_committed", "0")
    assert "region0 is committed but decoder5.0 is not (port 5)" in damaged(tree)


def test_a_dangling_link(tree: Path) -> None:
    link = devices(tree) / "mem0"
    link.unlink()
    os.symlink("../../../devices/nowhere/mem0", link)
    assert any(p.endswith("/sys/bus/cxl/devices/mem0: link does not resolve (No such file "
                          "or directory)") for p in damaged(tree))  # fmt: skip


def test_the_command(tree: Path, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "fake-sysfs"), "check", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "FAKE_SYSFS_STATE": str(tmp_path / "state")},
        )

    good = run("--root", str(tree))
    assert good.returncode == 0 and good.stdout.startswith("consistent: ")
    write(devices(tree) / "region0" / "target1", "decoder5.0")
    bad = run("--root", str(tree))
    assert bad.returncode == 1
    assert "decoder5.0: used at region0 target0 and at region0 target1\n" in bad.stdout
    assert bad.stderr.startswith(f"{len(bad.stdout.splitlines())} problems; ")
    (tmp_path / "state").mkdir(mode=0o700)
    assert run().returncode == 0  # the emulated state, booted on first use
