"""Pydantic models of the output records (SPEC sections 2, 6, 7 and 10).

Signals, triggers, availability and exceptions are changelogs: each record carries a stable id
that is also its Kafka key, so a consumer that keeps the latest record per id has the truth.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import field_serializer

from mfgsync.schemas import vocabulary
from mfgsync.schemas.events import Record
from mfgsync.schemas.vocabulary import ExceptionState, Severity, ShortageState, TriggerState

TriggerType = Literal[
    "CREATE_REQUISITION",
    "CREATE_PRODUCTION_PROPOSAL",
    "EXPEDITE",
    "RESCHEDULE_IN",
    "RESCHEDULE_OUT",
    "CANCEL",
    "DISPOSITION_EXCESS",
    "DISCONTINUATION_SWITCH",
]
ExceptionType = Literal[
    "SEQUENCE_GAP",
    "LATE_EVENT",
    "NEGATIVE_STOCK",
    "RECONCILIATION_DISCREPANCY",
    "UNKNOWN_ITEM",
    "BOM_CYCLE",
    "SCHEMA_INVALID",
]


class OutputRecord(Record):
    """An output record: knows its topic and its changelog key."""

    TOPIC: ClassVar[str]

    def record_key(self) -> str:
        """The stable id used as the Kafka key and the changelog identity."""
        raise NotImplementedError


class AvailabilityRecord(OutputRecord):
    """Stock buckets and projected balance of one item at one plant."""

    TOPIC = vocabulary.AVAILABILITY

    availability_id: str
    plant: str
    item: str
    unrestricted: float
    quality_hold: float
    allocated: float
    in_transit: float
    available: float
    safety_stock: float
    projected_balance_min: float
    projected_balance_end: float
    first_shortage_date: date | None = None

    def record_key(self) -> str:
        return self.availability_id


class ShortageSignal(OutputRecord):
    """The first bucket where an item's projected balance falls below safety stock."""

    TOPIC = vocabulary.SHORTAGES

    signal_id: str
    state: ShortageState
    plant: str
    item: str
    shortage_date: date | None
    shortage_qty: float
    severity: Severity
    impacted_orders: tuple[str, ...] = ()
    cause_event_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()

    def record_key(self) -> str:
        return self.signal_id


class ProcurementTrigger(OutputRecord):
    """An action for purchasing or production planning, with the events that caused it."""

    TOPIC = vocabulary.TRIGGERS

    trigger_id: str
    state: TriggerState
    type: TriggerType
    plant: str
    item: str
    qty: float
    need_date: date | None = None
    release_date: date | None = None
    current_date: date | None = None
    reference: str | None = None
    supplier: str | None = None
    release_in_past: bool = False
    earliest_receipt_date: date | None = None
    cause_event_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()

    def record_key(self) -> str:
        return self.trigger_id


class SyncException(OutputRecord):
    """A business anomaly with an open/closed state, so its age can be measured."""

    TOPIC = vocabulary.EXCEPTIONS

    exception_id: str
    type: ExceptionType
    state: ExceptionState
    key: str
    details: dict[str, str]
    first_seen: datetime | None = None
    correlation_id: str | None = None

    def record_key(self) -> str:
        return self.exception_id


class Header(Record):
    """One Kafka record header."""

    key: str
    value: bytes | None = None

    @field_serializer("value", when_used="json")
    def _text(self, value: bytes | None) -> str | None:
        return None if value is None else value.decode("utf-8", "backslashreplace")


class DeadLetter(OutputRecord):
    """A record that could not be decoded, validated or delivered, with the reason.

    The value is kept whole up to a configured size (`raw_size` and `raw_sha256` always
    describe the whole value), so a dead letter always fits on the broker.
    """

    TOPIC = vocabulary.DEAD_LETTERS

    dlq_id: str
    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    raw: bytes
    raw_size: int | None = None
    """Size of the whole value; `raw` keeps at most a configured number of its bytes."""
    raw_sha256: str | None = None
    headers: tuple[Header, ...] = ()
    reason: str
    error: str
    file: str | None = None
    line: int | None = None

    @field_serializer("raw", "key", when_used="json")
    def _text(self, value: bytes | None) -> str | None:
        # Readable in a JSON Lines file; the Avro form keeps the exact bytes.
        return None if value is None else value.decode("utf-8", "backslashreplace")

    def record_key(self) -> str:
        return self.dlq_id


class LagReport(OutputRecord):
    """Event lag of one source over one window (processing time minus event time)."""

    TOPIC = vocabulary.LAG

    report_id: str
    source: str
    window_start: datetime
    window_end: datetime
    count: int
    max_s: float
    p50_s: float
    p99_s: float

    def record_key(self) -> str:
        return self.report_id


class OutcomeCount(OutputRecord):
    """How many input records of one topic ended in one outcome (or were read), so far.

    The service publishes these as a changelog (`sync.counts`, latest per `count_id`), counted
    in its recovered state, so the totals hold across restarts: per topic, read = applied +
    deduplicated + superseded + dead_lettered once every read record has its outcome.
    """

    TOPIC = "sync.counts"

    count_id: str
    topic: str
    outcome: str
    count: int

    def record_key(self) -> str:
        return self.count_id


OUTPUT_TYPES: dict[str, type[OutputRecord]] = {
    cls.TOPIC: cls
    for cls in (
        AvailabilityRecord,
        ShortageSignal,
        ProcurementTrigger,
        SyncException,
        DeadLetter,
        LagReport,
        OutcomeCount,
    )
}
"""Every output record type by its default topic."""
