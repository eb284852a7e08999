"""The long-lived service: the mfgsync dataflow between Kafka topics (SPEC 2, 6 and 8).

Run it with `mfgsync run`, or directly with bytewax's runner, which gives workers,
processes and recovery: `python -m bytewax.run mfgsync.flows.service:flow -w 2 -r DIR -s 10 -b 60`.
The module attribute `flow` is built on first access from the environment
(`preflight.load_settings`, which refuses removed variables).

Values are Avro in the Confluent framing (or JSON by configuration); output records are
keyed by their stable id. Planning state is restored from bytewax snapshots; on every start
the planner also adopts what its plant already published, so output written after the last
snapshot and no longer true is withdrawn rather than left behind.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators import StatefulBatchLogic
from bytewax.operators.windowing import SystemClock, TumblingWindower, fold_window
from confluent_kafka import KafkaException
from prometheus_client import REGISTRY, CollectorRegistry

from mfgsync.connectors.alert_dispatch import AlertChannel, AlertDispatcher
from mfgsync.connectors.alertmanager import AlertmanagerChannel
from mfgsync.connectors.http_status import StatusServer
from mfgsync.connectors.jsonl import RawRecord, dead_letter
from mfgsync.connectors.kafka import (
    DeliveryLedger,
    KafkaRawSource,
    KafkaRecordSink,
    Published,
    Rejected,
    read_ranges,
)
from mfgsync.connectors.metrics import SyncMetrics
from mfgsync.connectors.serde import Serde
from mfgsync.connectors.webhook import WebhookChannel
from mfgsync.flows.dataflow import FlowConfig, PlanObserver, build_core, grouped, outcome_key
from mfgsync.flows.gc_tuning import tune_gc
from mfgsync.flows.heartbeat import Heartbeat
from mfgsync.flows.logs import kafka_logger, setup_logging
from mfgsync.flows.observability import StatusBoard
from mfgsync.flows.progress import Progress, on_terminal
from mfgsync.flows.settings import Settings
from mfgsync.operators.alerts import AlertRule
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.operators.lag import LagWindow
from mfgsync.operators.steps import Adoption, Offsets, topic_of
from mfgsync.operators.steps import Published as PublishedRecords
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import (
    OUTPUT_TYPES,
    DeadLetter,
    LagReport,
    OutcomeCount,
    OutputRecord,
    SyncException,
)
from mfgsync.schemas.vocabulary import CHANGELOG_TOPICS, parse_item_key

log = logging.getLogger(__name__)

ADOPT_ATTEMPTS = 10
"""Times reading a changelog back is tried (30 s each) before the start fails."""


def published_reader(settings: Settings, serde: Serde) -> PublishedRecords:
    """Reads back what each plant published from its planner's offsets on, for `PlantPlanner.adopt`.

    One read per process serves every plant: the first plant's request reads every changelog
    from its offsets to the current end; a later plant whose offsets are lower has the gap
    below read as well (only ever what was published before this start: a plant's planner
    publishes nothing before it has adopted). The latest record per key is kept, decoded
    once. A planner restored from a snapshot asks only for what was published after it, so
    a start reads little however long the changelogs are; a new plant (or an old snapshot)
    asks for everything.
    """
    classes = {settings.topic(topic): OUTPUT_TYPES[topic] for topic in CHANGELOG_TOPICS}
    kafka = {**settings.librdkafka(), "logger": kafka_logger()}
    latest: dict[tuple[str, bytes | None], tuple[int, int, bytes | None]] = {}
    """(topic, key) -> (partition, offset, value) of the latest record read."""
    read_from: dict[tuple[str, int], int] = {}
    ends: dict[tuple[str, int], int] | None = None
    decoded: dict[tuple[str, bytes | None], OutputRecord] = {}
    lock = threading.Lock()

    def read(since: Offsets) -> None:
        nonlocal ends
        lows = {tp: since.get(tp, 0) for tp in (ends or {})}
        gaps = ends is not None and any(low < read_from.get(tp, 0) for tp, low in lows.items())
        if ends is not None and not gaps:
            return
        started, count = time.monotonic(), 0
        if ends is None:
            first_ends, records = _with_retries(
                lambda: read_ranges(kafka, classes, lambda tp: since.get(tp, 0))
            )
            ends = first_ends
        else:
            # Only below what was read: [since, read_from) where since is lower.
            until = dict(read_from)
            _, records = _with_retries(
                lambda: read_ranges(kafka, classes, lambda tp: min(lows.get(tp, 0), until.get(tp, 0)), until)
            )
        for record in records:
            count += 1
            key = (record.topic, record.key)
            known = latest.get(key)
            if known is None or (known[0], known[1]) < (record.partition, record.offset):
                latest[key] = (record.partition, record.offset, record.value)
                decoded.pop(key, None)
        for tp in ends:
            low = since.get(tp, 0)
            read_from[tp] = min(read_from.get(tp, low), low)
        log.info(
            "read %d published records back in %.2f s",
            count,
            time.monotonic() - started,
            extra={"event": "read_back", "records": count},
        )

    def published(plant: str, since: Offsets) -> Adoption:
        with lock:  # workers of one process share the read
            return adoption(plant, since)

    def adoption(plant: str, since: Offsets) -> Adoption:
        read(since)
        assert ends is not None
        records = []
        for key, (partition, offset, value) in latest.items():
            if value is None or offset < since.get((key[0], partition), 0):
                continue
            record = decoded.get(key)
            if record is None:
                record = decoded[key] = serde.decode_record(classes[key[0]], value)
            if _plant_of(record) == plant:
                records.append(record)
        return Adoption(records=records, through=dict(ends))

    return published


def _with_retries(
    read: Callable[[], tuple[dict[tuple[str, int], int], Iterator[Published]]],
) -> tuple[dict[tuple[str, int], int], list[Published]]:
    """Read the changelogs back; wait for a broker that is restarting (`ADOPT_ATTEMPTS`)."""
    attempt = 0
    while True:
        try:
            ends, records = read()
            return ends, list(records)
        except (TimeoutError, KafkaException) as exc:
            attempt += 1
            if attempt >= ADOPT_ATTEMPTS:
                raise
            log.warning("reading the changelogs back failed (%s); retrying", exc)


def _plant_of(record: OutputRecord) -> str:
    if isinstance(record, SyncException):
        return record.key if record.type == "BOM_CYCLE" else parse_item_key(record.key)[1]
    return str(getattr(record, "plant", ""))


def flow_config(
    settings: Settings,
    published: PublishedRecords | None,
    observer: PlanObserver | None = None,
    partition_lag: Callable[[], int] | None = None,
) -> FlowConfig:
    """The dataflow configuration of the service.

    `partition_lag` tells the largest consumer lag of the process's input partitions (messages).
    """
    catching_up = None
    if partition_lag is not None and settings.catch_up_plan_s > 0:
        catching_up = lambda: partition_lag() > settings.catch_up_partition_lag  # noqa: E731
    return FlowConfig(
        bucket=settings.bucket,
        today=settings.today,
        plan_on="batch",
        wait_s=settings.wait_s,
        max_buffer=settings.max_buffer,
        dedup_horizon=timedelta(days=settings.dedup_horizon_days),
        plant_defaults=settings.plant_defaults(),
        groups=settings.groups(),
        placement=settings.placement(),
        published=published,
        observer=observer,
        snapshots=settings.recovery_dir is not None,
        catch_up_plan_s=settings.catch_up_plan_s,
        catching_up=catching_up,
    )


def build_service_flow(settings: Settings) -> Dataflow:
    """Kafka in, the mfgsync dataflow, Kafka out; metrics, status, alerts and logs on the side."""
    setup_logging()  # the process that does the work (`mfgsync run` or bytewax's runner)
    serde = Serde(settings)
    board = _start_observability(settings, serde)
    progress = Progress("mfgsync run", enabled=settings.progress and not settings.tail and on_terminal())
    Heartbeat(
        board,
        settings.model_dump(mode="json"),
        interval_s=settings.log_progress_s,
        progress=progress,
        alert_drain_s=settings.alert_drain_s,
    ).start()
    kafka = {**settings.librdkafka(), "logger": kafka_logger()}
    ledger = DeliveryLedger()
    config = replace(
        flow_config(settings, published_reader(settings, serde), board, board.max_partition_lag),
        delivered=ledger.current,
        on_adopted=board.adopted,
        handed_over=board.handed_over,
    )
    flow = Dataflow("mfgsync")
    source = KafkaRawSource(
        kafka,
        [settings.topic(t) for t in settings.input_topics],
        tail=settings.tail,
        group_id=settings.consumer_group,
        on_lag=board.consumer_lag,
        on_assign=board.partition_assigned,
        durable=settings.recovery_dir is not None,
        reads=config.placement.reads,
    )
    raw = op.input("kafka_in", flow, source)
    decoded = op.map("decode", raw, grouped(serde.decode_event, config.groups, settings.dlq_max_raw_bytes))
    # The observers take whole batches and emit nothing: their streams end there.
    op.flat_map_batch("observe_ingest", decoded, board.decoded)
    streams = build_core(flow, decoded, config)
    op.flat_map_batch("observe_outcomes", streams.verdicts, board.verdicts)
    records = op.merge(
        "with_lag_and_counts",
        streams.records,
        lag_reports(streams.verdicts, settings),
        outcome_counts(decoded, streams.verdicts),
    )
    op.flat_map_batch("observe_records", records, board.records)
    names = {t: settings.topic(t) for t in OUTPUT_TYPES}
    sink = KafkaRecordSink(
        kafka,
        serde.encode,
        names,
        on_rejected=board.output_rejected,
        dead_letter=functools.partial(rejected_output_letter, max_raw=settings.dlq_max_raw_bytes),
        ledger=ledger,
        each_batch=settings.recovery_dir is not None,  # only a snapshot relies on delivery
    )
    op.output("kafka_out", records, sink)  # written by the worker that made them: no exchange
    tune_gc()
    return flow


def rejected_output_letter(rejected: Rejected, max_raw: int) -> tuple[str, OutputRecord] | None:
    """The dead letter that replaces an output record the broker refused (or that did not encode)."""
    if isinstance(rejected.record, DeadLetter):
        return None  # a dead letter is not dead-lettered again
    raw = RawRecord(
        origin=rejected.topic,
        partition=-1,
        offset=-1,
        value=rejected.record.model_dump_json().encode(),
        key=rejected.key.encode(),
    )
    letter = dead_letter(
        raw, f"OUTPUT_{rejected.error}", f"output record rejected: {rejected.reason}", max_raw=max_raw
    )
    key = rejected.key
    if len(key) > MAX_ID_KEY:  # the id is the dead letter's Kafka key: keep it small
        key = f"{key[:MAX_ID_KEY]}...sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    return DeadLetter.TOPIC, letter.model_copy(update={"dlq_id": f"output|{rejected.topic}|{key}"})


MAX_ID_KEY = 200
"""Characters of a rejected record's id kept in its dead letter's id (then its SHA-256)."""


class CountLogic(StatefulBatchLogic[tuple[str, int], OutputRecord, int]):
    """A running count of one `topic|outcome` key, published after every batch."""

    def __init__(self, count: int) -> None:
        self.count = count

    def on_batch(self, values: list[tuple[str, int]]) -> tuple[Iterable[OutputRecord], bool]:
        key = values[0][0]
        self.count += sum(n for _, n in values)
        topic, _, outcome = key.rpartition("|")
        record = OutcomeCount(count_id=key, topic=topic, outcome=outcome, count=self.count)
        return [record], StatefulBatchLogic.RETAIN

    def snapshot(self) -> int:
        return self.count


def tally(keys: list[str]) -> list[tuple[str, int]]:
    """A batch of count keys as (key, how many): counted where they were read, then exchanged."""
    return list(Counter(keys).items())


def outcome_counts(
    decoded: Stream[Event | DeadLetter], verdicts: Stream[Verdict | DeadLetter]
) -> Stream[tuple[str, OutputRecord]]:
    """`sync.counts`: per input topic, records read and records per outcome, so far.

    Counted in recovered state (a restart resumes the counts with the offsets), so the
    published totals hold for the run as a whole, unlike the per-process Prometheus counters.
    Each worker tallies its batches first, so what crosses to the worker of a count is one
    item per key and batch, not one per record.
    """
    read = op.map("count_read", decoded, lambda item: f"{topic_of(item)}|read")
    outcomes = op.map("count_outcome", verdicts, outcome_key)
    tallied = op.flat_map_batch("count_tally", op.merge("count_all", read, outcomes), tally)
    keyed = op.key_on("count_key", tallied, lambda kn: kn[0])
    counted = op.stateful_batch("outcome_counts", keyed, lambda resume: CountLogic(resume or 0))
    return op.map("count_record", counted, lambda kv: (OutcomeCount.TOPIC, kv[1]))


ALIGN = datetime(2020, 1, 1, tzinfo=UTC)


def lag_reports(
    verdicts: Stream[Verdict | DeadLetter], settings: Settings
) -> Stream[tuple[str, OutputRecord]]:
    """`sync.lag`: per source and processing-time window, count, max, p50 and p99 of event lag."""
    length = timedelta(seconds=settings.lag_window_s)

    def lag_of(items: list[Verdict | DeadLetter]) -> list[tuple[str, LagWindow]]:
        now = datetime.now(UTC)
        return lag_parts(
            [
                (item.event.source, (now - item.event.event_time).total_seconds())
                for item in items
                if isinstance(item, Verdict) and item.outcome is Outcome.APPLIED
            ]
        )

    # Each worker folds its batch per source first; the window of a source merges the parts.
    parts = op.flat_map_batch("lag_part", verdicts, lag_of)
    keyed = op.key_on("lag_source", parts, lambda part: part[0])
    windows = fold_window(
        "lag_window",
        op.map("lag_value", keyed, lambda kv: (kv[0], kv[1][1])),
        SystemClock(),
        TumblingWindower(length=length, align_to=ALIGN),
        LagWindow,
        LagWindow.merge,
        LagWindow.merge,
    )

    def report(item: tuple[str, tuple[int, LagWindow]]) -> tuple[str, OutputRecord]:
        source, (window_id, window) = item
        start = ALIGN + window_id * length
        return LagReport.TOPIC, LagReport(
            report_id=f"{source}|{start.isoformat()}",
            source=source,
            window_start=start,
            window_end=start + length,
            count=window.count,
            max_s=window.max_s,
            p50_s=window.percentile(0.5),
            p99_s=window.percentile(0.99),
        )

    return op.map("lag_report", windows.down, report)


def lag_parts(samples: list[tuple[str, float]]) -> list[tuple[str, LagWindow]]:
    """A batch of (source, lag) samples folded into one partial window per source."""
    parts: dict[str, LagWindow] = {}
    for source, lag in samples:
        parts.setdefault(source, LagWindow()).add(lag)
    return list(parts.items())


class _Forward:
    """Exposes another registry's metrics (bytewax's and the process's) on ours."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


