"""``cxl monitor``: Debian's upstream binary (v76.1, libtracefs 1.6 and libtraceevent 1.7)
against pycxl's, on twin states, byte for byte.

The upstream monitor runs over the FUSE mount under ``fake-sysfs run``, which gives the
command a mounts table naming the emulated /sys/kernel/tracing (libtracefs finds tracefs
there) and no CAP_SYS_ADMIN: were the line missed, libtracefs would mount the host's real
tracefs instead, which must fail (tests/test_fuse_mount.py checks both).

The records are made first, in the instance ``cxl_monitor`` both monitors use (upstream
makes it only if it is missing), then the state is copied: both read the same records,
with the same timestamps. Everything upstream's libraries read (format files, header
page, the ring-buffer pages of trace_pipe_raw) is the emulation's; what is compared is
the JSON lines.

v76.1 differs from v81 in one way here (ndctl commit ffbbb0b, in v78): it prints a
fixed array of char or u8 (``data``, ``comp_id``, ``cor_mask``, cxl_poison's ``uuid``) as
the C string its bytes start with, where v81 prints an array of numbers; pycxl's lines are
turned into v76.1's that way before comparing. And v76.1's ``-l FILE`` crashes on the
first event (it logs to a FILE it never set: ndctl commit 4bf6769, in v80, fixed that), so
both monitors log to stderr here.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fake_sysfs.platform.presets import load_preset
from fake_sysfs.store import Origin, StateStore
from tests.helpers import environment
from tests.oracle import require_oracle
from tests.test_fuse_mount import require_fuse

FAKE_SYSFS = [sys.executable, "-c", "from fake_sysfs.cli import main; main()"]
UPSTREAM = ["/usr/bin/cxl", "monitor"]
#: What _make_records makes: 21 per event_trigger, 2 injects, 1 listed, 1 clear.
RECORDS = 46
DEBUG = "/sys/kernel/debug/cxl"
INSTANCE = "/sys/kernel/tracing/instances/cxl_monitor"


def _make_records(state: Path) -> None:
    """Events of every kind the emulation makes, recorded in the monitor's instance."""
    from pycxl.sysfs.emulated import EmulatedSysfs

    with environment({"FAKE_SYSFS_STATE": str(state), "PYCXL_SYSFS_ROOT": None}):
        s = EmulatedSysfs()
        try:
            s.mkdir(INSTANCE)
            s.write(f"{INSTANCE}/events/cxl/enable", b"1")
            # General media, DRAM (in region0 on mem0), generic, memory module, overflow.
            s.write("/sys/bus/platform/devices/cxl_mem.0/event_trigger", b"1\n")
            s.write("/sys/bus/platform/devices/cxl_mem.3/event_trigger", b"1\n")
            # Poison: inject (in region0 and outside any region), list, clear.
            s.write(f"{DEBUG}/mem0/inject_poison", b"0x1000\n")
            s.write(f"{DEBUG}/mem1/inject_poison", b"0x40\n")
            s.write("/sys/bus/cxl/devices/mem0/trigger_poison_list", b"1\n")
            # Over 2^27 ns later: the next record needs a time extend in its page.
            time.sleep(0.2)
            s.write(f"{DEBUG}/mem1/clear_poison", b"0x40\n")
            pending = s.read(f"{INSTANCE}/trace")
        finally:
            s.close()
    assert b"entries-in-buffer/entries-written: %d/%d " % (RECORDS, RECORDS) in pending


def _collect(argv: list[str], log: Path, objects: int, env: dict[str, str]) -> bytes:
    """Run a monitor until ``log`` holds ``objects`` JSON objects, then interrupt it."""
    with open(log, "wb") as sink:  # the JSON lines are notices: on stderr
        proc = subprocess.Popen(
            argv, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=sink
        )
    try:
        deadline = time.monotonic() + 60
        # A plain object is one line; a pretty one ends with a "}" line of its own.
        while not log.exists() or log.read_bytes().count(b"}\n") < objects:
            if proc.poll() is not None or time.monotonic() > deadline:
                out, _ = proc.communicate()
                pytest.fail(
                    f"monitor ended or hung: {proc.returncode} {out!r} {log.read_bytes()!r}"
                )
            time.sleep(0.1)
        time.sleep(0.5)  # nothing more may come
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
            proc.communicate(timeout=30)
    return log.read_bytes()


