"""Running the tools in-process with captured output, for tests."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).parent / "data"
GOLDEN = DATA / "golden" / "cxl-list"


@dataclass(frozen=True)
class Result:
    out: bytes
    err: bytes
    rc: int


@contextlib.contextmanager
def environment(env: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    try:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sysfs_read(state: Path, path: str) -> bytes:
    """One read of ``path`` through pycxl's emulated sysfs over the state ``state``."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
        s = EmulatedSysfs()
        try:
            return s.read(path)
        finally:
            s.close()


def sysfs_write(state: Path, path: str, data: bytes) -> None:
    """One store of ``data`` to ``path`` through pycxl's emulated sysfs (errors raise)."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
        s = EmulatedSysfs()
        try:
            s.write(path, data)
        finally:
            s.close()


def _stream() -> io.TextIOWrapper:
    return io.TextIOWrapper(
        io.BytesIO(), encoding="utf-8", errors="surrogateescape", write_through=True
    )


def run_cxl(argv: list[str], env: dict[str, str | None] | None = None) -> Result:
    """Run ``cxl ARGV`` in this process (pycxl.cxl.main.run) and capture everything."""
    from pycxl.cxl.main import run

    out, err = _stream(), _stream()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        with environment(env or {}):
            rc = run(argv)
    finally:
        sys.stdout, sys.stderr = old
    out.flush()
    err.flush()
    return Result(out.buffer.getvalue(), err.buffer.getvalue(), rc)  # type: ignore[attr-defined]


def extract_golden_tree(dest: Path) -> Path:
    """Unpack the golden tree; returns the directory holding sys/ and dev/."""
    with tarfile.open(GOLDEN / "tree.tar.gz") as tar:
        tar.extractall(dest, filter="tar")
    return dest / "tree"


def writers_lock_is_free(state_dir: Path) -> bool:
    """Whether another open file of a state directory's writers' lock could take it now
    (without waiting: a test of a lock held too long fails instead of hanging)."""
    fd = os.open(state_dir / "lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
