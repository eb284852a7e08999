"""The mfgsync dataflow, wired from the operators.

Decode -> guard (per sequencing key) -> inventory (per item@plant) -> planning (per plant)
-> changelog outputs, with every input counted in exactly one outcome.

Only wiring lives here. Each stateful step is a thin bytewax `StatefulLogic` that delegates
to an operator from `operators/` and snapshots its plain state for recovery.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic, StatefulLogic
from bytewax.outputs import Sink
from pydantic import BaseModel

from mfgsync.connectors.jsonl import RawRecord, decode_event
from mfgsync.operators.dedup import DEFAULT_HORIZON, DEFAULT_MAX_IDS, DedupWindow
from mfgsync.operators.guard import IngestGuard, Outcome, Verdict
from mfgsync.operators.inventory import (
    DEFAULT_TOLERANCE,
    ComponentIssued,
    InventoryPosition,
    PositionChanged,
    wms_order,
)
from mfgsync.operators.planner import PlannerConfig, PlanningFact, PlantPlanner
from mfgsync.operators.sequencer import DEFAULT_MAX_BUFFER, DEFAULT_WAIT_S, Sequencer
from mfgsync.schemas.events import Event, InventoryMovement, InventorySnapshot
from mfgsync.schemas.outputs import DeadLetter, OutputRecord, SyncException

Clock = Callable[[], datetime]


class PlanObserver(Protocol):
    """Watches planning passes: the plant's planner, the facts of the batch, what was emitted."""

    def planned(
        self, planner: PlantPlanner, facts: Sequence[PlanningFact], records: Sequence[OutputRecord]
    ) -> None: ...


def system_clock() -> datetime:
    """Processing time, UTC."""
    return datetime.now(UTC)


class OutcomeCount(BaseModel):
    """How many input records of one topic ended in one outcome (replay summary)."""

    topic: str
    outcome: str
    count: int


COUNTS_TOPIC = "sync.counts"


@dataclass(frozen=True)
class FlowConfig:
    """Everything the dataflow needs besides its source and sinks."""

    bucket: Literal["day", "week"] = "day"
    today: date | None = None
    """Planning date; None means the processing date (live mode)."""
    plan_on: Literal["batch", "eof"] = "batch"
    """`eof` plans once when the input is exhausted (replays: one deterministic answer)."""
    wait_s: float = DEFAULT_WAIT_S
    max_buffer: int = DEFAULT_MAX_BUFFER
    dedup_horizon: timedelta = DEFAULT_HORIZON
    dedup_max_ids: int = DEFAULT_MAX_IDS
    reconcile_tolerance: float = DEFAULT_TOLERANCE
    reschedule_out_days: int = 0
    snapshots: bool = True
    """False when no recovery store is configured: bytewax still asks every touched key for a
    snapshot each epoch, and copying a plant's planner then costs time for nothing."""
    plan_share: float = 0.5
    """Live mode: at most about this share of a worker's time goes to re-planning. After a
    pass that took t seconds the next one waits t * (1 - share) / share, so under load more
    facts are coalesced into each pass; when passes are quick planning follows every batch."""
    clock: Clock = field(default=system_clock, compare=False)
    published: Callable[[str], Iterable[OutputRecord]] | None = field(default=None, compare=False)
    """What a plant already published (service mode), adopted by its planner on start."""
    observer: PlanObserver | None = field(default=None, compare=False)
    """Told about every planning pass (service mode: metrics and status)."""

    def planning_date(self) -> date:
        """The date plans are made for."""
        return self.today if self.today is not None else self.clock().date()


# ------------------------------------------------------------------ guard step


