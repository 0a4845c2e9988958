"""Shared by the write-command tests (test_cxl_region_cmds.py, test_cxl_memdev_port_cmds.py).

* The golden tree (tests/data/golden/cxl-list) under the fake kernel for tests
  (tests/fake_writable_sysfs.py), and ``cxl`` run on it in-process: stdout, stderr, exit
  status and the stores made, in order.
* The upstream binary as an oracle: run directly for what needs no tree (usage blocks,
  option errors, checks made before any sysfs access), and on plain-file trees under strace
  for whole commands (see ``strace_upstream``). The oracle is v76.1; the v81-only lines of
  pycxl's usage blocks (specs/cxl-cli.md Appendix A, first paragraph) are the only thing
  removed before comparing usage text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from pycxl.sysfs.base import Sysfs
from pycxl.sysfs.files import FileSysfs
from tests.fake_writable_sysfs import FakeKernelSysfs
from tests.helpers import extract_golden_tree, run_cxl

UPSTREAM = "/usr/bin/cxl"
FLUSH = "/sys/bus/cxl/flush"

#: Usage lines of options that v81 has and the v76.1 oracle lacks, per command
#: (specs/cxl-cli.md Appendix A: create-region -U/-Q, disable-region -f, memdev -b).
_MEMDEV_BUS = "    -b, --bus <bus name>  Limit operation to the specified bus\n"
V81_ONLY_USAGE_LINES = {
    "create-region": (
        "    -U, --uuid <region uuid>\n                          uuid for the new region"
        " (default: autogenerate)\n",
        "    -Q, --enforce-qos     enforce qos_class match\n",
    ),
    "disable-region": (
        "    -f, --force           attempt to offline memory before disabling the region\n",
    ),
    **{
        command: (_MEMDEV_BUS,)
        for command in ("enable-memdev", "disable-memdev", "reserve-dpa", "free-dpa")
    },
}

_tree_dir: tempfile.TemporaryDirectory[str] | None = None


def golden_tree() -> Path:
    """The golden tree, extracted once per test process (read-only for the tests)."""
    global _tree_dir
    if _tree_dir is None:
        _tree_dir = tempfile.TemporaryDirectory(prefix="pycxl-golden-")
        extract_golden_tree(Path(_tree_dir.name))
    return Path(_tree_dir.name) / "tree"


def copy_golden(dest: Path) -> Path:
    """A private, writable copy of the golden tree (holding sys/ and dev/)."""
    shutil.copytree(golden_tree(), dest, symlinks=True)
    return dest


def short(path: str) -> str:
    """A written attribute as the specification names it: its directory and its name
    (``region1/size``, ``decoder2.1/dpa_size``, ``cxl_region/bind``)."""
    return "/".join(path.split("/")[-2:])


@dataclass
class Outcome:
    out: str
    err: str
    rc: int
    #: The stores made, flushes left out: (directory/attribute, bytes).
    writes: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The last stderr line (the command's summary)."""
        return self.err.splitlines()[-1] if self.err else ""


def cxl(
    sysfs: Sysfs, *argv: str, tty: bool = False, env: dict[str, str | None] | None = None
) -> Outcome:
    """Run ``cxl ARGV`` in-process on ``sysfs``; ``tty`` makes stdout look like a terminal
    (human number formats for the JSON the write commands print)."""
    recorder = sysfs if isinstance(sysfs, FakeKernelSysfs | RecordingFileSysfs) else None
    before = len(recorder.canonical_writes) if recorder is not None else 0
    with mock.patch("pycxl.sysfs.select.open_sysfs", return_value=sysfs):
        if tty:
            real = os.isatty
            with mock.patch("os.isatty", lambda fd: fd == 1 or real(fd)):
                result = run_cxl(list(argv), env)
        else:
            result = run_cxl(list(argv), env)
    writes: list[tuple[str, bytes]] = []
    if recorder is not None:
        writes = [
            (short(path), data)
            for path, data in recorder.canonical_writes[before:]
            if path != FLUSH
        ]
    return Outcome(result.out.decode(), result.err.decode(), result.rc, writes)


