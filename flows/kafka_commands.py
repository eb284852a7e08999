"""`mfgsync topics create`, `mfgsync produce` and `mfgsync run`: the Kafka side of the CLI."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from mfgsync.connectors.files import count_lines, input_files, read_events
from mfgsync.connectors.kafka import COMPACTED, Message, create_topics, produce_all
from mfgsync.connectors.recovery_store import (
    GROUPS_FILE,
    create_store,
    discard_abandoned_snapshots,
    snapshot_steps,
    store_ready,
    stored_alignment,
    stored_groups,
)
from mfgsync.connectors.serde import Serde
from mfgsync.flows.logs import kafka_logger, setup_logging
from mfgsync.flows.placement import record_key, record_partition
from mfgsync.flows.preflight import (
    UNREACHABLE_EXIT,
    CommandError,
    check_broker,
    check_registry,
    check_topics,
    load_settings,
)
from mfgsync.flows.progress import Progress, on_terminal
from mfgsync.flows.settings import Settings
from mfgsync.schemas.events import TOPIC_TYPES
from mfgsync.schemas.outputs import OUTPUT_TYPES
from mfgsync.schemas.vocabulary import COMPACTED_TOPICS


def main(args: argparse.Namespace) -> int:
    """Dispatch a Kafka subcommand; a failure is one line on stderr and a non-zero exit."""
    setup_logging()
    try:
        settings = load_settings()
        if args.command == "topics":
            check_broker(settings)
            check_registry(settings)
            return _topics_create(settings, args.partitions or settings.topic_partitions)
        if args.command == "produce":
            metadata = check_broker(settings)
            check_registry(settings)
            partitions = {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}
            return _produce(settings, Path(args.input), partitions, quiet=args.quiet)
        metadata = check_broker(settings)
        check_registry(settings)
        inputs = [settings.topic(t) for t in settings.input_topics]
        check_topics(settings, metadata, inputs)
        run = _prepare_run(settings, args, {t: len(metadata.topics[t].partitions) for t in inputs})
    except (CommandError, KafkaException, TimeoutError, LookupError, FileNotFoundError) as exc:
        lines = exc.lines if isinstance(exc, CommandError) else [_one_line(exc)]
        for line in lines[:MAX_ERROR_LINES]:
            print(f"mfgsync: {line}", file=sys.stderr)
        return exc.exit_code if isinstance(exc, CommandError) else UNREACHABLE_EXIT
    run()  # a failure of the dataflow itself ends the command with its traceback
    return 0


MAX_ERROR_LINES = 10


def _one_line(exc: BaseException) -> str:
    error = exc.args[0] if isinstance(exc, KafkaException) and exc.args else exc
    text = error.str() if hasattr(error, "str") else str(error)
    return " ".join(text.split()) or type(exc).__name__


def _topics_create(settings: Settings, partitions: int) -> int:
    topics: dict[str, dict[str, str]] = {t: {} for t in TOPIC_TYPES}
    topics.update({t: (dict(COMPACTED) if t in COMPACTED_TOPICS else {}) for t in OUTPUT_TYPES})
    named = {settings.topic(t): config for t, config in topics.items()}
    outcome = create_topics(
        {**settings.librdkafka(), "logger": kafka_logger()},
        named,
        partitions,
        settings.replication_factor,
        timeout_s=settings.connect_timeout_s,
    )
    if settings.value_format == "avro":
        serde = Serde(settings)
        for topic in topics:
            record = TOPIC_TYPES.get(topic) or OUTPUT_TYPES[topic]
            serde.codec.register(settings.topic(topic), record.__name__)
    for topic, what in sorted(outcome.items()):
        kind = "compacted" if settings.canonical(topic) in COMPACTED_TOPICS else "delete"
        print(f"{what:<8} {topic} ({partitions} partitions, {kind})")
    return 0


def _produce(settings: Settings, path: Path, partitions: dict[str, int], *, quiet: bool = False) -> int:
    """Publish events keyed by plant and sequencing key, in their planning key's partition.

    The key keeps the entity (a compacted topic keeps every entity's latest version); the
    partition is the one Kafka's default partitioner gives the planning key (`kafka_partition`),
    so every record of a plant is in one partition number of every topic and the process that
    holds the plant reads them (README, Scaling). Each sequencing key keeps its order.
    """
    serde = Serde(settings)
    groups = settings.groups()
    invalid: list[str] = []
    files = input_files(path)
    show = on_terminal(quiet)
    progress = Progress("produce", total=count_lines(files) if show else None, unit="events", enabled=show)
    started = time.monotonic()

    def messages() -> Iterator[Message]:
        for number, event in enumerate(read_events(files, invalid), start=1):
            topic = settings.topic(event.TOPIC)
            count = partitions.get(topic)
            yield Message(
                topic,
                record_key(event),
                serde.encode(topic, event),
                record_partition(event, count, groups) if count else -1,
            )
            if number % 1000 == 0:
                progress.update(1000)

    config = {
        "message.timeout.ms": str(int(settings.connect_timeout_s * 1000)),
        **settings.librdkafka(),
        "logger": kafka_logger(),
    }
    try:
        count = produce_all(config, messages(), flush_timeout_s=settings.connect_timeout_s)
    except RuntimeError as exc:  # deliveries failed or timed out
        msg = f"{_one_line(exc)} (broker {settings.kafka_bootstrap}; check MFGSYNC_KAFKA_BOOTSTRAP)"
        raise CommandError(msg) from None
    finally:
        progress.close()
    for problem in invalid[:20]:
        print(f"skipped {problem}", file=sys.stderr)
    elapsed_s = time.monotonic() - started
    print(
        f"produced {count} events in {elapsed_s:.1f} s ({count / max(elapsed_s, 1e-9):.0f}/s); "
        f"skipped {len(invalid)} invalid lines"
    )
    return 1 if invalid else 0


PER_STEP_STATE = ("mfgsync.guard", "mfgsync.inventory", "mfgsync.planning")
"""Stateful steps of the dataflow before a plant's steps were composed into one (`mfgsync.plant`)."""


def _refuse_per_step_store(store: Path) -> None:
    """A store written by the per-step dataflow would resume the offsets without the state."""
    old = sorted(s for s in snapshot_steps(store) if s.startswith(PER_STEP_STATE))
    if old:
        msg = (
            f"recovery store {store} holds state of steps this version no longer has ({', '.join(old)}): "
            "a resume would keep the input offsets and lose the state. Stop the service, move the "
            "store away and start again with an empty one and empty output topics (or a new "
            "MFGSYNC_TOPIC_PREFIX for them): the input is then read from the beginning"
        )
        raise CommandError(msg, exit_code=2)


def _refuse_other_groups(store: Path, settings: Settings) -> None:
    """A store keyed by other planning groups would resume groups without their state."""
    stored, current = stored_groups(store), settings.groups().to_json()
    if json.dumps(stored) != json.dumps(current):  # in order: an item is in its first matching group

        def said(groups: dict[str, Any]) -> str:
            return f"groups of plants {', '.join(sorted(groups))}" if groups else "no planning groups"

        msg = (
            f"recovery store {store} was made with {said(stored)} ({store / GROUPS_FILE}) and "
            f"MFGSYNC_PLANNING_GROUPS gives {said(current)}: its state is keyed by the groups it was "
            "made with. Start with the same groups, or stop the service, move the store away and "
            "start again with an empty one and empty output topics (or a new "
            "MFGSYNC_TOPIC_PREFIX for them): the input is then read from the beginning"
        )
        raise CommandError(msg, exit_code=2)


def _wait_for_store(store: Path, timeout_s: float) -> None:
    """Wait until process 0 of the cluster has created the recovery store at `store`."""
    deadline = time.monotonic() + timeout_s
    while not store_ready(store):
        if time.monotonic() > deadline:
            msg = (
                f"recovery store {store} was not created by process 0 within {timeout_s:.0f} s "
                "(start process 0 with the same --recovery-dir, or create the store first)"
            )
            raise CommandError(msg)
        time.sleep(0.2)


def common_partitions(counts: dict[str, int]) -> int:
    """The partition count every input topic has (0, with a warning, when they differ)."""
    found = set(counts.values())
    if len(found) == 1:
        return found.pop()
    logging.getLogger("mfgsync").warning(
        "the input topics have different partition counts (%s): a plant's records are in other "
        "partition numbers per topic, so they cross between processes (the answer is the same)",
        ", ".join(f"{t} {n}" for t, n in sorted(counts.items())),
        extra={"event": "partitions_differ", "partitions": counts},
    )
    return 0


def _alignment(store: Path | None, current: int) -> int:
    """The partition count plant state is keyed to: the store's, else the input topics'."""
    if store is None:
        return current
    stored = stored_alignment(store)
    if stored != current:
        logging.getLogger("mfgsync").warning(
            "recovery store %s keys plant state to %s, the input topics have %d partitions: records "
            "cross between processes (the answer is the same); a new store aligns them again",
            store,
            f"{stored} partitions" if stored else "plants (a store from before alignment)",
            current,
            extra={"event": "alignment", "stored": stored, "partitions": current},
        )
    return stored


def _prepare_run(
    settings: Settings, args: argparse.Namespace, input_partitions: dict[str, int]
) -> Callable[[], None]:
    """Prepare the recovery store and environment; return what runs the service's dataflow.

    The dataflow runs in this process (bytewax's `cli_main`, what `python -m bytewax.run
    mfgsync.flows.service:flow` calls): the modules this command has loaded already are not
    loaded a second time by a new interpreter, which is most of a start's time before the
    first record. Signals (SIGTERM from an orchestrator) reach the dataflow as before.
    """
    recovery = args.recovery_dir or settings.recovery_dir
    recovery_config = None
    partitions = common_partitions(input_partitions)
    if recovery:
        store = Path(recovery)
        if not store_ready(store):
            if args.addresses and (args.process_id or 0) != 0:
                # In a cluster process 0 creates the store (processes on one machine share
                # its directory); creating it here too would race with process 0 opening it.
                _wait_for_store(store, settings.connect_timeout_s * 4)
            else:
                create_store(store, settings.recovery_partitions, settings.groups().to_json(), partitions)
        _refuse_per_step_store(store)
        _refuse_other_groups(store, settings)
        if not args.addresses or (args.process_id or 0) == 0:
            # Drop what a killed execution left behind; this needs every partition, so in a
            # cluster process 0 does it over the shared directory. The others cannot have
            # opened the store yet: bytewax opens it only once every process has connected,
            # and process 0 connects after this.
            discard_abandoned_snapshots(store)
        from bytewax.recovery import RecoveryConfig

        backup = timedelta(seconds=settings.backup_interval_s)
        recovery_config = RecoveryConfig(store, backup)  # type: ignore[no-untyped-call]  # bytewax has no annotations
    # Without recovery an epoch is bytewax's default 10 s; with it, one snapshot interval.
    epoch = timedelta(seconds=settings.snapshot_interval_s if recovery else 10)
    env = dict(os.environ)
    env["MFGSYNC_ALIGNED_PARTITIONS"] = str(_alignment(Path(recovery) if recovery else None, partitions))
    if recovery:
        env["MFGSYNC_RECOVERY_DIR"] = str(recovery)  # the flow snapshots only with a store
    if args.process_id is not None:
        env["MFGSYNC_PROCESS_ID"] = str(args.process_id)
    if args.addresses:
        env["MFGSYNC_PROCESSES"] = str(len(args.addresses.split(";")))
    env["MFGSYNC_WORKERS_PER_PROCESS"] = str(args.workers)
    if args.exit_at_end:
        env["MFGSYNC_TAIL"] = "false"
    if args.today is not None:
        env["MFGSYNC_TODAY"] = args.today.isoformat()
    if args.bucket is not None:
        env["MFGSYNC_BUCKET"] = args.bucket
    if args.quiet:
        env["MFGSYNC_PROGRESS"] = "false"
    logging.getLogger("mfgsync").info(
        "starting the dataflow: %d worker(s), recovery %s, %s",
        args.workers,
        recovery or "off",
        "to the end of the input" if args.exit_at_end else "following the input",
        extra={
            "event": "launch",
            "workers": args.workers,
            "recovery": recovery,
            "tail": not args.exit_at_end,
        },
    )
    os.environ.update(env)  # the service reads its settings from the environment

    def run() -> None:
        from bytewax.run import cli_main

        from mfgsync.flows.service import build_service_flow

        cluster = args.process_id is not None or bool(args.addresses)
        cli_main(  # type: ignore[no-untyped-call]  # bytewax has no annotations
            build_service_flow(load_settings()),
            workers_per_process=args.workers,
            process_id=(args.process_id or 0) if cluster else None,
            addresses=(args.addresses or "").split(";") if cluster else None,
            epoch_interval=epoch,
            recovery_config=recovery_config,
        )

    return run
