"""The ingest guard of one sequencing key: deduplication, then sequencing (SPEC 3).

Every event offered comes out exactly once as a `Verdict`: DEDUPLICATED at once, or later
ADMITTED (applied downstream, possibly late) or SUPERSEDED (a stale state version).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.sequencer import Released, Sequencer
from mfgsync.schemas.events import Event
from mfgsync.schemas.outputs import SyncException


class Outcome(StrEnum):
    """Terminal outcomes of an input record; read = the sum of all of them."""

    APPLIED = "applied"
    DEDUPLICATED = "deduplicated"
    SUPERSEDED = "superseded"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the guard decided for one event. ADMITTED events are APPLIED downstream."""

    event: Event
    outcome: Outcome


@dataclass
class IngestGuard:
    """Dedup window and sequencer of one key; picklable as its recovery snapshot."""

    dedup: DedupWindow
    sequencer: Sequencer

    @classmethod
    def for_key(cls, key: str, dedup: DedupWindow, sequencer_template: Sequencer) -> IngestGuard:
        """A fresh guard for `key` with the configured bounds of the templates."""
        return cls(
            dedup=DedupWindow(horizon=dedup.horizon, max_ids=dedup.max_ids),
            sequencer=Sequencer(
                key=key,
                wait_s=sequencer_template.wait_s,
                max_buffer=sequencer_template.max_buffer,
            ),
        )

    def offer(self, event: Event, now_s: float) -> tuple[list[Verdict], list[SyncException]]:
        """Take one event; return verdicts for it and for anything it released."""
        if self.dedup.check_and_remember(event.event_id, event.event_time):
            return [Verdict(event, Outcome.DEDUPLICATED)], []
        released, exceptions = self.sequencer.offer(event, now_s)
        return _verdicts(released), exceptions

    def expire(self, now_s: float) -> tuple[list[Verdict], list[SyncException]]:
        """Release events whose wait limit passed."""
        released, exceptions = self.sequencer.expire(now_s)
        return _verdicts(released), exceptions

    def flush(self) -> tuple[list[Verdict], list[SyncException]]:
        """Release everything buffered (end of input)."""
        released, exceptions = self.sequencer.flush()
        return _verdicts(released), exceptions

    def next_deadline(self) -> float | None:
        """Processing time (s) at which `expire` has something to release."""
        return self.sequencer.next_deadline()


def _verdicts(released: list[Released]) -> list[Verdict]:
    return [Verdict(r.event, Outcome.SUPERSEDED if r.superseded else Outcome.APPLIED) for r in released]
