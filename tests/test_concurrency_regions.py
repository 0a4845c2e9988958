"""Concurrency and durability of region stores on one platform.

Eight processes create and destroy regions on one emulated platform at the same time
(tests/region_worker.py), mixed: pycxl's ``cxl`` in-process (FAKE_SYSFS_STATE), pycxl on
the FUSE mount (PYCXL_SYSFS_ROOT), and the upstream binary on the mount (in a mount
namespace). First each worker has its own host bridge, window and memdev (scale:8x1), so
every attempt must succeed and what they share is the state and the kernel; then all eight
share one window below one host bridge (scale:1x8) and race for region names, HPA and the
bridge's decoders, where refusals are expected. For the whole run:
every region a worker was told it created was there, with the reported resource and size;
``fake-sysfs check`` (no DPA or HPA allocated twice, programming consistent) passes while
they run and at the end.

Durability: the mount daemon killed with SIGKILL while a worker stores through it leaves
a state that loads and passes ``fake-sysfs check``, and the mount can be made again.

``PYCXL_CONCURRENCY_SECONDS``: how long the workers run (default 60 under CI=true, else
10; the shared-window run takes a third of it). Needs root, FUSE and the oracle: skipped
without them, except under CI=true.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fake_sysfs.check import check
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests.test_fuse_mount import mount, unmount_quietly, wait_gone
from tests.twin import FAKE_SYSFS, Twin, unavailable

WORKER = Path(__file__).with_name("region_worker.py")
#: pycxl's cxl from this checkout (whatever is installed as ``cxl`` may be another tree).
PYCXL = json.dumps([sys.executable, "-c", "from pycxl.cxl.main import main; main()"])
PATHS = [f"PYTHONPATH={Path(__file__).resolve().parents[1]}"]
WORKERS = 8


def duration() -> float:
    default = "60" if os.environ.get("CI") == "true" else "10"
    return float(os.environ.get("PYCXL_CONCURRENCY_SECONDS", default))


@pytest.fixture
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Twin]:
    """A mounted platform, scale:8x1 unless the test asks for another (twin B is the
    shared platform; twin A is not used)."""
    reason = unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"concurrency checks need FUSE and the oracle in CI: {reason}")
        pytest.skip(reason)
    twin = Twin(getattr(request, "param", "scale:8x1"), tmp_path)
    try:
        yield twin
    finally:
        twin.close()


def _memdev_of(twin: Twin, decoder: str) -> str:
    out = twin.pycxl_on_mount("list", "-M", "-d", decoder).out
    (memdev,) = json.loads(out)
    return str(memdev["memdev"])


def _worker(twin: Twin, i: int, decoder: str, memdev: str, seconds: float) -> list[str]:
    """Worker i's command line: kinds in turn (in-process, on the mount, upstream)."""
    log = str(twin.top / f"worker{i}.log")
    common = [sys.executable, str(WORKER), log, str(seconds), decoder, memdev]
    kind = i % 3
    if kind == 0:
        return [*common, PYCXL, f"FAKE_SYSFS_STATE={twin.b}", "PYCXL_SYSFS_ROOT=", *PATHS]
    if kind == 1:
        root = f"PYCXL_SYSFS_ROOT={twin.mnt / 'sys'}"
        return [*common, PYCXL, root, "FAKE_SYSFS_STATE=", *PATHS]
    return twin.in_namespace([*common, "/usr/bin/cxl"])


def _check(state: Path) -> list[str]:
    kernel, _ = StateStore(state).load()
    return [str(p) for p in check(View(kernel)).problems]


