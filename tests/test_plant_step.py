"""One plant's steps composed (`PlantStep`) and its bytewax adapter's snapshot (`PlantLogic`).

A record's whole route (guard, inventory, planning) runs where its plant is, so it crosses at
most one exchange. The snapshot keeps each sub-state pickled on its own and re-pickles only
what an epoch changed; a plant restored from it goes on exactly like one never stopped.
"""

from __future__ import annotations

import math
import pickle
from datetime import UTC, date, datetime, timedelta

from mfgsync.flows.dataflow import FlowConfig, plant_builder
from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.operators.planner import PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.operators.steps import (
    GUARD,
    INVENTORY,
    PLANNER,
    PlanningStep,
    PlantBatch,
    PlantStep,
    plant_batches,
    plant_key,
)
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import OutputRecord, SyncException
from tests.factories import demand, movement, params

TODAY = date(2026, 3, 2)
DUE = date(2026, 3, 9)
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def step() -> PlantStep:
    return PlantStep(
        PlanningStep(PlantPlanner("")), dedup=DedupWindow(), sequencer=Sequencer(key="", wait_s=math.inf)
    )


def outcomes(out: list[object]) -> list[tuple[str, Outcome]]:
    return [(o.event.event_id, o.outcome) for o in out if isinstance(o, Verdict)]


def test_every_key_of_an_event_names_its_plant_so_one_route_by_plant_holds_its_whole_work():
    event = movement("A", "RECEIPT", 5, plant="DE01")
    assert plant_key(event) == "DE01"
    assert "|DE01|" in event.guard_key()  # the guard's key is within the plant


def test_a_batch_crosses_to_the_plants_as_one_item_per_plant_with_each_plants_events_in_order():
    batch = [
        movement("A", "RECEIPT", 1, plant="DE01", seq=1),
        movement("A", "RECEIPT", 2, plant="US02", seq=1),
        movement("A", "RECEIPT", 3, plant="DE01", seq=2),
        params("B", plant="US02"),
    ]
    items = plant_batches(batch)
    assert [key for key, _ in items] == ["DE01", "US02"]
    assert dict(items) == {"DE01": PlantBatch((batch[0], batch[2])), "US02": PlantBatch((batch[1], batch[3]))}
    assert all(b.backlog for _, b in plant_batches(batch, backlog=True))  # the reader's lag goes along
    assert plant_batches([]) == []


def test_a_plant_step_gives_each_input_one_final_outcome_and_hands_facts_to_planning():
    plant = step()
    receipt = movement("A", "RECEIPT", 5, event_id="m1")
    out = plant.offer([params("A"), demand("D1", "A", 10, DUE), receipt, receipt], 0.0)
    by_id = outcomes(out)
    assert by_id[-2:] == [("m1", Outcome.APPLIED), ("m1", Outcome.DEDUPLICATED)]
    assert len(by_id) == 4  # each input exactly once
    assert plant.planning.pending  # params, demand and the stock position wait for a pass
    _, records = plant.planning.plan(TODAY)
    trigger = next(r for r in records if r.TOPIC == "procurement.triggers")
    assert trigger.qty == 5  # 10 demanded, 5 on hand


def test_a_held_event_is_released_by_its_guard_deadline():
    plant = PlantStep(
        PlanningStep(PlantPlanner("")), dedup=DedupWindow(), sequencer=Sequencer(key="", wait_s=30.0)
    )
    plant.offer([movement("A", "RECEIPT", 5, seq=1)], 0.0)
    out = plant.offer([movement("A", "RECEIPT", 5, seq=3, event_id="late")], 10.0)  # 2 is missing
    assert outcomes(out) == []
    deadline = plant.next_deadline()
    assert deadline is not None and deadline.timestamp() == 40.0
    assert plant.expire(39.0) == []
    released = plant.expire(40.0)
    assert ("late", Outcome.APPLIED) in outcomes(released)
    assert any(isinstance(r, SyncException) for r in released)  # the gap is reported
    assert plant.next_deadline() is None


