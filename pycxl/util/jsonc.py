"""JSON text exactly as json-c 0.16 prints it with JSON_C_TO_STRING_PRETTY.

Two-space indentation, ``"key":value`` without a space, ``/`` escaped as ``\\/``, control
characters as ``\\u00xx`` (lowercase hex), bytes >= 0x80 verbatim, and an empty array or
object as its opening bracket, a newline, the indentation and its closing bracket.
"""

from __future__ import annotations

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
    return '"' + s.translate(_TABLE) + '"'


def dumps(value: JsonValue) -> str:
    out: list[str] = []
    _emit(value, 0, out)
    return "".join(out)


def _emit(value: JsonValue, level: int, out: list[str]) -> None:
    if isinstance(value, dict):
        inner = "  " * (level + 1)
        out.append("{\n")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",\n")
            out.append(inner)
            out.append(quote(key))
            out.append(":")
            _emit(item, level + 1, out)
        if value:
            out.append("\n")
        out.append("  " * level)
        out.append("}")
    elif isinstance(value, list):
        inner = "  " * (level + 1)
        out.append("[\n")
        for i, item in enumerate(value):
            if i:
                out.append(",\n")
            out.append(inner)
            _emit(item, level + 1, out)
        if value:
            out.append("\n")
        out.append("  " * level)
        out.append("]")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, str):
        out.append(quote(value))
    elif value is None:
        out.append("null")
    else:
        raise TypeError(f"not a JSON value: {value!r}")
