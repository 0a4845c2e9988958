"""The wall clock the device's background work runs on (firmware transfers, sanitize).

It is the kernel log's clock (``fake_sysfs.kernel.log.wall_clock``, which tests may
replace), so a store that starts background work is a function of the state, the bytes
written and that clock. The work ends at a recorded wall-clock deadline; ``timers`` applies
what is due.
"""

from __future__ import annotations

from fake_sysfs.kernel import log


def now() -> float:
    return log.wall_clock()
