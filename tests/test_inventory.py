"""Inventory position of item@plant: movements, snapshots, reconciliation (SPEC 4, operators/inventory.py)."""

from __future__ import annotations

import itertools
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfgsync.operators.inventory import InventoryPosition, StockPosition
from mfgsync.schemas.events import MovementType
from tests.factories import at, movement, snapshot

# Starting position for the movement table: unrestricted 100, quality_hold 20, allocated 10,
# in_transit 30. Each movement is 5 units.
START = StockPosition(unrestricted=100, quality_hold=20, allocated=10, in_transit=30)

MOVEMENT_TABLE = [
    # type, qty, unrestricted, quality_hold, allocated, in_transit
    ("RECEIPT", 5, 105, 20, 10, 30),
    ("ISSUE", 5, 95, 20, 10, 30),
    ("ADJUSTMENT", 5, 105, 20, 10, 30),
    ("ADJUSTMENT", -5, 95, 20, 10, 30),
    ("TRANSFER_OUT", 5, 95, 20, 10, 30),
    ("TRANSFER_IN", 5, 105, 20, 10, 30),
    ("SHIP_IN_TRANSIT", 5, 100, 20, 10, 35),
    ("RECEIVE_IN_TRANSIT", 5, 105, 20, 10, 25),
    ("QC_HOLD", 5, 95, 25, 10, 30),
    ("QC_RELEASE", 5, 105, 15, 10, 30),
    ("QC_REJECT", 5, 100, 15, 10, 30),
    ("ALLOCATE", 5, 100, 20, 15, 30),
    ("DEALLOCATE", 5, 100, 20, 5, 30),
]


def position_from(start: StockPosition = START) -> InventoryPosition:
    """A position of item A grounded by a snapshot as of movement 0."""
    pos = InventoryPosition(plant="P1", item="A")
    applied, exceptions = pos.apply_snapshot(
        snapshot("A", 0, start.unrestricted, start.quality_hold, start.allocated, start.in_transit)
    )
    assert (applied, exceptions) == (True, [])
    return pos


@pytest.mark.parametrize(
    ("movement_type", "qty", "unrestricted", "quality_hold", "allocated", "in_transit"),
    MOVEMENT_TABLE,
    ids=[f"{row[0]}{'-' if row[1] < 0 else ''}" for row in MOVEMENT_TABLE],
)
def test_each_movement_type_changes_its_buckets(
    movement_type, qty, unrestricted, quality_hold, allocated, in_transit
):
    pos = position_from(START)
    applied, exceptions = pos.apply_movement(movement("A", movement_type, qty, seq=1))
    assert applied is True
    assert exceptions == []
    assert pos.position() == StockPosition(unrestricted, quality_hold, allocated, in_transit)


def test_every_movement_type_of_the_contract_is_in_the_table():
    assert {row[0] for row in MOVEMENT_TABLE} == set(get_args(MovementType))


def test_available_is_unrestricted_less_allocated():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 10, seq=1))
    pos.apply_movement(movement("A", "ALLOCATE", 3, seq=2))
    pos.apply_movement(movement("A", "QC_HOLD", 2, seq=3))
    pos.apply_movement(movement("A", "SHIP_IN_TRANSIT", 50, seq=4))
    assert pos.position() == StockPosition(unrestricted=8, quality_hold=2, allocated=3, in_transit=50)
    assert pos.position().available == 5


def test_position_starts_empty():
    pos = InventoryPosition(plant="P1", item="A")
    assert pos.position() == StockPosition(0, 0, 0, 0)
    assert pos.key == "A@P1"


def test_negative_bucket_is_applied_as_reported_and_opens_negative_stock():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 3, seq=1))
    applied, exceptions = pos.apply_movement(movement("A", "ISSUE", 5, seq=2, event_id="ISS-2"))
    assert applied is True
    assert pos.position().unrestricted == -2  # not clamped
    assert len(exceptions) == 1
    opened = exceptions[0]
    assert opened.exception_id == "NEGATIVE_STOCK|A@P1|unrestricted"
    assert (opened.type, opened.state, opened.key) == ("NEGATIVE_STOCK", "OPEN", "A@P1")
    assert opened.details == {"bucket": "unrestricted", "value": "-2", "event_id": "ISS-2"}
    assert opened.first_seen == at(2)


def test_negative_stock_is_reported_once_while_negative_and_closes_keeping_first_seen():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "ISSUE", 5, seq=1, at=at(10)))
    assert pos.apply_movement(movement("A", "ISSUE", 2, seq=2, at=at(20))) == (True, [])
    applied, exceptions = pos.apply_movement(movement("A", "RECEIPT", 10, seq=3, at=at(30), event_id="REC-3"))
    assert applied is True
    assert len(exceptions) == 1
    closed = exceptions[0]
    assert closed.exception_id == "NEGATIVE_STOCK|A@P1|unrestricted"
    assert closed.state == "CLOSED"
    assert closed.first_seen == at(10)
    assert closed.details == {"bucket": "unrestricted", "value": "3", "event_id": "REC-3"}
    assert pos.negative_since == {}


