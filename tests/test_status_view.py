"""The status view (operators.status_view): open sets, readiness, totals and `/status`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from mfgsync.operators.guard import Outcome
from mfgsync.operators.status_view import StatusView, status_document
from mfgsync.schemas.outputs import (
    DeadLetter,
    LagReport,
    ProcurementTrigger,
    ShortageSignal,
    SyncException,
)
from mfgsync.schemas.vocabulary import DEAD_LETTERS, EXCEPTIONS, LAG, SHORTAGES, TRIGGERS
from tests.factories import bom, requisition

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def shortage(signal_id: str, severity: str, state: str = "RAISED", plant: str = "P1") -> ShortageSignal:
    return ShortageSignal.model_validate(
        {
            "signal_id": signal_id,
            "state": state,
            "plant": plant,
            "item": signal_id.split("|")[-1],
            "shortage_date": date(2026, 3, 9),
            "shortage_qty": 10.0,
            "severity": severity,
        }
    )


def trigger(
    trigger_id: str, kind: str, state: str = "OPEN", causes: tuple[str, ...] = ()
) -> ProcurementTrigger:
    return ProcurementTrigger.model_validate(
        {
            "trigger_id": trigger_id,
            "state": state,
            "type": kind,
            "plant": "P1",
            "item": "GEAR",
            "qty": 5.0,
            "cause_event_ids": causes,
        }
    )


def exception(
    exception_id: str, kind: str, state: str = "OPEN", first_seen: datetime | None = T0
) -> SyncException:
    return SyncException.model_validate(
        {
            "exception_id": exception_id,
            "type": kind,
            "state": state,
            "key": exception_id.split("|")[-1],
            "details": {},
            "first_seen": first_seen,
        }
    )


def dead_letter(error: str) -> DeadLetter:
    return DeadLetter(
        dlq_id=f"{error}|1", topic="erp.movements", partition=0, offset=1, raw=b"{", reason="bad", error=error
    )


def lag_report(source: str, count: int, p99_s: float) -> LagReport:
    return LagReport(
        report_id=f"{source}|1",
        source=source,
        window_start=T0,
        window_end=minutes(1),
        count=count,
        max_s=p99_s * 2,
        p50_s=p99_s / 2,
        p99_s=p99_s,
    )


# ------------------------------------------------------------------ shortages


def test_a_shortage_is_open_under_its_latest_plant_and_severity():
    view = StatusView(T0)
    assert view.output(SHORTAGES, shortage("P1|GEAR", "HIGH")).shortages_open == {("P1", "HIGH"): 1}
    assert view.output(SHORTAGES, shortage("P1|BOLT", "HIGH")).shortages_open == {("P1", "HIGH"): 2}
    # An update to CRITICAL moves it: HIGH loses one, CRITICAL gains one, nothing else moves.
    moved = view.output(SHORTAGES, shortage("P1|GEAR", "CRITICAL", state="UPDATED")).shortages_open
    assert moved == {("P1", "HIGH"): 1, ("P1", "CRITICAL"): 1}
    assert status_document(view, T0)["shortages_open"] == {"CRITICAL": 1, "HIGH": 1, "WARNING": 0}


def test_a_resolved_shortage_leaves_the_open_counts():
    view = StatusView(T0)
    view.output(SHORTAGES, shortage("P1|GEAR", "WARNING"))
    view.output(SHORTAGES, shortage("P2|GEAR", "WARNING", plant="P2"))
    moved = view.output(SHORTAGES, shortage("P1|GEAR", "WARNING", state="RESOLVED")).shortages_open
    assert moved == {("P1", "WARNING"): 0}
    assert status_document(view, T0)["shortages_open"] == {"CRITICAL": 0, "HIGH": 0, "WARNING": 1}


def test_resolving_a_shortage_that_is_not_open_moves_no_count():
    view = StatusView(T0)
    assert view.shortage(shortage("P1|GEAR", "HIGH", state="RESOLVED")) == {}
    assert status_document(view, T0)["shortages_open"] == {"CRITICAL": 0, "HIGH": 0, "WARNING": 0}


def test_adopted_shortages_are_open_but_not_counted_as_outputs():
    view = StatusView(T0)
    assert view.shortage(shortage("P1|GEAR", "CRITICAL")) == {("P1", "CRITICAL"): 1}
    assert status_document(view, T0)["shortages_open"]["CRITICAL"] == 1
    assert view.totals()["outputs"] == {}


# ------------------------------------------------------------------- triggers


def test_triggers_are_open_by_their_latest_type_until_withdrawn():
    view = StatusView(T0)
    assert view.output(TRIGGERS, trigger("T1", "CREATE_REQUISITION")).trigger_opened == "CREATE_REQUISITION"
    view.output(TRIGGERS, requisition("BOLT", 4.0))
    assert view.output(TRIGGERS, trigger("T2", "EXPEDITE")).trigger_opened == "EXPEDITE"
    assert status_document(view, T0)["triggers_open"] == {"CREATE_REQUISITION": 2, "EXPEDITE": 1}

    # An update keeps it open (and is not a trigger opened); a withdrawal closes it.
    assert view.output(TRIGGERS, trigger("T1", "CREATE_REQUISITION", state="UPDATED")).trigger_opened is None
    assert view.output(TRIGGERS, trigger("T2", "EXPEDITE", state="WITHDRAWN")).trigger_opened is None
    assert status_document(view, T0)["triggers_open"] == {"CREATE_REQUISITION": 2}


# ----------------------------------------------------------------- exceptions


def test_exceptions_are_counted_per_type_and_the_first_of_a_type_is_announced():
    view = StatusView(T0)
    first = view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK"))
    assert (first.exceptions_open, first.exception_type_added) == ({"NEGATIVE_STOCK": 1}, "NEGATIVE_STOCK")
    second = view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|B@P1", "NEGATIVE_STOCK"))
    assert (second.exceptions_open, second.exception_type_added) == ({"NEGATIVE_STOCK": 2}, None)
    closed = view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK", state="CLOSED"))
    assert (closed.exceptions_open, closed.exception_type_added) == ({"NEGATIVE_STOCK": 1}, None)


def test_an_exception_ages_from_the_oldest_first_seen_at_the_time_asked():
    view = StatusView(T0)
    view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK", first_seen=T0))
    view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|B@P1", "NEGATIVE_STOCK", first_seen=minutes(5)))
    view.output(EXCEPTIONS, exception("UNKNOWN_ITEM|C@P1", "UNKNOWN_ITEM", first_seen=None))
    assert view.oldest_exception_age_s("NEGATIVE_STOCK", minutes(10)) == 600
    assert view.oldest_exception_age_s("NEGATIVE_STOCK", minutes(11)) == 660  # no record needed
    assert view.oldest_exception_age_s("UNKNOWN_ITEM", minutes(10)) == 0  # no first_seen
    assert view.oldest_exception_age_s("SEQUENCE_GAP", minutes(10)) == 0  # none open

    view.output(EXCEPTIONS, exception("NEGATIVE_STOCK|A@P1", "NEGATIVE_STOCK", state="CLOSED"))
    assert view.oldest_exception_age_s("NEGATIVE_STOCK", minutes(11)) == 360  # now B
    assert status_document(view, minutes(11))["exceptions_open"] == [
        {"type": "NEGATIVE_STOCK", "key": "B@P1", "age_s": 360.0},
        {"type": "UNKNOWN_ITEM", "key": "C@P1", "age_s": 0.0},
    ]


# -------------------------------------------------------------- planning passes


def test_an_eco_is_propagated_to_a_plant_by_its_planning_pass():
    view = StatusView(T0)
    released = bom("GEARBOX", "B", [("GEAR", 2.0)], eco="ECO-42", event_id="E-42", at=T0)
    seen = view.planned("P1", 0, [released], [trigger("T1", "EXPEDITE", causes=("E-42",))], minutes(4))
    assert seen.eco_propagation_s == (240.0,)
    # Without an ECO number the revision names it; a pass whose triggers cite other events
    # leaves its last trigger empty.
    unnumbered = bom("PUMP", "C", [("SEAL", 1.0)], event_id="E-43", at=minutes(1), plant="P2")
    view.planned("P2", 0, [unnumbered], [trigger("T2", "EXPEDITE", causes=("E-1",))], minutes(2))
    assert status_document(view, minutes(5))["ecos"] == [
        {
            "eco": "ECO-42",
            "plant": "P1",
            "released_at": T0.isoformat(),
            "last_trigger_at": minutes(4).isoformat(),
            "propagated": True,
            "propagation_s": 240.0,
        },
        {
            "eco": "PUMP@C",
            "plant": "P2",
            "released_at": minutes(1).isoformat(),
            "last_trigger_at": None,
            "propagated": True,
            "propagation_s": 60.0,
        },
    ]


def test_a_later_pass_with_the_same_eco_keeps_its_release_time_and_updates_the_rest():
    view = StatusView(T0)
    first = bom("GEARBOX", "B", [("GEAR", 2.0)], eco="ECO-42", event_id="E-1", at=T0)
    view.planned("P1", 0, [first], [trigger("T1", "EXPEDITE", causes=("E-1",))], minutes(1))
    again = bom("GEARBOX", "B", [("GEAR", 3.0)], eco="ECO-42", event_id="E-2", at=minutes(2))
    view.planned("P1", 0, [again], [], minutes(3))
    (eco,) = status_document(view, minutes(3))["ecos"]
    assert (eco["released_at"], eco["propagation_s"], eco["last_trigger_at"]) == (
        T0.isoformat(),
        60.0,
        minutes(1).isoformat(),
    )


def test_sync_latency_runs_from_the_earliest_remembered_ingest_for_each_topic_written():
    view = StatusView(T0)
    view.ingest("E-1", minutes(1).timestamp())
    view.ingest("E-2", minutes(2).timestamp())
    facts = [
        bom("A", "1", [], event_id="E-2"),
        bom("B", "1", [], event_id="E-1"),
        bom("C", "1", [], event_id="E-9"),
    ]
    records = [trigger("T1", "EXPEDITE"), shortage("P1|A", "HIGH"), trigger("T2", "EXPEDITE")]
    seen = view.planned("P1", 0, facts, records, minutes(5))
    assert (seen.sync_latency_s, seen.topics) == (240.0, frozenset({TRIGGERS, SHORTAGES}))


def test_no_sync_latency_without_a_record_written_or_an_ingest_remembered():
    view = StatusView(T0)
    view.ingest("E-1", minutes(1).timestamp())
    nothing_written = view.planned("P1", 0, [bom("A", "1", [], event_id="E-1")], [], minutes(5))
    assert (nothing_written.sync_latency_s, nothing_written.topics) == (None, frozenset())
    unknown = view.planned(
        "P1", 0, [bom("A", "1", [], event_id="E-7")], [trigger("T1", "EXPEDITE")], minutes(5)
    )
    assert (unknown.sync_latency_s, unknown.topics) == (None, frozenset())


def test_ingest_times_are_bounded_and_the_oldest_is_forgotten_first():
    view = StatusView(T0, ingest_memory=2)
    for n, event_id in enumerate(["E-1", "E-2", "E-3"]):
        view.ingest(event_id, minutes(n).timestamp())
    assert list(view.ingested) == ["E-2", "E-3"]


def test_po_lines_awaiting_confirmation_are_the_latest_per_plant():
    view = StatusView(T0)
    view.planned("P2", 3, [], [], T0)
    view.planned("P1", 5, [], [], T0)
    view.planned("P1", 2, [], [], T0)
    assert status_document(view, T0)["po_lines_awaiting_confirmation"] == {"P1": 2, "P2": 3}


# ------------------------------------------------------------------ readiness


def test_ready_once_every_assigned_partition_reported_a_lag_within_the_limit():
    view = StatusView(T0, ready_max_lag=100)
    assert not view.ready()  # nothing assigned yet
    view.partition_assigned("erp.movements", 0)
    view.partition_assigned("erp.movements", 1)
    view.partition_lag("erp.movements", 0, 0)
    assert not view.ready()  # partition 1 has not reported
    view.partition_lag("erp.movements", 1, 100)
    assert view.ready()
    view.partition_lag("erp.movements", 1, 101)
    assert not view.ready()


def test_the_largest_partition_lag_is_what_says_a_process_is_catching_up():
    # Not the lag in all: that grows with the partitions a process reads, so one of two
    # processes would stop catching up at twice the backlog per partition of one process.
    view = StatusView(T0)
    assert view.partition_lag_max() == 0
    for partition, lag in enumerate((300, 2_600, 40)):
        view.partition_lag("erp.movements", partition, lag)
    assert view.partition_lag_max() == 2_600 and view.backlog() == 2_940
    view.partition_lag("erp.movements", 1, 0)
    assert view.partition_lag_max() == 300


def test_a_lag_report_assigns_its_partition():
    view = StatusView(T0, ready_max_lag=10)
    view.partition_lag("plm.bom", 3, 4)
    assert view.ready()
    assert view.totals()["partitions"] == [("plm.bom", 3)]


# ---------------------------------------------------------- totals and /status


def test_totals_count_outcomes_outputs_dead_letters_rejections_and_lag():
    view = StatusView(T0)
    for outcome in (Outcome.APPLIED, Outcome.APPLIED, Outcome.DEDUPLICATED):
        view.outcome(outcome)
    view.output(DEAD_LETTERS, dead_letter("INVALID_JSON"))
    view.output(DEAD_LETTERS, dead_letter("INVALID_JSON"))
    view.output(TRIGGERS, trigger("T1", "EXPEDITE"))
    view.output_rejected(TRIGGERS, "T1", "MSG_SIZE_TOO_LARGE", "too large")
    view.output_rejected(SHORTAGES, "P1|GEAR", "ENCODE", "bad severity")
    view.partition_lag("erp.movements", 1, 7)
    view.partition_lag("erp.movements", 0, 5)
    view.handed_over(40)
    view.handed_over(2)
    assert view.totals() == {
        "events": {"applied": 2, "deduplicated": 1},
        "outputs": {DEAD_LETTERS: 2, TRIGGERS: 1},
        "dead_letters": {"INVALID_JSON": 2},
        "rejected": {"MSG_SIZE_TOO_LARGE": 1, "ENCODE": 1},
        "last_rejection": f"{SHORTAGES} P1|GEAR: bad severity",
        "partitions": [("erp.movements", 0), ("erp.movements", 1)],
        "lag_reported": 2,
        "lag_messages": 12,
        "exchanged": 42,
    }


def test_the_status_document_of_a_new_view_lists_every_outcome_and_severity_at_zero():
    assert status_document(StatusView(T0), minutes(2)) == {
        "service": {"ready": False, "uptime_s": 120.0},
        "events": {"applied": 0, "deduplicated": 0, "superseded": 0, "dead_lettered": 0},
        "shortages_open": {"CRITICAL": 0, "HIGH": 0, "WARNING": 0},
        "triggers_open": {},
        "ecos": [],
        "po_lines_awaiting_confirmation": {},
        "exceptions_open": [],
        "lag": {},
        "alerts": [],
    }


def test_the_status_document_shows_the_latest_lag_report_per_source_and_the_alert_health():
    view = StatusView(T0)
    view.output(LAG, lag_report("SAP", 10, 2.0))
    view.output(LAG, lag_report("MES", 4, 1.0))
    view.output(LAG, lag_report("SAP", 20, 3.0))
    view.outcome(Outcome.SUPERSEDED)
    health = [{"channel": "webhook", "delivered": 3}]
    document = status_document(view, T0, health)
    assert document["lag"] == {
        "MES": {"count": 4, "p50_s": 0.5, "p99_s": 1.0, "max_s": 2.0},
        "SAP": {"count": 20, "p50_s": 1.5, "p99_s": 3.0, "max_s": 6.0},
    }
    assert list(document["lag"]) == ["MES", "SAP"]
    assert document["events"]["superseded"] == 1
    assert document["alerts"] == health


def test_the_backlog_is_what_every_partition_lags_in_all():
    view = StatusView(T0, ready_max_lag=10)
    assert view.backlog() == 0  # nothing reported: not behind
    view.partition_lag("erp.movements", 0, 15_000)
    view.partition_lag("erp.movements", 1, 6_000)
    view.partition_lag("erp.movements", 0, 14_000)  # the latest report of a partition counts
    assert view.backlog() == 20_000
