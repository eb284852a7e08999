"""The dataflow's stateful steps, record by record, as plain objects (SPEC 3 to 6).

    decode -> guard (per sequencing key) -> inventory (per item@plant) -> planning (per plant)

All three keys name one plant, so `PlantStep` composes them: the guards, stock positions and
planner of one plant, and the route between them, in one object. `flows/dataflow.py` wires
it into bytewax as one stateful step keyed by plant (`plant_key`), fed one item per plant
and batch (`plant_batches`), so a record crosses at most one exchange between workers (from
the worker that read it to the worker of its plant; README, "Scaling over processes").
With planning groups (`operators/grouping.py`) the key is the plant's group of the event's
item instead, and a `PlantStep` holds one group of a plant: its guards, positions and planner.
The property tests drive the same `PlantStep` in one process. A step's state is plain data
and is also what its bytewax adapter snapshots, split by sub-key (`PlantStep.dirty`) so an
epoch's snapshot re-encodes only what changed. The rules of the route between steps:

- The guard decides DEDUPLICATED and SUPERSEDED (a stale state version) itself; those are
  final outcomes. What it admits goes on.
- An admitted stock event (an `InventoryMovement` or `InventorySnapshot`) goes to the
  inventory step of its item@plant, which decides APPLIED or SUPERSEDED (already inside a
  snapshot). Every applied stock event hands the new `PositionChanged` to planning, and an
  ISSUE movement that names an order (`reference`) also hands a `ComponentIssued` fact to
  planning, applied or not: what was issued to an order is netted against the order's
  requirement even when its stock effect is already inside a snapshot.
- Every other admitted event is APPLIED and is itself a planning fact of its plant.
- Every input ends in exactly one outcome (`outcome_of`): read = applied + deduplicated +
  superseded + dead-lettered.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple, TypeGuard

from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.grouping import PlanningGroups, event_item
from mfgsync.operators.guard import IngestGuard, Outcome, Verdict
from mfgsync.operators.inventory import (
    DEFAULT_TOLERANCE,
    ComponentIssued,
    InventoryPosition,
    PositionChanged,
    wms_order,
)
from mfgsync.operators.pace import PlanningPace
from mfgsync.operators.planner import PlanningFact, PlantPlanner
from mfgsync.operators.schema_invalid import UNKNOWN_TOPIC
from mfgsync.operators.sequencer import Sequencer
from mfgsync.schemas.events import Event, InventoryMovement, InventorySnapshot
from mfgsync.schemas.outputs import DeadLetter, OutputRecord, SyncException
from mfgsync.schemas.vocabulary import item_key

StockEvent = InventoryMovement | InventorySnapshot
GuardOut = Verdict | SyncException
InventoryOut = PositionChanged | ComponentIssued | Verdict | SyncException
Offsets = Mapping[tuple[str, int], int]
"""Per output topic partition `(topic, partition)`, an offset."""


@dataclass(frozen=True)
class Adoption:
    """What a plant published from given offsets on: its latest records, and where they end."""

    records: Sequence[OutputRecord]
    through: Offsets
    """The offsets read up to: every record of the plant below them was read or is older."""


Published = Callable[[str, Offsets], Adoption]
"""What one plant published from its `published_through` offsets on (read back from the
changelogs)."""


def advanced(offsets: Offsets, to: Offsets) -> dict[tuple[str, int], int]:
    """`offsets` moved forward to `to` where that is further (never back)."""
    out = dict(offsets)
    for tp, offset in to.items():
        if offset > out.get(tp, -1):
            out[tp] = offset
    return out


# ---------------------------------------------------------------------- routing


def is_admitted(verdict: Verdict) -> bool:
    """The guard let the event through (its final outcome is decided downstream)."""
    return verdict.outcome is Outcome.APPLIED


def is_stock_event(event: Event) -> TypeGuard[StockEvent]:
    """Stock events go to the inventory step; every other admitted event goes to planning."""
    return isinstance(event, InventoryMovement | InventorySnapshot)


def inventory_key(event: StockEvent) -> str:
    """The inventory step's key: item@plant."""
    return item_key(event.item, event.plant)


def planning_key(fact: PlanningFact) -> str:
    """The planning step's key: the plant."""
    return fact.plant


NO_GROUPS = PlanningGroups()
"""Every plant planned whole."""


