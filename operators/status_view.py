"""The status view: what the service has emitted, as the operator sees it (SPEC 7).

`StatusView` keeps the bookkeeping behind `/status`, `/readyz` and the open-count gauges;
`status_document` builds the `/status` document from it. Rules:

- A shortage signal is open while its state is live (`schemas.vocabulary.is_live`), counted
  under its latest (plant, severity): a later record of the same signal id moves it (an
  UPDATED HIGH -> CRITICAL leaves HIGH and enters CRITICAL), a RESOLVED one removes it. Each
  record moves at most two counts, and `shortage` returns exactly those, so a gauge is set
  only where its count moved.
- A procurement trigger is open while its state is live, counted by its latest type. A record
  in state OPEN is a trigger *opened* (counted by type, once per such record).
- An exception is open while its state is live, listed by type with its key and first-seen
  time; its age is read at the time asked (`oldest_exception_age_s`, `status_document`), so it
  grows between records. No first-seen time means age 0.
- An ECO (its number, or ``parent@revision`` without one) is propagated to a plant when that
  plant's planning pass applied its BOM revision: released at the first such fact's event
  time, propagation seconds from the latest, last trigger at the latest pass whose triggers
  cite the release.
- Sync latency of a planning pass: from the earliest remembered ingest among its facts to
  the pass, for each topic it wrote to (none when it wrote nothing or no ingest is known).
- Ready: at least one partition assigned, every assigned partition reported its consumer
  lag, and none lags more than `ready_max_lag` messages.

State: plain dicts and counters, bounded by the open signals, triggers, exceptions, ECOs per
plant, plants, lag sources and partitions; remembered ingest times are bounded by
`ingest_memory` (oldest forgotten first). Pure: the caller passes every time in (`now`, the
ingest time); metrics, locks, alert delivery and the clock live in `flows.observability`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from mfgsync.operators.guard import Outcome
from mfgsync.operators.planner import PlanningFact
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


@dataclasses.dataclass
class EcoPropagation:
    """One ECO at one plant: when it was released, how long it took, its last trigger."""

    released_at: datetime
    propagation_s: float | None = None
    last_trigger_at: datetime | None = None

    @property
    def propagated(self) -> bool:
        """The plant has planned with the revision."""
        return self.propagation_s is not None


@dataclasses.dataclass(frozen=True)
class RecordChanges:
    """What one emitted record changed: the open counts that moved, and what it opened.

    ``shortages_open``: (plant, severity) -> its new count, for the counts that moved.
    ``exceptions_open``: exception type -> its new count (the record's type only).
    ``exception_type_added``: the type, when this is the first record of that type seen.
    ``trigger_opened``: the trigger type, when the record is a trigger in state OPEN.
    """

    shortages_open: dict[tuple[str, str], int] = dataclasses.field(default_factory=dict)
    exceptions_open: dict[str, int] = dataclasses.field(default_factory=dict)
    exception_type_added: str | None = None
    trigger_opened: str | None = None


@dataclasses.dataclass(frozen=True)
class PlanningObservation:
    """What a planning pass tells the operator.

    ``sync_latency_s``: seconds from the earliest ingest among its facts (None: not known or
    nothing written), for each topic in ``topics``. ``eco_propagation_s``: seconds from release
    to this pass, one per BOM revision applied. Raw differences: a clock behind the event
    time makes them negative, and the caller decides how to observe that.
    """

    sync_latency_s: float | None
    topics: frozenset[str]
    eco_propagation_s: tuple[float, ...]


class StatusView:
    """The bookkeeping described above; methods take records and times, return what changed."""

    def __init__(
        self, started: datetime, *, ready_max_lag: int = 1_000, ingest_memory: int = INGEST_MEMORY
    ) -> None:
        self.started = started
        self.ready_max_lag = ready_max_lag
        self.ingest_memory = ingest_memory
        self.ingested: OrderedDict[str, float] = OrderedDict()
        """Event id -> ingest time (POSIX seconds), oldest first."""
        self.outcomes: Counter[str] = Counter()
        self.outputs: Counter[str] = Counter()
        self.dead_letters: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.last_rejection = ""
        self.shortages: dict[str, tuple[str, str]] = {}
        """Open shortage signal id -> (plant, severity)."""
        self.shortage_counts: Counter[tuple[str, str]] = Counter()
        self.triggers: dict[str, str] = {}
        """Open trigger id -> type."""
        self.exceptions: dict[str, dict[str, tuple[str, datetime | None]]] = {}
        """Open exceptions: type -> exception id -> (key, first seen)."""
        self.ecos: dict[tuple[str, str], EcoPropagation] = {}
        """(ECO, plant) -> its propagation."""
        self.po_awaiting: dict[str, int] = {}
        """Plant -> PO lines awaiting confirmation (summed over its planning groups)."""
        self.po_awaiting_groups: dict[tuple[str, str], int] = {}
        """(plant, planning group) -> PO lines awaiting confirmation."""
        self.lag: dict[str, dict[str, float]] = {}
        """Source -> its latest lag report."""
        self.assigned: set[tuple[str, int]] = set()
        self.consumer_lag: dict[tuple[str, int], int] = {}
        self.exchanged = 0
        """Input events handed to a plant whose state is on another process."""

    # ------------------------------------------------------------------ inputs

    def ingest(self, event_id: str, at_s: float) -> None:
        """An event entered the service at ``at_s`` (POSIX seconds)."""
        self.ingested[event_id] = at_s
        while len(self.ingested) > self.ingest_memory:
            self.ingested.popitem(last=False)

    def outcome(self, outcome: Outcome, count: int = 1) -> None:
        """`count` inputs reached this terminal outcome."""
        self.outcomes[outcome.value] += count

    def handed_over(self, count: int) -> None:
        """`count` events read here went to a plant's state on another process."""
        self.exchanged += count

    def output_rejected(self, topic: str, key: str, error: str, reason: str) -> None:
        """The broker refused an output record (or it could not be encoded)."""
        self.rejected[error] += 1
        self.last_rejection = f"{topic} {key}: {reason}"

    def output(self, topic: str, record: OutputRecord) -> RecordChanges:
        """An output record went to ``topic``: count it and apply it to the open sets."""
        self.outputs[topic] += 1
        if isinstance(record, DeadLetter):
            self.dead_letters[record.error] += 1
        if isinstance(record, ShortageSignal):
            return RecordChanges(shortages_open=self.shortage(record))
        if isinstance(record, ProcurementTrigger):
            if is_live(record.state):
                self.triggers[record.trigger_id] = record.type
            else:
                self.triggers.pop(record.trigger_id, None)
            return RecordChanges(trigger_opened=record.type if record.state == "OPEN" else None)
        if isinstance(record, SyncException):
            return self._exception(record)
        if isinstance(record, LagReport):
            self.lag[record.source] = {
                "count": record.count,
                "p50_s": record.p50_s,
                "p99_s": record.p99_s,
                "max_s": record.max_s,
            }
        return RecordChanges()

    def shortage(self, signal: ShortageSignal) -> dict[tuple[str, str], int]:
        """Apply one shortage signal record; the (plant, severity) counts it moved."""
        touched: set[tuple[str, str]] = set()
        before = self.shortages.pop(signal.signal_id, None)
        if before is not None:
            self.shortage_counts[before] -= 1
            touched.add(before)
        if is_live(signal.state):
            after = (signal.plant, signal.severity)
            self.shortages[signal.signal_id] = after
            self.shortage_counts[after] += 1
            touched.add(after)
        return {key: self.shortage_counts[key] for key in touched}

    def planned(
        self,
        plant: str,
        po_lines_awaiting: int,
        facts: Sequence[PlanningFact],
        records: Sequence[OutputRecord],
        now: datetime,
        group: str = "",
    ) -> PlanningObservation:
        """A planning pass of ``plant`` (its ``group``) at ``now`` applied ``facts`` and wrote ``records``."""
        self.po_awaiting_groups[(plant, group)] = po_lines_awaiting
        self.po_awaiting[plant] = sum(n for (p, _), n in self.po_awaiting_groups.items() if p == plant)
        ingests = [self.ingested[f.event_id] for f in facts if f.event_id in self.ingested]
        latency = now.timestamp() - min(ingests) if ingests and records else None
        triggered = {c for r in records if isinstance(r, ProcurementTrigger) for c in r.cause_event_ids}
        propagation: list[float] = []
        for fact in facts:
            if isinstance(fact, BomRevisionReleased):
                seconds = (now - fact.event_time).total_seconds()
                propagation.append(seconds)
                eco = fact.eco_number or revision_key(fact.parent_item, fact.revision)
                entry = self.ecos.setdefault((eco, plant), EcoPropagation(fact.event_time))
                entry.propagation_s = seconds
                if fact.event_id in triggered:
                    entry.last_trigger_at = now
        return PlanningObservation(
            sync_latency_s=latency,
            topics=frozenset(r.TOPIC for r in records) if latency is not None else frozenset(),
            eco_propagation_s=tuple(propagation),
        )

    def partition_assigned(self, topic: str, partition: int) -> None:
        """A source partition this process reads."""
        self.assigned.add((topic, partition))

    def partition_lag(self, topic: str, partition: int, lag: int) -> None:
        """Consumer lag of one partition (it is assigned, too)."""
        self.assigned.add((topic, partition))
        self.consumer_lag[(topic, partition)] = lag

    # ----------------------------------------------------------------- outputs

    def backlog(self) -> int:
        """Messages this process's input partitions lag in all, as last reported."""
        return sum(self.consumer_lag.values())

    def partition_lag_max(self) -> int:
        """Messages the most lagging input partition lags, as last reported (0: none reported)."""
        return max(self.consumer_lag.values(), default=0)

    def ready(self) -> bool:
        """Every assigned partition reported, and none lags more than `ready_max_lag`."""
        if not self.assigned or set(self.consumer_lag) < self.assigned:
            return False
        return max(self.consumer_lag.values()) <= self.ready_max_lag

    def oldest_exception_age_s(self, kind: str, now: datetime) -> float:
        """Seconds since the oldest open exception of ``kind`` was first seen (0 when none)."""
        seen = [first for _, first in self.exceptions.get(kind, {}).values() if first is not None]
        oldest = min(seen, default=None)
        return (now - oldest).total_seconds() if oldest is not None else 0.0

    def totals(self) -> dict[str, Any]:
        """Running totals for progress lines.

        Inputs by outcome, outputs by topic, dead letters by error, outputs the broker refused
        by error (and the last one), assigned partitions, lag.
        """
        return {
            "events": dict(self.outcomes),
            "outputs": dict(self.outputs),
            "dead_letters": dict(self.dead_letters),
            "rejected": dict(self.rejected),
            "last_rejection": self.last_rejection,
            "partitions": sorted(self.assigned),
            "lag_reported": len(self.consumer_lag),
            "lag_messages": self.backlog(),
            "exchanged": self.exchanged,
        }

    def _exception(self, exception: SyncException) -> RecordChanges:
        # The count moves by one per record; the age is read when asked, not kept up to date.
        kind = exception.type
        added = kind not in self.exceptions
        of_type = self.exceptions.setdefault(kind, {})
        if is_live(exception.state):
            of_type[exception.exception_id] = (exception.key, exception.first_seen)
        else:
            of_type.pop(exception.exception_id, None)
        return RecordChanges(
            exceptions_open={kind: len(of_type)}, exception_type_added=kind if added else None
        )


def status_document(view: StatusView, now: datetime, alerts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """The `/status` document at ``now`` (see `flows/status.py` for its rendering).

    ``alerts`` is the alert channels' health, which the view does not keep.
    """
    severities = Counter(severity for _, severity in view.shortages.values())
    open_exceptions = sorted(
        ((kind, key, seen) for kind, of_type in view.exceptions.items() for key, seen in of_type.values()),
        key=lambda e: (e[0], e[1]),
    )
    return {
        "service": {"ready": view.ready(), "uptime_s": (now - view.started).total_seconds()},
        "events": {o.value: view.outcomes.get(o.value, 0) for o in Outcome},
        "shortages_open": {s: severities.get(s, 0) for s in SEVERITIES},
        "triggers_open": dict(sorted(Counter(view.triggers.values()).items())),
        "ecos": [
            {
                "eco": eco,
                "plant": plant,
                "released_at": e.released_at.isoformat(),
                "last_trigger_at": e.last_trigger_at.isoformat() if e.last_trigger_at is not None else None,
                "propagated": e.propagated,
                "propagation_s": e.propagation_s,
            }
            for (eco, plant), e in sorted(view.ecos.items(), key=lambda item: item[0])
        ],
        "po_lines_awaiting_confirmation": dict(sorted(view.po_awaiting.items())),
        "exceptions_open": [
            {"type": kind, "key": key, "age_s": (now - seen).total_seconds() if seen else 0.0}
            for kind, key, seen in open_exceptions
        ],
        "lag": dict(sorted(view.lag.items())),
        "alerts": list(alerts),
    }
