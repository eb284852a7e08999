"""The dataflow's steps record by record (operators/steps.py), without bytewax."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, date, datetime

import pytest

from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.operators.inventory import ComponentIssued, PositionChanged, StockPosition
from mfgsync.operators.planner import PlantPlanner
from mfgsync.operators.schema_invalid import count_dead_letter, schema_invalid_key
from mfgsync.operators.sequencer import Sequencer
from mfgsync.operators.steps import (
    Adoption,
    GuardStep,
    InventoryStep,
    Offsets,
    PlanningStep,
    inventory_key,
    is_admitted,
    is_stock_event,
    outcome_of,
)
from mfgsync.schemas.outputs import DeadLetter, ProcurementTrigger, SyncException
from tests.factories import demand, movement, params, requisition, snapshot

TODAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def verdicts(out) -> list[tuple[str, Outcome]]:
    return [(o.event.event_id, o.outcome) for o in out if isinstance(o, Verdict)]


# ---------------------------------------------------------------- guard step


def test_the_guard_takes_its_key_from_its_first_event_and_admits_it():
    step = GuardStep.new(DedupWindow(), Sequencer(key="", wait_s=math.inf))
    first = movement("A", "RECEIPT", 5, seq=1)
    out = step.offer(first, 0.0)
    assert step.guard.sequencer.key == first.guard_key()
    assert verdicts(out) == [(first.event_id, Outcome.APPLIED)]


def test_a_resent_event_is_deduplicated_by_the_guard():
    step = GuardStep.new(DedupWindow(), Sequencer(key="", wait_s=math.inf))
    first = movement("A", "RECEIPT", 5, seq=1)
    step.offer(first, 0.0)
    assert verdicts(step.offer(first, 0.0)) == [(first.event_id, Outcome.DEDUPLICATED)]


def test_a_buffered_event_is_released_at_end_of_input_with_its_gap_reported():
    step = GuardStep.new(DedupWindow(), Sequencer(key="", wait_s=math.inf))
    step.offer(movement("A", "RECEIPT", 5, seq=1), 0.0)
    ahead = movement("A", "RECEIPT", 5, seq=3)
    assert step.offer(ahead, 0.0) == []
    assert step.next_deadline() is None  # an infinite wait never expires
    out = step.flush()
    assert verdicts(out) == [(ahead.event_id, Outcome.APPLIED)]
    assert [e.type for e in out if isinstance(e, SyncException)] == ["SEQUENCE_GAP"]


def test_a_buffered_event_has_a_processing_time_deadline():
    step = GuardStep.new(DedupWindow(), Sequencer(key="", wait_s=30.0))
    step.offer(movement("A", "RECEIPT", 5, seq=1), 1_000.0)
    step.offer(movement("A", "RECEIPT", 5, seq=3), 1_000.0)
    assert step.next_deadline() == datetime.fromtimestamp(1_030.0, UTC)
    assert verdicts(step.expire(1_029.0)) == []
    assert len(verdicts(step.expire(1_030.0))) == 1


# ------------------------------------------------------------ inventory step


def test_an_issue_to_an_order_is_a_planning_fact_besides_the_new_position():
    step = InventoryStep()
    issue = movement("C", "ISSUE", 4, seq=1, reference="PO-7")
    out = step.take(issue)
    assert out[:3] == [
        ComponentIssued("P1", "C", "PO-7", 4, issue.event_id),
        PositionChanged("P1", "C", StockPosition(unrestricted=-4), issue.event_id, issue.event_time.date()),
        Verdict(issue, Outcome.APPLIED),
    ]
    assert [(e.type, e.state) for e in out[3:] if isinstance(e, SyncException)] == [
        ("NEGATIVE_STOCK", "OPEN")
    ]
    assert len(out) == 4


def test_an_issue_already_inside_a_snapshot_is_still_issued_to_its_order():
    step = InventoryStep()
    step.take(snapshot("C", as_of_seq=2, unrestricted=10))
    late = movement("C", "ISSUE", 4, seq=2, reference="PO-7")
    out = step.take(late)
    assert out == [ComponentIssued("P1", "C", "PO-7", 4, late.event_id), Verdict(late, Outcome.SUPERSEDED)]


def test_an_issue_without_an_order_is_no_planning_fact():
    step = InventoryStep()
    step.take(movement("C", "RECEIPT", 10, seq=1))
    out = step.take(movement("C", "ISSUE", 4, seq=2))
    assert not any(isinstance(o, ComponentIssued) for o in out)
    assert [o.position for o in out if isinstance(o, PositionChanged)] == [StockPosition(unrestricted=6)]


def test_held_stock_events_apply_in_wms_order_at_end_of_input():
    step = InventoryStep(hold_until_end=True)
    second = movement("C", "ISSUE", 4, seq=2)
    first = movement("C", "RECEIPT", 10, seq=1)
    assert step.take(second) == [] and step.take(first) == []
    out = step.finish()
    assert verdicts(out) == [(first.event_id, Outcome.APPLIED), (second.event_id, Outcome.APPLIED)]
    assert not any(isinstance(o, SyncException) for o in out)  # never negative in WMS order
    assert step.held == []


def test_inventory_refuses_a_planning_event():
    with pytest.raises(TypeError, match="inventory does not take DemandChanged"):
        InventoryStep().take(demand("D1", "A", 1, TODAY))


# ------------------------------------------------------------------ routing


def test_stock_events_route_to_inventory_by_item_at_plant():
    receipt = movement("C", "RECEIPT", 1, seq=1, plant="P2")
    assert is_stock_event(receipt) and inventory_key(receipt) == "C@P2"
    assert not is_stock_event(demand("D1", "A", 1, TODAY))
    assert is_admitted(Verdict(receipt, Outcome.APPLIED))
    assert not is_admitted(Verdict(receipt, Outcome.DEDUPLICATED))


def test_every_input_names_its_topic_and_outcome():
    receipt = movement("C", "RECEIPT", 1, seq=1)
    letter = DeadLetter(dlq_id="d1", topic="", partition=0, offset=0, raw=b"x", reason="r", error="E")
    assert outcome_of(Verdict(receipt, Outcome.SUPERSEDED)) == ("wms.inventory.movements", Outcome.SUPERSEDED)
    assert outcome_of(letter) == ("unknown", Outcome.DEAD_LETTERED)


# ------------------------------------------------------------- planning step


def test_planning_adopts_what_its_plant_published_before_its_first_pass_only():
    stale = requisition("GONE", 3, "2026-03-09")
    asked: list[str] = []

    def published(plant: str, since: Offsets) -> Adoption:
        asked.append(plant)
        assert since == {}  # a new planner has seen nothing published
        return Adoption(records=[stale], through={("procurement.triggers", 0): 7})

    step = PlanningStep(PlantPlanner(""), adopt_published=True)
    step.take([params("A")])
    _, records = step.plan(TODAY, published)
    assert asked == ["P1"]
    assert [(r.record_key(), r.state) for r in records if isinstance(r, ProcurementTrigger)] == [
        (stale.trigger_id, "WITHDRAWN")
    ]
    assert step.planner.published_through == {("procurement.triggers", 0): 7}
    step.take([demand("D1", "A", 1, TODAY)])
    step.plan(TODAY, published)
    assert asked == ["P1"]


# ------------------------------------------------------------- schema invalid


def letter(error: str, dlq_id: str, topic: str = "erp.demand", raw: bytes = b"x") -> DeadLetter:
    return DeadLetter(
        dlq_id=dlq_id,
        topic=topic,
        partition=0,
        offset=0,
        raw=raw,
        raw_size=len(raw),
        reason="bad " * 200,
        error=error,
    )


def stating(event_time: str) -> bytes:
    return json.dumps(
        {"type": "DemandChanged", "event_id": "e", "event_time": event_time, "qty": "x"}
    ).encode()


def test_dead_letters_of_one_topic_and_error_count_towards_one_open_exception():
    first = letter("VALIDATION_FAILED", "d1", raw=stating("2026-03-01T08:00:00Z"))
    second = letter("VALIDATION_FAILED", "d2", raw=stating("2026-03-01T09:00:00Z"))
    assert schema_invalid_key(first) == schema_invalid_key(second) == "erp.demand|VALIDATION_FAILED"
    state, _ = count_dead_letter(None, first)
    state, exception = count_dead_letter(state, second)
    assert exception.exception_id == "SCHEMA_INVALID|erp.demand|VALIDATION_FAILED"
    assert (exception.state, exception.key) == ("OPEN", "erp.demand")
    assert exception.first_seen == datetime(2026, 3, 1, 8, tzinfo=UTC)
    assert exception.details["count"] == "2"
    assert exception.details["last_dlq_id"] == "d2"
    assert len(exception.details["last_reason"]) == 500


def test_first_seen_is_the_earliest_time_the_refused_records_state_in_any_arrival_order():
    # The service reads partitions interleaved as they come, restarts and re-reads; a replay
    # reads a file: all of them see the same records, so all of them state the same time.
    letters = [
        letter("VALIDATION_FAILED", "d1", raw=stating("2026-03-01T10:00:00+02:00")),
        letter("VALIDATION_FAILED", "d2", raw=b"not json"),
        letter("VALIDATION_FAILED", "d3", raw=stating("2026-03-01T09:30:00Z")),
        letter("VALIDATION_FAILED", "d4", raw=stating("yesterday")),
    ]
    seen = set()
    for order in itertools.permutations(letters):
        state = None
        for one in order:
            state, exception = count_dead_letter(state, one)
        seen.add(exception.first_seen)
    assert seen == {datetime(2026, 3, 1, 8, 0, tzinfo=UTC)}


def test_without_a_stated_time_first_seen_stays_empty_and_never_is_the_processing_time():
    cut = letter("VALIDATION_FAILED", "d1", raw=stating("2026-03-01T08:00:00Z")[:20])
    cut = cut.model_copy(update={"raw_size": 70_000})  # the dead letter kept only its start
    _, exception = count_dead_letter(None, letter("UNKNOWN_SCHEMA", "d0", topic="", raw=b"\x00\x01"))
    assert exception.first_seen is None
    assert exception.exception_id == "SCHEMA_INVALID|unknown|UNKNOWN_SCHEMA"
    _, exception = count_dead_letter(None, cut)
    assert exception.first_seen is None
