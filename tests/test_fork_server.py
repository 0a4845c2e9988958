"""``fake-sysfs serve``: the fork server that keeps the state loaded and runs each command
of cxl, ndctl and daxctl in a fork of itself (fake_sysfs/frontends/forkserver.py).

A served command must be the command run in-process: the same bytes on stdout and stderr,
the same exit status (or death by the same signal), the same state afterwards, with the
caller's working directory, umask, standard input and closed streams. Each case runs the
console scripts twice, on twin state directories, one of them served; the server's count of
commands run proves which ran where. Then what may go wrong: a dead server's socket, another
user's socket, a server whose directory is removed, a second server, idle time, signals.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_sysfs.frontends import forkclient, forkserver

BIN = Path(sys.executable).parent
CXL, NDCTL, DAXCTL, FAKE_SYSFS = (BIN / n for n in ("cxl", "ndctl", "daxctl", "fake-sysfs"))
TIMEOUT = 120


def env(state: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYCXL_"))}
    base.update(LC_ALL="C", FAKE_SYSFS_STATE=str(state))
    return base


def init(state: Path, preset: str = "qemu-mixed") -> None:
    proc = subprocess.run(
        [FAKE_SYSFS, "init", "--state", str(state), "--platform", preset],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr


def start(state: Path, *extra: str) -> int:
    """A detached server for ``state``; its pid. One a failed test leaves behind goes after a
    minute without a command."""
    if "--idle" not in extra:
        extra = ("--idle", "60", *extra)
    proc = subprocess.run(
        [FAKE_SYSFS, "serve", "--state", str(state), *extra],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"serving {state} (pid "), proc.stdout
    return int(proc.stdout.rsplit("pid ", 1)[1].rstrip(")\n"))


def stop(state: Path) -> None:
    subprocess.run(
        [FAKE_SYSFS, "serve", "--stop", "--state", str(state)],
        capture_output=True,
        timeout=TIMEOUT,
    )


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def twins(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Two states of the default platform: the first served, the second not."""
    served, plain = tmp_path / "served", tmp_path / "plain"
    for state in (served, plain):
        init(state)
    start(served, "--idle", "120")
    try:
        yield served, plain
    finally:
        stop(served)


def run(
    tool: Path, args: list[str], state: Path, cwd: Path | None = None, stdin: bytes = b""
) -> tuple[int, bytes, bytes]:
    proc = subprocess.run(
        [str(tool), *args],
        input=stdin,
        capture_output=True,
        env=env(state),
        cwd=cwd,
        timeout=TIMEOUT,
    )
    return proc.returncode, proc.stdout, proc.stderr


def both(
    tool: Path, args: list[str], twins: tuple[Path, Path], **kw: object
) -> tuple[tuple[int, bytes, bytes], tuple[int, bytes, bytes]]:
    served, plain = twins
    before = forkserver.served(str(served))
    assert before is not None, "the server does not answer"
    got = run(tool, args, served, **kw)  # type: ignore[arg-type]
    assert forkserver.served(str(served)) == before + 1, "the command was not served"
    return got, run(tool, args, plain, **kw)  # type: ignore[arg-type]


# A sequence that changes the state and reads it back, failures included: each step's
# result on the served state equals the in-process one's, step by step.
SEQUENCE: list[tuple[Path, list[str]]] = [
    (CXL, ["list"]),
    (CXL, ["list", "-vvv", "-BPEMDRT", "-u"]),
    (CXL, ["list", "-Z"]),  # unknown switch: usage, 129
    (CXL, ["frob"]),  # unknown command: 1
    (CXL, ["--version"]),
    (CXL, ["create-region", "-d", "decoder0.0", "-t", "pmem", "-m", "mem0", "mem1"]),
    (CXL, ["create-region", "-d", "decoder0.0", "-t", "ram", "-m", "mem9"]),  # no such memdev
    (CXL, ["list", "-R", "-vvv"]),
    (CXL, ["disable-region", "region0"]),
    (CXL, ["enable-region", "region0"]),
    (NDCTL, ["list", "-RN"]),
    (DAXCTL, ["list"]),
    (CXL, ["destroy-region", "-f", "region0"]),
    (CXL, ["disable-memdev", "mem0"]),  # refused without -f? upstream says
    (CXL, ["disable-memdev", "-f", "mem0"]),
    (CXL, ["list", "-Mi"]),
    (CXL, ["enable-memdev", "mem0"]),
    (CXL, ["list", "-vvv"]),
]


