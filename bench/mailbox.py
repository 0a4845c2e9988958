"""The cost of the mailbox keys: ``cxl list -M -H -I -A -F`` against ``cxl list -M`` at
1,024 memdevs (issue 9).

The upstream binary cannot reach the emulated device (its mailbox commands are ioctls on
/dev/cxl/memN, which no emulated node takes), so pycxl is compared with itself: the listing
with the health, alert, partition and firmware objects against the plain listing, on the
same state, run alternately; the ratio is the median of the rounds' ratios. Two cases:
cached (a listing of an unchanged state, answered from ``reads.cache``, the mailbox answers
included) and first run (``reads.cache`` removed before each run). Target: the mailbox keys
cost no more than 2x the plain listing.

    python3 bench/mailbox.py [--runs N] [--platform scale-1024]

It uses the ``cxl`` console script beside ``sys.executable`` (run it with the project's
virtualenv python) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore

PLAIN = ["list", "-M"]
MAILBOX = ["list", "-M", "-H", "-I", "-A", "-F"]
TARGET = 2.0


def timed(cxl: str, args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([cxl, *args], env=env, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1000


def rounds(cxl: str, env: dict[str, str], runs: int, cache: Path | None) -> list[float]:
    """Median plain ms, median mailbox ms and the median of the rounds' ratios; ``cache``
    removed before each run when given."""
    plain: list[float] = []
    mailbox: list[float] = []
    for _ in range(runs):
        for args, out in ((PLAIN, plain), (MAILBOX, mailbox)):
            if cache is not None:
                cache.unlink(missing_ok=True)
            out.append(timed(cxl, args, env))
    ratio = statistics.median(m / p for p, m in zip(plain, mailbox, strict=True))
    return [statistics.median(plain), statistics.median(mailbox), ratio]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--platform", default="scale-1024")
    opts = parser.parse_args()
    cxl = str(Path(sys.executable).with_name("cxl"))
    work = Path(tempfile.mkdtemp(prefix="pycxl-bench-mailbox-"))
    try:
        state = work / "state"
        store = StateStore(state, create=True)
        store.init(load_preset(opts.platform), Origin("preset", opts.platform), force=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "FAKE_"))}
        env["FAKE_SYSFS_STATE"] = str(state)
        memdevs = len(store.load()[0].memdevs)
        for args in (PLAIN, MAILBOX):  # warm up: fill the read cache
            timed(cxl, args, env)
        cached = rounds(cxl, env, opts.runs, None)
        first = rounds(cxl, env, max(3, opts.runs // 2), state / "reads.cache")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"{opts.platform}, {memdevs} memdevs, median of {opts.runs} rounds (first run: "
        f"{max(3, opts.runs // 2)}), wall ms per process\n"
    )
    print("| case | `cxl list -M` | `cxl list -M -H -I -A -F` | ratio (median of rounds) |")
    print("|---|---:|---:|---:|")
    for name, (p, m, ratio) in (("cached", cached), ("first run", first)):
        print(f"| {name} | {p:.1f} | {m:.1f} | {ratio:.2f} |")
    verdict = all(r[2] <= TARGET for r in (cached, first))
    print(
        f"\nTarget (mailbox keys at most {TARGET:.0f}x the plain listing): "
        f"{'met' if verdict else 'NOT met'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
