"""Admin scripts (bash + jq) for persistent fsdax and devdax on CXL pmem, run against the
installed ``cxl`` and ``ndctl`` console scripts on the default platform, as users script
them (tests/scripts/pmem_*.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore

SCRIPTS = Path(__file__).with_name("scripts")


@pytest.mark.parametrize("script", ["pmem_fsdax.sh", "pmem_devdax.sh"])
def test_pmem_script(script: str, tmp_path: Path) -> None:
    if shutil.which("jq") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("jq is required in CI")
        pytest.skip("jq is not installed")
    StateStore(tmp_path).init(load_preset("qemu-mixed"), Origin("preset", "qemu-mixed"), force=True)
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ, FAKE_SYSFS_STATE=str(tmp_path))
    env["PATH"] = f"{bindir}:{env.get('PATH', '')}"
    env.pop("PYCXL_SYSFS_ROOT", None)
    proc = subprocess.run(
        ["bash", str(SCRIPTS / script)], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith(": ok\n")
