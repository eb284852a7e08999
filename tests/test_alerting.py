"""Alerting channels (SPEC 7) against a real Alertmanager and real local webhook receivers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from mfgsync.connectors.alerting import (
    ALERT_STATUS_HEADER,
    SIGNATURE_HEADER,
    AlertDispatcher,
    AlertmanagerChannel,
    WebhookChannel,
    verify_signature,
)
from mfgsync.schemas.outputs import ShortageSignal
from tests.services import alertmanager, free_port, start_service

SECRET = SecretStr("s3cret-for-tests")


def shortage(item: str, severity: str = "HIGH", state: str = "RAISED", **fields) -> ShortageSignal:
    values = {
        "signal_id": f"P1|{item}",
        "state": state,
        "plant": "P1",
        "item": item,
        "shortage_date": date(2026, 3, 9),
        "shortage_qty": 40.0,
        "severity": severity,
        "impacted_orders": ("MO-100", "SO-7"),
        "cause_event_ids": ("ERP-1",),
        "correlation_ids": ("ECO-42",),
    }
    return ShortageSignal(**(values | fields))


def wait_for(predicate: Callable[[], object], timeout_s: float = 10.0, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


# --- a real local webhook receiver -------------------------------------------------------------


class Receiver:
    """A stdlib HTTP server on 127.0.0.1 recording every POST; ``respond`` picks the answer."""

    def __init__(self, respond: Callable[[Receiver, dict[str, str], bytes], int] = lambda *_: 200) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.respond = respond
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                receiver.requests.append((headers, body))
                code = receiver.respond(receiver, headers, body)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/shortage"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Undeliverable:
    """Collects on_undeliverable reports (called from several threads)."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()

    def __call__(self, signal: ShortageSignal, channel: str, reason: str) -> None:
        with self._lock:
            self.reports.append((signal.signal_id, channel, reason))

    def reasons(self, prefix: str) -> list[str]:
        with self._lock:
            return [reason for _, _, reason in self.reports if reason.startswith(prefix)]


