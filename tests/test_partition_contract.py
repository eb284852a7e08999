"""The producer partition contract (README, Producer partitions) as real clients keep it.

`flows/placement.kafka_partition` is the partition `mfgsync run` expects a planning key's
records in. Kafka's own console producer (the Java client's default partitioner) and
librdkafka with `partitioner=murmur2_random` (confluent-kafka, kcat) put a record keyed by a
planning key there, on a real broker.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from mfgsync.flows.placement import kafka_partition

PARTITIONS = 8
KEYS = [f"P{n:02d}" for n in range(1, 41)] + [f"P01|g{n}" for n in range(1, 9)]
KEYS += ["P01|g2.3", "Werk-Zürich", "US02", "plant with spaces"]


def kafka_libs() -> Path:
    """The jars `scripts/kafka` resolved from Maven Central for the test broker."""
    cache = Path(os.environ.get("MFGSYNC_CACHE", Path.home() / ".cache" / "mfgsync"))
    return cache / "kafka" / "libs"


def read_partitions(bootstrap: str, topic: str, count: int) -> dict[str, set[int]]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"g-{uuid.uuid4()}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    seen: dict[str, set[int]] = {}
    try:
        for _ in range(300):
            if sum(len(p) for p in seen.values()) >= count and len(seen) == len(KEYS):
                break
            message = consumer.poll(0.2)
            if message is None or message.error():
                continue
            key = message.key()
            assert key is not None
            seen.setdefault(key.decode(), set()).add(message.partition())
    finally:
        consumer.close()
    return seen


def new_topic(bootstrap: str) -> str:
    topic = f"contract-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(30)
    return topic


def test_kafkas_console_producer_puts_a_planning_key_in_the_partition_mfgsync_expects(kafka):
    topic = new_topic(kafka)
    lines = "".join(f"{key}\tvalue\n" for key in KEYS)
    done = subprocess.run(
        [
            "java",
            "-cp",
            f"{kafka_libs()}/*",
            "org.apache.kafka.tools.ConsoleProducer",
            "--bootstrap-server",
            kafka,
            "--topic",
            topic,
            "--property",
            "parse.key=true",
        ],
        input=lines.encode(),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    seen = read_partitions(kafka, topic, len(KEYS))
    assert seen == {key: {kafka_partition(key, PARTITIONS)} for key in KEYS}
    assert len({p for parts in seen.values() for p in parts}) == PARTITIONS  # the keys spread


def test_librdkafka_with_murmur2_random_puts_a_planning_key_where_java_does(kafka):
    topic = new_topic(kafka)
    producer = Producer({"bootstrap.servers": kafka, "partitioner": "murmur2_random"})
    for key in KEYS:
        producer.produce(topic, key=key.encode(), value=b"value")
    assert producer.flush(30) == 0
    seen = read_partitions(kafka, topic, len(KEYS))
    assert seen == {key: {kafka_partition(key, PARTITIONS)} for key in KEYS}
    # librdkafka's default (CRC32) does not: why the contract names the partitioner.
    default = Producer({"bootstrap.servers": kafka})
    crc_topic = new_topic(kafka)
    for key in KEYS:
        default.produce(crc_topic, key=key.encode(), value=b"value")
    assert default.flush(30) == 0
    crc = read_partitions(kafka, crc_topic, len(KEYS))
    assert crc.keys() == set(KEYS)
    assert any(crc[key] != {kafka_partition(key, PARTITIONS)} for key in KEYS)
