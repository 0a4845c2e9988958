"""Driving an emulated kernel through its stores only, for the kernel-rule tests.

A ``Stores`` is a state directory booted from a platform; every change is a write through
``kernfs.transact.write`` (one state transaction, as every frontend makes it), and every
read is a fresh View of the committed state. ``refuse`` checks a refused store the way the
kernel-rule tables want it: the errno, the state (the kernel minus its log) unchanged, and
a new log record saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.kernel.log import LogRecord
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.kernfs import transact
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.model import Platform
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore

CXL = "/sys/bus/cxl/devices"
MiB = 1 << 20
GiB = 1 << 30


def without_log(k: Kernel) -> dict[str, Any]:
    """The stored state but the log (and the once-only message flags, which a store may
    set as it fails)."""
    data = k.to_json()
    del data["log"]
    del data["printed_once"]
    return data


class Stores:
    def __init__(self, tmp: Path, platform: str | Platform) -> None:
        self.store = StateStore(tmp / "state", create=True)
        if isinstance(platform, str):
            self.store.init(load_preset(platform), Origin("preset", platform), force=False)
        else:
            self.store.init(platform, Origin("file", platform.name), force=False)

    @property
    def dir(self) -> str:
        return str(self.store.dir)

    def kernel(self) -> Kernel:
        return self.store.load()[0]

    @staticmethod
    def path(path: str) -> str:
        """``region0/size`` stands for ``/sys/bus/cxl/devices/region0/size``."""
        return path if path.startswith("/") else f"{CXL}/{path}"

    def write(self, path: str, data: bytes | str) -> int:
        raw = data.encode() if isinstance(data, str) else data
        return transact.write(self.store, self.path(path), raw)[0]

    def ok(self, path: str, data: bytes | str) -> None:
        raw = data.encode() if isinstance(data, str) else data
        assert self.write(path, raw) == len(raw)

    def writes(self, *pairs: tuple[str, bytes | str]) -> None:
        for path, data in pairs:
            self.ok(path, data)

    def errno(self, path: str, data: bytes | str) -> int:
        with pytest.raises(OSError) as info:
            self.write(path, data)
        assert info.value.errno is not None
        return info.value.errno

    def refuse(self, path: str, data: bytes | str, err: int, words: str = "") -> list[LogRecord]:
        """The store fails with ``err``, nothing but the log changes, and a new record
        contains ``words`` (any new record, if none are given)."""
        before = self.kernel()
        got = self.errno(path, data)
        assert got == err, f"{path} <- {data!r}: errno {got}, expected {err}"
        after = self.kernel()
        assert without_log(after) == without_log(before), f"{path} <- {data!r} changed the state"
        new = after.log.since(before.log.mark())
        assert new, f"{path} <- {data!r}: no log record says why"
        if words:
            assert any(words in r.text for r in new), [r.text for r in new]
        return new

    def view(self) -> View:
        return View(self.kernel())

    def read(self, path: str) -> str:
        raw = self.view().read(self.path(path))
        assert raw.endswith(b"\n")
        return raw[:-1].decode()

    def reads(self, directory: str, *names: str) -> dict[str, str]:
        view = self.view()
        out = {}
        for name in names:
            raw = view.read(f"{self.path(directory)}/{name}")
            out[name] = raw[:-1].decode()
        return out

    def exists(self, path: str) -> bool:
        try:
            self.view().lstat(self.path(path))
        except OSError:
            return False
        return True

    def bound(self, name: str, bus: str = "cxl") -> str:
        """The driver ``name`` is bound to, "" if none."""
        view = self.view()
        link = f"/sys/bus/{bus}/devices/{name}/driver"
        try:
            return view.realpath(link).rpartition("/")[2]
        except OSError:
            return ""

    def log_since(self, mark: int) -> list[str]:
        return [r.text for r in self.kernel().log.since(mark)]

    def mark(self) -> int:
        return self.kernel().log.mark()


def region_setup(
    s: Stores,
    root: str,
    region: str,
    *,
    mode: str = "pmem",
    ways: int,
    granularity: int,
    size: int,
    uuid: str | None = None,
) -> None:
    """``create_*_region`` with the offered name, then granularity, ways, uuid and size,
    as ``cxl create-region`` writes them."""
    s.ok(f"{root}/create_{mode}_region", f"{region}\0")
    s.ok(f"{region}/interleave_granularity", f"{granularity}\n\0")
    s.ok(f"{region}/interleave_ways", f"{ways}\n\0")
    if mode == "pmem":
        s.ok(f"{region}/uuid", (uuid or "11111111-2222-3333-4444-555555555555") + "\0")
    s.ok(f"{region}/size", f"{size:#x}\n\0")


def reserve(s: Stores, decoder: str, mode: str, size: int) -> None:
    """Set an endpoint decoder's mode and DPA as ``cxl create-region`` does."""
    if s.read(f"{decoder}/mode") != mode:
        s.ok(f"{decoder}/dpa_size", "0\n\0")
        s.ok(f"{decoder}/mode", f"{mode}\0")
    s.ok(f"{decoder}/dpa_size", f"{size:#x}\n\0")


def attach_all(s: Stores, region: str, decoders: list[str], mode: str, each: int) -> None:
    for pos, decoder in enumerate(decoders):
        reserve(s, decoder, mode, each)
        s.ok(f"{region}/target{pos}", f"{decoder}\0")
