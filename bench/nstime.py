"""Timing of single runs for the benchmark, on either side, and the server that runs the
upstream side inside a mount namespace.

Every comparison in the benchmark alternates its sides run by run (A, B, A, B, ...) and
reports the median of the per-pair ratios, so that a drift of the machine's load moves both
sides of a pair alike. One side runs in this process's namespace (pycxl with
FAKE_SYSFS_STATE, or reading an exported tree); the upstream binary needs /sys and /dev
replaced, which only a private mount namespace gives. That namespace belongs to a long-lived
child, the *server* (``main`` below), which this process (``Remote``) asks for one run at a
time over a pipe: the run is timed by the server, spawn to reap, exactly as ``Local`` times
its own, so both sides pay the same spawn cost and the pipe is never inside a timing.

Why peak RSS goes through GNU time: Linux carries a process's peak RSS across execve, and a
spawned child starts from its parent's memory (``posix_spawn``/``vfork`` shares the parent's
address space; ``fork`` copies its anonymous pages). ``ru_maxrss`` of a child spawned from
a Python process is therefore never below the launcher's own RSS (~10 MB, or hundreds of MB
after staging a large platform). GNU time is a small C program that forks the command
itself, so the floor it adds is under 1 MB. Without /usr/bin/time the ``wait4`` value of
the runs is reported instead and flagged as an upper bound.

usage (as the benchmark starts it; not meant to be run by hand):

    unshare -m --propagation private python3 nstime.py tree TREE MOUNTPOINT
        stage the exported TREE onto a tmpfs at MOUNTPOINT in kernfs readdir order and bind
        it over /sys and /dev (the steps of tests/oracle/namespace.py), then serve;
    fake-sysfs run --state DIR -- python3 nstime.py serve
        serve on the FUSE mount of a live state (``fake-sysfs run`` made the namespace).

The server reads one JSON request per line on stdin and answers one JSON line on stdout:
``{"op": "run", "argv": [...], "stdout": PATH}`` (one timed run), ``{"op": "rss", ...}``
(peak RSS under GNU time), ``{"op": "stores", "stores": [[PATH, VALUE], ...]}``
(timed open/write/close of each, as ``echo VALUE > PATH`` does), ``{"op": "quit"}``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
ORACLE_NAMESPACE = REPO / "tests" / "oracle" / "namespace.py"
UPSTREAM_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
GNU_TIME = "/usr/bin/time"

#: One run: wall and CPU seconds, exit status, and the wait4 peak RSS in KiB (an upper
#: bound, see above).
Sample = dict[str, Any]


def spawn(argv: list[str], env: dict[str, str], stdout: str, stderr: str = os.devnull) -> Sample:
    """Run argv once, stdin on /dev/null, stdout and stderr to the files named: wall time
    from posix_spawn to the wait4 that reaps it."""
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
        (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rc": os.waitstatus_to_exitcode(status),
        "maxrss_kib": usage.ru_maxrss,
    }


def gnu_time_available() -> bool:
    return os.access(GNU_TIME, os.X_OK)


def peak_rss_kib(argv: list[str], env: dict[str, str], scratch: str) -> int | None:
    """The command's peak RSS in KiB as GNU time (its parent) reports it; None without GNU
    time."""
    if not gnu_time_available():
        return None
    report = os.path.join(scratch, f"rss-{os.getpid()}.txt")
    spawn([GNU_TIME, "-q", "-f", "%M", "-o", report, *argv], env, "/dev/null")
    with open(report) as f:
        value = int(f.read().split()[-1])
    os.unlink(report)
    return value


def timed_stores(stores: list[list[str]]) -> list[dict[str, Any]]:
    """Each (path, value) stored as ``echo value > path`` does it (open with O_TRUNC, one
    write of the line, close), timed from open to close; an error is recorded, not raised."""
    out: list[dict[str, Any]] = []
    for path, value in stores:
        data = (value + "\n").encode()
        start = time.perf_counter()
        err = 0
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as e:
            err = e.errno or -1
        out.append({"wall_s": time.perf_counter() - start, "errno": err})
    return out


# -- the two sides -------------------------------------------------------------------------


class Local:
    """Runs commands from this process, with ``env``."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, argv: list[str], stdout: str = os.devnull, stderr: str = os.devnull) -> Sample:
        return spawn(argv, self.env, stdout, stderr)

    def rss(self, argv: list[str], scratch: str) -> int | None:
        return peak_rss_kib(argv, self.env, scratch)


