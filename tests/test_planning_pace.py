"""Live planning paces itself: at most about half the worker's time goes to re-planning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mfgsync.flows.dataflow import FlowConfig, PlanningLogic
from mfgsync.operators.planner import PlantPlanner
from tests.factories import demand, params

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
DUE = date(2026, 3, 9)


class SteppedClock:
    """Returns the given instants one after the other (then stays at the last)."""

    def __init__(self, *instants: datetime) -> None:
        self.instants = list(instants)

    def __call__(self) -> datetime:
        return self.instants.pop(0) if len(self.instants) > 1 else self.instants[0]


def logic(clock: SteppedClock) -> PlanningLogic:
    config = FlowConfig(today=date(2026, 3, 2), plan_on="batch", clock=clock)
    return PlanningLogic(PlantPlanner("P1"), config)


def test_after_a_long_pass_the_next_facts_wait_as_long_as_it_took():
    # batch 1 at T0 takes 2 s to plan; batch 2 arrives at T0+3, inside the 2 s pause.
    clock = SteppedClock(T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))
    planning = logic(clock)
    first, _ = planning.on_batch([params("A"), demand("D1", "A", 10, DUE)])
    assert any(r.TOPIC == "procurement.triggers" for r in first)
    second, _ = planning.on_batch([demand("D2", "A", 5, DUE)])
    assert list(second) == []
    assert planning.notify_at() == T0 + timedelta(seconds=4)
    clock.instants = [T0 + timedelta(seconds=4)]
    later, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in later)


def test_quick_passes_plan_after_every_batch():
    planning = logic(SteppedClock(T0))  # passes take no time on this clock
    planning.on_batch([params("A"), demand("D1", "A", 10, DUE)])
    second, _ = planning.on_batch([demand("D2", "A", 5, DUE)])
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in second)
