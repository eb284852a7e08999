"""The mfgsync dataflow, wired from the operators.

Decode -> per plant: guard (per sequencing key) -> inventory (per item@plant) -> planning
-> changelog outputs, with every input counted in exactly one outcome.

Only wiring lives here. The steps of a plant run together in one stateful step keyed by
plant, a thin bytewax `StatefulBatchLogic` that delegates to `PlantStep` in
`operators/steps.py` (where the route between steps is stated too), reads the clock for it,
and snapshots its plain state for recovery. So a record is exchanged between workers at
most once, from the worker that read it to the worker of its plant, and in one item with
the rest of its plant's records of the same batch (`plant_batches`).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, Protocol, TypeGuard, cast

import bytewax.operators as op
from bytewax.dataflow import Dataflow, Stream
from bytewax.inputs import Source
from bytewax.operators import StatefulBatchLogic
from bytewax.outputs import Sink

from mfgsync.connectors.jsonl import DEFAULT_MAX_RAW, RawRecord, dead_letter, decode_event
from mfgsync.flows.gc_tuning import collector_paused, planning_pass
from mfgsync.flows.placement import Placement
from mfgsync.operators.dedup import DEFAULT_HORIZON, DEFAULT_MAX_IDS, DedupWindow
from mfgsync.operators.grouping import SPLIT, PlanningGroups
from mfgsync.operators.guard import IngestGuard, Verdict
from mfgsync.operators.inventory import DEFAULT_TOLERANCE
from mfgsync.operators.pace import PlanningPace
from mfgsync.operators.parameters import PlantDefaults
from mfgsync.operators.planner import PlannerConfig, PlanningFact, PlantPlanner
from mfgsync.operators.schema_invalid import SchemaInvalidState, count_dead_letter, schema_invalid_key
from mfgsync.operators.sequencer import DEFAULT_MAX_BUFFER, DEFAULT_WAIT_S, Sequencer
from mfgsync.operators.steps import (
    GUARD,
    INVENTORY,
    NO_GROUPS,
    PLANNER,
    GuardStep,
    InventoryStep,
    Offsets,
    PlanningStep,
    PlantBatch,
    PlantOut,
    PlantStep,
    Published,
    advanced,
    outcome_of,
    plant_batches,
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
    placement: Placement = field(default_factory=Placement)
    """This process in its cluster (service mode): batches for other processes are packed."""
    groups: PlanningGroups = NO_GROUPS
    """Planning groups that split plants (`operators/grouping.py`); the events of a group are
    routed by its key, and the decoder (`grouped`) dead-letters a BOM that splits one."""
    snapshots: bool = True
    """False when no recovery store is configured: bytewax still asks every touched key for a
    snapshot each epoch, and copying a plant's planner then costs time for nothing."""
    plan_share: float = 0.5
    """Live mode: at most about this share of a worker's time goes to re-planning
    (`operators/pace.py`)."""
    catch_up_plan_s: float = 0.0
    """Live mode: while its records come from a backlog, a plant plans at most once per this
    many seconds and about a tenth of the time (0: as when live; `operators/pace.py`)."""
    handed_over: Callable[[int], None] | None = field(default=None, compare=False)
    """Told how many events of a batch leave for a plant on another process (service mode)."""
    catching_up: Callable[[], bool] | None = field(default=None, compare=False)
    """Whether this process reads a backlog (service mode: its consumer lag); asked per batch
    read, the answer travels with the batch to its plants (`PlantBatch.backlog`)."""
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


# -------------------------------------------------------------- step adapter

PlantSnapshot = dict[str, "bytes | PlannerSnapshot"]
"""A plant's recovery snapshot: every guard and stock position pickled on its own (under its
`PlantStep.dirty` name), and the planner as a `PlannerSnapshot` (pickled in parts)."""


def pack_remote(
    items: list[tuple[str, PlantBatch]], placement: Placement, sent: Callable[[int], None] | None = None
) -> Sequence[tuple[str, PlantBatch | bytes]]:
    """Each batch under its state key, pickled here once if bound for another process.

    timely pickles what leaves a process twice and bytes cost it a copy; a batch that stays
    is handed over as it is, so it is left alone (`flows/placement.py`). `sent` is told how
    many events left the process (none when the producers' partitions are aligned).
    """
    if placement.processes <= 1:
        return items if not placement.partitions else [(placement.state_key(k), b) for k, b in items]
    out: list[tuple[str, PlantBatch | bytes]] = []
    for key, batch in items:
        state_key = placement.state_key(key)
        if placement.remote(state_key):
            out.append((state_key, pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)))
            if sent is not None:
                sent(len(batch.events))
        else:
            out.append((state_key, batch))
    return out


def unpacked(batch: PlantBatch | bytes) -> PlantBatch:
    """A plant's batch as `pack_remote` sent it."""
    if isinstance(batch, bytes):
        value: PlantBatch = pickle.loads(batch)
        return value
    return batch


