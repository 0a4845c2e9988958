"""Dataclasses to and from JSON-ready values, for the state store.

Loaders are compiled once per class from its type hints, so loading a 1,024-memdev state is
a flat loop of constructor calls rather than reflection per field.

A field whose metadata marks it ``transient`` (indexes rebuilt on demand) is neither stored
nor expected: a loaded object gets the field's default.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Loader = Callable[[Any], Any]

_LOADERS: dict[Any, Loader] = {}


TRANSIENT = {"transient": True}


def _stored(fields: tuple[dataclasses.Field[Any], ...]) -> list[dataclasses.Field[Any]]:
    return [f for f in fields if not f.metadata.get("transient")]


def dump(obj: Any) -> Any:
    """``obj`` as JSON-ready values. Dataclasses are dumped by a function compiled once per
    class (its stored field names), so a 1,024-memdev state is not reflected on per field."""
    cls = obj.__class__
    dumper = _DUMPERS.get(cls)
    if dumper is not None:
        return dumper(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = tuple(f.name for f in _stored(dataclasses.fields(obj)))

        def dump_dataclass(value: Any) -> Any:
            d = value.__dict__
            return {name: dump(d[name]) for name in names}

        _DUMPERS[cls] = dump_dataclass
        return dump_dataclass(obj)
    if cls is list:
        return [x if x.__class__ in _PLAIN else dump(x) for x in obj]
    if cls is dict:
        return {
            (k if k.__class__ is str else str(k)): (v if v.__class__ in _PLAIN else dump(v))
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [dump(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): dump(v) for k, v in obj.items()}
    return obj


#: Values dumped as themselves.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})
_DUMPERS: dict[type, Callable[[Any], Any]] = {t: (lambda value: value) for t in _PLAIN}


def load(tp: type[T], data: Any) -> T:
    result: T = _loader(tp)(data)
    return result


def _identity(value: Any) -> Any:
    return value


def _loader(tp: Any) -> Loader:
    cached = _LOADERS.get(tp)
    if cached is not None:
        return cached
    loader = _build(tp)
    _LOADERS[tp] = loader
    return loader


def _build(tp: Any) -> Loader:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        names = [f.name for f in _stored(dataclasses.fields(tp))]
        transient = [
            (f.name, f.default_factory)
            for f in dataclasses.fields(tp)
            if f.metadata.get("transient") and f.default_factory is not dataclasses.MISSING
        ]
        expected = frozenset(names)
        convert = [(n, fn) for n in names if (fn := _loader(hints[n])) is not _identity]
        cls = tp
        new = object.__new__

        def load_dataclass(data: Any) -> Any:
            # The dict was just parsed and is ours: convert nested fields in place and make
            # it the instance's __dict__, skipping __init__ (a state holds every field).
            if not isinstance(data, dict) or data.keys() != expected:
                raise ValueError(f"{cls.__name__}: not the stored fields of this version")
            for name, fn in convert:
                data[name] = fn(data[name])
            for name, factory in transient:
                data[name] = factory()
            obj = new(cls)
            obj.__dict__ = data
            return obj

        return load_dataclass
    if origin is list:
        item = _loader(args[0])

        def load_list(data: Any) -> Any:
            if not isinstance(data, list):
                raise ValueError(f"expected a list, got {type(data).__name__}")
            return data if item is _identity else [item(x) for x in data]

        return load_list
    if origin is dict:
        key_type, value_type = args
        value = _loader(value_type)

        def load_dict(data: Any) -> Any:
            if not isinstance(data, dict):
                raise ValueError(f"expected a mapping, got {type(data).__name__}")
            if key_type is int:
                return {int(k): value(v) for k, v in data.items()}
            return {k: value(v) for k, v in data.items()}

        return load_dict
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            one = _loader(inner[0])
            if one is _identity:
                return _identity
            return lambda data: None if data is None else one(data)
    return _identity


_BUILTIN_TYPES: dict[str, Any] = {
    "int": int,
    "str": str,
    "bool": bool,
    "float": float,
    "bytes": bytes,
    "None": type(None),
    "Any": typing.Any,
}


def _hints(tp: type) -> dict[str, Any]:
    """The resolved field types of a dataclass. Its annotations are strings (postponed
    evaluation); ``typing.get_type_hints`` compiles each one, which costs a process that
    decodes a state a tenth of a second. The forms the state's classes use (names,
    ``list[X]``, ``dict[K, V]``, ``X | None``) are resolved here directly; anything else
    falls back to ``typing``."""
    namespace = vars(sys.modules[tp.__module__])
    hints: dict[str, Any] = {}
    for f in dataclasses.fields(tp):
        annotation = f.type
        if not isinstance(annotation, str):
            hints[f.name] = annotation
            continue
        resolved = _resolve(annotation.replace(" ", ""), namespace)
        if resolved is None:
            return typing.get_type_hints(tp)
        hints[f.name] = resolved
    return hints


#: The resolved field types of a dataclass (for code that walks the state's classes).
field_types = _hints


def _resolve(text: str, namespace: dict[str, Any]) -> Any:
    """One annotation (without spaces), or None when its form is not one of ours."""
    if "|" in text:
        parts = _split_top(text, "|")
        if len(parts) == 2 and "None" in parts:
            inner = _resolve(parts[0] if parts[1] == "None" else parts[1], namespace)
            return None if inner is None else typing.Optional[inner]  # noqa: UP045
        return None
    if text.endswith("]"):
        head, _, rest = text.partition("[")
        if head == "Literal":
            return typing.Any  # literal values are stored as themselves
        args = [_resolve(a, namespace) for a in _split_top(rest[:-1], ",")]
        if any(a is None for a in args):
            return None
        if (head, len(args)) in (("list", 1), ("dict", 2)):
            return types.GenericAlias(list if head == "list" else dict, tuple(args))
        return None
    if text in _BUILTIN_TYPES:
        return _BUILTIN_TYPES[text]
    found = namespace.get(text)
    if isinstance(found, type):
        return found
    if typing.get_origin(found) is typing.Literal:  # an alias such as RegionMode
        return typing.Any
    return None


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split on ``sep`` outside brackets."""
    parts: list[str] = []
    depth = start = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts
