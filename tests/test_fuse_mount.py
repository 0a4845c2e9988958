"""The FUSE frontend: `fake-sysfs mount`, `umount` and `run` against the kernfs view.

Every answer through the mount (listing, lstat, stat, readlink, read, errno) is compared with
the View, the reference, for every entry of the cxl_test tree; stores and their errno as a
shell sees them; a commit by another process seen at once; the upstream `cxl` binary run over
the mount through `fake-sysfs run` against pycxl on the same state (modulo the documented
v76.1 differences, tests/compat_v76.py). Needs root, /dev/fuse, libfuse 3 and mfusepy: skips
without them, except under CI=true, where a missing FUSE fails.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fake_sysfs.errors import KernfsError
from fake_sysfs.frontends.fuse import Live, SysfsOperations
from fake_sysfs.kernfs.view import View
from fake_sysfs.store import StateStore
from tests import compat_v76
from tests.helpers import run_cxl
from tests.oracle import require_oracle

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
#: Every command here is bounded; the slowest (a listing of cxl_test) takes seconds.
TIMEOUT = 120


def fuse_unavailable() -> str | None:
    """Why FUSE cannot be tested here, or None."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    if os.geteuid() != 0:
        return "the FUSE tests need root (mount option dev, mount namespaces)"
    if shutil.which("fusermount3") is None:
        return "fusermount3 is not installed (apt-get install fuse3)"
    try:
        import mfusepy  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return "the Python binding mfusepy is not installed"
    except OSError as e:
        return f"libfuse cannot be loaded: {e}"
    return None


def require_fuse() -> None:
    """Skip where FUSE cannot be used; under CI=true, fail instead."""
    reason = fuse_unavailable()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"FUSE required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def fuse() -> None:
    require_fuse()


def fake_sysfs(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*FAKE_SYSFS, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def init(state: Path, platform: str) -> None:
    fake_sysfs("init", "--force", "--platform", platform, "--state", str(state))


def our_mounts() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if " - fuse.fake-sysfs " in line]


def mount(state: Path, mnt: Path) -> int:
    """`fake-sysfs mount`; the daemon's pid."""
    mnt.mkdir(exist_ok=True)
    out = fake_sysfs("mount", "--state", str(state), str(mnt)).stdout
    assert out.startswith(f"mounted {state} on {mnt} (pid ")
    return int(out.rsplit("(pid ", 1)[1].rstrip(")\n"))


