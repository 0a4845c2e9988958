"""Dataclasses to and from JSON-ready values, for the state store.

Two forms: ``dump``/``load`` make a dataclass a JSON object keyed by field name (what tests,
fingerprints and journal records use), ``dump_rows``/``load_rows`` make it a row, the list
of its field values in declaration order (the state file's snapshot: at 1,024 memdevs it is
half the bytes and parses in less than half the time, since no field name is repeated
28,000 times). A row means nothing without its class's field list, so the snapshot carries
``schema`` (every stored class's field names) and is loaded only by code whose schema is the
same: a field added, removed, renamed or moved is "another version", never a silent shift.

Loaders and dumpers are compiled once per class from its type hints, so loading a 1,024-memdev
state is a flat loop of constructor calls rather than reflection per field; fields whose
type holds no dataclass are passed through as they are (json copies them as it encodes).

A field whose metadata marks it ``transient`` (indexes rebuilt on demand) is neither stored
nor expected: a loaded object gets the field's default.
"""

from __future__ import annotations

import dataclasses
import operator
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
    optional = _optional_of(origin, args)
    if optional is not None:
        one = _loader(optional)
        return _identity if one is _identity else _none_or(one)
    return _identity


def _none_or(convert: Loader) -> Loader:
    """``convert``, with None passed through (a field of type ``X | None``)."""
    return lambda value: None if value is None else convert(value)


def _optional_of(origin: Any, args: tuple[Any, ...]) -> Any | None:
    """The X of a type ``X | None`` (given as its origin and arguments); None for any
    other type."""
    if origin not in (typing.Union, types.UnionType):
        return None
    inner = [a for a in args if a is not type(None)]
    return inner[0] if len(inner) == 1 else None


# -- rows (the state file's snapshot) ------------------------------------------------------


def stored_classes(root: type) -> list[type]:
    """``root`` and every dataclass its stored fields' types reach, ``root`` first. Their
    names are unique (a snapshot names its rows' classes so): TypeError otherwise."""
    found: dict[str, type] = {}
    todo: list[Any] = [root]
    while todo:
        tp = todo.pop()
        if not (dataclasses.is_dataclass(tp) and isinstance(tp, type)):
            todo.extend(typing.get_args(tp))
            continue
        met = found.get(tp.__name__)
        if met is tp:
            continue
        if met is not None:
            raise TypeError(f"two stored classes named {tp.__name__}")
        found[tp.__name__] = tp
        hints = _hints(tp)
        todo.extend(hints[f.name] for f in _stored(dataclasses.fields(tp)))
    return list(found.values())


def schema(tp: type) -> dict[str, list[str]]:
    """The stored field names of ``tp`` and of every dataclass it reaches, by class name:
    what a snapshot of ``tp`` in rows needs to be read back."""
    return {
        cls.__name__: [f.name for f in _stored(dataclasses.fields(cls))]
        for cls in sorted(stored_classes(tp), key=lambda cls: cls.__name__)
    }


def dump_rows(obj: Any) -> Any:
    """``obj`` (a dataclass instance) as rows. The result shares the lists and dicts of
    fields that hold no dataclass with ``obj``: encode it before anything changes."""
    return _row_dumper(type(obj))(obj)


def load_rows(tp: type[T], data: Any) -> T:
    """The ``tp`` dumped as ``data`` by ``dump_rows`` (whose lists it takes over).
    ValueError when ``data`` is not rows of ``tp``'s fields."""
    loaders = _ROW_LOADERS.get(tp)
    if loaders is None:
        loaders = _ROW_LOADERS[tp] = _RowLoaders(tp).loader(tp)
    result: T = loaders(data)
    return result


_ROW_DUMPERS: dict[Any, Loader | None] = {}
_ROW_LOADERS: dict[type, Loader] = {}


def _row_dumper(tp: Any) -> Loader:
    dumper = _row_dumper_or_none(tp)
    return _identity if dumper is None else dumper


def _row_dumper_or_none(tp: Any) -> Loader | None:
    """How to dump a value of type ``tp``; None when it is dumped as it is."""
    if tp in _ROW_DUMPERS:
        return _ROW_DUMPERS[tp]
    _ROW_DUMPERS[tp] = _dump_later(tp)  # a class that holds itself (through a list)
    dumper = _build_row_dumper(tp)
    _ROW_DUMPERS[tp] = dumper
    return dumper


def _dump_later(tp: Any) -> Loader:
    return lambda value: _row_dumper(tp)(value)


