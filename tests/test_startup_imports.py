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
def report():
    frozen = gc.get_freeze_count() > 0
    sys.stderr.write(f"\\nCOLLECTING {gc.isenabled()} FROZEN {frozen}\\n")
atexit.register(report)
from pycxl.cxl.main import main
sys.argv = ["cxl", *sys.argv[1:]]
main()
"""


def test_a_command_freezes_the_kernel_it_loads(state: Path) -> None:
    """A one-shot command keeps the emulated kernel until it exits: walking it for cycles
    would be time for nothing (bench: a tenth of a create-region at 1,024 memdevs), so it
    is frozen once loaded. The collector stays on for the rest: a command of many stores
    drops a live view per store (disable-memdev -f all at 1,024 memdevs kept 325 MB with
    the collector off, 85 MB with it on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "PYTHON"))}
    env.update(FAKE_SYSFS_STATE=str(state), PYTHONPATH=str(REPO))
    # The first listing loads the kernel; the second is answered from the read cache.
    for args, frozen in ((["list"], True), (["list"], False), (["disable-memdev", "mem1"], True)):
        proc = subprocess.run(
            [sys.executable, "-c", GC_PROBE, *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.stderr.endswith(f"\nCOLLECTING True FROZEN {frozen}\n"), (args, proc.stderr)


@pytest.mark.parametrize("backend", ["emulated", "files"])
def test_a_command_that_polls_gives_the_kernel_back_to_the_collector(
    state: Path, tmp_path: Path, backend: str
) -> None:
    """A command that waits (monitor, a firmware update, a sanitize) may run for hours and
    load state after state: its first look (Sysfs.refresh) unfreezes, and what it loads
    from then on is not frozen."""
    import gc

    from pycxl.sysfs.base import Sysfs
    from pycxl.sysfs.emulated import EmulatedSysfs
    from pycxl.sysfs.files import FileSysfs
    from tests.helpers import environment

    try:
        Sysfs.one_shot = True
        with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
            sysfs: Sysfs = (
                EmulatedSysfs() if backend == "emulated" else FileSysfs(tmp_path, tmp_path)
            )
            gc.freeze()  # as a one-shot command's first load does
            sysfs.refresh()
            assert gc.get_freeze_count() == 0
            if isinstance(sysfs, EmulatedSysfs):
                sysfs.read("/sys/bus/cxl/devices/mem1/serial")  # loads the kernel again
                assert sysfs.frontend._view is not None
                assert gc.get_freeze_count() == 0
            sysfs.close()
    finally:
        Sysfs.one_shot = False
        gc.unfreeze()
