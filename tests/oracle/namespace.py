"""Inside a private mount namespace: stage TREE over /sys and /dev and run commands.

usage: namespace.py TREE COMMANDS.json RESULTS.json   (run under `unshare -m`)
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from fake_sysfs.kernfs.order import kernfs_sorted


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def copy_in_kernfs_order(src: str, dst: str) -> None:
    """tmpfs lists the newest entry first, so creating a directory's entries in reverse
    kernfs order makes readdir return them in kernfs order."""
    names = kernfs_sorted(os.listdir(src))
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
    for name, mode in subdirs:
        copy_in_kernfs_order(os.path.join(src, name), os.path.join(dst, name))
        os.chmod(os.path.join(dst, name), mode | 0o700)


def check_order(top: str) -> None:
    for root, _, _ in os.walk(top):
        names = os.listdir(root)
        if names != kernfs_sorted(names):
            sys.exit(f"staged readdir order differs from kernfs order in {root}")


def main() -> None:
    tree, spec, results_path = sys.argv[1:4]
    with open(spec) as f:
        commands = json.load(f)
    mnt = tempfile.mkdtemp(prefix="oracle-mnt-")
    mount("-t", "tmpfs", "-o", "mode=0755", "pycxl-oracle", mnt)
    for part in ("sys", "dev"):
        os.mkdir(os.path.join(mnt, part), 0o755)
        if os.path.isdir(os.path.join(tree, part)):
            copy_in_kernfs_order(os.path.join(tree, part), os.path.join(mnt, part))
    check_order(os.path.join(mnt, "sys"))
    null = os.path.join(mnt, "dev", "null")
    if not os.path.exists(null):
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    # Nothing may be modprobed or wait on udev for the fake devices.
    for hide in ("/lib/modules", "/run/udev"):
        if os.path.isdir(hide):
            mount("-t", "tmpfs", "-o", "ro", "pycxl-oracle-hide", hide)
    mount("--bind", os.path.join(mnt, "sys"), "/sys")
    mount("--bind", os.path.join(mnt, "dev"), "/dev")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"}
    results = []
    for argv in commands:
        proc = subprocess.run(argv, capture_output=True, env=env)
        results.append({"out": proc.stdout.hex(), "err": proc.stderr.hex(), "rc": proc.returncode})
    with open(results_path, "w") as f:
        json.dump(results, f)


if __name__ == "__main__":
    main()