class GuardLogic(StatefulLogic[Event, Verdict | SyncException, IngestGuard]):
    """Dedup and sequencing of one sequencing key."""

    def __init__(self, guard: IngestGuard, config: FlowConfig) -> None:
        self.guard = guard
        self.config = config

    def on_item(self, value: Event) -> tuple[Iterable[Verdict | SyncException], bool]:
        if not self.guard.sequencer.key:  # bytewax builders are not told their key
            self.guard.sequencer.key = value.guard_key()
        verdicts, exceptions = self.guard.offer(value, self._now())
        return [*verdicts, *exceptions], StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[Verdict | SyncException], bool]:
        verdicts, exceptions = self.guard.expire(self._now())
        return [*verdicts, *exceptions], StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[Verdict | SyncException], bool]:
        verdicts, exceptions = self.guard.flush()
        return [*verdicts, *exceptions], StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        deadline = self.guard.next_deadline()
        return None if deadline is None else datetime.fromtimestamp(deadline, UTC)

    def snapshot(self) -> IngestGuard | None:  # type: ignore[override]
        return copy.deepcopy(self.guard) if self.config.snapshots else None

    def _now(self) -> float:
        return self.config.clock().timestamp()


def _guard_builder(config: FlowConfig) -> Callable[[IngestGuard | None], GuardLogic]:
    dedup = DedupWindow(horizon=config.dedup_horizon, max_ids=config.dedup_max_ids)
    sequencer = Sequencer(key="", wait_s=config.wait_s, max_buffer=config.max_buffer)

    def build(resume: IngestGuard | None) -> GuardLogic:
        return GuardLogic(resume or IngestGuard.for_key("", dedup, sequencer), config)

    return build


# -------------------------------------------------------------- inventory step

InventoryOut = PositionChanged | ComponentIssued | Verdict | SyncException


class InventoryLogic(StatefulLogic[Event, InventoryOut, tuple[InventoryPosition, list[Event]]]):
    """Stock position of one item@plant.

    Live, events apply as they come. In replays (`plan_on="eof"`) they are held and applied
    at end of input in WMS order (`wms_order`), so every output, exceptions included, is the
    same however the input was interleaved or spread over workers.
    """

    def __init__(self, position: InventoryPosition, held: list[Event], config: FlowConfig) -> None:
        self.position = position
        self.held = held
        self.config = config

    def on_item(self, value: Event) -> tuple[Iterable[InventoryOut], bool]:
        if not isinstance(value, InventoryMovement | InventorySnapshot):
            msg = f"inventory does not take {type(value).__name__}"
            raise TypeError(msg)
        if not self.position.item:  # bytewax builders are not told their key
            self.position.plant, self.position.item = value.plant, value.item
        if self.config.plan_on == "eof":
            self.held.append(value)
            return [], StatefulLogic.RETAIN
        return self._apply(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[InventoryOut], bool]:
        held, self.held = wms_order(self.held), []  # type: ignore[arg-type]
        return [out for event in held for out in self._apply(event)], StatefulLogic.RETAIN

    def _apply(self, value: InventoryMovement | InventorySnapshot) -> list[InventoryOut]:
        out: list[InventoryOut] = []
        if isinstance(value, InventoryMovement):
            applied, exceptions = self.position.apply_movement(value)
            if value.movement_type == "ISSUE" and value.reference:
                # What was issued to an order is a fact for netting even when the stock
                # effect is already inside a snapshot.
                out.append(
                    ComponentIssued(value.plant, value.item, value.reference, value.qty, value.event_id)
                )
        else:
            applied, exceptions = self.position.apply_snapshot(value, self.config.reconcile_tolerance)
        if applied:
            out.append(PositionChanged(value.plant, value.item, self.position.position(), value.event_id))
        out.append(Verdict(value, Outcome.APPLIED if applied else Outcome.SUPERSEDED))
        out.extend(exceptions)
        return out

    def snapshot(self) -> tuple[InventoryPosition, list[Event]] | None:  # type: ignore[override]
        return copy.deepcopy((self.position, self.held)) if self.config.snapshots else None


# --------------------------------------------------------------- planning step