class Remote:
    """Runs commands through a server (``main`` below) started with ``prefix`` (the command
    that makes its namespace), e.g. ``["unshare", "-m", ...]`` or ``["fake-sysfs", "run",
    ...]``. Use as a context manager: the server is told to quit, and killed if it hangs."""

    def __init__(self, prefix: list[str], mode: list[str], env: dict[str, str] | None = None):
        argv = [*prefix, sys.executable, str(Path(__file__).resolve()), *mode]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        hello = self._answer()
        self.staging_s: float = hello.get("staging_s", 0.0)

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            assert self.proc.stderr is not None
            lines = self.proc.stderr.read().strip().splitlines()
            why = lines[-1] if lines else f"exit status {self.proc.returncode}"
            raise RuntimeError(f"upstream namespace server failed: {why}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def run(self, argv: list[str], stdout: str = os.devnull, stderr: str = os.devnull) -> Sample:
        return self.ask({"op": "run", "argv": argv, "stdout": stdout, "stderr": stderr})

    def rss(self, argv: list[str], scratch: str) -> int | None:
        value: int | None = self.ask({"op": "rss", "argv": argv, "scratch": scratch})["kib"]
        return value

    def stores(self, stores: list[list[str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.ask({"op": "stores", "stores": stores})["stores"]
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, ValueError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                # SIGTERM first: ``fake-sysfs run`` passes it on and then unmounts.
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Runner = Local | Remote


def alternate(
    cells: dict[str, tuple[Runner, list[str], Callable[[], None] | None]],
    runs: int,
    outputs: dict[str, str],
) -> dict[str, dict[str, Any]]:
    """Time every cell ``runs`` times, round-robin: run i of each cell, in the order given,
    before run i+1 of any. Each cell is (runner, argv, prepare run untimed before each of its
    runs). One untimed warm-up run per cell first, whose stdout is kept in ``outputs[name]``.
    Returns per cell its samples as lists (``wall_s``, ``cpu_s``, ``rc``, ...)."""
    results: dict[str, dict[str, Any]] = {}
    for name, (runner, argv, prepare) in cells.items():
        if prepare is not None:
            prepare()
        warm = runner.run(argv, outputs[name])
        results[name] = {
            "argv": argv,
            "warmup_rc": warm["rc"],
            "stdout_path": outputs[name],
            "wall_s": [],
            "cpu_s": [],
            "rc": [],
            "maxrss_kib": [],
        }
    for _ in range(runs):
        for name, (runner, argv, prepare) in cells.items():
            if prepare is not None:
                prepare()
            sample = runner.run(argv)
            for key in ("wall_s", "cpu_s", "rc", "maxrss_kib"):
                results[name][key].append(sample[key])
    return results


# -- the server ----------------------------------------------------------------------------


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


def serve(requests: IO[str], answers: IO[str], hello: dict[str, Any]) -> None:
    def say(answer: dict[str, Any]) -> None:
        answers.write(json.dumps(answer) + "\n")
        answers.flush()

    say(hello)
    for line in requests:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            break
        if op == "run":
            say(spawn(request["argv"], UPSTREAM_ENV, request["stdout"], request["stderr"]))
        elif op == "rss":
            say({"kib": peak_rss_kib(request["argv"], UPSTREAM_ENV, request["scratch"])})
        elif op == "stores":
            say({"stores": timed_stores(request["stores"])})
        else:
            say({"error": f"unknown op {op!r}"})


def main() -> None:
    # The answers go to a private copy of stdout; the commands' own output never reaches it.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    mode = sys.argv[1:2]
    hello: dict[str, Any] = {}
    if mode == ["tree"]:
        tree, mnt = sys.argv[2:4]
        start = time.perf_counter()
        stage(tree, mnt)
        hello["staging_s"] = time.perf_counter() - start
    elif mode != ["serve"]:
        sys.exit("usage: nstime.py tree TREE MOUNTPOINT | nstime.py serve")
    serve(sys.stdin, answers, hello)


if __name__ == "__main__":
    main()
