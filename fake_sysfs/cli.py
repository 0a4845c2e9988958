"""``fake-sysfs``: create, inspect, reset and export the emulated CXL platform."""

from __future__ import annotations

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
)

StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="State directory (default: $FAKE_SYSFS_STATE, else $XDG_STATE_HOME/fake-sysfs, "
        "else ~/.local/state/fake-sysfs).",
        show_default=False,
    ),
]


def _store(state: Path | None):  # type: ignore[no-untyped-def]
    from fake_sysfs.store import StateStore

    return StateStore(state)


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
    kernel, _ = store.reset()
    typer.echo(f"reset {kernel.platform.name} in {store.dir}")


@app.command()
def export(
    directory: Annotated[Path, typer.Argument(help="Where to write DIR/sys and DIR/dev.")],
    force: Annotated[
        bool, typer.Option("--force", "-f", help="Replace DIR/sys and DIR/dev.")
    ] = False,
    regular_files: Annotated[
        bool,
        typer.Option("--regular-files", help="Write /dev nodes as plain files even as root."),
    ] = False,
    state: StateOpt = None,
) -> None:
    """Materialize the current state as plain files (DIR/sys, DIR/dev)."""
    from fake_sysfs.frontends.export import export as do_export
    from fake_sysfs.kernfs.view import View

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


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        rc = app(args or ["--help"], standalone_mode=False)
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
