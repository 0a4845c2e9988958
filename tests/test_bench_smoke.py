"""The benchmark script runs: ``bench/run.py --quick`` on the default platform, both sections.

Only that it runs to the end and reports what it measured is checked, never a timing. The
upstream side (a mount namespace for the static tree, ``fake-sysfs run`` for the FUSE mount)
needs root, unshare, /dev/fuse, mfusepy and /usr/bin/cxl 76.1; without them only pycxl's side
runs (``--skip-upstream``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = REPO / "bench" / "run.py"


def upstream_missing() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("unshare") is None or not os.path.exists("/dev/fuse"):
        return "no unshare or /dev/fuse"
    if not os.access("/usr/bin/cxl", os.X_OK):
        return "no /usr/bin/cxl"
    try:
        import mfusepy  # type: ignore[import-untyped]  # noqa: F401
    except (ImportError, OSError):
        return "no mfusepy"
    return None


def our_mounts(under: Path) -> list[str]:
    with open("/proc/mounts") as f:
        return [line for line in f if str(under) in line]


def test_quick_run_reports_every_section(tmp_path: Path) -> None:
    work = tmp_path / "work"
    argv = [sys.executable, str(RUN), "--quick", "--platforms", "qemu-mixed"]
    argv += ["--installed", "--no-readme", "--workdir", str(work)]
    upstream = upstream_missing() is None
    if not upstream:
        argv.append("--skip-upstream")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_SYSFS_", "PYCXL_"))}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    report = done.stdout
    # Both sections, each with qemu-mixed rows, and the targets.
    assert "| qemu-mixed | 4 | `cxl list` |" in report
    for decoder in ("1-way decoder0.1", "1-way decoder0.2", "2-way decoder0.0"):
        assert f"| qemu-mixed | {decoder} | create |" in report
    assert "### Targets" in report
    # Every command did what it was asked: outputs agree, no region step failed.
    assert "Output check, problems" not in report
    assert "Failed steps" not in report
    # The served column measured served commands (the server ran every one of them).
    served = re.search(r"its fork server ran (\d+) of the (\d+) commands", report)
    assert served is not None and served[1] == served[2] != "0", report
    if upstream:
        assert "Stores through the FUSE mount" in report
        assert "| n/a | 0 | n/a |" not in report  # every region row has upstream pairs
    # Nothing stays mounted: the namespaces went with their servers.
    assert our_mounts(work) == []
