"""Running a program with a mounted emulation in place of the host's /sys and /dev.

The program runs in a private mount namespace, so nothing it sees is changed for anyone
else, and the namespace vanishes with it:

* /sys is the mount's ``sys`` directory, wholesale (the host's sysfs and everything mounted
  below it are covered).
* /dev is the mount's ``dev`` directory, live: the emulation's nodes appear and vanish as
  its kernel registers them (a ``daxN.M`` a namespace creates, a ``pmemN`` disk, served as
  a plain file). The host's /dev, with what is mounted below it (pts, shm, mqueue), is
  bound at a private place in the run's directory, and every host entry except the
  device families the emulation owns (cxl, dax, ndctl, nmem, pmem) appears in /dev as a
  link there, so /dev/null, /dev/tty or /dev/pts/N work as on the host. Nothing is ever
  created in the host's devtmpfs, which is shared by every namespace; binds and links,
  not mknod, also work in a user namespace, where device nodes cannot be made.
* /proc/iomem is the emulated machine's address map (the mount's ``proc/iomem``: CXL
  windows, regions, the System RAM kmem adds), as admins and tools read it.
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
import sys
import tempfile
from collections.abc import Iterator

from fake_sysfs.errors import FakeSysfsError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from fake_sysfs.frontends.devioctl import IoctlServer
    from fake_sysfs.store import StateStore

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18

#: Exit status when the namespace cannot be set up (as env(1) and chroot(1) use 125).
SETUP_FAILED = 125
#: Hidden inside the namespace (an empty read-only tmpfs over each that exists).
HIDDEN = ("/lib/modules", "/run/udev")

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


def enter(mountpoint: str, host_dev: str) -> None:
    """Set up this process's namespace: the mount's sys and dev over /sys and /dev, the
    host's /dev at ``host_dev`` (where the mount's /dev links to for the host's entries)."""
    _enter_namespace()
    mount("/dev", host_dev, None, MS_BIND | MS_REC)
    mount(os.path.join(mountpoint, "sys"), "/sys", None, MS_BIND)
    mount(os.path.join(mountpoint, "dev"), "/dev", None, MS_BIND)
    try:
        mount(os.path.join(mountpoint, "proc", "iomem"), "/proc/iomem", None, MS_BIND)
    except OSError:
        if os.geteuid() == 0:
            raise
        # A user namespace may not cover procfs files: the host's map stays visible.
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
    # The run's directory must be reachable through the /dev links by the command, which
    # may not be root (mkdtemp makes it 0700).
    os.chmod(top, 0o755)
    mountpoint, host_dev = os.path.join(top, "mnt"), os.path.join(top, "hostdev")
    try:
        os.mkdir(mountpoint, 0o755)
        os.mkdir(host_dev, 0o755)
        daemon = fuse.spawn(store, mountpoint, host_dev=host_dev)
        ioctls: tuple[IoctlServer, dict[str, str]] | None = None
        try:
            # Inside the try: a shim that cannot be built or a server that cannot start
            # must still unmount and stop the daemon just spawned.
            ioctls = _device_ioctls(store, top)
            env = dict(os.environ, FAKE_SYSFS_STATE=str(store.dir))
            if ioctls is not None:
                env.update(ioctls[1])
            return run(mountpoint, host_dev, argv, env)
        finally:
            if ioctls is not None:
                ioctls[0].stop()
            with contextlib.suppress(FakeSysfsError):
                fuse.unmount(mountpoint)
            fuse.stop(daemon)
    finally:
        # rmdir only: never a recursive removal, which could reach into a live mount.
        for name in _run_files(top):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(top, name))
        for path in (mountpoint, host_dev, top):
            with contextlib.suppress(OSError):
                os.rmdir(path)


def _run_files(top: str) -> list[str]:
    """What a run leaves in its directory: the command's mounts tables, and shims built
    there (when the cache was not safe to use)."""
    try:
        names = os.listdir(top)
    except OSError:
        return []
    return [n for n in names if n.startswith(("devioctl-", "mounts.", "ioctl.sock"))]


def _device_ioctls(store: StateStore, top: str) -> tuple[IoctlServer, dict[str, str]] | None:
    """The ioctl server for the command's /dev/cxl/memN and /dev/nmemN, and what the
    command's environment needs to reach it (the preloaded shim, the socket); None when no
    shim can be built here (no C compiler): the nodes then cannot be opened, as on a mount."""
    from fake_sysfs.frontends import devioctl

    library = devioctl.shim_library(top)
    if library is None:
        return None
    path = os.path.join(top, "ioctl.sock")
    server = devioctl.IoctlServer(store, path)
    server.start()
    preload = os.environ.get("LD_PRELOAD")
    env = {
        devioctl.SOCKET_ENV: path,
        "LD_PRELOAD": f"{library} {preload}" if preload else library,
    }
    return server, env


def run(mountpoint: str, host_dev: str, argv: list[str], env: dict[str, str]) -> int:
    """Run ``argv`` in a namespace over ``mountpoint``; its exit status (128+N when killed
    by signal N; 125 when the namespace cannot be made; 126/127 when it cannot be run)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - replaced by the command
        _child(mountpoint, host_dev, argv, env)
    with _forwarding_signals(pid):
        _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _child(mountpoint: str, host_dev: str, argv: list[str], env: dict[str, str]) -> None:
    try:
        # Python ignores SIGPIPE and SIGXFSZ; the command gets the defaults, as from a shell.
        for signum in (signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        try:
            enter(mountpoint, host_dev)
            _keep_from_host_tracefs(os.path.dirname(mountpoint))
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


#: The mounts-table line that names the emulated tracefs for libtracefs.
TRACEFS_LINE = "tracefs /sys/kernel/tracing tracefs rw,nosuid,nodev,noexec,relatime 0 0\n"
PR_CAPBSET_DROP = 24
CAP_SYS_ADMIN = 21


def _keep_from_host_tracefs(top: str) -> None:
    """libtracefs (``cxl monitor``, v81's ``cxl list -L``) finds tracefs through the
    mounts table and, when the table names none, mounts one: the host kernel's, whose
    tracing is the whole machine's. So the command's own table (/proc/PID/mounts, which
    exec keeps) names the emulated /sys/kernel/tracing first, and CAP_SYS_ADMIN leaves
    the command's bounding set: nothing it runs can mount anything, the host's tracefs
    included (a forked child sees the real table, finds no tracefs there maybe, and then
    fails to mount rather than reaching the host)."""
    with open("/proc/self/mounts") as f:
        table = f.read()
    path = os.path.join(top, f"mounts.{os.getpid()}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(TRACEFS_LINE + table)
    try:
        mount(path, f"/proc/{os.getpid()}/mounts", None, MS_BIND)
    except OSError:
        if os.geteuid() == 0:
            raise
        # A user namespace may not cover procfs files; nor may it mount a tracefs.
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0 and os.geteuid() == 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), "CAP_SYS_ADMIN")


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
