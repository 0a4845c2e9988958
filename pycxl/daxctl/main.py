"""The ``daxctl`` program: top-level options and command dispatch, as upstream's main loop.

The stream handling (stdout written once at exit, as C's buffered stdout; a failure-proof
stderr) is the cxl program's, shared.
"""

from __future__ import annotations

import io
import os
import signal
import sys

from pycxl.sysfs.base import SysfsUnavailable

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pycxl.sysfs.base import Sysfs

    Command = Callable[[list[str], Sysfs], int]

#: The version daxctl reports (upstream's release it behaves as).
DAXCTL_VERSION = "81"
TOP_USAGE = " usage: daxctl [--version] [--help] COMMAND [ARGS]"
_MORE_HELP = (
    "\n See 'daxctl help COMMAND' for more information on a specific command.\n"
    " daxctl --list-cmds to see all available commands\n\n"
)


def _cmd_version(argv: list[str], sysfs: Sysfs) -> int:
    del argv, sysfs
    sys.stdout.write(f"{DAXCTL_VERSION}\n")
    return 0


def _cmd_help(argv: list[str], sysfs: Sysfs) -> int:
    del sysfs
    if not argv:
        sys.stdout.write(f"\n{TOP_USAGE}\n\n{_MORE_HELP}")
        return 0
    return show_man_page(argv[0])


def _cmd_list(argv: list[str], sysfs: Sysfs) -> int:
    from pycxl.daxctl.commands.list import cmd_list

    return cmd_list(argv, sysfs)


def _device_command(name: str) -> Command:
    def run(argv: list[str], sysfs: Sysfs) -> int:
        from pycxl.daxctl.commands.device import run_device_command

        return run_device_command(name, argv, sysfs)

    return run


def _not_emulated(name: str) -> Command:
    """Commands for platforms the emulation does not model (ACPI NFIT split, the legacy
    dax class): they say so and fail."""

    def run(argv: list[str], sysfs: Sysfs) -> int:
        del argv, sysfs
        sys.stderr.write(f"daxctl {name}: not supported by pycxl\n")
        return 1

    return run


#: Upstream's command table, in its order.
COMMANDS: dict[str, Command] = {
    "version": _cmd_version,
    "list": _cmd_list,
    "help": _cmd_help,
    "split-acpi": _not_emulated("split-acpi"),
    "migrate-device-model": _not_emulated("migrate-device-model"),
    "create-device": _device_command("create-device"),
    "destroy-device": _device_command("destroy-device"),
    "reconfigure-device": _device_command("reconfigure-device"),
    "online-memory": _device_command("online-memory"),
    "offline-memory": _device_command("offline-memory"),
    "disable-device": _device_command("disable-device"),
    "enable-device": _device_command("enable-device"),
}


def show_man_page(cmd: str) -> int:
    """Exec the man viewer on ``daxctl-<cmd>`` (``DAXCTL_MAN_VIEWER`` may name ``man``)."""
    from pycxl.cxl.main import flush_stdout_now, man_dirs

    page = cmd if cmd.startswith("daxctl") else f"daxctl-{cmd}"
    env = dict(os.environ)
    manpath = ":".join(man_dirs())
    if manpath:
        env["MANPATH"] = f"{manpath}:{env['MANPATH']}" if env.get("MANPATH") else f"{manpath}:"
    viewer = os.environ.get("DAXCTL_MAN_VIEWER", "man")
    if viewer == "man":
        flush_stdout_now()
        try:  # noqa: SIM105 - contextlib is not worth its import on every run
            os.execvpe("man", ["man", page], env)
        except OSError:
            pass
    sys.stderr.write("no man viewer handled the request")
    return 255


def _dispatch(args: list[str]) -> tuple[Command, list[str]] | int:
    """Upstream's main loop up to the command: a builtin and its arguments, or the exit
    status of what was handled here (top-level options, usage, unknown command)."""
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
            f"Unknown option: {opt}\n\n Usage: daxctl [--version] [--help] COMMAND [ARGS]\n"
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
    """Run ``daxctl ARGV``; stdout is written at the end, at once (see pycxl.cxl.main)."""
    from pycxl.cxl.main import _flush_output, _Output

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
    from pycxl.cxl.main import _standard_streams

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    _standard_streams()
    try:
        code = run(sys.argv[1:])
    except SysfsUnavailable as e:
        sys.stderr.write(f"daxctl: {e}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    except Exception as e:  # a bug must still end in one line, never a traceback
        sys.stderr.write(f"daxctl: internal error: {type(e).__name__}: {e}\n")
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
