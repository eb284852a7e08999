"""Sequencing by source_seq and the ingest guard (SPEC 3, operators/sequencer.py, operators/guard.py).

| where `source_seq` falls          | delta event  | state event  |
|-----------------------------------|--------------|--------------|
| first event of the key (baseline) | APPLY        | APPLY        |
| `last + 1`                        | APPLY        | APPLY        |
| beyond `last + 1`                 | BUFFER       | BUFFER       |
| at or before `last`               | APPLY_LATE   | SUPERSEDE    |
"""

from __future__ import annotations

import math
import pickle
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import IngestGuard, Outcome, Verdict
from mfgsync.operators.sequencer import MAX_TRACKED_GAPS, TRANSITIONS, Action, Position, Released, Sequencer
from mfgsync.schemas.events import Event
from tests.factories import at, movement, params

KEY = "K"


def delta(seq: int, event_id: str | None = None) -> Event:
    """A delta event (an InventoryMovement) with this sequence number."""
    return movement("A", "RECEIPT", 1, seq=seq, event_id=event_id)


def state(seq: int, event_id: str | None = None) -> Event:
    """A state event (ItemPlanningParams) with this sequence number."""
    return params("A", seq=seq, event_id=event_id)


def released_seqs(released: list[Released]) -> list[int]:
    return [r.event.source_seq for r in released]


def gap_fields(exception) -> tuple:
    return (
        exception.type,
        exception.state,
        exception.details["first_missing"],
        exception.details["last_missing"],
    )


# --- the transition table --------------------------------------------------------------------


def test_transition_table_is_the_documented_one():
    assert TRANSITIONS == {
        (Position.BASELINE, "delta"): Action.APPLY,
        (Position.BASELINE, "state"): Action.APPLY,
        (Position.NEXT, "delta"): Action.APPLY,
        (Position.NEXT, "state"): Action.APPLY,
        (Position.AHEAD, "delta"): Action.BUFFER,
        (Position.AHEAD, "state"): Action.BUFFER,
        (Position.BEHIND, "delta"): Action.APPLY_LATE,
        (Position.BEHIND, "state"): Action.SUPERSEDE,
    }


@pytest.mark.parametrize("make", [delta, state], ids=["delta", "state"])
def test_first_event_of_a_key_sets_the_baseline_whatever_its_number(make):
    seq = Sequencer(KEY)
    first = make(7)
    released, exceptions = seq.offer(first, now_s=0)
    assert released == [Released(first)]
    assert exceptions == []
    assert seq.last_seq == 7


@pytest.mark.parametrize("make", [delta, state], ids=["delta", "state"])
def test_next_sequence_number_is_applied_at_once(make):
    seq = Sequencer(KEY)
    seq.offer(make(7), now_s=0)
    nxt = make(8)
    assert seq.offer(nxt, now_s=1) == ([Released(nxt)], [])
    assert seq.last_seq == 8


@pytest.mark.parametrize("make", [delta, state], ids=["delta", "state"])
def test_event_beyond_next_waits_in_the_reorder_buffer(make):
    seq = Sequencer(KEY)
    seq.offer(make(7), now_s=0)
    ahead = make(9)
    assert seq.offer(ahead, now_s=1) == ([], [])
    assert seq.last_seq == 7
    assert seq.reorder_buffer == {9: [ahead]}
    assert seq.buffered_at == {9: 1}


def test_late_delta_is_applied_and_reported():
    seq = Sequencer(KEY)
    seq.offer(delta(7), now_s=0)
    seq.offer(delta(8), now_s=0)
    late = delta(5, event_id="LATE-5")
    released, exceptions = seq.offer(late, now_s=1)
    assert released == [Released(late, superseded=False)]
    assert len(exceptions) == 1
    report = exceptions[0]
    assert report.exception_id == "LATE_EVENT|K|LATE-5"
    assert (report.type, report.state, report.key) == ("LATE_EVENT", "CLOSED", KEY)
    assert report.details == {"event_id": "LATE-5", "source_seq": "5", "last_seq": "8"}
    assert report.first_seen == at(5)
    assert seq.last_seq == 8


def test_delta_repeating_the_last_number_counts_as_late():
    seq = Sequencer(KEY)
    seq.offer(delta(7), now_s=0)
    again = delta(7)
    released, exceptions = seq.offer(again, now_s=1)
    assert released == [Released(again)]
    assert [e.type for e in exceptions] == ["LATE_EVENT"]


