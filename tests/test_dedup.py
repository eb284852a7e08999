"""Deduplication by event_id within a bounded event-time horizon (SPEC 3, operators/dedup.py)."""

from __future__ import annotations

from datetime import timedelta

from mfgsync.operators.dedup import DEFAULT_HORIZON, DedupWindow
from tests.factories import T0


def test_default_horizon_is_seven_days_of_event_time():
    assert DEFAULT_HORIZON == timedelta(days=7)
    assert DedupWindow().horizon == timedelta(days=7)


def test_first_sight_of_an_id_is_not_a_duplicate():
    window = DedupWindow()
    assert window.check_and_remember("E1", T0) is False
    assert window.check_and_remember("E2", T0) is False


def test_duplicate_within_horizon_is_dropped():
    window = DedupWindow()
    window.check_and_remember("E1", T0)
    window.check_and_remember("E2", T0 + timedelta(days=3))
    assert window.check_and_remember("E1", T0 + timedelta(days=6)) is True


def test_duplicate_exactly_at_the_horizon_is_still_recognised():
    window = DedupWindow(horizon=timedelta(days=7))
    window.check_and_remember("E1", T0)
    window.check_and_remember("E2", T0 + timedelta(days=7))
    assert window.check_and_remember("E1", T0) is True


def test_id_is_forgotten_once_newest_event_time_moves_past_the_horizon():
    window = DedupWindow(horizon=timedelta(days=7))
    window.check_and_remember("E1", T0)
    window.check_and_remember("E2", T0 + timedelta(days=7, seconds=1))
    assert "E1" not in window.seen
    assert window.check_and_remember("E1", T0) is False


def test_duplicate_check_does_not_depend_on_the_duplicates_own_event_time():
    window = DedupWindow(horizon=timedelta(hours=1))
    window.check_and_remember("E1", T0)
    assert window.check_and_remember("E1", T0 + timedelta(minutes=59)) is True
    assert window.check_and_remember("E1", T0 - timedelta(days=30)) is True


def test_at_most_max_ids_are_kept_oldest_arrivals_forgotten_first():
    window = DedupWindow(max_ids=3)
    for event_id in ("E1", "E2", "E3", "E4"):
        window.check_and_remember(event_id, T0)
    assert list(window.seen) == ["E2", "E3", "E4"]
    assert window.check_and_remember("E4", T0) is True
    # E1 was forgotten: it is no longer recognised (and is remembered again, evicting E2).
    assert window.check_and_remember("E1", T0) is False
    assert list(window.seen) == ["E3", "E4", "E1"]


def test_memory_stays_bounded_over_a_long_stream():
    window = DedupWindow(horizon=timedelta(hours=1), max_ids=50)
    for i in range(10_000):
        window.check_and_remember(f"E{i}", T0 + timedelta(seconds=i))
        assert len(window.seen) <= 50
    # The last 50 ids (all within the hour) are remembered.
    assert window.check_and_remember("E9999", T0) is True
    assert window.check_and_remember("E9950", T0) is True
    assert window.check_and_remember("E9949", T0) is False


def test_horizon_bound_applies_before_the_size_bound():
    window = DedupWindow(horizon=timedelta(seconds=10), max_ids=1_000)
    for i in range(100):
        window.check_and_remember(f"E{i}", T0 + timedelta(seconds=i))
    # newest is T0+99s, cutoff T0+89s: ids at 89..99 s are kept (11 of them).
    assert sorted(window.seen, key=lambda e: int(e[1:])) == [f"E{i}" for i in range(89, 100)]