class PlanningLogic(StatefulBatchLogic[PlanningFact, OutputRecord, bytes]):
    """Planning of one plant: applies facts, re-plans per batch or at end of input."""

    def __init__(self, planner: PlantPlanner, config: FlowConfig) -> None:
        self.planner = planner
        self.config = config
        self.adopted = config.published is None
        self.next_pass: datetime | None = None
        self.pending: list[PlanningFact] = []

    def on_batch(self, values: list[PlanningFact]) -> tuple[Iterable[OutputRecord], bool]:
        if not self.planner.plant and values:  # bytewax builders are not told their key
            self.planner.plant = values[0].plant
        for fact in values:
            self.planner.apply(fact)
        if self.config.plan_on == "eof":
            return [], StatefulBatchLogic.RETAIN
        self.pending.extend(values)
        if self.next_pass is not None and self.config.clock() < self.next_pass:
            return [], StatefulBatchLogic.RETAIN  # on_notify plans when the pause is over
        return self._plan(), StatefulBatchLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[OutputRecord], bool]:
        # Either the pause after a long pass is over, or a new day moves every bucket.
        return self._plan(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[OutputRecord], bool]:
        return self._plan(), StatefulBatchLogic.RETAIN

    def _plan(self) -> list[OutputRecord]:
        facts, self.pending = self.pending, []
        started = self.config.clock()
        if not self.adopted and self.config.published is not None and self.planner.plant:
            # Once per start: output published after the last snapshot is unknown to the
            # restored state; adopting it lets this plan withdraw what is no longer true.
            self.planner.adopt(self.config.published(self.planner.plant))
            self.adopted = True
        records = self.planner.plan(self.config.planning_date())
        finished = self.config.clock()
        share = min(max(self.config.plan_share, 0.01), 1.0)
        self.next_pass = finished + (finished - started) * ((1 - share) / share)
        if self.config.observer is not None:
            self.config.observer.planned(self.planner, facts, records)
        return records

    def notify_at(self) -> datetime | None:
        if self.config.plan_on == "eof":
            return None
        if self.pending and self.next_pass is not None:
            return self.next_pass
        if self.config.today is not None:
            return None
        tomorrow = self.config.clock().date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)

    def snapshot(self) -> bytes:
        # Pickled bytes are an immutable copy and cheaper than a deep copy of the plant.
        if not self.config.snapshots:
            return b""
        return pickle.dumps(self.planner, protocol=pickle.HIGHEST_PROTOCOL)


# ---------------------------------------------------------------------- wiring


@dataclass(frozen=True)
class FlowStreams:
    """The streams a caller attaches sinks to: records by topic, and outcome verdicts."""

    records: Stream[tuple[str, OutputRecord]]
    verdicts: Stream[Verdict | DeadLetter]


def build_core(
    flow: Dataflow,
    raw: Stream[RawRecord] | Stream[Event | DeadLetter],
    config: FlowConfig,
    *,
    decoded: bool = False,
) -> FlowStreams:
    """Wire decode, guard, inventory and planning onto `raw`; return the output streams."""
    items: Stream[Any] = raw if decoded else op.map("decode", raw, decode_event)
    split = op.branch("valid", items, lambda x: isinstance(x, Event))
    events: Stream[Event] = split.trues
    dead: Stream[DeadLetter] = split.falses

    keyed = op.key_on("guard_key", events, lambda e: e.guard_key())
    guarded = op.stateful("guard", keyed, _guard_builder(config))
    guard_out = op.branch(
        "guard_verdict", op.key_rm("guard_unkey", guarded), lambda x: isinstance(x, Verdict)
    )
    verdicts: Stream[Verdict] = guard_out.trues
    guard_exceptions: Stream[SyncException] = guard_out.falses

    admitted = op.branch("admitted", verdicts, lambda v: v.outcome is Outcome.APPLIED)
    admitted_events = op.map("admitted_event", admitted.trues, lambda v: v.event)
    stock_split = op.branch(
        "stock", admitted_events, lambda e: isinstance(e, InventoryMovement | InventorySnapshot)
    )

    inv_keyed = op.key_on("item_at_plant", stock_split.trues, lambda e: f"{e.item}@{e.plant}")
    inventory = op.key_rm(
        "inventory_unkey",
        op.stateful(
            "inventory",
            inv_keyed,
            lambda resume: InventoryLogic(*(resume or (InventoryPosition(plant="", item=""), [])), config),
        ),
    )
    inv_facts = op.branch(
        "inventory_fact", inventory, lambda x: isinstance(x, PositionChanged | ComponentIssued)
    )
    inv_rest = op.branch("inventory_verdict", inv_facts.falses, lambda x: isinstance(x, Verdict))

    planning_events = stock_split.falses
    planning_verdicts = op.map("planning_applied", planning_events, lambda e: Verdict(e, Outcome.APPLIED))
    facts = op.merge("facts", planning_events, inv_facts.trues)
    by_plant = op.key_on("plant", facts, lambda f: f.plant)
    planned = op.key_rm(
        "planning_unkey",
        op.stateful_batch("planning", by_plant, _planning_builder(config)),
    )

    dead_kind = op.key_on("dead_letter_kind", dead, lambda d: f"{d.topic or 'unknown'}|{d.error}")
    schema_invalid = op.key_rm(
        "schema_invalid_unkey", op.stateful_map("schema_invalid", dead_kind, _schema_invalid(config))
    )
    records = op.merge("records", planned, guard_exceptions, inv_rest.falses, dead, schema_invalid)
    topics = op.map("by_topic", records, lambda r: (r.TOPIC, r))
    all_verdicts = op.merge("verdicts", admitted.falses, inv_rest.trues, planning_verdicts, dead)
    return FlowStreams(records=topics, verdicts=all_verdicts)