def test_stale_state_version_is_superseded_without_an_exception():
    seq = Sequencer(KEY)
    seq.offer(state(7), now_s=0)
    seq.offer(state(8), now_s=0)
    stale = state(5)
    assert seq.offer(stale, now_s=1) == ([Released(stale, superseded=True)], [])
    assert seq.last_seq == 8


# --- reorder buffer ---------------------------------------------------------------------------


def test_reorder_buffer_drains_when_the_gap_fills():
    seq = Sequencer(KEY)
    seq.offer(delta(1), now_s=0)
    assert seq.offer(delta(3), now_s=1) == ([], [])
    assert seq.offer(delta(4), now_s=2) == ([], [])
    released, exceptions = seq.offer(delta(2), now_s=3)
    assert released_seqs(released) == [2, 3, 4]
    assert exceptions == []
    assert seq.last_seq == 4
    assert seq.reorder_buffer == {}
    assert seq.buffered_at == {}
    assert seq.next_deadline() is None


def test_partial_fill_releases_only_up_to_the_next_gap():
    seq = Sequencer(KEY)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(3), now_s=0)
    seq.offer(delta(5), now_s=0)
    released, _ = seq.offer(delta(2), now_s=1)
    assert released_seqs(released) == [2, 3]
    assert list(seq.reorder_buffer) == [5]


def test_wait_limit_releases_past_the_gap_with_an_open_sequence_gap():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(delta(1), now_s=0)
    four = delta(4)
    seq.offer(four, now_s=10)
    seq.offer(delta(5), now_s=12)
    assert seq.next_deadline() == 40
    assert seq.expire(39.999) == ([], [])
    released, exceptions = seq.expire(40)
    assert released_seqs(released) == [4, 5]
    assert len(exceptions) == 1
    gap = exceptions[0]
    assert gap.exception_id == "SEQUENCE_GAP|K|2-3"
    assert (gap.type, gap.state, gap.key) == ("SEQUENCE_GAP", "OPEN", KEY)
    assert gap.details == {
        "first_missing": "2",
        "last_missing": "3",
        "released_seq": "4",
        "reason": "wait limit passed",
    }
    assert gap.first_seen == four.event_time == at(4)
    assert seq.last_seq == 5
    assert seq.next_deadline() is None


def test_wait_limit_releases_only_what_has_waited_long_enough():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(3), now_s=0)
    seq.offer(delta(6), now_s=20)
    released, exceptions = seq.expire(30)
    assert released_seqs(released) == [3]
    assert [gap_fields(e) for e in exceptions] == [("SEQUENCE_GAP", "OPEN", "2", "2")]
    assert seq.next_deadline() == 50
    released, exceptions = seq.expire(50)
    assert released_seqs(released) == [6]
    assert [gap_fields(e) for e in exceptions] == [("SEQUENCE_GAP", "OPEN", "4", "5")]


def test_buffer_bound_releases_past_the_first_gap():
    seq = Sequencer(KEY, wait_s=math.inf, max_buffer=2)
    seq.offer(delta(1), now_s=0)
    assert seq.offer(delta(3), now_s=0) == ([], [])
    assert seq.offer(delta(4), now_s=0) == ([], [])
    released, exceptions = seq.offer(delta(6), now_s=0)
    assert released_seqs(released) == [3, 4]
    assert [gap_fields(e) for e in exceptions] == [("SEQUENCE_GAP", "OPEN", "2", "2")]
    assert exceptions[0].details["reason"] == "buffer bound reached"
    assert list(seq.reorder_buffer) == [6]
    assert seq.last_seq == 4


def test_flush_at_end_of_input_releases_everything_with_a_gap_per_hole():
    seq = Sequencer(KEY, wait_s=math.inf)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(5), now_s=0)
    seq.offer(delta(3), now_s=0)
    released, exceptions = seq.flush()
    assert released_seqs(released) == [3, 5]
    assert [gap_fields(e) for e in exceptions] == [
        ("SEQUENCE_GAP", "OPEN", "2", "2"),
        ("SEQUENCE_GAP", "OPEN", "4", "4"),
    ]
    assert {e.details["reason"] for e in exceptions} == {"end of input"}
    assert seq.reorder_buffer == {}
    assert seq.flush() == ([], [])


def test_infinite_wait_gives_no_deadline_and_never_expires():
    seq = Sequencer(KEY, wait_s=math.inf)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(3), now_s=0)
    assert seq.next_deadline() is None
    assert seq.expire(1e12) == ([], [])
    assert list(seq.reorder_buffer) == [3]


