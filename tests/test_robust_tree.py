"""Hostile trees under PYCXL_SYSFS_ROOT: `cxl list` never hangs and never fails internally.

A user can point pycxl at any directory, so the file-backed reader (pycxl/sysfs/files.py)
must cope with what no sysfs holds: a FIFO, socket, device node or directory where an
attribute belongs, links that dangle, loop, lead out of the tree or to /dev/zero, names
that are not UTF-8, directories that contain themselves, /dev/cxl/memN nodes of the wrong
kind. Each case starts from the golden tree (tests/data/golden/cxl-list), changes one thing,
and asserts the outcome: exit status, stderr and stdout, mostly "the same as if the
attribute were missing", which is what upstream shows wherever it does not hang (a FIFO
attribute blocks its open() forever). Runs that could hang are subprocesses with a timeout,
so a regression fails instead of hanging the suite; the in-process property test runs under
an alarm. Where upstream terminates, the oracle (Debian's v76.1 binary in a private mount
namespace) is run on the same hostile tree and compared (tests/compat_v76.py normalizes the
version skew); without root/unshare/the binary that comparison skips (CI=true: fails).

Known, intended differences from upstream (not compared): a device node or an oversized
file as an attribute (upstream reads it; FINDING-3 of test_file_sysfs.py makes an oversized
read show a stale value), a relative link that climbs out of the tree (upstream follows it
into the host's files; pycxl stops at the tree's top), and /dev/cxl/memN nodes that are not
the memdev's device (upstream opens whatever character device is there; pycxl refuses).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycxl.util import jsonc
from tests import compat_v76
from tests.helpers import Result, extract_golden_tree, run_cxl
from tests.oracle import require_oracle, run_upstream

if TYPE_CHECKING:
    from _typeshed import StrOrBytesPath

CXL = Path(sys.executable).parent / "cxl"
TIMEOUT = 60

ROOT = os.geteuid() == 0
UNPRIVILEGED = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
needs_root = pytest.mark.skipif(not ROOT, reason="device nodes need root (mknod)")

DEVICES = "sys/bus/cxl/devices"


# ---------------------------------------------------------------------------------------------
# trees


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_golden_tree(tmp_path_factory.mktemp("golden"))


@pytest.fixture
def tree(golden: Path, tmp_path: Path) -> Path:
    """A fresh copy of the golden tree (sys/, dev/) to damage."""
    dest = tmp_path / "tree"
    shutil.copytree(golden, dest, symlinks=True)
    return dest


def real(tree: Path, link: str) -> Path:
    """The directory a bus/cxl/devices link leads to."""
    return Path(os.path.realpath(tree / DEVICES / link))


def replace(path: Path, make: Callable[[Path], object]) -> None:
    """Put what ``make`` creates where ``path`` was."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    make(path)


def make_socket(path: Path) -> None:
    here = os.getcwd()
    os.chdir(path.parent)  # sun_path is too short for deep paths
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(path.name)
    finally:
        os.chdir(here)


def make_char(major: int, minor: int) -> Callable[[Path], object]:
    return lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(major, minor))


def symlink_to(target: str) -> Callable[[Path], object]:
    return lambda p: os.symlink(target, p)


def link_loop(path: Path) -> None:
    """``path`` -> a -> ``path``."""
    os.symlink("a", path)
    os.symlink(path.name, path.parent / "a")


def link_chain(path: Path, count: int) -> None:
    """``path`` -> l0 -> ... -> l<count-1> -> numa_node: ``count`` + 1 links."""
    for i in range(count):
        target = f"l{i + 1}" if i + 1 < count else "numa_node"
        os.symlink(target, path.parent / f"l{i}")
    os.symlink("l0" if count else "numa_node", path)


def unregistered_char_major() -> int:
    """A character major no driver has here: opening such a node gives ENXIO."""
    text = Path("/proc/devices").read_text()
    chars = text.split("Block devices:")[0]
    used = {int(line.split()[0]) for line in chars.splitlines()[1:] if line.strip()}
    return next(m for m in range(240, 255) if m not in used)


# ---------------------------------------------------------------------------------------------
# running cxl


