"""How often live planning runs: at most about a set share of a worker's time (SPEC 5).

After a pass that took t seconds the next one waits `t * (1 - share) / share`, so under load
more facts are coalesced into each pass, and when passes are quick planning follows every
batch. With `share = 0.5` a 2 s pass is followed by a 2 s pause: facts that arrive inside
the pause wait for its end and are planned together.

While its records come from a backlog (the caller says when), a plant plans at most once
every `catch_up_s` seconds and at most about a tenth of the time. A pass in the middle of a
backlog plans a state as far behind the sources as the backlog, and the next pass supersedes
it: its records are churn for every consumer of the changelogs, and its time is taken from
reading. On a 1M-event backlog, planning after every batch published 12.5 records per input
record; held, 0.52. Each further pass held in the same backlog waits twice as long as the one
before (up to `2 ** MAX_HOLD_DOUBLINGS` times `catch_up_s`), so a backlog however long publishes a
handful of intermediate plans, and a long one still shows its progress. In one run over the
benchmark's 1M-event backlog with every hold 30 s, the two held passes of each plant
published 352,000 of the 463,000 output records.

The caller reads the clock (a pass's start and finish, the current time) and passes the
instants in; nothing here reads one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_SHARE = 0.01
"""A share at or below zero would never plan again; it is raised to this."""
CATCH_UP_RECHECK = timedelta(seconds=1)
"""While a pass is held back for catching up, how often to look whether the backlog is read."""
BACKLOG_MEMORY = timedelta(seconds=2)
"""A plant counts as catching up until this long after its last records read from a backlog:
longer than the gaps between a catching-up reader's batches, short enough that the plan
follows soon once the backlog is read."""
MAX_HOLD_DOUBLINGS = 4
"""The longest hold is `catch_up_s` doubled this many times: 16 x, 8 minutes at the default 30 s."""
CATCH_UP_SHARE = 0.1
"""While catching up, at most about this share of the time goes to planning: a 15 s pass of a
large plant is followed by at least 135 s of reading."""


@dataclass
class PlanningPace:
    """When the next planning pass of one plant may start."""

    share: float = 0.5
    catch_up_s: float = 0.0
    """While catching up, at least this many seconds between passes (0: no hold at all)."""
    next_pass: datetime | None = None
    """None until the first pass: the first facts are planned at once."""
    next_catch_up_pass: datetime | None = None
    """The same at `CATCH_UP_SHARE`: while catching up, no pass before it."""
    held_since: datetime | None = None
    """When a pass was first held back for catching up since the last pass."""
    backlog_at: datetime | None = None
    """When the plant last got records read from a backlog (see `catching_up`)."""
    held_passes: int = 0
    """Passes held for catching up since the plant was last found live, counted up to
    `MAX_HOLD_DOUBLINGS`: the next hold is `catch_up_s` times two to this power."""
    hold_over: bool = False
    """The last `due` was a hold that is over: the pass that follows counts in `held_passes`."""

    def read_backlog(self, now: datetime) -> None:
        """The plant got records, at `now`, from a reader whose partitions lag behind."""
        self.backlog_at = now

    def catching_up(self, now: datetime) -> bool:
        """Whether the plant is catching up: records from a backlog came within `BACKLOG_MEMORY`.

        Judged by the readers of the plant's records wherever they run: in a cluster, the
        plant's own process may have read its partitions while another still reads a backlog.
        """
        return self.backlog_at is not None and now - self.backlog_at < BACKLOG_MEMORY

    def due(self, now: datetime, catching_up: bool = False) -> bool:
        """True when a pass may run at `now`.

        Live, the pause after the last pass must be over. When `catching_up` (and
        `catch_up_s` is set) the longer pause at `CATCH_UP_SHARE` must be over, and then
        `catch_up_s` (doubled `held_passes` times) must pass from the first call that found it over
        (that call starts the hold). Once the backlog is read, only the live pause counts
        again, and the next backlog's first hold is `catch_up_s` again.
        """
        self.hold_over = False
        if not catching_up or self.catch_up_s <= 0:
            self.held_passes = 0
            return self.next_pass is None or now >= self.next_pass
        if self.next_catch_up_pass is not None and now < self.next_catch_up_pass:
            return False
        if self.held_since is None:
            self.held_since = now
        held_until = self.held_until()
        self.hold_over = held_until is not None and now >= held_until
        return self.hold_over

    def wake_at(self, now: datetime) -> datetime:
        """When to look again at a pass that is not due at `now`.

        At the end of the live pause; while a catch-up pause or hold runs, also every
        `CATCH_UP_RECHECK`, so that the pass follows soon once the backlog is read.
        """
        ahead = [self.next_pass]
        if self.catch_up_s > 0:
            ahead += [self.next_catch_up_pass, self.held_until()]
        times = [t for t in ahead if t is not None and t > now]
        if self.catch_up_s > 0 and any(t != self.next_pass for t in times):
            times.append(max(now + CATCH_UP_RECHECK, self.next_pass or now))
        return min(times, default=now)

    def held_until(self) -> datetime | None:
        """When a pass held back for catching up may run (None: none is held)."""
        if self.held_since is None:
            return None
        return self.held_since + timedelta(seconds=self.catch_up_s * (1 << self.held_passes))

    def passed(self, started: datetime, finished: datetime) -> None:
        """Record a pass that ran from `started` to `finished`; the pauses after it follow."""
        took = finished - started
        share = min(max(self.share, MIN_SHARE), 1.0)
        self.next_pass = finished + took * ((1 - share) / share)
        self.next_catch_up_pass = finished + took * ((1 - CATCH_UP_SHARE) / CATCH_UP_SHARE)
        if self.hold_over:  # a pass held for catching up: the next hold doubles
            self.held_passes = min(self.held_passes + 1, MAX_HOLD_DOUBLINGS)
        self.hold_over = False
        self.held_since = None
