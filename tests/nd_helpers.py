"""Helpers for the nd / ndctl tests: a platform with a bound pmem region, and ndctl run
in-process.

The pmem platform is built once per session (``qemu-mixed``, ``cxl create-region`` of a
1 GiB 2-way pmem region over mem2 and mem0 below decoder0.0, as an administrator would)
and copied for each test that changes it.
"""

from __future__ import annotations

import shutil
import sys
from functools import cache
from pathlib import Path

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.helpers import Result, _stream, environment, run_cxl

ND = "/sys/bus/nd/devices"
REGION = f"{ND}/region0"
CREATE_REGION = ["create-region", "-d", "decoder0.0", "-t", "pmem", "-m", "mem2", "mem0"]


@cache
def _template(root: str) -> Path:
    state = Path(root) / "pmem-template"
    StateStore(state, create=True).init(
        load_preset("qemu-mixed"), Origin("preset", "qemu-mixed"), force=True
    )
    result = run_cxl(CREATE_REGION, {"FAKE_SYSFS_STATE": str(state)})
    assert result.rc == 0, result.err
    return state


def pmem_state(tmp: Path, template_root: Path) -> Path:
    """A fresh copy of the platform with its bound pmem region0."""
    state = tmp / "state"
    shutil.copytree(_template(str(template_root)), state)
    (state / "reads.cache").unlink(missing_ok=True)
    return state


def run_ndctl(argv: list[str], state: Path, env: dict[str, str | None] | None = None) -> Result:
    """``ndctl ARGV`` in this process (pycxl.ndctl.main.run), output captured."""
    from pycxl.ndctl.main import run

    out, err = _stream(), _stream()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with environment({"FAKE_SYSFS_STATE": str(state), **(env or {})}):
            rc = run(argv)
    finally:
        sys.stdout, sys.stderr = old
    return Result(out.buffer.getvalue(), err.buffer.getvalue(), rc)  # type: ignore[attr-defined]
