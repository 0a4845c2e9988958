"""Text users write into platform descriptions: numbers, identifiers, names.

Everything here is ASCII by rule. Python's ``int()``, ``str.isdigit()`` and ``\\d`` accept
any Unicode decimal digit (``٣``) and ``int()`` also ``_`` separators (``1_0``); QEMU, the
kernel and C's ``strtoull`` do not, so neither does fake_sysfs.
"""

from __future__ import annotations

import re

from fake_sysfs.errors import PlatformError

DIGITS = frozenset("0123456789")
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: C's isspace() in the C locale: what strtoull()/strtod() skip before a number.
C_SPACE = frozenset(" \t\n\v\f\r")

#: QEMU's id_wellformed() (util/id.c): an ASCII letter, then ASCII letters, digits, '-', '.'
#: and '_'. No '/', no leading '.', so an id is also a safe file name.
ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
#: A label becomes a directory name below /sys (style cxl_test): at most NAME_MAX bytes.
NAME_MAX = 255
#: Names and descriptions are shown on one line; longer ones are refused.
MAX_TEXT = 256


def brief(text: str, limit: int = 72) -> str:
    """``text`` fit for a one-line message: control characters escaped, long text cut."""
    if len(text) > 4 * limit:
        text = text[: 4 * limit]
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def quote(value: object, limit: int = 72) -> str:
    """``value`` as Python's repr() shows it (a string quoted), cut to ``limit`` characters."""
    if isinstance(value, str):
        value = value[: 4 * limit]
    return brief(repr(value), limit)


def show_int(value: int) -> str:
    """``value`` for a message: digits, cut short for huge numbers (str() refuses more than
    4300 digits)."""
    if value.bit_length() > 256:
        return f"{'-' if value < 0 else ''}a {value.bit_length()}-bit number"
    return brief(str(value))


def check_id(value: str, where: str) -> None:
    """Refuse what QEMU's id_wellformed() refuses."""
    if not ID_RE.fullmatch(value):
        raise PlatformError(
            f"{where}: id {quote(value)} is not an identifier "
            "(a letter, then letters, digits, '-', '.' or '_')"
        )


def check_label(value: str, where: str) -> None:
    """A platform-file label: empty (none), or an identifier as QEMU and sysfs accept it."""
    if not value:
        return
    if not ID_RE.fullmatch(value):
        raise PlatformError(
            f"{where}: label {quote(value)} is not an identifier "
            "(an ASCII letter, then letters, digits, '-', '.' or '_')"
        )
    if len(value) > NAME_MAX:
        raise PlatformError(f"{where}: label {quote(value)} is longer than {NAME_MAX} bytes")


def check_line(value: str, where: str, *, empty: bool) -> None:
    """A name or description shown on one line: printable, at most MAX_TEXT characters."""
    if not value and not empty:
        raise PlatformError(f"{where}: must not be empty")
    if not value.isprintable():
        raise PlatformError(f"{where}: {quote(value)} contains control characters")
    if len(value) > MAX_TEXT:
        raise PlatformError(f"{where}: longer than {MAX_TEXT} characters")
