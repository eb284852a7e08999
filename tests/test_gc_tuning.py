"""The collector policy of planning passes (`mfgsync.flows.gc_tuning`)."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from bench.common import TODAY
from bench.planning import PLANT, Plant
from mfgsync.flows.gc_tuning import PAUSE_MIN_ITEMS, collector_paused, planning_pass
from mfgsync.operators.inventory import PositionChanged
from mfgsync.operators.planner import PlannerConfig, PlantPlanner


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()
    gc.unfreeze()


def test_a_large_pass_runs_paused_and_the_collector_resumes_after_it() -> None:
    with planning_pass(PAUSE_MIN_ITEMS):
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_small_pass_runs_with_the_collector_on() -> None:
    with planning_pass(PAUSE_MIN_ITEMS - 1):
        assert gc.isenabled()


def test_the_collector_resumes_when_the_last_of_overlapping_passes_ends() -> None:
    outer = collector_paused()
    outer.__enter__()
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()  # the outer pass still runs (another worker thread's)
    outer.__exit__(None, None, None)
    assert gc.isenabled()


class Node:
    def __init__(self) -> None:
        self.me = self


def test_cycles_made_before_a_pass_are_collected_not_frozen() -> None:
    gc.collect()
    gc.freeze()
    frozen_before = gc.get_freeze_count()
    for _ in range(1000):
        Node()
    with collector_paused():
        pass
    # Unreachable cycles are collected when the pass begins (else the freeze would keep them).
    assert gc.get_freeze_count() - frozen_before < 500


def test_what_a_pass_made_is_frozen_without_a_collection() -> None:
    gc.collect()
    gc.freeze()
    frozen_before = gc.get_freeze_count()
    collections = gc.get_stats()[2]["collections"]
    with collector_paused():
        kept = [[] for _ in range(1000)]
    assert gc.get_freeze_count() - frozen_before >= len(kept)
    assert gc.get_stats()[2]["collections"] == collections + 1  # the one before the pass


def _cycles_of(run: Callable[[], object]) -> Counter[str]:
    """Types of the objects in reference cycles that `run` leaves unreachable."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return Counter(type(o).__qualname__ for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_planning_passes_form_no_reference_cycles() -> None:
    # What `collector_paused` relies on: a pass's objects are freed by reference counting.
    plant = Plant(300, 1500, 6, 600, seed=5)
    planner = PlantPlanner(plant=PLANT, config=PlannerConfig())
    positions = plant.load(planner, plant.master_and_orders())
    assert _cycles_of(lambda: planner.plan_all(TODAY)) == Counter()

    def movements() -> None:
        for seq, names in enumerate(plant.by_level, start=2):
            for item in names[:3]:
                move = plant.movement(item, seq)
                positions[item].apply_movement(move)
                planner.apply(PositionChanged(PLANT, item, positions[item].position(), move.event_id))
                planner.plan(TODAY)

    assert _cycles_of(movements) == Counter()
    parent = plant.by_level[0][0]

    def revision() -> None:
        planner.apply(plant.revision(parent, "R9", TODAY, "ECO-9", bump=0))
        planner.plan(TODAY)
        planner.plan(TODAY + timedelta(days=1))

    assert _cycles_of(revision) == Counter()


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _cycles_of(Node)["Node"] == 1


def test_a_pass_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
