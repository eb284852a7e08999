"""The status board: outcome counts and event lag per batch; exception gauges per record, ages at
scrape time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from mfgsync.connectors.metrics import SyncMetrics
from mfgsync.flows.observability import StatusBoard
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.schemas.outputs import SyncException
from tests.factories import demand, movement

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def exception(exception_id: str, kind: str, state: str = "OPEN", first_seen: datetime | None = T0):
    return SyncException(
        exception_id=exception_id,
        type=kind,
        state=state,
        key=exception_id.split("|")[-1],
        details={},
        first_seen=first_seen,
    )


def test_open_exceptions_are_counted_per_type_and_aged_when_scraped():
    registry = CollectorRegistry()
    now = [T0 + timedelta(minutes=10)]
    board = StatusBoard(SyncMetrics(registry), clock=lambda: now[0])

    def gauge(name: str, kind: str) -> float | None:
        return registry.get_sample_value(name, {"type": kind})

    board.records(
        [
            ("sync.exceptions", exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK")),
            (
                "sync.exceptions",
                exception("NEGATIVE_STOCK|B@P1", "NEGATIVE_STOCK", first_seen=T0 + timedelta(minutes=5)),
            ),
        ]
    )
    board.records([("sync.exceptions", exception("UNKNOWN_ITEM|C@P1", "UNKNOWN_ITEM", first_seen=None))])
    assert gauge("mfgsync_exceptions_open", "NEGATIVE_STOCK") == 2
    assert gauge("mfgsync_exceptions_open", "UNKNOWN_ITEM") == 1
    assert gauge("mfgsync_exception_age_seconds", "NEGATIVE_STOCK") == 600  # the oldest, A
    assert gauge("mfgsync_exception_age_seconds", "UNKNOWN_ITEM") == 0  # no first_seen

    now[0] += timedelta(minutes=1)  # no record in between: the age still grows
    assert gauge("mfgsync_exception_age_seconds", "NEGATIVE_STOCK") == 660

    board.records([("sync.exceptions", exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK", state="CLOSED"))])
    assert gauge("mfgsync_exceptions_open", "NEGATIVE_STOCK") == 1
    assert gauge("mfgsync_exception_age_seconds", "NEGATIVE_STOCK") == 360  # now B, 6 minutes
    listed = board.status()["exceptions_open"]
    assert [(e["type"], e["key"], e["age_s"]) for e in listed] == [
        ("NEGATIVE_STOCK", "B@P1", 360.0),
        ("UNKNOWN_ITEM", "C@P1", 0.0),
    ]

    board.records([("sync.exceptions", exception("NEGATIVE_STOCK|B@P1", "NEGATIVE_STOCK", state="CLOSED"))])
    assert gauge("mfgsync_exceptions_open", "NEGATIVE_STOCK") == 0
    assert gauge("mfgsync_exception_age_seconds", "NEGATIVE_STOCK") == 0


def test_a_batch_of_outcomes_is_counted_per_topic_and_outcome_with_the_lag_of_each_admitted_event():
    registry = CollectorRegistry()
    board = StatusBoard(SyncMetrics(registry), clock=lambda: T0 + timedelta(seconds=100))
    moved = [movement("A", "RECEIPT", 1, at=T0 + timedelta(seconds=s)) for s in (40, 70, 90)]
    batch = [
        Verdict(moved[0], Outcome.APPLIED),
        Verdict(moved[1], Outcome.APPLIED),
        Verdict(moved[2], Outcome.DEDUPLICATED),
        Verdict(demand("D1", "A", 5, T0.date()), Outcome.APPLIED),
    ]
    assert board.verdicts(batch) == []  # an observer: nothing goes downstream
    board.verdicts(batch[:1])

    def count(topic: str, outcome: str) -> float | None:
        return registry.get_sample_value("mfgsync_events_total", {"topic": topic, "outcome": outcome})

    assert count(moved[0].TOPIC, "applied") == 3
    assert count(moved[0].TOPIC, "deduplicated") == 1
    assert count(batch[3].event.TOPIC, "applied") == 1
    lag = {"source": "WMS"}
    assert registry.get_sample_value("mfgsync_event_lag_seconds_count", lag) == 3  # admitted only
    assert registry.get_sample_value("mfgsync_event_lag_seconds_sum", lag) == 60 + 30 + 60
    assert board.totals()["events"] == {"applied": 4, "deduplicated": 1}
