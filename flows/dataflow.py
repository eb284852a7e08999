"""The mfgsync dataflow, wired from the operators.

Decode -> guard (per sequencing key) -> inventory (per item@plant) -> planning (per plant)
-> changelog outputs, with every input counted in exactly one outcome.

Only wiring lives here. Each stateful step is a thin bytewax `StatefulLogic` that delegates
to its step in `operators/steps.py` (where the route between steps is stated too), reads
the clock for it, and snapshots its plain state for recovery.
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol, TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic, StatefulLogic
from bytewax.outputs import Sink

from mfgsync.connectors.jsonl import RawRecord, decode_event
from mfgsync.operators.dedup import DEFAULT_HORIZON, DEFAULT_MAX_IDS, DedupWindow
from mfgsync.operators.guard import IngestGuard, Verdict
from mfgsync.operators.inventory import DEFAULT_TOLERANCE, InventoryPosition
from mfgsync.operators.pace import PlanningPace
from mfgsync.operators.parameters import PlantDefaults
from mfgsync.operators.planner import PlannerConfig, PlanningFact, PlantPlanner
from mfgsync.operators.schema_invalid import SchemaInvalidState, count_dead_letter, schema_invalid_key
from mfgsync.operators.sequencer import DEFAULT_MAX_BUFFER, DEFAULT_WAIT_S, Sequencer
from mfgsync.operators.steps import (
    GuardOut,
    GuardStep,
    InventoryOut,
    InventoryStep,
    Offsets,
    PlanningStep,
    Published,
    StockEvent,
    advanced,
    applied,
    inventory_key,
    is_admitted,
    is_planning_fact,
    is_stock_event,
    outcome_of,
    planning_key,
)
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import DeadLetter, OutcomeCount, OutputRecord, SyncException
from mfgsync.schemas.vocabulary import COUNTS

Clock = Callable[[], datetime]


class PlanObserver(Protocol):
    """Watches planning passes: the plant's planner, the facts of the batch, what was emitted."""

    def planned(
        self, planner: PlantPlanner, facts: Sequence[PlanningFact], records: Sequence[OutputRecord]
    ) -> None: ...


def system_clock() -> datetime:
    """Processing time, UTC."""
    return datetime.now(UTC)


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
    plant_defaults: PlantDefaults = field(default_factory=PlantDefaults)
    """Plant-wide defaults of the per-item planning parameters (an item's own value wins)."""
    snapshots: bool = True
    """False when no recovery store is configured: bytewax still asks every touched key for a
    snapshot each epoch, and copying a plant's planner then costs time for nothing."""
    plan_share: float = 0.5
    """Live mode: at most about this share of a worker's time goes to re-planning
    (`operators/pace.py`)."""
    clock: Clock = field(default=system_clock, compare=False)
    published: Published | None = field(default=None, compare=False)
    """What a plant already published (service mode), adopted by its planner on start."""
    delivered: Callable[[], Offsets] | None = field(default=None, compare=False)
    """Per output topic partition, the offset after the last record this process delivered
    (service mode): a planner's snapshot reflects every record of its plant below it."""
    on_adopted: Callable[[Sequence[OutputRecord]], None] | None = field(default=None, compare=False)
    """Told a plant's live records once its planner has adopted what was published (service mode)."""
    observer: PlanObserver | None = field(default=None, compare=False)
    """Told about every planning pass (service mode: metrics and status)."""

    def planning_date(self) -> date:
        """The date plans are made for."""
        return self.today if self.today is not None else self.clock().date()


# ------------------------------------------------------------- step adapters


