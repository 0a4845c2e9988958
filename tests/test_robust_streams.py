"""Closed and full standard streams: what a user's shell can do to `cxl` and `fake-sysfs`.

Every case runs the installed console script (next to this interpreter: .venv/bin/cxl,
.venv/bin/fake-sysfs) in a subprocess, with a stream closed (``>&-``), on a full device
(``>/dev/full``) or with a pipe whose reader is gone, and asserts the exact exit status and
stderr (and stdout where there is one). Python behaves differently with buffered and
unbuffered standard streams, so each case runs both ways (``PYTHONUNBUFFERED`` unset and
set). For `cxl`, the same command line is also run with the upstream binary
(/usr/bin/cxl, Debian's ndctl 76.1): directly where no sysfs is read, else through the oracle
namespace on the same tree; without it those comparisons skip (under CI=true they fail).

Upstream (ndctl's main loop, as observed): stdout is fully buffered and written at exit; a
builtin that succeeded checks it (``fstat`` fails on a closed stdout: success; a pipe or
socket: not checked; else a failed flush prints ``write failure on standard output: <error>``
without a newline, exit 1); everything else (usage, --list-cmds, a failed command) loses
a failed write silently. stderr is unbuffered and its failures are ignored.

`fake-sysfs` reports a failed write in one line (``fake-sysfs: cannot write output: <error>``,
exit 1; a closed stdout is EBADF, as for coreutils), never a traceback or Python's
"Exception ignored" at exit; a reader that went away ends it with SIGPIPE, like `cxl`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest

from tests import compat_v76
from tests.helpers import extract_golden_tree
from tests.oracle import require_oracle, run_upstream

BIN = Path(sys.executable).parent
CXL = BIN / "cxl"
FAKE_SYSFS = BIN / "fake-sysfs"
UPSTREAM = "/usr/bin/cxl"
TIMEOUT = 120

ENOSPC = "No space left on device"
EBADF = "Bad file descriptor"
WRITE_FAILURE = f"write failure on standard output: {ENOSPC}"
#: What upstream says when the failed write happened while printing (a print of a buffer's
#: size or more, 4096 bytes on /dev/full, is written at once), not at exit.
UNKNOWN_FAILURE = "unknown write failure on standard output"
NO_MATCH = "  Warning: no matching devices found\n\n"

#: How a stream is set up, as a shell redirection (a pipe when absent).
REDIRECT = {"closed": "&-", "full": "/dev/full"}

BUFFERING = pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])


def shell(argv: list[str], stdout: str = "pipe", stderr: str = "pipe") -> list[str]:
    """``argv`` run by sh with stdout and/or stderr closed or on /dev/full."""
    redirect = ""
    if stdout != "pipe":
        redirect += f" >{REDIRECT[stdout]}"
    if stderr != "pipe":
        redirect += f" 2>{REDIRECT[stderr]}"
    return ["sh", "-c", f'exec "$@"{redirect}', "sh", *argv]


def run(
    argv: list[str], env: dict[str, str], stdout: str = "pipe", stderr: str = "pipe"
) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(
        shell(argv, stdout, stderr),
        capture_output=True,
        env=env,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An empty tree (no CXL at all) and the golden tree, each with sys/ and dev/."""
    base = tmp_path_factory.mktemp("trees")
    empty = base / "empty"
    (empty / "sys").mkdir(parents=True)
    (empty / "dev").mkdir()
    return {"empty": empty, "golden": extract_golden_tree(base / "golden")}


EnvFor = Callable[..., dict[str, str]]
Trees = dict[str, Path]


@pytest.fixture
def env_for(tmp_path: Path) -> EnvFor:
    """The environment of a run: nothing of the caller's PYTHON*/PYCXL_* settings, the
    state in a temporary directory, and the chosen tree (or the emulation)."""

    def make(unbuffered: bool, tree: Path | None = None) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYCXL_", "CXL_"))
        }
        env.update(LC_ALL="C", FAKE_SYSFS_STATE=str(tmp_path / "state"))
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        if tree is not None:
            env["PYCXL_SYSFS_ROOT"] = str(tree / "sys")
        return env

    return make


def require_scripts() -> None:
    if not (CXL.exists() and FAKE_SYSFS.exists()):
        pytest.skip(f"the console scripts are not installed next to {sys.executable}")


def require_upstream() -> None:
    if Path(UPSTREAM).exists():
        return
    reason = f"{UPSTREAM} is not installed (apt-get install ndctl)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"upstream binary required in CI: {reason}")
    pytest.skip(reason)


