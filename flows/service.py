"""The long-lived service: the mfgsync dataflow between Kafka topics (SPEC 2, 6 and 8).

Run it with `mfgsync run`, or directly with bytewax's runner, which gives workers,
processes and recovery: `python -m bytewax.run mfgsync.flows.service:flow -w 2 -r DIR -s 10 -b 60`.
The module attribute `flow` is built on first access from `Settings()` (environment).

Values are Avro in the Confluent framing (or JSON by configuration); output records are
keyed by their stable id. Planning state is restored from bytewax snapshots; on every start
the planner also adopts what its plant already published, so output written after the last
snapshot and no longer true is withdrawn rather than left behind.
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.operators.windowing import SystemClock, TumblingWindower, fold_window
from confluent_kafka import Producer
from prometheus_client import REGISTRY, CollectorRegistry

from mfgsync.connectors.alerting import AlertDispatcher, AlertmanagerChannel, WebhookChannel
from mfgsync.connectors.http_status import StatusServer
from mfgsync.connectors.kafka import KafkaRawSource, KafkaRecordSink, read_topic
from mfgsync.connectors.metrics import SyncMetrics
from mfgsync.connectors.serde import Serde
from mfgsync.flows.dataflow import FlowConfig, PlanObserver, build_core
from mfgsync.flows.gc_tuning import tune_gc
from mfgsync.flows.observability import StatusBoard
from mfgsync.flows.settings import Settings
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.operators.lag import LagWindow
from mfgsync.schemas.outputs import (
    OUTPUT_TYPES,
    DeadLetter,
    LagReport,
    OutputRecord,
    ShortageSignal,
    SyncException,
)
from mfgsync.schemas.vocabulary import CHANGELOG_TOPICS, parse_item_key

log = logging.getLogger(__name__)


def published_reader(settings: Settings, serde: Serde) -> Callable[[str], list[OutputRecord]]:
    """Reads what each plant already published, once per process, for `PlantPlanner.adopt`."""
    by_plant: dict[str, list[OutputRecord]] | None = None

    def published(plant: str) -> list[OutputRecord]:
        nonlocal by_plant
        if by_plant is None:
            by_plant = {}
            for cls in (OUTPUT_TYPES[topic] for topic in CHANGELOG_TOPICS):
                latest: dict[bytes | None, OutputRecord] = {}
                for key, value in read_topic(settings.librdkafka(), settings.topic(cls.TOPIC)):
                    if value is not None:
                        latest[key] = serde.decode_record(cls, value)
                for record in latest.values():
                    by_plant.setdefault(_plant_of(record), []).append(record)
            log.info("adopted published records for %d plants", len(by_plant))
        return by_plant.get(plant, [])

    return published


def _plant_of(record: OutputRecord) -> str:
    if isinstance(record, SyncException):
        return record.key if record.type == "BOM_CYCLE" else parse_item_key(record.key)[1]
    return str(getattr(record, "plant", ""))


def flow_config(
    settings: Settings,
    published: Callable[[str], Iterable[OutputRecord]] | None,
    observer: PlanObserver | None = None,
) -> FlowConfig:
    """The dataflow configuration of the service."""
    return FlowConfig(
        bucket=settings.bucket,
        today=settings.today,
        plan_on="batch",
        wait_s=settings.wait_s,
        max_buffer=settings.max_buffer,
        dedup_horizon=timedelta(days=settings.dedup_horizon_days),
        plant_defaults=settings.plant_defaults(),
        published=published,
        observer=observer,
        snapshots=settings.recovery_dir is not None,
    )


def build_service_flow(settings: Settings) -> Dataflow:
    """Kafka in, the mfgsync dataflow, Kafka out; metrics, status and alerts on the side."""
    serde = Serde(settings)
    board = _start_observability(settings, serde)
    config = flow_config(settings, published_reader(settings, serde), board)
    flow = Dataflow("mfgsync")
    source = KafkaRawSource(
        settings.librdkafka(),
        [settings.topic(t) for t in settings.input_topics],
        tail=settings.tail,
        group_id=settings.consumer_group,
        on_lag=board.consumer_lag,
        on_assign=board.partition_assigned,
    )
    raw = op.input("kafka_in", flow, source)
    decoded = op.inspect(
        "observe_ingest", op.map("decode", raw, serde.decode_event), lambda _s, x: board.decoded(x)
    )
    streams = build_core(flow, decoded, config, decoded=True)
    op.inspect("observe_outcomes", streams.verdicts, lambda _s, v: board.verdict(v))
    records = op.merge("with_lag", streams.records, lag_reports(streams.verdicts, settings))
    op.inspect("observe_records", records, lambda _s, r: board.record(r))
    names = {t: settings.topic(t) for t in OUTPUT_TYPES}
    op.output("kafka_out", records, KafkaRecordSink(settings.librdkafka(), serde.encode, names))
    tune_gc()
    return flow


ALIGN = datetime(2020, 1, 1, tzinfo=UTC)
ALERT_DRAIN_S = 5.0


def lag_reports(
    verdicts: Stream[Verdict | DeadLetter], settings: Settings
) -> Stream[tuple[str, OutputRecord]]:
    """`sync.lag`: per source and processing-time window, count, max, p50 and p99 of event lag."""
    length = timedelta(seconds=settings.lag_window_s)

    def lag_of(item: Verdict | DeadLetter) -> tuple[str, float] | None:
        if isinstance(item, Verdict) and item.outcome is Outcome.APPLIED:
            return item.event.source, (datetime.now(UTC) - item.event.event_time).total_seconds()
        return None

    samples = op.filter_map("lag_sample", verdicts, lag_of)
    keyed = op.map(
        "lag_value", op.key_on("lag_source", samples, lambda s: s[0]), lambda kv: (kv[0], kv[1][1])
    )
    windows = fold_window(
        "lag_window",
        keyed,
        SystemClock(),
        TumblingWindower(length=length, align_to=ALIGN),
        LagWindow,
        LagWindow.add,
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


class _Forward:
    """Exposes another registry's metrics (bytewax's and the process's) on ours."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Any]:
        return self._registry.collect()