def test_negative_stock_is_tracked_per_bucket():
    pos = InventoryPosition(plant="P1", item="A")
    _, exceptions = pos.apply_movement(movement("A", "DEALLOCATE", 4, seq=1))
    assert [(e.exception_id, e.state) for e in exceptions] == [("NEGATIVE_STOCK|A@P1|allocated", "OPEN")]
    _, exceptions = pos.apply_movement(movement("A", "QC_REJECT", 1, seq=2))
    assert [(e.exception_id, e.state) for e in exceptions] == [("NEGATIVE_STOCK|A@P1|quality_hold", "OPEN")]


def test_snapshot_rebases_and_keeps_movements_after_its_point():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 10, seq=1))
    pos.apply_movement(movement("A", "ISSUE", 3, seq=2))
    pos.apply_movement(movement("A", "RECEIPT", 5, seq=3))
    pos.apply_movement(movement("A", "ALLOCATE", 4, seq=4))
    # As of seq 2 the computed position is unrestricted 7: the snapshot agrees.
    applied, exceptions = pos.apply_snapshot(snapshot("A", as_of_seq=2, unrestricted=7))
    assert (applied, exceptions) == (True, [])
    assert pos.position() == StockPosition(unrestricted=12, quality_hold=0, allocated=4, in_transit=0)
    assert pos.rebased_seq == 2


def test_discrepancy_beyond_tolerance_raises_reconciliation_discrepancy_with_deltas():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 10, seq=1))
    pos.apply_movement(movement("A", "QC_HOLD", 2, seq=2))
    pos.apply_movement(movement("A", "RECEIPT", 5, seq=3))
    # Computed as of seq 2: unrestricted 8, quality_hold 2, allocated 0, in_transit 0.
    stated = snapshot(
        "A", 2, unrestricted=6.5, quality_hold=2, allocated=0, in_transit=1, event_id="SNAP-1", at=at(50)
    )
    applied, exceptions = pos.apply_snapshot(stated)
    assert applied is True
    assert len(exceptions) == 1
    report = exceptions[0]
    assert report.exception_id == "RECONCILIATION_DISCREPANCY|A@P1"
    assert (report.type, report.state, report.key) == ("RECONCILIATION_DISCREPANCY", "OPEN", "A@P1")
    assert report.details == {
        "delta_unrestricted": "-1.5",
        "delta_in_transit": "1",
        "computed_unrestricted": "8",
        "computed_quality_hold": "2",
        "computed_allocated": "0",
        "computed_in_transit": "0",
        "as_of_seq": "2",
        "event_id": "SNAP-1",
    }
    assert report.first_seen == at(50)
    # Re-based on the snapshot, movement 3 kept.
    assert pos.position() == StockPosition(unrestricted=11.5, quality_hold=2, allocated=0, in_transit=1)


def test_difference_within_tolerance_is_not_a_discrepancy():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 10, seq=1))
    assert pos.apply_snapshot(snapshot("A", 1, unrestricted=10.4), tolerance=0.5) == (True, [])
    assert pos.position().unrestricted == 10.4
    _, exceptions = pos.apply_snapshot(snapshot("A", 1, unrestricted=11), tolerance=0.5)
    assert [e.details["delta_unrestricted"] for e in exceptions] == ["0.6"]


def test_later_clean_snapshot_closes_the_discrepancy_keeping_first_seen():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "RECEIPT", 10, seq=1))
    _, opened = pos.apply_snapshot(snapshot("A", 1, unrestricted=9, at=at(100)))
    assert [e.state for e in opened] == ["OPEN"]
    # Still different at the next snapshot: reported again, first_seen unchanged.
    pos.apply_movement(movement("A", "RECEIPT", 1, seq=2))
    _, again = pos.apply_snapshot(snapshot("A", 2, unrestricted=12, at=at(200)))
    assert [(e.state, e.first_seen) for e in again] == [("OPEN", at(100))]
    assert again[0].details["delta_unrestricted"] == "2"  # 9 + 1 computed, 12 stated
    pos.apply_movement(movement("A", "ISSUE", 2, seq=3))
    _, closed = pos.apply_snapshot(snapshot("A", 3, unrestricted=10, at=at(300), event_id="SNAP-OK"))
    assert len(closed) == 1
    assert closed[0].exception_id == "RECONCILIATION_DISCREPANCY|A@P1"
    assert (closed[0].state, closed[0].first_seen) == ("CLOSED", at(100))
    assert closed[0].details == {"as_of_seq": "3", "event_id": "SNAP-OK"}
    # A further clean snapshot says nothing.
    assert pos.apply_snapshot(snapshot("A", 3, unrestricted=10)) == (True, [])


def test_first_snapshot_without_a_grounded_baseline_raises_nothing():
    pos = InventoryPosition(plant="P1", item="A")
    assert pos.apply_snapshot(snapshot("A", 4, unrestricted=500, quality_hold=7)) == (True, [])
    assert pos.position() == StockPosition(500, 7, 0, 0)