def _events(n: int, items: str) -> list[Event]:
    return [movement(item, "RECEIPT", 1) for item in items for _ in range(n)]


def test_a_snapshot_re_encodes_only_the_sub_states_an_epoch_changed():
    logic = plant_builder(FlowConfig(today=TODAY, clock=lambda: NOW))(None)
    logic.on_batch([PlantBatch((params("A"), params("B"), *_events(2, "AB")))])
    first = logic.snapshot()
    a_key = next(k for k in first if k.startswith(INVENTORY) and k.endswith("A@P1"))
    b_key = next(k for k in first if k.startswith(INVENTORY) and k.endswith("B@P1"))
    assert {PLANNER, a_key, b_key} <= first.keys()
    logic.on_batch([PlantBatch(tuple(_events(1, "B")))])
    second = logic.snapshot()
    assert second[a_key] is first[a_key]  # A was not touched: its bytes are reused as they are
    assert second[b_key] != first[b_key]
    assert logic.snapshot()[b_key] is second[b_key]  # nothing changed since


def test_a_plant_restored_from_its_snapshot_goes_on_like_one_never_stopped():
    config = FlowConfig(today=TODAY, clock=lambda: NOW)
    build = plant_builder(config)
    first_part = [params("A"), demand("D1", "A", 10, DUE), movement("A", "RECEIPT", 3, event_id="r1")]
    second_part = [movement("A", "RECEIPT", 3, event_id="r1"), demand("D2", "A", 4, DUE)]  # r1 again

    never_stopped = build(None)
    never_stopped.on_batch([PlantBatch(tuple(first_part))])
    restored = build(pickle.loads(pickle.dumps(never_stopped.snapshot())))
    assert any(k.startswith(GUARD) for k in never_stopped.snapshot())

    def latest(logic_out: list[object]) -> dict[str, OutputRecord]:
        return {f"{r.TOPIC}|{r.record_key()}": r for r in logic_out if not isinstance(r, Verdict)}

    a, _ = never_stopped.on_batch([PlantBatch(tuple(second_part))])
    b, _ = restored.on_batch([PlantBatch(tuple(second_part))])
    expected = [("r1", Outcome.DEDUPLICATED), (second_part[-1].event_id, Outcome.APPLIED)]
    assert outcomes(list(a)) == outcomes(list(b)) == expected
    assert latest(list(never_stopped.on_eof()[0])) == latest(list(restored.on_eof()[0]))


def test_without_a_recovery_store_a_snapshot_is_empty_and_costs_nothing():
    logic = plant_builder(FlowConfig(today=TODAY, clock=lambda: NOW, snapshots=False))(None)
    logic.on_batch([PlantBatch(tuple(_events(1, "A")))])
    assert logic.snapshot() == {}
    assert logic.step.dirty == set()


class Passes:
    """A plan observer that counts the planning passes."""

    def __init__(self) -> None:
        self.count = 0

    def planned(self, planner: object, facts: object, records: object) -> None:
        self.count += 1


def test_a_new_day_plans_again_without_new_facts_and_a_guard_deadline_alone_does_not():
    clock = [NOW]
    passes = Passes()
    logic = plant_builder(FlowConfig(clock=lambda: clock[0], wait_s=30.0, observer=passes))(None)
    logic.on_batch(
        [PlantBatch((params("A"), demand("D1", "A", 10, DUE), movement("A", "RECEIPT", 1, seq=1)))]
    )
    assert passes.count == 1
    logic.on_batch(
        [PlantBatch((movement("A", "RECEIPT", 1, seq=3),))]
    )  # waits for 2; planning has nothing new
    assert logic.notify_at() == NOW + timedelta(seconds=30)  # the guard's deadline comes first
    clock[0] = NOW + timedelta(seconds=30)
    logic.on_notify()  # releases seq 3 (a new position), and its fact is planned: the pace allows it
    assert passes.count == 2
    midnight = datetime(2026, 3, 3, tzinfo=UTC)
    assert logic.notify_at() == midnight
    clock[0] = midnight
    logic.on_notify()
    assert passes.count == 3
