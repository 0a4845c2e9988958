"""fake_sysfs.record: the state's dataclasses compare and show as generated ones would."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from fake_sysfs.kernel.boot import boot
from fake_sysfs.kernel.state import Kernel
from fake_sysfs.platform.presets import load_preset
from fake_sysfs.record import Record


@dataclass
class Generated:
    a: int
    b: list[int] = field(default_factory=list)
    hidden: int = field(default=0, compare=False, repr=False)


@dataclass(eq=False, repr=False)
class Shared(Record):
    a: int
    b: list[int] = field(default_factory=list)
    hidden: int = field(default=0, compare=False, repr=False)


@pytest.mark.parametrize(
    ("x", "y"),
    [((1, [2], 3), (1, [2], 4)), ((1, [2], 3), (1, [3], 3)), ((1, [], 0), (2, [], 0))],
)
def test_equality_is_the_generated_one(x: tuple[int, list[int], int], y: tuple[int, ...]) -> None:
    assert (Shared(*x) == Shared(*y)) == (Generated(*x) == Generated(*y))  # type: ignore[arg-type]
    assert (Shared(*x) != Shared(*y)) == (Generated(*x) != Generated(*y))  # type: ignore[arg-type]


def test_other_classes_are_not_equal_and_nothing_hashes() -> None:
    assert Shared(1) != Generated(1)
    assert Shared(1).__eq__(Generated(1)) is NotImplemented
    with pytest.raises(TypeError):
        hash(Shared(1))


def test_repr_is_the_generated_one() -> None:
    shown = repr(Shared(1, [2, 3], 9))
    assert shown.replace("Shared", "Generated") == repr(Generated(1, [2, 3], 9))
    loop = Shared(1)
    loop.b.append(loop)  # type: ignore[arg-type]
    assert repr(loop) == "Shared(a=1, b=[...])"


def test_every_state_class_is_a_record() -> None:
    from fake_sysfs.codec import stored_classes

    classes = stored_classes(Kernel)
    assert len(classes) > 40
    assert all(issubclass(cls, Record) for cls in classes)
    a, b = boot(load_preset("cxl_test")), boot(load_preset("cxl_test"))
    assert a == b
    b.ports[0].decoders[0].next_region += 1
    assert a != b
