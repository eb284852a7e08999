"""Changelog: rows (content tuples) emit exactly what the built records would."""

from __future__ import annotations

import functools
from datetime import date

import pytest

from mfgsync.operators.changelog import Changelog, _build, _layout, content_fields
from mfgsync.schemas.outputs import AvailabilityRecord, OutputRecord, ProcurementTrigger, ShortageSignal
from mfgsync.schemas.vocabulary import TRIGGER_STATES


def _trigger_row(tid: str, qty: float) -> tuple[object, ...]:
    values = {
        "trigger_id": tid,
        "type": "CREATE_REQUISITION",
        "plant": "P1",
        "item": "A",
        "qty": qty,
        "need_date": date(2026, 3, 4),
        "release_date": date(2026, 3, 1),
        "current_date": None,
        "reference": None,
        "supplier": "S1",
        "release_in_past": False,
        "earliest_receipt_date": None,
        "cause_event_ids": ("e1",),
        "correlation_ids": (),
    }
    return tuple(values[name] for name in content_fields(ProcurementTrigger))


def _record(row: tuple[object, ...]) -> ProcurementTrigger:
    return ProcurementTrigger(**dict(zip(content_fields(ProcurementTrigger), row, strict=True)), state="OPEN")


def test_rows_emit_what_records_emit_through_open_update_unchanged_and_withdraw() -> None:
    by_rows: Changelog[ProcurementTrigger] = Changelog(*TRIGGER_STATES)
    by_records: Changelog[ProcurementTrigger] = Changelog(*TRIGGER_STATES)
    passes = [
        [_trigger_row("T1", 5.0), _trigger_row("T2", 7.0)],
        [_trigger_row("T1", 5.0), _trigger_row("T2", 8.0)],  # T2 updated
        [_trigger_row("T1", 5.0), _trigger_row("T2", 8.0)],  # nothing
        [_trigger_row("T2", 8.0)],  # T1 withdrawn
    ]
    emitted = []
    for rows in passes:
        mine = by_rows.update_rows("A", ProcurementTrigger, rows)
        theirs = by_records.update("A", [_record(r) for r in rows])
        assert mine == theirs
        emitted.append([(r.trigger_id, r.state, r.qty) for r in mine])
    assert emitted == [
        [("T1", "OPEN", 5.0), ("T2", "OPEN", 7.0)],
        [("T2", "UPDATED", 8.0)],
        [],
        [("T1", "WITHDRAWN", 5.0)],
    ]
    assert by_rows.current() == by_records.current()


def test_a_row_equal_to_an_adopted_record_emits_nothing() -> None:
    log: Changelog[AvailabilityRecord] = Changelog()
    fields = content_fields(AvailabilityRecord)
    row = ("P1|A", "P1", "A", 10.0, 0.0, 0.0, 0.0, 10.0, 5.0, 3.0, 4.0, None)
    log.adopt("A", AvailabilityRecord(**dict(zip(fields, row, strict=True))))
    assert log.update_rows("A", AvailabilityRecord, [row]) == []
    changed = (*row[:9], 2.0, 4.0, None)
    assert [r.projected_balance_min for r in log.update_rows("A", AvailabilityRecord, [changed])] == [2.0]


def test_a_withdrawn_record_is_the_last_version_emitted_with_the_closed_state() -> None:
    log: Changelog[ProcurementTrigger] = Changelog(*TRIGGER_STATES)
    log.update_rows("A", ProcurementTrigger, [_trigger_row("T1", 5.0)])
    [updated] = log.update_rows("A", ProcurementTrigger, [_trigger_row("T1", 6.0)])
    [withdrawn] = log.update_rows("A", ProcurementTrigger, [])
    assert withdrawn == updated.model_copy(update={"state": "WITHDRAWN"})
    assert log.emitted == {} and log.current() == []