class GuardLogic(StatefulLogic[Event, GuardOut, IngestGuard]):
    """Bytewax adapter of `GuardStep`: one sequencing key."""

    def __init__(self, step: GuardStep, config: FlowConfig) -> None:
        self.step = step
        self.config = config

    def on_item(self, value: Event) -> tuple[Iterable[GuardOut], bool]:
        return self.step.offer(value, self.config.clock().timestamp()), StatefulLogic.RETAIN

    def on_notify(self) -> tuple[Iterable[GuardOut], bool]:
        return self.step.expire(self.config.clock().timestamp()), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[GuardOut], bool]:
        return self.step.flush(), StatefulLogic.RETAIN

    def notify_at(self) -> datetime | None:
        return self.step.next_deadline()

    def snapshot(self) -> IngestGuard | None:  # type: ignore[override]
        return copy.deepcopy(self.step.guard) if self.config.snapshots else None


def guard_builder(config: FlowConfig) -> Callable[[IngestGuard | None], GuardLogic]:
    """Builds the guard adapter of a sequencing key, fresh or from its snapshot."""
    dedup = DedupWindow(horizon=config.dedup_horizon, max_ids=config.dedup_max_ids)
    sequencer = Sequencer(key="", wait_s=config.wait_s, max_buffer=config.max_buffer)

    def build(resume: IngestGuard | None) -> GuardLogic:
        step = GuardStep(resume) if resume is not None else GuardStep.new(dedup, sequencer)
        return GuardLogic(step, config)

    return build


InventoryState = tuple[InventoryPosition, list[StockEvent]]


class InventoryLogic(StatefulLogic[StockEvent, InventoryOut, InventoryState]):
    """Bytewax adapter of `InventoryStep`: one item@plant."""

    def __init__(self, step: InventoryStep, config: FlowConfig) -> None:
        self.step = step
        self.config = config

    def on_item(self, value: StockEvent) -> tuple[Iterable[InventoryOut], bool]:
        return self.step.take(value), StatefulLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[InventoryOut], bool]:
        return self.step.finish(), StatefulLogic.RETAIN

    def snapshot(self) -> InventoryState | None:  # type: ignore[override]
        if not self.config.snapshots:
            return None
        return copy.deepcopy((self.step.position, self.step.held))


def inventory_builder(config: FlowConfig) -> Callable[[InventoryState | None], InventoryLogic]:
    """Builds the inventory adapter of an item@plant, fresh or from its snapshot."""

    def build(resume: InventoryState | None) -> InventoryLogic:
        step = InventoryStep(tolerance=config.reconcile_tolerance, hold_until_end=config.plan_on == "eof")
        if resume is not None:
            step.position, step.held = resume
        return InventoryLogic(step, config)

    return build


class PlanningLogic(StatefulBatchLogic[PlanningFact, OutputRecord, "PlannerSnapshot | bytes"]):
    """Bytewax adapter of `PlanningStep`: one plant. It reads the clock the step is told."""

    def __init__(self, step: PlanningStep, config: FlowConfig) -> None:
        self.step = step
        self.config = config
        self.packer = SnapshotPacker()

    def on_batch(self, values: list[PlanningFact]) -> tuple[Iterable[OutputRecord], bool]:
        if self.step.take(values) and self.step.due(self.config.clock()):
            return self._plan(), StatefulBatchLogic.RETAIN
        return [], StatefulBatchLogic.RETAIN  # held for the end, or on_notify plans after the pause

    def on_notify(self) -> tuple[Iterable[OutputRecord], bool]:
        # Either the pause after a long pass is over, or a new day moves every bucket.
        return self._plan(), StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[OutputRecord], bool]:
        return self._plan(), StatefulBatchLogic.RETAIN

    def _plan(self) -> list[OutputRecord]:
        started = self.config.clock()
        published = self.config.published
        if self.step.adopt_published and published is not None and self.step.planner.plant:
            self.step.adopt(published)
            if self.config.on_adopted is not None:
                self.config.on_adopted(self.step.planner.shortages.current())
        facts, records = self.step.plan(self.config.planning_date(), published)
        self.step.pace.passed(started, self.config.clock())
        if self.config.observer is not None:
            self.config.observer.planned(self.step.planner, facts, records)
        return records

    def notify_at(self) -> datetime | None:
        return self.step.wake_at(self.config.clock(), date_fixed=self.config.today is not None)

    def snapshot(self) -> PlannerSnapshot | bytes:
        if not self.config.snapshots:
            return b""
        planner = self.step.planner
        if self.config.delivered is not None and not self.step.adopt_published:
            # Adopted in this execution: every record of the plant the sink has delivered so
            # far was emitted in an epoch this snapshot covers.
            planner.published_through = advanced(planner.published_through, self.config.delivered())
        return self.packer.pack(planner)


