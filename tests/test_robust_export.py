"""``fake-sysfs export``: what it refuses, how it replaces a directory, and that a SIGKILL at
any moment leaves DIR either absent (if it never existed), the complete old tree or the
complete new one."""

from __future__ import annotations

import contextlib
import errno
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fake_sysfs.cli import main
from fake_sysfs.errors import StateError
from fake_sysfs.frontends import export as export_module
from fake_sysfs.frontends.export import MARKER, MARKER_LINE, export
from fake_sysfs.kernfs.view import View
from tests.helpers import Result, run_cxl
from tests.kernel_helpers import shared_view

FAKE_SYSFS = Path(sys.executable).with_name("fake-sysfs")
NOBODY = 65534

#: Entries of an export of qemu-mixed (1691 before tracefs grew its pipes, per-CPU
#: directories, header and format files: 28 more on its 4 CPUs).
QEMU_MIXED_ENTRIES = 1719


def fs(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 0), out, err


def one_line(err: str) -> str:
    assert err.startswith("fake-sysfs: ") and err.count("\n") == 1, err
    return err


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".fake-sysfs-" in p.name)


def snapshot(top: Path) -> dict[str, tuple[int, bytes]]:
    """Every path below ``top`` with its mode and content (or link target): to show that a
    refused export touched nothing."""
    found: dict[str, tuple[int, bytes]] = {}
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
            elif stat.S_ISREG(st.st_mode):
                data = Path(path).read_bytes()
            else:
                data = b""
            found[os.path.relpath(path, top)] = (st.st_mode, data)
    return found


def is_export_of(tree: Path, view: View) -> bool:
    """Whether ``tree`` is a marked export of ``view``, told by its device nodes: enough to
    tell apart the presets used here (the kill tests compare whole listings)."""
    if sorted(os.listdir(tree)) != sorted([MARKER, "dev", "sys"]):
        return False
    if (tree / MARKER).read_bytes() != MARKER_LINE:
        return False
    nodes = {name for name, *_ in view.dev_nodes()}
    on_disk = {
        os.path.relpath(os.path.join(root, f), tree / "dev")
        for root, _, files in os.walk(tree / "dev")
        for f in files
    }
    return nodes == on_disk


@pytest.fixture
def mixed_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    state = str(tmp_path / "state")
    rc, _, _ = fs(["init", "--state", state, "-p", "qemu-mixed"], capsys)
    assert rc == 0
    return state


# == refusals ===================================================================================


def test_refuses_an_empty_path(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mixed_state: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path / "state")
    before = snapshot(tmp_path)
    for argv in (["export", ""], ["export", "-f", ""]):
        rc, out, err = fs([*argv, "--state", mixed_state], capsys)
        assert rc == 1 and out == ""
        assert one_line(err) == "fake-sysfs: refusing to export to an empty path\n"
    with pytest.raises(StateError, match="empty path"):
        export(shared_view("qemu-pmem"), "", force=True)
    assert snapshot(tmp_path) == before