def test_records_kept_by_a_snapshot_from_before_rows_are_taken_as_their_rows() -> None:
    # Snapshots written before the changelog kept rows hold the records themselves.
    records = [_record(_trigger_row("T1", 5.0)), _record(_trigger_row("T2", 7.0))]
    log: Changelog[ProcurementTrigger] = Changelog(*TRIGGER_STATES)
    log.emitted = {"A": {r.trigger_id: r for r in records}}
    assert log.current() == records
    assert log.adopt("A", records[0]) is False  # equal to what it holds
    [withdrawn] = log.update_rows("A", ProcurementTrigger, [_trigger_row("T2", 7.0)])
    assert (withdrawn.trigger_id, withdrawn.state, withdrawn.qty) == ("T1", "WITHDRAWN", 5.0)
    assert log.update_rows("A", ProcurementTrigger, [_trigger_row("T2", 7.0)]) == []


@functools.cache
def _planner_run() -> tuple[OutputRecord, ...]:
    """Every record a small `bench.planning` plant emits: a full rebuild, then one re-plan."""
    from bench.common import TODAY
    from bench.planning import PLANT, Plant
    from mfgsync.operators.planner import PlantPlanner

    plant = Plant(120, 500, 4, 300, seed=2)
    planner = PlantPlanner(plant=PLANT)
    plant.load(planner, plant.master_and_orders())
    records = planner.plan_all(TODAY)
    planner.positions[plant.items[0]] = type(planner.positions[plant.items[0]])(unrestricted=3)  # an int
    planner.dirty.add(plant.items[0])
    records += planner.plan(TODAY)
    return tuple(records)


def _example(model: type[OutputRecord]) -> OutputRecord:
    return next(r for r in _planner_run() if type(r) is model)


def test_every_record_a_planner_run_emits_is_what_validation_would_make_of_it() -> None:
    # The changelog builds emitted records without validation (`model_construct`): their
    # values must be exactly what validation keeps (floats as floats, tuples as tuples).
    records = _planner_run()
    kinds = {type(r).__name__ for r in records}
    assert kinds >= {"ProcurementTrigger", "ShortageSignal", "AvailabilityRecord"}
    for record in records:
        validated = type(record).model_validate(record.model_dump())
        assert validated == record
        assert validated.model_dump_json() == record.model_dump_json()
        assert {k: type(v) for k, v in record.__dict__.items()} == {
            k: type(v) for k, v in validated.__dict__.items()
        }


@pytest.mark.parametrize(
    ("model", "state"),
    [(ProcurementTrigger, "OPEN"), (ShortageSignal, "UPDATED"), (AvailabilityRecord, None)],
)
def test_a_built_record_is_exactly_what_model_construct_makes(
    model: type[OutputRecord], state: str | None
) -> None:
    # The changelog builds records by hand where that is what `model_construct` would do.
    example = _example(model)
    names = content_fields(model)
    row = tuple(example.__dict__[name] for name in names)
    built = _build(model, _layout(model), row, state)
    values = dict(zip(names, row, strict=True)) | ({"state": state} if state else {})
    constructed = model.model_construct(**values)
    assert built == constructed
    assert list(built.__dict__.items()) == list(constructed.__dict__.items())
    assert built.model_fields_set == constructed.model_fields_set
    assert built.model_dump_json() == constructed.model_dump_json()
    assert built.__pydantic_extra__ == constructed.__pydantic_extra__
    assert built.__pydantic_private__ == constructed.__pydantic_private__


def test_records_built_by_hand_share_a_fields_set_that_nothing_changes() -> None:
    # Records are frozen (no assignment adds to it) and `model_copy` copies it first.
    layout = _layout(ProcurementTrigger)
    first = _build(ProcurementTrigger, layout, _trigger_row("T1", 5.0), "OPEN")
    second = _build(ProcurementTrigger, layout, _trigger_row("T2", 6.0), "OPEN")
    copied = first.model_copy(update={"state": "WITHDRAWN"})
    names = set(ProcurementTrigger.model_fields)
    assert first.model_fields_set == second.model_fields_set == copied.model_fields_set == names
    assert copied.model_fields_set is not first.model_fields_set