def _start_observability(settings: Settings, serde: Serde) -> StatusBoard:
    registry = CollectorRegistry()
    registry.register(_Forward(REGISTRY))
    channels: list[AlertChannel] = []
    if settings.alertmanager_url:
        channels.append(AlertmanagerChannel(settings.alertmanager_url))
    if settings.webhook_url:
        channels.append(WebhookChannel(settings.webhook_url, settings.webhook_secret))
    alerts = None
    if channels:
        alerts = AlertDispatcher(channels, registry=registry)
        # At exit, what still waits is delivered for a few seconds, then counted and logged.
        atexit.register(alerts.close, settings.alert_drain_s)
    board = StatusBoard(
        SyncMetrics(registry),
        ready_max_lag=settings.ready_max_lag,
        alerts=alerts,
        alert_rule=AlertRule(settings.alert_min_severity),
    )
    if settings.metrics_port:
        server = StatusServer(
            settings.metrics_host,
            settings.metrics_port + settings.process_id,
            registry,
            ready=board.ready,
            status=board.status,
        )
        server.start()
        log.info("status endpoints on %s:%d", settings.metrics_host, server.port)
    return board


def __getattr__(name: str) -> Dataflow:
    if name != "flow":
        raise AttributeError(name)
    from mfgsync.flows.preflight import load_settings  # refuses removed variables, as `mfgsync run`

    return build_service_flow(load_settings())
