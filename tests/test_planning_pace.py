"""Live planning paces itself: at most about half the worker's time goes to re-planning.

The rule is `operators/pace.py` inside `operators/steps.PlanningStep`; the last tests run it
through the bytewax adapter of the plant (`PlantLogic`), which reads the clock for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from mfgsync.flows.dataflow import FlowConfig, PlantLogic, plant_builder
from mfgsync.operators.guard import Verdict
from mfgsync.operators.pace import PlanningPace
from mfgsync.operators.planner import PlantPlanner
from mfgsync.operators.steps import PlanningStep
from mfgsync.schemas.outputs import OutputRecord
from tests.factories import demand, params

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TODAY = date(2026, 3, 2)
DUE = date(2026, 3, 9)


def seconds(n: float) -> timedelta:
    return timedelta(seconds=n)


def test_the_pause_after_a_pass_is_as_long_as_the_pass_at_half_share():
    pace = PlanningPace(share=0.5)
    assert pace.due(T0)  # nothing planned yet: plan at once
    pace.passed(T0, T0 + seconds(2))
    assert not pace.due(T0 + seconds(3.9))
    assert pace.due(T0 + seconds(4))


def test_a_smaller_share_pauses_longer_and_a_share_of_one_never_pauses():
    quarter = PlanningPace(share=0.25)
    quarter.passed(T0, T0 + seconds(1))
    assert quarter.next_pass == T0 + seconds(4)  # 1 s planning, 3 s pause
    full = PlanningPace(share=1.0)
    full.passed(T0, T0 + seconds(1))
    assert full.due(T0 + seconds(1))


def test_a_share_at_or_below_zero_still_plans_again():
    pace = PlanningPace(share=0.0)
    pace.passed(T0, T0 + seconds(1))
    assert pace.next_pass == T0 + seconds(100)  # raised to a 1 % share


def test_facts_inside_the_pause_wait_for_its_end_and_are_planned_together():
    planning = PlanningStep(PlantPlanner("P1"))
    assert planning.take([params("A"), demand("D1", "A", 10, DUE)]) and planning.due(T0)
    _, first = planning.plan(TODAY)
    planning.pace.passed(T0, T0 + seconds(2))
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 10 for r in first)
    second = demand("D2", "A", 5, DUE)
    assert planning.take([second])
    assert not planning.due(T0 + seconds(3))
    assert planning.wake_at(T0 + seconds(3), date_fixed=True) == T0 + seconds(4)
    assert planning.due(T0 + seconds(4))
    facts, later = planning.plan(TODAY)
    assert facts == [second]
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in later)


def test_with_nothing_pending_live_planning_wakes_at_the_next_midnight():
    planning = PlanningStep(PlantPlanner("P1"))
    assert planning.wake_at(T0, date_fixed=False) == datetime(2026, 3, 3, tzinfo=UTC)
    assert planning.wake_at(T0, date_fixed=True) is None


def test_a_replay_only_applies_facts_and_never_wakes():
    planning = PlanningStep(PlantPlanner("P1"), at_end_only=True)
    assert not planning.take([params("A"), demand("D1", "A", 10, DUE)])
    assert planning.wake_at(T0, date_fixed=False) is None
    _, records = planning.plan(TODAY)
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 10 for r in records)


class SteppedClock:
    """Returns the given instants one after the other (then stays at the last)."""

    def __init__(self, *instants: datetime) -> None:
        self.instants = list(instants)

    def __call__(self) -> datetime:
        return self.instants.pop(0) if len(self.instants) > 1 else self.instants[0]


def logic(clock: SteppedClock) -> PlantLogic:
    config = FlowConfig(today=TODAY, plan_on="batch", clock=clock)
    return plant_builder(config)(None)


def records(out: Iterable[object]) -> list[OutputRecord]:
    """The output records among what the plant step emitted (verdicts left out)."""
    return [r for r in out if not isinstance(r, Verdict)]  # type: ignore[misc]


def test_after_a_long_pass_the_next_facts_wait_as_long_as_it_took():
    # batch 1 at T0 takes 2 s to plan; batch 2 arrives at T0+3, inside the 2 s pause.
    # The adapter reads the clock for the pace (T0), at the pass's start (T0) and end (T0+2).
    clock = SteppedClock(T0, T0, T0 + timedelta(seconds=2), T0 + timedelta(seconds=3))
    planning = logic(clock)
    first, _ = planning.on_batch([params("A"), demand("D1", "A", 10, DUE)])
    assert any(r.TOPIC == "procurement.triggers" for r in records(first))
    second, _ = planning.on_batch([demand("D2", "A", 5, DUE)])
    assert records(second) == []  # only D2's verdict: its fact waits for the pause to end
    assert planning.notify_at() == T0 + timedelta(seconds=4)
    clock.instants = [T0 + timedelta(seconds=4)]
    later, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(later))


def test_quick_passes_plan_after_every_batch():
    planning = logic(SteppedClock(T0))  # passes take no time on this clock
    planning.on_batch([params("A"), demand("D1", "A", 10, DUE)])
    second, _ = planning.on_batch([demand("D2", "A", 5, DUE)])
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(second))
