"""What ``fake-sysfs run`` keeps the command from: the host kernel's tracefs (which
libtracefs would mount when the mounts table names none, reaching the whole machine's
tracing) and, with it, any mount at all; and what it leaves behind (nothing).

Needs root and FUSE (tests/test_fuse_mount.py)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

from fake_sysfs.frontends.namespace import CAP_SYS_ADMIN, TRACEFS_LINE
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.test_fuse_mount import require_fuse

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]


def _run(state: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    # The run's scratch directory goes beside the state (TMPDIR), so that what is left
    # behind can be seen without other tests' runs, in parallel workers, in the way.
    env = {**os.environ, "TMPDIR": str(state.parent)}
    return subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    StateStore(state).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), force=True)
    return state


def test_the_mounts_table_names_the_emulated_tracefs(tmp_path: Path) -> None:
    require_fuse()
    state = _state(tmp_path)
    runs = str(tmp_path / "fake-sysfs-run-*")
    assert not glob.glob(runs)
    done = _run(state, "cat", "/proc/self/mounts")
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first + "\n" == TRACEFS_LINE
    # The table is the namespace's own after that line: /sys is the emulation's.
    assert any(line.split()[1] == "/sys" for line in done.stdout.splitlines()[1:])
    # ... and what it names is the emulated tracefs.
    done = _run(state, "cat", "/sys/kernel/tracing/events/cxl/cxl_poison/enable")
    assert (done.returncode, done.stdout) == (0, "0\n")
    # The run's directory (and the table kept there) exists while the command runs ...
    done = _run(state, "sh", "-c", f"ls -d {runs}")
    assert len(done.stdout.split()) == 1, done
    # ... and is gone afterwards.
    assert not glob.glob(runs)


def test_the_command_cannot_mount(tmp_path: Path) -> None:
    require_fuse()
    state = _state(tmp_path)
    done = _run(state, "grep", "^CapBnd:", "/proc/self/status")
    assert done.returncode == 0, done.stderr
    bounding = int(done.stdout.split()[1], 16)
    assert not bounding & (1 << CAP_SYS_ADMIN)
    target = tmp_path / "target"
    target.mkdir()
    done = _run(state, "mount", "-t", "tracefs", "nodev", str(target))
    assert done.returncode != 0
    assert not any(Path(target).iterdir())
    # Not even in a forked child, whose mounts table is the real one.
    done = _run(state, "sh", "-c", f"mount -t tmpfs none {target} && echo mounted")
    assert "mounted" not in done.stdout


def test_a_failing_ioctl_server_leaves_no_mount(tmp_path: Path) -> None:
    """The mount is made before the ioctl server starts: if the server cannot start, the
    run still unmounts, stops its daemon and removes its directory (once a socket path too
    long for its address did this, and the mount outlived the run)."""
    require_fuse()
    state = _state(tmp_path)
    broken = (
        "import fake_sysfs.frontends.devioctl as d\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError(98, 'Address already in use')\n"
        "d.IoctlServer.__init__ = refuse\n"
        "from fake_sysfs.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", broken, "run", "--state", str(state), "--", "true"],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert len(done.stderr.splitlines()) == 1, done.stderr
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
    assert not glob.glob(str(tmp_path / "fake-sysfs-run-*"))
