"""A plain-Python run of the operators in dataflow order, for property tests.

guard (per sequencing key) -> inventory (per item@plant) -> planner (per plant), exactly as
`flows/dataflow.py` wires them, without bytewax, so hypothesis can run hundreds of streams
per second. End-to-end tests run the real dataflow on fewer streams.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import IngestGuard, Outcome, Verdict
from mfgsync.operators.inventory import ComponentIssued, InventoryPosition, PositionChanged
from mfgsync.operators.planner import PlannerConfig, PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.schemas.events import Event, InventoryMovement, InventorySnapshot
from mfgsync.schemas.outputs import OutputRecord

CLOSED_STATES = {"WITHDRAWN", "RESOLVED", "CLOSED"}


@dataclass
class Pipeline:
    """Guards, positions and planners of a whole run; `plan_each` re-plans after every fact."""

    today: date
    bucket: str = "day"
    plan_each: bool = False
    guards: dict[str, IngestGuard] = field(default_factory=dict)
    positions: dict[str, InventoryPosition] = field(default_factory=dict)
    planners: dict[str, PlantPlanner] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    latest: dict[str, OutputRecord] = field(default_factory=dict)

    def feed(self, events: Iterable[Event]) -> None:
        for event in events:
            key = event.guard_key()
            guard = self.guards.get(key)
            if guard is None:
                guard = self.guards[key] = IngestGuard.for_key(
                    key, DedupWindow(), Sequencer(key="", wait_s=math.inf)
                )
            verdicts, exceptions = guard.offer(event, 0.0)
            self._emit(exceptions)
            for verdict in verdicts:
                self._handle(verdict)

    def finish(self) -> dict[str, OutputRecord]:
        """Flush every guard, plan every plant; return the latest record per id."""
        for guard in self.guards.values():
            verdicts, exceptions = guard.flush()
            self._emit(exceptions)
            for verdict in verdicts:
                self._handle(verdict)
        for planner in self.planners.values():
            self._emit(planner.plan(self.today))
        return self.latest

    def live(self, topic: str) -> dict[str, dict[str, object]]:
        """Current records of a topic, without closed ones and without their state field."""
        return {
            rid: r.model_dump(exclude={"state"})
            for rid, r in self.latest.items()
            if r.TOPIC == topic and getattr(r, "state", None) not in CLOSED_STATES
        }

    def _handle(self, verdict: Verdict) -> None:
        event = verdict.event
        if verdict.outcome is not Outcome.APPLIED:
            self.counts[verdict.outcome.value] += 1
            return
        if isinstance(event, InventoryMovement | InventorySnapshot):
            key = f"{event.item}@{event.plant}"
            position = self.positions.setdefault(key, InventoryPosition(event.plant, event.item))
            if isinstance(event, InventoryMovement):
                applied, exceptions = position.apply_movement(event)
                if event.movement_type == "ISSUE" and event.reference:
                    self._plan(
                        ComponentIssued(event.plant, event.item, event.reference, event.qty, event.event_id)
                    )
            else:
                applied, exceptions = position.apply_snapshot(event)
            self._emit(exceptions)
            self.counts["applied" if applied else "superseded"] += 1
            if applied:
                self._plan(PositionChanged(event.plant, event.item, position.position(), event.event_id))
            return
        self.counts["applied"] += 1
        self._plan(event)

    def _plan(self, fact: Event | PositionChanged | ComponentIssued) -> None:
        planner = self.planners.get(fact.plant)
        if planner is None:
            planner = self.planners[fact.plant] = PlantPlanner(
                fact.plant,
                PlannerConfig(bucket=self.bucket),  # type: ignore[arg-type]
            )
        planner.apply(fact)
        if self.plan_each:
            self._emit(planner.plan(self.today))

    def _emit(self, records: Iterable[OutputRecord]) -> None:
        for record in records:
            self.latest[f"{record.TOPIC}|{record.record_key()}"] = record
