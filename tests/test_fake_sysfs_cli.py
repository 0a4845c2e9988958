"""The fake-sysfs command: init/show/reset/export/presets, one-line errors, no state written
on bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_sysfs.cli import main
from fake_sysfs.platform.presets import preset_names

QEMU_ONE_DEVICE = (
    "qemu-system-x86_64 -machine q35,cxl=on -m 4G "
    "-object memory-backend-ram,id=vmem0,share=on,size=256M "
    "-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1 "
    "-device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2 "
    "-device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=dev0 "
    "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G"
)


def fs(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def test_presets(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = fs(["presets"], capsys)
    assert rc == 0
    for name in preset_names():
        assert name in out
    assert "qemu-mixed *" in out


@pytest.mark.parametrize("preset", ["qemu-pmem", "qemu-switch", "cxl_test", "scale:1x2x2"])
def test_init_show_reset_export(
    preset: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = str(tmp_path / "state")
    rc, out, err = fs(["init", "--state", state, "--platform", preset], capsys)
    assert (rc, err) == (0, "")
    assert out.startswith(f"initialized {preset}:")
    rc, out, _ = fs(["show", "--state", state], capsys)
    assert rc == 0
    assert "Fixed memory windows" in out and "root0 (" in out
    rc, out, _ = fs(["show", "--state", state, "--tree"], capsys)
    assert "Fixed memory windows" not in out and out.startswith("root0 (")
    rc, out, _ = fs(["reset", "--state", state], capsys)
    assert rc == 0
    rc, out, _ = fs(["export", "--state", state, str(tmp_path / "tree")], capsys)
    assert rc == 0
    assert (tmp_path / "tree" / "sys" / "bus" / "cxl" / "devices" / "root0").is_symlink()
    assert (tmp_path / "tree" / "dev" / "cxl" / "mem0").exists()


def test_init_refuses_existing_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path)
    assert fs(["init", "--state", state, "-p", "qemu-pmem"], capsys)[0] == 0
    before = (tmp_path / "state.json").read_bytes()
    rc, out, err = fs(["init", "--state", state, "-p", "cxl_test"], capsys)
    assert rc == 1 and out == ""
    assert (
        err
        == f"fake-sysfs: a platform is already initialized in {state}; use --force to replace it\n"
    )
    assert (tmp_path / "state.json").read_bytes() == before
    assert fs(["init", "--state", state, "-p", "cxl_test", "--force"], capsys)[0] == 0
    assert (tmp_path / "state.json").read_bytes() != before


def test_init_from_qemu_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = fs(["init", "--state", str(tmp_path), "--qemu", QEMU_ONE_DEVICE], capsys)
    assert (rc, err) == (0, "")
    assert "1 memdevs, 1 windows" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-p", "no-such-preset"], "unknown preset 'no-such-preset'"),
        (["-p", "missing.toml"], "platform file 'missing.toml' does not exist"),
        (["-p", "scale-7"], "unknown scale preset 'scale-7'"),
        (["--qemu", QEMU_ONE_DEVICE.replace("size=256M", "size=100M")], "256M"),
        (["--qemu", QEMU_ONE_DEVICE.replace("bus=rp0", "bus=rp9")], "rp9"),
        (["--qemu", QEMU_ONE_DEVICE, "-p", "cxl_test"], "either --platform or --qemu"),
    ],
)
def test_bad_platforms_are_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    rc, out, err = fs(["init", "--state", str(state), *argv], capsys)
    assert rc == 1 and out == ""
    assert err.startswith("fake-sysfs: ") and err.count("\n") == 1
    assert message in err
    assert not (state / "state.json").exists()


def test_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = fs(["frobnicate"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "frobnicate" in err
    rc, _, err = fs(["init", "--bogus"], capsys)
    assert rc == 2 and err.count("\n") == 1 and "--bogus" in err
    rc, out, _ = fs([], capsys)
    assert rc == 0 and "Usage:" in out


def test_export_refuses_non_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = str(tmp_path / "s")
    fs(["init", "--state", state, "-p", "qemu-vmem"], capsys)
    target = tmp_path / "t"
    target.mkdir()
    (target / "keep").write_text("x")
    rc, _, err = fs(["export", "--state", state, str(target)], capsys)
    assert rc == 1 and "not empty" in err
    # --force replaces only an earlier export: a directory of the user's is never touched
    # (test_robust_export.py has every case).
    rc, _, err = fs(["export", "--state", state, str(target), "--force"], capsys)
    assert rc == 1 and "holds no earlier export" in err
    assert sorted(p.name for p in target.iterdir()) == ["keep"]


GC_PROBE = """
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"\\nCOLLECTING {gc.isenabled()}\\n"))
from fake_sysfs.cli import main
sys.argv = ["fake-sysfs", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize(
    ("args", "collecting"),
    [
        (["check"], False),  # one-shot: the collector stays off
        (["show"], False),
        (["mount", "--foreground", "{missing}"], True),  # serving: back on (here it fails)
        (["run", "--state", "{missing}", "--", "true"], True),
    ],
)
def test_the_cyclic_collector_is_off_unless_serving(
    tmp_path: Path, args: list[str], collecting: bool
) -> None:
    import os
    import subprocess
    import sys

    from fake_sysfs.platform.presets import load_preset
    from fake_sysfs.store import Origin, StateStore

    state = tmp_path / "state"
    StateStore(state, create=True).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "PYTHON"))}
    env.update(FAKE_SYSFS_STATE=str(state), PYTHONPATH=str(Path(__file__).parent.parent))
    argv = [a.format(missing=tmp_path / "missing") for a in args]
    proc = subprocess.run(
        [sys.executable, "-c", GC_PROBE, *argv], env=env, capture_output=True, text=True
    )
    assert proc.stderr.endswith(f"\nCOLLECTING {collecting}\n"), proc.stderr
