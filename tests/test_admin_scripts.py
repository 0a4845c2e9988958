"""Admin scripts (bash + jq) run against the installed `cxl`, the way users script it.

The same script runs against pycxl on the emulated platform and, when the oracle is
available, against the upstream binary on the exported platform: a script written against
pycxl holds on the real tool too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.frontends.export import export
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.oracle import require_oracle

SCRIPTS = Path(__file__).with_name("scripts")
TOPOLOGY = SCRIPTS / "cxl_test_topology.sh"


def _need_jq() -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is required in CI")
        pytest.skip("jq is not installed")


@pytest.fixture(scope="module")
def cxl_test_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("state")
    StateStore(state).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True)
    return state


def test_topology_script_on_pycxl(cxl_test_state: Path) -> None:
    _need_jq()
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, FAKE_SYSFS_STATE=str(cxl_test_state))
    env["PATH"] = f"{bindir}:{env.get('PATH', '')}"
    env.pop("PYCXL_SYSFS_ROOT", None)
    proc = subprocess.run(["bash", str(TOPOLOGY)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cxl_test topology: ok\n"


def test_topology_script_catches_a_wrong_platform(tmp_path: Path) -> None:
    _need_jq()
    StateStore(tmp_path).init(load_preset("qemu-mixed"), Origin("preset", "qemu-mixed"), force=True)
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, FAKE_SYSFS_STATE=str(tmp_path))
    env["PATH"] = f"{bindir}:{env.get('PATH', '')}"
    proc = subprocess.run(["bash", str(TOPOLOGY)], capture_output=True, text=True, env=env)
    assert proc.returncode != 0
    # cxl's own warning about the empty listing comes first, then the script's verdict.
    assert proc.stderr.endswith("cxl_test_topology: buses named cxl_test: expected 1, got 0\n")


def test_topology_script_on_upstream(cxl_test_state: Path, tmp_path: Path) -> None:
    _need_jq()
    require_oracle()
    kernel, _ = StateStore(cxl_test_state).load()
    export(View(kernel), tmp_path / "tree")
    script = f"mount --bind {tmp_path}/tree/sys /sys && mount --bind {tmp_path}/tree/dev /dev"
    script += f" && PATH=/usr/sbin:/usr/bin:/sbin:/bin bash {TOPOLOGY}"
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "cxl_test topology: ok\n"


# -- a region session: create, fail, read the kernel log, fix, inspect, tear down --------------

SESSION = SCRIPTS / "cxl_region_session.sh"


def _session_env(state: Path, path_first: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "FAKE_SYSFS_"))}
    env["FAKE_SYSFS_STATE"] = str(state)
    env["PATH"] = f"{path_first}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def test_region_session_on_pycxl(tmp_path: Path) -> None:
    _need_jq()
    StateStore(tmp_path).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True)
    env = _session_env(tmp_path, str(Path(sys.executable).parent))
    proc = subprocess.run(["bash", str(SESSION)], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "region session: ok\n"
    # The session left the platform as it found it, and consistent.
    check = subprocess.run(
        [str(Path(sys.executable).parent / "fake-sysfs"), "check"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0, check.stdout


def test_region_session_on_upstream(tmp_path: Path) -> None:
    """The same script with the upstream cxl first on PATH, inside `fake-sysfs run` (the
    live emulated /sys over FUSE); fake-sysfs still answers for the kernel log."""
    _need_jq()
    require_oracle()
    from tests.test_fuse_mount import require_fuse

    require_fuse()
    StateStore(tmp_path).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True)
    bindir = str(Path(sys.executable).parent)
    env = _session_env(tmp_path, f"/usr/bin:{bindir}")
    proc = subprocess.run(
        [f"{bindir}/fake-sysfs", "run", "--", "bash", str(SESSION)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "region session: ok\n"


def test_region_session_on_a_platform_without_the_window(tmp_path: Path) -> None:
    _need_jq()
    StateStore(tmp_path).init(load_preset("qemu-pmem"), Origin("preset", "qemu-pmem"), force=True)
    env = _session_env(tmp_path, str(Path(sys.executable).parent))
    proc = subprocess.run(["bash", str(SESSION)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert proc.stderr.endswith("cxl_region_session: no x2 pmem window\n")