def _quote(raw: bytes) -> bytes:
    """json-c's string: escapes as json-c 0.16, bytes >= 0x80 verbatim."""
    out = bytearray(b'"')
    for b in raw:
        c = bytes((b,))
        if c in b'"\\/':
            out += b"\\" + c
        elif b < 0x20:
            out += {8: b"\\b", 9: b"\\t", 10: b"\\n", 12: b"\\f", 13: b"\\r"}.get(b, b"\\u%04x" % b)
        else:
            out += c
    return bytes(out + b'"')


def as_v76(line: bytes) -> bytes:
    """A pycxl (v81) line as v76.1 prints it: char/u8 arrays as their leading C string."""
    obj = json.loads(line)
    parts = []
    for key, value in obj.items():
        if isinstance(value, list):
            raw = bytes(v & 0xFF for v in value).split(b"\0", 1)[0]
            text = _quote(raw)
        elif isinstance(value, str):
            text = _quote(value.encode())
        else:
            text = str(value).encode()
        parts.append(_quote(key.encode()) + b":" + text)
    return b"{" + b",".join(parts) + b"}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_fuse()
    require_oracle()
    state = tmp_path_factory.mktemp("trace") / "state"
    StateStore(state, create=True).init(load_preset("cxl_test"), Origin("preset", "cxl_test"), True)
    _make_records(state)
    return state


def _both(recorded: Path, tmp_path: Path, options: list[str]) -> tuple[bytes, bytes]:
    """(pycxl's output, upstream's) of ``cxl monitor OPTIONS`` on twin copies of the
    recorded state."""
    ours_state, theirs_state = tmp_path / "ours", tmp_path / "theirs"
    shutil.copytree(recorded, ours_state, symlinks=True)
    shutil.copytree(recorded, theirs_state, symlinks=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PYCXL_", "FAKE_SYSFS"))}
    theirs = _collect(
        [*FAKE_SYSFS, "run", "--state", str(theirs_state), "--", *UPSTREAM, *options],
        tmp_path / "theirs.log",
        RECORDS,
        base,
    )
    ours = _collect(
        [sys.executable, "-m", "pycxl.cxl.main", "monitor", *options],
        tmp_path / "ours.log",
        RECORDS,
        base | {"FAKE_SYSFS_STATE": str(ours_state)},
    )
    return ours, theirs


def test_upstream_monitor_matches_pycxl(recorded: Path, tmp_path: Path) -> None:
    ours, theirs = _both(recorded, tmp_path, [])
    their_lines = theirs.splitlines()
    our_lines = ours.splitlines()
    assert len(their_lines) == len(our_lines) == RECORDS
    events = [json.loads(line)["event"] for line in our_lines]
    assert set(events) == {
        "cxl_generic_event",
        "cxl_general_media",
        "cxl_dram",
        "cxl_memory_module",
        "cxl_overflow",
        "cxl_poison",
    }
    for mine, upstream in zip(our_lines, their_lines, strict=True):
        assert as_v76(mine) == upstream


def test_upstream_monitor_human_matches_pycxl(recorded: Path, tmp_path: Path) -> None:
    """-u: json-c's pretty layout, each object followed by a newline."""
    from pycxl.util import jsonc

    ours, theirs = _both(recorded, tmp_path, ["-u"])
    decoder = json.JSONDecoder()
    text, pos, expected = ours.decode(), 0, b""
    while pos < len(text):
        obj, pos = decoder.raw_decode(text, pos)
        pos += 1  # the newline
        for key, value in obj.items():
            if isinstance(value, list):  # v76.1: the C string the bytes begin with
                obj[key] = bytes(v & 0xFF for v in value).split(b"\0", 1)[0].decode("latin-1")
        expected += jsonc.dumps(obj).encode("latin-1") + b"\n"
    assert expected.count(b"\n}\n") == RECORDS
    assert expected == theirs
