"""Live planning paces itself: at most about half the worker's time goes to re-planning,
and while the service catches up on a backlog a plant plans at most once per hold.

The rule is `operators/pace.py` inside `operators/steps.PlanningStep`; the last tests run it
through the bytewax adapter of the plant (`PlantLogic`), which reads the clock for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta

from mfgsync.flows.dataflow import FlowConfig, PlantLogic, plant_builder
from mfgsync.flows.service import flow_config
from mfgsync.flows.settings import Settings
from mfgsync.operators.guard import Verdict
from mfgsync.operators.pace import BACKLOG_MEMORY, PlanningPace
from mfgsync.operators.planner import PlantPlanner
from mfgsync.operators.steps import PlanningStep, PlantBatch
from mfgsync.schemas.events import Event
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
    first, _ = planning.on_batch([PlantBatch((params("A"), demand("D1", "A", 10, DUE)))])
    assert any(r.TOPIC == "procurement.triggers" for r in records(first))
    second, _ = planning.on_batch([PlantBatch((demand("D2", "A", 5, DUE),))])
    assert records(second) == []  # only D2's verdict: its fact waits for the pause to end
    assert planning.notify_at() == T0 + timedelta(seconds=4)
    clock.instants = [T0 + timedelta(seconds=4)]
    later, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(later))


def test_quick_passes_plan_after_every_batch():
    planning = logic(SteppedClock(T0))  # passes take no time on this clock
    planning.on_batch([PlantBatch((params("A"), demand("D1", "A", 10, DUE)))])
    second, _ = planning.on_batch([PlantBatch((demand("D2", "A", 5, DUE),))])
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(second))


# ------------------------------------------------------------------ catching up


def test_while_catching_up_a_pass_waits_for_the_hold_from_when_it_was_first_held():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    assert not pace.due(T0, catching_up=True)  # the hold starts here
    assert pace.held_until() == T0 + seconds(30)
    assert not pace.due(T0 + seconds(29), catching_up=True)
    assert pace.due(T0 + seconds(30), catching_up=True)
    pace.passed(T0 + seconds(30), T0 + seconds(30))
    assert pace.held_until() is None  # a pass ends the hold
    assert not pace.due(T0 + seconds(31), catching_up=True)
    assert pace.held_until() == T0 + seconds(31 + 60)  # the second hold of a backlog: twice as long


def test_each_further_pass_held_in_one_backlog_waits_twice_as_long_up_to_sixteen_holds():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    now, holds = T0, []
    for _ in range(7):
        assert not pace.due(now, catching_up=True)
        until = pace.held_until()
        assert until is not None
        holds.append((until - now) / seconds(30))
        assert not pace.due(until - seconds(0.1), catching_up=True)
        assert pace.due(until, catching_up=True)
        pace.passed(until, until)
        now = until + seconds(1)
    assert holds == [1, 2, 4, 8, 16, 16, 16]


def test_a_live_pass_ends_the_backlog_and_the_next_one_holds_from_the_start_again():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    for start in (T0, T0 + seconds(100)):  # two held passes
        assert not pace.due(start, catching_up=True)
        until = pace.held_until()
        assert until is not None and pace.due(until, catching_up=True)
        pace.passed(until, until)
    assert pace.due(T0 + seconds(300), catching_up=False)  # the backlog is read
    pace.passed(T0 + seconds(300), T0 + seconds(300))
    assert not pace.due(T0 + seconds(400), catching_up=True)  # another backlog
    assert pace.held_until() == T0 + seconds(430)


def test_a_pass_that_ran_because_the_backlog_was_read_does_not_lengthen_the_next_hold():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    assert not pace.due(T0, catching_up=True)  # held from here
    assert pace.due(T0 + seconds(5), catching_up=False)  # read: the held pass runs at once
    pace.passed(T0 + seconds(5), T0 + seconds(5))
    assert not pace.due(T0 + seconds(10), catching_up=True)
    assert pace.held_until() == T0 + seconds(40)


def test_once_the_backlog_is_read_a_held_pass_runs_at_once():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    assert not pace.due(T0, catching_up=True)
    assert pace.due(T0 + seconds(2), catching_up=False)


def test_without_a_hold_catching_up_changes_nothing_and_the_pause_still_applies():
    free = PlanningPace(share=0.5, catch_up_s=0)
    assert free.due(T0, catching_up=True)
    held = PlanningPace(share=0.5, catch_up_s=30)
    held.passed(T0, T0 + seconds(2))
    assert not held.due(T0 + seconds(3), catching_up=False)  # inside the pause after a pass
    assert held.held_until() is None  # the pause, not the hold, kept it back


def test_while_catching_up_planning_takes_about_a_tenth_of_the_time_then_the_hold_starts():
    pace = PlanningPace(share=0.5, catch_up_s=5)
    pace.passed(T0, T0 + seconds(2))  # a 2 s pass: 18 s of reading before the next one
    assert not pace.due(T0 + seconds(19.9), catching_up=True)
    assert pace.held_until() is None  # the hold has not started yet
    assert not pace.due(T0 + seconds(20), catching_up=True)
    assert pace.held_until() == T0 + seconds(25)
    assert pace.due(T0 + seconds(25), catching_up=True)


def test_once_the_backlog_is_read_only_the_live_pause_counts():
    pace = PlanningPace(share=0.5, catch_up_s=30)
    pace.passed(T0, T0 + seconds(2))
    assert not pace.due(T0 + seconds(3), catching_up=False)
    assert pace.due(T0 + seconds(4), catching_up=False)  # not the 18 s of the catch-up pause


def test_a_held_pass_looks_again_every_second_until_its_hold_ends():
    planning = PlanningStep(PlantPlanner("P1"), PlanningPace(share=0.5, catch_up_s=30))
    assert planning.take([params("A"), demand("D1", "A", 10, DUE)])
    assert not planning.due(T0, catching_up=True)
    assert planning.wake_at(T0, date_fixed=True) == T0 + seconds(1)
    assert planning.wake_at(T0 + seconds(29.5), date_fixed=True) == T0 + seconds(30)


def test_a_plant_is_catching_up_until_a_while_after_its_last_records_from_a_backlog():
    pace = PlanningPace(catch_up_s=30)
    assert not pace.catching_up(T0)  # nothing read from a backlog yet
    pace.read_backlog(T0)
    assert pace.catching_up(T0 + BACKLOG_MEMORY - seconds(0.1))
    assert not pace.catching_up(T0 + BACKLOG_MEMORY)


def catching_up_logic(clock: SteppedClock) -> PlantLogic:
    config = FlowConfig(today=TODAY, plan_on="batch", clock=clock, catch_up_plan_s=30)
    return plant_builder(config)(None)


def behind(*events: Event) -> list[PlantBatch]:
    """A batch read by a worker whose partitions lag behind."""
    return [PlantBatch(events, backlog=True)]


def test_a_plant_catching_up_plans_when_the_backlog_is_read_with_every_fact_held_so_far():
    clock = SteppedClock(T0)
    planning = catching_up_logic(clock)
    first, _ = planning.on_batch(behind(params("A"), demand("D1", "A", 10, DUE)))
    second, _ = planning.on_batch(behind(demand("D2", "A", 5, DUE)))
    assert records(first) == records(second) == []  # held while the backlog is read
    assert planning.notify_at() == T0 + seconds(1)
    clock.instants = [T0 + seconds(1)]
    assert records(planning.on_notify()[0]) == []  # backlog records came a second ago
    clock.instants = [T0 + BACKLOG_MEMORY]
    caught_up, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(caught_up))


def test_a_plant_is_catching_up_when_any_reader_of_its_records_is_not_only_its_own_process():
    # In a cluster, the process of the plant may have read its own partitions while another
    # process still reads a backlog of the plant's records: the flag comes with the batch.
    clock = SteppedClock(T0)
    planning = catching_up_logic(clock)
    live, _ = planning.on_batch([PlantBatch((params("A"), demand("D1", "A", 10, DUE)))])
    assert any(r.TOPIC == "procurement.triggers" for r in records(live))  # live: planned at once
    clock.instants = [T0 + seconds(5)]
    mixed = [PlantBatch((demand("D2", "A", 5, DUE),)), *behind(demand("D3", "A", 1, DUE))]
    assert records(planning.on_batch(mixed)[0]) == []  # one of its readers is behind: held


def test_a_plant_left_without_records_while_its_process_still_lags_stays_held():
    # The worker was busy with other plants' passes for longer than the plant's memory of
    # its backlog records: the process's lag still says the backlog is not read.
    lagging = [True]
    clock = SteppedClock(T0)
    config = FlowConfig(
        today=TODAY, plan_on="batch", clock=clock, catch_up_plan_s=30, catching_up=lambda: lagging[0]
    )
    planning = plant_builder(config)(None)
    assert records(planning.on_batch(behind(params("A"), demand("D1", "A", 10, DUE)))[0]) == []
    clock.instants = [T0 + BACKLOG_MEMORY + seconds(3)]
    assert records(planning.on_notify()[0]) == []
    lagging[0] = False
    caught_up, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 10 for r in records(caught_up))


def test_a_process_lagging_holds_only_plants_that_were_catching_up():
    # A plant whose records all came while the process kept up is planned as live.
    config = FlowConfig(
        today=TODAY, plan_on="batch", clock=SteppedClock(T0), catch_up_plan_s=30, catching_up=lambda: True
    )
    planning = plant_builder(config)(None)
    live, _ = planning.on_batch([PlantBatch((params("A"), demand("D1", "A", 10, DUE)))])
    assert any(r.TOPIC == "procurement.triggers" for r in records(live))


def test_a_plant_that_stays_behind_still_plans_once_per_hold():
    clock = SteppedClock(T0)
    planning = catching_up_logic(clock)
    assert records(planning.on_batch(behind(params("A"), demand("D1", "A", 10, DUE)))[0]) == []
    clock.instants = [T0 + seconds(29)]
    assert records(planning.on_batch(behind(demand("D2", "A", 5, DUE)))[0]) == []
    clock.instants = [T0 + seconds(30)]
    planned, _ = planning.on_notify()
    assert any(r.TOPIC == "procurement.triggers" and r.qty == 15 for r in records(planned))


def test_the_service_is_catching_up_while_one_of_its_partitions_lags_more_than_the_setting():
    lag = [0]
    settings = Settings(catch_up_partition_lag=2_500, catch_up_plan_s=30)
    config = flow_config(settings, None, None, lambda: lag[0])
    assert config.catch_up_plan_s == 30 and config.catching_up is not None
    assert not config.catching_up()
    lag[0] = 2_501
    assert config.catching_up()
    off = flow_config(Settings(catch_up_plan_s=0), None, None, lambda: lag[0])
    assert off.catching_up is None


def test_in_the_pause_of_a_catch_up_pass_the_plant_looks_again_every_second_not_at_once():
    planning = PlanningStep(PlantPlanner("P1"), PlanningPace(share=0.5, catch_up_s=30))
    planning.pace.passed(T0, T0 + seconds(2))
    assert planning.take([params("A")])
    assert planning.wake_at(T0 + seconds(3), date_fixed=True) == T0 + seconds(4)  # the live pause
    assert not planning.due(T0 + seconds(5), catching_up=True)
    assert planning.wake_at(T0 + seconds(5), date_fixed=True) == T0 + seconds(6)
