"""The `cxl` program's top level: global options, dispatch, help, exit statuses.

Where the behaviour does not depend on sysfs, the upstream binary is run directly (no tree
is needed) and compared byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import run_cxl

UPSTREAM = "/usr/bin/cxl"
USAGE = "\n usage: cxl [--version] [--help] COMMAND [ARGS]\n\n"
MORE = (
    "\n See 'cxl help COMMAND' for more information on a specific command.\n"
    " cxl --list-cmds to see all available commands\n\n"
)


def test_version() -> None:
    for argv in (["--version"], ["-v"], ["version"], ["version", "extra"]):
        result = run_cxl(argv)
        assert (result.out, result.err, result.rc) == (b"81\n", b"", 0)


def test_no_command() -> None:
    result = run_cxl([])
    assert (result.out.decode(), result.err, result.rc) == (USAGE + MORE, b"", 1)


def test_help_without_command() -> None:
    for argv in (["help"], ["--help"], ["-h"]):
        result = run_cxl(argv)
        assert (result.out.decode(), result.rc) == (USAGE + MORE, 0)


def test_unknown_option_and_command() -> None:
    result = run_cxl(["--bogus"])
    assert (
        result.err
        == b"Unknown option: --bogus\n\n Usage: cxl [--version] [--help] COMMAND [ARGS]\n"
    )
    assert result.rc == 129
    result = run_cxl(["frobnicate"])
    assert (result.err, result.rc) == (b"Unknown command: 'frobnicate'\n", 1)


def test_list_cmds() -> None:
    # Upstream's v81 table order (cxl-cli.md 1.1; v76.1's, checked against /usr/bin/cxl
    # --list-cmds, is the same without update-firmware, set-alert-config, wait-sanitize).
    result = run_cxl(["--list-cmds"])
    assert result.out.decode().split() == [
        "version", "list", "help", "zero-labels", "read-labels", "write-labels",
        "disable-memdev", "enable-memdev", "reserve-dpa", "free-dpa", "update-firmware",
        "set-alert-config", "wait-sanitize", "disable-port", "enable-port", "set-partition",
        "disable-bus", "create-region", "enable-region", "disable-region", "destroy-region",
        "monitor",
    ]  # fmt: skip
    assert result.rc == 0


def test_double_dash_command_word() -> None:
    assert run_cxl(["--version"]).out == run_cxl(["version"]).out


@pytest.mark.skipif(not os.path.exists(UPSTREAM), reason="upstream cxl not installed")
@pytest.mark.parametrize(
    "argv",
    [[], ["help"], ["--help"], ["-h"], ["--bogus"], ["-x"], ["frobnicate"], ["--no-such"]],
    ids=str,
)
def test_matches_upstream(argv: list[str]) -> None:
    upstream = subprocess.run([UPSTREAM, *argv], capture_output=True, stdin=subprocess.DEVNULL)
    ours = run_cxl(argv)
    assert (ours.out, ours.err, ours.rc) == (upstream.stdout, upstream.stderr, upstream.returncode)


def _console_cxl() -> str:
    path = Path(sys.executable).with_name("cxl")
    return str(path) if path.exists() else "cxl"


@pytest.mark.skipif(shutil.which("man") is None, reason="man is not installed")
def test_help_command_shows_our_man_page(tmp_path: Path) -> None:
    env = dict(
        os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="80", FAKE_SYSFS_STATE=str(tmp_path)
    )
    for argv in (["help", "list"], ["list", "--help"]):
        proc = subprocess.run([_console_cxl(), *argv], capture_output=True, env=env, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "CXL-LIST" in proc.stdout
        assert "PYCXL_SYSFS_ROOT" in proc.stdout  # ours, not Debian's page


def test_help_without_viewer() -> None:
    env = dict(os.environ, CXL_MAN_VIEWER="none")
    proc = subprocess.run([_console_cxl(), "help", "list"], capture_output=True, env=env)
    assert (proc.stderr, proc.returncode) == (b"no man viewer handled the request", 255)


def test_write_failure_on_stdout(tmp_path: Path) -> None:
    env = dict(os.environ, FAKE_SYSFS_STATE=str(tmp_path))
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [_console_cxl(), "list"], stdout=full, stderr=subprocess.PIPE, env=env
        )
    assert proc.returncode == 1
    assert proc.stderr == b"write failure on standard output: No space left on device"


def test_closed_pipe_is_quiet(tmp_path: Path) -> None:
    env = dict(os.environ, FAKE_SYSFS_STATE=str(tmp_path))
    proc = subprocess.run(
        f"{_console_cxl()} list -vv | head -c 1 >/dev/null",
        shell=True,
        env=env,
        capture_output=True,
    )
    assert proc.stderr == b""


def test_damaged_state_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "state.json").write_text("{not json")
    env = dict(os.environ, FAKE_SYSFS_STATE=str(tmp_path))
    proc = subprocess.run([_console_cxl(), "list"], capture_output=True, env=env, text=True)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("cxl: state file")
    assert "Traceback" not in proc.stderr
