"""The one place where pycxl (ndctl v81 behaviour) is compared with the v76.1 oracle.

Every rule here is a documented v76.1 -> v81 difference (docs: cxl-cli.md §10); nothing
else may be normalized.

* JSON keys added after v76.1 are removed from pycxl's output: memdev ``pmem_qos_class``,
  ``ram_qos_class``, ``firmware_version``; port/endpoint ``parent_dport``,
  ``decoders_committed``; root decoder ``qos_class``; region ``type``,
  ``qos_class_mismatch``, ``daxregion`` (-X).
* The ``cxl list`` usage block of v76.1 lacks the ``-X``, ``-F`` and ``-L`` lines.
* Command lines: v81 ``-v`` also lists regions; with an explicit listing flag v76.1 needs
  ``-R`` for the same listing. v81 ``-vvv`` adds ``-F -X -L`` to v76.1's ``-vvv``, so pycxl
  runs ``-vv -H -I -A`` where the oracle runs ``-vvv``. Where no v76.1 command line means
  the same (``-X``/``-F``/``-L``; ``-v`` with filters only, where v81 adds regions to an
  implied listing; ``-r`` with decoders listed, since v76.1 root decoders never match
  ``-r``), the case has no oracle and is left to the golden v81 set.
"""

from __future__ import annotations

import json
from typing import Any

from pycxl.util import jsonc

V81_ONLY_KEYS = frozenset(
    {
        "pmem_qos_class",
        "ram_qos_class",
        "firmware_version",
        "parent_dport",
        "decoders_committed",
        "qos_class",
        "type",
        "qos_class_mismatch",
        "daxregion",
    }
)
V81_ONLY_USAGE = (
    "    -X, --dax             include CXL DAX region enumeration\n",
    "    -F, --firmware        include memory device firmware information\n",
    "    -L, --media-errors    include media-error information \n",
)
_LISTING = set("MBPEDR")
_FILTERS = set("msbpedr")


def _short_flags(argv: list[str]) -> tuple[set[str], int]:
    """Which short options a `cxl list` command line uses, and its -v count.

    The conformance matrix spells options as short flags, values as separate words."""
    seen: set[str] = set()
    verbose = 0
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1:
            for i, c in enumerate(arg[1:]):
                seen.add(c)
                if c == "v":
                    verbose += 1
                if c in _FILTERS:
                    skip = i == len(arg) - 2
                    break
    return seen, verbose


def command_lines(argv: list[str]) -> tuple[list[str], list[str]] | None:
    """(pycxl argv, oracle argv) meaning the same listing, or None if v76.1 has none."""
    flags, verbose = _short_flags(argv)
    if flags & {"X", "F", "L"}:
        return None
    if verbose and not flags & _LISTING and flags & _FILTERS:
        return None
    if "r" in flags and ("D" in flags or verbose):
        return None
    if verbose >= 3:
        pycxl = [a for a in argv if not (a.startswith("-v") and set(a[1:]) == {"v"})]
        return [*pycxl, "-vv", "-H", "-I", "-A"], argv
    if verbose and flags & _LISTING:
        return argv, [*argv, "-R"]
    return argv, argv


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in V81_ONLY_KEYS}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def stdout(out: bytes) -> bytes:
    if not out.strip():
        return out
    return (jsonc.dumps(_strip(json.loads(out))) + "\n").encode()


#: v81 gave the memdev commands a ``-b`` bus filter (cxl-cli.md §6.1); their v76.1 usage
#: block lacks its line (the region commands' identical line is in both).
MEMDEV_BUS_USAGE = b"    -b, --bus <bus name>  Limit operation to the specified bus\n"


def memdev_stderr(err: bytes) -> bytes:
    """A memdev command's stderr as v76.1 prints it: ``stderr`` and no ``-b`` usage line."""
    return stderr(err).replace(MEMDEV_BUS_USAGE, b"")


def stderr(err: bytes) -> bytes:
    text = err.decode(errors="surrogateescape")
    for line in V81_ONLY_USAGE:
        text = text.replace(line, "")
    return text.encode(errors="surrogateescape")
