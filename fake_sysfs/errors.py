"""Errors fake_sysfs reports to its users: always one line, never a traceback."""

from __future__ import annotations

import errno
import os


class FakeSysfsError(Exception):
    """Base class: the message is the one line the user sees."""


class PlatformError(FakeSysfsError):
    """A platform description (preset, file, QEMU command line) is invalid."""


class StateError(FakeSysfsError):
    """The state directory cannot be used."""


class KernfsError(OSError):
    """A sysfs operation failed the way the kernel would fail it (carries an errno)."""

    def __init__(self, err: int, path: str = "") -> None:
        super().__init__(err, os.strerror(err), path or None)


def kerr(err: int, path: str = "") -> KernfsError:
    return KernfsError(err, path)


__all__ = ["FakeSysfsError", "KernfsError", "PlatformError", "StateError", "errno", "kerr"]
