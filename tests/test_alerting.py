"""Alert delivery (SPEC 7) against a real Alertmanager and real local webhook receivers.

The rule deciding which signals fire or end is `operators.alerts` (tests/test_alert_rule.py);
here each test says the change it submits: ``submit(signal)`` fires, ``firing=False`` ends.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from mfgsync.connectors.alert_dispatch import AlertChange, AlertDispatcher
from mfgsync.connectors.alertmanager import AlertmanagerChannel
from mfgsync.connectors.webhook import ALERT_STATUS_HEADER, SIGNATURE_HEADER, WebhookChannel, verify_signature
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


class Rejected:
    """Collects on_rejected reports (called from the channels' threads)."""

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
    """An in-process channel: the batches the dispatcher hands over, in order."""

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.batches: list[list[AlertChange]] = []

    @property
    def delivered(self) -> list[AlertChange]:
        return [change for batch in self.batches for change in batch]

    def deliver(self, changes) -> None:
        self.batches.append(list(changes))

    def maintain(self) -> None:
        pass

    def resync(self) -> None:
        pass


# --- Alertmanager --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alertmanager_url(tmp_path_factory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield start_service(stack, "alertmanager", alertmanager(tmp_path_factory.mktemp("am")))


def active_shortages(base: str) -> dict[tuple[str, str], dict]:
    """Active MaterialShortage alerts by (plant, item); fails on two alerts for one shortage."""
    alerts = [
        a
        for a in get_json(f"{base}/api/v2/alerts?active=true")
        if a["labels"]["alertname"] == "MaterialShortage"
    ]
    by_shortage = {(a["labels"]["plant"], a["labels"]["item"]): a for a in alerts}
    assert len(by_shortage) == len(alerts), "two active alerts for one shortage"
    return by_shortage


def material_shortages(base: str, item: str, query: str = "") -> list[dict]:
    alerts = get_json(f"{base}/api/v2/alerts{query}")
    return [
        a for a in alerts if a["labels"]["alertname"] == "MaterialShortage" and a["labels"]["item"] == item
    ]


@pytest.mark.services
def test_a_firing_shortage_becomes_a_material_shortage_alert_and_its_end_resolves_it(alertmanager_url):
    registry = CollectorRegistry()
    channel = AlertmanagerChannel(alertmanager_url)
    with AlertDispatcher([channel], registry=registry) as dispatcher:
        before = datetime.now(UTC)
        dispatcher.submit(shortage("GEAR-1", severity="HIGH"))

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

        # The end carries endsAt=now. Alertmanager 0.25 does not list resolved alerts at all:
        # the alert disappears from /api/v2/alerts, with or without ?active=true.
        dispatcher.submit(shortage("GEAR-1", state="RESOLVED", shortage_qty=0), firing=False)
        assert wait_for(lambda: not material_shortages(alertmanager_url, "GEAR-1", "?active=true"))
        assert material_shortages(alertmanager_url, "GEAR-1") == []
        assert channel.active_alerts == 0
    assert dispatcher.sent == {"alertmanager": 2}
    assert registry.get_sample_value("mfgsync_alerts_sent_total", {"channel": "alertmanager"}) == 2
    assert registry.get_sample_value("mfgsync_alert_channel_up", {"channel": "alertmanager"}) == 1


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

        dispatcher.submit(shortage("SHAFT-2", severity="CRITICAL", state="RESOLVED"), firing=False)
        assert wait_for(lambda: not material_shortages(alertmanager_url, "SHAFT-2"))


@pytest.mark.services
def test_an_end_below_the_threshold_ends_the_alert_under_the_labels_it_fired_with(alertmanager_url):
    channel = AlertmanagerChannel(alertmanager_url)
    with AlertDispatcher([channel], registry=CollectorRegistry()) as dispatcher:
        dispatcher.submit(shortage("ROTOR-5", severity="CRITICAL"))
        assert wait_for(lambda: material_shortages(alertmanager_url, "ROTOR-5"))
        dispatcher.submit(
            shortage("ROTOR-5", severity="HIGH", state="UPDATED", shortage_qty=10), firing=False
        )
        assert wait_for(lambda: not material_shortages(alertmanager_url, "ROTOR-5"))
        assert wait_for(lambda: channel.active_alerts == 0)

        dispatcher.submit(shortage("ROTOR-5", severity="CRITICAL", state="UPDATED", shortage_qty=70))
        [alert] = wait_for(lambda: material_shortages(alertmanager_url, "ROTOR-5"))
        assert alert["labels"]["severity"] == "CRITICAL"
        assert alert["annotations"]["shortage_qty"] == "70"
    assert dispatcher.sent == {"alertmanager": 3}


@pytest.mark.services
def test_open_alerts_are_resent_and_ended_ones_never_again(alertmanager_url):
    # Alertmanager gives an alert without endsAt endsAt = last update + resolve_timeout (5 min);
    # each re-send moves updatedAt and endsAt forward.
    channel = AlertmanagerChannel(alertmanager_url, resend_interval_s=0.3)
    with AlertDispatcher([channel], registry=CollectorRegistry(), maintain_interval_s=0.05) as dispatcher:
        dispatcher.submit(shortage("CASING-3", severity="CRITICAL"))
        dispatcher.submit(shortage("CASING-4", severity="CRITICAL"))
        [first] = wait_for(lambda: material_shortages(alertmanager_url, "CASING-3"))
        wait_for(lambda: material_shortages(alertmanager_url, "CASING-4"))
        dispatcher.submit(shortage("CASING-4", state="RESOLVED"), firing=False)
        wait_for(lambda: not material_shortages(alertmanager_url, "CASING-4"))

        def refreshed():
            alerts = material_shortages(alertmanager_url, "CASING-3")
            return alerts and alerts[0]["updatedAt"] > first["updatedAt"] and alerts[0]

        later = wait_for(refreshed, timeout_s=5)
        assert later, "the alert was not re-sent"
        assert later["endsAt"] > first["endsAt"]
        assert later["startsAt"] == first["startsAt"]  # still the time it was first seen
        time.sleep(1)  # several re-sends
        assert material_shortages(alertmanager_url, "CASING-4") == []  # the ended one stays ended
        assert channel.active_alerts == 1
        dispatcher.submit(shortage("CASING-3", state="RESOLVED"), firing=False)
        assert wait_for(lambda: not material_shortages(alertmanager_url, "CASING-3"))


def converging_changes(
    count: int, rounds: int
) -> tuple[list[tuple[ShortageSignal, bool]], dict[tuple[str, str], str]]:
    """``rounds`` updates of ``count`` shortages, ending some; and the severity that is open at the end."""
    changes: list[tuple[ShortageSignal, bool]] = []
    final: dict[tuple[str, str], str] = {}
    for r in range(rounds):
        for i in range(count):
            item = f"PART-{i:04d}"
            if (i + r) % 5 == 0:  # ends (resolved or fallen below the threshold)
                changes.append((shortage(item, state="RESOLVED", shortage_qty=0), False))
                final.pop(("P1", item), None)
            else:
                severity = "CRITICAL" if (i * 7 + r) % 3 == 0 else "HIGH"
                changes.append((shortage(item, severity=severity, state="UPDATED", shortage_qty=i + r), True))
                final[("P1", item)] = severity
    return changes, final


@pytest.mark.services
def test_alertmanager_converges_to_the_open_shortages_through_an_outage_and_a_restart(tmp_path, caplog):
    caplog.set_level("INFO", logger="mfgsync.connectors.alert_dispatch")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    registry = CollectorRegistry()
    posts: list[int] = []  # sizes of the batches delivered
    attempts: list[int] = []  # sizes of the batches tried, delivered or not
    channel = AlertmanagerChannel(base, resend_interval_s=3600)
    deliver = channel.deliver

    def counting(changes: list[Any]) -> Any:
        attempts.append(len(changes))
        result = deliver(changes)
        posts.append(len(changes))
        return result

    channel.deliver = counting  # type: ignore[method-assign]
    dispatcher = AlertDispatcher([channel], registry=registry, backoff_s=0.05, max_backoff_s=0.3)
    changes, final = converging_changes(count=1_200, rounds=5)
    with contextlib.closing(dispatcher):
        # Down from the start: 6,000 changes wait as one per shortage, nothing dead-lettered.
        for signal, firing in changes:
            dispatcher.submit(signal, firing=firing)
        assert wait_for(
            lambda: registry.get_sample_value("mfgsync_alert_channel_up", {"channel": "alertmanager"}) == 0
        )
        # One change waits per shortage (a batch a failed attempt holds goes back between tries).
        assert wait_for(lambda: dispatcher.waiting("alertmanager") == 1_200)
        # Coalesced while waiting; a change a failed attempt had taken was not.
        coalesced = dispatcher.coalesced["alertmanager"]
        assert 6_000 - 1_200 - sum(attempts) <= coalesced <= 6_000 - 1_200
        with alertmanager(tmp_path / "first", port=port):
            shown = wait_for(
                lambda: (got := active_shortages(base)) and len(got) == len(final) and got, timeout_s=20
            )
            assert {k: a["labels"]["severity"] for k, a in shown.items()} == final  # 0 stale, 0 missing
            assert max(posts) <= 500 and sum(posts) == 1_200  # lists of up to 500, latest state only
            # Ends of alerts Alertmanager never saw firing were not posted at all.
            assert channel.active_alerts == len(final)
        # Down again; some shortages end meanwhile. The next Alertmanager starts empty: the
        # channel re-syncs every open alert once it answers.
        for item in list(final)[:100]:
            dispatcher.submit(shortage(item[1], state="RESOLVED"), firing=False)
            del final[item]
        with alertmanager(tmp_path / "second", port=port):
            shown = wait_for(
                lambda: (got := active_shortages(base)) and len(got) == len(final) and got, timeout_s=20
            )
            assert {k: a["labels"]["severity"] for k, a in shown.items()} == final
    assert registry.get_sample_value("mfgsync_alert_channel_outages_total", {"channel": "alertmanager"}) == 2
    assert registry.get_sample_value("mfgsync_alerts_failed_total", {"channel": "alertmanager"}) == 0
    downs = [r for r in caplog.records if " is down: " in r.getMessage()]
    backs = [r for r in caplog.records if " is back after " in r.getMessage()]
    assert len(downs) == 2 and len(backs) == 2  # once per outage, with counts
    assert downs[0].waiting >= 1  # type: ignore[attr-defined]


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
        with AlertDispatcher([WebhookChannel(receiver.url)], registry=CollectorRegistry()) as dispatcher:
            for count, (signal, firing) in enumerate(
                [
                    (shortage("GEAR-1", severity="CRITICAL"), True),
                    (shortage("GEAR-1", severity="HIGH", state="UPDATED"), False),  # fell below
                    (shortage("GEAR-2", severity="CRITICAL"), True),
                    (shortage("GEAR-2", severity="CRITICAL", state="RESOLVED"), False),
                ],
                start=1,
            ):
                dispatcher.submit(signal, firing=firing)
                assert wait_for(lambda count=count: len(receiver.requests) == count)
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


def test_a_webhook_down_for_a_while_ends_with_the_latest_state_of_every_signal():
    down = threading.Event()
    down.set()
    accepted: list[tuple[dict[str, str], bytes]] = []

    def flaky(receiver, headers, body):
        if down.is_set():
            return 503
        accepted.append((headers, body))
        return 200

    changes, final = converging_changes(count=300, rounds=4)
    with Receiver(flaky) as receiver:
        registry = CollectorRegistry()
        rejected = Rejected()
        with AlertDispatcher(
            [WebhookChannel(receiver.url)],
            backoff_s=0.02,
            max_backoff_s=0.1,
            on_rejected=rejected,
            registry=registry,
        ) as dispatcher:
            for signal, firing in changes:
                dispatcher.submit(signal, firing=firing)
            assert wait_for(lambda: dispatcher.health()[0].outages == 1)
            assert dispatcher.waiting("webhook") <= 300
            down.clear()
            assert wait_for(
                lambda: dispatcher.waiting("webhook") == 0 and dispatcher.health()[0].up, timeout_s=20
            )
    latest: dict[tuple[str, str], str] = {}
    for headers, body in accepted:
        record = json.loads(body)
        key = (record["plant"], record["item"])
        if headers[ALERT_STATUS_HEADER] == "firing":
            latest[key] = record["severity"]
        else:
            latest.pop(key, None)
    assert latest == final
    assert len(accepted) <= 300  # one request per signal at most, not one per change
    assert all(h[ALERT_STATUS_HEADER] == "firing" for h, _ in accepted)  # ends of unseen alerts: not sent
    assert rejected.reports == []
    assert registry.get_sample_value("mfgsync_alert_channel_outages_total", {"channel": "webhook"}) == 1


def test_a_rejected_signature_is_reported_at_once_without_retries():
    def checking(receiver, headers, body):
        return 200 if verify_signature(body, headers.get(SIGNATURE_HEADER), SECRET) else 401

    with Receiver(checking) as receiver:
        rejected = Rejected()
        registry = CollectorRegistry()
        channel = WebhookChannel(receiver.url, secret=SecretStr("wrong"), name="ops")
        with AlertDispatcher([channel], backoff_s=0.01, on_rejected=rejected, registry=registry) as d:
            d.submit(shortage("GEAR-1"))
            assert wait_for(lambda: d.failed["ops"] == 1)
    assert len(receiver.requests) == 1
    [(signal_id, channel_name, reason)] = rejected.reports
    assert (signal_id, channel_name) == ("P1|GEAR-1", "ops")
    assert reason.startswith("rejected") and "HTTP 401" in reason
    assert registry.get_sample_value("mfgsync_alerts_failed_total", {"channel": "ops"}) == 1
    assert registry.get_sample_value("mfgsync_alert_channel_outages_total", {"channel": "ops"}) == 0


# --- never stalling the caller, never growing with the event rate ---------------------------------

N_CHANGES = 20_000


def submit_many(dispatcher: AlertDispatcher, ids: int) -> float:
    signals = [shortage(f"ITEM-{i % ids}", severity="CRITICAL", shortage_qty=i) for i in range(N_CHANGES)]
    started = time.perf_counter()
    for signal in signals:
        dispatcher.submit(signal)
    return time.perf_counter() - started


def test_a_dead_endpoint_never_slows_submit_and_waiting_changes_stay_one_per_signal():
    dead_url = f"http://127.0.0.1:{free_port()}/hooks"  # nothing listens there
    registry = CollectorRegistry()
    rejected = Rejected()
    dispatcher = AlertDispatcher(
        [WebhookChannel(dead_url, secret=SECRET)],
        backoff_s=0.01,
        max_backoff_s=0.05,
        on_rejected=rejected,
        registry=registry,
    )
    elapsed = submit_many(dispatcher, ids=500)
    assert elapsed < 1.0, f"submit of {N_CHANGES} changes took {elapsed:.2f} s"
    assert wait_for(lambda: dispatcher.health()[0].outages == 1)
    assert dispatcher.waiting("webhook") <= 500
    assert registry.get_sample_value("mfgsync_alert_queue_depth", {"channel": "webhook"}) <= 500
    [health] = dispatcher.health()
    assert not health.up and "Connection refused" in (health.last_error or "")
    dispatcher.close(timeout_s=0.2)
    sent, failed, coalesced, dropped = _accounted(dispatcher)
    assert (sent, failed) == (0, 0) and rejected.reports == []  # an outage is no rejection
    assert coalesced + dropped == N_CHANGES  # every change superseded, or counted at shutdown
    assert dropped == 500
    assert registry.get_sample_value("mfgsync_alerts_dropped_total", {"channel": "webhook"}) == 500


def test_a_slow_endpoint_never_slows_submit():
    def slow(receiver, headers, body):
        time.sleep(5)
        return 200

    with Receiver(slow) as receiver:
        dispatcher = AlertDispatcher(
            [WebhookChannel(receiver.url, timeout_s=0.3)], registry=CollectorRegistry()
        )
        elapsed = submit_many(dispatcher, ids=N_CHANGES)
        assert elapsed < 1.0, f"submit of {N_CHANGES} changes took {elapsed:.2f} s"
        assert dispatcher.waiting("webhook") >= N_CHANGES - 500  # one batch is in flight
        assert wait_for(lambda: dispatcher.health()[0].outages == 1, timeout_s=3)  # the read timed out
        dispatcher.close(timeout_s=0.1)
        # The batch in flight is counted when its request times out.
        assert wait_for(lambda: sum(_accounted(dispatcher)) == N_CHANGES, timeout_s=3)


def _accounted(dispatcher: AlertDispatcher) -> tuple[int, int, int, int]:
    return (
        sum(dispatcher.sent.values()),
        sum(dispatcher.failed.values()),
        sum(dispatcher.coalesced.values()),
        sum(dispatcher.dropped.values()),
    )


def test_waiting_changes_go_out_in_batches_latest_state_first_come():
    channel = RecordingChannel()
    gate = threading.Event()
    deliver = channel.deliver
    channel.deliver = lambda changes: (gate.wait(5), deliver(changes))[1]  # type: ignore[method-assign]
    with AlertDispatcher([channel], max_batch=100, registry=CollectorRegistry()) as dispatcher:
        dispatcher.submit(shortage("FIRST"))  # taken at once; the rest waits behind it
        time.sleep(0.1)
        for i in range(1_000):
            dispatcher.submit(shortage(f"I{i % 250}", shortage_qty=i))
        gate.set()
        assert wait_for(lambda: len(channel.delivered) == 251)
    assert [len(batch) for batch in channel.batches] == [1, 100, 100, 50]
    assert {c.signal.signal_id: c.signal.shortage_qty for c in channel.delivered[1:]} == {
        f"P1|I{i}": float(750 + i) for i in range(250)
    }


def test_close_delivers_what_waits_and_counts_what_comes_after():
    channel = RecordingChannel()
    dispatcher = AlertDispatcher([channel], registry=CollectorRegistry())
    for i in range(50):
        dispatcher.submit(shortage(f"ITEM-{i}", severity="WARNING"))
    assert dispatcher.close(timeout_s=5)
    assert len(channel.delivered) == 50 and dispatcher.sent == {"recording": 50}
    dispatcher.submit(shortage("LATE", severity="CRITICAL"))  # after close: counted, not lost silently
    assert dispatcher.dropped == {"recording": 1}


def test_misconfiguration_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="distinct"):
        AlertDispatcher([RecordingChannel("x"), RecordingChannel("x")], registry=CollectorRegistry())
    with pytest.raises(ValueError, match="max_batch"):
        AlertDispatcher([RecordingChannel()], max_batch=0, registry=CollectorRegistry())


