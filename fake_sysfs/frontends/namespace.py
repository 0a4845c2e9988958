"""Running a program with a mounted emulation in place of the host's /sys and /dev.

The program runs in a private mount namespace, so nothing it sees is changed for anyone
else, and the namespace vanishes with it:

* /sys is the mount's ``sys`` directory, wholesale (the host's sysfs and everything mounted
  below it are covered).
* /dev is a new tmpfs holding every entry of the host's /dev, each bind-mounted (devices,
  and directories with what is mounted below them: pts, shm, mqueue), except the device
  families the emulation owns (cxl, dax, ndctl, nmem, pmem), plus the emulation's nodes
  bind-mounted from the mount's ``dev`` (``cxl/`` is the live directory). Nothing is
  ever created in the host's devtmpfs, which is shared by every namespace. Binds rather
  than mknod: they also work in a user namespace, where device nodes cannot be made.
* /lib/modules and /run/udev are hidden, as in the conformance oracle: nothing may be
  modprobed into the host kernel, or waited for from the host's udev, for a fake device.

As root only the mount namespace is new. Otherwise a user namespace comes with it, mapping
the user to itself (the program keeps its identity and loses the namespace's capabilities
at exec), where the kernel allows unprivileged user namespaces.

Python 3.11 has neither os.unshare nor os.mount: libc is called through ctypes.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator

from fake_sysfs.errors import FakeSysfsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fake_sysfs.store import StateStore

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

#: Exit status when the namespace cannot be set up (as env(1) and chroot(1) use 125).
SETUP_FAILED = 125
#: Hidden inside the namespace (an empty read-only tmpfs over each that exists).
HIDDEN = ("/lib/modules", "/run/udev")
#: Host /dev entries of the device families the emulated kernel owns: never shown, even
#: where the emulation has none (a real CXL host's nodes must not mix with emulated ones).
EMULATED_FAMILIES = ("cxl", "dax", "ndctl", "nmem", "pmem")

_libc: ctypes.CDLL | None = None


def _call(name: str, *args: object) -> None:
    """Call a libc function that returns -1 and sets errno on failure."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if getattr(_libc, name)(*args) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _b(path: str | None) -> bytes | None:
    return None if path is None else os.fsencode(path)


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    try:
        _call(
            "mount",
            _b(source),
            _b(target),
            _b(fstype),
            ctypes.c_ulong(flags),
            _b(data),
        )
    except OSError as e:
        raise OSError(e.errno, e.strerror, target) from None


def umount(target: str, flags: int = 0) -> None:
    try:
        _call("umount2", _b(target), ctypes.c_int(flags))
    except OSError as e:
        raise OSError(e.errno, e.strerror, target) from None


def unshare(flags: int) -> None:
    _call("unshare", ctypes.c_int(flags))


# -- inside the child ----------------------------------------------------------------------


def _enter_namespace() -> None:
    """A private mount namespace (with a user namespace when not root)."""
    if os.geteuid() == 0:
        unshare(CLONE_NEWNS)
    else:
        uid, gid = os.geteuid(), os.getegid()
        unshare(CLONE_NEWUSER | CLONE_NEWNS)
        # An unprivileged process may map only itself, and its groups stay as they are.
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1")):
            _write(f"/proc/self/{name}", text)
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    # Nothing mounted from now on propagates back to the host.
    mount(None, "/", None, MS_REC | MS_PRIVATE)


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _bind(source: str, target: str, required: bool) -> None:
    """Make ``target`` show ``source``: a symlink is copied, a directory bound with what is
    mounted below it, anything else (a device, a socket) bound onto an empty file."""
    try:
        st = os.lstat(source)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(source), target)
            return
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(target, 0o755)
            mount(source, target, None, MS_BIND | MS_REC)
            return
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        mount(source, target, None, MS_BIND)
    except OSError:
        if required:
            raise
        # A host entry that cannot be shown (one that vanished, one a user namespace may
        # not bind) is left out rather than failing the run.


