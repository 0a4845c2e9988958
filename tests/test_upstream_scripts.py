"""Upstream ndctl's own CXL test scripts, run unmodified against the emulated cxl_test
platform on the live /sys (tests/upstream_scripts.py has the harness).

Two runs of each script: the v81 script with pycxl's ``cxl`` (checks pycxl and the
emulated kernel together), and the v76.1 script of the same name with Debian's upstream
binary (checks the emulated kernel on its own). Every script is listed here with what it
must do; one that cannot pass yet says why, and the day it passes, the run fails until this
table is updated (a strict expected failure), so no result is ever silently skipped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.upstream_scripts import run_script, upstream_tests_dir

SCRIPTS = [
    "cxl-topology.sh",
    "cxl-region-sysfs.sh",
    "cxl-create-region.sh",
    "cxl-destroy-region.sh",
    "cxl-xor-region.sh",
    "cxl-qos-class.sh",
    "daxctl-create.sh",
]

#: The scripts of the device mailbox and its sysfs/tracefs stand-ins. Debian's binaries
#: reach the emulated /dev/cxl/memN and /dev/nmemN through fake-sysfs run's ioctl shim
#: (fake_sysfs/frontends/devioctl.py); v76.1 has two of these scripts.
MAILBOX_SCRIPTS = [
    "cxl-labels.sh",
    "cxl-poison.sh",
    "cxl-events.sh",
    "cxl-sanitize.sh",
    "cxl-update-firmware.sh",
    "cxl-security.sh",
]

#: v76.1 has no cxl-destroy-region.sh or cxl-qos-class.sh.
V76_SCRIPTS = [s for s in SCRIPTS if s not in ("cxl-destroy-region.sh", "cxl-qos-class.sh")]
V76_MAILBOX_SCRIPTS = ["cxl-labels.sh", "cxl-security.sh"]
RUNS = (
    [("pycxl", s) for s in SCRIPTS]
    + [("pycxl", s) for s in MAILBOX_SCRIPTS]
    + [("upstream", s) for s in V76_SCRIPTS]
    + [("upstream", s) for s in V76_MAILBOX_SCRIPTS]
)

#: (tools, script) -> None when it must pass, else why it cannot yet.
EXPECTED: dict[tuple[str, str], str | None] = dict.fromkeys(RUNS) | {
    ("upstream", "cxl-xor-region.sh"): (
        "v76.1's script looks for the 4-way XOR window (cfmws8) that cxl_test had before "
        "Linux v6.9; v6.9 made it 3-way, and the emulation models v6.14, as the v81 script "
        "(which passes) expects"
    ),
}

#: (tools, script) -> why the script must skip itself (exit 77) on the emulated platform.
MUST_SKIP: dict[tuple[str, str], str] = {
    ("pycxl", "cxl-security.sh"): (
        "it skips without keyctl (not installed); past that it needs the host kernel's "
        "keyring (encrypted nvdimm keys, which an emulation cannot own) and ndctl's "
        "passphrase commands"
    ),
    ("upstream", "cxl-security.sh"): (
        "as for v81: without keyctl it skips; the passphrase commands need the host "
        "kernel's keyring"
    ),
}

#: (tools, script) -> the preset booted for it, when not cxl_test. v76.1's daxctl-create.sh
#: carves an hmem DAX region (region 0) whose device comes up in devdax mode: with Linux
#: v6.3+ that takes a kernel without kmem (hmem regions are kmem's otherwise).
PLATFORMS: dict[tuple[str, str], str] = {("upstream", "daxctl-create.sh"): "hmem-devdax"}


def _why_not_here() -> str | None:
    if upstream_tests_dir() is None:
        return "shared/upstream-tests is not beside the checkout"
    if os.geteuid() != 0:
        return "needs root (a private mount namespace and a FUSE mount over /sys)"
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        return "needs FUSE (/dev/fuse and Debian's fuse3)"
    if not shutil.which("jq"):
        return "needs jq"
    return None


@pytest.mark.parametrize(("tools", "script"), RUNS)
def test_upstream_script(tools: str, script: str, tmp_path: Path) -> None:
    why = _why_not_here()
    if tools == "upstream" and not os.path.exists("/usr/bin/cxl"):
        why = why or "needs Debian's ndctl (/usr/bin/cxl)"
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run upstream's scripts: {why}")
        pytest.skip(why)
    version = "v81" if tools == "pycxl" else "v76.1"
    platform = PLATFORMS.get((tools, script), "cxl_test")
    outcome = run_script(version, script, tmp_path, tools, platform=platform)
    must_skip = MUST_SKIP.get((tools, script))
    if must_skip is not None:
        assert outcome.status == "skip", f"{version} {script}: exit {outcome.rc}, not 77"
        pytest.skip(must_skip)
    reason = EXPECTED[(tools, script)]
    tail = "\n".join(outcome.log.splitlines()[-40:])
    if reason is None:
        assert outcome.status == "pass", f"{version} {script}: exit {outcome.rc}\n{tail}"
        return
    assert outcome.status != "pass", (
        f"{version} {script} passes now: remove its reason from EXPECTED ({reason})"
    )
    assert outcome.status != "skip", f"{version} {script} skipped itself:\n{tail}"
    pytest.xfail(reason)
