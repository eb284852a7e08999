"""The service against a real Kafka broker (SPEC 2, 6 and 8).

Each test works under its own topic prefix on the session broker (`tests/conftest.py`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import struct
import time
import uuid
from typing import Any

import fastavro
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import topic_stats
from bench.data import Spec, generate
from mfgsync.connectors.kafka import KafkaRawSource
from mfgsync.flows.scenario import scenario_events
from mfgsync.schemas.avro import SchemaSet
from tests.kafka_harness import COMPARED, TODAY, Service, replay_live, write_lines
from tests.services import free_port
from tests.streams import build_stream

pytestmark = pytest.mark.kafka


@pytest.mark.parametrize("value_format", ["avro", "json"])
def test_service_gives_the_same_triggers_and_shortages_as_replay(kafka, registry, tmp_path, value_format):
    source = write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY))
    service = Service(kafka, value_format, registry if value_format == "avro" else None)
    del service.env["MFGSYNC_TODAY"]  # the planning date comes from the command line here
    service.setup(source)
    service.run_to_end("--today", TODAY.isoformat())
    expected = replay_live(source, tmp_path / "replay")
    for topic in COMPARED:
        assert service.live(topic) == expected[topic], topic
    assert expected["procurement.triggers"]  # the scenario must produce triggers to compare


def _avro_body(schema_name: str, record: dict[str, Any], schema_id: int) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, SchemaSet.load().schema(schema_name), record)
    return buffer.getvalue()


def test_poison_records_each_end_in_the_dlq_and_processing_continues(kafka, registry, tmp_path):
    events = scenario_events(TODAY)
    service = Service(kafka, "avro", registry)
    service.setup(write_lines(tmp_path / "good.jsonl", events))
    movement_topic = service.prefix + "wms.inventory.movements"
    registered = SchemaRegistryClient({"url": registry}).get_latest_version(f"{movement_topic}-value")
    invalid_fields = {
        "event_id": "poison-3",
        "source": "WMS",
        "source_seq": 99,
        "event_time": 1_772_400_000_000,
        "plant": "DE01",
        "correlation_id": None,
        "item": "SCREW-M4",
        "movement_type": "ISSUE",
        "qty": -5.0,
        "uom": "EA",
        "reference": None,
    }
    poison = {
        b"garbage": b"\x13\x37 not avro at all",
        b"wrong-schema-id": b"\x00\x00\x0f\x42\x40" + b"\x02",
        b"invalid-fields": _avro_body("InventoryMovement", invalid_fields, registered.schema_id),
    }
    producer = Producer({"bootstrap.servers": kafka})
    for key, value in poison.items():
        producer.produce(movement_topic, value, key, headers=[("origin", b"test")])
    producer.flush()
    service.run_to_end()
    letters = {r["key"]: r for r in service.changelog("sync.dlq").values()}
    assert set(letters) == set(poison)
    errors = {key: letter["error"] for key, letter in letters.items()}
    assert errors == {
        b"garbage": "NOT_AVRO",
        b"wrong-schema-id": "UNKNOWN_SCHEMA_ID",
        b"invalid-fields": "VALIDATION_FAILED",
    }
    for key, letter in letters.items():
        assert letter["raw"] == poison[key]
        assert letter["topic"] == movement_topic
        assert letter["reason"]
        assert [(h["key"], h["value"]) for h in letter["headers"]] == [("origin", b"test")]
    assert "qty" in letters[b"invalid-fields"]["reason"]
    expected = replay_live(write_lines(tmp_path / "good2.jsonl", events), tmp_path / "replay")
    assert service.live("procurement.triggers") == expected["procurement.triggers"]


def test_a_service_catching_up_on_a_backlog_plans_rarely_and_ends_with_the_replays_changelogs(
    kafka, tmp_path
):
    events = [
        {"type": type(e).__name__, **e.model_dump(mode="json")}
        for e in generate(Spec(events=40_000, keys=1_000, seed=13))
    ]
    source = write_lines(tmp_path / "backlog.jsonl", events)
    # The whole input waits on the topics before each service starts: a backlog of 40,000.
    every_batch = Service(kafka, "json", None, catch_up_plan_s="0")
    held = Service(kafka, "json", None, catch_up_partition_lag="250", catch_up_plan_s="600")
    published = {}
    for name, service in (("every batch", every_batch), ("held", held)):
        service.setup(source)
        service.run_to_end()
        topic = service.prefix + "procurement.triggers"
        published[name] = topic_stats(kafka, [topic])[topic]["count"]
    expected = replay_live(source, tmp_path / "replay")
    for topic in COMPARED:
        assert held.live(topic) == expected[topic] == every_batch.live(topic), topic
    assert expected["procurement.triggers"]
    # Planning after every batch publishes each intermediate plan; held, about the final one
    # (every reader tells its lag before the first batch is routed).
    print(published)  # shown with -s
    assert published["held"] * 2 < published["every batch"], published


def test_a_partition_is_polled_again_at_once_only_while_it_delivers_full_batches(kafka):
    topic = f"t{uuid.uuid4().hex[:8]}.reads"
    admin = AdminClient({"bootstrap.servers": kafka})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": kafka})
    for n in range(150):
        producer.produce(topic, str(n).encode())
    producer.flush(30)
    lags: list[int] = []
    source = KafkaRawSource(
        {"bootstrap.servers": kafka}, [topic], batch_size=100, on_lag=lambda t, p, lag: lags.append(lag)
    )
    reader = source.build_part("in", f"{topic}#0", None)
    try:
        batches = []
        deadline = time.time() + 30
        while sum(map(len, batches)) < 150 and time.time() < deadline:
            batch = reader.next_batch()
            if batch:
                batches.append(batch)
                awake = reader.next_awake()
                if len(batch) == 100:
                    assert awake is None, "a full batch: more may wait, poll again at once"
                else:
                    assert awake is not None, "what was fetched is read: wait for more"
    finally:
        reader.close()
    assert [r.offset for b in batches for r in b] == list(range(150))
    assert lags and lags[0] == 150  # told when the reader is built, before its first batch


def test_one_and_two_processes_give_the_same_changelogs(kafka, tmp_path):
    events = [
        {"type": type(e).__name__, **e.model_dump(mode="json")} for e in build_stream(5, plants=4, noise=400)
    ]
    source = write_lines(tmp_path / "stream.jsonl", events)
    single = Service(kafka, "json", None)
    single.setup(source)
    single.run_to_end()
    double = Service(kafka, "json", None)
    double.setup(source)
    ports = [free_port(), free_port()]
    addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
    procs = [double.start("--exit-at-end", "-i", str(i), "-a", addresses) for i in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    for topic in COMPARED:
        assert double.live(topic) == single.live(topic), topic
    assert single.live("procurement.triggers")


def test_sigkill_at_random_moments_loses_no_event_and_leaves_no_conflicting_trigger(kafka, tmp_path):
    stream = build_stream(21, plants=6, items=8, noise=8_500)
    assert len(stream) >= 50_000
    events = [{"type": type(e).__name__, **e.model_dump(mode="json")} for e in stream]
    source = write_lines(tmp_path / "stream.jsonl", events)
    service = Service(kafka, "json", None, snapshot_interval_s="1", backup_interval_s="0")
    service.setup(source)
    recovery = tmp_path / "recovery"
    rng = random.Random(7)
    kills = 0
    while kills < 5:
        proc = service.start("--recovery-dir", str(recovery))
        time.sleep(rng.uniform(1.5, 4.0))
        if proc.poll() is not None:
            pytest.fail(f"the service exited by itself (code {proc.returncode}) before kill {kills + 1}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    service.run_to_end("--recovery-dir", str(recovery))
    expected = replay_live(source, tmp_path / "replay")
    for topic in COMPARED:
        assert service.live(topic) == expected[topic], topic
    assert service.changelog("sync.dlq") == {}


def _processes_with_env(entry: str) -> list[int]:
    found = []
    for proc in os.listdir("/proc"):
        if proc.isdigit():
            try:
                with open(f"/proc/{proc}/environ", "rb") as env:
                    if entry.encode() in env.read().split(b"\0"):
                        found.append(int(proc))
            except OSError:
                continue
    return found


def test_sigterm_to_mfgsync_run_stops_the_dataflow_itself(kafka, tmp_path):
    service = Service(kafka, "json", None)
    service.setup(write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY)))
    proc = service.start()
    time.sleep(3)
    assert proc.poll() is None  # a tailing service keeps running
    proc.terminate()
    assert proc.wait(timeout=30) != 0
    time.sleep(0.5)
    assert _processes_with_env(f"MFGSYNC_TOPIC_PREFIX={service.prefix}") == []


@pytest.mark.parametrize("recovery", [True, False], ids=["recovery", "no-recovery"])
def test_records_of_a_megabyte_are_dead_lettered_or_processed_and_never_stop_the_service(
    kafka, tmp_path, recovery
):
    # With recovery the sink waits for every batch's deliveries; without, it settles refusals
    # on later batches and at the end: both paths must dead-letter what the broker refuses.
    events = scenario_events(TODAY)
    big = {
        "type": "DemandChanged",
        "event_id": "big-" + "e" * 400_000,
        "source": "ERP",
        "source_seq": 1,
        "event_time": "2026-03-01T09:00:00Z",
        "plant": "DE01",
        "correlation_id": "c" * 400_000,
        "demand_id": "SO-BIG",
        "item": "SCREW-M4",
        "qty": 1_000_000,
        "due_date": "2026-03-20",
        "status": "OPEN",
    }
    # Outputs that carry the big event's ids are larger than this service's producers accept.
    service = Service(kafka, "json", None, kafka_config='{"message.max.bytes": "600000"}')
    service.setup(write_lines(tmp_path / "scenario.jsonl", events))
    garbage = b"{" + b"x" * 1_000_000
    producer = Producer({"bootstrap.servers": kafka, "message.max.bytes": "1048588"})
    producer.produce(service.prefix + "erp.demand", json.dumps(big).encode(), b"DE01|SO-BIG")
    producer.produce(service.prefix + "erp.demand", garbage, b"garbage")
    producer.flush()
    store = ["--recovery-dir", str(tmp_path / "recovery")] if recovery else []
    service.run_to_end(*store)
    service.run_to_end(*store)  # a restart does not trip over them again
    letters = {r["dlq_id"]: r for r in service.changelog("sync.dlq").values()}
    read = next(r for r in letters.values() if r["key"] == "garbage")
    assert (read["error"], read["raw_size"]) == ("INVALID_JSON", len(garbage))
    assert read["raw"] == garbage[: 64 * 1024].decode()
    assert read["raw_sha256"] == hashlib.sha256(garbage).hexdigest()
    refused = [r for r in letters.values() if r["dlq_id"].startswith("output|")]
    assert refused, sorted(letters)
    assert {r["error"] for r in refused} == {"OUTPUT_MSG_SIZE_TOO_LARGE"}
    assert all(len(r["raw"]) <= 64 * 1024 and r["raw_size"] > 600_000 for r in refused)
    live = service.live("procurement.triggers")
    assert live  # everything else was processed
