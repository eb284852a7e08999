"""An isolated mfgsync deployment on the shared test broker, driven like an operator would.

Each `Service` has its own topic prefix and consumer group; it runs the real `mfgsync` CLI in
subprocesses and reads outputs back with a plain confluent-kafka consumer (and, for Avro,
confluent-kafka's own deserializer against the registry), never through mfgsync's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from mfgsync.connectors.kafka import read_topic
from mfgsync.flows.replay import read_changelog, run_replay
from mfgsync.schemas.vocabulary import AVAILABILITY, SHORTAGES, TRIGGERS, is_live

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 3, 2)
COMPARED = (TRIGGERS, SHORTAGES, AVAILABILITY)


class Service:
    """One isolated mfgsync deployment (its own topic prefix) on the shared broker."""

    def __init__(self, kafka: str, value_format: str, registry: str | None, **settings: str) -> None:
        self.kafka = kafka
        self.prefix = f"t{uuid.uuid4().hex[:8]}."
        self.value_format = value_format
        self.registry = registry
        self.env = {
            **os.environ,
            "MFGSYNC_KAFKA_BOOTSTRAP": kafka,
            "MFGSYNC_TOPIC_PREFIX": self.prefix,
            "MFGSYNC_VALUE_FORMAT": value_format,
            "MFGSYNC_TODAY": TODAY.isoformat(),
            "MFGSYNC_METRICS_PORT": "0",
            "MFGSYNC_CONSUMER_GROUP": f"mfgsync-{self.prefix}",
            **({"MFGSYNC_SCHEMA_REGISTRY_URL": registry} if registry else {}),
            **{f"MFGSYNC_{k.upper()}": v for k, v in settings.items()},
        }

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mfgsync.flows.cli", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "mfgsync.flows.cli", "run", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def setup(self, events_file: Path) -> None:
        created = self.cli("topics", "create", "--partitions", "4")
        assert created.returncode == 0, created.stderr
        produced = self.cli("produce", "--input", str(events_file))
        assert "produced" in produced.stdout, produced.stderr

    def run_to_end(self, *args: str) -> None:
        result = self.cli("run", "--exit-at-end", *args)
        assert result.returncode == 0, result.stderr[-3000:]

    def changelog(self, topic: str) -> dict[bytes | None, dict[str, Any]]:
        """Latest record per key, decoded independently of mfgsync."""
        if self.value_format == "avro":
            assert self.registry is not None
            decode = AvroDeserializer(SchemaRegistryClient({"url": self.registry}))
            ctx = SerializationContext(self.prefix + topic, MessageField.VALUE)
            convert = lambda v: decode(v, ctx)  # noqa: E731
        else:
            convert = json.loads
        return {k: convert(v) for k, v in read_topic({"bootstrap.servers": self.kafka}, self.prefix + topic)}

    def live(self, topic: str) -> dict[str, dict[str, Any]]:
        return {_id(r): _comparable(r) for r in self.changelog(topic).values() if is_live(r.get("state"))}


def _id(record: dict[str, Any]) -> str:
    for field in ("trigger_id", "signal_id", "availability_id", "exception_id", "dlq_id"):
        if field in record:
            return str(record[field])
    raise KeyError(record)


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its lifecycle state, with dates as ISO text whichever decoder read it."""
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in record.items() if k != "state"}


def replay_live(events_file: Path, out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    run_replay(events_file, out, TODAY)
    return {
        topic: {
            rid: _comparable(r)
            for rid, r in read_changelog(out / f"{topic}.jsonl").items()
            if is_live(r.get("state"))
        }
        for topic in COMPARED
    }


def write_lines(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path
