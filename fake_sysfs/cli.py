"""``fake-sysfs``: create, inspect, reset and export the emulated CXL platform."""

from __future__ import annotations

import contextlib
import gc
import io
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from fake_sysfs.errors import FakeSysfsError

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="An emulated Linux kernel serving /sys for a modeled CXL platform.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pycxl")
    except PackageNotFoundError:
        return "(version unknown)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"fake-sysfs {_version()}")
        raise typer.Exit()


@app.callback()
def _top_level(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            expose_value=False,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """Top-level options (the help text is the app's)."""


StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="State directory (default: $FAKE_SYSFS_STATE, else $XDG_STATE_HOME/fake-sysfs, "
        "else ~/.local/state/fake-sysfs).",
        show_default=False,
    ),
]


def _store(state: str | None):  # type: ignore[no-untyped-def]
    """The state directory: ``--state`` (a string here, as typed: an empty path must be
    refused, and a Path would turn it into the current directory), else the default."""
    from fake_sysfs.store import StateStore

    if state is None:
        return StateStore()
    if not state:
        raise FakeSysfsError("--state: the path is empty")
    return StateStore(Path(state))


@app.command()
def init(
    platform: Annotated[
        str | None,
        typer.Option("--platform", "-p", help="A preset name (see 'presets') or a platform file."),
    ] = None,
    qemu: Annotated[
        str | None, typer.Option("--qemu", help="A QEMU command line describing the platform.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an existing state.")
    ] = False,
    state: StateOpt = None,
) -> None:
    """Boot a platform into the state directory."""
    from fake_sysfs.store import load_platform_source

    plat, origin = load_platform_source(platform, qemu)
    store = _store(state)
    kernel = store.init(plat, origin, force)
    from fake_sysfs.media import wipe

    wipe(str(store.dir))  # a new platform starts with blank media
    typer.echo(
        f"initialized {plat.name}: {len(kernel.memdevs)} memdevs, "
        f"{len(kernel.ports[0].decoders)} windows, in {store.dir}"
    )


@app.command()
def show(
    tree_only: Annotated[bool, typer.Option("--tree", help="Only the topology tree.")] = False,
    tables_only: Annotated[bool, typer.Option("--tables", help="Only the tables.")] = False,
    state: StateOpt = None,
) -> None:
    """Show the platform and its state as tables and a topology tree."""
    from fake_sysfs import show as views

    store = _store(state)
    kernel, origin = store.load()
    # Neither flag, or both: everything.
    both = tree_only == tables_only
    parts = []
    if tables_only or both:
        parts.append(views.tables(kernel, origin, str(store.dir)))
    if tree_only or both:
        parts.append(views.tree(kernel))
    typer.echo("\n".join(parts), nl=False)


@app.command()
def reset(state: StateOpt = None) -> None:
    """Reboot the stored platform, discarding every change made since it booted."""
    store = _store(state)
    from fake_sysfs.media import before_reboot

    before_reboot(store)  # the media survive; erases the new kernel forgets are applied
    kernel, _ = store.reset()
    typer.echo(f"reset {kernel.platform.name} in {store.dir}")


@app.command()
def dmesg(
    read_clear: Annotated[
        bool, typer.Option("--read-clear", "-c", help="Clear the log after printing it.")
    ] = False,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="SEQ|TIME",
            help="Only records numbered SEQ and up, or made at TIME or later (seconds since "
            "boot, with a decimal point or an s suffix: 1.5, 2s).",
        ),
    ] = None,
    state: StateOpt = None,
) -> None:
    """Print the emulated kernel log, as dmesg does."""
    from fake_sysfs.kernel.log import select

    store = _store(state)
    kernel, _ = store.load()
    try:
        records = select(kernel.log, since)
    except ValueError as e:
        raise FakeSysfsError(str(e)) from None
    if read_clear and kernel.log.records:
        # Read and clear in one transaction, so no record made meanwhile is lost unseen.
        with store.transaction() as current:
            records = select(current.log, since)
            current.log.clear()
    typer.echo("".join(f"{r.dmesg()}\n" for r in records), nl=False)


@app.command()
def check(
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            help="Check this directory as /sys (a real /sys, an export's DIR/sys, a mount) "
            "instead of the emulated state.",
        ),
    ] = None,
    state: StateOpt = None,
) -> None:
    """Check the kernel state's invariants as /sys shows them; print each violation."""
    from fake_sysfs import check as checks

    view: checks.View
    if root is not None:
        if not root or not Path(root).is_dir():
            raise FakeSysfsError(f"--root: {root!r} is not a directory")
        view = checks.FileView(root)
        what = root
    else:
        from fake_sysfs.kernfs.view import View

        store = _store(state)
        view = View(store.load()[0])
        what = str(store.dir)
    report = checks.check(view)
    for problem in report.problems:
        typer.echo(problem)
    summary = (
        f"{report.links} links, {report.decoders} decoders, {report.regions} regions "
        f"checked in {what}"
    )
    if report.problems:
        typer.echo(f"{len(report.problems)} problems; {summary}", err=True)
        raise typer.Exit(1)
    typer.echo(f"consistent: {summary}")