def plant_key(event: Event, groups: PlanningGroups = NO_GROUPS) -> str:
    """The key of the composed step (`PlantStep`): the plant (or group) every step of the event is in.

    The guard key (`Event.guard_key`), the inventory key (item@plant) and the planning key
    all name the event's plant, so routing once by plant puts all of an event's work on one
    worker. With planning groups it is the group of the event's item (`PlanningGroups.key`):
    its sequencing key, item@plant and plan are all in that group.
    """
    return groups.event_key(event) if groups else event.plant


class PlantBatch(NamedTuple):
    """A plant's events of one batch, as they cross from the worker that read them."""

    events: tuple[Event, ...]
    backlog: bool = False
    """Read by a worker whose partitions lag behind: the plant is catching up on them."""


def plant_batches(
    events: Sequence[Event], *, backlog: bool = False, groups: PlanningGroups = NO_GROUPS
) -> list[tuple[str, PlantBatch]]:
    """A batch of events as one `(plant_key, PlantBatch)` item per plant, each plant's in order.

    What crosses between workers is then one item per plant and batch: pickled once with
    its classes and strings shared, about a quarter of the bytes and CPU of pickling each
    event on its own (what two processes otherwise spend most of their extra time on).
    `backlog` travels with the events, so a plant knows it is catching up when any reader
    of its records is, not only when its own process is. With `groups`, one item per group.
    """
    by_plant: defaultdict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_plant[plant_key(event, groups)].append(event)
    return [(key, PlantBatch(tuple(chunk), backlog)) for key, chunk in by_plant.items()]


def fact_item(fact: PlanningFact) -> str:
    """The item a planning fact is about (a BOM revision: its parent; an issue: the component)."""
    return fact.item if isinstance(fact, PositionChanged | ComponentIssued) else event_item(fact)


def is_planning_fact(item: InventoryOut) -> TypeGuard[PositionChanged | ComponentIssued]:
    """What the inventory step hands to planning (the rest are outcomes and exceptions)."""
    return isinstance(item, PositionChanged | ComponentIssued)


def applied(event: Event) -> Verdict:
    """The outcome of an admitted event that goes straight to planning."""
    return Verdict(event, Outcome.APPLIED)


def topic_of(item: Event | DeadLetter) -> str:
    """The input topic a decoded record came from (`unknown` for a dead letter without one)."""
    if isinstance(item, DeadLetter):
        return item.topic or UNKNOWN_TOPIC
    return item.TOPIC


def outcome_of(item: Verdict | DeadLetter) -> tuple[str, Outcome]:
    """The input topic and final outcome of one input record."""
    if isinstance(item, DeadLetter):
        return topic_of(item), Outcome.DEAD_LETTERED
    return item.event.TOPIC, item.outcome


# ------------------------------------------------------------------- guard step


@dataclass
class GuardStep:
    """Dedup and sequencing of one sequencing key (`Event.guard_key`)."""

    guard: IngestGuard

    @classmethod
    def new(cls, dedup: DedupWindow, sequencer: Sequencer) -> GuardStep:
        """A guard with the bounds of the templates; it takes its key from its first event."""
        return cls(IngestGuard.for_key("", dedup, sequencer))

    def offer(self, event: Event, now_s: float) -> list[GuardOut]:
        """Take one event at processing time `now_s`: verdicts (its own and released ones), exceptions."""
        if not self.guard.sequencer.key:
            self.guard.sequencer.key = event.guard_key()
        verdicts, exceptions = self.guard.offer(event, now_s)
        return [*verdicts, *exceptions]

    def expire(self, now_s: float) -> list[GuardOut]:
        """Release what waited past the wait limit."""
        verdicts, exceptions = self.guard.expire(now_s)
        return [*verdicts, *exceptions]

    def flush(self) -> list[GuardOut]:
        """End of input: release everything buffered."""
        verdicts, exceptions = self.guard.flush()
        return [*verdicts, *exceptions]

    def next_deadline(self) -> datetime | None:
        """When `expire` has something to release (processing time)."""
        deadline = self.guard.next_deadline()
        return None if deadline is None else datetime.fromtimestamp(deadline, UTC)


# --------------------------------------------------------------- inventory step


