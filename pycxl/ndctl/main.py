"""The ``ndctl`` program: top-level options and command dispatch, as upstream's main loop
(the output, stream and exit handling are cxl's, shared)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys

from pycxl.cxl.main import _flush_output, _Output, _standard_streams, flush_stdout_now, man_dirs
from pycxl.sysfs.base import SysfsUnavailable

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pycxl.sysfs.base import Sysfs

    Command = Callable[[list[str], Sysfs], int]

#: The version of upstream ndctl this reimplements.
VERSION = "81"
TOP_USAGE = " usage: ndctl [--version] [--help] COMMAND [ARGS]"
_MORE_HELP = (
    "\n See 'ndctl help COMMAND' for more information on a specific command.\n"
    " ndctl --list-cmds to see all available commands\n\n"
)


def _namespace_cmd(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands import namespace

        handler: Command = getattr(namespace, f"cmd_{name}")
        return handler(argv, sysfs)

    return run


def _region_cmd(action: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands.region import cmd_region

        return cmd_region(action, argv, sysfs)

    return run


def _labels_cmd(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.ndctl.commands.labels import cmd_labels

        return cmd_labels(name, argv, sysfs)

    return run


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.ndctl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


def _cmd_version(argv: list[str], sysfs: Sysfs) -> int:
    del argv, sysfs
    sys.stdout.write(f"{VERSION}\n")
    return 0


def _cmd_help(argv: list[str], sysfs: Sysfs) -> int:
    del sysfs
    if not argv:
        sys.stdout.write(f"\n{TOP_USAGE}\n\n{_MORE_HELP}")
        return 0
    return show_man_page(argv[0])


#: Commands in upstream's table order (those implemented so far).
COMMANDS: dict[str, Command] = {
    "version": _cmd_version,
    "enable-namespace": _namespace_cmd("enable_namespace"),
    "disable-namespace": _namespace_cmd("disable_namespace"),
    "create-namespace": _namespace_cmd("create_namespace"),
    "destroy-namespace": _namespace_cmd("destroy_namespace"),
    "enable-region": _region_cmd("enable"),
    "disable-region": _region_cmd("disable"),
    "read-labels": _labels_cmd("read-labels"),
    "check-labels": _labels_cmd("check-labels"),
    "list": _cmd_list,
    "help": _cmd_help,
}


def show_man_page(cmd: str) -> int:
    """Exec the man viewer on ``ndctl-<cmd>`` (``CXL_MAN_VIEWER`` may name ``man``)."""
    page = cmd if cmd.startswith("ndctl") else f"ndctl-{cmd}"
    env = dict(os.environ)
    manpath = ":".join(man_dirs())
    if manpath:
        env["MANPATH"] = f"{manpath}:{env['MANPATH']}" if env.get("MANPATH") else f"{manpath}:"
    if os.environ.get("CXL_MAN_VIEWER", "man") == "man":
        flush_stdout_now()
        with contextlib.suppress(OSError):
            os.execvpe("man", ["man", page], env)
    sys.stderr.write("no man viewer handled the request")
    return 255


def _dispatch(args: list[str]) -> tuple[Command, list[str]] | int:
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
            for name in COMMANDS:
                sys.stdout.write(f"{name}\n")
            return 0
        sys.stderr.write(
            f"Unknown option: {opt}\n\n Usage: ndctl [--version] [--help] COMMAND [ARGS]\n"
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
    return handler, rest


def run(argv: list[str]) -> int:
    """Run ``ndctl ARGV``; stdout is written at the end, as C's buffered stdout is."""
    real = sys.stdout
    out = io.TextIOWrapper(
        _Output(), encoding="utf-8", errors="surrogateescape", write_through=True
    )
    sys.stdout = out
    sysfs: Sysfs | None = None
    builtin = False
    rc = 1
    try:
        found = _dispatch(list(argv))
        if isinstance(found, int):
            rc = found
        else:
            from pycxl.sysfs.select import open_sysfs

            handler, rest = found
            sysfs = open_sysfs()
            rc = handler(rest, sysfs) & 0xFF
            builtin = True
    finally:
        sys.stdout = real
        flushed = _flush_output(out, real, report=builtin and rc == 0)
    if sysfs is not None:
        sysfs.close()
    return rc or flushed


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    _standard_streams()
    try:
        code = run(sys.argv[1:])
    except SysfsUnavailable as e:
        sys.stderr.write(f"ndctl: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug must still end in one line, never a traceback
        sys.stderr.write(f"ndctl: internal error: {type(e).__name__}: {e}\n")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
