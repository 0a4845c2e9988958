"""``cxl monitor``: print the CXL trace events the kernel records, one JSON object per
event, until interrupted.

Every event of the ``cxl`` trace system is enabled and tracing turned on; new records of
tracefs's ``trace`` buffer are read as they come (on the emulation, by looking again
every 100 ms). Each becomes ``{"system":"cxl","event":...,"timestamp":<ns>, fields...}``
with the fields the record's text carries, numbers as numbers (compact JSON, pretty with
``-u``). Events are logged at notice priority: with ``-l standard`` (the default) they go
to stderr; with ``-l FILE`` they are appended to FILE.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from pycxl.util import jsonc
from pycxl.util.log import error
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TextIO

    from pycxl.sysfs.base import Sysfs

USAGE = ["cxl monitor [<options>]"]
OPTIONS = [
    Opt(
        "l", "log", "string", "where to output the monitor's notification", argh="<file> | standard"
    ),
    Opt(None, "daemon", "bool", "run cxl monitor as a daemon"),
    Opt("u", "human", "bool", "use human friendly output formats"),
    Opt("v", "verbose", "bool", "emit extra debug messages to log"),
]
TRACING = "/sys/kernel/tracing"
#: How often the emulated buffer is looked at.
POLL_SECONDS = 0.1


def _value(text: str) -> Any:
    text = text.strip("'")
    body = text[1:] if text.startswith("-") else text
    if body.isdigit():
        return int(text)
    if text.lower().startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            return text
    return text


def event_json(line: str) -> dict[str, Any] | None:
    """A ``trace`` line as the monitor prints it; None for a header or foreign line."""
    if line.startswith("#") or ": cxl_" not in line:
        return None
    head, _, rest = line.partition(": cxl_")
    event, _, body = rest.partition(": ")
    stamp = head.rsplit(" ", 1)[-1]
    seconds, _, micro = stamp.partition(".")
    obj: dict[str, Any] = {"system": "cxl", "event": f"cxl_{event}"}
    if seconds.isdigit() and micro.isdigit():
        obj["timestamp"] = int(seconds) * 1_000_000_000 + int(micro.ljust(9, "0")[:9])
    for word in body.split(" "):
        key, eq, value = word.partition("=")
        if eq and key:
            obj[key] = _value(value.rstrip(":"))
    return obj


def _written(text: bytes) -> int:
    for line in text.splitlines():
        if line.startswith(b"# entries-in-buffer/entries-written:"):
            return int(line.split(b":", 1)[1].split()[0].split(b"/")[1])
    return 0


class _Destination:
    def __init__(self, path: str) -> None:
        self.path = path
        self.file: TextIO | None = None
        if path != "./standard":
            self.file = open(path, "a", buffering=1)  # noqa: SIM115 - kept for the run

    def notice(self, text: str) -> None:
        if self.file is None:
            sys.stderr.write(text + "\n")
        else:
            self.file.write(text + "\n")

    def info(self, text: str) -> None:
        if self.file is None:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        else:
            stamp = time.time()
            self.file.write(f"[{int(stamp)}.{int(stamp % 1 * 1e9):09d}] [{os.getpid()}] {text}\n")


def cmd_monitor(argv: list[str], sysfs: Sysfs) -> int:
    try:
        values, args = parse_options(argv, OPTIONS, USAGE)
    except UsageExit as e:
        return e.emit()
    if args:
        for arg in args:
            error(f'unknown parameter "{arg}"\n')
        sys.stderr.write(usage_text(USAGE, OPTIONS))
        return EXIT_USAGE
    log = values["log"]
    assert log is None or isinstance(log, str)
    if log is not None and not log.startswith(("/", "./")) and log != "-":
        log = "./" + log
    if values["daemon"]:
        if log is not None and log.startswith("./"):
            error("relative path or 'standard' are not compatible with daemon mode")
            return -errno.EINVAL
        log = log or "/var/log/cxl-monitor.log"
    try:
        dest = _Destination(log or "./standard")
    except OSError as e:
        error(f"open {log} failed: {-(e.errno or errno.EIO)}")
        return -(e.errno or errno.EIO)
    if values["daemon"]:
        # daemon(0, 0): detached, in /, with the standard streams on /dev/null.
        if os.fork():
            os._exit(0)
        os.setsid()
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        dest.info("cxl monitor daemon started.")
    try:
        sysfs.write(f"{TRACING}/events/cxl/enable", b"1\n\0")
        sysfs.write(f"{TRACING}/tracing_on", b"1\n\0")
    except OSError as e:
        dest.notice(f"trace_event_enable() failed: {-(e.errno or errno.EIO)}")
        return 1
    return _loop(sysfs, dest, bool(values["human"]))


def _loop(sysfs: Sysfs, dest: _Destination, human: bool) -> int:
    sysfs.refresh()
    seen = _written(sysfs.read(f"{TRACING}/trace"))
    try:
        while True:
            time.sleep(POLL_SECONDS)
            sysfs.refresh()
            text = sysfs.read(f"{TRACING}/trace")
            written = _written(text)
            if written <= seen:
                seen = min(seen, written)
                continue
            lines = [ln for ln in text.decode(errors="replace").splitlines() if ln[:1] != "#"]
            for line in lines[len(lines) - (written - seen) :]:
                obj = event_json(line)
                if obj is not None:
                    dest.notice(jsonc.dumps(obj) if human else _compact(obj))
            seen = written
    except KeyboardInterrupt:
        return 0


def _compact(obj: dict[str, Any]) -> str:
    parts = [jsonc.quote(k) + ":" + jsonc.dumps(v) for k, v in obj.items()]
    return "{" + ",".join(parts) + "}"
