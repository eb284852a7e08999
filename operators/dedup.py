"""Deduplication of events by `event_id` within a bounded event-time horizon (SPEC 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

DEFAULT_HORIZON = timedelta(days=7)
DEFAULT_MAX_IDS = 10_000


@dataclass
class DedupWindow:
    """Event ids seen for one key, remembered for `horizon` of event time.

    Memory is bounded twice: ids older than `horizon` behind the newest event time seen are
    forgotten, and at most `max_ids` are kept (oldest arrivals go first). A duplicate older
    than either bound is no longer recognised; for state events the sequencer still discards
    it as superseded, so only a very old resent delta could be applied twice.
    """

    horizon: timedelta = DEFAULT_HORIZON
    max_ids: int = DEFAULT_MAX_IDS
    seen: dict[str, datetime] = field(default_factory=dict)
    newest: datetime | None = None

    def check_and_remember(self, event_id: str, event_time: datetime) -> bool:
        """Return True when `event_id` was seen before; otherwise remember it."""
        if event_id in self.seen:
            return True
        self.seen[event_id] = event_time
        if self.newest is None or event_time > self.newest:
            self.newest = event_time
        self._evict()
        return False

    def _evict(self) -> None:
        # `seen` keeps arrival order; arrival order tracks event time closely enough that
        # trimming from the front keeps memory bounded without a second index.
        cutoff = self.newest - self.horizon if self.newest is not None else None
        while self.seen:
            oldest_id = next(iter(self.seen))
            too_many = len(self.seen) > self.max_ids
            too_old = cutoff is not None and self.seen[oldest_id] < cutoff
            if not (too_many or too_old):
                break
            del self.seen[oldest_id]
