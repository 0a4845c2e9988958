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

#: The scripts of the device mailbox and its sysfs/tracefs stand-ins, run with pycxl only:
#: Debian's binary sends mailbox commands as ioctls on /dev/cxl/memN, which no emulated node
#: can take (FUSE here, no CUSE).
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
RUNS = (
    [("pycxl", s) for s in SCRIPTS]
    + [("pycxl", s) for s in MAILBOX_SCRIPTS]
    + [("upstream", s) for s in V76_SCRIPTS]
)

#: (tools, script) -> None when it must pass, else why it cannot yet.
EXPECTED: dict[tuple[str, str], str | None] = dict.fromkeys(RUNS) | {
    ("pycxl", "cxl-labels.sh"): (
        "its cxl read-labels steps pass; its ndctl steps need ndctl write-labels and "
        "zero-labels, which pycxl's ndctl does not have yet (they need the ND config-data "
        "ioctls on /dev/nmemN, a seam not built: the CXL mailbox's Set LSA is the kernel's "
        "alone while the nvdimm driver holds the device)"
    ),
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
    ("upstream", "daxctl-create.sh"): (
        "v76.1's script wants an hmem (efi_fake_mem) DAX region, which a CXL platform does "
        "not have; v81's script uses cxl_test's RAM region instead"
    ),
}


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
    outcome = run_script(version, script, tmp_path, tools)
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
