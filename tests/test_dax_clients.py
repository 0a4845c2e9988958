"""The RAM configurations as users and their software meet them, through `fake-sysfs run`
(the emulated /sys mounted over the host's in a private namespace):

* admin scripts (bash + jq, tests/scripts/dax_*.sh) for system RAM on a memory-only NUMA
  node and for volatile devdax, with pycxl's cxl and daxctl;
* Debian's clients that read /sys: ``lsmem`` (util-linux), ``numactl --hardware``
  (libnuma) and ``lstopo`` (hwloc) list the hot-added memory and the CPU-less node. The
  expected text is what the tools print for the kernel state (block ranges, node sizes and
  distances) that the emulated kernel's rules give: 1 GiB of CXL RAM (blocks 178-185) on
  node 2.

Clients that cannot work here, and why (kept out of the tests):

* memkind's MEMKIND_DAX_KMEM, ``numactl --membind``: they find the node through /sys
  (libdaxctl's walk works), but then allocate with mbind(2)/set_mempolicy(2), which the
  host kernel answers: it has no node 2.

hwloc reads the CPUs' caches with CPUID, so lstopo mixes the host's caches into the
emulated CPU topology; the test looks at the NUMA nodes only.

Needs root, FUSE and the Debian packages (jq, util-linux, numactl, hwloc-nox): skips without them,
except under CI=true.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_fuse_mount import require_fuse

SCRIPTS = Path(__file__).with_name("scripts")
BIN = Path(sys.executable).parent
FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]


def _need(*tools: str) -> None:
    require_fuse()
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs {' '.join(missing)}")
        pytest.skip(f"needs {' '.join(missing)}")


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCXL_")}
    env["FAKE_SYSFS_STATE"] = str(state)
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _run(state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FAKE_SYSFS, "run", "--", *argv],
        capture_output=True,
        text=True,
        env=_env(state),
        timeout=120,
        check=False,
    )


def _boot(tmp: Path) -> Path:
    state = tmp / "state"
    subprocess.run(
        [*FAKE_SYSFS, "init", "--state", str(state), "--platform", "qemu-mixed"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return state


@pytest.mark.parametrize(
    ("script", "verdict"),
    [("dax_system_ram.sh", "dax system-ram: ok\n"), ("dax_devdax.sh", "dax devdax: ok\n")],
)
def test_admin_script(tmp_path: Path, script: str, verdict: str) -> None:
    _need("jq", "bash")
    state = _boot(tmp_path)
    proc = _run(state, "bash", str(SCRIPTS / script))
    assert (proc.returncode, proc.stdout) == (0, verdict), proc.stderr
    check = subprocess.run(
        [*FAKE_SYSFS, "check", "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.fixture
def system_ram(tmp_path: Path) -> Path:
    """qemu-mixed with a 1 GiB RAM region (window 1: node 2) onlined as system-ram."""
    state = _boot(tmp_path)
    env = _env(state)
    for argv in (
        ["cxl", "create-region", "-d", "decoder0.1", "-t", "ram", "-m", "mem2", "mem3"],
        ["daxctl", "reconfigure-device", "-m", "system-ram", "all"],
    ):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, timeout=60, check=False
        )
        assert proc.returncode == 0, proc.stderr
    return state


def test_lsmem(system_ram: Path) -> None:
    _need("lsmem")
    proc = _run(system_ram, "lsmem", "-o", "RANGE,SIZE,STATE,BLOCK,NODE,ZONES")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    # Boot RAM on node 0 (DMA/DMA32 below 4 GiB, Normal above), CXL RAM on node 2.
    assert lines[1].split() == [
        "0x0000000000000000-0x0000000007ffffff",
        "128M",
        "online",
        "0",
        "0",
        "None",
    ]
    assert lines[-5].split() == [
        "0x0000000590000000-0x00000005cfffffff",
        "1G",
        "online",
        "178-185",
        "2",
        "Movable",
    ]
    assert "Total online memory:       5G" in proc.stdout


def test_numactl_hardware(system_ram: Path) -> None:
    _need("numactl")
    proc = _run(system_ram, "numactl", "--hardware")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("available: 2 nodes (0,2)\n")
    assert "node 2 cpus:\nnode 2 size: 1024 MB\nnode 2 free: 1024 MB\n" in out
    assert out.endswith("node distances:\nnode   0   2 \n  0:  10  20 \n  2:  20  10 \n")


def test_lstopo(system_ram: Path) -> None:
    _need("lstopo-no-graphics")
    proc = _run(system_ram, "lstopo-no-graphics", "--of", "console")
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert lines[0] == "Machine (5120MB total)"
    assert "NUMANode L#0 (P#0 4096MB)" in lines
    # hwloc finds the node's memory behind a kmem DAX device: specific-purpose memory.
    assert "NUMANode(SPM) L#1 (P#2 1024MB)" in lines
