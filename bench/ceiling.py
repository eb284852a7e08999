"""Ceiling: a plain confluent-kafka consumer that reads the Avro input topics and does nothing else.

Every record is decoded (Confluent framing; `fastavro.schemaless_reader` with the writer
schema fetched once per schema id from the registry) and validated with the pydantic model of
its topic. The consumer is tuned as NOTES-bytewax.md suggests (`queued.min.messages`, large
fetches, batch `consume`). Throughput is measured from the first record to the last.

`--reader-schema` also passes the package's reader schema to fastavro, as `AvroCodec.decode`
does (schema resolution), to price that choice.

Run alone: `python -m bench.ceiling --bootstrap HOST:PORT --registry URL --prefix P --expected N`.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import time
from typing import Any

import fastavro
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench.common import emit_result
from mfgsync.schemas.avro import SchemaSet
from mfgsync.schemas.events import TOPIC_TYPES

HEADER = struct.Struct(">bI")

TUNED = {
    "queued.min.messages": "1000000",
    "queued.max.messages.kbytes": "1048576",
    "fetch.max.bytes": "104857600",
    "max.partition.fetch.bytes": "10485760",
    "fetch.wait.max.ms": "100",
}


def run(
    bootstrap: str, registry: str, prefix: str, expected: int, reader_schema: bool, timeout_s: float
) -> dict[str, Any]:
    client = SchemaRegistryClient({"url": registry})
    schemas = SchemaSet.load()
    writers: dict[int, Any] = {}
    topics = [prefix + t for t in sorted(TOPIC_TYPES)]
    model_of = {prefix + t: cls for t, cls in TOPIC_TYPES.items()}
    readers = {prefix + t: schemas.schema(cls.__name__) for t, cls in TOPIC_TYPES.items()}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-ceiling",
            "enable.auto.commit": "false",
            "enable.partition.eof": "true",
            **TUNED,
        }
    )
    metadata = consumer.list_topics(timeout=30).topics
    parts = [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in sorted(metadata[t].partitions)]
    remaining = {(tp.topic, tp.partition) for tp in parts}
    consumer.assign(parts)
    count = 0
    invalid = 0
    first: float | None = None
    deadline = time.time() + timeout_s
    reader_for = readers if reader_schema else None
    try:
        while remaining and time.time() < deadline:
            for msg in consumer.consume(10_000, 0.5):
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard((msg.topic(), msg.partition()))
                    continue
                if first is None:
                    first = time.perf_counter()
                value = msg.value()
                topic = msg.topic()
                _, schema_id = HEADER.unpack_from(value)
                writer = writers.get(schema_id)
                if writer is None:
                    writer = fastavro.parse_schema(json.loads(client.get_schema(schema_id).schema_str))
                    writers[schema_id] = writer
                data = fastavro.schemaless_reader(
                    io.BytesIO(value[5:]), writer, reader_for[topic] if reader_for else None
                )
                try:
                    model_of[topic].model_validate(data)
                except ValueError:
                    invalid += 1
                count += 1
        last = time.perf_counter()
    finally:
        consumer.close()
    elapsed = last - first if first is not None else 0.0
    return {
        "messages": count,
        "expected": expected,
        "invalid": invalid,
        "seconds": round(elapsed, 3),
        "msg_per_s": round(count / elapsed, 1) if elapsed > 0 else None,
        "reader_schema": reader_schema,
        "complete": not remaining,
        "consumer_config": TUNED,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--expected", type=int, default=0)
    parser.add_argument("--reader-schema", action="store_true")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    emit_result(
        run(args.bootstrap, args.registry, args.prefix, args.expected, args.reader_schema, args.timeout)
    )


if __name__ == "__main__":
    main()
