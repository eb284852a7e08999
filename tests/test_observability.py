"""The running service seen from outside (SPEC 7): a real Prometheus scrapes it, a real
Alertmanager receives its shortage alerts, a dead webhook does not slow it down.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from mfgsync.flows.scenario import scenario_events
from tests.kafka_harness import TODAY, Service, write_lines
from tests.services import alertmanager, free_port, prometheus, require_service, start_service

pytestmark = [pytest.mark.kafka, pytest.mark.services]


def get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(what: str, check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            last = check()
            if last:
                return last
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what} (last: {last!r})")


@contextlib.contextmanager
def running(service: Service) -> Iterator[subprocess.Popen[bytes]]:
    proc = service.start()
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_prometheus_scrapes_events_lag_and_open_shortages(kafka, tmp_path):
    port = free_port()
    service = Service(kafka, "json", None, metrics_port=str(port))
    service.setup(write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY)))
    with contextlib.ExitStack() as stack:
        prom = start_service(stack, "prometheus", prometheus(tmp_path, f"127.0.0.1:{port}"))
        stack.enter_context(running(service))
        base = f"http://127.0.0.1:{port}"
        wait_for("/readyz", lambda: get(f"{base}/readyz")[0] == 200)

        def status_with_both_plants_planned() -> dict[str, Any] | None:
            # Plants are planned in separate passes: wait for both rather than the first.
            document = json.loads(get(f"{base}/status")[1])
            plants = {e["plant"] for e in document["ecos"] if e["eco"] == "ECO-4711"}
            return document if plants >= {"DE01", "US01"} else None

        status = wait_for("status with ECO-4711 at both plants", status_with_both_plants_planned)
        assert {e["plant"] for e in status["ecos"] if e["eco"] == "ECO-4711"} == {"DE01", "US01"}
        assert all(e["propagated"] for e in status["ecos"])
        assert status["shortages_open"]["CRITICAL"] > 0
        assert status["events"]["dead_lettered"] == 0  # `produce` skipped the two bad lines

        def query(expr: str) -> list[dict[str, Any]]:
            url = f"{prom}/api/v1/query?query={urllib.request.quote(expr)}"
            body = json.loads(get(url)[1])
            assert body["status"] == "success"
            return body["data"]["result"]

        def settled() -> dict[str, Any] | None:
            # Prometheus has scraped what /status says (both move until the input is read).
            document = json.loads(get(f"{base}/status")[1])
            scraped = query('sum(mfgsync_events_total{outcome="applied"})')
            if scraped and float(scraped[0]["value"][1]) == document["events"]["applied"]:
                return document
            return None

        status = wait_for("Prometheus to show the applied events", settled)
        assert wait_for("lag histogram", lambda: query("sum by (source) (mfgsync_event_lag_seconds_count)"))
        critical = wait_for(
            "open CRITICAL shortages", lambda: query('sum(mfgsync_shortages_open{severity="CRITICAL"})')
        )
        assert float(critical[0]["value"][1]) == status["shortages_open"]["CRITICAL"]
        assert query("sum(mfgsync_po_lines_awaiting_confirmation)")
        exposition = get(f"{base}/metrics")[1]
    promtool = shutil.which("promtool")
    if promtool is None:
        require_service("promtool", FileNotFoundError("promtool not on PATH"))
    check = subprocess.run([promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def _alerts(base: str) -> list[dict[str, Any]]:
    return [
        a
        for a in json.loads(get(f"{base}/api/v2/alerts")[1])
        if a["labels"].get("alertname") == "MaterialShortage"
    ]


def _labels(alerts: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(a["labels"]["plant"], a["labels"]["item"]) for a in alerts}


def test_critical_shortages_reach_alertmanager_and_resolve_there(kafka, tmp_path):
    events = scenario_events(TODAY)
    with contextlib.ExitStack() as stack:
        am = start_service(stack, "alertmanager", alertmanager(tmp_path))
        service = Service(kafka, "json", None, alertmanager_url=am, alert_min_severity="CRITICAL")
        service.setup(write_lines(tmp_path / "scenario.jsonl", events))
        stack.enter_context(running(service))
        expected = {("DE01", "WIND-NEW"), ("US01", "WIND-NEW"), ("US01", "PUMP-100")}
        alerts = wait_for("MaterialShortage alerts", lambda: expected <= _labels(_alerts(am)) and _alerts(am))
        assert {a["labels"]["severity"] for a in alerts} == {"CRITICAL"}
        new_winding = next(a for a in alerts if a["labels"]["item"] == "WIND-NEW")
        assert "ECO-4711" in new_winding["annotations"]["eco"]
        # A big receipt of pumps at US01 resolves that plant's pump shortage.
        pump_moves = [e for e in events if e["type"] == "InventoryMovement" and e["item"] == "PUMP-100"]
        seq = 1 + max(e["source_seq"] for e in pump_moves if e["plant"] == "US01")
        receipt = {
            "type": "InventoryMovement",
            "event_id": "fix-pumps",
            "source": "WMS",
            "source_seq": seq,
            "event_time": datetime.now(UTC).isoformat(),
            "plant": "US01",
            "item": "PUMP-100",
            "movement_type": "RECEIPT",
            "qty": 1000,
            "uom": "EA",
        }
        service.cli("produce", "--input", str(write_lines(tmp_path / "fix.jsonl", [receipt])))
        wait_for(
            "the pump alert to resolve",
            lambda: all(
                (a["labels"]["plant"], a["labels"]["item"]) != ("US01", "PUMP-100") for a in _alerts(am)
            ),
        )
        assert any(a["labels"]["item"] == "WIND-NEW" for a in _alerts(am))


def test_a_dead_webhook_is_counted_and_does_not_slow_the_flow(kafka, tmp_path):
    source = write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY))
    quiet = Service(kafka, "json", None)
    quiet.setup(source)
    started = time.monotonic()
    quiet.run_to_end()
    quiet_s = time.monotonic() - started

    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    noisy = Service(
        kafka,
        "json",
        None,
        webhook_url=dead,
        webhook_secret="s3cret",
        alert_min_severity="WARNING",
        metrics_port=str(port),
    )
    noisy.setup(source)
    started = time.monotonic()
    noisy.run_to_end()
    noisy_s = time.monotonic() - started
    assert noisy_s < 2 * quiet_s + 5, (quiet_s, noisy_s)
    for topic in ("procurement.triggers", "signals.shortages"):
        assert noisy.live(topic) == quiet.live(topic)
    # An outage is not a property of each signal: no dead letter per undelivered alert.
    assert [d for d in noisy.changelog("sync.dlq").values() if d["error"].startswith("ALERT")] == []


def test_mfgsync_status_summarises_the_running_service(kafka, tmp_path):
    port = free_port()
    service = Service(kafka, "json", None, metrics_port=str(port))
    service.setup(write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY)))
    with running(service):
        base = f"http://127.0.0.1:{port}"
        wait_for("ECOs in /status", lambda: json.loads(get(f"{base}/status")[1])["ecos"])
        shown = service.cli("status", "--url", base)
    assert shown.returncode == 0, shown.stderr
    assert "ECO-4711" in shown.stdout
    assert "CRITICAL" in shown.stdout
    missing = service.cli("status", "--url", f"http://127.0.0.1:{free_port()}")
    assert missing.returncode == 2