def count_outcomes(verdicts: Stream[Verdict | DeadLetter]) -> Stream[tuple[str, OutcomeCount]]:
    """Counts per topic and outcome at end of input (finite runs only)."""
    keyed = op.map("outcome_key", verdicts, _outcome_key)
    counted = op.count_final("count_outcomes", keyed, lambda k: k)
    return op.map(
        "outcome_record",
        counted,
        lambda kc: (
            COUNTS_TOPIC,
            OutcomeCount(topic=kc[0].split("|")[0], outcome=kc[0].split("|")[1], count=kc[1]),
        ),
    )


def build_flow(
    source: Source[RawRecord], sink: Sink[tuple[str, Any]], config: FlowConfig, *, counts: bool = True
) -> Dataflow:
    """The whole dataflow from a raw-record source to a topic-keyed sink."""
    flow = Dataflow("mfgsync")
    raw = op.input("read", flow, source)
    streams = build_core(flow, raw, config)
    out: Stream[tuple[str, Any]] = streams.records
    if counts:
        out = op.merge("with_counts", out, count_outcomes(streams.verdicts))
    op.output("write", out, sink)
    return flow


SchemaInvalidState = tuple[int, datetime | None]


def _schema_invalid(
    config: FlowConfig,
) -> Callable[[SchemaInvalidState | None, DeadLetter], tuple[SchemaInvalidState, SyncException]]:
    """One open SCHEMA_INVALID exception per input topic and error kind, counting dead letters.

    Its first-seen time is processing time in service mode; replays leave it empty so their
    outputs do not depend on when they ran.
    """

    def update(
        state: SchemaInvalidState | None, letter: DeadLetter
    ) -> tuple[SchemaInvalidState, SyncException]:
        count, first_seen = state or (0, None if config.plan_on == "eof" else config.clock())
        count += 1
        topic = letter.topic or "unknown"
        exception = SyncException(
            exception_id=f"SCHEMA_INVALID|{topic}|{letter.error}",
            type="SCHEMA_INVALID",
            state="OPEN",
            key=topic,
            details={
                "error": letter.error,
                "count": str(count),
                "last_reason": letter.reason[:500],
                "last_dlq_id": letter.dlq_id,
            },
            first_seen=first_seen,
        )
        return (count, first_seen), exception

    return update


def _outcome_key(v: Verdict | DeadLetter) -> str:
    if isinstance(v, DeadLetter):
        return f"{v.topic or 'unknown'}|{Outcome.DEAD_LETTERED.value}"
    return f"{v.event.TOPIC}|{v.outcome.value}"


def _planning_builder(config: FlowConfig) -> Callable[[bytes | None], PlanningLogic]:
    planner_config = PlannerConfig(bucket=config.bucket, reschedule_out_days=config.reschedule_out_days)

    def build(resume: bytes | None) -> PlanningLogic:
        planner = pickle.loads(resume) if resume else PlantPlanner(plant="", config=planner_config)
        return PlanningLogic(planner, config)

    return build
