"""The base of the state's dataclasses: equality and repr shared by all of them.

The emulated kernel's state is 43 dataclasses (codec.stored_classes). ``@dataclass`` compiles an
``__init__``, an ``__eq__`` and a ``__repr__`` for each class as its module is imported,
and every process that loads the kernel pays for it: half of a writing command's import
time. The state classes are declared ``@dataclass(eq=False, repr=False)`` on this base,
which compares and shows them exactly as the generated methods would (the fields in
order, those declared ``compare=False`` or ``repr=False`` left out; unhashable), with
two functions for all of them.
"""

from __future__ import annotations

import dataclasses
import operator
import reprlib
from collections.abc import Callable
from typing import Any

#: By class: what its instances are compared by (a tuple of the compared fields' values).
_COMPARED: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
#: By class: the names of the fields its repr shows.
_SHOWN: dict[type, tuple[str, ...]] = {}


def _compared(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = [f.name for f in dataclasses.fields(cls) if f.compare]
    if len(names) > 1:
        get: Callable[[Any], tuple[Any, ...]] = operator.attrgetter(*names)
    elif names:
        one = operator.attrgetter(names[0])
        get = lambda obj: (one(obj),)  # noqa: E731
    else:
        get = lambda obj: ()  # noqa: E731
    _COMPARED[cls] = get
    return get


class Record:
    """Equality and repr of a state dataclass (see the module's docstring)."""

    __slots__ = ()
    #: Mutable state: unhashable, as a dataclass that compares its fields.
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        cls = type(self)
        if type(other) is not cls:
            return NotImplemented
        get = _COMPARED.get(cls) or _compared(cls)
        return get(self) == get(other)

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        cls = type(self)
        names = _SHOWN.get(cls)
        if names is None:
            names = _SHOWN[cls] = tuple(f.name for f in dataclasses.fields(self) if f.repr)  # type: ignore[arg-type]
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{cls.__qualname__}({shown})"