def test_refuses_the_root(mixed_state: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = sorted(os.listdir("/"))
    for argv in (["export", "/"], ["export", "-f", "/"], ["export", "-f", "/tmp/../"]):
        rc, _, err = fs([*argv, "--state", mixed_state], capsys)
        assert rc == 1
        assert "it is the root directory" in one_line(err)
    with pytest.raises(StateError, match="root directory"):
        export(shared_view("qemu-pmem"), "/", force=True)
    assert sorted(os.listdir("/")) == before
    assert os.path.isdir("/sys") and os.path.isdir("/dev")


@pytest.mark.parametrize("mount", ["/proc", "/dev/shm"])
def test_refuses_a_mount_point(
    mount: str, mixed_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if not os.path.ismount(mount):
        pytest.skip(f"{mount} is not a mount point here")
    assert os.stat(mount).st_dev != os.stat(os.path.dirname(mount)).st_dev
    parent, name = os.path.split(mount)
    ours_before = leftovers(Path(parent))
    rc, _, err = fs(["export", "-f", mount, "--state", mixed_state], capsys)
    assert rc == 1
    assert one_line(err) == f"fake-sysfs: refusing to export to {mount}: it is a mount point\n"
    with pytest.raises(StateError, match="mount point"):
        export(shared_view("qemu-pmem"), mount, force=True)
    assert not os.path.lexists(os.path.join(mount, MARKER))
    assert leftovers(Path(parent)) == ours_before
    assert not [n for n in os.listdir(parent) if n.startswith(f".{name}.fake-sysfs-")]


def test_refuses_a_mount_inside_an_earlier_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bind mount of the same filesystem shows only in the mount table: it is read there.
    out = tmp_path / "tree"
    export(shared_view("qemu-pmem"), out, char_devices=False)
    before = snapshot(out)
    monkeypatch.setattr(export_module, "_mounts_at_or_below", lambda path: [f"{path}/sys"])
    with pytest.raises(StateError, match=re.escape(f"{os.path.realpath(out)}/sys is a mount")):
        export(shared_view("qemu-mixed"), out, force=True, char_devices=False)
    assert snapshot(out) == before and leftovers(tmp_path) == []


def test_refuses_a_regular_file(
    tmp_path: Path, mixed_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "file"
    target.write_text("mine\n")
    for force in ([], ["-f"]):
        rc, _, err = fs(["export", *force, str(target), "--state", mixed_state], capsys)
        assert rc == 1
        assert one_line(err).endswith(": it exists and is not a directory\n")
    assert target.read_text() == "mine\n" and leftovers(tmp_path) == []


def test_refuses_a_foreign_directory_even_with_force(
    tmp_path: Path, mixed_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "mine"
    (target / "sys").mkdir(parents=True)
    (target / "keep.txt").write_text("keep")
    before = snapshot(target)
    for force in ([], ["-f"]):
        rc, _, err = fs(["export", *force, str(target), "--state", mixed_state], capsys)
        assert rc == 1
        assert "is not empty and holds no earlier export" in one_line(err)
    assert snapshot(target) == before and leftovers(tmp_path) == []


def test_refuses_an_unmarked_tree_of_sys_and_dev(tmp_path: Path) -> None:
    # What exports looked like before they were marked; also what a user's own copy of /sys
    # and /dev looks like: not replaced.
    target = tmp_path / "old"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    (target / MARKER).unlink()
    before = snapshot(target)
    with pytest.raises(StateError, match="no export marker") as info:
        export(shared_view("qemu-pmem"), target, force=True, char_devices=False)
    assert "\n" not in str(info.value)
    assert snapshot(target) == before and leftovers(tmp_path) == []


def test_refuses_an_export_holding_other_files(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    (target / "notes.txt").write_text("mine")
    before = snapshot(target)
    with pytest.raises(StateError, match="holds an earlier export and other files"):
        export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert snapshot(target) == before


def test_refuses_a_marker_that_is_a_link(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    target.mkdir()
    (tmp_path / "real-marker").write_bytes(MARKER_LINE)
    (target / MARKER).symlink_to(tmp_path / "real-marker")
    with pytest.raises(StateError, match="holds no earlier export"):
        export(shared_view("qemu-pmem"), target, force=True, char_devices=False)


def test_an_earlier_export_needs_force(
    tmp_path: Path, mixed_state: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "tree"
    rc, out, _ = fs(["export", str(target), "--state", mixed_state], capsys)
    assert rc == 0 and out == f"exported {QEMU_MIXED_ENTRIES} entries to {target}\n"
    before = snapshot(target)
    rc, _, err = fs(["export", str(target), "--state", mixed_state], capsys)
    assert rc == 1
    assert (
        one_line(err)
        == f"fake-sysfs: {target} holds an earlier export; use --force to replace it\n"
    )
    assert snapshot(target) == before
    rc, _, _ = fs(["export", "-f", str(target), "--state", mixed_state], capsys)
    assert rc == 0 and snapshot(target) == before and leftovers(tmp_path) == []


def test_refuses_a_missing_parent_and_a_dangling_link(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="parent directory does not exist"):
        export(shared_view("qemu-pmem"), tmp_path / "no" / "tree")
    assert not (tmp_path / "no").exists()
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(StateError, match="dangling symbolic link"):
        export(shared_view("qemu-pmem"), tmp_path / "dangling")
    assert not (tmp_path / "nowhere").exists()


def test_refusals_come_before_the_state_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No state at all: the destination is still what is reported.
    rc, _, err = fs(["export", "/", "--state", str(tmp_path / "none")], capsys)
    assert rc == 1 and "root directory" in one_line(err)
    assert not (tmp_path / "none").exists()


# == what is accepted, and how it is put in place ===============================================


def test_an_empty_directory_is_replaced_keeping_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir(mode=0o750)
    os.chmod(target, 0o750)
    count = export(shared_view("qemu-mixed"), target, char_devices=False)
    assert count == QEMU_MIXED_ENTRIES
    assert is_export_of(target, shared_view("qemu-mixed"))
    assert stat.S_IMODE(target.stat().st_mode) == 0o750
    assert leftovers(tmp_path) == []


def test_the_marker_is_written_and_the_top_gets_mkdirs_mode(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    old_mask = os.umask(0o027)
    try:
        export(shared_view("qemu-pmem"), target, char_devices=False)
    finally:
        os.umask(old_mask)
    assert (target / MARKER).read_bytes() == b"fake-sysfs export format 1\n"
    assert stat.S_ISREG((target / MARKER).lstat().st_mode)
    assert sorted(os.listdir(target)) == [MARKER, "dev", "sys"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o750


def test_a_link_to_a_directory_has_its_target_replaced(tmp_path: Path) -> None:
    real = tmp_path / "real"
    export(shared_view("qemu-pmem"), real, char_devices=False)
    (tmp_path / "link").symlink_to("real")
    export(shared_view("qemu-mixed"), tmp_path / "link", force=True, char_devices=False)
    assert (tmp_path / "link").is_symlink()
    assert is_export_of(real, shared_view("qemu-mixed"))
    assert leftovers(tmp_path) == []


def test_force_swaps_in_one_exchange(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    old_inode = target.stat().st_ino
    calls: list[tuple[str, str, int]] = []
    real = export_module._renameat2

    def spy(src: str, dst: str, flags: int) -> None:
        calls.append((src, dst, flags))
        # At the exchange the new tree must be complete: marker and all.
        if flags == export_module._RENAME_EXCHANGE:
            assert is_export_of(Path(src), shared_view("qemu-mixed"))
            assert is_export_of(Path(dst), shared_view("qemu-pmem"))
        real(src, dst, flags)

    monkeypatch.setattr(export_module, "_renameat2", spy)
    export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    sibling = str(tmp_path / f".tree.fake-sysfs-new.{os.getpid()}")
    assert calls == [(sibling, str(target), export_module._RENAME_EXCHANGE)]
    assert target.stat().st_ino != old_inode
    assert is_export_of(target, shared_view("qemu-mixed"))
    assert leftovers(tmp_path) == []


def test_a_new_directory_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = export_module._renameat2

    def spy(src: str, dst: str, flags: int) -> None:
        calls.append(flags)
        real(src, dst, flags)

    monkeypatch.setattr(export_module, "_renameat2", spy)
    export(shared_view("qemu-pmem"), tmp_path / "tree", char_devices=False)
    assert calls == [export_module._RENAME_NOREPLACE]
    assert is_export_of(tmp_path / "tree", shared_view("qemu-pmem"))


def no_renameat2(src: str, dst: str, flags: int) -> None:
    raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), src, None, dst)


def test_without_exchange_two_renames_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export_module, "_renameat2", no_renameat2)
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert is_export_of(target, shared_view("qemu-mixed"))
    assert leftovers(tmp_path) == []


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    with pytest.raises(ProcessLookupError):
        os.kill(child.pid, 0)
    return child.pid


def test_a_kill_between_the_two_renames_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The state such a kill leaves: DIR absent, the old tree and the complete new one beside.
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    pid = dead_pid()
    target.rename(tmp_path / f".tree.fake-sysfs-old.{pid}")
    export(shared_view("qemu-mixed"), tmp_path / "new", char_devices=False)
    (tmp_path / "new").rename(tmp_path / f".tree.fake-sysfs-new.{pid}")
    monkeypatch.setattr(export_module, "_renameat2", no_renameat2)
    # The next export puts the old tree back first: then it is an earlier export.
    with pytest.raises(StateError, match="use --force"):
        export(shared_view("qemu-mixed"), target, char_devices=False)
    assert is_export_of(target, shared_view("qemu-pmem"))
    export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert is_export_of(target, shared_view("qemu-mixed"))
    assert leftovers(tmp_path) == []


def test_what_was_swapped_out_is_checked_before_it_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone writes into DIR after it was checked: the swap is undone, their file kept.
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    real_build = export_module._build

    def build_then_meddle(*args: object, **kwargs: object) -> int:
        count = real_build(*args, **kwargs)  # type: ignore[arg-type]
        (target / "theirs.txt").write_text("theirs")
        return count

    monkeypatch.setattr(export_module, "_build", build_then_meddle)
    with pytest.raises(StateError, match="changed during the export"):
        export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert (target / "theirs.txt").read_text() == "theirs"
    (target / "theirs.txt").unlink()
    assert is_export_of(target, shared_view("qemu-pmem"))
    assert leftovers(tmp_path) == []


def test_leftovers_of_dead_exports_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    export(shared_view("qemu-pmem"), target, char_devices=False)
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "file").write_text("alive")
    pid = dead_pid()
    dead_new = tmp_path / f".tree.fake-sysfs-new.{pid}"
    (dead_new / "sys" / "deep").mkdir(parents=True)
    (dead_new / "sys" / "link").symlink_to(canary)
    os.chmod(dead_new / "sys", 0o500)
    dead_old = tmp_path / f".tree.fake-sysfs-old.{pid}"
    dead_old.mkdir()
    live = tmp_path / ".tree.fake-sysfs-new.1"  # init's: running
    live.mkdir()
    other = tmp_path / f".other.fake-sysfs-new.{pid}"  # another DIR's
    other.mkdir()
    export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert leftovers(tmp_path) == sorted([live.name, other.name])
    assert (canary / "file").read_text() == "alive"
    assert is_export_of(target, shared_view("qemu-mixed"))


def make_read_only(tree: Path, canary: Path) -> None:
    """Read-only and unreadable directories in an export, and links out of it."""
    (tree / "sys" / "to-canary").symlink_to(canary)
    (tree / "dev" / "to-canary-file").symlink_to(canary / "file")
    for path in sorted(tree.rglob("*"), reverse=True):
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o555)
    os.chmod(tree / "sys" / "bus", 0o000)
    os.chmod(tree / "sys", 0o500)
    os.chmod(tree / "dev", 0o100)


def test_force_over_read_only_directories(tmp_path: Path) -> None:
    target = tmp_path / "tree"
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "file").write_text("alive")
    os.chmod(canary, 0o555)
    export(shared_view("qemu-pmem"), target, char_devices=False)
    make_read_only(target, canary)
    export(shared_view("qemu-mixed"), target, force=True, char_devices=False)
    assert is_export_of(target, shared_view("qemu-mixed"))
    assert leftovers(tmp_path) == []
    assert stat.S_IMODE(canary.stat().st_mode) == 0o555
    assert (canary / "file").read_text() == "alive"


def as_unprivileged(action: Callable[[], object]) -> None:
    """Run ``action`` as a user permissions apply to: in a forked child as nobody when root
    (root ignores directory modes, which would make the test prove nothing)."""
    if os.geteuid() != 0:
        action()
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        code = 0
        try:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            action()
        except BaseException as e:
            os.write(write_end, f"{type(e).__name__}: {e}".encode())
            code = 1
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        message = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, message


@contextlib.contextmanager
def shared_tmp() -> Iterator[Path]:
    # pytest's tmp_path sits in a 0700 directory of root's: nobody could not reach it.
    base = Path(tempfile.mkdtemp(prefix="pycxl-export-"))
    try:
        os.chmod(base, 0o755)
        yield base
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                path = os.path.join(root, d)
                if not os.path.islink(path):
                    os.chmod(path, 0o700)
        shutil.rmtree(base)


def test_force_over_read_only_directories_unprivileged() -> None:
    view_old, view_new = shared_view("qemu-pmem"), shared_view("qemu-mixed")
    with shared_tmp() as base:
        work = base / "work"
        work.mkdir()
        canary = base / "canary"
        canary.mkdir()
        (canary / "file").write_text("alive")
        os.chmod(canary, 0o555)
        target = work / "tree"
        export(view_old, target, char_devices=False)
        make_read_only(target, canary)
        if os.geteuid() == 0:
            # All of it nobody's, the canary too: were a link followed, nobody could change
            # or delete what it points to, and the test would see it.
            for top in (work, canary):
                for root, dirs, files in os.walk(top):
                    for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                        os.lchown(name, NOBODY, NOBODY)
        # Whatever the export imports or computes for the first time happens here, not in a
        # child that may not read the interpreter's files.
        export(view_new, base / "warm", char_devices=False)
        as_unprivileged(lambda: export(view_new, target, force=True, char_devices=False))
        assert is_export_of(target, view_new)
        assert leftovers(work) == []
        assert stat.S_IMODE(canary.stat().st_mode) == 0o555
        assert (canary / "file").read_text() == "alive"


# == SIGKILL at random moments ==================================================================


def listing(tree: Path) -> Result:
    """What ``cxl list -vvv`` shows of an exported tree: equal listings, equal trees."""
    return run_cxl(
        ["list", "-vvv"], {"PYCXL_SYSFS_ROOT": str(tree / "sys"), "PYCXL_DEV_ROOT": None}
    )


def init_state(path: Path, preset: str) -> Path:
    subprocess.run(
        [str(FAKE_SYSFS), "init", "-p", preset, "--state", str(path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


def export_command(state: Path, target: Path, force: bool) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(FAKE_SYSFS), "export", *(["-f"] if force else []), str(target)],
        env={**os.environ, "FAKE_SYSFS_STATE": str(state)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def watched_run(state: Path, target: Path, force: bool) -> tuple[float, float]:
    """Run an export to completion, noting when its sibling appeared and when it ended
    (seconds from the start): between the two is what the kills aim at."""
    start = time.monotonic()
    proc = export_command(state, target, force)
    sibling = f".{target.name}.fake-sysfs-new.{proc.pid}"
    appeared = None
    while proc.poll() is None:
        if appeared is None and os.path.lexists(target.parent / sibling):
            appeared = time.monotonic() - start
        time.sleep(0.002)
    ended = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else b""
    if proc.stderr:
        proc.stderr.close()
    return (appeared if appeared is not None else ended * 0.5), ended


def kill_at(state: Path, target: Path, force: bool, delay: float) -> bool:
    """Start an export, SIGKILL it ``delay`` seconds after it made its sibling (its start
    is the same every time: loading the state). Returns whether it was killed at work,
    before it was done."""
    proc = export_command(state, target, force)
    sibling = target.parent / f".{target.name}.fake-sysfs-new.{proc.pid}"
    while not os.path.lexists(sibling) and proc.poll() is None:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)  # reaped: its PID is no longer alive for the next export
    if proc.stderr:
        proc.stderr.close()
    killed = proc.returncode == -signal.SIGKILL
    return killed and any(name.endswith(f".{proc.pid}") for name in leftovers(target.parent))


def kill_trials(
    tmp_path: Path, presets: tuple[str, str], trials: int, force: bool, seed: int
) -> None:
    """``trials`` exports to one DIR, each killed at a random moment of its work (building,
    swapping, deleting the old tree); after each, DIR must be absent (if it never existed)
    or one complete tree."""
    states = [init_state(tmp_path / f"state-{p}", p) for p in presets]
    refs = []
    work = 0.0
    for i, state in enumerate(states):
        ref = tmp_path / f"ref{i}"
        watched_run(state, ref, force=False)
        # Timed on a second run: the first one's start is slower (cold caches).
        begin, end = watched_run(state, ref, force=True)
        work = max(work, end - begin)
        refs.append(listing(ref))
    assert refs[0] != refs[1] and refs[0].rc == 0

    target = tmp_path / "work" / "tree"
    target.parent.mkdir()
    if force:
        watched_run(states[0], target, force=False)
    current = 0 if force else None
    rng = random.Random(seed)
    killed_midway = 0
    for trial in range(trials):
        wanted = (current + 1) % 2 if current is not None else trial % 2
        # Stratified over the work, and a little past its end.
        delay = 1.2 * work * (trial + rng.random()) / trials
        killed_midway += kill_at(states[wanted], target, force, delay)
        if not os.path.lexists(target):
            assert not force, f"trial {trial}: DIR vanished (delay {delay:.3f}s)"
            continue
        got = listing(target)
        assert got in (refs[0], refs[1]), f"trial {trial}: incomplete tree (delay {delay:.3f})"
        assert sorted(os.listdir(target)) == [MARKER, "dev", "sys"]
        now = refs.index(got)
        assert now in ((current, wanted) if current is not None else (wanted,))
        if force:
            current = now
        else:
            shutil.rmtree(target)  # the next trial exports into a DIR that does not exist
    # Some kills must have hit an export at work, or nothing was shown.
    assert killed_midway >= 1

    final = 1 if current == 0 else 0
    proc = export_command(states[final], target, force=True)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert listing(target) == refs[final]
    assert leftovers(target.parent) == []


@pytest.mark.skipif(
    not FAKE_SYSFS.exists(), reason="the fake-sysfs console script is not installed"
)
def test_sigkill_during_an_export_to_a_new_directory(tmp_path: Path) -> None:
    kill_trials(tmp_path, ("qemu-mixed", "qemu-pmem"), trials=8, force=False, seed=1)


@pytest.mark.skipif(
    not FAKE_SYSFS.exists(), reason="the fake-sysfs console script is not installed"
)
def test_sigkill_during_export_force_over_an_old_tree(tmp_path: Path) -> None:
    kill_trials(tmp_path, ("qemu-mixed", "qemu-pmem"), trials=10, force=True, seed=2)


@pytest.mark.skipif(
    not FAKE_SYSFS.exists(), reason="the fake-sysfs console script is not installed"
)
def test_sigkill_during_export_force_of_cxl_test(tmp_path: Path) -> None:
    kill_trials(tmp_path, ("cxl_test", "cxl_test-xor"), trials=4, force=True, seed=3)
