"""The production steps of `operators/steps.py`, driven in one process for property tests.

One `PlantStep` per plant (its guards, stock positions and planner, and the route between
them), keyed by the same `plant_key` that `flows/dataflow.py` routes by. Nothing here
decides anything: it only calls the steps, so hypothesis can run hundreds of streams per
second against the code the dataflow runs. The end-to-end tests run the real dataflow on
fewer streams.
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
from mfgsync.operators.planner import PlannerConfig, PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.operators.steps import PlanningStep, PlantOut, PlantStep, outcome_of, plant_key
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import OutputRecord
from mfgsync.schemas.vocabulary import is_live


@dataclass
class LocalRun:
    """The steps of a whole run; `plan_each` plans after every event, else once at the end."""

    today: date
    bucket: BucketSize = "day"
    plan_each: bool = False
    plants: dict[str, PlantStep] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    latest: dict[str, OutputRecord] = field(default_factory=dict)

    @property
    def planners(self) -> dict[str, PlantPlanner]:
        """The planner of every plant seen."""
        return {plant: step.planning.planner for plant, step in self.plants.items()}

    def feed(self, events: Iterable[Event]) -> None:
        """Offer events to their plants (processing time stands still: nothing expires)."""
        for event in events:
            step = self.plants.get(plant_key(event))
            if step is None:
                planner = PlantPlanner("", PlannerConfig(bucket=self.bucket))
                step = self.plants[plant_key(event)] = PlantStep(
                    PlanningStep(planner), dedup=DedupWindow(), sequencer=Sequencer(key="", wait_s=math.inf)
                )
            self._out(step.offer([event], 0.0))
            if self.plan_each and step.planning.pending:
                self._out(step.planning.plan(self.today)[1])

    def plan_now(self) -> None:
        """A planning pass of every plant, as after a batch of facts."""
        for step in self.plants.values():
            self._out(step.planning.plan(self.today)[1])

    def finish(self) -> dict[str, OutputRecord]:
        """End of input: flush every plant, plan every plant; the latest record per id."""
        for step in self.plants.values():
            self._out(step.flush())
        self.plan_now()
        return self.latest

    def live(self, topic: str) -> dict[str, dict[str, object]]:
        """Current records of a topic, without closed ones and without their state field."""
        return {
            rid: r.model_dump(exclude={"state"})
            for rid, r in self.latest.items()
            if r.TOPIC == topic and is_live(getattr(r, "state", None))
        }

    def _out(self, out: Iterable[PlantOut]) -> None:
        for item in out:
            if isinstance(item, Verdict):
                self.counts[outcome_of(item)[1].value] += 1
            else:
                self.latest[f"{item.TOPIC}|{item.record_key()}"] = item