def test_credentials_in_a_webhook_url_become_basic_auth_and_never_appear_in_errors():
    def needs_auth(receiver, headers, body):
        return 200 if headers.get("Authorization") == "Basic b3BzOnMzY3JldA==" else 401  # ops:s3cret

    with Receiver(needs_auth) as receiver:
        url = receiver.url.replace("http://", "http://ops:s3cret@")
        with AlertDispatcher([WebhookChannel(url)], registry=CollectorRegistry()) as dispatcher:
            dispatcher.submit(shortage("GEAR-1"))
            assert wait_for(lambda: dispatcher.sent["webhook"] == 1)
    dead = f"http://ops:s3cret@127.0.0.1:{free_port()}/hook"
    with AlertDispatcher([WebhookChannel(dead)], registry=CollectorRegistry()) as dispatcher:
        dispatcher.submit(shortage("GEAR-1"))
        assert wait_for(lambda: dispatcher.health()[0].outages == 1)
        [health] = dispatcher.health()
    assert "127.0.0.1" in (health.last_error or "") and "s3cret" not in (health.last_error or "")


def test_close_does_not_wait_out_an_outage():
    dispatcher = AlertDispatcher(
        [WebhookChannel(f"http://127.0.0.1:{free_port()}/hook")], backoff_s=5, registry=CollectorRegistry()
    )
    dispatcher.submit(shortage("GEAR-1"))
    assert wait_for(lambda: dispatcher.health()[0].outages == 1)
    started = time.monotonic()
    assert dispatcher.close(timeout_s=30)
    assert time.monotonic() - started < 2
    assert dispatcher.dropped == {"webhook": 1}
