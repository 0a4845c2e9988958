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

    #: The store was refused before it changed anything but the kernel log: the kernel it
    #: ran on can be kept as it is (fake_sysfs.journal). Any other refusal may have
    #: touched the state on its way, so the state store drops that kernel.
    clean = False

    def __init__(self, err: int, path: str = "") -> None:
        super().__init__(err, os.strerror(err), path or None)


def kerr(err: int, path: str = "") -> KernfsError:
    return KernfsError(err, path)


def refused(err: int, path: str = "") -> KernfsError:
    """A store refused before it changed anything (``KernfsError.clean``)."""
    e = KernfsError(err, path)
    e.clean = True
    return e


__all__ = [
    "FakeSysfsError",
    "KernfsError",
    "PlatformError",
    "StateError",
    "errno",
    "kerr",
    "refused",
]