# ---------------------------------------------------------------------------------------------
# cxl, where no sysfs is read: expectations, and the upstream binary run directly

#: (argv, stdout, stderr, exit status, stderr text or None when it is not compared literally)
NO_SYSFS = [
    (["version"], "closed", "pipe", 0, ""),
    (["version"], "full", "pipe", 1, WRITE_FAILURE),
    (["--version"], "full", "pipe", 1, WRITE_FAILURE),
    (["version"], "full", "closed", 1, ""),
    (["version"], "closed", "closed", 0, ""),
    (["help"], "full", "pipe", 1, WRITE_FAILURE),
    (["help"], "closed", "pipe", 0, ""),
    ([], "full", "pipe", 1, ""),
    ([], "closed", "pipe", 1, ""),
    (["--list-cmds"], "full", "pipe", 0, ""),
    (["--list-cmds"], "closed", "pipe", 0, ""),
    (["list", "-h"], "pipe", "closed", 129, ""),
    (["list", "-h"], "pipe", "full", 129, ""),
    (["list", "-h"], "closed", "pipe", 129, None),
    (["list", "-h"], "full", "pipe", 129, None),
    (["list", "-Z"], "closed", "closed", 129, ""),
    (["list", "--list-opts"], "full", "pipe", 130, ""),
    (["--bogus"], "pipe", "closed", 129, ""),
    (["--bogus"], "pipe", "full", 129, ""),
    (["bogus"], "pipe", "full", 1, ""),
    (["bogus"], "closed", "closed", 1, ""),
]


def _case_id(case: tuple[list[str], str, str, int, str | None]) -> str:
    argv, out, err, _, _ = case
    return f"cxl {' '.join(argv) or '(none)'} stdout={out} stderr={err}"


@BUFFERING
@pytest.mark.parametrize("case", NO_SYSFS, ids=_case_id)
def test_cxl_streams_without_sysfs(
    case: tuple[list[str], str, str, int, str | None],
    unbuffered: bool,
    env_for: EnvFor,
    trees: Trees,
) -> None:
    require_scripts()
    argv, stdout, stderr, rc, err = case
    env = env_for(unbuffered, trees["empty"])
    mine = run([str(CXL), *argv], env, stdout, stderr)
    assert mine[0] == rc
    if stdout == "pipe":
        assert mine[1] == b""
    if err is not None:
        assert mine[2].decode() == err
    else:
        assert mine[2].startswith(b"\n usage: cxl list [<options>]\n")
    require_upstream()
    upstream = run([UPSTREAM, *argv], env, stdout, stderr)
    assert (mine[0], compat_v76.stderr(mine[2])) == (upstream[0], upstream[2])


@BUFFERING
def test_cxl_output_to_a_closed_stdout_goes_nowhere(
    unbuffered: bool, env_for: EnvFor, trees: Trees
) -> None:
    """A closed stdout is given /dev/null: no file opened later (here the read cache of the
    emulated state) can become descriptor 1 and receive the listing."""
    require_scripts()
    env = env_for(unbuffered)
    assert run([str(FAKE_SYSFS), "init", "-p", "qemu-pmem"], env)[0] == 0
    assert run([str(CXL), "list", "-M"], env, stdout="closed") == (0, b"", b"")
    rc, out, err = run([str(CXL), "list", "-M"], env)
    assert (rc, err) == (0, b"")
    head = b"\n".join(out.split(b"\n")[:3])
    assert head.startswith(b'[\n  {\n    "memdev":"mem')
    for path in Path(env["FAKE_SYSFS_STATE"]).rglob("*"):
        if path.is_file():
            assert head not in path.read_bytes(), path