@dataclass
class InventoryStep:
    """Stock position of one item@plant.

    Live, stock events apply as they come. With `hold_until_end` (replays) they are held and
    applied at end of input in WMS order (`wms_order`), so every output, exceptions
    included, is the same however the input was interleaved or spread over workers.
    """

    position: InventoryPosition = field(default_factory=lambda: InventoryPosition(plant="", item=""))
    held: list[StockEvent] = field(default_factory=list)
    tolerance: float = DEFAULT_TOLERANCE
    hold_until_end: bool = False

    def take(self, event: Event) -> list[InventoryOut]:
        """One admitted stock event; a planning event here is a wiring error (TypeError)."""
        if not is_stock_event(event):
            msg = f"inventory does not take {type(event).__name__}"
            raise TypeError(msg)
        if not self.position.item:  # keyed steps are not told their key
            self.position.plant, self.position.item = event.plant, event.item
        if self.hold_until_end:
            self.held.append(event)
            return []
        return self.apply(event)

    def finish(self) -> list[InventoryOut]:
        """End of input: apply what was held, in WMS order."""
        held, self.held = wms_order(self.held), []
        return [out for event in held for out in self.apply(event)]

    def apply(self, event: StockEvent) -> list[InventoryOut]:
        """Apply one stock event: planning facts, then its outcome, then exceptions."""
        out: list[InventoryOut] = []
        if isinstance(event, InventoryMovement):
            was_applied, exceptions = self.position.apply_movement(event)
            if event.movement_type == "ISSUE" and event.reference:
                out.append(
                    ComponentIssued(event.plant, event.item, event.reference, event.qty, event.event_id)
                )
        else:
            was_applied, exceptions = self.position.apply_snapshot(event, self.tolerance)
        if was_applied:
            out.append(
                PositionChanged(
                    event.plant, event.item, self.position.position(), event.event_id, event.event_time.date()
                )
            )
        out.append(Verdict(event, Outcome.APPLIED if was_applied else Outcome.SUPERSEDED))
        out.extend(exceptions)
        return out


# ---------------------------------------------------------------- planning step


@dataclass
class PlanningStep:
    """Planning of one plant: facts in, a planning pass when one is due, records out.

    Live, a pass runs after a batch of facts when the pace allows (`PlanningPace`), when the
    pause after a long pass ends, and at midnight UTC when the planning date moves with the
    processing date. With `at_end_only` (replays) facts are only applied, and one pass runs
    at end of input. Before the first pass after a start the planner adopts what its plant
    already published (`adopt_published`), so that pass withdraws what is no longer true.
    """

    planner: PlantPlanner
    pace: PlanningPace = field(default_factory=PlanningPace)
    at_end_only: bool = False
    adopt_published: bool = False
    groups: PlanningGroups = NO_GROUPS
    """The planning groups the step's plant is split by (its planner plans one of them)."""
    pending: list[PlanningFact] = field(default_factory=list)
    """Facts applied since the last pass (handed to the pass's observer)."""

    def take(self, facts: Sequence[PlanningFact]) -> bool:
        """Apply a batch of facts; True when they wait for a pass (False: held for the end)."""
        if not self.planner.plant and facts:
            first = facts[0]
            self.planner.plant = first.plant
            self.planner.group = self.groups.group_of(first.plant, fact_item(first))
        for fact in facts:
            self.planner.apply(fact)
        if self.at_end_only:
            return False
        self.pending.extend(facts)
        return True

    def due(self, now: datetime, catching_up: bool = False) -> bool:
        """A pass may run at `now` (see `PlanningPace.due`)."""
        return self.pace.due(now, catching_up)

    def plan(
        self, today: date, published: Published | None = None
    ) -> tuple[list[PlanningFact], list[OutputRecord]]:
        """One planning pass for `today`: the facts it covers and the records to emit.

        The caller reports the pass's duration to `pace` (`PlanningPace.passed`).
        """
        facts, self.pending = self.pending, []
        if self.adopt_published and published is not None and self.planner.plant:
            self.adopt(published)
        return facts, self.planner.plan(today)

    def adopt(self, published: Published) -> int:
        """Adopt what the plant published after its snapshot; return how many records differed.

        Only records from the planner's `published_through` offsets on are read: everything
        below is reflected in its state already. Afterwards everything read is, so the
        offsets move to the end of what was read.
        """
        planner = self.planner
        adoption = published(planner.plant, planner.published_through)
        records = adoption.records
        if self.groups:  # the plant's other groups made the rest
            key = planner.key()
            records = [record for record in records if self.groups.owns(key, record)]
        changed = planner.adopt(records)
        planner.published_through = advanced(planner.published_through, adoption.through)
        self.adopt_published = False
        return changed

    def wake_at(self, now: datetime, *, date_fixed: bool) -> datetime | None:
        """When the next pass is due without new facts: the pause's end, or the next day."""
        if self.at_end_only:
            return None
        if self.pending:
            return self.pace.wake_at(now)
        if date_fixed:
            return None
        tomorrow = now.date() + timedelta(days=1)
        return datetime(tomorrow.year, tomorrow.month, tomorrow.day, tzinfo=UTC)