class RecordingChannel:
    """An in-process channel: what the dispatcher hands over, in order."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.delivered: list[ShortageSignal] = []
        self.firing: list[bool] = []

    def deliver(self, signal: ShortageSignal, *, firing: bool = True) -> None:
        self.delivered.append(signal)
        self.firing.append(firing)

    def maintain(self) -> None:
        pass


# --- Alertmanager --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager_url(tmp_path_factory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield start_service(stack, "alertmanager", alertmanager(tmp_path_factory.mktemp("am")))


def material_shortages(base: str, item: str, query: str = "") -> list[dict]:
    alerts = get_json(f"{base}/api/v2/alerts{query}")
    return [
        a for a in alerts if a["labels"]["alertname"] == "MaterialShortage" and a["labels"]["item"] == item
    ]


@pytest.mark.services
def test_shortage_at_or_above_min_severity_becomes_a_material_shortage_alert_and_resolves(alertmanager_url):
    registry = CollectorRegistry()
    channel = AlertmanagerChannel(alertmanager_url)
    with AlertDispatcher([channel], min_severity="HIGH", registry=registry) as dispatcher:
        assert dispatcher.submit(shortage("BOLT-8", severity="WARNING")) is False  # below HIGH
        before = datetime.now(UTC)
        assert dispatcher.submit(shortage("GEAR-1", severity="HIGH")) is True

        [alert] = wait_for(lambda: material_shortages(alertmanager_url, "GEAR-1"))
        assert alert["labels"] == {
            "alertname": "MaterialShortage",
            "item": "GEAR-1",
            "plant": "P1",
            "severity": "HIGH",
        }
        assert alert["annotations"] == {
            "shortage_date": "2026-03-09",
            "shortage_qty": "40",
            "impacted_orders": "MO-100,SO-7",
            "eco": "ECO-42",
            "summary": "HIGH shortage of GEAR-1 at plant P1: 40 short on 2026-03-09, 2 impacted orders",
        }
        assert alert["status"]["state"] == "active"
        started = datetime.fromisoformat(alert["startsAt"].replace("Z", "+00:00"))
        assert abs((started - before).total_seconds()) < 5
        assert material_shortages(alertmanager_url, "BOLT-8") == []

        # A RESOLVED record carries endsAt=now. Alertmanager 0.25 does not list resolved alerts
        # at all: the alert disappears from /api/v2/alerts, with or without ?active=true.
        assert (
            dispatcher.submit(shortage("GEAR-1", severity="HIGH", state="RESOLVED", shortage_qty=0)) is True
        )
        assert wait_for(lambda: not material_shortages(alertmanager_url, "GEAR-1", "?active=true"))
        assert material_shortages(alertmanager_url, "GEAR-1") == []
        assert channel.active_alerts == 0
    assert dispatcher.sent == {"alertmanager": 2}
    assert registry.get_sample_value("mfgsync_alerts_sent_total", {"channel": "alertmanager"}) == 2


@pytest.mark.services
def test_a_changed_severity_replaces_the_alert_instead_of_adding_one(alertmanager_url):
    channel = AlertmanagerChannel(alertmanager_url)
    with AlertDispatcher([channel], registry=CollectorRegistry()) as dispatcher:
        dispatcher.submit(shortage("SHAFT-2", severity="HIGH"))
        wait_for(lambda: material_shortages(alertmanager_url, "SHAFT-2"))
        dispatcher.submit(shortage("SHAFT-2", severity="CRITICAL", state="UPDATED", shortage_qty=90))

        def only_critical():
            alerts = material_shortages(alertmanager_url, "SHAFT-2", "?active=true")
            return [a["labels"]["severity"] for a in alerts] == ["CRITICAL"] and alerts

        [alert] = wait_for(only_critical)
        assert alert["annotations"]["shortage_qty"] == "90"

        dispatcher.submit(shortage("SHAFT-2", severity="CRITICAL", state="RESOLVED", shortage_qty=0))
        assert wait_for(lambda: not material_shortages(alertmanager_url, "SHAFT-2"))


@pytest.mark.services
def test_a_signal_falling_below_the_threshold_ends_its_alert_without_a_lower_one(alertmanager_url):
    channel = AlertmanagerChannel(alertmanager_url)
    with AlertDispatcher([channel], min_severity="CRITICAL", registry=CollectorRegistry()) as dispatcher:
        dispatcher.submit(shortage("ROTOR-5", severity="CRITICAL"))
        assert wait_for(lambda: material_shortages(alertmanager_url, "ROTOR-5"))
        dispatcher.submit(shortage("ROTOR-5", severity="HIGH", state="UPDATED", shortage_qty=10))
        assert wait_for(lambda: not material_shortages(alertmanager_url, "ROTOR-5"))
        assert wait_for(lambda: channel.active_alerts == 0)

        dispatcher.submit(shortage("ROTOR-5", severity="CRITICAL", state="UPDATED", shortage_qty=70))
        [alert] = wait_for(lambda: material_shortages(alertmanager_url, "ROTOR-5"))
        assert alert["labels"]["severity"] == "CRITICAL"
        assert alert["annotations"]["shortage_qty"] == "70"
    assert dispatcher.sent == {"alertmanager": 3}


@pytest.mark.services
def test_active_alerts_are_resent_so_alertmanager_does_not_time_them_out(alertmanager_url):
    # Alertmanager gives an alert without endsAt endsAt = last update + resolve_timeout (5 min);
    # each re-send moves updatedAt and endsAt forward.
    channel = AlertmanagerChannel(alertmanager_url, resend_interval_s=0.3)
    with AlertDispatcher([channel], registry=CollectorRegistry(), maintain_interval_s=0.05) as dispatcher:
        dispatcher.submit(shortage("CASING-3", severity="CRITICAL"))
        [first] = wait_for(lambda: material_shortages(alertmanager_url, "CASING-3"))

        def refreshed():
            alerts = material_shortages(alertmanager_url, "CASING-3")
            return alerts and alerts[0]["updatedAt"] > first["updatedAt"] and alerts[0]

        later = wait_for(refreshed, timeout_s=5)
        assert later, "the alert was not re-sent"
        assert later["endsAt"] > first["endsAt"]
        assert later["startsAt"] == first["startsAt"]  # still the time it was first seen

        dispatcher.submit(shortage("CASING-3", severity="CRITICAL", state="RESOLVED", shortage_qty=0))
        assert wait_for(lambda: not material_shortages(alertmanager_url, "CASING-3"))
        assert wait_for(lambda: channel.active_alerts == 0)


# --- webhooks ----------------------------------------------------------------------------------


def test_webhook_receives_signed_json_that_verify_signature_accepts():
    with Receiver() as receiver:
        channel = WebhookChannel(receiver.url, secret=SECRET)
        signal = shortage("GEAR-1", severity="CRITICAL")
        with AlertDispatcher([channel], registry=CollectorRegistry()) as dispatcher:
            dispatcher.submit(signal)
            assert wait_for(lambda: receiver.requests)
    [(headers, body)] = receiver.requests
    assert headers["Content-Type"] == "application/json"
    assert headers[ALERT_STATUS_HEADER] == "firing"
    assert json.loads(body) == signal.model_dump(mode="json")
    assert ShortageSignal.model_validate_json(body) == signal
    signature = headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=")
    assert verify_signature(body, signature, SECRET)
    assert verify_signature(body, signature, "s3cret-for-tests")  # plain str secrets work too
    assert not verify_signature(
        body.replace(b'"shortage_qty":40.0', b'"shortage_qty":4.0'), signature, SECRET
    )
    assert not verify_signature(body + b" ", signature, SECRET)
    assert not verify_signature(body, signature, SecretStr("another secret"))
    assert not verify_signature(body, None, SECRET)
    assert not verify_signature(body, "sha256=" + "0" * 64, SECRET)


def test_webhook_says_when_an_alert_ends_and_the_body_still_tells_the_truth():
    with Receiver() as receiver:
        with AlertDispatcher(
            [WebhookChannel(receiver.url)], min_severity="CRITICAL", registry=CollectorRegistry()
        ) as dispatcher:
            dispatcher.submit(shortage("GEAR-1", severity="CRITICAL"))
            dispatcher.submit(shortage("GEAR-1", severity="HIGH", state="UPDATED"))
            dispatcher.submit(shortage("GEAR-2", severity="CRITICAL"))
            dispatcher.submit(shortage("GEAR-2", severity="CRITICAL", state="RESOLVED"))
            assert wait_for(lambda: len(receiver.requests) == 4)
    bodies = [(headers, json.loads(body)) for headers, body in receiver.requests]
    got = [(h[ALERT_STATUS_HEADER], b["severity"], b["state"]) for h, b in bodies]
    assert got == [
        ("firing", "CRITICAL", "RAISED"),
        ("resolved", "HIGH", "UPDATED"),
        ("firing", "CRITICAL", "RAISED"),
        ("resolved", "CRITICAL", "RESOLVED"),
    ]


def test_webhook_without_secret_sends_no_signature():
    with Receiver() as receiver:
        with AlertDispatcher([WebhookChannel(receiver.url)], registry=CollectorRegistry()) as dispatcher:
            dispatcher.submit(shortage("GEAR-1"))
            assert wait_for(lambda: receiver.requests)
    [(headers, _)] = receiver.requests
    assert SIGNATURE_HEADER not in headers


def test_server_errors_are_retried_until_delivered():
    def flaky(receiver, headers, body):
        return 503 if len(receiver.requests) <= 2 else 200

    with Receiver(flaky) as receiver:
        undeliverable = Undeliverable()
        dispatcher = AlertDispatcher(
            [WebhookChannel(receiver.url)],
            backoff_s=0.01,
            max_attempts=5,
            on_undeliverable=undeliverable,
            registry=CollectorRegistry(),
        )
        dispatcher.submit(shortage("GEAR-1"))
        assert wait_for(lambda: dispatcher.sent["webhook"] == 1)
        dispatcher.close()
    assert len(receiver.requests) == 3
    assert dispatcher.failed == {"webhook": 0}
    assert undeliverable.reports == []


def test_a_rejected_signature_fails_at_once_without_retries():
    def checking(receiver, headers, body):
        return 200 if verify_signature(body, headers.get(SIGNATURE_HEADER), SECRET) else 401

    with Receiver(checking) as receiver:
        undeliverable = Undeliverable()
        registry = CollectorRegistry()
        channel = WebhookChannel(receiver.url, secret=SecretStr("wrong"), name="ops")
        with AlertDispatcher(
            [channel], backoff_s=0.01, on_undeliverable=undeliverable, registry=registry
        ) as d:
            d.submit(shortage("GEAR-1"))
            assert wait_for(lambda: d.failed["ops"] == 1)
    assert len(receiver.requests) == 1
    [(signal_id, channel_name, reason)] = undeliverable.reports
    assert (signal_id, channel_name) == ("P1|GEAR-1", "ops")
    assert reason.startswith("failed after 1 attempt(s)") and "HTTP 401" in reason
    assert registry.get_sample_value("mfgsync_alerts_failed_total", {"channel": "ops"}) == 1


# --- never stalling the caller -----------------------------------------------------------------

N_SIGNALS = 10_000


def submit_many(dispatcher: AlertDispatcher) -> float:
    signals = [shortage(f"ITEM-{i}", severity="CRITICAL") for i in range(N_SIGNALS)]
    started = time.perf_counter()
    for signal in signals:
        dispatcher.submit(signal)
    return time.perf_counter() - started


def test_a_dead_endpoint_never_slows_submit_and_losses_are_counted_and_reported():
    dead_url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    undeliverable = Undeliverable()
    registry = CollectorRegistry()
    dispatcher = AlertDispatcher(
        [WebhookChannel(dead_url, secret=SECRET)],
        queue_size=100,
        max_attempts=3,
        backoff_s=0.01,
        max_backoff_s=0.02,
        on_undeliverable=undeliverable,
        registry=registry,
    )
    elapsed = submit_many(dispatcher)
    assert elapsed < 1.0, f"submit of {N_SIGNALS} signals took {elapsed:.2f} s"

    assert wait_for(lambda: dispatcher.failed["webhook"] >= 3, timeout_s=5)
    dispatcher.close(timeout_s=0.2)
    assert wait_for(lambda: sum(_accounted(dispatcher)) == N_SIGNALS, timeout_s=3)

    sent, failed, dropped = _accounted(dispatcher)
    assert sent == 0
    assert dropped >= N_SIGNALS - 100 - 1  # only a queue's worth (and one in flight) got a chance
    assert sent + failed + dropped == N_SIGNALS  # every signal is accounted for exactly once
    assert len(undeliverable.reports) == failed + dropped
    assert "Connection refused" in undeliverable.reasons("failed after 3 attempt(s)")[0]
    assert undeliverable.reasons("dropped: queue full")
    assert registry.get_sample_value("mfgsync_alerts_failed_total", {"channel": "webhook"}) == failed
    assert registry.get_sample_value("mfgsync_alerts_dropped_total", {"channel": "webhook"}) == dropped


def test_a_slow_endpoint_never_slows_submit():
    def slow(receiver, headers, body):
        time.sleep(5)
        return 200

    with Receiver(slow) as receiver:
        undeliverable = Undeliverable()
        registry = CollectorRegistry()
        dispatcher = AlertDispatcher(
            [WebhookChannel(receiver.url, timeout_s=0.3)],
            queue_size=1000,
            max_attempts=1,
            on_undeliverable=undeliverable,
            registry=registry,
        )
        elapsed = submit_many(dispatcher)
        assert elapsed < 1.0, f"submit of {N_SIGNALS} signals took {elapsed:.2f} s"
        assert registry.get_sample_value("mfgsync_alert_queue_depth", {"channel": "webhook"}) >= 999
        assert dispatcher.queue_depth("webhook") >= 999

        assert wait_for(lambda: dispatcher.failed["webhook"] >= 1, timeout_s=3)  # the read timed out
        dispatcher.close(timeout_s=0.1)
        assert wait_for(lambda: sum(_accounted(dispatcher)) == N_SIGNALS, timeout_s=3)

    sent, failed, dropped = _accounted(dispatcher)
    assert sent == 0 and failed >= 1
    assert "timed out" in undeliverable.reasons("failed")[0]
    assert len(undeliverable.reasons("dropped: queue full")) >= N_SIGNALS - 1000 - 10
    assert undeliverable.reasons("dropped: dispatcher closed")  # the queued rest, at close
    assert len(undeliverable.reports) == failed + dropped == N_SIGNALS
    assert registry.get_sample_value("mfgsync_alert_queue_depth", {"channel": "webhook"}) == 0


def _accounted(dispatcher: AlertDispatcher) -> tuple[int, int, int]:
    return sum(dispatcher.sent.values()), sum(dispatcher.failed.values()), sum(dispatcher.dropped.values())


# --- the severity rule -------------------------------------------------------------------------


def test_an_alert_fires_at_or_above_the_threshold_and_ends_when_resolved_or_below_it():
    channel = RecordingChannel()
    with AlertDispatcher([channel], min_severity="HIGH", registry=CollectorRegistry()) as dispatcher:
        submitted = [  # (signal, expected: None = not for channels, True = fires, False = ends)
            (shortage("A", severity="WARNING"), None),  # below the threshold
            (shortage("A", severity="WARNING", state="RESOLVED"), None),  # never fired
            (shortage("B", severity="HIGH"), True),
            (shortage("B", severity="CRITICAL", state="UPDATED"), True),  # still firing, new severity
            (shortage("B", severity="WARNING", state="UPDATED"), False),  # below: the alert ends
            (shortage("B", severity="WARNING", state="RESOLVED"), None),  # already ended
            (shortage("B", severity="HIGH", state="UPDATED"), True),  # above again: fires anew
            (shortage("B", severity="HIGH", state="RESOLVED"), False),
            (shortage("C", severity="CRITICAL"), True),
        ]
        passed = [dispatcher.submit(signal) for signal, _ in submitted]
    assert passed == [expected is not None for _, expected in submitted]
    assert channel.delivered == [s for s, expected in submitted if expected is not None]
    assert channel.firing == [expected for _, expected in submitted if expected is not None]


def test_close_delivers_what_is_queued():
    channel = RecordingChannel()
    undeliverable = Undeliverable()
    dispatcher = AlertDispatcher(
        [channel], min_severity="WARNING", on_undeliverable=undeliverable, registry=CollectorRegistry()
    )
    for i in range(50):
        dispatcher.submit(shortage(f"ITEM-{i}", severity="WARNING"))
    assert dispatcher.close(timeout_s=5)
    assert len(channel.delivered) == 50 and dispatcher.sent == {"recording": 50}

    dispatcher.submit(shortage("LATE", severity="CRITICAL"))  # after close: reported, not lost silently
    assert dispatcher.dropped == {"recording": 1}
    assert undeliverable.reports == [("P1|LATE", "recording", "dropped: dispatcher closed")]


def test_misconfiguration_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="min_severity must be one of WARNING, HIGH, CRITICAL"):
        AlertDispatcher([RecordingChannel()], min_severity="high", registry=CollectorRegistry())
    with pytest.raises(ValueError, match="distinct"):
        AlertDispatcher([RecordingChannel("x"), RecordingChannel("x")], registry=CollectorRegistry())