def unmount_quietly(mnt: Path) -> None:
    if str(mnt) not in our_mounts():
        return
    if fake_sysfs("umount", str(mnt), check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _zombie(pid):
            return True
        time.sleep(0.02)
    return False


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture(scope="module")
def cxl_test(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(state, mount point) of a mounted cxl_test platform."""
    require_fuse()
    top = tmp_path_factory.mktemp("fuse-cxl_test")
    state, mnt = top / "state", top / "mnt"
    init(state, "cxl_test")
    mount(state, mnt)
    try:
        yield state, mnt
    finally:
        unmount_quietly(mnt)


def reference(state: Path) -> View:
    kernel, _ = StateStore(state).load()
    return View(kernel)


# -- the operations, without a mount (no FUSE needed) ----------------------------------------


def operations(state: Path) -> SysfsOperations:
    return SysfsOperations(Live(StateStore(state)))


def errno_of(call: object, *args: object) -> int | None:
    try:
        call(*args)  # type: ignore[operator]
    except OSError as e:
        return e.errno
    return None


def test_operations_answer_as_the_view(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state, "qemu-mixed")
    ops, view = operations(state), reference(state)
    assert ops.readdir("/", 0) == [".", "..", "sys", "dev", "proc"]
    for directory in ("/sys", "/sys/bus/cxl/devices", "/sys/bus/cxl/devices/mem0"):
        assert ops.readdir(directory, 0) == [".", "..", *view.listdir(directory)]
    for path in ("/sys/bus", "/sys/bus/cxl/devices/mem0", "/sys/bus/cxl/flush"):
        expected = view.lstat(path)
        got = ops.getattr(path)
        assert (got["st_mode"], got["st_size"], got["st_uid"]) == (expected.mode, expected.size, 0)
    assert ops.readlink("/sys/bus/cxl/devices/mem0") == view.readlink("/sys/bus/cxl/devices/mem0")
    nodes = view.dev_nodes()
    assert ops.readdir("/dev/cxl", 0)[2:] == [n[4:] for n, *_ in nodes if n.startswith("cxl/")]
    name, major, minor, _ = nodes[0]
    assert ops.getattr(f"/dev/{name}")["st_rdev"] == os.makedev(major, minor)
    # An attribute opened, read as a whole, then at its end.
    path = "/sys/bus/cxl/devices/mem0/serial"
    fh = ops.open(path, os.O_RDONLY)
    value = view.read(path)
    assert ops.read(path, 4096, 0, fh) == value
    assert ops.read(path, 4096, len(value), fh) == b""
    assert ops.release(path, fh) == 0
    # Errors as sysfs gives them.
    assert errno_of(ops.getattr, "/sys/nope") == errno.ENOENT
    assert errno_of(ops.getattr, "/dev/cxl/mem99") == errno.ENOENT
    assert errno_of(ops.readlink, "/sys/bus") == errno.EINVAL
    assert errno_of(ops.open, "/sys/bus/cxl/flush", os.O_RDONLY) == errno.EACCES
    assert errno_of(ops.open, path, os.O_WRONLY) == errno.EACCES
    assert errno_of(ops.create, "/sys/bus/new", 0o644, os.O_WRONLY) == errno.EACCES
    assert errno_of(ops.mkdir, "/sys/bus/new", 0o755) == errno.EPERM
    # Stores: O_TRUNC accepted, one store per write, the kernel's errno.
    fh = ops.open("/sys/bus/cxl/flush", os.O_WRONLY | os.O_TRUNC)
    assert ops.truncate("/sys/bus/cxl/flush", 0, fh) == 0
    assert ops.write("/sys/bus/cxl/flush", b"1\n", 0, fh) == 2
    assert errno_of(ops.write, "/sys/bus/cxl/flush", b"bogus", 0, fh) == errno.EINVAL
    ops.release("/sys/bus/cxl/flush", fh)


def test_operations_follow_commits_of_other_processes(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state, "qemu-mixed")
    ops = operations(state)
    assert ops.readdir("/dev/cxl", 0) == [".", "..", "mem0", "mem1", "mem2", "mem3"]
    held = ops.live.held_generation()
    init(state, "qemu-pmem")
    assert ops.readdir("/dev/cxl", 0) == [".", "..", "mem0"]
    assert errno_of(ops.getattr, "/sys/bus/cxl/devices/mem1") == errno.ENOENT
    assert ops.live.held_generation() not in (None, held)
    # A state that cannot be used is EIO, not a crash of the daemon.
    junk = tmp_path / "junk"
    junk.write_text("not a state")
    os.replace(junk, state / "state.json")
    assert errno_of(ops.getattr, "/sys/bus") == errno.EIO


def test_a_failed_lookup_does_not_change_a_listing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state, "qemu-mixed")
    ops = operations(state)
    switch_decoder = next(  # a decoder without ``mode``: only endpoint decoders have one
        f"/sys/bus/cxl/devices/{name}"
        for name in reference(state).listdir("/sys/bus/cxl/devices")
        if name.startswith("decoder")
        and not name.startswith("decoder0.")
        and "mode" not in reference(state).listdir(f"/sys/bus/cxl/devices/{name}")
    )
    assert errno_of(ops.getattr, f"{switch_decoder}/mode") == errno.ENOENT
    assert "mode" not in ops.readdir(switch_decoder, 0)


# -- life cycle -------------------------------------------------------------------------------


def test_mount_umount_lifecycle(fuse: None, tmp_path: Path) -> None:
    state, mnt = tmp_path / "state", tmp_path / "mnt"
    init(state, "qemu-pmem")
    pid = mount(state, mnt)
    try:
        assert str(mnt) in our_mounts()
        assert sorted(os.listdir(mnt)) == ["dev", "proc", "sys"]
        assert os.path.isdir(mnt / "sys" / "bus" / "cxl")
        # Another mount of the same path is not ours to take over; umount refuses others.
        assert fake_sysfs("umount", str(tmp_path), check=False).returncode == 1
    finally:
        out = fake_sysfs("umount", str(mnt)).stdout
    assert out == f"unmounted {mnt}\n"
    assert str(mnt) not in our_mounts()
    assert os.listdir(mnt) == []
    assert wait_gone(pid), "the daemon outlived its mount"


def test_mount_foreground(fuse: None, tmp_path: Path) -> None:
    state, mnt = tmp_path / "state", tmp_path / "mnt"
    init(state, "qemu-pmem")
    mnt.mkdir()
    proc = subprocess.Popen(
        [*FAKE_SYSFS, "mount", "--foreground", "--state", str(state), str(mnt)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"mounted {state} on {mnt}\n"  # only once ready
        assert os.listdir(mnt / "dev" / "cxl") == ["mem0"]
        fake_sysfs("umount", str(mnt))
        assert proc.wait(timeout=TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        unmount_quietly(mnt)


def test_mount_refuses_bad_arguments(fuse: None, tmp_path: Path) -> None:
    proc = fake_sysfs("mount", "--state", str(tmp_path / "none"), str(tmp_path), check=False)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    init(tmp_path / "state", "qemu-pmem")
    proc = fake_sysfs(
        "mount", "--state", str(tmp_path / "state"), str(tmp_path / "nodir"), check=False
    )
    assert proc.returncode == 1 and "is not a directory" in proc.stderr
    # A state that cannot be loaded is refused with its reason before anything is mounted.
    (tmp_path / "state" / "state.json").write_text("{}")
    (tmp_path / "mnt").mkdir()
    proc = fake_sysfs(
        "mount", "--state", str(tmp_path / "state"), str(tmp_path / "mnt"), check=False
    )
    assert proc.returncode == 1 and "state.json is unusable" in proc.stderr
    assert not [m for m in our_mounts() if m.startswith(str(tmp_path))]


def test_killed_daemon_leaves_a_mount_umount_cleans(fuse: None, tmp_path: Path) -> None:
    state, mnt = tmp_path / "state", tmp_path / "mnt"
    init(state, "qemu-pmem")
    pid = mount(state, mnt)
    try:
        os.kill(pid, signal.SIGKILL)
        assert wait_gone(pid)
        with pytest.raises(OSError) as info:
            os.listdir(mnt)
        assert info.value.errno == errno.ENOTCONN
        assert str(mnt) in our_mounts()
        fake_sysfs("umount", str(mnt))
        assert str(mnt) not in our_mounts()
        assert os.listdir(mnt) == []
    finally:
        unmount_quietly(mnt)


# -- the tree, entry by entry -----------------------------------------------------------------


def _outcome(call: object, *args: object) -> object:
    """What a call returns, or the errno it fails with."""
    try:
        return call(*args)  # type: ignore[operator]
    except OSError as e:
        return ("errno", e.errno)


def _read_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _view_read(view: View, path: str) -> object:
    try:
        return view.read(path)
    except KernfsError as e:
        return ("errno", e.errno)


def test_every_entry_matches_the_view(fuse: None, cxl_test: tuple[Path, Path]) -> None:
    """ls (kernfs order), lstat, stat, readlink and cat through the mount give what the View
    gives, for every entry of the cxl_test tree."""
    state, mnt = cxl_test
    view = reference(state)
    checked = 0
    pending = ["/sys"]
    while pending:
        directory = pending.pop()
        names = view.listdir(directory)
        assert os.listdir(f"{mnt}{directory}") == names, directory
        for name in names:
            path = f"{directory}/{name}"
            here = Path(f"{mnt}{path}")
            expected = view.lstat(path)
            st = os.lstat(here)
            assert (st.st_mode, st.st_size, st.st_uid) == (expected.mode, expected.size, 0), path
            if stat.S_ISLNK(expected.mode):
                assert os.readlink(here) == view.readlink(path), path
                target = _outcome(view.stat, path)
                got = _outcome(os.stat, here)
                if isinstance(target, tuple):
                    assert got == target, path
                else:
                    assert isinstance(got, os.stat_result)
                    assert got.st_mode == target.mode, path  # type: ignore[attr-defined]
            elif stat.S_ISDIR(expected.mode):
                pending.append(path)
            else:
                assert _outcome(_read_file, here) == _view_read(view, path), path
            checked += 1
    assert checked > 3000  # cxl_test is not a trivial tree


def test_dev_nodes_match_the_view(fuse: None, cxl_test: tuple[Path, Path]) -> None:
    state, mnt = cxl_test
    nodes = reference(state).dev_nodes()
    assert sorted(os.listdir(mnt / "dev" / "cxl")) == sorted(
        n.split("/", 1)[1] for n, *_ in nodes if n.startswith("cxl/")
    )
    for name, major, minor, _ in nodes:
        st = os.lstat(mnt / "dev" / name)
        assert stat.S_ISCHR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, name
        assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (major, minor), name
    # Mounted with `dev`: opening a node reaches the real kernel, where major 60 has no
    # driver.
    with pytest.raises(OSError) as info:
        os.open(mnt / "dev" / "cxl" / "mem0", os.O_RDWR)
    assert info.value.errno == errno.ENXIO


# -- errno of reads and stores ----------------------------------------------------------------


def sh(script: str) -> subprocess.CompletedProcess[str]:
    """bash: its echo reports the errno of a failed write (dash says "I/O error")."""
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )


def test_read_errors(fuse: None, cxl_test: tuple[Path, Path]) -> None:
    _, mnt = cxl_test
    cxl = mnt / "sys" / "bus" / "cxl"
    # kernfs refuses to open an attribute without a show for reading, even for root.
    proc = sh(f"cat {cxl}/flush")
    assert proc.returncode == 1 and "Permission denied" in proc.stderr
    with pytest.raises(PermissionError):
        os.open(cxl / "flush", os.O_RDONLY)
    proc = sh(f"cat {cxl}/devices/mem0/nonexistent")
    assert proc.returncode == 1 and "No such file or directory" in proc.stderr
    # A read-only attribute cannot be opened for writing (EACCES at open, as kernfs).
    proc = sh(f"echo 1 > {cxl}/devices/mem0/serial")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr
    # The sysfs tree can be neither created in nor removed from.
    proc = sh(f"echo 1 > {cxl}/newfile")
    assert proc.returncode != 0 and "Permission denied" in proc.stderr
    with pytest.raises(PermissionError):
        os.mkdir(cxl / "newdir")
    with pytest.raises(PermissionError):
        os.unlink(cxl / "flush")


def test_read_returns_the_real_length(fuse: None, cxl_test: tuple[Path, Path]) -> None:
    """Attributes report 4096 bytes, yet a read returns the value (direct I/O), and a read
    from offset 0 shows the attribute again."""
    state, mnt = cxl_test
    path = "/sys/bus/cxl/devices/mem0/serial"
    expected = reference(state).read(path)
    fd = os.open(f"{mnt}{path}", os.O_RDONLY)
    try:
        assert os.fstat(fd).st_size == 4096
        assert os.read(fd, 4096) == expected
        assert os.read(fd, 4096) == b""
        assert os.pread(fd, 3, 0) == expected[:3]
        assert os.pread(fd, 4096, 2) == expected[2:]
    finally:
        os.close(fd)


def test_stores_and_their_errno(fuse: None, cxl_test: tuple[Path, Path]) -> None:
    state, mnt = cxl_test
    cxl = mnt / "sys" / "bus" / "cxl"
    view = reference(state)
    decoder = next(
        f"/sys/bus/cxl/devices/{name}"
        for name in view.listdir("/sys/bus/cxl/devices")
        if name.startswith("decoder") and "mode" in view.listdir(f"/sys/bus/cxl/devices/{name}")
    )
    # `>` opens with O_TRUNC: accepted, then one store of exactly what echo writes.
    assert sh(f"echo 1 > {cxl}/flush").returncode == 0
    assert sh(f"echo add > {cxl}/devices/mem0/uevent").returncode == 0
    proc = sh(f"echo bogus > {cxl}/flush")
    assert proc.returncode == 1 and "Invalid argument" in proc.stderr
    # An endpoint decoder's mode is a store the kernel takes (a state transaction).
    proc = sh(f"echo pmem > {mnt}{decoder}/mode")
    assert proc.returncode == 0, proc.stderr
    assert _read_file(Path(f"{mnt}{decoder}/mode")) == b"pmem\n"
    proc = sh(f"echo bogus > {mnt}{decoder}/mode")
    assert proc.returncode == 1 and "Invalid argument" in proc.stderr
    fd = os.open(cxl / "devices" / "mem0" / "uevent", os.O_WRONLY | os.O_TRUNC)
    try:
        # Each write() is its own store: a good one, then a bad one on the same open file.
        assert os.write(fd, b"change") == 6
        with pytest.raises(OSError) as info:
            os.write(fd, b"bogus")
        assert info.value.errno == errno.EINVAL
        with pytest.raises(OSError) as info:
            os.write(fd, b"add" + b" " * 5000)  # more than a page: E2BIG, as kernfs
        assert info.value.errno == errno.E2BIG
        assert os.write(fd, b"") == 0
    finally:
        os.close(fd)
    fd = os.open(f"{mnt}{decoder}/mode", os.O_WRONLY)
    try:
        with pytest.raises(OSError) as info:
            os.write(fd, b"none")
        assert info.value.errno == errno.EINVAL
        assert os.write(fd, b"ram") == 3
    finally:
        os.close(fd)
    # The kernel refuses to sanitize a memdev that decodes a region (mem0 is in the auto
    # region), and a store not emulated yet refuses with EOPNOTSUPP.
    proc = sh(f"echo 1 > {cxl}/devices/mem0/security/sanitize")
    assert proc.returncode == 1 and "Device or resource busy" in proc.stderr
    proc = sh(f"echo 1 > {mnt}/sys/bus/platform/devices/cxl_mem.0/security_lock")
    assert proc.returncode == 1 and "Operation not supported" in proc.stderr


# -- one state, several processes ------------------------------------------------------------


def test_commit_by_another_process_is_seen_at_once(fuse: None, tmp_path: Path) -> None:
    state, mnt = tmp_path / "state", tmp_path / "mnt"
    init(state, "qemu-mixed")
    mount(state, mnt)
    try:
        assert sorted(os.listdir(mnt / "dev" / "cxl")) == ["mem0", "mem1", "mem2", "mem3"]
        before = os.listdir(mnt / "sys" / "bus" / "cxl" / "devices")
        init(state, "qemu-pmem")
        after = reference(state)
        assert os.listdir(mnt / "dev" / "cxl") == ["mem0"]
        assert os.listdir(mnt / "sys" / "bus" / "cxl" / "devices") == after.listdir(
            "/sys/bus/cxl/devices"
        )
        assert before != after.listdir("/sys/bus/cxl/devices")
        path = "/sys/bus/cxl/devices/mem0/pmem/size"
        assert _read_file(Path(f"{mnt}{path}")) == after.read(path)
        # ... and the other way: the in-process frontend sees the same state.
        fake_sysfs("reset", "--state", str(state))
        assert os.listdir(mnt / "dev" / "cxl") == ["mem0"]
    finally:
        unmount_quietly(mnt)


# -- fake-sysfs run ---------------------------------------------------------------------------


def run(state: Path, *command: str, tmp: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    """`fake-sysfs run`; with ``tmp``, its temporary directory is made there (TMPDIR), so
    what it leaves can be told from what concurrent test runs make."""
    env = dict(os.environ) if tmp is None else dict(os.environ, TMPDIR=str(tmp))
    return subprocess.run(
        [*FAKE_SYSFS, "run", "--state", str(state), "--", *command],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        env=env,
    )


def test_run_exit_status_and_cleanup(fuse: None, tmp_path: Path) -> None:
    state, tmp = tmp_path / "state", tmp_path / "tmp"
    init(state, "qemu-pmem")
    tmp.mkdir()
    assert run(state, "sh", "-c", "exit 7", tmp=tmp).returncode == 7
    assert run(state, "sh", "-c", "kill -TERM $$", tmp=tmp).returncode == 128 + signal.SIGTERM
    proc = run(state, "/nonexistent/program", tmp=tmp)
    assert proc.returncode == 127 and b"No such file or directory" in proc.stderr
    assert not [m for m in our_mounts() if m.startswith(str(tmp))], "a mount outlived its run"
    assert os.listdir(tmp) == [], "a temporary directory was left behind"


def test_run_replaces_sys_and_dev(fuse: None, tmp_path: Path) -> None:
    state = tmp_path / "state"
    init(state, "qemu-pmem")
    host_has_cxl = os.path.exists("/dev/cxl")
    script = (
        "ls /sys; ls /sys/bus/cxl/devices/mem0 >/dev/null; ls /dev/cxl; "
        "echo x > /dev/null && test -c /dev/null && test -c /dev/zero; "
        "echo 1 > /sys/bus/cxl/flush; cat /sys/bus/cxl/devices/mem0/serial; "
        'echo "state=$FAKE_SYSFS_STATE"'
    )
    proc = run(state, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    serial = reference(state).read("/sys/bus/cxl/devices/mem0/serial").decode()
    top = "block\nbus\nclass\ndev\ndevices\nkernel\nmodule\n"
    assert proc.stdout.decode() == f"{top}mem0\n{serial}state={state}\n"
    assert os.path.exists("/dev/cxl") == host_has_cxl  # nothing leaked into the host's /dev


@pytest.mark.parametrize("platform", ["cxl_test", "qemu-mixed"])
def test_run_upstream_cxl_list_matches_pycxl(fuse: None, platform: str, tmp_path: Path) -> None:
    require_oracle()
    state = tmp_path / "state"
    init(state, platform)
    # -vv: -vvv adds the device mailbox's data (-H -I -A), which upstream cannot get on the
    # mount (its ioctls need a character device) and pycxl gets from the emulated device.
    argv = ["-vv", "-BPEMDRT"]
    lines = compat_v76.command_lines(argv)
    assert lines is not None
    pycxl_argv, upstream_argv = lines
    upstream = run(state, "/usr/bin/cxl", "list", *upstream_argv)
    ours = run_cxl(
        ["list", *pycxl_argv], {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}
    )
    assert upstream.returncode == ours.rc == 0, upstream.stderr
    assert len(upstream.stdout) > 1000
    assert compat_v76.stdout(ours.out).decode() == upstream.stdout.decode()
    assert compat_v76.stderr(ours.err).decode() == upstream.stderr.decode()


def test_run_dev_is_live_and_keeps_the_hosts_entries(fuse: None, tmp_path: Path) -> None:
    """Under ``fake-sysfs run``, /dev follows the emulated kernel while the command runs (a
    devdax namespace's ``daxN.M`` appears as the namespace is made, its fsdax ``pmemN``
    disk as a plain file, never a block device of the host's numbering), and the host's
    own entries work through links (/dev/null, /dev/zero, /dev/fd)."""
    from tests.nd_helpers import pmem_state

    state = pmem_state(tmp_path, tmp_path)
    script = (
        "ls /dev | grep -c '^dax' ; "
        f"{sys.executable} -c 'from pycxl.ndctl.main import main; main()' "
        "create-namespace -m devdax -s 64M -r region0 >/dev/null && "
        "ls /dev | grep '^dax' ; "
        f"{sys.executable} -c 'from pycxl.ndctl.main import main; main()' "
        "create-namespace -m fsdax -s 64M -r region0 >/dev/null && "
        "for d in /dev/pmem*; do test -f $d && test ! -b $d && echo file $d; done; "
        "echo x > /dev/null && test -c /dev/null && test -L /dev/null && "
        "head -c 3 /dev/zero | od -An -tx1 && test -e /dev/fd/1 && echo host-ok"
    )
    proc = run(state, "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().split("\n")
    assert lines[0] == "0"
    assert lines[1].startswith("dax") and "." in lines[1]
    assert lines[2].startswith("file /dev/pmem")
    assert lines[-3:] == [" 00 00 00", "host-ok", ""]


def test_run_proc_iomem_is_the_emulated_map(fuse: None, tmp_path: Path) -> None:
    """/proc/iomem under ``fake-sysfs run`` is the emulated machine's (the cxl_test auto
    region's window, region and kmem System RAM), with addresses for root only, as procfs
    shows it."""
    from fake_sysfs.kernel.iomem import render

    state = tmp_path / "state"
    init(state, "cxl_test")
    kernel, _ = StateStore(state).load()
    proc = run(state, "cat", "/proc/iomem")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == render(kernel)
    assert "System RAM (kmem)" in proc.stdout.decode()
    if shutil.which("setpriv"):
        user = run(
            state,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "cat",
            "/proc/iomem",
        )
        assert user.returncode == 0, user.stderr
        assert user.stdout.decode() == render(kernel, privileged=False)


def test_a_media_error_listing_leaves_a_real_trees_tracing_as_found(
    cxl_test: tuple[Path, Path],
) -> None:
    """``cxl list -L`` needs the cxl_poison trace event. On a tree that is not pycxl's own
    emulated state (here the mount, read as a real /sys), it enables it in its private
    tracefs instance, as upstream does: the machine's global tracing is left alone."""
    state, mnt = cxl_test
    enable = mnt / "sys/kernel/tracing/events/cxl/cxl_poison/enable"
    tracing_on = mnt / "sys/kernel/tracing/tracing_on"
    before = (enable.read_bytes(), tracing_on.read_bytes())
    assert before[0] == b"0\n"
    ours = run_cxl(
        ["list", "-m", "mem0", "-L"],
        {"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": str(mnt / "sys")},
    )
    assert ours.rc == 0, ours.err
    assert (enable.read_bytes(), tracing_on.read_bytes()) == before
