"""Where a platform's state lives, and how to tell one stored state from another.

Kept apart from the store itself, and free of heavy imports, so that readers which only need
the paths (the in-process frontend answering from its read cache) import nothing else.
"""

from __future__ import annotations

import os

STATE_FILE = "state.json"
LOCK_FILE = "lock"
#: The in-process frontend's persistent read cache (frontends/readcache.py).
CACHE_FILE = "reads.cache"

#: What identifies one committed state: every commit renames a new file over state.json,
#: so the inode changes with each commit, and size and modification time come with it.
StateIdentity = tuple[int, int, int, int]


def default_state_dir() -> str:
    """``$FAKE_SYSFS_STATE``, else ``$XDG_STATE_HOME/fake-sysfs`` (``~/.local/state/...``).

    A string: pathlib costs a start-up that a cached ``cxl list`` cannot afford."""
    explicit = os.environ.get("FAKE_SYSFS_STATE")
    if explicit:
        return explicit
    xdg = os.environ.get("XDG_STATE_HOME")
    base = xdg or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "fake-sysfs")


def identity(st: os.stat_result) -> StateIdentity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def current_identity(state_file: str) -> StateIdentity | None:
    """The identity of the state committed now; None when there is none."""
    try:
        return identity(os.stat(state_file))
    except OSError:
        return None