def test_served_commands_equal_in_process_ones(twins: tuple[Path, Path]) -> None:
    for tool, args in SEQUENCE:
        served, plain = both(tool, args, twins)
        assert served == plain, (tool.name, args)
    # And the two states are alike afterwards, as the kernel has them.
    dumps = []
    for state in twins:
        proc = subprocess.run(
            [FAKE_SYSFS, "check", "--state", str(state)], capture_output=True, timeout=TIMEOUT
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        dumps.append(run(CXL, ["list", "-vvv", "-BPEMDRTi"], state)[1])
    assert dumps[0] == dumps[1]


def test_a_store_of_another_process_is_seen_by_the_next_served_command(
    twins: tuple[Path, Path],
) -> None:
    """The server holds the state it loaded; a commit by anyone else (here this process,
    in-process) is what the next served command sees."""
    from fake_sysfs.store import StateStore

    listing = run(CXL, ["list", "-M", "-i"], twins[0])
    for state in twins:
        store = StateStore(state)
        store.write_attr("/sys/bus/cxl/drivers/cxl_mem/unbind", b"mem1")
        store.sync()
    got, want = both(CXL, ["list", "-M", "-i"], twins)
    assert got == want
    assert got != listing


def test_streams_cwd_umask_and_stdin_are_the_callers(
    twins: tuple[Path, Path], tmp_path: Path
) -> None:
    """A label area written from stdin and read back to a file named relative to the
    working directory, under the caller's umask."""
    label = bytes(range(256)) * 4
    served_dir, plain_dir = tmp_path / "a", tmp_path / "b"
    served_dir.mkdir()
    plain_dir.mkdir()
    old = os.umask(0o077)
    try:
        got = []
        for state, where in zip(twins, (served_dir, plain_dir), strict=True):
            before = forkserver.served(str(twins[0]))
            off = run(CXL, ["disable-memdev", "-f", "mem1"], state)
            labels = ["mem1", "-s", "1024"]
            wrote = run(CXL, ["write-labels", *labels], state, cwd=where, stdin=label)
            read = run(
                CXL, ["read-labels", "mem1", "-s", "1024", "-o", "out.bin"], state, cwd=where
            )
            if state == twins[0]:
                assert forkserver.served(str(state)) == (before or 0) + 3
            out = where / "out.bin"
            got.append((off, wrote, read, out.read_bytes(), out.stat().st_mode & 0o777))
    finally:
        os.umask(old)
    assert got[0] == got[1]
    assert got[0][1][0] == 0, got[0][1]
    assert got[0][3] == label
    assert got[0][4] == 0o600


@pytest.mark.parametrize("redirect", [">&-", "2>&-", ">/dev/full", "<&-"])
def test_closed_and_full_streams(twins: tuple[Path, Path], redirect: str) -> None:
    results = []
    for state in twins:
        proc = subprocess.run(
            ["sh", "-c", f'exec "$@" {redirect}', "sh", str(CXL), "list", "-M"],
            capture_output=True,
            env=env(state),
            timeout=TIMEOUT,
        )
        results.append((proc.returncode, proc.stdout, proc.stderr))
    assert results[0] == results[1]


def test_a_reader_gone_is_death_by_sigpipe_as_in_process(twins: tuple[Path, Path]) -> None:
    results = []
    for state in twins:
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run(
                [str(CXL), "list", "-vvv"],
                stdout=write_end,
                stderr=subprocess.PIPE,
                env=env(state),
                timeout=TIMEOUT,
            )
        finally:
            os.close(write_end)
        results.append((proc.returncode, proc.stderr))
    assert results[0] == results[1] == (-signal.SIGPIPE, b"")


def test_signals_reach_the_command(twins: tuple[Path, Path]) -> None:
    """^C to a served ``cxl monitor`` ends the monitor (in the server's child) as it ends
    one run in-process; and the server's child is the one that got it."""
    results = []
    for state in twins:
        proc = subprocess.Popen(
            [str(CXL), "monitor"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(state),
        )
        time.sleep(1.5)
        if state == twins[0]:
            assert forkserver.served(str(state)) == 1
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
        results.append((proc.returncode, out, err))
    assert results[0] == results[1]


def test_a_dead_servers_socket_is_passed_by(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state)
    pid = start(state)
    os.kill(pid, signal.SIGKILL)
    assert gone(pid)
    assert (state / forkclient.SOCKET).exists()
    got = run(CXL, ["list", "-M"], state)
    assert got[0] == 0 and got[1].startswith(b"[")
    # A new server takes the directory over.
    pid = start(state)
    try:
        assert forkserver.served(str(state)) == 0
        assert run(CXL, ["list", "-M"], state) == got
        assert forkserver.served(str(state)) == 1
    finally:
        stop(state)
    assert gone(pid)
    assert not (state / forkclient.SOCKET).exists()


def test_another_users_server_is_not_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's credentials are checked: one of another uid gets nothing (the command
    runs in-process), not even the request with its environment."""
    state = tmp_path / "state"
    init(state)
    start(state)
    try:
        monkeypatch.setenv("FAKE_SYSFS_STATE", str(state))
        monkeypatch.setattr(os, "getuid", lambda: 4242)
        assert forkclient.run_served("pycxl.cxl.main:main") is None
        monkeypatch.undo()
        assert forkserver.served(str(state)) == 0
    finally:
        stop(state)


def _request_from_elsewhere() -> dict[str, object]:
    """A well-formed request whose tool was imported from another file than the server's."""
    import marshal

    import pycxl.cxl.main  # noqa: F401 - as the tool has it imported when it asks

    data, fds = forkclient.request("pycxl.cxl.main:main")
    os.close(fds[-1])
    request = marshal.loads(data[4:])
    request["entry_file"] = "/elsewhere/pycxl/cxl/main.py"
    request["open"] = [False, False, False]  # with only the cwd descriptor: none sent here
    return request


def test_the_server_refuses_what_is_not_this_code(tmp_path: Path) -> None:
    """A request of another installation (or protocol) is answered N: run it yourself."""
    import marshal
    import socket

    state = tmp_path / "state"
    init(state)
    start(state)
    try:
        for request, why in (
            ({"protocol": forkclient.PROTOCOL, "code": "elsewhere"}, forkserver.REFUSED_CODE),
            ({"protocol": 0}, forkserver.REFUSED_PROTOCOL),
            (_request_from_elsewhere(), forkserver.REFUSED_CODE),
            ("not a dict", forkserver.REFUSED_PROTOCOL),
        ):
            dirfd = os.open(state, os.O_RDONLY)
            try:
                with socket.socket(socket.AF_UNIX) as conn:
                    conn.connect(f"/proc/self/fd/{dirfd}/{forkclient.SOCKET}")
                    body = marshal.dumps(request)
                    # With a working directory, as a tool sends it.
                    socket.send_fds(conn, [len(body).to_bytes(4, "big") + body], [dirfd])
                    assert conn.recv(5) == forkserver.answer(b"N", why)
            finally:
                os.close(dirfd)
        assert forkserver.served(str(state)) == 0
    finally:
        stop(state)


def test_changed_sources_stop_serving(tmp_path: Path) -> None:
    """A server whose code changed on disk is not that code any more."""
    package = tmp_path / "pkg"
    package.mkdir()
    source = package / "mod.py"
    source.write_text("x = 1\n")
    from fake_sysfs.store import StateStore

    server = forkserver.ForkServer(StateStore(tmp_path), 1.0)
    server._packages = [str(package)]
    server._sources = forkserver._sources(server._packages)
    assert not server._stale()
    source.write_text("x = 22\n")
    server._sources_checked = 0.0
    assert server._stale()


def test_one_server_per_directory_and_stop_without_one(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state)
    pid = start(state)
    try:
        again = subprocess.run(
            [FAKE_SYSFS, "serve", "--state", str(state)], capture_output=True, text=True
        )
        assert again.returncode == 1
        assert again.stderr == f"fake-sysfs: a fork server already serves {state} (pid {pid})\n"
        status = subprocess.run(
            [FAKE_SYSFS, "serve", "--status", "--state", str(state)],
            capture_output=True,
            text=True,
        )
        assert (status.returncode, status.stdout) == (
            0,
            f"serving {state} (pid {pid}, 0 commands run)\n",
        )
    finally:
        stop(state)
    assert gone(pid)
    for flag in ("--stop", "--status"):
        proc = subprocess.run(
            [FAKE_SYSFS, "serve", flag, "--state", str(state)], capture_output=True, text=True
        )
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            1,
            "",
            f"no fork server serves {state}\n",
        )