CHANGELOGS = ("triggers", "shortages", "availability", "exceptions")
"""The planner's changelogs, in the order a `PlannerSnapshot` keeps them."""


@dataclass(frozen=True)
class PlannerSnapshot:
    """A plant's planner as its snapshot keeps it: pickled in parts.

    An item's plan and a scope's emitted records are pickled apart from the rest, so that a
    snapshot re-pickles only the plans and scopes that changed since the previous one (most
    of a plant's state, and seconds per epoch when pickled whole). Restored whole: a start
    needs no re-planning, and reads back only what was published after the snapshot.
    """

    planner: bytes
    """The planner without its plans and emitted records."""
    plans: dict[str, bytes]
    emitted: tuple[dict[str, bytes], ...]
    """Per changelog (`CHANGELOGS`), per scope: its `{id: record}`."""

    def restore(self) -> PlantPlanner:
        """The planner; its plans and emitted records are unpickled when first used.

        Most of a plant's items are not netted again soon after a start, and unpickling all
        of them was most of the time a start spends loading its state.
        """
        planner: PlantPlanner = pickle.loads(self.planner)
        planner.plans = LazyPickles(self.plans)
        for name, scopes in zip(CHANGELOGS, self.emitted, strict=True):
            getattr(planner, name).emitted = LazyPickles(scopes)
        return planner


class _Pickled(bytes):
    """A value of a `LazyPickles` not unpickled yet."""


class LazyPickles(dict[str, Any]):
    """A dict restored from pickled values that unpickles each value when it is first read.

    Reading a value (`d[k]`, `get`, `pop`, `setdefault`, `values`, `items`, comparing)
    gives it unpickled; keys, membership and length need no unpickling. `packed` gives a
    value's bytes without unpickling it (snapshots of what was not touched). Pickled, it is
    a plain dict.
    """

    def __init__(self, pickled: dict[str, bytes]) -> None:
        super().__init__({key: _Pickled(data) for key, data in pickled.items()})

    def _value(self, key: str, value: Any) -> Any:
        if type(value) is _Pickled:
            value = pickle.loads(value)
            super().__setitem__(key, value)
        return value

    def packed(self, key: str) -> bytes | None:
        """The pickled bytes of a value not read since the restore (None: it was read)."""
        value = super().get(key)
        return bytes(value) if type(value) is _Pickled else None

    def __getitem__(self, key: str) -> Any:
        return self._value(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        return self._value(key, super().__getitem__(key)) if key in self else default

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            return super().pop(key, *default)
        value = self[key]
        super().pop(key)
        return value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self[key]
        super().__setitem__(key, default)
        return default

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def values(self) -> Any:
        return [self[key] for key in self]

    def items(self) -> Any:
        return [(key, self[key]) for key in self]

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        return dict(self.items()) == (dict(other.items()) if isinstance(other, LazyPickles) else other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self.items()),))

    def __repr__(self) -> str:
        return f"LazyPickles({dict(self.items())!r})"