def cxl(tree: Path, *args: str, timeout: float = TIMEOUT) -> Result:
    """The installed `cxl` on ``tree`` in a subprocess; a hang fails the test."""
    if not CXL.exists():
        pytest.skip(f"the cxl console script is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "CXL_"))}
    env.update(PYCXL_SYSFS_ROOT=str(tree / "sys"), LC_ALL="C")
    env["FAKE_SYSFS_STATE"] = str(tree.parent / "state")
    try:
        proc = subprocess.run(
            [str(CXL), *args],
            capture_output=True,
            env=env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"cxl {' '.join(args)} hung (no answer in {timeout}s)")
    return Result(proc.stdout, proc.stderr, proc.returncode)


def assert_clean(result: Result) -> None:
    assert b"Traceback" not in result.err and b"internal error" not in result.err, result.err


def mailbox_failed(mem: str, first: str) -> bytes:
    """libcxl's three lines for one failed mailbox command."""
    reason = "No such device or address"
    return (
        f"libcxl: do_cmd: {first}\n"
        f"libcxl: alloc_do_query: {mem}: query commands failed: {reason}\n"
        f"libcxl: cxl_cmd_new_generic: {mem}: query returned: {reason}\n"
    ).encode()


def oracle_agrees(tree: Path, argvs: list[list[str]]) -> None:
    """Upstream's `cxl ARGV` on ``tree`` equals pycxl's (version skew normalized)."""
    require_oracle()
    pairs = [compat_v76.command_lines(argv) for argv in argvs]
    assert all(p is not None for p in pairs)
    theirs = run_upstream(tree, [["cxl", "list", *p[1]] for p in pairs if p], timeout=TIMEOUT)
    for pair, upstream in zip(pairs, theirs, strict=True):
        assert pair is not None
        mine = cxl(tree, "list", *pair[0])
        assert (mine.rc, compat_v76.stderr(mine.err)) == (upstream.rc, upstream.err), pair
        assert v76_stdout(mine.out) == upstream.out, pair


def v76_stdout(out: bytes) -> bytes:
    """compat_v76.stdout, for output that need not be UTF-8 (names are bytes)."""
    if not out.strip():
        return out
    value = compat_v76._strip(json.loads(out.decode("utf-8", "surrogateescape")))
    return (jsonc.dumps(value) + "\n").encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------------------------
# an attribute that is not a regular file reads like a missing one


#: What can stand where mem0's ``serial`` belongs, and whether upstream terminates on it
#: (and so is compared): a FIFO blocks upstream's open() for ever.
ATTRIBUTE_KINDS: dict[str, tuple[Callable[[Path], object], bool]] = {
    "fifo": (lambda p: os.mkfifo(p), False),
    "socket": (make_socket, True),
    "directory": (lambda p: p.mkdir(), True),
    "dangling link": (symlink_to("nowhere"), True),
    "link to itself": (lambda p: os.symlink(p.name, p), True),
    "link loop": (lambda p: link_loop(p), True),
    "link to /dev/zero": (symlink_to("/dev/zero"), True),
    "link out of the tree": (symlink_to("../" * 30 + "dev/zero"), False),
    "a chain of 41 links": (lambda p: link_chain(p, 40), True),  # ELOOP
    "huge file": (lambda p: p.write_bytes(b"1" * 100_000), False),
}


@pytest.mark.parametrize("kind", list(ATTRIBUTE_KINDS))
def test_a_hostile_attribute_reads_as_missing(kind: str, tree: Path, golden: Path) -> None:
    make, _ = ATTRIBUTE_KINDS[kind]
    serial = real(tree, "mem0") / "serial"
    serial.unlink()
    missing = cxl(tree, "list", "-vvv")
    make(serial)
    hostile = cxl(tree, "list", "-vvv")
    assert_clean(hostile)
    assert (hostile.rc, hostile.err, hostile.out) == (missing.rc, missing.err, missing.out)
    assert hostile.rc == 0
    assert b'"memdev":"mem0"' in hostile.out
    # mem0 lost its serial number, and nothing else changed.
    pristine = cxl(golden, "list", "-vvv")
    assert hostile.out.count(b'"serial":') == pristine.out.count(b'"serial":') - 1


@needs_root
@pytest.mark.parametrize(
    "kind", ["/dev/zero's numbers", "/dev/null's numbers", "unregistered", "block device"]
)
def test_a_device_node_attribute_is_never_read(kind: str, tree: Path) -> None:
    """A device node where an attribute belongs reads as missing (upstream would read it)."""
    serial = real(tree, "mem0") / "serial"
    serial.unlink()
    missing = cxl(tree, "list", "-M")
    if kind == "block device":
        os.mknod(serial, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    else:
        numbers = {"/dev/zero's numbers": (1, 5), "/dev/null's numbers": (1, 3)}
        make_char(*numbers.get(kind, (unregistered_char_major(), 0)))(serial)
    hostile = cxl(tree, "list", "-M")
    assert (hostile.rc, hostile.err, hostile.out) == (missing.rc, missing.err, missing.out)


@pytest.mark.parametrize("links", [39, 40])
def test_link_chains_end_where_the_kernels_do(links: int, tree: Path) -> None:
    """mem0's serial as a chain of links to numa_node: the kernel follows 40 links in one
    path, and the path (/sys/bus/cxl/devices/mem0/serial) starts with one, so a chain of
    39 reads numa_node's 0 and a chain of 40 is ELOOP (as upstream shows)."""
    replace(real(tree, "mem0") / "serial", lambda p: link_chain(p, links - 1))
    result = cxl(tree, "list", "-M", "-m", "mem0")
    assert (result.rc, result.err) == (0, b"")
    assert (b'"serial":0,' in result.out) == (links == 39)
    oracle_agrees(tree, [["-M", "-m", "mem0"]])


def test_a_fifo_attribute_never_hangs_the_region_lookup(tree: Path) -> None:
    """A decoder's ``region`` as a FIFO: the lookup fails with a reason, as for a missing
    one; upstream would block in open() for ever."""
    region = real(tree, "decoder2.0") / "region"
    replace(region, lambda p: os.mkfifo(p))
    result = cxl(tree, "list", "-D", "-d", "decoder2.0")
    assert result.rc == 0
    assert result.err == (
        b"libcxl: cxl_decoder_get_region: failed to read region name: No such device or address\n"
    )
    assert b'"decoder":"decoder2.0"' in result.out and b'"region"' not in result.out


def test_a_directory_as_region_attribute_fails_like_upstream(tree: Path) -> None:
    region = real(tree, "decoder2.0") / "region"
    replace(region, lambda p: p.mkdir())
    result = cxl(tree, "list", "-D", "-d", "decoder2.0")
    assert (result.rc, result.err) == (
        0,
        b"libcxl: cxl_decoder_get_region: failed to read region name: Is a directory\n",
    )
    oracle_agrees(tree, [["-D", "-d", "decoder2.0"]])


def test_an_unreadable_attribute_reads_as_missing(tree: Path, tmp_path: Path) -> None:
    """EACCES: run as an unprivileged user (root reads any file)."""
    serial = real(tree, "mem0") / "serial"
    if not ROOT:
        serial.chmod(0)
        hostile = cxl(tree, "list", "-M")
    else:
        # The interpreter and the tree must be reachable for an unprivileged user.
        python = next(
            (p for p in (sys.executable, "/usr/bin/python3") if _runs_unprivileged(p)), None
        )
        if python is None or shutil.which("setpriv") is None:
            pytest.skip("no interpreter that an unprivileged user can run")
        place = Path(_world_readable_copy(tree))
        serial = real(place, "mem0") / "serial"
        serial.chmod(0)
        proc = subprocess.run(
            [
                *UNPRIVILEGED,
                "env",
                "-i",
                f"PYTHONPATH={place.parent / 'code'}",
                f"PYCXL_SYSFS_ROOT={place / 'sys'}",
                f"FAKE_SYSFS_STATE={place / 'state'}",
                python,
                "-c",
                "import sys; from pycxl.cxl.main import main; sys.argv[0] = 'cxl'; main()",
                "list",
                "-M",
            ],
            capture_output=True,
            timeout=TIMEOUT,
        )
        hostile = Result(proc.stdout, proc.stderr, proc.returncode)
        shutil.rmtree(place.parent)
    serial_gone = real(tree, "mem0") / "serial"
    serial_gone.unlink(missing_ok=True)
    missing = cxl(tree, "list", "-M")
    assert (hostile.rc, hostile.err, hostile.out) == (missing.rc, missing.err, missing.out)


def _runs_unprivileged(python: str) -> bool:
    """``python`` (3.11 or later) can be run by an unprivileged user, as the test runs it."""
    if not Path(python).exists() or shutil.which("setpriv") is None:
        return False
    probe = [*UNPRIVILEGED, "env", "-i", python, "-c"]
    code = "import sys; print(sys.version_info >= (3, 11))"
    proc = subprocess.run([*probe, code], capture_output=True, text=True)
    return proc.returncode == 0 and proc.stdout == "True\n"


def _world_readable_copy(tree: Path) -> str:
    """A copy of ``tree``, and beside it (``code``) of the packages the command imports,
    that an unprivileged user can read: neither the test's directory nor the checkout
    need be (a checkout cloned into a ``mktemp -d`` directory is not)."""
    import tempfile

    place = tempfile.mkdtemp(prefix="pycxl-eacces-")
    os.chmod(place, 0o755)
    shutil.copytree(tree, Path(place) / "tree", symlinks=True)
    checkout = Path(__file__).resolve().parent.parent
    skip = shutil.ignore_patterns("__pycache__")
    for package in ("pycxl", "fake_sysfs"):
        shutil.copytree(checkout / package, Path(place) / "code" / package, ignore=skip)
    for top, dirs, files in os.walk(place):
        for name in dirs:
            os.chmod(os.path.join(top, name), 0o755)
        for name in files:
            os.chmod(os.path.join(top, name), 0o644)
    return os.path.join(place, "tree")


@pytest.mark.parametrize("kind", [k for k, (_, compared) in ATTRIBUTE_KINDS.items() if compared])
def test_hostile_attributes_match_upstream(kind: str, tree: Path) -> None:
    make, _ = ATTRIBUTE_KINDS[kind]
    replace(real(tree, "mem0") / "serial", make)
    oracle_agrees(tree, [["-M"], ["-vvv"]])


# ---------------------------------------------------------------------------------------------
# loops, names and shapes no sysfs has


def test_a_port_that_contains_itself_ends_after_40_links(tree: Path) -> None:
    """``port9 -> .`` inside port1: every level nests port9 again, until the path holds
    more than 40 links (ELOOP), as the kernel counts for upstream's open() and realpath()
    (the path starts at the root0 link, and each level's uport is one more)."""
    os.symlink(".", real(tree, "port1") / "port9")
    result = cxl(tree, "list", "-P", "-p", "port1")
    assert_clean(result)
    assert result.rc == 0
    assert result.err.endswith(b"libcxl: __sysfs_device_parse: port9: add_dev() failed\n")
    assert result.out.count(b'"port":"port9"') == 38  # with root0's and port1's own links
    oracle_agrees(tree, [["-M"], ["-vvv"]])


def test_a_port_that_contains_its_parent(tree: Path) -> None:
    os.symlink("..", real(tree, "port1") / "port9")
    result = cxl(tree, "list", "-vvv")
    assert_clean(result)
    assert result.rc == 0
    oracle_agrees(tree, [["-M"], ["-vvv"]])


def test_a_bus_link_to_itself(tree: Path) -> None:
    replace(tree / DEVICES / "root0", symlink_to("root0"))
    result = cxl(tree, "list", "-B")
    assert (result.rc, result.out) == (0, b"[\n]\n")
    assert result.err == (
        b"libcxl: __sysfs_device_parse: root0: add_dev() failed\n"
        b"  Warning: no matching devices found\n\n"
    )
    oracle_agrees(tree, [["-B"], ["-vvv"]])


def test_a_file_where_the_devices_directory_belongs(tree: Path) -> None:
    replace(tree / DEVICES, lambda p: p.write_bytes(b""))
    result = cxl(tree, "list")
    assert (result.rc, result.out, result.err) == (
        0,
        b"[\n]\n",
        b"  Warning: no matching devices found\n\n",
    )
    oracle_agrees(tree, [[], ["-vvv"]])


def test_names_that_are_not_utf8(tree: Path, golden: Path) -> None:
    devices = os.fsencode(tree / DEVICES)
    mem0 = os.fsencode(real(tree, "mem0"))
    # A name the memdev scan skips, one it takes (mem7, whose node does not exist), and a
    # stray attribute name.
    open(devices + b"/mem\xff", "wb").close()
    os.symlink(os.readlink(tree / DEVICES / "mem0"), devices + b"/mem7\xfe")
    open(mem0 + b"/\xfe\xff", "wb").close()
    result = cxl(tree, "list", "-vvv")
    pristine = cxl(golden, "list", "-vvv")
    assert_clean(result)
    assert result.rc == 0 and result.out == pristine.out
    assert result.err == b"libcxl: __sysfs_device_parse: mem7: add_dev() failed\n" + pristine.err
    oracle_agrees(tree, [["-M"], ["-vvv"]])


def test_a_port_whose_name_is_not_utf8_is_listed_byte_for_byte(tree: Path) -> None:
    port1 = real(tree, "port1")
    os.rename(port1, os.fsencode(port1) + b"\xff")
    result = cxl(tree, "list", "-P")
    assert_clean(result)
    assert result.rc == 0
    assert b'"port":"port1\xff"' in result.out
    oracle_agrees(tree, [["-P"], ["-vvv"]])


# ---------------------------------------------------------------------------------------------
# /dev/cxl/memN: only the memdev's own character device is opened


def set_node(tree: Path, make: Callable[[Path], object], dev: str | None) -> None:
    """mem0's /dev node made by ``make``, and its ``dev`` attribute (None: absent)."""
    replace(tree / "dev" / "cxl" / "mem0", make)
    attr = real(tree, "mem0") / "dev"
    attr.unlink(missing_ok=True)
    if dev is not None:
        attr.write_text(f"{dev}\n")


@contextlib.contextmanager
def opens_recorded() -> Iterator[list[tuple[str, int]]]:
    """Every os.open(path, flags) made meanwhile (in this process)."""
    calls: list[tuple[str, int]] = []
    original = os.open

    def spy(path: StrOrBytesPath, flags: int, *args: Any, **kwargs: Any) -> int:
        calls.append((os.fsdecode(path), flags))
        return original(path, flags, *args, **kwargs)

    os.open = spy
    try:
        yield calls
    finally:
        os.open = original


def mem0_mailbox(tree: Path) -> tuple[Result, list[tuple[str, int]]]:
    """`cxl list -M -H -m mem0` in-process: the result and the opens of mem0's node."""
    node = str(tree / "dev" / "cxl" / "mem0")
    with alarm(TIMEOUT), opens_recorded() as calls:
        result = run_cxl(
            ["list", "-M", "-H", "-m", "mem0"],
            env={"PYCXL_SYSFS_ROOT": str(tree / "sys"), "PYCXL_DEV_ROOT": None},
        )
    return result, [(p, f) for p, f in calls if os.path.realpath(p) == os.path.realpath(node)]


VALIDATE = "failed to validate /dev/cxl/mem0 as a CXL memdev node"
OPEN_ENXIO = "failed to open /dev/cxl/mem0: No such device or address"


@needs_root
def test_the_memdev_node_is_opened_when_it_is_the_memdevs_device(tree: Path) -> None:
    major = unregistered_char_major()
    set_node(tree, make_char(major, 0), f"{major}:0")
    result, opens = mem0_mailbox(tree)
    assert result.rc == 0
    assert result.err == mailbox_failed("mem0", OPEN_ENXIO)
    assert len(opens) == 1
    wanted = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
    assert opens[0][1] & wanted == wanted
    # Upstream opens the same node and fails the same way.
    oracle_agrees(tree, [["-M", "-H", "-m", "mem0"]])


@needs_root
@pytest.mark.parametrize(
    "case",
    [
        "another device's numbers",
        "no dev attribute",
        "malformed dev attribute",
        "fifo",
        "regular file",
        "socket",
    ],
)
def test_anything_else_is_refused_without_being_opened(case: str, tree: Path) -> None:
    major = unregistered_char_major()
    node: Callable[[Path], object] = make_char(major, 0)
    dev: str | None = f"{major}:0"
    if case == "another device's numbers":
        node = make_char(1, 3)  # /dev/null's: opening it would succeed
    elif case == "no dev attribute":
        dev = None
    elif case == "malformed dev attribute":
        dev = f"{major}:0:0"
    elif case == "fifo":
        node = lambda p: os.mkfifo(p)  # noqa: E731
    elif case == "regular file":
        node = lambda p: p.write_bytes(b"")  # noqa: E731
    elif case == "socket":
        node = make_socket
    set_node(tree, node, dev)
    result, opens = mem0_mailbox(tree)
    assert (result.rc, result.err, opens) == (0, mailbox_failed("mem0", VALIDATE), [])
    # And the program itself neither hangs nor fails.
    assert cxl(tree, "list", "-vvv").rc == 0


@pytest.mark.parametrize(
    "target",
    [
        "../" * 12 + "dev/null",  # climbs out of the dev tree: stops at its top
        "/dev/null",  # the tree's /dev/null, which it has not
        "mem0",  # itself
    ],
)
def test_a_node_link_never_leaves_the_dev_tree(target: str, tree: Path) -> None:
    """Followed on the host, these would reach /dev/null (a character device); inside the
    tree they lead nowhere, and the memdev is dropped as with a missing node."""
    set_node(tree, symlink_to(target), "1:3")
    result = cxl(tree, "list", "-M")
    assert result.rc == 0
    assert result.err == b"libcxl: __sysfs_device_parse: mem0: add_dev() failed\n"
    assert b'"memdev":"mem0"' not in result.out and b'"memdev":"mem1"' in result.out


@needs_root
def test_a_node_link_inside_the_dev_tree_is_followed(tree: Path) -> None:
    major = unregistered_char_major()
    make_char(major, 0)(tree / "dev" / "cxl" / "node0")
    set_node(tree, symlink_to("node0"), f"{major}:0")
    result = cxl(tree, "list", "-M", "-H", "-m", "mem0")
    assert (result.rc, result.err) == (0, mailbox_failed("mem0", OPEN_ENXIO))


# ---------------------------------------------------------------------------------------------
# a property: any attribute, any hostile kind, reads like a missing attribute


class Hang(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: int) -> Iterator[None]:
    """Raise Hang in this (main) thread if the block runs longer than ``seconds``: a
    blocking open() is interrupted by the signal, so a regression fails instead of hanging."""

    def ring(signum: int, frame: object) -> None:
        raise Hang(f"no answer in {seconds}s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


#: The reasons an attribute read can give; the property compares modulo the reason.
REASONS = [
    os.strerror(code).encode()
    for code in (errno.ENOENT, errno.ENXIO, errno.EISDIR, errno.ELOOP, errno.EACCES)
]


def without_reasons(data: bytes) -> bytes:
    for reason in REASONS:
        data = data.replace(reason, b"<reason>")
    return data


IN_PROCESS_KINDS = [
    "fifo",
    "socket",
    "directory",
    "dangling link",
    "link to itself",
    "link loop",
    "link to /dev/zero",
    "a chain of 41 links",
    "huge file",
]


@pytest.fixture(scope="module")
def attributes(golden: Path) -> list[str]:
    """Every regular file below sys/devices of the golden tree, relative to the tree."""
    found = []
    for top, _, files in os.walk(golden / "sys" / "devices"):
        for name in files:
            found.append(os.path.relpath(os.path.join(top, name), golden))
    return sorted(found)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_property_any_hostile_attribute_reads_as_missing(
    data: st.DataObject,
    golden: Path,
    attributes: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    place = tmp_path_factory.mktemp("prop") / "tree"
    shutil.copytree(golden, place, symlinks=True)
    attribute = place / data.draw(st.sampled_from(attributes), label="attribute")
    kind = data.draw(st.sampled_from(IN_PROCESS_KINDS), label="kind")
    args = data.draw(st.sampled_from([["-vvv"], ["-BPEMDRT", "-i"], ["-M", "-u"]]), label="args")
    env = {"PYCXL_SYSFS_ROOT": str(place / "sys"), "PYCXL_DEV_ROOT": None}
    attribute.unlink()
    with alarm(TIMEOUT):
        missing = run_cxl(["list", *args], env=env)
    ATTRIBUTE_KINDS[kind][0](attribute)
    with alarm(TIMEOUT):
        hostile = run_cxl(["list", *args], env=env)
    assert_clean(hostile)
    assert (hostile.rc, hostile.out) == (missing.rc, missing.out)
    assert without_reasons(hostile.err) == without_reasons(missing.err)
    shutil.rmtree(place.parent)
