"""JSON text exactly as json-c 0.16 prints it with JSON_C_TO_STRING_PRETTY.

Two-space indentation, ``"key":value`` without a space, ``/`` escaped as ``\\/``, control
characters as ``\\u00xx`` (lowercase hex), bytes >= 0x80 verbatim, and an empty array or
object as its opening bracket, a newline, the indentation and its closing bracket.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    JsonValue = Any

_ESCAPES = {
    "\b": "\\b",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\f": "\\f",
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
}
for _c in range(0x20):
    _ESCAPES.setdefault(chr(_c), f"\\u00{_c:02x}")
_TABLE = str.maketrans(_ESCAPES)


def quote(s: str) -> str:
    # Most strings need no escape: every character json-c escapes is either a control
    # character (never printable) or one of the three tested here, and checking is several
    # times cheaper than translate().
    if s.isprintable() and '"' not in s and "\\" not in s and "/" not in s:
        return '"' + s + '"'
    return '"' + s.translate(_TABLE) + '"'


class _QuotedKeys(dict[str, str]):
    """``"key":`` for each object key seen, made on first use. Keys come from a small set
    (field names and ``kind:devname`` container names), so the memo stays small."""

    def __missing__(self, key: str) -> str:
        text = self[key] = quote(key) + ":"
        return text


_KEYS = _QuotedKeys()


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _null(value: None) -> str:
    return "null"


#: The text of a scalar of exactly this type (subclasses take the slower generic path).
_SCALARS: dict[type, Callable[[Any], str]] = {
    str: quote,
    int: int.__repr__,
    bool: _bool,
    type(None): _null,
}


def dumps(value: JsonValue) -> str:
    out: list[str] = []
    _emit(value, 0, out)
    return "".join(out)


def _emit(value: JsonValue, level: int, out: list[str]) -> None:
    to_text = _SCALARS.get(type(value))
    if to_text is not None:
        out.append(to_text(value))
    elif isinstance(value, dict):
        _emit_object(value, level, out)
    elif isinstance(value, list):
        _emit_array(value, level, out)
    else:
        out.append(_generic_scalar(value))


class _Layout:
    """The fixed texts around the members of a container at one depth (computed once per
    depth rather than once per container)."""

    __slots__ = (
        "close_array",
        "close_object",
        "empty_array",
        "empty_object",
        "first_item",
        "first_member",
        "next_item",
    )

    def __init__(self, level: int) -> None:
        outer = "  " * level
        inner = outer + "  "
        self.first_member = "{\n" + inner
        self.first_item = "[\n" + inner
        self.next_item = ",\n" + inner
        self.close_object = "\n" + outer + "}"
        self.close_array = "\n" + outer + "]"
        self.empty_object = "{\n" + outer + "}"
        self.empty_array = "[\n" + outer + "]"


_LAYOUTS: list[_Layout] = []


def _layout(level: int) -> _Layout:
    """The layout at depth ``level``, made on first use."""
    while len(_LAYOUTS) <= level:
        _LAYOUTS.append(_Layout(len(_LAYOUTS)))
    return _LAYOUTS[level]


def _emit_object(obj: dict[str, JsonValue], level: int, out: list[str]) -> None:
    layout = _layout(level)
    if not obj:
        out.append(layout.empty_object)
        return
    sep = layout.first_member
    nxt = layout.next_item
    keys = _KEYS
    for key, item in obj.items():
        # One append per scalar member; only containers recurse.
        to_text = _SCALARS.get(type(item))
        if to_text is not None:
            out.append(sep + keys[key] + to_text(item))
        else:
            out.append(sep + keys[key])
            _emit(item, level + 1, out)
        sep = nxt
    out.append(layout.close_object)


def _emit_array(arr: list[JsonValue], level: int, out: list[str]) -> None:
    layout = _layout(level)
    if not arr:
        out.append(layout.empty_array)
        return
    sep = layout.first_item
    nxt = layout.next_item
    for item in arr:
        to_text = _SCALARS.get(type(item))
        if to_text is not None:
            out.append(sep + to_text(item))
        else:
            out.append(sep)
            _emit(item, level + 1, out)
        sep = nxt
    out.append(layout.close_array)


def _generic_scalar(value: JsonValue) -> str:
    """Scalars of subclassed types (an IntEnum, a str subclass), as their base type."""
    if isinstance(value, bool):
        return _bool(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"not a JSON value: {value!r}")
