"""Records the device keeps in lists (poison)."""

from __future__ import annotations

from dataclasses import dataclass

from fake_sysfs.record import Record

#: Poison source: injected through the test hooks.
INJECTED = 3


@dataclass(eq=False, repr=False)
class PoisonRecord(Record):
    """64-byte units of poisoned device physical address."""

    dpa: int
    #: In 64-byte units.
    length: int = 1
    source: int = INJECTED