def fake_golden() -> FakeKernelSysfs:
    """The golden tree under the fake kernel."""
    return FakeKernelSysfs(golden_tree())


class RecordingFileSysfs(FileSysfs):
    """Plain files (no kernel reacts), recording each write with its real path, as strace
    shows the upstream binary's writes."""

    def __init__(self, tree: Path) -> None:
        super().__init__(tree / "sys", tree / "dev")
        self.canonical_writes: list[tuple[str, bytes]] = []

    def write(self, path: str, data: bytes) -> None:
        try:
            canon = self.realpath(path)
        except OSError:
            canon = path
        self.canonical_writes.append((canon, data))
        super().write(path, data)


# -- the upstream binary --------------------------------------------------------------------


def require_upstream() -> None:
    """Skip when /usr/bin/cxl is missing; under CI=true, fail instead."""
    if os.path.exists(UPSTREAM):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{UPSTREAM} is required in CI")
    pytest.skip(f"{UPSTREAM} is not installed (apt-get install ndctl)")


def upstream(*argv: str) -> tuple[str, str, int]:
    """Run the binary on arguments that fail before it reads sysfs (no tree involved)."""
    require_upstream()
    proc = subprocess.run(
        [UPSTREAM, *argv], capture_output=True, stdin=subprocess.DEVNULL, env={"LC_ALL": "C"}
    )
    return proc.stdout.decode(), proc.stderr.decode(), proc.returncode


def without_v81_usage(command: str, text: str) -> str:
    """``text`` with the usage lines of ``command``'s v81-only options removed."""
    for line in V81_ONLY_USAGE_LINES.get(command, ()):
        text = text.replace(line, "")
    return text


_WRITE = re.compile(
    r'^\d+ +write\(\d+<(/sys/[^>]*)>, "((?:[^"\\]|\\.)*)"(\.\.\.)?, \d+\) = (-?\d+)'
)
_ESCAPES = {"n": b"\n", "t": b"\t", "r": b"\r", "v": b"\v", "f": b"\f", '"': b'"', "\\": b"\\"}


def _unescape(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _ESCAPES:
            out += _ESCAPES[nxt]
            i += 2
        elif nxt == "x":
            out.append(int(text[i + 2 : i + 4], 16))
            i += 4
        else:
            digits = re.match(r"[0-7]{1,3}", text[i + 1 :])
            assert digits is not None, text
            out.append(int(digits.group(), 8))
            i += 1 + len(digits.group())
    return bytes(out)


def strace_writes(log: str) -> list[tuple[str, bytes]]:
    """The writes to /sys an strace log shows (failed ones included), flushes left out."""
    writes = []
    for line in log.splitlines():
        match = _WRITE.match(line)
        if match and match.group(1) != FLUSH:
            writes.append((short(match.group(1)), _unescape(match.group(2))))
    return writes


@dataclass
class UpstreamRun:
    out: str
    err: str
    rc: int
    writes: list[tuple[str, bytes]]


def strace_upstream(tree: Path, commands: list[list[str]], workdir: Path) -> list[UpstreamRun]:
    """Run the upstream ``cxl`` with each argv, in order, on one staged copy of ``tree``
    (plain files over /sys and /dev in a private mount namespace: every store "succeeds"
    without effect), under strace; returns what each printed and wrote."""
    from tests.oracle import require_oracle, run_upstream

    require_oracle()
    if shutil.which("strace") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("strace is required in CI")
        pytest.skip("strace is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    logs = [workdir / f"strace.{i}" for i in range(len(commands))]
    wrapped = [
        [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=write",
            "-y",
            "-s",
            "400",
            "-o",
            str(log),
            "cxl",
            *argv,
        ]
        for log, argv in zip(logs, commands, strict=True)
    ]
    results = run_upstream(tree, wrapped)
    return [
        UpstreamRun(r.out.decode(), r.err.decode(), r.rc, strace_writes(log.read_text()))
        for r, log in zip(results, logs, strict=True)
    ]
