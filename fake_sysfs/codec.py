"""Dataclasses to and from JSON-ready values, for the state store.

Loaders are compiled once per class from its type hints, so loading a 1,024-memdev state is
a flat loop of constructor calls rather than reflection per field.

A field whose metadata marks it ``transient`` (indexes rebuilt on demand) is neither stored
nor expected: a loaded object gets the field's default.
"""

from __future__ import annotations

import dataclasses
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
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: dump(getattr(obj, f.name)) for f in _stored(dataclasses.fields(obj))}
    if isinstance(obj, list):
        return [dump(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): dump(v) for k, v in obj.items()}
    return obj


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
        hints = typing.get_type_hints(tp)
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