def test_snapshot_older_than_every_movement_seen_is_the_baseline_not_a_discrepancy():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_movement(movement("A", "ISSUE", 10, seq=5))
    pos.apply_movement(movement("A", "RECEIPT", 4, seq=6))
    applied, exceptions = pos.apply_snapshot(snapshot("A", 4, unrestricted=100))
    assert applied is True
    # No discrepancy; the negative stock the movements alone implied is closed by the baseline.
    assert [(e.type, e.state) for e in exceptions] == [("NEGATIVE_STOCK", "CLOSED")]
    assert pos.position().unrestricted == 94


def test_movement_at_or_before_the_snapshot_point_arriving_later_is_superseded():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_snapshot(snapshot("A", 10, unrestricted=50))
    assert pos.apply_movement(movement("A", "ISSUE", 5, seq=10)) == (False, [])
    assert pos.apply_movement(movement("A", "RECEIPT", 5, seq=3)) == (False, [])
    assert pos.position().unrestricted == 50
    assert pos.apply_movement(movement("A", "RECEIPT", 5, seq=11)) == (True, [])
    assert pos.position().unrestricted == 55


def test_snapshot_older_than_the_last_one_is_ignored():
    pos = InventoryPosition(plant="P1", item="A")
    pos.apply_snapshot(snapshot("A", 10, unrestricted=50))
    assert pos.apply_snapshot(snapshot("A", 9, unrestricted=1)) == (False, [])
    assert pos.position().unrestricted == 50


# --- order independence (property) -------------------------------------------------------------

# Expected effect of each movement type on (unrestricted, quality_hold, allocated, in_transit),
# written out independently of the operator's table.
EFFECT = {
    "RECEIPT": (1, 0, 0, 0),
    "ISSUE": (-1, 0, 0, 0),
    "ADJUSTMENT": (1, 0, 0, 0),
    "TRANSFER_OUT": (-1, 0, 0, 0),
    "TRANSFER_IN": (1, 0, 0, 0),
    "SHIP_IN_TRANSIT": (0, 0, 0, 1),
    "RECEIVE_IN_TRANSIT": (1, 0, 0, -1),
    "QC_HOLD": (-1, 1, 0, 0),
    "QC_RELEASE": (1, -1, 0, 0),
    "QC_REJECT": (0, -1, 0, 0),
    "ALLOCATE": (0, 0, 1, 0),
    "DEALLOCATE": (0, 0, -1, 0),
}

movement_specs = st.lists(
    st.tuples(
        st.sampled_from(sorted(EFFECT)),
        st.integers(min_value=1, max_value=50),
        st.booleans(),  # negate (ADJUSTMENT only)
    ),
    min_size=0,
    max_size=10,
)
snapshot_specs = st.dictionaries(
    keys=st.integers(min_value=0, max_value=10),  # as_of_seq, distinct
    values=st.tuples(*[st.integers(min_value=-20, max_value=200)] * 4),
    max_size=3,
)


@settings(max_examples=200, deadline=None)
@given(moves=movement_specs, snaps=snapshot_specs, data=st.data())
def test_any_arrival_order_of_movements_and_snapshots_gives_the_same_buckets(moves, snaps, data):
    events = []
    for seq, (kind, qty, negate) in enumerate(moves, start=1):
        signed = -qty if (kind == "ADJUSTMENT" and negate) else qty
        events.append(movement("A", kind, signed, seq=seq))
    for as_of, (u, q, a, t) in snaps.items():
        events.append(snapshot("A", as_of, u, q, a, t))

    # Expected: the latest snapshot plus every movement after its point (or all movements).
    base_seq, expected = -1, [0, 0, 0, 0]
    if snaps:
        base_seq = max(snaps)
        expected = list(snaps[base_seq])
    for seq, (kind, qty, negate) in enumerate(moves, start=1):
        if seq > base_seq:
            signed = -qty if (kind == "ADJUSTMENT" and negate) else qty
            expected = [e + signed * k for e, k in zip(expected, EFFECT[kind], strict=True)]

    order = data.draw(st.permutations(events))
    pos = InventoryPosition(plant="P1", item="A")
    for event in order:
        if event.TOPIC == "wms.inventory.movements":
            pos.apply_movement(event)
        else:
            pos.apply_snapshot(event)
    assert pos.position() == StockPosition(*expected)


def test_all_orders_of_a_small_stream_agree_exactly():
    events = [
        movement("A", "RECEIPT", 10, seq=1),
        movement("A", "QC_HOLD", 4, seq=2),
        snapshot("A", 2, unrestricted=7, quality_hold=4),
        movement("A", "ALLOCATE", 3, seq=3),
        movement("A", "ISSUE", 2, seq=4),
    ]
    finals = set()
    for order in itertools.permutations(events):
        pos = InventoryPosition(plant="P1", item="A")
        for event in order:
            if event.TOPIC == "wms.inventory.movements":
                pos.apply_movement(event)
            else:
                pos.apply_snapshot(event)
        finals.add(pos.position())
    assert finals == {StockPosition(unrestricted=5, quality_hold=4, allocated=3, in_transit=0)}
