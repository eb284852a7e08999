"""Windowed lag summaries per source (SPEC 7, `sync.lag`).

A `LagWindow` folds lags (processing time minus event time, seconds) into an exact count and
maximum and a bounded sample for the percentiles: the first `SAMPLE_LIMIT` lags, then a
deterministic reservoir (every k-th), so memory per window and source is bounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

SAMPLE_LIMIT = 4_096


@dataclass
class LagWindow:
    """Lag statistics of one source over one window; plain data."""

    count: int = 0
    max_s: float = 0.0
    sample: list[float] = field(default_factory=list)

    def add(self, lag_s: float) -> LagWindow:
        """Fold one lag in (returns self, for fold operators)."""
        self.count += 1
        self.max_s = max(self.max_s, lag_s)
        if len(self.sample) < SAMPLE_LIMIT:
            self.sample.append(lag_s)
        else:
            self.sample[self.count % SAMPLE_LIMIT] = lag_s
        return self

    def merge(self, other: LagWindow) -> LagWindow:
        """Combine two partial windows."""
        for lag in other.sample:
            self.add(lag)
        self.count += other.count - len(other.sample)
        self.max_s = max(self.max_s, other.max_s)
        return self

    def percentile(self, q: float) -> float:
        """The q-quantile (0..1) of the sample, nearest rank; 0 for an empty window."""
        if not self.sample:
            return 0.0
        ordered = sorted(self.sample)
        rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
        return ordered[rank]
