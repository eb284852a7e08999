"""The production steps of `operators/steps.py`, driven in one process for property tests.

One `GuardStep` per sequencing key, one `InventoryStep` per item@plant, one `PlanningStep`
per plant, keyed and routed by the same functions `flows/dataflow.py` wires into bytewax
(`inventory_key`, `planning_key`, `is_admitted`, `is_stock_event`, `is_planning_fact`,
`outcome_of`). Nothing here decides anything: it only calls the steps, so hypothesis can run
hundreds of streams per second against the code the dataflow runs. The end-to-end tests run
the real dataflow on fewer streams.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from mfgsync.operators.calendar import BucketSize
from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import Verdict
from mfgsync.operators.planner import PlannerConfig, PlanningFact, PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.operators.steps import (
    GuardOut,
    GuardStep,
    InventoryStep,
    PlanningStep,
    applied,
    inventory_key,
    is_admitted,
    is_planning_fact,
    is_stock_event,
    outcome_of,
    planning_key,
)
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import OutputRecord, SyncException
from mfgsync.schemas.vocabulary import is_live


@dataclass
class LocalRun:
    """The steps of a whole run; `plan_each` plans after every fact, else once at the end."""

    today: date
    bucket: BucketSize = "day"
    plan_each: bool = False
    guards: dict[str, GuardStep] = field(default_factory=dict)
    inventories: dict[str, InventoryStep] = field(default_factory=dict)
    planning: dict[str, PlanningStep] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    latest: dict[str, OutputRecord] = field(default_factory=dict)

    @property
    def planners(self) -> dict[str, PlantPlanner]:
        """The planner of every plant seen."""
        return {plant: step.planner for plant, step in self.planning.items()}

    def feed(self, events: Iterable[Event]) -> None:
        """Offer events to their guards (processing time stands still: nothing expires)."""
        for event in events:
            guard = self.guards.get(event.guard_key())
            if guard is None:
                guard = self.guards[event.guard_key()] = GuardStep.new(
                    DedupWindow(), Sequencer(key="", wait_s=math.inf)
                )
            self._after_guard(guard.offer(event, 0.0))

    def plan_now(self) -> None:
        """A planning pass of every plant, as after a batch of facts."""
        for step in self.planning.values():
            self._emit(step.plan(self.today)[1])

    def finish(self) -> dict[str, OutputRecord]:
        """End of input: flush every guard, plan every plant; the latest record per id."""
        for guard in self.guards.values():
            self._after_guard(guard.flush())
        self.plan_now()
        return self.latest

    def live(self, topic: str) -> dict[str, dict[str, object]]:
        """Current records of a topic, without closed ones and without their state field."""
        return {
            rid: r.model_dump(exclude={"state"})
            for rid, r in self.latest.items()
            if r.TOPIC == topic and is_live(getattr(r, "state", None))
        }

    def _after_guard(self, out: Iterable[GuardOut]) -> None:
        for item in out:
            if isinstance(item, SyncException):
                self._emit([item])
            elif not is_admitted(item):
                self._count(item)
            elif is_stock_event(item.event):
                self._inventory(item.event)
            else:
                self._count(applied(item.event))
                self._plan(item.event)

    def _inventory(self, event: Event) -> None:
        assert is_stock_event(event)
        step = self.inventories.setdefault(inventory_key(event), InventoryStep())
        for item in step.take(event):
            if is_planning_fact(item):
                self._plan(item)
            elif isinstance(item, Verdict):
                self._count(item)
            else:
                self._emit([item])

    def _plan(self, fact: PlanningFact) -> None:
        step = self.planning.get(planning_key(fact))
        if step is None:
            config = PlannerConfig(bucket=self.bucket)
            step = self.planning[planning_key(fact)] = PlanningStep(PlantPlanner("", config))
        step.take([fact])
        if self.plan_each:
            self._emit(step.plan(self.today)[1])

    def _count(self, verdict: Verdict) -> None:
        self.counts[outcome_of(verdict)[1].value] += 1

    def _emit(self, records: Iterable[OutputRecord]) -> None:
        for record in records:
            self.latest[f"{record.TOPIC}|{record.record_key()}"] = record