def _start_observability(settings: Settings, serde: Serde) -> StatusBoard:
    registry = CollectorRegistry()
    registry.register(_Forward(REGISTRY))  # type: ignore[arg-type]
    channels: list[Any] = []
    if settings.alertmanager_url:
        channels.append(AlertmanagerChannel(settings.alertmanager_url))
    if settings.webhook_url:
        channels.append(WebhookChannel(settings.webhook_url, settings.webhook_secret))
    alerts = None
    if channels:
        alerts = AlertDispatcher(
            channels,
            min_severity=settings.alert_min_severity,
            registry=registry,
            on_undeliverable=_undeliverable_to_dlq(settings, serde),
        )
    if alerts is not None:
        # At exit, alerts still queued or retrying are reported (and dead-lettered), not lost.
        atexit.register(alerts.close, ALERT_DRAIN_S)
    board = StatusBoard(SyncMetrics(registry), ready_max_lag=settings.ready_max_lag, alerts=alerts)
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


def _undeliverable_to_dlq(settings: Settings, serde: Serde) -> Callable[[ShortageSignal, str, str], None]:
    """Alerts that cannot be delivered become dead letters on `sync.dlq`."""
    producer = Producer({**settings.librdkafka(), "linger.ms": "50"})
    topic = settings.topic(DeadLetter.TOPIC)
    atexit.register(producer.flush, 10)  # registered first, so it runs after the dispatcher closes

    def dead_letter(signal: ShortageSignal, channel: str, reason: str) -> None:
        letter = DeadLetter(
            dlq_id=f"alert|{channel}|{signal.signal_id}|{signal.state}|{signal.shortage_date}",
            topic=settings.topic(signal.TOPIC),
            partition=-1,
            offset=-1,
            key=signal.signal_id.encode(),
            raw=signal.model_dump_json().encode(),
            reason=f"alert to {channel} undeliverable: {reason}",
            error="ALERT_UNDELIVERABLE",
        )
        producer.produce(topic, serde.encode(topic, letter), letter.dlq_id.encode())
        producer.poll(0)

    return dead_letter


def __getattr__(name: str) -> Dataflow:
    if name != "flow":
        raise AttributeError(name)
    return build_service_flow(Settings())
