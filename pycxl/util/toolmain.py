"""What the ``cxl``, ``daxctl`` and ``ndctl`` programs share: upstream's main loop (top-level
options, ``--list-cmds``, usage, the builtin dispatch), the man-page launcher, and the
standard streams as a C program has them (stdout written once at exit, as C's fully
buffered stdout; an unbuffered, failure-proof stderr).

Each program is a ``Tool``: its name, version and command table in upstream's order.
"""

from __future__ import annotations

# The C module: ``signal`` imports enum, a quarter of a served command's start-up.
import _signal  # type: ignore[import-not-found]
import errno
import io
import os
import stat
import sys

from pycxl.sysfs.base import Sysfs, SysfsUnavailable

# typing would cost every run its import: type-only names stay here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TextIO

    from pycxl.sysfs.base import Sysfs

    Command = Callable[[list[str], Sysfs], int]


class Tool:
    """One program: ``name`` (``cxl``), the ``version`` it reports, and ``commands``, its
    builtins in upstream's table order (``version`` and ``help`` are this class's)."""

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.usage = f" usage: {name} [--version] [--help] COMMAND [ARGS]"
        self.more_help = (
            f"\n See '{name} help COMMAND' for more information on a specific command.\n"
            f" {name} --list-cmds to see all available commands\n\n"
        )
        self.commands: dict[str, Command] = {}

    def cmd_version(self, argv: list[str], sysfs: Sysfs) -> int:
        del argv, sysfs
        sys.stdout.write(f"{self.version}\n")
        return 0

    def cmd_help(self, argv: list[str], sysfs: Sysfs) -> int:
        del sysfs
        if not argv:
            sys.stdout.write(f"\n{self.usage}\n\n{self.more_help}")
            return 0
        return self.show_man_page(argv[0])

    def show_man_page(self, cmd: str) -> int:
        """Exec the man viewer on ``<tool>-<cmd>``; ``<TOOL>_MAN_VIEWER`` set to anything
        but ``man`` stops it (upstream's other viewers are not offered)."""
        page = cmd if cmd.startswith(self.name) else f"{self.name}-{cmd}"
        env = dict(os.environ)
        manpath = ":".join(man_dirs())
        if manpath:
            env["MANPATH"] = f"{manpath}:{env['MANPATH']}" if env.get("MANPATH") else f"{manpath}:"
        if os.environ.get(f"{self.name.upper()}_MAN_VIEWER", "man") == "man":
            flush_stdout_now()
            try:  # noqa: SIM105 - contextlib is not worth its import on every run
                os.execvpe("man", ["man", page], env)
            except OSError:
                pass
        sys.stderr.write("no man viewer handled the request")
        return 255

    def dispatch(self, args: list[str]) -> tuple[Command, list[str]] | int:
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
                for name in self.commands:
                    sys.stdout.write(f"{name}\n")
                return 0
            sys.stderr.write(
                f"Unknown option: {opt}\n\n Usage: {self.name} [--version] [--help] COMMAND"
                " [ARGS]\n"
            )
            return 129
        if not args:
            sys.stdout.write(f"\n{self.usage}\n\n{self.more_help}")
            return 1
        cmd = args[0][2:] if args[0].startswith("--") else args[0]
        rest = args[1:]
        if rest[:1] == ["--help"]:
            cmd, rest = "help", [cmd]
        handler = self.commands.get(cmd)
        if handler is None:
            sys.stderr.write(f"Unknown command: '{cmd}'\n")
            return 1
        return handler, rest

    def run(self, argv: list[str]) -> int:
        """Run ``<tool> ARGV``. Everything printed on stdout is written at the end, at once,
        as C's fully buffered stdout does at exit; only a builtin that succeeded reports a
        failure to write it (upstream's run_builtin), everything else drops it silently
        (exit())."""
        real = sys.stdout
        out = io.TextIOWrapper(
            _Output(), encoding="utf-8", errors="surrogateescape", write_through=True
        )
        sys.stdout = out
        sysfs: Sysfs | None = None
        builtin = False
        rc = 1
        try:
            found = self.dispatch(list(argv))
            if isinstance(found, int):
                rc = found
            else:
                from pycxl.sysfs.select import open_sysfs

                handler, rest = found
                sysfs = open_sysfs()
                rc = handler(rest, sysfs) & 0xFF
                builtin = True
                sysfs.sync()  # what the command changed is durable before it says so
        finally:
            sys.stdout = real
            flushed = _flush_output(out, real, report=builtin and rc == 0)
        status = rc or flushed
        # After the output: what the sysfs keeps for later runs is not worth a user's wait.
        if sysfs is not None:
            from pycxl.sysfs.select import release_caller

            release_caller(status)
            sysfs.close()
        return status

    def main(self) -> None:
        # First: a fork server keeping the state loaded runs the command, if one serves
        # it (before anything here touches the standard streams the child is to inherit).
        from pycxl.sysfs.select import run_in_server

        served = run_in_server(f"pycxl.{self.name}.main:main")
        if served is not None:
            sys.exit(served)
        # A command runs once and exits: the emulated kernel it loads lives until then,
        # and Python's cyclic collector would walk it again and again for nothing (a
        # tenth of a 16-way create-region at 1,024 memdevs). It is frozen once loaded
        # (emulated._Frontend.view); a command that polls gives it back to the collector
        # at its first look (Sysfs.refresh).
        Sysfs.one_shot = True
        # Die quietly on a closed pipe, like the C tool (e.g. `cxl list | head -1`).
        _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
        _standard_streams()
        try:
            code = self.run(sys.argv[1:])
        except SysfsUnavailable as e:
            sys.stderr.write(f"{self.name}: {e}\n")
            code = 1
        except KeyboardInterrupt:
            code = 130
        except Exception as e:  # a bug must still end in one line, never a traceback
            sys.stderr.write(f"{self.name}: internal error: {type(e).__name__}: {e}\n")
            code = 1
        sys.exit(code)

    def warm_up(self) -> None:
        """Import every module a command of this tool may import (a fork server calls
        this once, so that its children import nothing)."""
        import importlib
        import pkgutil

        import pycxl

        for info in pkgutil.walk_packages(pycxl.__path__, "pycxl."):
            importlib.import_module(info.name)


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


