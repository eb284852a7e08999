"""Value types: compared, hashed and pickled as frozen slotted dataclasses are."""

from __future__ import annotations

import pickle
import sys
from dataclasses import dataclass
from datetime import date

import pytest

from mfgsync.operators.netting import PlannedOrder, Requirement
from mfgsync.operators.values import value_type


@dataclass(frozen=True, slots=True)
class Point:
    """Stands for a planner class as it was before it became a value type."""

    x: int
    tags: tuple[str, ...] = ()


@value_type
class NewPoint:
    x: int
    tags: tuple[str, ...] = ()


def test_a_value_type_reads_what_the_frozen_class_pickled(monkeypatch: pytest.MonkeyPatch) -> None:
    written = pickle.dumps([Point(1, ("a",)), Point(2)], protocol=pickle.HIGHEST_PROTOCOL)
    NewPoint.__qualname__ = "Point"  # the name the snapshot refers to, now the value type
    monkeypatch.setattr(sys.modules[__name__], "Point", NewPoint)
    try:
        restored = pickle.loads(written)
    finally:
        NewPoint.__qualname__ = "NewPoint"
    assert restored == [NewPoint(1, ("a",)), NewPoint(2)]
    assert all(type(p) is NewPoint for p in restored)


def test_the_frozen_class_reads_what_a_value_type_pickled() -> None:
    # Same state layout both ways: a list of the field values in field order.
    assert NewPoint(3, ("b",)).__getstate__() == [3, ("b",)]  # type: ignore[attr-defined]
    assert Point(3, ("b",)).__getstate__() == [3, ("b",)]  # type: ignore[attr-defined]


def test_value_types_compare_and_hash_by_value() -> None:
    a = Requirement(date(2026, 3, 2), 5.0, "D1", ("e1",))
    b = Requirement(date(2026, 3, 2), 5.0, "D1", ("e1",))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != Requirement(date(2026, 3, 2), 6.0, "D1", ("e1",))
    order = PlannedOrder(date(2026, 3, 9), date(2026, 3, 2), 10.0, ("e1",), (), date(2026, 3, 9))
    assert pickle.loads(pickle.dumps(order)) == order
    assert {order: 1}[pickle.loads(pickle.dumps(order))] == 1