def test_late_arrival_inside_a_gap_closes_the_gap_exception_keeping_first_seen():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(4), now_s=0)
    _, opened = seq.expire(30)
    assert [gap_fields(e) for e in opened] == [("SEQUENCE_GAP", "OPEN", "2", "3")]
    assert opened[0].first_seen == at(4)

    # One of two missing numbers arrives: still open, only the late event is reported.
    _, exceptions = seq.offer(movement("A", "RECEIPT", 1, seq=2, at=at(100)), now_s=40)
    assert [e.type for e in exceptions] == ["LATE_EVENT"]

    last = movement("A", "RECEIPT", 1, seq=3, at=at(200), event_id="FILL-3")
    released, exceptions = seq.offer(last, now_s=50)
    assert released == [Released(last)]
    closed = [e for e in exceptions if e.type == "SEQUENCE_GAP"]
    assert len(closed) == 1
    assert closed[0].exception_id == "SEQUENCE_GAP|K|2-3" == opened[0].exception_id
    assert closed[0].state == "CLOSED"
    assert closed[0].first_seen == at(4)
    assert closed[0].details == {"first_missing": "2", "last_missing": "3", "closed_by": "FILL-3"}
    assert [e.type for e in exceptions if e.type != "SEQUENCE_GAP"] == ["LATE_EVENT"]
    assert seq.open_gaps == {}


def test_late_state_version_inside_a_gap_is_superseded_and_closes_the_gap():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(state(1), now_s=0)
    seq.offer(state(3), now_s=0)
    seq.expire(30)
    late = state(2)
    released, exceptions = seq.offer(late, now_s=31)
    assert released == [Released(late, superseded=True)]
    assert [(e.type, e.state) for e in exceptions] == [("SEQUENCE_GAP", "CLOSED")]


def test_gap_closes_only_when_every_missing_number_has_arrived():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(delta(1), now_s=0)
    seq.offer(delta(4), now_s=0)
    seq.expire(30)  # SEQUENCE_GAP 2-3 OPEN
    seq.offer(delta(2), now_s=31)
    _, exceptions = seq.offer(delta(2), now_s=32)  # seq 2 again, another event id
    assert [e.type for e in exceptions] == ["LATE_EVENT"]
    _, exceptions = seq.offer(delta(3), now_s=33)
    assert [(e.type, e.state) for e in exceptions] == [("SEQUENCE_GAP", "CLOSED"), ("LATE_EVENT", "CLOSED")]


def test_late_event_outside_any_gap_closes_nothing():
    seq = Sequencer(KEY, wait_s=30)
    seq.offer(delta(5), now_s=0)
    seq.offer(delta(7), now_s=0)
    seq.expire(30)  # gap 6-6
    _, exceptions = seq.offer(delta(3), now_s=31)
    assert [e.type for e in exceptions] == ["LATE_EVENT"]
    assert list(seq.open_gaps) == ["SEQUENCE_GAP|K|6-6"]


def test_gap_tracking_is_bounded_oldest_gaps_stop_being_tracked():
    seq = Sequencer(KEY, wait_s=math.inf)
    seq.offer(delta(0), now_s=0)
    for n in range(2, 82, 2):  # 40 holes: 1, 3, ..., 79
        seq.offer(delta(n), now_s=0)
    _, gaps = seq.flush()
    assert len(gaps) == 40
    assert len(seq.open_gaps) == MAX_TRACKED_GAPS == 32
    assert "SEQUENCE_GAP|K|1-1" not in seq.open_gaps
    assert "SEQUENCE_GAP|K|79-79" in seq.open_gaps
    # A late arrival in an untracked gap is still applied and reported late.
    _, exceptions = seq.offer(delta(1), now_s=1)
    assert [e.type for e in exceptions] == ["LATE_EVENT"]
    _, exceptions = seq.offer(delta(79), now_s=1)
    assert [(e.type, e.state) for e in exceptions] == [("SEQUENCE_GAP", "CLOSED"), ("LATE_EVENT", "CLOSED")]


# --- the guard: dedup, then sequencing -------------------------------------------------------


def guard(wait_s: float = 30.0) -> IngestGuard:
    return IngestGuard.for_key(KEY, DedupWindow(), Sequencer("template", wait_s=wait_s))


