"""StatusServer (SPEC 7): /metrics, /healthz, /readyz and /status over real HTTP."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mfgsync.connectors.alert_dispatch import AlertDispatcher
from mfgsync.connectors.http_status import StatusServer
from mfgsync.connectors.webhook import WebhookChannel
from tests.services import free_port, prometheus, start_service
from tests.test_alert_rules import promtool


def fetch(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def mfgsync_registry() -> CollectorRegistry:
    """A registry with a few SPEC 7 metrics and the alert metrics, each with a sample."""
    registry = CollectorRegistry()
    events = Counter("mfgsync_events_total", "Events by outcome", ["topic", "outcome"], registry=registry)
    events.labels(topic="erp.inventory", outcome="applied").inc(12)
    lag = Histogram("mfgsync_event_lag_seconds", "Event lag", ["source"], registry=registry)
    lag.labels(source="ERP").observe(0.4)
    shortages = Gauge("mfgsync_shortages_open", "Open shortages", ["plant", "severity"], registry=registry)
    shortages.labels(plant="P1", severity="CRITICAL").set(2)
    return registry


def test_all_four_endpoints_answer_over_http():
    registry = mfgsync_registry()
    state = {"ready": False}
    document = {"service": {"ready": False, "uptime_s": 1.5}, "shortages_open": {"CRITICAL": 2}}
    with StatusServer(
        "127.0.0.1", 0, registry, ready=lambda: state["ready"], status=lambda: document
    ) as server:
        assert server.port != 0
        base = server.url

        assert fetch(f"{base}/healthz") == (200, "text/plain; charset=utf-8", b"ok\n")

        code, _, body = fetch(f"{base}/readyz")
        assert (code, body) == (503, b"not ready\n")
        state["ready"] = True
        code, _, body = fetch(f"{base}/readyz")
        assert (code, body) == (200, b"ready\n")
        state["ready"] = False
        assert fetch(f"{base}/readyz")[0] == 503

        code, content_type, body = fetch(f"{base}/status")
        assert (code, content_type) == (200, "application/json")
        assert json.loads(body) == document

        code, content_type, body = fetch(f"{base}/metrics")
        assert code == 200
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        text = body.decode()
        assert 'mfgsync_events_total{outcome="applied",topic="erp.inventory"} 12.0' in text
        assert 'mfgsync_shortages_open{plant="P1",severity="CRITICAL"} 2.0' in text
        assert 'mfgsync_event_lag_seconds_count{source="ERP"} 1.0' in text

        assert fetch(f"{base}/metrics?name[]=x")[0] == 200  # query strings are ignored
        assert fetch(f"{base}/nope")[0] == 404


def test_failing_callables_give_503_and_500_not_a_dead_server():
    def broken():
        raise RuntimeError("state store unavailable")

    with StatusServer("127.0.0.1", 0, CollectorRegistry(), ready=broken, status=broken) as server:
        assert fetch(f"{server.url}/readyz")[0] == 503
        code, _, body = fetch(f"{server.url}/status")
        assert code == 500
        assert json.loads(body) == {"error": "RuntimeError: state store unavailable"}
        assert fetch(f"{server.url}/healthz")[0] == 200


def test_a_fixed_port_is_used_and_released_on_stop():
    port = free_port()
    server = StatusServer("127.0.0.1", port, CollectorRegistry(), ready=lambda: True, status=dict).start()
    try:
        assert server.port == port
        assert fetch(f"http://127.0.0.1:{port}/healthz")[0] == 200
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
    # The port is free again: a new server can take it.
    with StatusServer("127.0.0.1", port, CollectorRegistry(), ready=lambda: True, status=dict) as again:
        assert fetch(f"{again.url}/healthz")[0] == 200


def test_promtool_accepts_the_metrics_exposition():
    registry = mfgsync_registry()
    with contextlib.closing(AlertDispatcher([WebhookChannel("http://127.0.0.1:9/x")], registry=registry)):
        with StatusServer("127.0.0.1", 0, registry, ready=lambda: True, status=dict) as server:
            _, _, exposition = fetch(f"{server.url}/metrics")
    assert b"mfgsync_alert_queue_depth" in exposition
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert result.stdout.strip() == b"" and result.stderr.strip() == b"", "promtool reported lint problems"


@pytest.mark.services
def test_a_real_prometheus_scrapes_the_metrics_endpoint(tmp_path):
    registry = mfgsync_registry()
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(StatusServer("127.0.0.1", 0, registry, ready=lambda: True, status=dict))
        base = start_service(stack, "prometheus", prometheus(tmp_path, target=f"127.0.0.1:{server.port}"))
        query = "sum(mfgsync_shortages_open{severity='CRITICAL'})"
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query})
        deadline = time.monotonic() + 30  # the scrape config takes effect about 5 s after start
        while True:
            result = json.loads(fetch(url)[2])["data"]["result"]
            if result or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert [sample["value"][1] for sample in result] == ["2"]
