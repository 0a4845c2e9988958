"""Benchmark ``daxctl reconfigure-device -m system-ram`` of a 64 GiB CXL RAM region.

usage: [sudo] python3 bench/daxctl_system_ram.py [--runs N] [--skip-upstream]

The platform is one QEMU-style host bridge with one 64 GiB volatile device and a 64 GiB
window; the region is created with ``cxl create-region`` (not timed), so kmem holds the
device with its blocks offline. Timed: onlining all of it, as ``daxctl reconfigure-device
-m system-ram dax0.0`` does (one ``online_movable`` store per block), with memory blocks of
128 MiB (512 blocks) and 2 GiB (32 blocks):

* pycxl in-process (``pycxl.daxctl.main.run``, the interpreter already up): the target is
  under 1 s for 512 blocks;
* pycxl's console script (a process, as a user runs it);
* upstream daxctl (Debian 76.1) over the FUSE mount (``fake-sysfs run``), with root.

Each cell is the median of ``--runs`` runs, each on a freshly staged state. Prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fake_sysfs.platform.qemu import parse_qemu  # noqa: E402
from fake_sysfs.store import Origin, StateStore  # noqa: E402

QEMU = " ".join(
    [
        "qemu-system-x86_64 -machine q35,cxl=on -m 4G",
        "-object memory-backend-ram,id=vmem0,share=on,size=64G",
        "-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1",
        "-device cxl-rp,port=0,bus=cxl.1,id=rp0,chassis=0,slot=2",
        "-device cxl-type3,bus=rp0,volatile-memdev=vmem0,id=cxl-vmem0,sn=0x1",
        "-M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=64G",
    ]
)
ARGV = ["reconfigure-device", "-m", "system-ram", "dax0.0"]
BIN = Path(sys.executable).parent


def stage(work: Path, block_size: int) -> Path:
    """A state with the 64 GiB ram region created (kmem bound, blocks offline)."""
    platform = parse_qemu(QEMU)
    platform.memory_block_size = block_size
    state = Path(tempfile.mkdtemp(dir=work))
    StateStore(state).init(platform, Origin("qemu", "bench"), force=True)
    env = dict(os.environ, FAKE_SYSFS_STATE=str(state))
    env.pop("PYCXL_SYSFS_ROOT", None)
    subprocess.run(
        [str(BIN / "cxl"), "create-region", "-d", "decoder0.0", "-t", "ram", "-m", "mem0"],
        check=True,
        capture_output=True,
        env=env,
    )
    return state


def in_process(state: Path) -> float:
    from pycxl.daxctl.main import run

    os.environ["FAKE_SYSFS_STATE"] = str(state)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        rc = run(ARGV)
        elapsed = time.perf_counter() - start
    assert rc == 0, rc
    return elapsed


def process(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-upstream", action="store_true")
    args = parser.parse_args()
    upstream = not args.skip_upstream and os.geteuid() == 0 and Path("/usr/bin/daxctl").exists()
    rows: list[tuple[str, list[float | None]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for block_size, label in ((128 << 20, "128 MiB (512 blocks)"), (2 << 30, "2 GiB (32)")):
            cells: dict[str, list[float]] = {"in-process": [], "script": [], "upstream": []}
            for _ in range(args.runs):
                cells["in-process"].append(in_process(stage(work, block_size)))
                env = dict(os.environ, FAKE_SYSFS_STATE=str(stage(work, block_size)))
                cells["script"].append(process([str(BIN / "daxctl"), *ARGV], env))
                if upstream:
                    state = stage(work, block_size)
                    run = [str(BIN / "fake-sysfs"), "run", "--state", str(state), "--"]
                    cells["upstream"].append(process([*run, "/usr/bin/daxctl", *ARGV], env))
            medians = [statistics.median(v) * 1000 if v else None for v in cells.values()]
            rows.append((label, medians))
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(exist_ok=True)
    print("| blocks | pycxl in-process (ms) | pycxl daxctl (ms) | upstream on FUSE (ms) |")
    print("|---|---|---|---|")
    for label, values in rows:
        text = ["-" if v is None else f"{v:.0f}" for v in values]
        print(f"| {label} | {' | '.join(text)} |")


if __name__ == "__main__":
    main()
