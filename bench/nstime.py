"""Timing loop for the benchmark, and the upstream side of it inside a mount namespace.

``measure`` runs a command once untimed (keeping its stdout), then N times one at a time for
wall time (spawn to reap, stdout to /dev/null, CPU time from ``wait4`` rusage), then a few
more times under GNU time(1) for peak RSS. The same function times pycxl (from ``run.py``)
and the upstream binary (from ``main`` below), so both sides pay the same spawn cost.

Why peak RSS goes through GNU time: Linux carries a process's peak RSS across execve, and a
spawned child starts from its parent's memory (``posix_spawn``/``vfork`` shares the parent's
address space; ``fork`` copies its anonymous pages). ``ru_maxrss`` of a child spawned from
this Python process is therefore never below the launcher's own RSS (~10 MB, or hundreds of
MB after staging a large platform). GNU time is a small C program that forks the command
itself, so the floor it adds is under 1 MB. Without /usr/bin/time the ``wait4`` value is
reported instead and flagged as an upper bound.

usage: nstime.py TREE MOUNTPOINT SPEC.json RESULTS.json   (run under ``unshare -m``)

Inside the private mount namespace this stages TREE onto a tmpfs at MOUNTPOINT in kernfs
readdir order and bind-mounts it over /sys and /dev, with the functions and the steps of
tests/oracle/namespace.py, then measures every command of SPEC (``{"runs": N, "rss_runs": M,
"commands": [argv, ...], "outputs": [path, ...]}``) and writes JSON results. Only the
commands are timed, not the staging.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
ORACLE_NAMESPACE = REPO / "tests" / "oracle" / "namespace.py"
UPSTREAM_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
GNU_TIME = "/usr/bin/time"


def spawn(argv: list[str], env: dict[str, str], stdout: str) -> tuple[float, Any, int]:
    """Run argv once, stdin and stderr on /dev/null, stdout to the file ``stdout``.

    Returns (wall seconds, the child's rusage, exit status)."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return wall, usage, os.waitstatus_to_exitcode(status)


def gnu_time_available() -> bool:
    return os.access(GNU_TIME, os.X_OK)


def peak_rss_kib(argv: list[str], env: dict[str, str], scratch: str) -> int:
    """The command's peak RSS in KiB, as GNU time (its parent) reports it."""
    report = os.path.join(scratch, "rss.txt")
    spawn([GNU_TIME, "-q", "-f", "%M", "-o", report, *argv], env, "/dev/null")
    with open(report) as f:
        value = int(f.read().split()[-1])
    os.unlink(report)
    return value


def measure(
    argv: list[str],
    env: dict[str, str],
    runs: int,
    rss_runs: int,
    output: str,
    prepare: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One untimed warm-up run with stdout kept in ``output``, ``runs`` timed runs, and
    ``rss_runs`` runs under GNU time for peak RSS. ``prepare``, if given, runs (untimed)
    before every one of them."""
    prepare = prepare or (lambda: None)
    prepare()
    _, _, warmup_rc = spawn(argv, env, output)
    with open(output, "rb") as f:
        out = f.read()
    walls: list[float] = []
    cpu: list[float] = []
    rcs: list[int] = []
    raw_rss: list[int] = []
    for _ in range(runs):
        prepare()
        wall, usage, code = spawn(argv, env, "/dev/null")
        walls.append(wall)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rcs.append(code)
        raw_rss.append(usage.ru_maxrss)
    if gnu_time_available():
        scratch = os.path.dirname(os.path.abspath(output))
        rss = []
        for _ in range(rss_runs):
            prepare()
            rss.append(peak_rss_kib(argv, env, scratch))
        method = "gnu-time"
    else:
        rss, method = raw_rss, "wait4-upper-bound"
    return {
        "argv": argv,
        "wall_s": walls,
        "cpu_s": cpu,
        "rc": rcs,
        "warmup_rc": warmup_rc,
        "peak_rss_kib": rss,
        "rss_method": method,
        "stdout_path": output,
        "stdout_sha256": hashlib.sha256(out).hexdigest(),
        "stdout_bytes": len(out),
    }


def _oracle_namespace() -> ModuleType:
    """tests/oracle/namespace.py, loaded by path (the tests.oracle package imports pytest)."""
    spec = importlib.util.spec_from_file_location("oracle_namespace", ORACLE_NAMESPACE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stage(tree: str, mnt: str) -> None:
    """The staging steps of tests/oracle/namespace.py's main(), onto a tmpfs at ``mnt``."""
    ns = _oracle_namespace()
    ns.mount("-t", "tmpfs", "-o", "mode=0755", "pycxl-bench", mnt)
    for part in ("sys", "dev"):
        os.mkdir(os.path.join(mnt, part), 0o755)
        if os.path.isdir(os.path.join(tree, part)):
            ns.copy_in_kernfs_order(os.path.join(tree, part), os.path.join(mnt, part))
    ns.check_order(os.path.join(mnt, "sys"))
    null = os.path.join(mnt, "dev", "null")
    if not os.path.exists(null):
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    # Nothing may be modprobed or wait on udev for the fake devices.
    for hide in ("/lib/modules", "/run/udev"):
        if os.path.isdir(hide):
            ns.mount("-t", "tmpfs", "-o", "ro", "pycxl-bench-hide", hide)
    ns.mount("--bind", os.path.join(mnt, "sys"), "/sys")
    ns.mount("--bind", os.path.join(mnt, "dev"), "/dev")


def main() -> None:
    tree, mnt, spec_path, results_path = sys.argv[1:5]
    with open(spec_path) as f:
        spec = json.load(f)
    staging = time.perf_counter()
    stage(tree, mnt)
    staged_s = time.perf_counter() - staging
    results = [
        measure(argv, UPSTREAM_ENV, spec["runs"], spec["rss_runs"], output)
        for argv, output in zip(spec["commands"], spec["outputs"], strict=True)
    ]
    with open(results_path, "w") as f:
        json.dump({"staging_s": staged_s, "results": results}, f)


if __name__ == "__main__":
    main()
