"""What a `cxl list` of an unchanged emulated platform imports.

Start-up is most of what a cached listing costs (bench/README.md): the stdlib modules named
here take 5-15 ms each to import on the benchmark machine, and the emulated kernel far more.
This guards the structure that keeps them off the path (type-only imports behind
TYPE_CHECKING, the kernel imported on a read-cache miss only); it measures no time.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore

REPO = Path(__file__).resolve().parent.parent

#: Heavy modules a cached listing must not need.
HEAVY = ("typing", "dataclasses", "pathlib", "json", "re", "inspect", "contextlib")
#: The emulation behind the read cache.
KERNEL = ("fake_sysfs.kernel", "fake_sysfs.kernfs", "fake_sysfs.store", "fake_sysfs.platform")

PROBE = """
import sys
before = set(sys.modules)
from pycxl.cxl.main import run
rc = run(sys.argv[1:])
sys.stderr.write("\\nIMPORTED " + " ".join(sorted(set(sys.modules) - before)) + "\\n")
sys.exit(rc)
"""


def imported(state: Path, *args: str) -> set[str]:
    """Modules a listing imports beyond the interpreter's own start-up (run with -S, so
    that no site-packages .pth file imports anything first)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "PYTHON"))}
    env.update(FAKE_SYSFS_STATE=str(state), PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, "list", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.rsplit("\nIMPORTED ", 1)[1]
    return set(line.split())


@pytest.fixture
def state(tmp_path: Path) -> Path:
    store = StateStore(tmp_path / "state")
    store.init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=False)
    return store.dir


@pytest.mark.parametrize("args", [(), ("-vvv", "-BPEMDRT"), ("-m", "mem1", "-u")])
def test_a_cached_listing_imports_neither_heavy_modules_nor_the_kernel(
    state: Path, args: tuple[str, ...]
) -> None:
    first = imported(state, *args)
    # The first listing computes its answers: it needs the emulated kernel (so the probe
    # does see what a listing imports).
    assert any(m.startswith(KERNEL) for m in first)
    again = imported(state, *args)
    assert "pycxl.cxl.commands.list" in again
    assert sorted(m for m in again if m.split(".")[0] in HEAVY) == []
    assert sorted(m for m in again if m.startswith(KERNEL)) == []


GC_PROBE = """
import atexit, gc, sys
atexit.register(lambda: sys.stderr.write(f"\\nCOLLECTING {gc.isenabled()}\\n"))
from pycxl.cxl.main import main
sys.argv = ["cxl", *sys.argv[1:]]
main()
"""


def test_a_command_runs_without_the_cyclic_collector(state: Path) -> None:
    """A one-shot command: what it makes lives until it exits, so walking it for cycles
    is time for nothing (bench: a tenth of a create-region at 1,024 memdevs)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "PYTHON"))}
    env.update(FAKE_SYSFS_STATE=str(state), PYTHONPATH=str(REPO))
    for args in (["list"], ["disable-memdev", "mem99"]):  # a success and a failure
        proc = subprocess.run(
            [sys.executable, "-c", GC_PROBE, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.stderr.endswith("\nCOLLECTING False\n"), proc.stderr


@pytest.mark.parametrize("backend", ["emulated", "files"])
def test_a_command_that_polls_turns_the_collector_back_on(
    state: Path, tmp_path: Path, backend: str
) -> None:
    """A command that waits (monitor, a firmware update, a sanitize) may run for hours:
    its first look (Sysfs.refresh) gives the collector back."""
    import gc

    from pycxl.sysfs.base import Sysfs
    from pycxl.sysfs.emulated import EmulatedSysfs
    from pycxl.sysfs.files import FileSysfs
    from tests.helpers import environment

    gc.disable()
    try:
        with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
            sysfs: Sysfs = (
                EmulatedSysfs() if backend == "emulated" else FileSysfs(tmp_path, tmp_path)
            )
            sysfs.refresh()
            assert gc.isenabled()
            sysfs.close()
    finally:
        gc.enable()
