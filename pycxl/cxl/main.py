"""The ``cxl`` program: top-level options and command dispatch, as upstream's main loop."""

from __future__ import annotations

import errno
import io
import os
import signal
import stat
import sys

from pycxl import UPSTREAM_VERSION
from pycxl.sysfs.base import SysfsUnavailable

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from pycxl.sysfs.base import Sysfs

    Command = Callable[[list[str], Sysfs], int]

TOP_USAGE = " usage: cxl [--version] [--help] COMMAND [ARGS]"
_MORE_HELP = (
    "\n See 'cxl help COMMAND' for more information on a specific command.\n"
    " cxl --list-cmds to see all available commands\n\n"
)


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.cxl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


def _cmd_version(argv: list[str], sysfs: Sysfs) -> int:
    del argv, sysfs
    sys.stdout.write(f"{UPSTREAM_VERSION}\n")
    return 0


def _cmd_help(argv: list[str], sysfs: Sysfs) -> int:
    del sysfs
    if not argv:
        sys.stdout.write(f"\n{TOP_USAGE}\n\n{_MORE_HELP}")
        return 0
    return show_man_page(argv[0])


#: Commands in upstream's table order; the rest of upstream's table lands with later work.
COMMANDS: dict[str, Command] = {
    "version": _cmd_version,
    "list": _cmd_list,
    "help": _cmd_help,
}


def man_dirs() -> list[str]:
    """Where pycxl's man pages are: the installed share/man, or the source tree's man/."""
    from pathlib import Path

    dirs = []
    installed = Path(sys.prefix) / "share" / "man"
    if (installed / "man1" / "cxl.1").exists():
        dirs.append(str(installed))
    source = Path(__file__).resolve().parents[2] / "man"
    if (source / "man1" / "cxl.1").exists():
        dirs.append(str(source))
    return dirs


def show_man_page(cmd: str) -> int:
    """Exec the man viewer on ``cxl-<cmd>`` (``CXL_MAN_VIEWER`` may name ``man``)."""
    page = cmd if cmd.startswith("cxl") else f"cxl-{cmd}"
    env = dict(os.environ)
    manpath = ":".join(man_dirs())
    if manpath:
        env["MANPATH"] = f"{manpath}:{env['MANPATH']}" if env.get("MANPATH") else f"{manpath}:"
    viewer = os.environ.get("CXL_MAN_VIEWER", "man")
    if viewer == "man":
        flush_stdout_now()
        import contextlib  # here, not at the top: only help needs it, every run would pay

        with contextlib.suppress(OSError):
            os.execvpe("man", ["man", page], env)
    sys.stderr.write("no man viewer handled the request")
    return 255


def flush_stdout_now() -> None:
    """Before exec(), push out what the command printed so far (to the real stdout)."""
    out = sys.stdout
    out.flush()
    buffer = getattr(out, "buffer", None)
    if isinstance(buffer, io.BytesIO) and sys.__stdout__ is not None:
        sys.__stdout__.flush()
        os.write(sys.__stdout__.fileno(), buffer.getvalue())
        buffer.seek(0)
        buffer.truncate()


def _list_cmds() -> int:
    for name in COMMANDS:
        sys.stdout.write(f"{name}\n")
    return 0


def _flush_output(out: io.TextIOWrapper, real: TextIO, report: bool) -> int:
    """Write what the command printed to the real stdout, once, as a C program's fully
    buffered stdout does at exit. A failure is reported only after a successful command and
    only when stdout is not a pipe or socket (where SIGPIPE ends the process instead)."""
    out.flush()
    data = out.buffer.getvalue()  # type: ignore[attr-defined]
    try:
        if data:
            real.flush()
            real.buffer.write(data)
        real.flush()
    except OSError as e:
        if not report:
            return 0
        try:
            mode = os.fstat(real.fileno()).st_mode
        except (OSError, ValueError):
            mode = 0
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            return 0
        sys.stderr.write(f"write failure on standard output: {os.strerror(e.errno or errno.EIO)}")
        return 1
    return 0


def run(argv: list[str]) -> int:
    args = list(argv)
    while args and args[0].startswith("-"):
        opt = args[0]
        if opt in ("--version", "--help"):
            break
        if opt == "-h":
            args[0] = "--help"
            break
        if opt == "-v":
            args[0] = "--version"
            break
        if opt == "--list-cmds":
            return _list_cmds()
        sys.stderr.write(
            f"Unknown option: {opt}\n\n Usage: cxl [--version] [--help] COMMAND [ARGS]\n"
        )
        return 129
    if not args:
        sys.stdout.write(f"\n{TOP_USAGE}\n\n{_MORE_HELP}")
        return 1
    cmd = args[0][2:] if args[0].startswith("--") else args[0]
    rest = args[1:]
    if rest[:1] == ["--help"]:
        cmd, rest = "help", [cmd]
    handler = COMMANDS.get(cmd)
    if handler is None:
        sys.stderr.write(f"Unknown command: '{cmd}'\n")
        return 1
    from pycxl.sysfs.select import open_sysfs

    real = sys.stdout
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    sys.stdout = out
    sysfs = open_sysfs()
    try:
        rc = handler(rest, sysfs) & 0xFF
    finally:
        sys.stdout = real
        flushed = _flush_output(out, real, report=True)
    # After the output: what the sysfs keeps for later runs is not worth a user's wait.
    sysfs.close()
    return rc or flushed


def main() -> None:
    # Die quietly on a closed pipe, like the C tool (e.g. `cxl list | head -1`).
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        code = run(sys.argv[1:])
    except SysfsUnavailable as e:
        sys.stderr.write(f"cxl: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug must still end in one line, never a traceback
        sys.stderr.write(f"cxl: internal error: {type(e).__name__}: {e}\n")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
