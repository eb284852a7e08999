"""What the running service shows: metrics, `/status`, readiness and alerting (SPEC 7).

`StatusBoard` watches the dataflow's streams through `inspect` steps and the planning
hook, keeps a small process-local view (open shortages, triggers, exceptions, ECOs, lag) and
updates the Prometheus metrics. Each process has its own board; Prometheus sums processes.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from mfgsync.connectors.alert_dispatch import AlertDispatcher
from mfgsync.connectors.kafka import Rejected
from mfgsync.connectors.metrics import SyncMetrics
from mfgsync.operators.alerts import AlertAction, AlertRule
from mfgsync.operators.guard import Outcome, Verdict
from mfgsync.operators.planner import PlanningFact, PlantPlanner
from mfgsync.operators.steps import outcome_of
from mfgsync.schemas.events import BomRevisionReleased
from mfgsync.schemas.outputs import (
    DeadLetter,
    LagReport,
    OutputRecord,
    ProcurementTrigger,
    ShortageSignal,
    SyncException,
)
from mfgsync.schemas.vocabulary import SEVERITIES, is_live, revision_key

INGEST_MEMORY = 100_000
"""How many recent event ids remember their ingest time (for sync latency)."""


class StatusBoard:
    """Process-local view of the service for metrics, `/status`, `/readyz` and alerts."""

    def __init__(
        self,
        metrics: SyncMetrics,
        *,
        ready_max_lag: int = 1_000,
        alerts: AlertDispatcher | None = None,
        alert_rule: AlertRule | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.metrics = metrics
        self.ready_max_lag = ready_max_lag
        self.alerts = alerts
        self.alert_rule = alert_rule or AlertRule()
        self.clock = clock
        self.started = clock()
        self._lock = threading.Lock()
        self._ingested: OrderedDict[str, float] = OrderedDict()
        self._outcomes: Counter[str] = Counter()
        self._outputs: Counter[str] = Counter()
        self._dead_letters: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._last_rejection = ""
        self._shortages: dict[str, tuple[str, str]] = {}
        self._shortage_counts: Counter[tuple[str, str]] = Counter()
        self._triggers: dict[str, str] = {}
        self._exceptions: dict[str, dict[str, tuple[str, datetime | None]]] = {}
        """Open exceptions: type -> exception id -> (key, first seen)."""
        self._ecos: dict[tuple[str, str], dict[str, Any]] = {}
        self._po_awaiting: dict[str, int] = {}
        self._lag: dict[str, dict[str, float]] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._consumer_lag: dict[tuple[str, int], int] = {}

    # ------------------------------------------------------------- hooks in

    def decoded(self, item: Any) -> None:
        """Remember when an event entered the service."""
        event_id = getattr(item, "event_id", None)
        if event_id is None or isinstance(item, DeadLetter):
            return
        with self._lock:
            self._ingested[event_id] = self.clock().timestamp()
            while len(self._ingested) > INGEST_MEMORY:
                self._ingested.popitem(last=False)

    def verdict(self, item: Verdict | DeadLetter) -> None:
        """Count an input's terminal outcome; observe event lag of admitted events."""
        topic, outcome = outcome_of(item)
        if isinstance(item, Verdict) and outcome is Outcome.APPLIED:
            lag = (self.clock() - item.event.event_time).total_seconds()
            self.metrics.event_lag.labels(item.event.source).observe(max(0.0, lag))
        self.metrics.events.labels(topic, outcome.value).inc()
        with self._lock:
            self._outcomes[outcome.value] += 1

    def output_rejected(self, rejected: Rejected) -> None:
        """Count an output record the broker refused (or that could not be encoded)."""
        self.metrics.outputs_rejected.labels(rejected.topic, rejected.error).inc()
        with self._lock:
            self._rejected[rejected.error] += 1
            self._last_rejection = f"{rejected.topic} {rejected.key}: {rejected.reason}"

    def record(self, item: tuple[str, OutputRecord]) -> None:
        """Track an emitted record's effect on open shortages, triggers and exceptions."""
        topic, record = item
        with self._lock:
            self._outputs[topic] += 1
            if isinstance(record, DeadLetter):
                self._dead_letters[record.error] += 1
        if isinstance(record, ShortageSignal):
            self._shortage(record)
        elif isinstance(record, ProcurementTrigger):
            with self._lock:
                if not is_live(record.state):
                    self._triggers.pop(record.trigger_id, None)
                else:
                    self._triggers[record.trigger_id] = record.type
            if record.state == "OPEN":
                self.metrics.triggers.labels(record.type).inc()
        elif isinstance(record, SyncException):
            self._exception(record)
        elif isinstance(record, LagReport):
            with self._lock:
                self._lag[record.source] = {
                    "count": record.count,
                    "p50_s": record.p50_s,
                    "p99_s": record.p99_s,
                    "max_s": record.max_s,
                }

    def adopted(self, records: Sequence[OutputRecord]) -> None:
        """A plant's records published before this start: its open shortages are open here too."""
        for record in records:
            if isinstance(record, ShortageSignal):
                self._shortage(record)

    def planned(
        self, planner: PlantPlanner, facts: Sequence[PlanningFact], records: Sequence[OutputRecord]
    ) -> None:
        """After a planning pass: sync latency, PO lines awaiting confirmation, ECO propagation."""
        now = self.clock()
        with self._lock:
            ingests = [self._ingested[f.event_id] for f in facts if f.event_id in self._ingested]
            self._po_awaiting[planner.plant] = planner.po_lines_awaiting_confirmation()
        if ingests and records:
            latency = now.timestamp() - min(ingests)
            for topic in {r.TOPIC for r in records}:
                self.metrics.sync_latency.labels(topic).observe(max(0.0, latency))
        self.metrics.po_lines_awaiting.labels(planner.plant).set(self._po_awaiting[planner.plant])
        triggered = {c for r in records if isinstance(r, ProcurementTrigger) for c in r.cause_event_ids}
        for fact in facts:
            if isinstance(fact, BomRevisionReleased):
                seconds = (now - fact.event_time).total_seconds()
                self.metrics.bom_propagation.observe(max(0.0, seconds))
                eco = fact.eco_number or revision_key(fact.parent_item, fact.revision)
                with self._lock:
                    entry = self._ecos.setdefault((eco, planner.plant), {"released_at": fact.event_time})
                    entry.update(propagated=True, propagation_s=seconds)
                    if fact.event_id in triggered:
                        entry["last_trigger_at"] = now

    def partition_assigned(self, topic: str, partition: int) -> None:
        """A source partition this process reads."""
        with self._lock:
            self._assigned.add((topic, partition))

    def consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Consumer lag of one partition, from librdkafka statistics."""
        self.metrics.consumer_lag.labels(topic, str(partition)).set(lag)
        with self._lock:
            self._assigned.add((topic, partition))
            self._consumer_lag[(topic, partition)] = lag

    # ------------------------------------------------------------ views out

    def ready(self) -> bool:
        """Every assigned partition reported, and none lags more than `ready_max_lag`."""
        with self._lock:
            return self._ready_unlocked()

    def status(self) -> dict[str, Any]:
        """The `/status` document (see `flows/status.py` for its rendering)."""
        now = self.clock()
        with self._lock:
            severities = Counter(severity for _, severity in self._shortages.values())
            return {
                "service": {
                    "ready": self._ready_unlocked(),
                    "uptime_s": (now - self.started).total_seconds(),
                },
                "events": {o.value: self._outcomes.get(o.value, 0) for o in Outcome},
                "shortages_open": {s: severities.get(s, 0) for s in SEVERITIES},
                "triggers_open": dict(sorted(Counter(self._triggers.values()).items())),
                "ecos": [
                    {
                        "eco": eco,
                        "plant": plant,
                        "released_at": e["released_at"].isoformat(),
                        "last_trigger_at": e["last_trigger_at"].isoformat()
                        if "last_trigger_at" in e
                        else None,
                        "propagated": bool(e.get("propagated")),
                        "propagation_s": e.get("propagation_s"),
                    }
                    for (eco, plant), e in sorted(self._ecos.items())
                ],
                "po_lines_awaiting_confirmation": dict(sorted(self._po_awaiting.items())),
                "exceptions_open": [
                    {"type": kind, "key": key, "age_s": (now - seen).total_seconds() if seen else 0.0}
                    for kind, key, seen in sorted(
                        (
                            (kind, key, seen)
                            for kind, of_type in self._exceptions.items()
                            for key, seen in of_type.values()
                        ),
                        key=lambda e: (e[0], e[1]),
                    )
                ],
                "lag": dict(sorted(self._lag.items())),
                "alerts": [dataclasses.asdict(h) for h in self.alerts.health()] if self.alerts else [],
            }

    def totals(self) -> dict[str, Any]:
        """Running totals for progress lines.

        Inputs by outcome, outputs by topic, dead letters by error, outputs the broker refused
        by error (and the last one), assigned partitions, lag.
        """
        with self._lock:
            return {
                "events": dict(self._outcomes),
                "outputs": dict(self._outputs),
                "dead_letters": dict(self._dead_letters),
                "rejected": dict(self._rejected),
                "last_rejection": self._last_rejection,
                "partitions": sorted(self._assigned),
                "lag_reported": len(self._consumer_lag),
                "lag_messages": sum(self._consumer_lag.values()),
            }

    def _ready_unlocked(self) -> bool:
        if not self._assigned or set(self._consumer_lag) < self._assigned:
            return False
        return max(self._consumer_lag.values()) <= self.ready_max_lag

    def _shortage(self, signal: ShortageSignal) -> None:
        # Counts move by one per signal, so only the gauges this signal touched are set.
        with self._lock:
            touched: set[tuple[str, str]] = set()
            before = self._shortages.pop(signal.signal_id, None)
            if before is not None:
                self._shortage_counts[before] -= 1
                touched.add(before)
            if is_live(signal.state):
                now = (signal.plant, signal.severity)
                self._shortages[signal.signal_id] = now
                self._shortage_counts[now] += 1
                touched.add(now)
            counts = {key: self._shortage_counts[key] for key in touched}
            action = self.alert_rule.decide(signal) if self.alerts is not None else AlertAction.NONE
        for (plant, severity), count in counts.items():
            self.metrics.shortages_open.labels(plant, severity).set(count)
        if self.alerts is not None and action is not AlertAction.NONE:
            self.alerts.submit(signal, firing=action is AlertAction.FIRE)

    def _exception(self, exception: SyncException) -> None:
        # Like shortages: the count moves by one per record. The age is read at scrape time,
        # so it grows between records instead of scanning every open exception per record.
        kind = exception.type
        with self._lock:
            new_type = kind not in self._exceptions
            of_type = self._exceptions.setdefault(kind, {})
            if not is_live(exception.state):
                of_type.pop(exception.exception_id, None)
            else:
                of_type[exception.exception_id] = (exception.key, exception.first_seen)
            count = len(of_type)
        self.metrics.exceptions_open.labels(kind).set(count)
        if new_type:
            self.metrics.exception_age.labels(kind).set_function(lambda: self._oldest_age_s(kind))

    def _oldest_age_s(self, kind: str) -> float:
        """Seconds since the oldest open exception of ``kind`` was first seen (0 when none)."""
        with self._lock:
            seen = [first for _, first in self._exceptions.get(kind, {}).values() if first is not None]
        oldest = min(seen, default=None)
        return (self.clock() - oldest).total_seconds() if oldest is not None else 0.0
