"""What a device command handler returns, and how the mock fails a request outright."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fake_sysfs.kernel.memdevs import Memdev
    from fake_sysfs.kernel.state import Kernel

#: (return code, output payload).
Reply = tuple[int, bytes]
Handler = Callable[["Kernel", "Memdev", bytes], Reply]

#: Capacities travel in units of 256 MiB.
CAPACITY_UNIT = 256 << 20


class DeviceErrno(Exception):
    """The cxl_test mock answers a malformed request with a plain -errno instead of a
    return code; the ioctl then fails with that errno."""

    def __init__(self, err: int) -> None:
        super().__init__(err)
        self.errno = err
