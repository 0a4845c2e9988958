"""Inside a private mount namespace: stage TREE over /sys and /dev and run commands.

usage: namespace.py TREE COMMANDS.json RESULTS.json [MOUNTPOINT [TIMEOUT]]
(run under `unshare -m`)

The staging tmpfs is mounted on MOUNTPOINT, an empty directory the caller owns and removes
(tests/oracle/__init__.py passes one inside its own temporary directory); without it a
directory is made in $TMPDIR and removed again before the script exits. A command that runs
longer than TIMEOUT seconds (default: no limit) is killed; its result has rc -9 and
"timeout": true. The namespace's mounts vanish with it, so nothing stays mounted on the host.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fake_sysfs.kernfs.order import kernfs_sorted

#: Character devices every staged /dev gets when the tree has none of that name: the shell
#: redirections the tests use (>/dev/null, >/dev/full) must reach real devices.
STD_DEVICES = {"null": (1, 3), "full": (1, 7)}

_MIX = [(c << 4) + (c >> 4) for c in range(256)]


def _byte_key(name: str) -> tuple[int, bytes]:
    """kernfs order for a name that is not UTF-8 (os.listdir gives it surrogate-escaped):
    the same hash as fake_sysfs.kernfs.order, over the name's bytes."""
    raw = os.fsencode(name)
    h = 0
    for c in raw:
        h = (h + _MIX[c]) * 11
    h = ((((h & ((1 << 64) - 1)) * 0x61C8864680B583EB) & ((1 << 64) - 1)) >> 32) & 0x7FFFFFFF
    if h < 2:
        h += 2
    return (min(h, 0x7FFFFFFE), raw)


def kernfs_order(names: list[str]) -> list[str]:
    try:
        return kernfs_sorted(names)
    except UnicodeEncodeError:  # a hostile tree's name that is not UTF-8
        return sorted(names, key=_byte_key)


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _make_socket(path: str) -> None:
    """A UNIX socket file at ``path`` (bound from its directory: sun_path is short)."""
    here = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(os.path.basename(path))
    finally:
        os.chdir(here)


def copy_in_kernfs_order(src: str, dst: str) -> None:
    """tmpfs lists the newest entry first, so creating a directory's entries in reverse
    kernfs order makes readdir return them in kernfs order. Hostile trees copy too: FIFOs
    and sockets are recreated, names need not be UTF-8."""
    names = kernfs_order(os.listdir(src))
    subdirs = []
    for name in reversed(names):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        st = os.lstat(s)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(s), d)
        elif stat.S_ISDIR(st.st_mode):
            os.mkdir(d, 0o755)
            subdirs.append((name, stat.S_IMODE(st.st_mode)))
        elif stat.S_ISREG(st.st_mode):
            with open(s, "rb") as f:
                data = f.read()
            fd = os.open(d, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, data)
            os.close(fd)
            os.chmod(d, stat.S_IMODE(st.st_mode))
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            os.mknod(d, st.st_mode, st.st_rdev)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(d, stat.S_IMODE(st.st_mode))
        elif stat.S_ISSOCK(st.st_mode):
            _make_socket(d)
    for name, mode in subdirs:
        copy_in_kernfs_order(os.path.join(src, name), os.path.join(dst, name))
        os.chmod(os.path.join(dst, name), mode | 0o700)


def check_order(top: str) -> None:
    for root, _, _ in os.walk(top):
        names = os.listdir(root)
        if names != kernfs_order(names):
            sys.exit(f"staged readdir order differs from kernfs order in {root}")


def stage(tree: str, mnt: str) -> None:
    """Copy TREE onto a tmpfs at ``mnt`` and mount it over /sys and /dev."""
    mount("-t", "tmpfs", "-o", "mode=0755", "pycxl-oracle", mnt)
    for part in ("sys", "dev"):
        os.mkdir(os.path.join(mnt, part), 0o755)
        if os.path.isdir(os.path.join(tree, part)):
            copy_in_kernfs_order(os.path.join(tree, part), os.path.join(mnt, part))
    check_order(os.path.join(mnt, "sys"))
    for name, (major, minor) in STD_DEVICES.items():
        node = os.path.join(mnt, "dev", name)
        if not os.path.lexists(node):
            os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    # Nothing may be modprobed or wait on udev for the fake devices.
    for hide in ("/lib/modules", "/run/udev"):
        if os.path.isdir(hide):
            mount("-t", "tmpfs", "-o", "ro", "pycxl-oracle-hide", hide)
    mount("--bind", os.path.join(mnt, "sys"), "/sys")
    mount("--bind", os.path.join(mnt, "dev"), "/dev")


def run_commands(commands: list[list[str]], timeout: float | None) -> list[dict[str, object]]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    results: list[dict[str, object]] = []
    for argv in commands:
        try:
            proc = subprocess.run(argv, capture_output=True, env=env, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            out, err = e.stdout or b"", e.stderr or b""
            results.append({"out": out.hex(), "err": err.hex(), "rc": -9, "timeout": True})
            continue
        results.append({"out": proc.stdout.hex(), "err": proc.stderr.hex(), "rc": proc.returncode})
    return results


def main() -> None:
    tree, spec, results_path = sys.argv[1:4]
    mnt = sys.argv[4] if len(sys.argv) > 4 else None
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else None
    with open(spec) as f:
        commands = json.load(f)
    own = mnt is None
    if mnt is None:
        mnt = tempfile.mkdtemp(prefix="oracle-mnt-")
    try:
        stage(tree, mnt)
        results = run_commands(commands, timeout)
    finally:
        if own:
            # Lazily detach everything staged from the directory, then remove it.
            subprocess.run(["umount", "-l", mnt], check=False, capture_output=True)
            os.rmdir(mnt)
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
