"""Upstream's log lines: ``<owner>: <function>: <message>`` on stderr, by priority.

The middle field is the name of the C function that logs the message upstream; callers pass
it explicitly, since scripts and users see it.
"""

from __future__ import annotations

import os
import sys

LOG_ERR = 3
LOG_NOTICE = 5
LOG_INFO = 6
LOG_DEBUG = 7


def priority_from_env(var: str, default: int = LOG_ERR) -> int:
    """An env override: a number, or a name starting with err/info/debug/notice; any other
    text silences the log."""
    value = os.environ.get(var)
    if value is None:
        return default
    if value[:1].isdigit():
        digits = ""
        for c in value:
            if not c.isdigit():
                break
            digits += c
        return int(digits)
    for name, prio in (
        ("err", LOG_ERR),
        ("info", LOG_INFO),
        ("debug", LOG_DEBUG),
        ("notice", LOG_NOTICE),
    ):
        if value.startswith(name):
            return prio
    return 0


class Log:
    def __init__(self, owner: str, env: str) -> None:
        self.owner = owner
        self.priority = priority_from_env(env)

    def log(self, prio: int, func: str, msg: str) -> None:
        if self.priority >= prio:
            sys.stderr.write(f"{self.owner}: {func}: {msg}")

    def err(self, func: str, msg: str) -> None:
        self.log(LOG_ERR, func, msg)

    def info(self, func: str, msg: str) -> None:
        self.log(LOG_INFO, func, msg)

    def dbg(self, func: str, msg: str) -> None:
        if self.priority >= LOG_DEBUG:
            self.log(LOG_DEBUG, func, msg)

    @property
    def debug(self) -> bool:
        return self.priority >= LOG_DEBUG


def error(msg: str) -> None:
    """``error()``: two spaces, ``Error: ``, the message (which may carry its own newline)."""
    sys.stderr.write(f"  Error: {msg}\n")


def warning(msg: str) -> None:
    sys.stderr.write(f"  Warning: {msg}\n")