def stage_dev(emulated: str, stage: str) -> None:
    """Build the new /dev on a tmpfs at ``stage``: the host's entries, except those of the
    emulated device families, and the emulation's (``emulated`` is the mount's dev)."""
    # mode 0755, not tmpfs's sticky 1777: in a sticky directory the kernel refuses O_CREAT
    # opens of device nodes owned by another user (`> /dev/null` as a user).
    mount("fake-sysfs-dev", stage, "tmpfs", MS_NOSUID, "mode=0755")
    own = set(os.listdir(emulated))
    for name in sorted(os.listdir("/dev")):
        if name not in own and not name.startswith(EMULATED_FAMILIES):
            _bind(os.path.join("/dev", name), os.path.join(stage, name), required=False)
    for name in sorted(own):
        _bind(os.path.join(emulated, name), os.path.join(stage, name), required=True)


def enter(mountpoint: str, stage: str) -> None:
    """Set up this process's namespace: the mount's sys and dev over /sys and /dev.
    ``stage`` is an empty directory outside /dev for building the new /dev."""
    _enter_namespace()
    stage_dev(os.path.join(mountpoint, "dev"), stage)
    mount(os.path.join(mountpoint, "sys"), "/sys", None, MS_BIND)
    mount(stage, "/dev", None, MS_MOVE)
    for hidden in HIDDEN:
        if os.path.isdir(hidden):
            mount("fake-sysfs-hidden", hidden, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV)


# -- the parent ----------------------------------------------------------------------------


def run_emulated(store: StateStore, argv: list[str]) -> int:
    """``fake-sysfs run``: mount the state, run ``argv`` over it, unmount; its exit status.
    The mount lives in a private temporary directory, only as long as the command. The
    command also gets FAKE_SYSFS_STATE, so pycxl's own tools act on the same state."""
    from fake_sysfs.frontends import fuse

    top = tempfile.mkdtemp(prefix="fake-sysfs-run-")
    mountpoint, stage = os.path.join(top, "mnt"), os.path.join(top, "dev")
    try:
        os.mkdir(mountpoint, 0o755)
        os.mkdir(stage, 0o755)
        daemon = fuse.spawn(store, mountpoint)
        try:
            env = dict(os.environ, FAKE_SYSFS_STATE=str(store.dir))
            return run(mountpoint, stage, argv, env)
        finally:
            with contextlib.suppress(FakeSysfsError):
                fuse.unmount(mountpoint)
            fuse.stop(daemon)
    finally:
        # rmdir only: never a recursive removal, which could reach into a live mount.
        for path in (mountpoint, stage, top):
            with contextlib.suppress(OSError):
                os.rmdir(path)


def run(mountpoint: str, stage: str, argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` in a namespace over ``mountpoint``; its exit status (128+N when killed
    by signal N; 125 when the namespace cannot be made; 126/127 when it cannot be run)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - replaced by the command
        _child(mountpoint, stage, argv, env)
    with _forwarding_signals(pid):
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(mountpoint: str, stage: str, argv: list[str], env: dict[str, str]) -> None:
    try:
        # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults, as from a shell.
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        try:
            enter(mountpoint, stage)
        except OSError as e:
            where = f" ({e.filename})" if e.filename else ""
            hint = "" if os.geteuid() == 0 else "; it needs root or unprivileged user namespaces"
            _die(SETUP_FAILED, f"cannot set up the namespace: {e.strerror}{where}{hint}")
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as e:
            _die(127 if isinstance(e, FileNotFoundError) else 126, f"{argv[0]}: {e.strerror}")
    finally:
        os._exit(SETUP_FAILED)


def _die(code: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, f"fake-sysfs: {message}\n".encode())
    os._exit(code)


@contextlib.contextmanager
def _forwarding_signals(pid: int) -> Iterator[None]:
    """While the command runs: ^C and ^\\ reach it from the terminal and must not stop us
    (we clean up after it); a SIGTERM or SIGHUP sent to us is passed on to it."""

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    saved = {
        signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
        signal.SIGQUIT: signal.signal(signal.SIGQUIT, signal.SIG_IGN),
        signal.SIGTERM: signal.signal(signal.SIGTERM, forward),
        signal.SIGHUP: signal.signal(signal.SIGHUP, forward),
    }
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)
