"""The terminal summary of /status (flows.status)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from mfgsync.connectors.http_status import StatusServer
from mfgsync.flows.status import StatusUnavailableError, fetch_status, format_age, render_status
from tests.services import free_port

STATUS = {
    "service": {"ready": True, "uptime_s": 7380.0},
    "events": {"applied": 1200, "deduplicated": 14, "superseded": 3, "dead_lettered": 2},
    "shortages_open": {"CRITICAL": 2, "HIGH": 1, "WARNING": 0},
    "triggers_open": {"EXPEDITE": 1, "CREATE_REQUISITION": 3},
    "ecos": [
        {
            "eco": "ECO-43",
            "plant": "P1",
            "released_at": "2026-03-02T09:00:00Z",
            "last_trigger_at": "2026-03-02T09:01:00Z",
            "propagated": False,
            "propagation_s": None,
        },
        {
            "eco": "ECO-42",
            "plant": "P1",
            "released_at": "2026-03-02T08:00:00Z",
            "last_trigger_at": "2026-03-02T08:04:10Z",
            "propagated": True,
            "propagation_s": 250.0,
        },
        {
            "eco": "ECO-44",
            "plant": "P2",
            "released_at": "2026-03-02T10:00:00Z",
            "last_trigger_at": None,
            "propagated": False,
            "propagation_s": None,
        },
    ],
    "po_lines_awaiting_confirmation": {"P1": 4, "P2": 0},
    "exceptions_open": [
        {"type": "SEQUENCE_GAP", "key": "ERP|P1", "age_s": 185.0},
        {"type": "NEGATIVE_STOCK", "key": "P1|BOLT-8", "age_s": 4 * 86400 + 5},
        {"type": "LATE_EVENT", "key": "WMS|P1", "age_s": 7300.0},
    ],
    "lag": {
        "SUPPLIER": {"count": 8, "p50_s": 30.0, "p99_s": 400.0, "max_s": 900.0},
        "ERP": {"count": 120, "p50_s": 0.4, "p99_s": 2.1, "max_s": 3.0},
    },
}


def section(text: str, title: str) -> list[str]:
    """The lines under ``title`` up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = lines.index("", start) if "" in lines[start:] else len(lines)
    return lines[start:end]


def test_header_states_readiness_uptime_and_event_outcomes():
    lines = render_status(STATUS).splitlines()
    assert lines[0] == "mfgsync: ready, up 2h"
    assert lines[1] == "events: 1200 applied, 14 deduplicated, 3 superseded, 2 dead-lettered"


def test_open_shortages_are_listed_by_severity_most_severe_first():
    assert section(render_status(STATUS), "Open shortages by severity") == [
        "  CRITICAL       2",
        "  HIGH           1",
        "  WARNING        0",
    ]


def test_open_triggers_are_listed_by_type_largest_count_first():
    assert section(render_status(STATUS), "Open triggers by type") == [
        "  CREATE_REQUISITION       3",
        "  EXPEDITE                 1",
    ]


def test_each_eco_says_whether_it_fully_propagated():
    assert section(render_status(STATUS), "ECOs") == [
        "  ECO-42 @ P1  released 2026-03-02T08:00:00Z  propagated in 4m",
        "  ECO-43 @ P1  released 2026-03-02T09:00:00Z  NOT propagated (last trigger 2026-03-02T09:01:00Z)",
        "  ECO-44 @ P2  released 2026-03-02T10:00:00Z  NOT propagated (no trigger yet)",
    ]


def test_po_lines_awaiting_confirmation_by_plant():
    assert section(render_status(STATUS), "PO lines awaiting confirmation") == [
        "  P1       4",
        "  P2       0",
    ]


def test_open_exceptions_oldest_first_with_human_ages():
    assert section(render_status(STATUS), "Open exceptions") == [
        "  NEGATIVE_STOCK  P1|BOLT-8    4d",
        "  LATE_EVENT      WMS|P1       2h",
        "  SEQUENCE_GAP    ERP|P1       3m",
    ]


def test_lag_per_source_in_seconds_then_human_units():
    assert section(render_status(STATUS), "Lag per source") == [
        "  source      count      p50      p99      max",
        "  ERP           120    0.40s    2.10s    3.00s",
        "  SUPPLIER        8   30.00s       6m      15m",
    ]


def test_sections_come_in_a_fixed_order():
    lines = render_status(STATUS).splitlines()
    titles = [
        "Open shortages by severity",
        "Open triggers by type",
        "ECOs",
        "PO lines awaiting confirmation",
        "Open exceptions",
        "Lag per source",
    ]
    assert [lines.index(title) for title in titles] == sorted(lines.index(title) for title in titles)


def test_an_empty_document_still_renders_every_section():
    text = render_status({})
    assert text.splitlines()[0] == "mfgsync: NOT READY"
    assert section(text, "Open triggers by type") == ["  none"]
    assert section(text, "Open exceptions") == ["  none"]
    assert section(text, "Lag per source") == ["  none"]
    assert section(text, "Open shortages by severity")[0] == "  CRITICAL       0"


def test_many_exceptions_are_capped_with_a_count_of_the_rest():
    status = {"exceptions_open": [{"type": "LATE_EVENT", "key": f"K{i}", "age_s": i} for i in range(25)]}
    lines = section(render_status(status), "Open exceptions")
    assert len(lines) == 21 and lines[-1] == "  ... and 5 more"
    assert lines[0].split() == ["LATE_EVENT", "K24", "24s"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59.9, "59s"), (60, "1m"), (185, "3m"), (3599, "59m"), (7300, "2h"), (86400 * 4 + 5, "4d")],
)
def test_ages_use_their_largest_whole_unit(seconds, text):
    assert format_age(seconds) == text


def test_fetch_status_reads_the_document_from_a_status_server():
    with StatusServer(
        "127.0.0.1", 0, CollectorRegistry(), ready=lambda: True, status=lambda: STATUS
    ) as server:
        assert fetch_status(server.url) == STATUS
        assert fetch_status(f"{server.url}/status") == STATUS


def test_fetch_status_from_nowhere_raises_a_readable_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StatusUnavailableError, match=f"could not read the status from {url}/status"):
        fetch_status(url, timeout_s=2)