def _build_row_dumper(tp: Any) -> Loader | None:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        fields = _stored(dataclasses.fields(tp))
        names = [f.name for f in fields]
        nested = [
            (i, fn)
            for i, f in enumerate(fields)
            if not _literal(tp, f) and (fn := _row_dumper_or_none(hints[f.name])) is not None
        ]
        getter: Loader = _row_values(names)
        if not nested:
            return getter  # a tuple: json writes it as the list it loads as

        def dump_dataclass(value: Any) -> Any:
            row = list(getter(value))
            for i, fn in nested:
                row[i] = fn(row[i])
            return row

        return dump_dataclass
    if origin is list:
        item = _row_dumper_or_none(args[0])
        if item is None:
            return None
        return lambda value: [item(x) for x in value]
    if origin is dict:
        inner = _row_dumper_or_none(args[1])
        if inner is None:
            return None
        return lambda value: {k: inner(v) for k, v in value.items()}
    optional = _optional_of(origin, args)
    if optional is not None:
        inner_dumper = _row_dumper_or_none(optional)
        return None if inner_dumper is None else _none_or(inner_dumper)
    if tp in (int, str, bool, float, type(None)):
        return None
    # Anything else (Any, literals) may hold any value: the same form ``load`` reads back.
    return dump


class _RowLoaders:
    """The row loaders of a dataclass and of every dataclass it reaches, compiled together
    from one generated source (as dataclasses compiles ``__init__``): one function per
    class whose dict display names each field and converts the nested ones inline. A
    1,024-memdev snapshot makes 28,000 objects; a display with inline comprehensions is
    several times faster than pairing names with values and calling a converter per value.

    A row that is not a list of the right length raises ValueError; any other misfit
    (a mapping where a list belongs, a string for a number key) raises the TypeError,
    AttributeError or ValueError its conversion meets."""

    def __init__(self, root: type) -> None:
        self.namespace: dict[str, Any] = {"new": object.__new__, "list": list, "int": int}
        # One function per class, named after it (stored_classes: the names are unique).
        functions = [self._function(cls) for cls in stored_classes(root)]
        exec("".join(functions), self.namespace)  # built from field names only

    def loader(self, cls: type) -> Loader:
        found: Loader = self.namespace[f"load_{cls.__name__}"]
        return found

    def _function(self, cls: type) -> str:
        name = cls.__name__
        self.namespace[f"cls_{name}"] = cls
        hints = _hints(cls)
        items = []
        count = 0
        for f in dataclasses.fields(cls):
            if f.metadata.get("transient"):
                if f.default_factory is not dataclasses.MISSING:
                    self.namespace[f"make_{name}_{f.name}"] = f.default_factory
                    items.append(f"{f.name!r}: make_{name}_{f.name}()")
                continue
            items.append(f"{f.name!r}: {self._expr(hints[f.name], f'row[{count}]', 0)}")
            count += 1
        return (
            f"def load_{name}(row):\n"
            f"    if row.__class__ is not list or len(row) != {count}:\n"
            f"        raise ValueError('{name}: not a row of its stored fields')\n"
            f"    obj = new(cls_{name})\n"
            f"    obj.__dict__ = {{{', '.join(items)}}}\n"
            "    return obj\n"
        )

    def _expr(self, tp: Any, src: str, depth: int) -> str:
        """An expression converting the stored value ``src`` to a value of type ``tp``."""
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return f"load_{tp.__name__}({src})"
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        v, k = f"v{depth}", f"k{depth}"
        if origin is list:
            inner = self._expr(args[0], v, depth + 1)
            return src if inner == v else f"[{inner} for {v} in {src}]"
        if origin is dict:
            inner = self._expr(args[1], v, depth + 1)
            key = f"int({k})" if args[0] is int else k
            if inner == v and key == k:
                return src
            return f"{{{key}: {inner} for {k}, {v} in {src}.items()}}"
        optional = _optional_of(origin, args)
        if optional is not None:
            inner = self._expr(optional, src, depth)
            return src if inner == src else f"(None if {src} is None else {inner})"
        return src  # plain values, and what ``dump`` wrote for any other type


def _row_values(names: list[str]) -> Loader:
    """The field values of an object as a tuple (attrgetter: one C call per object)."""
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda value: (one(value),)
    return lambda value: ()


def _literal(cls: type, f: dataclasses.Field[Any]) -> bool:
    """Whether field ``f`` of ``cls`` is declared a Literal (``_hints`` says Any)."""
    annotation = f.type
    if isinstance(annotation, str):
        if annotation.startswith("Literal["):
            return True
        annotation = vars(sys.modules[cls.__module__]).get(annotation)
    return typing.get_origin(annotation) is typing.Literal


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
