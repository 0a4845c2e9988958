"""Which devices one store changed, so that the read memo forgets only their answers.

The read memo (frontends/readcache.py) keeps every answer the emulated /sys gave for one
committed state. A store used to make all of it stale: at 1,024 memdevs, a command that
changes one region then paid for every memdev's answers again. A store's footprint is
small (a region, its decoders, their ports: a few dozen of some 12,000 directories), so
the store is watched while it runs and the devices it changed are named afterwards.

How: while a store runs, the state's classes (every dataclass the codec stores) get an
attribute hook. Setting a stored field notes its old value; reading a field that holds a
container (list, dict, set) notes a copy of it, since the container may be changed in
place. A store can only reach the state through those reads, so afterwards comparing
each noted field with what it holds now finds every change, whatever code made it. A
changed object is mapped to the device whose directory shows it: a device record, a
family object (its ``devkey``), or an object held by one (found through the reads that
reached it). Devices that came or went are found by comparing the containers that held
them, the registry among them.

What cannot be placed (a change to the platform model, or an object reached only from
the kernel itself) makes the answer "unknown", and the memo is then dropped whole, as
before: never a stale answer for a guess. A few answers of one device are decided by
another's state, and some objects show elsewhere than in their holder's directory: each
family declares those beside its show functions (``shown_by``, ``shown_nowhere``,
``shown_by_holder_only``, ``also_shows``: an nd region's devices, a DIMM and the regions
that map it, NUMA nodes and memory blocks, a DAX region). Directories that are not a
device's (``/sys/bus``, ``/sys/class``, tracefs, ``/dev``) keep only what they said of
the devices a store did not name (readcache.py). The test suite checks every carried
answer against the kernel (``FAKE_SYSFS_PARANOID``, frontends/inprocess.py), and
tests/test_read_cache_carry.py does so with every answer of the tree in the memo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from fake_sysfs import codec

_object_getattribute = object.__getattribute__
_object_setattr = object.__setattr__

_CONTAINERS = frozenset({list, dict, set, bytearray})
#: A noted field's value when the object did not hold it (it is being built).
_ABSENT = object()


class Changes:
    """What a store changed: the keys of the devices whose directories show a change
    (changed, added or removed), and of their ancestors (whose directories list them,
    and some sum what their children hold); or ``unknown``: a change no device could be
    found for."""

    def __init__(self) -> None:
        self.devices: set[str] = set()
        self.above: set[str] = set()
        #: The devices it registered (in ``devices`` too).
        self.came: set[str] = set()
        self.unknown = False


# -- what the families declare (each beside the show functions that depend on it) --------

#: A function giving the keys of the devices whose directories show a changed object.
Where = Callable[[Any, Any], list[str]]
#: A function adding to ``keys`` (the devices a store changed so far) those whose answers
#: follow from them or from ``objects`` (the state objects that changed, came or went);
#: ``device`` looks a key up among the devices registered now or during the store.
AlsoShows = Callable[[Any, set[str], list[Any], Callable[[str], Any]], None]

_SHOWN_BY: dict[type, Where] = {}
_HOLDER_ONLY: set[type] = set()
_ALSO: list[AlsoShows] = []


def shown_by(cls: type, where: Where) -> None:
    """Objects of ``cls`` (no device's own family) show in the directories ``where`` names,
    not (only) in that of the device that holds them."""
    _SHOWN_BY[cls] = where


def _nowhere(k: Any, obj: Any) -> list[str]:
    return []


def shown_nowhere(*classes: type) -> None:
    """Objects of ``classes`` show in no device's directory (the kernel log; tracefs, whose
    directories no device holds and which the memo forgets at every store)."""
    for cls in classes:
        _SHOWN_BY[cls] = _nowhere


def shown_by_holder_only(*classes: type) -> None:
    """Objects of ``classes`` show in their holder's own directory at most, never in its
    subtree (where any other held object is assumed to show)."""
    _HOLDER_ONLY.update(classes)


def also_shows(rule: AlsoShows) -> AlsoShows:
    """Declare a dependency between devices (a decorator): see AlsoShows. Rules run until
    none adds a key, so their order does not matter."""
    _ALSO.append(rule)
    return rule


def add_subtree(kernel: Any, keys: set[str], top: str) -> None:
    """Add ``top`` and every device registered below it."""
    below = kernel.runtime.children(kernel)
    todo = [top]
    while todo:
        key = todo.pop()
        keys.add(key)
        todo.extend(below.get(key, ()))


class _Tracker:
    def __init__(self) -> None:
        #: (id, field) -> (object, field, value then, copy of it when a container).
        self.noted: dict[tuple[int, str], tuple[Any, str, Any, Any]] = {}
        #: id of an object -> (it, the object a read of one of its fields returned it
        #: from). Both are kept alive meanwhile: an id is an object's only while it lives.
        self.parents: dict[int, tuple[Any, Any]] = {}
        #: The objects built during the store, by id (their fields are all new).
        self.new: dict[int, Any] = {}
        #: Devices registered or unregistered (the driver core says so: registered()).
        self.registered: list[Any] = []

    def note(self, obj: Any, name: str, value: Any) -> None:
        shape = _SHAPES[type(obj)][name]
        copy = _copy(value) if shape & _DEEP else value.copy()
        self.noted[(id(obj), name)] = (obj, name, value, copy)
        if shape & _PARENTED:
            # Objects reached through this container (not through a field read) are
            # placed through it: a port's region references, a region's targets.
            parents = self.parents
            for x in _members(value):
                parents.setdefault(id(x), (x, obj))


_active: _Tracker | None = None


def registered(dev: Any) -> None:
    """The driver core registered or unregistered ``dev`` (the registry itself, 10,000
    devices at 1,024 memdevs, is not compared at every store)."""
    if _active is not None:
        _active.registered.append(dev)


#: Stored field names by class (transient indexes are not state).
_STORED: dict[type, frozenset[str]] = {}
#: Fields whose changes are announced rather than found by comparing: the registry.
_ANNOUNCED: set[tuple[type, str]] = set()
#: By class and container field: what its type says it may hold (bits below).
_SHAPES: dict[type, dict[str, int]] = {}
#: Containers (or anything untyped) inside: copied all the way down.
_DEEP = 1
#: Objects that are not devices themselves: their place is found through the container.
_PARENTED = 2
#: Devices (or anything untyped): the ones that came or went are found by comparing.
_DEVICES = 4


# type(x), never x.__class__, in what follows: on a watched object, ``__class__`` is an
# attribute read like any other, and would come back here.


def _getattribute(self: Any, name: str) -> Any:
    value = _object_getattribute(self, name)
    cls = type(value)
    if cls in _CONTAINERS:
        t = _active
        if (
            t is not None
            and (id(self), name) not in t.noted
            and id(self) not in t.new
            and name in _STORED[type(self)]
        ):
            t.note(self, name, value)
    elif cls in _STORED:
        t = _active
        if t is not None:
            t.parents.setdefault(id(value), (value, self))
    return value


def _setattr(self: Any, name: str, value: Any) -> None:
    t = _active
    if t is not None:
        ident = id(self)
        if ident not in t.new:
            held = _object_getattribute(self, "__dict__")
            if name not in held and not held:
                t.new[ident] = self  # being built: nothing it holds was ever shown
            elif (ident, name) not in t.noted and name in _STORED[type(self)]:
                old = held.get(name, _ABSENT)
                if type(old) in _CONTAINERS:
                    t.note(self, name, old)
                else:
                    t.noted[(ident, name)] = (self, name, old, old)
    _object_setattr(self, name, value)


def _copy(value: Any) -> Any:
    """A copy of a container down to the objects it holds (they are watched themselves)."""
    cls = type(value)
    if cls is list:
        return [_copy(x) if type(x) in _CONTAINERS else x for x in value]
    if cls is dict:
        return {k: (_copy(x) if type(x) in _CONTAINERS else x) for k, x in value.items()}
    if cls is set:
        return set(value)
    if cls is bytearray:
        return bytes(value)
    return value


def _shape(tp: Any, top: bool = True) -> int:
    """The _DEEP, _PARENTED and _DEVICES bits of a field of type ``tp``."""
    from fake_sysfs.kernel.core import Device

    origin = getattr(tp, "__origin__", None)
    if origin in (list, dict, set):
        bits = 0 if top else _DEEP
        for arg in tp.__args__:
            bits |= _shape(arg, False)
        return bits
    if origin is not None:  # X | None
        bits = 0
        for arg in tp.__args__:
            bits |= _shape(arg, top)
        return bits
    if isinstance(tp, type):
        if top or not dataclasses.is_dataclass(tp):
            return 0
        if tp is Device or hasattr(tp, "devkey"):
            return _DEVICES
        return _PARENTED
    return _DEEP | _DEVICES  # Any: anything may be inside


def _install(classes: list[type]) -> list[type]:
    hooked = []
    for cls in classes:
        if "__getattribute__" in vars(cls) or "__setattr__" in vars(cls):
            continue
        if cls not in _STORED:
            stored = [f for f in dataclasses.fields(cls) if not f.metadata.get("transient")]
            _STORED[cls] = frozenset(f.name for f in stored if (cls, f.name) not in _ANNOUNCED)
            types = codec.field_types(cls)
            _SHAPES[cls] = {f.name: _shape(types[f.name]) for f in stored}
        setattr(cls, "__getattribute__", _getattribute)  # noqa: B010 - a class slot
        setattr(cls, "__setattr__", _setattr)  # noqa: B010
        hooked.append(cls)
    return hooked


_CLASSES: list[type] | None = None


@contextmanager
def watch(kernel: Any) -> Iterator[Changes]:
    """Watch what the body does to ``kernel``; the Changes are filled in when it ends
    (however it ends)."""
    global _active, _CLASSES
    changes = Changes()
    if _active is not None:
        # Within another store's watch: that one goes on recording everything; this
        # one cannot tell its own part, so it says nothing can be known.
        changes.unknown = True
        yield changes
        return
    if _CLASSES is None:
        # Every family declares where its objects show (shown_by, also_shows) as it is
        # imported; the driver table imports them all.
        import fake_sysfs.kernel.drivers  # noqa: F401

        _ANNOUNCED.add((type(kernel), "devices"))
        _CLASSES = codec.stored_classes(type(kernel))
    tracker = _Tracker()
    hooked = _install(_CLASSES)
    _active = tracker
    try:
        yield changes
    finally:
        _active = None
        for cls in hooked:
            del cls.__getattribute__
            del cls.__setattr__
        _conclude(kernel, tracker, changes)


# -- from changed objects to device directories -----------------------------------------


def _differs(now: Any, then: Any) -> bool:
    if now is then:
        return False
    try:
        return bool(now != then)
    except Exception:  # an uncomparable pair is a change
        return True


def _members(value: Any) -> Iterator[Any]:
    """The objects a container holds, nested containers included."""
    items = value.values() if isinstance(value, dict) else value
    for x in items:
        if type(x) in _CONTAINERS and type(x) is not bytearray:
            yield from _members(x)
        else:
            yield x


def _came_or_went(now: Any, then: Any) -> Iterator[Any]:
    """The objects one of two versions of a container holds and the other does not."""
    if type(now) is dict and type(then) is dict:
        for key, value in now.items():
            old = then.get(key, _ABSENT)
            if old is not value:
                if type(value) in _CONTAINERS or type(old) in _CONTAINERS:
                    break  # nested: compared below, object by object
                yield value
                if old is not _ABSENT:
                    yield old
        else:
            for key in then.keys() - now.keys():
                yield then[key]
            return
    if type(now) is list and type(then) is list:
        # Lists change by an insert or a removal, mostly: compare only what lies between
        # the common head and tail (1,024 nmems on a large platform).
        start, end_now, end_then = 0, len(now), len(then)
        while start < end_now and start < end_then and now[start] is then[start]:
            start += 1
        while end_now > start and end_then > start and now[end_now - 1] is then[end_then - 1]:
            end_now -= 1
            end_then -= 1
        now, then = now[start:end_now], then[start:end_then]
    ids_now = {id(x): x for x in _members(now)} if type(now) in _CONTAINERS else {}
    ids_then = {id(x): x for x in _members(then)}
    yield from (x for i, x in ids_now.items() if i not in ids_then)
    yield from (x for i, x in ids_then.items() if i not in ids_now)


def _conclude(kernel: Any, t: _Tracker, changes: Changes) -> None:
    from fake_sysfs.kernel.core import Device

    devices_then: dict[str, Device] = {dev.key: dev for dev in t.registered}
    changed: list[Any] = []
    came_or_went: list[Any] = list(t.registered)
    for obj, name, then, copy in t.noted.values():
        now = _object_getattribute(obj, "__dict__").get(name, _ABSENT)
        if type(then) in _CONTAINERS:
            if not _differs(now, copy):
                continue
            if _SHAPES[type(obj)][name] & _DEVICES:
                came_or_went.extend(_came_or_went(now, copy))
        elif not _differs(now, then):
            continue
        if obj is kernel:
            if name not in _KERNEL_CONTAINERS:
                changes.unknown = True  # one of the kernel's own objects was replaced
            continue
        changed.append(obj)
    if changes.unknown:
        return
    registry = kernel.devices

    def device(key: str) -> Device | None:
        found = registry.get(key)
        return devices_then.get(key) if found is None else found

    keys = changes.devices
    changes.came.update(dev.key for dev in t.registered if registry.get(dev.key) is dev)
    for obj in came_or_went:
        key = _devkey(obj)
        if key is not None and device(key) is not None:
            keys.add(key)
        # Anything else that came or went is the change of its holder (noted).
    for obj in changed:
        place = _place(obj, t, kernel)
        if place is None or any(device(key) is None for key in place[0]):
            changes.unknown = True
            return
        found, deep = place
        keys.update(found)
        if deep:
            # What a device holds may show in its children too (an nd region's namespaces,
            # a memdev's firmware upload device): all of its subtree counts.
            for key in found:
                add_subtree(kernel, keys, key)
    objects = came_or_went + changed
    while True:
        count = len(keys)
        for rule in _ALSO:
            rule(kernel, keys, objects, device)
        if len(keys) == count:
            break
    for key in keys:
        dev = device(key)
        while dev is not None:
            dev = device(dev.parent)
            if dev is not None:
                changes.above.add(dev.key)


#: The kernel's fields that only hold other objects (their changes are the objects that
#: came, went or changed). ``runtime`` is not state.
_KERNEL_CONTAINERS = frozenset(
    {
        "ports",
        "memdevs",
        "regions",
        "dax_regions",
        "hmem",
        "dax_driver_ids",
        "bridges",
        "nd_regions",
        "devices",
        "hdm",
        "printed_once",
        "background",
    }
)


def _devkey(obj: Any) -> str | None:
    from fake_sysfs.kernel.core import Device

    if type(obj) is Device:
        key: str = obj.key
        return key
    try:
        found = obj.devkey
    except AttributeError:
        return None
    return found if isinstance(found, str) else None


#: Where a changed object shows: the keys of the devices whose directories show it, and
#: whether their subtrees do too.
Place = tuple[list[str], bool]


def _place(obj: Any, t: _Tracker, kernel: Any) -> Place | None:
    """Where ``obj`` shows, or None when that is not known. An object of a device's own
    family shows in its directory; one it holds, in its subtree (shown_by_holder_only
    aside); a class a family declared (shown_by), where the family says."""
    seen = 0
    held = False
    while obj is not None and seen < 64:
        seen += 1
        where = _SHOWN_BY.get(type(obj))
        if where is not None:
            return where(kernel, obj), False
        key = _devkey(obj)
        if key is not None:
            return [key], held
        if type(obj) not in _HOLDER_ONLY:
            held = True
        pair = t.parents.get(id(obj))
        holder = None if pair is None else pair[1]
        if holder is None or holder is kernel:
            return None
        obj = holder
    return None