@BUFFERING
@pytest.mark.parametrize("who", ["pycxl", "upstream"])
def test_cxl_dies_quietly_when_the_reader_is_gone(
    who: str, unbuffered: bool, env_for: EnvFor, trees: Trees
) -> None:
    """A pipe without a reader: SIGPIPE, as for any C tool, and nothing on stderr."""
    require_scripts()
    if who == "upstream":
        require_upstream()
    binary = str(CXL) if who == "pycxl" else UPSTREAM
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [binary, "version"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=env_for(unbuffered, trees["empty"]),
            timeout=TIMEOUT,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (-13, b"")


# ---------------------------------------------------------------------------------------------
# cxl list on trees: expectations, and the upstream binary on the same tree

#: (tree, argv, stdout, stderr, exit status, stderr text; a tuple ("+", text): what the
#: listing prints on stderr anyway, then that text)
LISTINGS: list[tuple[str, list[str], str, str, int, str | tuple[str, str]]] = [
    ("empty", ["list"], "closed", "pipe", 0, NO_MATCH),
    ("empty", ["list"], "full", "pipe", 1, NO_MATCH + WRITE_FAILURE),
    ("empty", ["list"], "pipe", "closed", 0, ""),
    ("empty", ["list"], "full", "closed", 1, ""),
    ("empty", ["list", "-u"], "full", "pipe", 0, ""),
    ("golden", ["list", "-M"], "full", "pipe", 1, WRITE_FAILURE),
    ("golden", ["list", "-M"], "closed", "pipe", 0, ""),
    ("golden", ["list", "-M"], "pipe", "closed", 0, ""),
    ("golden", ["list", "-M"], "pipe", "full", 0, ""),
    ("golden", ["list", "-vvv"], "full", "pipe", 1, ("+", UNKNOWN_FAILURE)),
    ("golden", ["list", "-vvv", "-u"], "full", "pipe", 1, ("+", UNKNOWN_FAILURE)),
    ("golden", ["list", "-vvv", "-m", "mem0"], "full", "pipe", 1, ("+", WRITE_FAILURE)),
    ("golden", ["list", "-vvv"], "pipe", "full", 0, ""),
    ("golden", ["list", "-vvv"], "closed", "closed", 0, ""),
]


def _listing_id(case: tuple[str, list[str], str, str, int, str | tuple[str, str]]) -> str:
    tree, argv, out, err, _, _ = case
    return f"{tree}: cxl {' '.join(argv)} stdout={out} stderr={err}"


@BUFFERING
@pytest.mark.parametrize("case", LISTINGS, ids=_listing_id)
def test_cxl_list_streams(
    case: tuple[str, list[str], str, str, int, str | tuple[str, str]],
    unbuffered: bool,
    env_for: EnvFor,
    trees: Trees,
) -> None:
    require_scripts()
    tree, argv, stdout, stderr, rc, err = case
    env = env_for(unbuffered, trees[tree])
    mine = run([str(CXL), *argv], env, stdout, stderr)
    normal = run([str(CXL), *argv], env)
    assert mine[0] == rc
    if isinstance(err, str):
        assert mine[2].decode() == err
    else:
        assert mine[2] == normal[2] + err[1].encode()
    if stdout == "pipe":
        assert mine[1] == normal[1] and normal[1]


@pytest.mark.parametrize("tree", ["empty", "golden"])
def test_cxl_list_streams_match_upstream(tree: str, env_for: EnvFor, trees: Trees) -> None:
    """The same redirections with the upstream binary on the same tree (one namespace)."""
    require_scripts()
    require_oracle()
    # Only the command lines v76.1 has an equivalent for (see tests/compat_v76.py).
    cases = [c for c in LISTINGS if c[0] == tree and compat_v76.command_lines(c[1][1:])]
    pairs: list[tuple[list[str], list[str]]] = []
    for _, argv, *_ in cases:
        pair = compat_v76.command_lines(argv[1:])
        assert pair is not None
        pairs.append(pair)
    commands = [
        shell(["cxl", "list", *theirs], out, err)
        for (_, theirs), (_, _, out, err, _, _) in zip(pairs, cases, strict=True)
    ]
    upstream = run_upstream(trees[tree], commands, timeout=TIMEOUT)
    env = env_for(False, trees[tree])
    for (ours, _), (_, argv, out, err, _, _), theirs in zip(pairs, cases, upstream, strict=True):
        rc, mine_out, mine_err = run([str(CXL), "list", *ours], env, out, err)
        assert (rc, compat_v76.stderr(mine_err)) == (theirs.rc, theirs.err), (argv, out, err)
        if out == "pipe":
            assert compat_v76.stdout(mine_out) == theirs.out, (argv, out, err)


# ---------------------------------------------------------------------------------------------
# fake-sysfs


@pytest.fixture
def fs_env(env_for: EnvFor) -> dict[str, str]:
    """An environment whose state holds a small platform (booted once per test)."""
    require_scripts()
    env = env_for(False)
    rc, _, err = run([str(FAKE_SYSFS), "init", "-p", "qemu-pmem"], env)
    assert (rc, err) == (0, b""), err
    return env


def _with(env: dict[str, str], unbuffered: bool) -> dict[str, str]:
    env = dict(env)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


#: (argv, stdout, stderr, exit status, stderr text)
FAKE_SYSFS_CASES = [
    (["show"], "full", "pipe", 1, f"fake-sysfs: cannot write output: {ENOSPC}\n"),
    (["show"], "closed", "pipe", 1, f"fake-sysfs: cannot write output: {EBADF}\n"),
    (["show"], "full", "closed", 1, ""),
    (["show"], "closed", "closed", 1, ""),
    (["show"], "pipe", "closed", 0, ""),
    (["show"], "pipe", "full", 0, ""),
    (["presets"], "full", "pipe", 1, f"fake-sysfs: cannot write output: {ENOSPC}\n"),
    (["--help"], "full", "pipe", 1, f"fake-sysfs: cannot write output: {ENOSPC}\n"),
    (["-h"], "closed", "pipe", 1, f"fake-sysfs: cannot write output: {EBADF}\n"),
    (["--version"], "full", "pipe", 1, f"fake-sysfs: cannot write output: {ENOSPC}\n"),
    (["help", "show"], "full", "pipe", 1, f"fake-sysfs: cannot write output: {ENOSPC}\n"),
    (["bogus"], "pipe", "closed", 2, ""),
    (["bogus"], "pipe", "full", 2, ""),
    (["show", "--state", "/dev/null/state"], "full", "full", 1, ""),
]


def _fs_id(case: tuple[list[str], str, str, int, str]) -> str:
    argv, out, err, _, _ = case
    return f"fake-sysfs {' '.join(argv)} stdout={out} stderr={err}"


@BUFFERING
@pytest.mark.parametrize("case", FAKE_SYSFS_CASES, ids=_fs_id)
def test_fake_sysfs_streams(
    case: tuple[list[str], str, str, int, str], unbuffered: bool, fs_env: dict[str, str]
) -> None:
    argv, stdout, stderr, rc, err = case
    mine = run([str(FAKE_SYSFS), *argv], _with(fs_env, unbuffered), stdout, stderr)
    assert (mine[0], mine[2].decode()) == (rc, err)
    if stdout == "pipe" and rc == 0:
        assert mine[1].startswith(b"platform: qemu-pmem")


@BUFFERING
def test_fake_sysfs_dies_quietly_when_the_reader_is_gone(
    unbuffered: bool, fs_env: dict[str, str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [str(FAKE_SYSFS), "show"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            env=_with(fs_env, unbuffered),
            timeout=TIMEOUT,
        )
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (-13, b"")


def test_fake_sysfs_help_and_version(fs_env: dict[str, str]) -> None:
    """-h, help, help COMMAND and --version work (they were usage errors, exit 2)."""

    def ok(*argv: str) -> str:
        rc, out, err = run([str(FAKE_SYSFS), *argv], fs_env)
        assert (rc, err) == (0, b""), argv
        return out.decode()

    usage = ok("--help")
    assert usage.startswith("Usage: fake-sysfs [OPTIONS] COMMAND [ARGS]...\n")
    assert "  -h, --help " in usage and "  --version " in usage and "  help " in usage
    assert ok("-h") == ok("help") == ok() == usage
    show = ok("show", "--help")
    assert show.startswith("Usage: fake-sysfs show [OPTIONS]\n")
    assert ok("show", "-h") == ok("help", "show") == show
    assert ok("help", "init") == ok("init", "--help")
    assert ok("--version") == f"fake-sysfs {version('pycxl')}\n"
    rc, out, err = run([str(FAKE_SYSFS), "help", "bogus"], fs_env)
    assert (rc, out) == (2, b"")
    assert err == (
        b"fake-sysfs: Invalid value for COMMAND: no such command 'bogus' "
        b"(see 'fake-sysfs --help')\n"
    )


def test_no_fake_sysfs_traceback_on_any_stream_combination(fs_env: dict[str, str]) -> None:
    """Every combination of stdout and stderr state, for a command that prints and one that
    fails: never a traceback or "Exception ignored" (checked where stderr is a pipe)."""
    modes = ["pipe", "closed", "full"]
    for argv in (["show"], ["reset"], ["show", "--tables"], ["init"]):
        for stdout in modes:
            rc, _, err = run([str(FAKE_SYSFS), *argv], fs_env, stdout, "pipe")
            assert b"Traceback" not in err and b"Exception ignored" not in err, (argv, stdout)
            assert err.count(b"\n") <= 1, (argv, stdout, err)
            assert rc in (0, 1), (argv, stdout, rc)