# ------------------------------------------------------------ the plant, composed

PlantOut = Verdict | SyncException | OutputRecord
"""What the composed step emits: final verdicts, exceptions, and planning's records."""

GUARD = "g|"
INVENTORY = "i|"
PLANNER = "p|"
"""Prefixes of `PlantStep.dirty` sub-keys: a guard key, an item@plant, the planner."""


@dataclass
class PlantStep:
    """Guard, inventory and planning of one plant, with the route between them (above).

    Guards are created per sequencing key from the templates, stock positions per item. Every
    call returns final outcomes (each input exactly once), exceptions and, when a pass runs,
    planning's records. `dirty` names the sub-states changed since the caller last took it
    (`take_dirty`), so a snapshot encodes only those.
    """

    planning: PlanningStep
    dedup: DedupWindow = field(default_factory=DedupWindow)
    sequencer: Sequencer = field(default_factory=lambda: Sequencer(key=""))
    tolerance: float = DEFAULT_TOLERANCE
    hold_until_end: bool = False
    guards: dict[str, GuardStep] = field(default_factory=dict)
    inventories: dict[str, InventoryStep] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    waiting: set[str] = field(default_factory=set)
    """Guard keys holding events until a deadline (`next_deadline`)."""

    def offer(self, events: Iterable[Event], now_s: float) -> list[PlantOut]:
        """Take events at processing time `now_s`; planning's facts wait for `plan`."""
        out: list[PlantOut] = []
        facts: list[PlanningFact] = []
        for event in events:
            key = event.guard_key()
            guard = self.guards.get(key)
            if guard is None:
                guard = self.guards[key] = GuardStep(IngestGuard.for_key(key, self.dedup, self.sequencer))
            self._route(key, guard.offer(event, now_s), out, facts)
        self._facts(facts)
        return out

    def expire(self, now_s: float) -> list[PlantOut]:
        """Release what waited past the wait limit in any guard."""
        out: list[PlantOut] = []
        facts: list[PlanningFact] = []
        for key in sorted(self.waiting):
            deadline = self.guards[key].guard.next_deadline()
            if deadline is not None and deadline <= now_s:
                self._route(key, self.guards[key].expire(now_s), out, facts)
        self._facts(facts)
        return out

    def flush(self) -> list[PlantOut]:
        """End of input: release every guard, then apply held stock events in WMS order."""
        out: list[PlantOut] = []
        facts: list[PlanningFact] = []
        for key, guard in self.guards.items():
            self._route(key, guard.flush(), out, facts)
        for item, step in self.inventories.items():
            self._inventory_out(item, step.finish(), out, facts)
        self._facts(facts)
        return out

    def next_deadline(self) -> datetime | None:
        """When `expire` has something to release (processing time)."""
        deadlines = [d for key in self.waiting if (d := self.guards[key].next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def take_dirty(self) -> set[str]:
        """The sub-states changed since the last call (and forget them)."""
        dirty, self.dirty = self.dirty, set()
        return dirty

    def _route(
        self, key: str, released: list[GuardOut], out: list[PlantOut], facts: list[PlanningFact]
    ) -> None:
        self.dirty.add(GUARD + key)
        if self.guards[key].guard.next_deadline() is None:
            self.waiting.discard(key)
        else:
            self.waiting.add(key)
        for item in released:
            if isinstance(item, SyncException) or not is_admitted(item):
                out.append(item)
            elif is_stock_event(item.event):
                stock = item.event
                ikey = inventory_key(stock)
                step = self.inventories.get(ikey)
                if step is None:
                    step = self.inventories[ikey] = InventoryStep(
                        tolerance=self.tolerance, hold_until_end=self.hold_until_end
                    )
                self._inventory_out(ikey, step.take(stock), out, facts)
            else:
                out.append(applied(item.event))
                facts.append(item.event)

    def _inventory_out(
        self, ikey: str, items: list[InventoryOut], out: list[PlantOut], facts: list[PlanningFact]
    ) -> None:
        self.dirty.add(INVENTORY + ikey)
        for item in items:
            # `is_planning_fact`, inline: a TypeGuard does not narrow the other branch.
            if isinstance(item, PositionChanged | ComponentIssued):
                facts.append(item)
            else:
                out.append(item)

    def _facts(self, facts: list[PlanningFact]) -> None:
        if facts:
            self.planning.take(facts)
            self.dirty.add(PLANNER)