def test_guard_for_key_takes_the_bounds_of_the_templates():
    built = IngestGuard.for_key("K2", DedupWindow(max_ids=5), Sequencer("template", wait_s=3, max_buffer=4))
    assert (built.dedup.max_ids, built.dedup.seen) == (5, {})
    assert (built.sequencer.key, built.sequencer.wait_s, built.sequencer.max_buffer) == ("K2", 3, 4)


def test_duplicate_is_counted_deduplicated():
    g = guard()
    first = delta(1)
    assert g.offer(first, now_s=0) == ([Verdict(first, Outcome.APPLIED)], [])
    assert g.offer(first, now_s=1) == ([Verdict(first, Outcome.DEDUPLICATED)], [])


def test_duplicate_of_a_buffered_event_is_deduplicated_and_the_event_applied_once():
    g = guard()
    one, two, three = delta(1), delta(2), delta(3)
    g.offer(one, now_s=0)
    assert g.offer(three, now_s=1) == ([], [])
    assert g.offer(three, now_s=2) == ([Verdict(three, Outcome.DEDUPLICATED)], [])
    verdicts, _ = g.offer(two, now_s=3)
    assert verdicts == [Verdict(two, Outcome.APPLIED), Verdict(three, Outcome.APPLIED)]
    assert g.flush() == ([], [])


def test_stale_state_version_is_counted_superseded():
    g = guard()
    g.offer(state(5), now_s=0)
    g.offer(state(6), now_s=0)
    stale = state(4)
    assert g.offer(stale, now_s=1) == ([Verdict(stale, Outcome.SUPERSEDED)], [])


def test_late_delta_passes_the_guard_as_applied_with_a_late_event_report():
    g = guard()
    g.offer(delta(5), now_s=0)
    late = delta(4)
    verdicts, exceptions = g.offer(late, now_s=1)
    assert verdicts == [Verdict(late, Outcome.APPLIED)]
    assert [e.type for e in exceptions] == ["LATE_EVENT"]


def test_guard_expire_and_flush_release_buffered_events_as_applied():
    g = guard(wait_s=10)
    g.offer(delta(1), now_s=0)
    three, six = delta(3), delta(6)
    g.offer(three, now_s=0)
    g.offer(six, now_s=5)
    assert g.next_deadline() == 10
    verdicts, exceptions = g.expire(10)
    assert verdicts == [Verdict(three, Outcome.APPLIED)]
    assert [gap_fields(e) for e in exceptions] == [("SEQUENCE_GAP", "OPEN", "2", "2")]
    verdicts, exceptions = g.flush()
    assert verdicts == [Verdict(six, Outcome.APPLIED)]
    assert [gap_fields(e) for e in exceptions] == [("SEQUENCE_GAP", "OPEN", "4", "5")]


def test_guard_state_survives_a_restart_through_pickle():
    g = guard()
    g.offer(delta(1, event_id="A1"), now_s=0)
    three = delta(3, event_id="A3")
    g.offer(three, now_s=0)
    restored: IngestGuard = pickle.loads(pickle.dumps(g))
    # The buffered event and the remembered ids are both still there.
    assert restored.offer(three, now_s=1) == ([Verdict(three, Outcome.DEDUPLICATED)], [])
    two = delta(2, event_id="A2")
    verdicts, _ = restored.offer(two, now_s=2)
    assert [v.event.event_id for v in verdicts] == ["A2", "A3"]


@settings(max_examples=150, deadline=None)
@given(
    order=st.permutations(list(range(1, 13))),
    duplicated=st.lists(st.integers(min_value=1, max_value=12), max_size=8),
    max_buffer=st.integers(min_value=1, max_value=5),
)
def test_every_offered_delta_gets_exactly_one_outcome_and_each_is_applied_once(order, duplicated, max_buffer):
    events = {n: delta(n, event_id=f"D{n}") for n in range(1, 13)}
    stream = [events[n] for n in order] + [events[n] for n in duplicated]
    g = IngestGuard.for_key(KEY, DedupWindow(), Sequencer("t", wait_s=math.inf, max_buffer=max_buffer))
    verdicts: list[Verdict] = []
    for now, event in enumerate(stream):
        verdicts.extend(g.offer(event, now_s=now)[0])
    verdicts.extend(g.flush()[0])
    outcomes = Counter(v.outcome for v in verdicts)
    assert sum(outcomes.values()) == len(stream)  # read = applied + deduplicated + superseded
    assert outcomes[Outcome.DEDUPLICATED] == len(duplicated)
    applied = sorted(v.event.event_id for v in verdicts if v.outcome is Outcome.APPLIED)
    assert applied == sorted(f"D{n}" for n in range(1, 13))