def _run_workers(
    twin: Twin, decoders: list[str], memdevs: list[str], seconds: float
) -> list[list[dict[str, Any]]]:
    """Run the eight workers for ``seconds``, checking the state while they run; their
    logs."""
    procs = [
        subprocess.Popen(
            _worker(twin, i, decoders[i], memdevs[i], seconds),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(WORKERS)
    ]
    try:
        # The invariants hold at every moment someone looks, not only at the end.
        samples = 0
        while any(p.poll() is None for p in procs):
            assert _check(twin.b) == [], "inconsistent while the workers run"
            samples += 1
            time.sleep(0.5)
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err.decode()[-2000:]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert samples > 0
    logs = []
    for i in range(WORKERS):
        text = (twin.top / f"worker{i}.log").read_text()
        records = [json.loads(line) for line in text.split("\n") if line]
        assert records, f"worker {i} made no attempt"
        for record in records:
            if "region" in record:
                # Told it was created: it was there, as reported, and it went away.
                expected = [record["region"], record["resource"], record["size"]]
                assert record["listed"] == [expected], f"worker {i}: {record}"
                assert record["destroy_rc"] == 0, f"worker {i}: {record}"
        logs.append(records)
    assert _check(twin.b) == []
    # Nothing is left: every region was destroyed.
    kernel, _ = StateStore(twin.b).load()
    assert View(kernel).scan("/sys/bus/cxl/devices", "region") == []
    return logs


def test_eight_processes_create_and_destroy(platform: Twin) -> None:
    """Each worker on its own window, host bridge and memdev: nothing should refuse them."""
    decoders = [f"decoder0.{i + 1}" for i in range(WORKERS)]  # one x1 window per bridge
    memdevs = [_memdev_of(platform, d) for d in decoders]
    logs = _run_workers(platform, decoders, memdevs, duration())
    for i, records in enumerate(logs):
        failed = [r for r in records if "region" not in r]
        assert not failed, f"worker {i}: {failed[:3]}"


@pytest.mark.parametrize("platform", ["scale:1x8"], indirect=True)
def test_eight_processes_share_one_window(platform: Twin) -> None:
    """Eight memdevs below one host bridge, one x1 window for all: the workers race for
    the region name (the create handshake answers EBUSY to all but one), for HPA, and
    for the host bridge's decoders (a region below another's HPA on the same port is
    refused). Refusals are fine; a region reported created must exist, and the state
    must stay consistent."""
    out = platform.pycxl_on_mount("list", "-M", "-d", "decoder0.0").out
    memdevs = sorted(str(m["memdev"]) for m in json.loads(out))
    assert len(memdevs) == WORKERS
    # A third of the time: the race is the same at every turn, and CI time is shared.
    logs = _run_workers(platform, ["decoder0.0"] * WORKERS, memdevs, duration() / 3)
    assert sum("region" in r for records in logs for r in records) >= 1


def test_mount_daemon_killed_during_stores(platform: Twin) -> None:
    twin = platform
    decoder = "decoder0.1"
    memdev = _memdev_of(twin, decoder)
    for attempt, delay in enumerate((0.3, 0.8, 1.5)):
        # A worker storing through the mount (pycxl's cxl on the mounted /sys).
        proc = subprocess.Popen(
            _worker(twin, 1, decoder, memdev, 30),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(delay)
            os.kill(twin.pid, signal.SIGKILL)
            assert wait_gone(twin.pid)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert _check(twin.b) == [], f"attempt {attempt}"
        proc2 = subprocess.run(
            [*FAKE_SYSFS, "check", "--state", str(twin.b)], capture_output=True, text=True
        )
        assert proc2.returncode == 0, proc2.stdout + proc2.stderr
        unmount_quietly(twin.mnt)
        twin.pid = mount(twin.b, twin.mnt)
        assert os.listdir(twin.mnt / "sys" / "bus" / "cxl" / "devices")
    # The remounted kernel takes stores again.
    r = twin.pycxl_on_mount("create-region", "-d", decoder, "-t", "pmem", "-m", memdev)
    leftovers = [
        n
        for n in os.listdir(twin.mnt / "sys" / "bus" / "cxl" / "devices")
        if n.startswith("region")
    ]
    assert r.rc == 0 or leftovers, r.err.decode()