@app.command()
def export(
    # A string, not a Path: Path("") would silently become the current directory.
    directory: Annotated[str, typer.Argument(help="Where to write DIR/sys and DIR/dev.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace an earlier export in DIR.")
    ] = False,
    regular_files: Annotated[
        bool,
        typer.Option("--regular-files", help="Write /dev nodes as plain files even as root."),
    ] = False,
    state: StateOpt = None,
) -> None:
    """Materialize the current state as plain files (DIR/sys, DIR/dev), replacing DIR
    atomically."""
    from fake_sysfs.frontends.export import check_destination
    from fake_sysfs.frontends.export import export as do_export
    from fake_sysfs.kernfs.view import View

    # Refuse a bad DIR before loading (and booting) a state that may be large.
    check_destination(directory, force)
    kernel, _ = _store(state).load()
    count = do_export(View(kernel), directory, force, False if regular_files else None)
    typer.echo(f"exported {count} entries to {directory}")


@app.command()
def presets() -> None:
    """List the built-in platforms."""
    from tabulate import tabulate

    from fake_sysfs.platform.presets import DEFAULT_PRESET, PRESET_DESCRIPTIONS

    rows = [
        [name + (" *" if name == DEFAULT_PRESET else ""), description]
        for name, description in PRESET_DESCRIPTIONS.items()
    ]
    rows.append(["scale:HxR[xS]", "H host bridges x R root ports (x S switch ports)"])
    typer.echo(tabulate(rows, ["preset", "description"]))
    typer.echo("\n* default platform")


@app.command("help")
def help_command(
    ctx: typer.Context,
    command: Annotated[str | None, typer.Argument(help="The command to describe.")] = None,
) -> None:
    """Show the usage of fake-sysfs, or the help of COMMAND."""
    parent = ctx.parent
    assert parent is not None
    group = parent.command
    if command is None:
        typer.echo(group.get_help(parent))
        return
    sub = group.get_command(parent, command)  # type: ignore[attr-defined]
    if sub is None:
        raise typer.BadParameter(f"no such command {command!r}", ctx, param_hint="COMMAND")
    typer.echo(sub.get_help(typer.Context(sub, info_name=command, parent=parent)))


class _OutputError(OSError):
    """Writing to stdout failed (a full disk or device, a closed stream)."""


