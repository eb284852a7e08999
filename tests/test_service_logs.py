"""What the running dataflow says on stderr (issue 10, item 2): one JSON object per line from the
process that does the work, start to stop, secrets masked, librdkafka included and rate-limited,
an alert outage logged once with counts and no dead letter per signal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter

import pytest

from mfgsync.flows.scenario import scenario_events
from tests.kafka_harness import ROOT, TODAY, Service, write_lines
from tests.services import free_port

pytestmark = [pytest.mark.kafka]


def run_logged(service: Service) -> tuple[list[dict], float]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mfgsync.flows.cli", "run", "--exit-at-end"],
        cwd=ROOT,
        env=service.env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    return [json.loads(line) for line in lines], time.monotonic() - started  # every line is JSON


def test_the_dataflow_logs_json_lines_from_start_to_stop_without_secrets(kafka, tmp_path):
    dead = free_port()
    service = Service(
        kafka,
        "json",
        None,
        # A second bootstrap address that refuses: librdkafka complains about it all run long.
        kafka_bootstrap=f"{kafka},127.0.0.1:{dead}",
        log_progress_s="1",
        kafka_config='{"ssl.key.password": "hunter2-kafka"}',
        webhook_url=f"http://ops:hunter2-url@127.0.0.1:{dead}/hook",
        webhook_secret="hunter2-hmac",
        alertmanager_url=f"http://127.0.0.1:{dead}",
        alert_min_severity="WARNING",
        alert_drain_s="1",
    )
    service.setup(write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY)))
    entries, _ = run_logged(service)
    text = json.dumps(entries)
    assert "hunter2" not in text

    events = [e.get("event") for e in entries if e["logger"] == "mfgsync.service"]
    assert events[0] == "start" and events[-1] == "stop"
    assert "partitions" in events and "progress" in events
    [start] = [e for e in entries if e.get("event") == "start"]
    assert start["config"]["kafka_config"] == {"ssl.key.password": "**********"}
    assert start["config"]["webhook_secret"] == "**********"
    assert start["config"]["webhook_url"] == f"http://***@127.0.0.1:{dead}/hook"
    [partitions] = [e for e in entries if e.get("event") == "partitions"]
    assert sorted(partitions["assigned"]) == sorted(
        service.prefix + t for t in start["config"]["input_topics"]
    )
    progress = [e for e in entries if e.get("event") == "progress"]
    assert {"read", "rate_per_s", "lag_messages", "outputs", "dead_letters", "alerts"} <= set(progress[-1])
    [stop] = [e for e in entries if e.get("event") == "stop"]
    assert stop["read"] == 68 and stop["outputs"]["signals.shortages"] > 0

    # librdkafka: through the same JSON logger, at most one line per facility every 10 s.
    kafka_lines = [e for e in entries if e["logger"] == "mfgsync.librdkafka"]
    assert kafka_lines, "librdkafka said nothing about the refusing bootstrap address"
    uptime_s = stop["uptime_s"] + 5
    for facility, count in Counter(e["facility"] for e in kafka_lines).items():
        assert count <= uptime_s / 10 + 1, (facility, count)

    # Each channel's outage: one warning when it starts, one line at shutdown with the count.
    alert_lines = [e for e in entries if e["logger"] == "mfgsync.connectors.alert_dispatch"]
    downs = Counter(e["channel"] for e in alert_lines if " is down: " in e["message"])
    assert downs == {"alertmanager": 1, "webhook": 1}
    assert all(e["waiting"] > 0 for e in alert_lines if " is down: " in e["message"])
    undelivered = [e for e in alert_lines if "not delivered at shutdown" in e["message"]]
    assert {e["channel"] for e in undelivered} == {"alertmanager", "webhook"}
    assert all(e["undelivered"] > 0 for e in undelivered)
    assert [d for d in service.changelog("sync.dlq").values() if d["error"].startswith("ALERT")] == []