class SnapshotPacker:
    """Packs a planner into a `PlannerSnapshot`, re-pickling only plans and scopes that changed.

    Plans and records are immutable values that a pass replaces when they change, so the
    same object means the same bytes: the packer remembers the bytes of what it last packed
    by identity (and keeps those objects alive, so an identity is never reused meanwhile).
    """

    def __init__(self) -> None:
        self.plans: dict[str, tuple[object, bytes]] = {}
        self.scopes: tuple[dict[str, tuple[object, bytes]], ...] = tuple({} for _ in CHANGELOGS)

    def pack(self, planner: PlantPlanner) -> PlannerSnapshot:
        plans, self.plans = _packed(_entries(planner.plans, lambda plan: plan), self.plans)
        emitted = []
        scopes = []
        for name, cache in zip(CHANGELOGS, self.scopes, strict=True):
            log = getattr(planner, name)
            packed, kept = _packed(_entries(log.emitted, lambda by_id: tuple(by_id.values())), cache)
            emitted.append(packed)
            scopes.append(kept)
        self.scopes = tuple(scopes)
        lean = replace(
            planner,
            plans={},
            **{name: replace(getattr(planner, name), emitted={}) for name in CHANGELOGS},
        )
        return PlannerSnapshot(
            planner=pickle.dumps(lean, protocol=pickle.HIGHEST_PROTOCOL), plans=plans, emitted=tuple(emitted)
        )


def _entries(
    values: dict[str, Any], identity: Callable[[Any], object]
) -> Iterator[tuple[str, object, object]]:
    """`(key, identity, value)`; for a value of a `LazyPickles` never read, its bytes as both."""
    lazy = values if isinstance(values, LazyPickles) else None
    for key in values:
        data = lazy.packed(key) if lazy is not None else None
        if data is not None:
            yield key, data, data
        else:
            value = values[key]
            yield key, identity(value), value


def _packed(
    values: Iterable[tuple[str, object, object]], cache: dict[str, tuple[object, bytes]]
) -> tuple[dict[str, bytes], dict[str, tuple[object, bytes]]]:
    """Pickled bytes per key, from `cache` when its identity key is the same; and the new cache."""
    out: dict[str, bytes] = {}
    kept: dict[str, tuple[object, bytes]] = {}
    for key, identity, value in values:
        hit = cache.get(key)
        if isinstance(value, bytes) and value is identity:
            data = value  # still as restored: its bytes are the snapshot's
        elif hit is not None and _same_objects(hit[0], identity):
            data = hit[1]
        else:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        out[key] = data
        kept[key] = (identity, data)
    return out, kept


def _same_objects(a: object, b: object) -> bool:
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
    return a is b


def planning_builder(config: FlowConfig) -> Callable[[PlannerSnapshot | bytes | None], PlanningLogic]:
    """Builds the planning adapter of a plant, fresh or from its snapshot."""
    planner_config = PlannerConfig(bucket=config.bucket, defaults=config.plant_defaults)

    def build(resume: PlannerSnapshot | bytes | None) -> PlanningLogic:
        if isinstance(resume, PlannerSnapshot):
            planner = resume.restore()
        elif resume:  # a snapshot of an earlier version: the planner pickled whole
            planner = pickle.loads(resume)
        else:
            planner = PlantPlanner(plant="", config=planner_config)
        step = PlanningStep(
            planner,
            PlanningPace(share=config.plan_share),
            at_end_only=config.plan_on == "eof",
            adopt_published=config.published is not None,
        )
        return PlanningLogic(step, config)

    return build


# ---------------------------------------------------------------------- wiring


@dataclass(frozen=True)
class FlowStreams:
    """The streams a caller attaches sinks to: records by topic, and outcome verdicts."""

    records: Stream[tuple[str, OutputRecord]]
    verdicts: Stream[Verdict | DeadLetter]