class _Stdout(io.RawIOBase):
    """stdout's file descriptor under sys.stdout: a failed write raises _OutputError, once;
    later output is dropped, so that nothing is left to fail again when Python flushes at
    exit."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.failed = False

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.failed:
            return len(data)
        try:
            return os.write(self.fd, data)
        except OSError as e:
            self.failed = True
            raise _OutputError(e.errno, e.strerror) from None


class _Stderr:
    """stderr that never fails: unbuffered, and a write that cannot be done (a closed or
    full stream) is dropped, so that an error message never becomes an error itself."""

    encoding = "utf-8"
    errors = "backslashreplace"

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @property
    def buffer(self) -> _Stderr:
        return self

    def write(self, text: str | bytes) -> int:
        data = text.encode("utf-8", "backslashreplace") if isinstance(text, str) else text
        view = memoryview(data)
        with contextlib.suppress(OSError):
            while view:
                written = os.write(self.fd, view)
                if written <= 0:
                    break
                view = view[written:]
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)


def _own_standard_streams() -> None:
    """For a run as a program: a stream closed at start-up (``>&-``, which Python shows as
    None) gets /dev/null on its descriptor, so no file opened later (the state, a lock, an
    export) can become descriptor 0, 1 or 2; stdout's /dev/null is opened read-only, so
    that output to a closed stdout fails (EBADF) and is reported, as coreutils do. stdout
    reports its failures as _OutputError, stderr drops them, and a closed pipe ends the
    program quietly (SIGPIPE), as for the cxl tool."""
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    fds = [0, 1, 2]
    for fd, stream, mode in (
        (0, sys.stdin, os.O_RDONLY),
        (1, sys.stdout, os.O_RDONLY),
        (2, sys.stderr, os.O_WRONLY),
    ):
        if stream is None:
            # The lowest free descriptor: ``fd`` itself, unless something took it since
            # (then the stream is /dev/null at another descriptor).
            fds[fd] = os.open(os.devnull, mode | os.O_CLOEXEC)
    old = sys.stdout
    sys.stdout = io.TextIOWrapper(
        io.BufferedWriter(_Stdout(fds[1])),
        encoding=getattr(old, "encoding", None) or "utf-8",
        errors=getattr(old, "errors", None) or "strict",
        line_buffering=os.isatty(fds[1]),
    )
    sys.stderr = _Stderr(fds[2])


@app.command("mount")
def mount_command(
    mountpoint: Annotated[str, typer.Argument(help="Where to show sys/ and dev/.")],
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Serve in this process until unmounted.")
    ] = False,
    state: StateOpt = None,
) -> None:
    """Serve the emulated kernel as a live file system (MOUNTPOINT/sys, MOUNTPOINT/dev)."""
    from fake_sysfs.frontends import fuse

    _serving()
    store = _store(state)
    if foreground:
        fuse.preflight(store, mountpoint)

        def ready() -> None:
            typer.echo(f"mounted {store.dir} on {mountpoint}")
            sys.stdout.flush()

        fuse.serve(store, mountpoint, ready)
        return
    pid = fuse.spawn(store, mountpoint)
    typer.echo(f"mounted {store.dir} on {mountpoint} (pid {pid})")


@app.command("umount")
def umount_command(
    mountpoint: Annotated[str, typer.Argument(help="A fake-sysfs mount point.")],
) -> None:
    """Unmount a fake-sysfs mount (also one whose daemon was killed)."""
    from fake_sysfs.frontends import fuse

    fuse.unmount(mountpoint)
    typer.echo(f"unmounted {mountpoint}")


@app.command("serve")
def serve_command(
    idle: Annotated[
        float,
        typer.Option(
            "--idle",
            min=0.0,
            help="Exit after this many seconds without a command (default 900).",
        ),
    ] = 900.0,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Serve in this process until stopped.")
    ] = False,
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the fork server of the state directory.")
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="Say whether a fork server serves it (exit 1 if not).")
    ] = False,
    state: StateOpt = None,
) -> int:
    """Keep the state loaded in a fork server: cxl, ndctl and daxctl then run each command
    in a fork of it, without loading the state again."""
    from fake_sysfs.frontends import forkserver

    store = _store(state)
    if stop or status:
        pid = forkserver.stop(str(store.dir)) if stop else forkserver.server_pid(str(store.dir))
        if pid is None:
            typer.echo(f"no fork server serves {store.dir}", err=True)
            return 1
        if stop:
            typer.echo(f"stopped the fork server of {store.dir} (pid {pid})")
        else:
            count = forkserver.served(str(store.dir))
            ran = "" if count is None else f", {count} command{'s' * (count != 1)} run"
            typer.echo(f"serving {store.dir} (pid {pid}{ran})")
        return 0
    if foreground:

        def ready() -> None:
            typer.echo(f"serving {store.dir}")
            sys.stdout.flush()

        forkserver.preflight(store)
        forkserver.ForkServer(store, idle).run(ready)
        return 0
    pid = forkserver.spawn(store, idle)
    typer.echo(f"serving {store.dir} (pid {pid})")
    return 0


@app.command(
    "run",
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
def run_command(
    command: Annotated[list[str], typer.Argument(help="The program and its arguments.")],
    state: StateOpt = None,
) -> int:
    """Run COMMAND with the emulated /sys and /dev in place of the host's; its exit status."""
    from fake_sysfs.frontends.namespace import run_emulated

    _serving()

    return run_emulated(_store(state), command)


def _serving() -> None:
    """This process (and the servers it forks) may run for hours: the cyclic collector
    main() turned off is needed again."""
    gc.enable()


def main(argv: list[str] | None = None) -> None:
    """The program. ``argv`` given (tests): run in this process with its streams as they
    are; otherwise the process's standard streams are made safe first."""
    if argv is None:
        _own_standard_streams()
        # A one-shot command (init, check, export...) keeps nearly all it makes until it
        # exits: the cyclic collector would walk the emulated kernel again and again for
        # nothing (a quarter of a check at 1,024 memdevs). Commands that serve for as long
        # as they run (mount, run) turn it back on (_serving).
        gc.disable()
    args = sys.argv[1:] if argv is None else argv
    try:
        rc = app(args or ["--help"], standalone_mode=False)
        sys.stdout.flush()
    except _OutputError as e:
        sys.stderr.write(f"fake-sysfs: cannot write output: {os.strerror(e.errno or 5)}\n")
        sys.exit(1)
    except FakeSysfsError as e:
        sys.stderr.write(f"fake-sysfs: {e}\n")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        # Usage errors from typer's (vendored) click carry a one-line message; anything
        # else is a bug, still reported in one line rather than a traceback.
        format_message = getattr(e, "format_message", None)
        if callable(format_message):
            sys.stderr.write(f"fake-sysfs: {format_message()} (see 'fake-sysfs --help')\n")
            sys.exit(getattr(e, "exit_code", 2))
        sys.stderr.write(f"fake-sysfs: internal error: {type(e).__name__}: {e}\n")
        sys.exit(1)
    sys.exit(rc if isinstance(rc, int) else 0)
