"""``cxl monitor``: print the CXL trace events the kernel records, one JSON object per
event, until interrupted.

As upstream v81: a private tracefs instance ``cxl_monitor`` (made if missing, never
removed), every event of the ``cxl`` system enabled in it and its tracing turned on; then
its per-CPU binary buffers are read and consumed, each record printed as util/event_trace.c
prints it (pycxl.util.event_trace): ``{"system":"cxl","event":...,"timestamp":<ns>,
fields...}`` with the fields typed by the event's format file (compact JSON, pretty with
``-u``). Upstream sleeps in epoll on the instance's ``trace_pipe``; this looks again every
100 ms. Events are logged at notice priority: with ``-l standard`` (the default) they go
to stderr; with ``-l FILE`` they are appended to FILE.
"""

from __future__ import annotations

import errno
import os
import sys
import time

from pycxl.util import event_trace, jsonc, tracefs
from pycxl.util.log import error
from pycxl.util.parse_options import EXIT_USAGE, Opt, UsageExit, parse_options, usage_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO

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
#: The private instance and the trace system (as upstream names them).
INSTANCE = "cxl_monitor"
SYSTEM = "cxl"
#: How often the emulated buffer is looked at.
POLL_SECONDS = 0.1


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

    def err(self, text: str) -> None:
        """err(): stderr, or the file with a time and pid prefix."""
        if self.file is None:
            sys.stderr.write(text + "\n")
        else:
            self.info(text)

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
    return monitor_events(sysfs, dest, bool(values["human"]))


def monitor_events(sysfs: Sysfs, dest: _Destination, human: bool) -> int:
    """monitor_event(): the private instance, its events, then each record as it comes."""
    inst = tracefs.Instance.create(sysfs, INSTANCE)
    if inst is None:
        rc = -errno.ENOENT
        dest.err(f"tracefs_instance_create( failed: {rc}")
        return rc
    pipe = f"{inst.dir}/trace_pipe"
    if not sysfs.exists(pipe):
        rc = -errno.ENOENT
        dest.err(f"tracefs_instance_file_open() err: {rc}")
        return rc
    rc = event_trace.event_enable(inst, SYSTEM)
    if rc < 0:
        dest.err(f"trace_event_enable() failed: {rc}")
        return rc
    try:
        while True:
            # Upstream waits in epoll on the instance's trace_pipe; here, looking again
            # every POLL_SECONDS stands in for the wakeup.
            sysfs.refresh()
            try:
                # Only the cxl system's formats: records of others are dropped anyway.
                records = inst.read_raw(SYSTEM)
            except OSError as e:
                rc = -(e.errno or errno.EIO)
                break
            for record in records:
                if record.event.system != SYSTEM:
                    continue
                obj = event_trace.record_json(record)
                dest.notice(jsonc.dumps(obj).rstrip("\n") if human else event_trace.plain(obj))
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        # SIGINT ends upstream's process where it is: the instance keeps tracing on.
        return 0
    if inst.trace_off() < 0:
        dest.err("failed to disable tracing")
    return rc
