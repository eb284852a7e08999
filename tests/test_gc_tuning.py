"""The collector policy of planning passes (`mfgsync.flows.gc_tuning`)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mfgsync.flows.gc_tuning import PAUSE_MIN_ITEMS, collector_paused, planning_pass


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


def test_cycles_made_during_a_pass_are_collected_not_frozen() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    gc.freeze()
    frozen_before = gc.get_freeze_count()
    with collector_paused():
        for _ in range(1000):
            Node()
    # Unreachable cycles are collected before the survivors are frozen (else they would leak).
    assert gc.get_freeze_count() - frozen_before < 500


def test_a_pass_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()
