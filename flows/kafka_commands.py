"""`mfgsync topics create`, `mfgsync produce` and `mfgsync run`: the Kafka side of the CLI."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from mfgsync.connectors.files import input_files
from mfgsync.connectors.jsonl import RawRecord, decode_event
from mfgsync.connectors.kafka import COMPACTED, create_topics, produce_all
from mfgsync.connectors.recovery_store import create_store, discard_abandoned_snapshots, store_ready
from mfgsync.connectors.serde import Serde
from mfgsync.flows.settings import Settings
from mfgsync.schemas.events import TOPIC_TYPES, Event
from mfgsync.schemas.outputs import OUTPUT_TYPES
from mfgsync.schemas.vocabulary import COMPACTED_TOPICS


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging() -> None:
    """Structured logs on stderr."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    logging.basicConfig(level=os.environ.get("MFGSYNC_LOG_LEVEL", "INFO"), handlers=[handler], force=True)


def main(args: argparse.Namespace) -> int:
    """Dispatch a Kafka subcommand."""
    setup_logging()
    settings = Settings()
    if args.command == "topics":
        return _topics_create(settings, args.partitions or settings.topic_partitions)
    if args.command == "produce":
        return _produce(settings, Path(args.input))
    return _run(settings, args)


def _topics_create(settings: Settings, partitions: int) -> int:
    topics = {t: {} for t in TOPIC_TYPES}
    topics.update({t: (dict(COMPACTED) if t in COMPACTED_TOPICS else {}) for t in OUTPUT_TYPES})
    named = {settings.topic(t): config for t, config in topics.items()}
    outcome = create_topics(settings.librdkafka(), named, partitions, settings.replication_factor)
    if settings.value_format == "avro":
        serde = Serde(settings)
        for topic in topics:
            record = TOPIC_TYPES.get(topic) or OUTPUT_TYPES[topic]
            serde.codec.register(settings.topic(topic), record.__name__)
    for topic, what in sorted(outcome.items()):
        kind = "compacted" if settings.canonical(topic) in COMPACTED_TOPICS else "delete"
        print(f"{what:<8} {topic} ({partitions} partitions, {kind})")
    return 0


def _events(path: Path, invalid: list[str]) -> Iterator[Event]:
    for file in input_files(path):
        with file.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                decoded = decode_event(RawRecord(str(file), -1, number, line.rstrip(b"\r\n"), is_file=True))
                if isinstance(decoded, Event):
                    yield decoded
                else:
                    invalid.append(f"{file}:{number}: {decoded.reason}")


def _produce(settings: Settings, path: Path) -> int:
    """Publish events keyed by plant and sequencing key, so each key keeps its order."""
    serde = Serde(settings)
    invalid: list[str] = []
    messages = (
        (
            settings.topic(event.TOPIC),
            f"{event.plant}|{event.sequencing_key()}".encode(),
            serde.encode(settings.topic(event.TOPIC), event),
        )
        for event in _events(path, invalid)
    )
    count = produce_all(settings.librdkafka(), messages)
    for problem in invalid[:20]:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"produced {count} events; skipped {len(invalid)} invalid lines")
    return 1 if invalid else 0


def _run(settings: Settings, args: argparse.Namespace) -> int:
    """Replace this process with bytewax's runner of `mfgsync.flows.service:flow` (recovery if set)."""
    command = [sys.executable, "-m", "bytewax.run", "mfgsync.flows.service:flow", "-w", str(args.workers)]
    if args.process_id is not None or args.addresses:
        command += ["-i", str(args.process_id or 0), "-a", args.addresses or ""]
    recovery = args.recovery_dir or settings.recovery_dir
    if recovery:
        store = Path(recovery)
        if not store_ready(store):
            create_store(store, settings.recovery_partitions)
        if not args.addresses:
            # One process holds every partition: drop what a killed execution left behind.
            discard_abandoned_snapshots(store)
        command += [
            "-r",
            str(store),
            "-s",
            str(settings.snapshot_interval_s),
            "-b",
            str(settings.backup_interval_s),
        ]
    env = dict(os.environ)
    if recovery:
        env["MFGSYNC_RECOVERY_DIR"] = str(recovery)  # the flow snapshots only with a store
    if args.process_id is not None:
        env["MFGSYNC_PROCESS_ID"] = str(args.process_id)
    if args.exit_at_end:
        env["MFGSYNC_TAIL"] = "false"
    if args.today is not None:
        env["MFGSYNC_TODAY"] = args.today.isoformat()
    if args.bucket is not None:
        env["MFGSYNC_BUCKET"] = args.bucket
    logging.getLogger("mfgsync").info(
        "starting %s",
        json.dumps({"workers": args.workers, "recovery": recovery, "tail": not args.exit_at_end}),
    )
    # Become the runner, so that signals (SIGTERM from an orchestrator) reach the dataflow.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)