class PlantLogic(StatefulBatchLogic[PlantBatch | bytes, PlantOut, PlantSnapshot]):
    """Bytewax adapter of `PlantStep`: one plant's guards, stock positions and planner.

    It reads the clock the step is told. Its snapshot keeps each guard and stock position
    pickled on its own and re-pickles only those the epoch changed (the planner's packer does
    the same for plans and emitted records), so the cost of pickling an epoch's snapshot
    follows what changed, not the size of the plant.
    """

    def __init__(self, step: PlantStep, config: FlowConfig, encoded: PlantSnapshot | None = None) -> None:
        self.step = step
        self.config = config
        self.encoded: PlantSnapshot = dict(encoded or {})
        self.packer = SnapshotPacker()
        self.plan_wake: datetime | None = None

    def on_batch(self, values: list[PlantBatch | bytes]) -> tuple[Iterable[PlantOut], bool]:
        now = self.config.clock()
        batches = [unpacked(batch) for batch in values]
        if any(batch.backlog for batch in batches):
            self.step.planning.pace.read_backlog(now)
        events = batches[0].events if len(batches) == 1 else [e for batch in batches for e in batch.events]
        out: list[PlantOut] = self.step.offer(events, now.timestamp())
        planning = self.step.planning
        if planning.pending and planning.due(now, self._catching_up(now)):
            out.extend(self._plan())
        return out, StatefulBatchLogic.RETAIN  # else held for the end, or planned after the pause

    def on_notify(self) -> tuple[Iterable[PlantOut], bool]:
        # A guard's wait limit passed, the pause after a long pass is over, a pass held back
        # for catching up may run, or a new day moves every bucket.
        now = self.config.clock()
        out: list[PlantOut] = self.step.expire(now.timestamp())
        planning = self.step.planning
        catching_up = self._catching_up(now)
        new_day = not planning.pending and self.plan_wake is not None and now >= self.plan_wake
        if (new_day and not catching_up) or (
            (planning.pending or new_day) and planning.due(now, catching_up)
        ):
            out.extend(self._plan())
        return out, StatefulBatchLogic.RETAIN

    def on_eof(self) -> tuple[Iterable[PlantOut], bool]:
        out: list[PlantOut] = self.step.flush()
        out.extend(self._plan())
        return out, StatefulBatchLogic.RETAIN

    def _catching_up(self, now: datetime) -> bool:
        """Whether the plant is catching up: by its own records, or by this process's lag.

        The plant's memory of its last backlog records lasts `BACKLOG_MEMORY`, and a worker
        busy with other plants' passes can leave it without records for longer. While this
        process still lags, a plant that was catching up still is.
        """
        pace = self.step.planning.pace
        if pace.catching_up(now):
            return True
        behind = self.config.catching_up
        return pace.backlog_at is not None and behind is not None and behind()

    def _plan(self) -> list[OutputRecord]:
        started = self.config.clock()
        planning = self.step.planning
        published = self.config.published
        with planning_pass(planning.planner.items_to_net(self.config.planning_date())):
            if planning.adopt_published and published is not None and planning.planner.plant:
                planning.adopt(published)
                if self.config.on_adopted is not None:
                    self.config.on_adopted(planning.planner.shortages.current())
            facts, records = planning.plan(self.config.planning_date(), published)
        planning.pace.passed(started, self.config.clock())
        self.step.dirty.add(PLANNER)
        if self.config.observer is not None:
            self.config.observer.planned(planning.planner, facts, records)
        return records

    def notify_at(self) -> datetime | None:
        self.plan_wake = self.step.planning.wake_at(
            self.config.clock(), date_fixed=self.config.today is not None
        )
        deadlines = [d for d in (self.plan_wake, self.step.next_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    def snapshot(self) -> PlantSnapshot:
        dirty = self.step.take_dirty()
        if not self.config.snapshots:
            return {}
        for sub in dirty - {PLANNER}:
            self.encoded[sub] = pickle.dumps(self._sub_state(sub), protocol=pickle.HIGHEST_PROTOCOL)
        planning = self.step.planning
        if self.config.delivered is not None and not planning.adopt_published:
            # Adopted in this execution: every record of the plant the sink has delivered so
            # far was emitted in an epoch this snapshot covers.
            planner = planning.planner
            planner.published_through = advanced(planner.published_through, self.config.delivered())
        # Packed every time (what was delivered moves on); the packer re-pickles only the
        # plans and scopes that changed.
        self.encoded[PLANNER] = self.packer.pack(planning.planner)
        return dict(self.encoded)  # the values are immutable: a new dict is an immutable copy

    def _sub_state(self, sub: str) -> object:
        if sub.startswith(GUARD):
            return self.step.guards[sub.removeprefix(GUARD)].guard
        inventory = self.step.inventories[sub.removeprefix(INVENTORY)]
        return (inventory.position, inventory.held)


def plant_builder(config: FlowConfig) -> Callable[[PlantSnapshot | None], PlantLogic]:
    """Builds the adapter of a plant, fresh or from its snapshot."""
    planner_config = PlannerConfig(bucket=config.bucket, defaults=config.plant_defaults)
    dedup = DedupWindow(horizon=config.dedup_horizon, max_ids=config.dedup_max_ids)
    sequencer = Sequencer(key="", wait_s=config.wait_s, max_buffer=config.max_buffer)
    hold = config.plan_on == "eof"

    def build(resume: PlantSnapshot | None) -> PlantLogic:
        resume = resume or {}
        packed = resume.get(PLANNER)
        if isinstance(packed, PlannerSnapshot):
            with collector_paused():  # a restore rebuilds a heap of contributions, as a pass does
                planner = packed.restore()
        elif packed:  # the planner pickled whole
            planner = pickle.loads(packed)
        else:
            planner = PlantPlanner(plant="", config=planner_config)
        step = PlantStep(
            PlanningStep(
                planner,
                PlanningPace(share=config.plan_share, catch_up_s=config.catch_up_plan_s),
                at_end_only=hold,
                adopt_published=config.published is not None,
                groups=config.groups,
            ),
            dedup=dedup,
            sequencer=sequencer,
            tolerance=config.reconcile_tolerance,
            hold_until_end=hold,
        )
        for sub, encoded in resume.items():
            if not isinstance(encoded, bytes) or sub == PLANNER:
                continue
            if sub.startswith(GUARD):
                key = sub.removeprefix(GUARD)
                guard: IngestGuard = pickle.loads(encoded)
                step.guards[key] = GuardStep(guard)
                if guard.next_deadline() is not None:
                    step.waiting.add(key)
            elif sub.startswith(INVENTORY):
                inventory = InventoryStep(tolerance=config.reconcile_tolerance, hold_until_end=hold)
                inventory.position, inventory.held = pickle.loads(encoded)
                step.inventories[sub.removeprefix(INVENTORY)] = inventory
        return PlantLogic(step, config, resume)

    return build


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
        planner.restore_contributions()
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
            contributions={},  # derived, and most of the bytes: rebuilt on restore
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

    # One exchange per batch and plant (or group) at most: to its worker (operators/steps.py).
    behind = config.catching_up or (lambda: False)
    groups, placement, sent = config.groups, config.placement, config.handed_over
    keyed = op.flat_map_batch(
        "plant_batches",
        events,
        lambda batch: pack_remote(plant_batches(batch, backlog=behind(), groups=groups), placement, sent),
    )
    plant_out = op.key_rm("plant_unkey", op.stateful_batch("plant", keyed, plant_builder(config)))
    outcomes = op.branch("plant_verdict", plant_out, _is_verdict)
    verdicts = outcomes.trues
    plant_records = cast(Stream[OutputRecord], outcomes.falses)

    dead_kind = op.key_on("dead_letter_kind", dead, schema_invalid_key)
    schema_invalid = op.key_rm(
        "schema_invalid_unkey", op.stateful_map("schema_invalid", dead_kind, _schema_invalid)
    )
    records: Stream[OutputRecord] = op.merge("records", plant_records, dead, schema_invalid)
    topics = op.map("by_topic", records, lambda r: (r.TOPIC, r))
    all_verdicts: Stream[Verdict | DeadLetter] = op.merge("verdicts", verdicts, dead)
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


Decoder = Callable[[RawRecord], Event | DeadLetter]


def grouped(decode: Decoder, groups: PlanningGroups, max_raw: int = DEFAULT_MAX_RAW) -> Decoder:
    """`decode`, and a dead letter (`PLANNING_GROUP_SPLIT`) for a BOM that links two groups.

    Planned in its parent's group, such a BOM would leave its components' demand out of the
    other group's plan: a wrong answer, where a dead letter names the groups to change.
    """
    if not groups:
        return decode

    def decode_grouped(raw: RawRecord) -> Event | DeadLetter:
        item = decode(raw)
        if isinstance(item, Event) and (reason := groups.split_reason(item)) is not None:
            topic = item.TOPIC if raw.is_file else raw.origin
            return dead_letter(raw, SPLIT, reason, topic=topic, max_raw=max_raw)
        return item

    return decode_grouped


def build_flow(
    source: Source[RawRecord], sink: Sink[tuple[str, Any]], config: FlowConfig, *, counts: bool = True
) -> Dataflow:
    """The whole dataflow from a raw-record source to a topic-keyed sink."""
    flow = Dataflow("mfgsync")
    raw = op.input("read", flow, source)
    streams = build_core(flow, op.map("decode", raw, grouped(decode_event, config.groups)), config)
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
