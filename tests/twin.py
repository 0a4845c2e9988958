"""Twin platforms: one state driven by pycxl in-process, its twin mounted for the oracle.

Both twins boot the same preset. pycxl acts on twin A through the in-process frontend
(``FAKE_SYSFS_STATE``); the upstream ``/usr/bin/cxl`` (v76.1) acts on twin B through a FUSE
mount of it (``fake-sysfs mount``), run in a private mount namespace where the mount's
``sys`` is ``/sys`` and its ``dev/cxl`` is ``/dev/cxl``. A batch of oracle commands shares
one namespace session (one Python start instead of one per command).

The comparison side (what v76.1 and v81 legitimately differ in) is here too, each rule with
its reason; nothing else is normalized.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from fake_sysfs.errors import KernfsError
from fake_sysfs.kernfs.view import View
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from pycxl.util import jsonc
from tests import compat_v76
from tests.helpers import Result, run_cxl
from tests.oracle import unavailable_reason
from tests.test_fuse_mount import fuse_unavailable, mount, unmount_quietly

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
TIMEOUT = 300

#: Runs inside ``unshare -m``: the mount's sys over /sys, a private /dev with null and the
#: mount's cxl nodes, /lib/modules and /run/udev hidden (nothing modprobed, nothing waited
#: for); then every command of the batch, its output and status collected as JSON
#: (``batch SPEC OUT``), or one program run in its place (``exec PROGRAM ARGS...``).
_NAMESPACE_RUNNER = r"""
import json, os, subprocess, sys
mnt, how = sys.argv[1:3]
def sh(*a):
    subprocess.run(list(a), check=True)
sh("mount", "--make-rprivate", "/")
sh("mount", "--bind", f"{mnt}/sys", "/sys")
sh("mount", "-t", "tmpfs", "-o", "mode=0755", "twin-dev", "/dev")
os.mknod("/dev/null", 0o20666, os.makedev(1, 3))
os.mkdir("/dev/cxl")
sh("mount", "--bind", f"{mnt}/dev/cxl", "/dev/cxl")
for hidden in ("/lib/modules", "/run/udev"):
    if os.path.isdir(hidden):
        sh("mount", "-t", "tmpfs", "-o", "ro", "twin-hidden", hidden)
if how == "exec":
    os.execvp(sys.argv[3], sys.argv[3:])
spec, out = sys.argv[3:5]
results = []
for argv in json.load(open(spec)):
    p = subprocess.run(argv, capture_output=True, stdin=subprocess.DEVNULL, timeout=300)
    results.append({"out": p.stdout.hex(), "err": p.stderr.hex(), "rc": p.returncode})