def flush_stdout_now() -> None:
    """Before exec(), push out what the command printed so far (to the real stdout); a
    failure to write it is ignored, as C's exec() drops an unflushed buffer."""
    out = sys.stdout
    out.flush()
    buffer = getattr(out, "buffer", None)
    if isinstance(buffer, io.BytesIO) and sys.__stdout__ is not None:
        try:  # noqa: SIM105 - contextlib is not imported on the listing path
            _write_all(sys.__stdout__, buffer.getvalue())
        except OSError:
            pass
        buffer.seek(0)
        buffer.truncate()


def _write_all(real: TextIO, data: bytes) -> None:
    """Write ``data`` to the stream: straight to its file descriptor when it has one (no
    Python buffer is left holding what failed, to fail again at exit), else through its
    buffer (a stream in memory, as tests give)."""
    try:
        fd = real.fileno()
    except (AttributeError, OSError, ValueError):
        buffer = getattr(real, "buffer", None)
        if buffer is not None:
            buffer.write(data)
        else:  # a text-only stream (io.StringIO)
            real.write(data.decode("utf-8", "surrogateescape"))
        real.flush()
        return
    real.flush()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        view = view[written:]


class _Output(io.BytesIO):
    """What a command prints on stdout, kept until the end, and in which pieces (one per
    write call, as the C program's printf calls) for ``_left_in_buffer``."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[int] = []

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.pieces.append(len(data))
        return super().write(data)


#: glibc's stdio buffer when st_blksize says nothing (BUFSIZ).
_BUFSIZ = 8192


def _left_in_buffer(output: _Output, size: int) -> bool:
    """Replay glibc's fully buffered stdout (buffer of ``size`` bytes) over the pieces
    printed, with every write to the file failing: whether bytes are still in the buffer
    at exit. Then the exit-time fflush fails and upstream reports its errno; otherwise the
    failed writes happened while printing (a print of ``size`` bytes or more is written
    directly, a full buffer is flushed, and a failure drops the buffer and abandons the
    print) and only the stream's error flag is left: "unknown write failure"."""
    data = output.getvalue()
    allocated = False  # stdio allocates the buffer at the first print
    used = 0
    at = 0
    for length in output.pieces:
        chunk = data[at : at + length]
        at += length
        # printf("%s\n", s) hands stdio the string and the newline separately.
        parts = [length - 1, 1] if length > 1 and chunk.endswith(b"\n") else [length]
        for n in parts:
            fill = min(size - used, n) if allocated else 0
            used += fill
            rest = n - fill
            if not rest:
                continue
            if used:  # the buffer is full: its flush fails, its bytes are dropped
                used = 0
                break
            allocated = True
            if rest >= size:  # whole blocks are written straight to the file: fails
                break
            used = rest
    return used > 0


