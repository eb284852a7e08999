"""The long-lived service: the mfgsync dataflow between Kafka topics (SPEC 2, 6 and 8).

Run it with `mfgsync run`, or directly with bytewax's runner, which gives workers,
processes and recovery: `python -m bytewax.run flows.service:flow -w 2 -r DIR -s 10 -b 60`.
The module attribute `flow` is built on first access from `Settings()` (environment).

Values are Avro in the Confluent framing (or JSON by configuration); output records are
keyed by their stable id. Planning state is restored from bytewax snapshots; on every start
the planner also adopts what its plant already published, so output written after the last
snapshot and no longer true is withdrawn rather than left behind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

import bytewax.operators as op
from bytewax.dataflow import Dataflow
from pydantic import ValidationError

from connectors.avro_codec import AvroCodec, DecodeError, registry_client
from connectors.jsonl import RawRecord, dead_letter, decode_event, validation_summary
from connectors.kafka import KafkaRawSource, KafkaRecordSink, read_topic
from flows.dataflow import FlowConfig, build_core
from flows.settings import Settings
from schemas.avro import SchemaSet
from schemas.events import TOPIC_TYPES, Event
from schemas.outputs import (
    OUTPUT_TYPES,
    AvailabilityRecord,
    DeadLetter,
    OutputRecord,
    ProcurementTrigger,
    ShortageSignal,
    SyncException,
)

log = logging.getLogger(__name__)

ADOPTED_TOPICS = (ProcurementTrigger, ShortageSignal, AvailabilityRecord, SyncException)


class Serde:
    """Decodes input values and encodes output records in the configured value format.

    The registry client is created on first use, in the process that uses it.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._codec: AvroCodec | None = None

    @property
    def codec(self) -> AvroCodec:
        if self._codec is None:
            client = registry_client(self._settings.schema_registry_url, self._settings.registry())
            self._codec = AvroCodec(client, SchemaSet.load())
        return self._codec

    def decode_event(self, raw: RawRecord) -> Event | DeadLetter:
        """An input record as a validated event, or a dead letter with the reason."""
        topic = self._settings.canonical(raw.origin)
        cls = TOPIC_TYPES.get(topic)
        if self._settings.value_format == "json" or cls is None:
            return decode_event(raw, expected_topic=topic)
        try:
            data = self.codec.decode(raw.value, cls.__name__)
        except DecodeError as exc:
            return dead_letter(raw, exc.error, exc.reason, topic=raw.origin)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            return dead_letter(raw, "VALIDATION_FAILED", validation_summary(exc), topic=raw.origin)

    def encode(self, topic: str, record: Any) -> bytes:
        """An output record (or event) as a value for `topic`."""
        if self._settings.value_format == "json":
            return bytes(record.model_dump_json().encode())
        return self.codec.encode(topic, record)

    def decode_record(self, cls: type[OutputRecord], value: bytes) -> OutputRecord:
        """An output record read back from its topic."""
        if self._settings.value_format == "json":
            return cls.model_validate_json(value)
        return cls.model_validate(self.codec.decode(value, cls.__name__))


def published_reader(settings: Settings, serde: Serde) -> Callable[[str], list[OutputRecord]]:
    """Reads what each plant already published, once per process, for `PlantPlanner.adopt`."""
    by_plant: dict[str, list[OutputRecord]] | None = None

    def published(plant: str) -> list[OutputRecord]:
        nonlocal by_plant
        if by_plant is None:
            by_plant = {}
            for cls in ADOPTED_TOPICS:
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
        return record.key if record.type == "BOM_CYCLE" else record.key.rpartition("@")[2]
    return str(getattr(record, "plant", ""))


def flow_config(settings: Settings, published: Callable[[str], Iterable[OutputRecord]] | None) -> FlowConfig:
    """The dataflow configuration of the service."""
    return FlowConfig(
        bucket=settings.bucket,
        today=settings.today,
        plan_on="batch",
        wait_s=settings.wait_s,
        max_buffer=settings.max_buffer,
        dedup_horizon=timedelta(days=settings.dedup_horizon_days),
        reschedule_out_days=settings.reschedule_out_days,
        published=published,
    )


def build_service_flow(settings: Settings) -> Dataflow:
    """Kafka in, the mfgsync dataflow, Kafka out."""
    serde = Serde(settings)
    config = flow_config(settings, published_reader(settings, serde))
    flow = Dataflow("mfgsync")
    source = KafkaRawSource(
        settings.librdkafka(),
        [settings.topic(t) for t in settings.input_topics],
        tail=settings.tail,
        group_id=settings.consumer_group,
    )
    raw = op.input("kafka_in", flow, source)
    decoded = op.map("decode", raw, serde.decode_event)
    streams = build_core(flow, decoded, config, decoded=True)
    names = {t: settings.topic(t) for t in OUTPUT_TYPES}
    op.output("kafka_out", streams.records, KafkaRecordSink(settings.librdkafka(), serde.encode, names))
    return flow


def __getattr__(name: str) -> Dataflow:
    if name != "flow":
        raise AttributeError(name)
    return build_service_flow(Settings())
