"""Per-key sequencing by `source_seq`: a reorder buffer, gap detection and late events (SPEC 3).

The transitions live in one table, `TRANSITIONS`, so the rules can be read in one place:

| where `source_seq` falls          | delta event  | state event  |
|-----------------------------------|--------------|--------------|
| first event of the key (baseline) | APPLY        | APPLY        |
| `last + 1`                        | APPLY        | APPLY        |
| beyond `last + 1`                 | BUFFER       | BUFFER       |
| at or before `last`               | APPLY_LATE   | SUPERSEDE    |

A buffered event is released when the gap before it fills, when it has waited `wait_s`
(infinite: only the other two conditions), when
the buffer holds more than `max_buffer` events, or at end of input. Releasing past a gap
opens a SEQUENCE_GAP exception, which closes once every missing number has arrived late.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Literal

from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import SyncException

DEFAULT_WAIT_S = 30.0
DEFAULT_MAX_BUFFER = 1_000
MAX_TRACKED_GAPS = 32


class Position(Enum):
    """Where an event's sequence number falls relative to the key's last released one."""

    BASELINE = "baseline"
    NEXT = "next"
    AHEAD = "ahead"
    BEHIND = "behind"


class Action(Enum):
    """What the sequencer does with an event."""

    APPLY = "apply"
    BUFFER = "buffer"
    APPLY_LATE = "apply_late"
    SUPERSEDE = "supersede"


TRANSITIONS: dict[tuple[Position, Literal["delta", "state"]], Action] = {
    (Position.BASELINE, "delta"): Action.APPLY,
    (Position.BASELINE, "state"): Action.APPLY,
    (Position.NEXT, "delta"): Action.APPLY,
    (Position.NEXT, "state"): Action.APPLY,
    (Position.AHEAD, "delta"): Action.BUFFER,
    (Position.AHEAD, "state"): Action.BUFFER,
    (Position.BEHIND, "delta"): Action.APPLY_LATE,
    (Position.BEHIND, "state"): Action.SUPERSEDE,
}


@dataclass(frozen=True, slots=True)
class Released:
    """An event leaving the sequencer: applied (possibly late) or superseded."""

    event: Event
    superseded: bool = False


@dataclass
class Sequencer:
    """Sequencing state of one key. Plain data: it pickles as the recovery snapshot."""

    key: str
    wait_s: float = DEFAULT_WAIT_S
    max_buffer: int = DEFAULT_MAX_BUFFER
    last_seq: int | None = None
    reorder_buffer: dict[int, list[Event]] = field(default_factory=dict)
    buffered_at: dict[int, float] = field(default_factory=dict)
    open_gaps: dict[str, tuple[int, int, frozenset[int], datetime]] = field(default_factory=dict)

    def offer(self, event: Event, now_s: float) -> tuple[list[Released], list[SyncException]]:
        """Take one event; return the events released by it, in order, and any exceptions."""
        seq = event.source_seq
        if self.last_seq is None:
            position = Position.BASELINE
        elif seq == self.last_seq + 1:
            position = Position.NEXT
        elif seq > self.last_seq:
            position = Position.AHEAD
        else:
            position = Position.BEHIND
        action = TRANSITIONS[(position, event.KIND)]

        if action is Action.BUFFER:
            self.reorder_buffer.setdefault(seq, []).append(event)
            self.buffered_at.setdefault(seq, now_s)
            if len(self.buffered_at) > self.max_buffer:
                return self._skip_gap("buffer bound reached")
            return [], []
        if action is Action.APPLY:
            self.last_seq = seq
            released = [Released(event)]
            released.extend(self._drain())
            return released, []
        exceptions = self._fill_gap(seq, event)
        if action is Action.SUPERSEDE:
            return [Released(event, superseded=True)], exceptions
        exceptions.append(
            SyncException(
                exception_id=f"LATE_EVENT|{self.key}|{event.event_id}",
                type="LATE_EVENT",
                state="CLOSED",
                key=self.key,
                details={
                    "event_id": event.event_id,
                    "source_seq": str(seq),
                    "last_seq": str(self.last_seq),
                },
                first_seen=event.event_time,
                correlation_id=event.correlation_id,
            )
        )
        return [Released(event)], exceptions

    def expire(self, now_s: float) -> tuple[list[Released], list[SyncException]]:
        """Release past gaps whose first buffered event has waited `wait_s` or longer."""
        released: list[Released] = []
        exceptions: list[SyncException] = []
        while self.buffered_at and min(self.buffered_at.values()) + self.wait_s <= now_s:
            more, gaps = self._skip_gap("wait limit passed")
            released.extend(more)
            exceptions.extend(gaps)
        return released, exceptions

    def flush(self) -> tuple[list[Released], list[SyncException]]:
        """Release everything buffered (end of input)."""
        released: list[Released] = []
        exceptions: list[SyncException] = []
        while self.reorder_buffer:
            more, gaps = self._skip_gap("end of input")
            released.extend(more)
            exceptions.extend(gaps)
        return released, exceptions

    def next_deadline(self) -> float | None:
        """When the oldest buffered event's wait limit passes, if anything is buffered."""
        if not self.buffered_at or math.isinf(self.wait_s):
            return None
        return min(self.buffered_at.values()) + self.wait_s

    def _drain(self) -> list[Released]:
        released: list[Released] = []
        assert self.last_seq is not None
        while self.last_seq + 1 in self.reorder_buffer:
            self.last_seq += 1
            self.buffered_at.pop(self.last_seq, None)
            released.extend(Released(e) for e in self.reorder_buffer.pop(self.last_seq))
        return released

    def _skip_gap(self, reason: str) -> tuple[list[Released], list[SyncException]]:
        assert self.last_seq is not None
        next_seq = min(self.reorder_buffer)
        first_missing, last_missing = self.last_seq + 1, next_seq - 1
        events = self.reorder_buffer.pop(next_seq)
        self.buffered_at.pop(next_seq, None)
        self.last_seq = next_seq
        gap_id = f"SEQUENCE_GAP|{self.key}|{first_missing}-{last_missing}"
        first_seen = events[0].event_time
        self.open_gaps[gap_id] = (first_missing, last_missing, frozenset(), first_seen)
        while len(self.open_gaps) > MAX_TRACKED_GAPS:
            # The oldest gaps stay open downstream; we only stop tracking their closure.
            del self.open_gaps[next(iter(self.open_gaps))]
        gap = SyncException(
            exception_id=gap_id,
            type="SEQUENCE_GAP",
            state="OPEN",
            key=self.key,
            details={
                "first_missing": str(first_missing),
                "last_missing": str(last_missing),
                "released_seq": str(next_seq),
                "reason": reason,
            },
            first_seen=first_seen,
            correlation_id=events[0].correlation_id,
        )
        released = [Released(e) for e in events]
        released.extend(self._drain())
        return released, [gap]

    def _fill_gap(self, seq: int, event: Event) -> list[SyncException]:
        """A late arrival fills a gap; the gap's exception closes when nothing is missing."""
        for gap_id, (first, last, arrived, first_seen) in self.open_gaps.items():
            if not first <= seq <= last:
                continue
            arrived = arrived | {seq}
            if len(arrived) < last - first + 1:
                self.open_gaps[gap_id] = (first, last, arrived, first_seen)
                return []
            del self.open_gaps[gap_id]
            return [
                SyncException(
                    exception_id=gap_id,
                    type="SEQUENCE_GAP",
                    state="CLOSED",
                    key=self.key,
                    details={
                        "first_missing": str(first),
                        "last_missing": str(last),
                        "closed_by": event.event_id,
                    },
                    first_seen=first_seen,
                    correlation_id=event.correlation_id,
                )
            ]
        return []