def _flush_output(out: io.TextIOWrapper, real: TextIO, report: bool) -> int:
    """Write what the command printed to the real stdout, once, as a C program's fully
    buffered stdout does at exit. A failure is reported only after a successful command
    (``report``; elsewhere upstream's exit() drops it silently) and only when stdout is not
    a pipe or socket (where SIGPIPE ends the process instead) nor closed, with upstream's
    words for how C's stdio would have met it (``_left_in_buffer``)."""
    out.flush()
    output = out.buffer
    data = output.getvalue()  # type: ignore[attr-defined]
    if not data:
        return 0
    try:
        _write_all(real, data)
    except OSError as e:
        if not report:
            return 0
        try:
            st = os.fstat(real.fileno())
        except (OSError, ValueError):
            return 0
        if stat.S_ISFIFO(st.st_mode) or stat.S_ISSOCK(st.st_mode):
            return 0
        size = st.st_blksize if 0 < st.st_blksize < _BUFSIZ else _BUFSIZ
        if isinstance(output, _Output) and not _left_in_buffer(output, size):
            sys.stderr.write("unknown write failure on standard output")
        else:
            reason = os.strerror(e.errno or errno.EIO)
            sys.stderr.write(f"write failure on standard output: {reason}")
        return 1
    return 0


class _Stderr:
    """stderr as a C program has it: unbuffered (each write is one write(2) of the bytes
    given, names that are not UTF-8 included), and a write that fails (a closed stream, a
    full device) is ignored: an error message must never become an error itself."""

    encoding = "utf-8"
    errors = "surrogateescape"

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @property
    def buffer(self) -> _Stderr:
        return self

    def write(self, text: str | bytes) -> int:
        data = text.encode("utf-8", "surrogateescape") if text.__class__ is str else text
        try:
            written = os.write(self._fd, data)  # type: ignore[arg-type]
            if 0 < written < len(data):
                self._write_rest(memoryview(data)[written:])  # type: ignore[arg-type]
        except OSError:
            pass
        return len(text)

    def _write_rest(self, view: memoryview) -> None:
        while view:
            written = os.write(self._fd, view)
            if written <= 0:
                return
            view = view[written:]

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)


def _standard_streams() -> None:
    """Make what the shell can do to the standard streams harmless, as it is for C.

    A stream closed at start-up (``>&-``; Python then has None for it) gets /dev/null on
    its descriptor, so that no file pycxl opens later (an attribute, a /dev node, the state)
    can take descriptor 0, 1 or 2 and receive output; for stdout this is upstream's
    behaviour too (its exit check finds no stdout and succeeds). stderr becomes unbuffered
    and failure-proof (``2>&-``, ``2>/dev/full``)."""
    fds = [0, 1, 2]
    for fd, stream in ((0, sys.stdin), (1, sys.stdout), (2, sys.stderr)):
        if stream is None:
            # The lowest free descriptor: ``fd`` itself, unless something took it since
            # (then the stream is /dev/null at another descriptor).
            fds[fd] = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    if sys.stdout is None:
        sys.stdout = io.TextIOWrapper(
            io.FileIO(fds[1], "w", closefd=False), encoding="utf-8", errors="surrogateescape"
        )
    sys.stderr = _Stderr(fds[2])