def build_core(flow: Dataflow, items: Stream[Event | DeadLetter], config: FlowConfig) -> FlowStreams:
    """Wire guard, inventory and planning onto decoded `items`; return the output streams."""
    split = op.branch("valid", items, _is_event)
    events = split.trues
    dead = cast(Stream[DeadLetter], split.falses)  # what is not an event is a dead letter

    keyed = op.key_on("guard_key", events, lambda e: e.guard_key())
    guarded = op.stateful("guard", keyed, guard_builder(config))
    guard_out = op.branch("guard_verdict", op.key_rm("guard_unkey", guarded), _is_verdict)
    verdicts = guard_out.trues
    guard_exceptions = cast(Stream[SyncException], guard_out.falses)

    admitted = op.branch("admitted", verdicts, is_admitted)
    admitted_events = op.map("admitted_event", admitted.trues, lambda v: v.event)
    stock_split = op.branch("stock", admitted_events, is_stock_event)

    inv_keyed = op.key_on("item_at_plant", stock_split.trues, inventory_key)
    inventory = op.key_rm("inventory_unkey", op.stateful("inventory", inv_keyed, inventory_builder(config)))
    inv_facts = op.branch("inventory_fact", inventory, is_planning_fact)
    inv_rest = op.branch("inventory_verdict", inv_facts.falses, _is_verdict)
    inv_exceptions = cast(Stream[SyncException], inv_rest.falses)

    planning_events = stock_split.falses
    planning_verdicts = op.map("planning_applied", planning_events, applied)
    facts: Stream[PlanningFact] = op.merge("facts", planning_events, inv_facts.trues)
    by_plant = op.key_on("plant", facts, planning_key)
    planned = op.key_rm(
        "planning_unkey",
        op.stateful_batch("planning", by_plant, planning_builder(config)),
    )

    dead_kind = op.key_on("dead_letter_kind", dead, schema_invalid_key)
    schema_invalid = op.key_rm(
        "schema_invalid_unkey", op.stateful_map("schema_invalid", dead_kind, _schema_invalid)
    )
    records: Stream[OutputRecord] = op.merge(
        "records", planned, guard_exceptions, inv_exceptions, dead, schema_invalid
    )
    topics = op.map("by_topic", records, lambda r: (r.TOPIC, r))
    all_verdicts: Stream[Verdict | DeadLetter] = op.merge(
        "verdicts", admitted.falses, inv_rest.trues, planning_verdicts, dead
    )
    return FlowStreams(records=topics, verdicts=all_verdicts)


def _is_event(item: Event | DeadLetter) -> TypeGuard[Event]:
    return isinstance(item, Event)


def _is_verdict(item: object) -> TypeGuard[Verdict]:
    return isinstance(item, Verdict)


def count_outcomes(verdicts: Stream[Verdict | DeadLetter]) -> Stream[tuple[str, OutcomeCount]]:
    """Counts per topic and outcome at end of input (finite runs only)."""
    keyed = op.map("outcome_key", verdicts, outcome_key)
    counted = op.count_final("count_outcomes", keyed, lambda k: k)
    return op.map(
        "outcome_record",
        counted,
        lambda kc: (
            COUNTS,
            OutcomeCount(count_id=kc[0], topic=kc[0].split("|")[0], outcome=kc[0].split("|")[1], count=kc[1]),
        ),
    )


def build_flow(
    source: Source[RawRecord], sink: Sink[tuple[str, Any]], config: FlowConfig, *, counts: bool = True
) -> Dataflow:
    """The whole dataflow from a raw-record source to a topic-keyed sink."""
    flow = Dataflow("mfgsync")
    raw = op.input("read", flow, source)
    streams = build_core(flow, op.map("decode", raw, decode_event), config)
    out: Stream[tuple[str, Any]] = streams.records
    if counts:
        out = op.merge("with_counts", out, count_outcomes(streams.verdicts))
    op.output("write", out, sink)
    return flow


def _schema_invalid(
    state: SchemaInvalidState | None, letter: DeadLetter
) -> tuple[SchemaInvalidState, SyncException]:
    """`count_dead_letter`: the same in service and replay (its first-seen time is from the input)."""
    return count_dead_letter(state, letter)


def outcome_key(v: Verdict | DeadLetter) -> str:
    """`topic|outcome` of a terminal verdict or dead letter."""
    topic, outcome = outcome_of(v)
    return f"{topic}|{outcome.value}"
