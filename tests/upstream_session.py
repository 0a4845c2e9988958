"""One session of command lines by the upstream binaries (Debian's ``cxl``, ``ndctl``,
``daxctl``) in a single ``fake-sysfs run`` over a state: one mount, so every write is live
for the next line, and each line's stdout, stderr and exit status kept apart.

Lines naming ``cxl``, ``ndctl`` or ``daxctl`` run ``/usr/bin/<tool>``; any other line (a
shell writing to the emulated /sys, say) runs as given."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from tests.helpers import Result

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
TOOLS = ("cxl", "ndctl", "daxctl")


def run_session(lines: list[list[str]], state: Path, results: Path) -> list[Result]:
    results.mkdir()
    script = ""
    for i, argv in enumerate(lines):
        if argv[0] in TOOLS:
            argv = [f"/usr/bin/{argv[0]}", *argv[1:]]
        script += f"{shlex.join(argv)} >{results}/{i}.out 2>{results}/{i}.err; "
        script += f"echo $? >{results}/{i}.rc\n"
    proc = subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", "sh", "-c", script],
        capture_output=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return [
        Result(
            (results / f"{i}.out").read_bytes(),
            (results / f"{i}.err").read_bytes(),
            int((results / f"{i}.rc").read_text()),
        )
        for i in range(len(lines))
    ]
