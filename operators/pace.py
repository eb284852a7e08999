"""How often live planning runs: at most about a set share of a worker's time (SPEC 5).

After a pass that took t seconds the next one waits `t * (1 - share) / share`, so under load
more facts are coalesced into each pass, and when passes are quick planning follows every
batch. With `share = 0.5` a 2 s pass is followed by a 2 s pause: facts that arrive inside
the pause wait for its end and are planned together.

The caller reads the clock (a pass's start and finish, the current time) and passes the
instants in; nothing here reads one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MIN_SHARE = 0.01
"""A share at or below zero would never plan again; it is raised to this."""


@dataclass
class PlanningPace:
    """When the next planning pass of one plant may start."""

    share: float = 0.5
    next_pass: datetime | None = None
    """None until the first pass: the first facts are planned at once."""

    def due(self, now: datetime) -> bool:
        """True when a pass may run at `now` (the pause after the last one is over)."""
        return self.next_pass is None or now >= self.next_pass

    def passed(self, started: datetime, finished: datetime) -> None:
        """Record a pass that ran from `started` to `finished`; the pause after it follows."""
        share = min(max(self.share, MIN_SHARE), 1.0)
        self.next_pass = finished + (finished - started) * ((1 - share) / share)
