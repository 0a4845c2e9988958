"""The state store: the emulated kernel's state, persisted between invocations.

Layout of a state directory: ``state.json`` (the kernel state and where its platform came
from) and ``lock``. Every change is a transaction: take the lock, load, apply, write a
temporary file, fsync it, rename it over ``state.json`` and fsync the directory. Concurrent
writers therefore serialize, and a crash at any instant leaves either the old or the new
file. Readers take no lock: a rename is atomic, so they always see one whole state.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fake_sysfs.errors import PlatformError, StateError
from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import STATE_FORMAT, Kernel
from fake_sysfs.platform.model import Platform
from fake_sysfs.statedir import (
    CACHE_FILE,
    LOCK_FILE,
    STATE_FILE,
    StateIdentity,
    identity,
)
from fake_sysfs.statedir import default_state_dir as _default_state_dir

__all__ = ["LOCK_FILE", "STATE_FILE", "Origin", "StateStore", "default_state_dir"]


def default_state_dir() -> Path:
    """``$FAKE_SYSFS_STATE``, else ``$XDG_STATE_HOME/fake-sysfs`` (``~/.local/state/...``)."""
    return Path(_default_state_dir())


@dataclass
class Origin:
    """Where a state's platform came from, for ``show`` and ``reset``."""

    kind: str  # "preset", "file", "qemu"
    source: str


class StateStore:
    def __init__(self, directory: Path | None = None) -> None:
        self.dir = directory if directory is not None else default_state_dir()
        self.file = self.dir / STATE_FILE
        #: Identity of the state file last read or written (statedir.identity).
        self.loaded_identity: StateIdentity | None = None

    def exists(self) -> bool:
        return self.file.exists()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StateError(f"cannot use state directory {self.dir}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _read(self) -> tuple[Kernel, Origin]:
        try:
            with open(self.file, "rb") as f:
                st = os.fstat(f.fileno())
                data: dict[str, Any] = json.load(f)
        except FileNotFoundError:
            raise
        except (OSError, ValueError) as e:
            raise StateError(
                f"state file {self.file} is unreadable ({e}); run 'fake-sysfs reset'"
            ) from None
        if not isinstance(data, dict):
            raise StateError(f"state file {self.file} is damaged; run 'fake-sysfs init --force'")
        if data.get("format") != STATE_FORMAT:
            raise StateError(
                f"state file {self.file} has format {data.get('format')!r}, expected "
                f"{STATE_FORMAT}; run 'fake-sysfs init --force' to start over"
            )
        try:
            kernel = Kernel.from_json(data["kernel"])
            origin = Origin(**data["origin"])
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StateError(
                f"state file {self.file} is damaged ({e}); run 'fake-sysfs init --force'"
            ) from None
        self.loaded_identity = identity(st)
        return kernel, origin

    def _write(self, kernel: Kernel, origin: Origin) -> None:
        payload = json.dumps(
            {
                "format": STATE_FORMAT,
                "origin": {"kind": origin.kind, "source": origin.source},
                "kernel": kernel.to_json(),
            },
            separators=(",", ":"),
        ).encode()
        tmp = self.dir / f"{STATE_FILE}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.file)
            # Under the lock no other commit can come in between.
            self.loaded_identity = identity(os.stat(self.file))
            # Answers recorded for the previous state are stale now (readcache.py).
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.dir / CACHE_FILE)
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StateError(f"cannot write state to {self.dir}: {e.strerror}") from None

    def load(self) -> tuple[Kernel, Origin]:
        """The current state; the default platform is booted on first use."""
        try:
            return self._read()
        except FileNotFoundError:
            pass
        with self._locked():
            if not self.file.exists():
                from fake_sysfs.platform.presets import DEFAULT_PRESET, load_preset

                kernel = boot(load_preset(DEFAULT_PRESET))
                self._write(kernel, Origin("preset", DEFAULT_PRESET))
            return self._read()

    def init(self, platform: Platform, origin: Origin, force: bool) -> Kernel:
        """Boot ``platform`` into a new state. Refuses to replace a state unless forced."""
        kernel = boot(platform)
        with self._locked():
            if self.file.exists() and not force:
                raise StateError(
                    f"a platform is already initialized in {self.dir}; use --force to replace it"
                )
            self._write(kernel, origin)
        return kernel

    def reset(self) -> tuple[Kernel, Origin]:
        """Reboot the stored platform: every change since boot is discarded."""
        with self._locked():
            try:
                kernel, origin = self._read()
            except FileNotFoundError:
                raise StateError(f"no platform initialized in {self.dir}") from None
            fresh = boot(kernel.platform)
            self._write(fresh, origin)
            return fresh, origin

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Kernel]:
        """Lock, load, let the caller apply a change, save. Nothing is saved if it raises."""
        self.load()
        with self._locked():
            kernel, origin = self._read()
            yield kernel
            self._write(kernel, origin)


def load_platform_source(platform: str | None, qemu: str | None) -> tuple[Platform, Origin]:
    """A platform from a preset name, a platform file, or a QEMU command line."""
    if platform is not None and qemu is not None:
        raise PlatformError("give either --platform or --qemu, not both")
    if qemu is not None:
        from fake_sysfs.platform.qemu import parse_qemu

        return parse_qemu(qemu), Origin("qemu", qemu)
    from fake_sysfs.platform.presets import DEFAULT_PRESET, load_preset, preset_names

    name = platform or DEFAULT_PRESET
    is_preset = name in preset_names() or name.startswith("scale")
    if not is_preset and Path(name).exists():
        from fake_sysfs.platform.toml_file import load_platform_file

        return load_platform_file(Path(name)), Origin("file", str(Path(name).resolve()))
    if not is_preset and ("/" in name or name.endswith(".toml")):
        raise PlatformError(f"platform file {name!r} does not exist")
    return load_preset(name), Origin("preset", name)