json.dump(results, open(out, "w"))
"""


def unavailable() -> str | None:
    """Why twins cannot be compared here (FUSE, root, the oracle), or None."""
    return fuse_unavailable() or unavailable_reason()


def init_state(state: Path, preset: str) -> None:
    state.mkdir(mode=0o700, exist_ok=True)
    StateStore(state).init(load_preset(preset), Origin("preset", preset), force=True)


class Twin:
    """Twin A (pycxl in-process) and twin B (mounted; the oracle's)."""

    def __init__(self, preset: str, top: Path) -> None:
        self.preset = preset
        self.top = top
        self.a = top / "a"
        self.b = top / "b"
        self.mnt = top / "mnt"
        init_state(self.a, preset)
        init_state(self.b, preset)
        self.pid = mount(self.b, self.mnt)

    def close(self) -> None:
        unmount_quietly(self.mnt)

    # -- running -----------------------------------------------------------------------

    def pycxl(self, *argv: str) -> Result:
        """pycxl's cxl on twin A, in this process."""
        return run_cxl(list(argv), {"FAKE_SYSFS_STATE": str(self.a), "PYCXL_SYSFS_ROOT": None})

    def pycxl_on_mount(self, *argv: str) -> Result:
        """pycxl's cxl on twin B through the mount (plain file I/O on the mounted /sys):
        for what v76.1 cannot do itself (ram regions), so that the oracle twin still gets
        there through the FUSE frontend, store by store."""
        return run_cxl(
            list(argv), {"PYCXL_SYSFS_ROOT": str(self.mnt / "sys"), "FAKE_SYSFS_STATE": None}
        )

    def oracle(self, commands: list[list[str]]) -> list[Result]:
        """Each argv (``["cxl", "list", ...]``; ``cxl`` is /usr/bin/cxl, ``sh`` a shell)
        run on twin B in one namespace session."""
        resolved = [[shutil.which(c[0], path="/usr/bin:/bin") or c[0], *c[1:]] for c in commands]
        with tempfile.TemporaryDirectory(prefix="twin-", dir=self.top) as tmp:
            spec, out = Path(tmp) / "spec.json", Path(tmp) / "out.json"
            spec.write_text(json.dumps(resolved))
            proc = subprocess.run(
                [
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    sys.executable,
                    "-c",
                    _NAMESPACE_RUNNER,
                    str(self.mnt),
                    "batch",
                    str(spec),
                    str(out),
                ],
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"oracle session failed ({proc.returncode}): {proc.stderr}")
            results = json.loads(out.read_text())
        return [Result(bytes.fromhex(r["out"]), bytes.fromhex(r["err"]), r["rc"]) for r in results]

    def in_namespace(self, argv: list[str]) -> list[str]:
        """A command line running ``argv`` where twin B's mount is /sys (and /dev/cxl)."""
        namespace = ["unshare", "-m", "--propagation", "private", sys.executable, "-c"]
        return [*namespace, _NAMESPACE_RUNNER, str(self.mnt), "exec", *argv]

    def fake_sysfs(self, state: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*FAKE_SYSFS, *args, "--state", str(state)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    def check(self) -> None:
        """``fake-sysfs check`` passes on both twins."""
        for state in (self.a, self.b):
            proc = self.fake_sysfs(state, "check")
            assert proc.returncode == 0, f"{state}: {proc.stdout}{proc.stderr}"

    # -- comparing ---------------------------------------------------------------------

    def listing(self) -> tuple[str, str]:
        """``cxl list -vvv -BPEMDRT -i``: (pycxl on A, oracle on B), both normalized."""
        lines = compat_v76.command_lines(["-vvv", "-BPEMDRT", "-i"])
        assert lines is not None
        ours_argv, theirs_argv = lines
        ours = self.pycxl("list", *ours_argv)
        (theirs,) = self.oracle([["cxl", "list", *theirs_argv]])
        assert ours.rc == theirs.rc == 0, (ours.err, theirs.err)
        assert without_mailbox_errors(compat_v76.stderr(ours.err)) == without_mailbox_errors(
            theirs.err
        )
        # Stripped from both: should the oracle ever reach the mailbox, it still compares.
        mine, upstream = without_mailbox_data(ours.out), without_mailbox_data(theirs.out)
        return listing_text(mine), listing_text(upstream)

    def trees(self) -> tuple[dict[str, str], dict[str, str]]:
        return sysfs_tree(self.a), sysfs_tree(self.b)


# -- normalization: only what v76.1 and v81 (or two runs) legitimately differ in ----------

#: A pmem region's uuid is random (libuuid in upstream, uuid4 in pycxl): two creations never
#: agree, so its value is replaced; whether a region has one is still compared.
_UUID = re.compile(rb'"uuid":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"')


#: What `-H -I -A` (part of -vvv) add from the device mailbox. The oracle cannot have them
#: over the mount: the mailbox is an ioctl on /dev/cxl/memN, which a FUSE mount cannot
#: serve (oracle.md), so libcxl reports the open failure and leaves them out; pycxl in
#: process gets the emulated device's answers. Both are removed before comparing.
MAILBOX_KEYS = frozenset({"health", "partition_info", "alert_config"})
_MAILBOX_ERRORS = re.compile(
    rb"^libcxl: (do_cmd: failed to open /dev/cxl/mem\d+|alloc_do_query: mem\d+: query "
    rb"commands failed|cxl_cmd_new_generic: mem\d+: query returned): .*\n",
    re.M,
)


def without_mailbox_errors(err: bytes) -> bytes:
    return _MAILBOX_ERRORS.sub(b"", err)


def without_mailbox_data(out: bytes) -> bytes:
    """A listing as compat_v76 normalizes it (v81 keys removed), without mailbox data."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in MAILBOX_KEYS}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    if not out.strip():
        return out
    return compat_v76.stdout((jsonc.dumps(strip(json.loads(out))) + "\n").encode())


def listing_text(out: bytes) -> str:
    return _UUID.sub(b'"uuid":"<random>"', out).decode()


def region_json(out: bytes) -> str:
    """create-region's region object: v81 keys removed (compat_v76), uuid masked."""
    if not out.strip():
        return ""
    return listing_text(compat_v76.stdout(out))


#: Messages v81 words differently from v76.1 (cxl-cli.md §5.2): the v76.1 form is kept.
_V81_MESSAGES: list[tuple[re.Pattern[str], str]] = [
    # v81 adds the available space after the size that exceeds it.
    (re.compile(r"(exceeds max available space) \((0x[0-9a-f]+|0)\)"), r"\1"),
    # v76.1 names the function twice in this one message.
    (
        re.compile(r"^(cxl region: create_region: )(unable to determine region size)$", re.M),
        r"\1create_region: \2",
    ),
    # v81's disable-memdev reads the endpoint port's decoders_committed (an attribute v76.1
    # does not know) and says so before forcing; v76.1 disables without a word.
    (re.compile(r"^cxl memdev: action_disable: mem\d+ is part of an active region\n", re.M), ""),
    (
        re.compile(
            r"^cxl memdev: action_disable: Forcing mem\d+ disable with an active region!\n", re.M
        ),
        "",
    ),
]


#: v81 builds the mappings of every region it lists (for ``qos_class_mismatch``), v76.1
#: only with -T; so only v81 reports a region's empty target slot (cxl-cli.md §2.5).
_V81_MAPPING_ERRORS = re.compile(
    r"^libcxl: cxl_mappings_init: region\d+ target\d+: .* lookup failure\n", re.M
)


def messages(err: bytes, v76_err: bytes | None = None) -> str:
    """pycxl's stderr in the words of v76.1; ``v76_err``: what the oracle printed, to tell
    whether v76.1 built the mappings too."""
    text = compat_v76.stderr(err).decode(errors="replace")
    for pattern, replacement in _V81_MESSAGES:
        text = pattern.sub(replacement, text)
    if v76_err is not None and b"cxl_mappings_init" not in v76_err:
        text = _V81_MAPPING_ERRORS.sub("", text)
    return text


def sysfs_tree(
    state: Path, roots: tuple[str, ...] = ("/sys/bus/cxl", "/sys/devices")
) -> dict[str, str]:
    """Every entry below ``roots`` (links not followed): a directory, a link's text, an
    attribute's mode and contents (or the errno a read gives). A region's uuid is masked."""
    kernel, _ = StateStore(state).load()
    view = View(kernel)
    entries: dict[str, str] = {}
    pending = list(roots)
    while pending:
        directory = pending.pop()
        for name in view.listdir(directory):
            path = f"{directory}/{name}"
            st = view.lstat(path)
            kind = st.mode >> 12
            if kind == 0o04:
                entries[path] = "dir"
                pending.append(path)
            elif kind == 0o12:
                entries[path] = f"-> {view.readlink(path)}"
            else:
                try:
                    value = view.read(path).decode(errors="replace")
                except KernfsError as e:
                    value = f"<errno {e.errno}>"
                if name == "uuid" and "/region" in directory and value.strip():
                    value = "<random>"
                entries[path] = f"{st.mode:o} {value}"
    return entries


def tree_diff(a: dict[str, str], b: dict[str, str], limit: int = 20) -> list[str]:
    """The first differences between two trees, readable in an assertion message."""
    out = []
    for path in sorted(a.keys() | b.keys()):
        if a.get(path) != b.get(path):
            out.append(f"{path}: pycxl {a.get(path)!r} / oracle {b.get(path)!r}")
            if len(out) >= limit:
                break
    return out


#: create-region failures before the root decoder is looked up: v76.1 exits 1 for these
#: as v81 does; after them, v76.1 exits 0 (cxl-cli.md §5.3, quirk a).
_PARSE_STAGE = re.compile(
    rb"cxl region: (parse_create_options|collect_memdevs|validate_ways|"
    rb"create_region_validate_config): |  Error: "
)


def same_step(argv: list[str], ours: Result, theirs: Result, oracle: bool) -> None:
    """One command's outcome on both twins. ``oracle``: theirs is v76.1's (the documented
    differences normalized), else pycxl's through the mount (nothing may differ)."""
    where = "cxl " + " ".join(argv)
    if not oracle:  # pycxl both sides: nothing may differ but the uuid
        assert (listing_text(ours.out), ours.err, ours.rc) == (
            listing_text(theirs.out),
            theirs.err,
            theirs.rc,
        ), where
        return
    assert region_json(ours.out) == listing_text(theirs.out), where
    assert messages(ours.err, theirs.err) == theirs.err.decode(errors="replace"), where
    if argv[0] == "create-region" and ours.rc == 1 and not _PARSE_STAGE.match(ours.err):
        assert theirs.rc == 0, f"{where}: v76.1 exits 0 after a failed creation"
    else:
        assert ours.rc == theirs.rc, where


# -- choosing targets ------------------------------------------------------------------------


def interleave_order(
    state: Path, decoder: str, ways: int, exclude: tuple[str, ...] = ()
) -> list[str]:
    """``ways`` memdevs below root ``decoder``, in an order the kernel accepts.

    Position p goes through the root's target p % root_ways (the host bridge choice, for
    modulo and XOR windows alike); below a host bridge the memdevs are taken round robin
    over its root ports (then switch ports), the order in which the kernel's distance rule
    (cxl_port_setup_targets) expects the same port to come back."""
    kernel, _ = StateStore(state).load()
    view = View(kernel)
    base = f"/sys/bus/cxl/devices/{decoder}"
    root = "root" + decoder.removeprefix("decoder").split(".")[0]
    targets = view.read(f"{base}/target_list").decode().strip().split(",")
    bridges = [view.realpath(f"/sys/bus/cxl/devices/{root}/dport{t}") for t in targets]
    below: dict[str, dict[str, list[tuple[str, ...]]]] = {hb: {} for hb in bridges}
    for name in view.listdir("/sys/bus/cxl/devices"):
        if not name.startswith("mem") or name in exclude:
            continue
        path = view.realpath(f"/sys/bus/cxl/devices/{name}")
        for hb in bridges:
            if path.startswith(hb + "/"):
                # root port, [switch upstream port, downstream port], device, memdev
                chain = path[len(hb) + 1 :].split("/")
                if len(chain) > 2:  # not an RCD (attached to the host bridge itself)
                    below[hb].setdefault(chain[0], []).append((*chain[1:-1], name))
    per_bridge = ways // len(bridges)
    picks: dict[str, list[str]] = {}
    for hb, ports in below.items():
        groups = [sorted(ports[rp]) for rp in sorted(ports)]
        chosen: list[str] = []
        depth = 0
        while len(chosen) < per_bridge:
            row = [g[depth][-1] for g in groups if depth < len(g)]
            assert row, f"{hb}: fewer than {per_bridge} memdevs"
            chosen += row[: per_bridge - len(chosen)]
            depth += 1
        picks[hb] = chosen
    return [picks[bridges[p % len(bridges)]][p // len(bridges)] for p in range(ways)]
