"""Value types: compared, hashed and pickled as frozen slotted dataclasses are; `round9`."""

from __future__ import annotations

import math
import pickle
import sys
from dataclasses import dataclass
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mfgsync.operators.netting import PlannedOrder, Requirement
from mfgsync.operators.values import round9, value_type


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


@given(st.one_of(st.floats(allow_nan=False), st.integers(-(10**12), 10**12), st.sampled_from([-0.0, 0.0])))
def test_round9_is_round_to_nine_places_exactly(value: float) -> None:
    rounded = round9(value)
    expected = round(value, 9)
    assert rounded == expected
    assert type(rounded) is type(expected)
    assert math.copysign(1.0, rounded) == math.copysign(1.0, expected)


def test_round9_of_a_fraction_seen_before_is_the_same_again() -> None:
    assert round9(0.1 + 0.2) == 0.3
    assert round9(0.1 + 0.2) == 0.3
    assert round9(2 / 3) == 0.666666667
