"""Running the upstream binaries (Debian ndctl 76.1) against a tree, as an oracle.

The binaries read fixed paths (/sys, /dev), so the tree is staged onto a tmpfs in kernfs
readdir order inside a private mount namespace and bind-mounted over /sys and /dev there;
the host's /sys and /dev are never touched. Needs root, unshare(1) and the binaries.
A batch of command lines runs in one namespace session, staged once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import Result

NAMESPACE_SCRIPT = Path(__file__).with_name("namespace.py")
EXPECTED_VERSION = "76.1"


def unavailable_reason() -> str | None:
    """Why the oracle cannot run here, or None when it can."""
    if os.geteuid() != 0:
        return "the upstream oracle needs root (mount namespaces)"
    if shutil.which("unshare") is None:
        return "unshare(1) is not installed"
    cxl = shutil.which("cxl", path="/usr/bin:/bin")
    if cxl is None:
        return "the upstream cxl binary is not installed (apt-get install ndctl)"
    version = subprocess.run([cxl, "--version"], capture_output=True, text=True).stdout.strip()
    if version != EXPECTED_VERSION:
        return f"/usr/bin/cxl is version {version!r}, the oracle is {EXPECTED_VERSION}"
    return None


def require_oracle() -> None:
    """Skip the calling test when the oracle is missing; under CI=true, fail instead."""
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"conformance oracle required in CI: {reason}")
    pytest.skip(reason)


def run_upstream(
    tree: Path, commands: list[list[str]], timeout: float | None = None
) -> list[Result]:
    """Run each argv (e.g. ["cxl", "list", "-M"]) with tree/sys as /sys and tree/dev as /dev.

    A command still running after ``timeout`` seconds is killed; its result has rc -9.
    The staging tmpfs is mounted on a directory inside this call's temporary directory, so
    nothing is left in /tmp afterwards (the mounts vanish with the namespace)."""
    with tempfile.TemporaryDirectory(prefix="oracle-") as tmp:
        spec = Path(tmp) / "commands.json"
        out = Path(tmp) / "results.json"
        mnt = Path(tmp) / "mnt"
        mnt.mkdir()
        spec.write_text(json.dumps(commands))
        proc = subprocess.run(
            [
                "unshare",
                "-m",
                "--propagation",
                "private",
                sys.executable,
                str(NAMESPACE_SCRIPT),
                str(tree),
                str(spec),
                str(out),
                str(mnt),
                *([] if timeout is None else [str(timeout)]),
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"oracle session failed ({proc.returncode}): {proc.stderr.strip()}")
        results = json.loads(out.read_text())
    return [Result(bytes.fromhex(r["out"]), bytes.fromhex(r["err"]), r["rc"]) for r in results]
