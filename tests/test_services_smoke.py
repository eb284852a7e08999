"""Smoke tests: each local service really starts and does its job (see tests/services.py)."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from tests.services import alertmanager, kafka_broker, prometheus, require_service, start_service


def _get_json(url: str) -> dict | list:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.load(resp)


def _post_json(url: str, body: object) -> int:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.status


def _confluent_kafka():
    try:
        import confluent_kafka
        from confluent_kafka import admin
    except ImportError as exc:
        require_service("confluent_kafka", exc)
    return confluent_kafka, admin


@pytest.mark.kafka
def test_kafka_roundtrip(tmp_path):
    ck, admin = _confluent_kafka()
    with contextlib.ExitStack() as stack:
        bootstrap = start_service(stack, "kafka", kafka_broker(tmp_path))
        topic = f"smoke-{uuid.uuid4().hex[:8]}"

        client = admin.AdminClient({"bootstrap.servers": bootstrap})
        futures = client.create_topics([admin.NewTopic(topic, num_partitions=1, replication_factor=1)])
        futures[topic].result(timeout=30)
        assert topic in client.list_topics(timeout=10).topics

        producer = ck.Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        sent = [f"message-{i}".encode() for i in range(10)]
        for i, value in enumerate(sent):
            producer.produce(topic, key=str(i).encode(), value=value)
        assert producer.flush(30) == 0, "messages left undelivered"

        consumer = ck.Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"smoke-{uuid.uuid4().hex[:8]}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        received: list[bytes] = []
        try:
            consumer.subscribe([topic])
            deadline = time.monotonic() + 30
            while len(received) < len(sent) and time.monotonic() < deadline:
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                assert msg.error() is None, msg.error()
                received.append(msg.value())
        finally:
            consumer.close()
        assert received == sent


@pytest.mark.services
def test_prometheus_scrapes_and_answers_queries(tmp_path):
    with contextlib.ExitStack() as stack:
        base = start_service(stack, "prometheus", prometheus(tmp_path))  # scrapes itself
        url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": "up"})
        # Prometheus applies the scrape config after about 5 s; the first sample follows.
        deadline = time.monotonic() + 30
        while True:
            body = _get_json(url)
            assert body["status"] == "success"
            if body["data"]["result"] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        [sample] = body["data"]["result"]
        assert sample["metric"]["job"] == "mfgsync"
        assert sample["metric"]["instance"] == base.removeprefix("http://")
        assert sample["value"][1] == "1"


@pytest.mark.services
def test_alertmanager_accepts_and_lists_alerts(tmp_path):
    with contextlib.ExitStack() as stack:
        base = start_service(stack, "alertmanager", alertmanager(tmp_path))
        labels = {"alertname": "MfgsyncSmoke", "severity": "warning", "line": "L1"}
        alert_in = {"labels": labels, "annotations": {"summary": "smoke"}}
        assert _post_json(f"{base}/api/v2/alerts", [alert_in]) == 200

        deadline = time.monotonic() + 10
        while True:
            alerts = _get_json(f"{base}/api/v2/alerts")
            if alerts or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        [alert] = alerts
        assert alert["labels"] == labels
        assert alert["annotations"] == {"summary": "smoke"}
        assert alert["status"]["state"] == "active"
        assert [r["name"] for r in alert["receivers"]] == ["default"]