def test_idle_server_exits(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state)
    pid = start(state, "--idle", "0.5")
    assert gone(pid, 15)
    assert not (state / forkclient.SOCKET).exists()


def test_a_removed_directory_ends_its_server(tmp_path: Path) -> None:
    import shutil

    state = tmp_path / "state"
    init(state)
    pid = start(state)
    shutil.rmtree(state)
    assert gone(pid, 15)


def test_a_killed_server_leaves_its_running_command_to_finish(twins: tuple[Path, Path]) -> None:
    """The command is the child's: a server killed meanwhile does not take it along, and
    the command's own status still reaches the caller."""
    served, plain = twins
    pid = forkserver.server_pid(str(served))
    assert pid is not None
    results = []
    for state in (served, plain):
        proc = subprocess.Popen(
            [str(CXL), "monitor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(state)
        )
        time.sleep(1.5)
        if state == served:
            assert forkserver.served(str(state)) == 1
            os.kill(pid, signal.SIGKILL)
            assert gone(pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=TIMEOUT)
        results.append((proc.returncode, out, err))
    assert results[0] == results[1]


def test_concurrent_served_commands(twins: tuple[Path, Path]) -> None:
    """Served commands run side by side, each in its own child, through the writers' lock:
    the state they leave is consistent and each saw its own command through."""
    served = twins[0]
    procs = [
        subprocess.Popen(
            [str(CXL), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env(served),
        )
        for args in (
            ["disable-memdev", "-f", "mem0"],
            ["disable-memdev", "-f", "mem1"],
            ["list", "-vvv"],
            ["disable-memdev", "-f", "mem2"],
            ["list", "-M"],
            ["disable-memdev", "-f", "mem3"],
        )
    ]
    codes = [p.wait(timeout=TIMEOUT) for p in procs]
    for p in procs:
        with contextlib.suppress(Exception):
            p.communicate(timeout=TIMEOUT)
    assert codes == [0] * len(procs)
    listing = run(CXL, ["list", "-M", "-i"], served)
    assert listing[1].count(b'"state":"disabled"') == 4
    check = subprocess.run(
        [FAKE_SYSFS, "check", "--state", str(served)], capture_output=True, timeout=TIMEOUT
    )
    assert check.returncode == 0


def test_foreground_server_and_its_usage(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state)
    usage = subprocess.run([FAKE_SYSFS, "serve", "-h"], capture_output=True, text=True)
    assert usage.returncode == 0
    for option in ("--idle", "--foreground", "--status", "--stop", "--state"):
        assert option in usage.stdout
    proc = subprocess.Popen(
        [FAKE_SYSFS, "serve", "--foreground", "--state", str(state)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"serving {state}\n"
        assert run(CXL, ["list", "-b", "ACPI.CXL"], state)[0] == 0
        assert forkserver.served(str(state)) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (state / forkclient.SOCKET).exists()


def test_the_server_folds_the_journal_when_idle(tmp_path: Path) -> None:
    """Its children let the journal grow (FOLD_FACTOR): the server folds it, from the
    kernel it holds, as soon as it is idle; the state is the one the stores made."""
    from fake_sysfs.store import StateStore

    state, plain = tmp_path / "served", tmp_path / "plain"
    for directory in (state, plain):
        init(directory)
    start(state)
    try:
        for i in range(12):  # 24 stores of cxl_mem bind/unbind cascades: past 16 records
            for directory in (state, plain):
                for verb in ("disable-memdev", "enable-memdev"):
                    argv = [verb, *(["-f"] if verb.startswith("disable") else []), f"mem{i % 4}"]
                    assert run(CXL, argv, directory)[0] == 0
        assert forkserver.served(str(state)) == 24
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            store = StateStore(state)
            store.load(keep=True)
            held = store._held
            assert held is not None
            if held.records < 16:
                break
            time.sleep(0.2)
        assert held.records < 16, "the server did not fold the journal"
    finally:
        stop(state)
    listings = [run(CXL, ["list", "-vvv", "-BPEMDRTi"], d) for d in (state, plain)]
    assert listings[0] == listings[1]


def test_a_fold_by_the_server_carries_the_read_memo_over(tmp_path: Path) -> None:
    """The fold renames the state, not changes it: the memo saved for the state before is
    saved for the state after, and answers as the kernel does."""
    from fake_sysfs.frontends import readcache
    from fake_sysfs.statedir import open_snapshot
    from fake_sysfs.store import StateStore

    # A listing that stores nothing (-vvv would trigger poison lists: stores, records).
    LISTING = ["list", "-BPEMDRTiu"]
    state = tmp_path / "state"
    init(state)
    store = StateStore(state)
    store.fold_factor = forkserver.FOLD_FACTOR  # as the server's children: they leave it
    for i in range(10):  # 20 records: past the 16 a small platform folds at
        store.write_attr("/sys/bus/cxl/drivers/cxl_mem/unbind", f"mem{i % 4}".encode())
        store.write_attr("/sys/bus/cxl/drivers/cxl_mem/bind", f"mem{i % 4}".encode())
    store.sync()
    listing = run(CXL, LISTING, state)  # saves the memo
    assert listing[0] == 0
    store.load(keep=True)
    assert store.fold_due()
    store.fold(readcache.renaming)
    assert not store.fold_due()
    snap = open_snapshot(str(state), False)
    try:
        cache = readcache.ReadCache()
        cache.attach(snap)
        assert cache._blobs, "the memo was not carried over to the folded state"
    finally:
        snap.close()
    assert run(CXL, LISTING, state) == listing
    (state / "reads.cache").unlink()
    assert run(CXL, LISTING, state) == listing


def test_a_server_that_does_not_answer_is_given_up_and_the_command_never_runs_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stopped server: the tool waits START_TIMEOUT, then runs the command itself. When
    the server goes on and forks the child, the child finds its caller gone before it
    begins, and runs nothing."""
    from fake_sysfs.store import StateStore

    state = tmp_path / "state"
    init(state)
    pid = start(state)
    os.kill(pid, signal.SIGSTOP)
    try:
        monkeypatch.setenv("FAKE_SYSFS_STATE", str(state))
        monkeypatch.setattr(forkclient, "START_TIMEOUT", 0.5)
        monkeypatch.setattr(sys, "argv", ["cxl", "disable-memdev", "-f", "mem0"])
        began = time.monotonic()
        assert forkclient.run_served("pycxl.cxl.main:main") is None
        assert time.monotonic() - began < 5
    finally:
        os.kill(pid, signal.SIGCONT)
    try:
        deadline = time.monotonic() + 10
        while forkserver.served(str(state)) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert forkserver.served(str(state)) == 1  # it forked the child...
        time.sleep(1.0)
        kernel, _ = StateStore(state).load()
        assert kernel.memdevs  # ...which disabled nothing: mem0 still has its endpoint
        listing = run(CXL, ["list", "-M", "-m", "mem0", "-i"], state)
        assert b"disabled" not in listing[1]
    finally:
        stop(state)


@pytest.mark.parametrize("planted", ["fifo", "symlink", "directory"])
def test_a_planted_lock_or_socket_is_refused_in_one_line(tmp_path: Path, planted: str) -> None:
    state = tmp_path / "state"
    init(state)
    lock = state / "serve.lock"
    if planted == "fifo":
        os.mkfifo(lock)
    elif planted == "symlink":
        lock.symlink_to(tmp_path / "elsewhere")
    else:
        (state / forkclient.SOCKET).mkdir()
        (state / forkclient.SOCKET / "x").write_text("")
    proc = subprocess.run(
        [FAKE_SYSFS, "serve", "--state", str(state)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("fake-sysfs: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "elsewhere").exists()
    # And the tools, finding no server, run their commands themselves.
    assert run(CXL, ["list", "-M"], state)[0] == 0


def test_asking_the_server_imports_nothing_heavy() -> None:
    """A served command's own process starts the interpreter, imports the tool's main
    module and the client, and waits: neither the kernel nor the modules the client was
    written to avoid (``signal`` and ``socket`` import enum and selectors) come in. This
    guards the structure; it measures no time."""
    repo = Path(__file__).resolve().parent.parent
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(repo)!r}]\n"
        "before = set(sys.modules)\n"
        "from pycxl.cxl.main import main\n"
        "from fake_sysfs.frontends import forkclient\n"
        "print(' '.join(sorted(set(sys.modules) - before)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, timeout=TIMEOUT
    )
    assert proc.returncode == 0, proc.stderr
    loaded = set(proc.stdout.split())
    assert "fake_sysfs.frontends.forkclient" in loaded  # the probe saw the imports
    for heavy in ("enum", "signal", "socket", "selectors", "typing", "pathlib", "json", "re"):
        assert heavy not in loaded, heavy
    assert not any(m.startswith(("fake_sysfs.kernel", "fake_sysfs.kernfs")) for m in loaded)
    assert "fake_sysfs.store" not in loaded


def _processes_of(state: Path) -> set[int]:
    """The server of ``state`` and its children (forks: the same command line)."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and str(state).encode() in argv:
            found.add(int(entry))
    return found


def test_a_command_lost_with_its_server_is_one_line(tmp_path: Path) -> None:
    """The server killed, then the command's process killed too: nobody is left to say
    how it ended, and the tool says so in one line, exit status 1 (never a hang)."""
    state = tmp_path / "state"
    init(state)
    server = start(state)
    proc = subprocess.Popen(
        [str(CXL), "monitor"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(state)
    )
    try:
        time.sleep(1.5)
        assert forkserver.served(str(state)) == 1
        children = _processes_of(state) - {server}
        assert len(children) == 1, children
        os.kill(server, signal.SIGKILL)
        assert gone(server)
        os.kill(children.pop(), signal.SIGKILL)
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out) == (1, b"")
    assert err == b"cxl: the command ended without a status (its fork server stopped)\n"
