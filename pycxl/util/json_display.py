"""The top-level printing cxl and daxctl share (upstream's util_display_json_array)."""

from __future__ import annotations

import sys

from pycxl.util import jsonc
from pycxl.util.log import warning

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def display_json_array(result: list[Any], human: bool) -> None:
    """An array, unless -u and exactly one element (printed bare); an empty array warns,
    with the blank line upstream's message carries."""
    if len(result) > 1 or not human:
        if not result:
            warning("no matching devices found\n")
        sys.stdout.write(jsonc.dumps(result) + "\n")
    elif result:
        sys.stdout.write(jsonc.dumps(result[0]) + "\n")
