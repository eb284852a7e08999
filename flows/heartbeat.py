"""What the running service says about itself in its logs (one JSON object per line).

`Heartbeat` runs in the dataflow process. It logs, as events named in the ``event`` field:

- ``start``: the effective configuration, secrets masked;
- ``partitions``: which input partitions this process reads, once they are assigned (and
  again if they change);
- ``progress`` every ``interval_s``: records read (total and per second), consumer lag,
  outputs by topic, dead letters, alert channels (up, waiting);
- ``dead_letters`` (warning) when an interval dead-letters at least `DEAD_LETTER_BURST`
  records, with counts by error; ``rejected_outputs`` (warning) when the broker refused
  output records in the interval;
- ``stop`` with the totals, when the process ends.

Alert channel outages are logged by the dispatcher itself, once per outage. On a terminal (and
unless disabled) a `flows.progress.Progress` bar shows records against the initial lag.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from mfgsync.flows.logs import obscured
from mfgsync.flows.observability import StatusBoard
from mfgsync.flows.progress import Progress

log = logging.getLogger("mfgsync.service")

DEAD_LETTER_BURST = 100
"""Dead letters in one progress interval that make a warning."""


class Heartbeat:
    """Start, partition, progress, burst and stop lines of one dataflow process."""

    def __init__(
        self,
        board: StatusBoard,
        config: dict[str, Any],
        *,
        interval_s: float = 30.0,
        progress: Progress | None = None,
        alert_drain_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._board = board
        self._config = config
        self._interval_s = interval_s
        self._progress = progress
        self._alert_drain_s = alert_drain_s
        self._clock = clock
        self._started = clock()
        self._last = (self._started, 0, 0, 0)  # time, records read, dead letters, rejected outputs
        self._partitions: list[tuple[str, int]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mfgsync-heartbeat", daemon=True)

    def start(self) -> None:
        """Log the start line and begin the periodic lines; the stop line is logged at exit."""
        log.info("mfgsync service starting", extra={"event": "start", "config": obscured(self._config)})
        atexit.register(self.stop)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._terminated)
        self._thread.start()

    def _terminated(self, signum: int, _frame: object) -> None:
        # SIGTERM would end the process without exit handlers: run them (this line, the alert
        # channels' last deliveries, producer flushes), then end as SIGTERM does.
        log.info("stopping on signal %s", signal.Signals(signum).name, extra={"event": "signal"})
        atexit._run_exitfuncs()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def stop(self) -> None:
        """Log the stop line with the totals (once)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._board.alerts is not None:
            # Last deliveries first, so the stop line tells what the channels got.
            self._board.alerts.close(self._alert_drain_s)
        totals = self._board.totals()
        read = sum(totals["events"].values())
        uptime_s = self._clock() - self._started
        if self._progress is not None:
            self._progress.close()
        log.info(
            "mfgsync service stopped after %.1f s: read %d records, wrote %d",
            uptime_s,
            read,
            sum(totals["outputs"].values()),
            extra={
                "event": "stop",
                "uptime_s": round(uptime_s, 3),
                "read": read,
                "events": totals["events"],
                "outputs": totals["outputs"],
                "dead_letters": totals["dead_letters"],
                "exchanged": totals["exchanged"],
                "alerts": self._alerts(),
            },
        )

    def _run(self) -> None:
        next_progress_s = self._started + self._interval_s
        while not self._stopped.wait(min(1.0, self._interval_s)):
            totals = self._board.totals()
            self._check_partitions(totals)
            self._update_bar(totals)
            if self._clock() >= next_progress_s:
                self.tick(totals)
                next_progress_s += self._interval_s

    def tick(self, totals: dict[str, Any] | None = None) -> None:
        """Log one progress line (and a dead-letter warning if the interval had a burst)."""
        totals = totals or self._board.totals()
        now = self._clock()
        read = sum(totals["events"].values())
        dead = sum(totals["dead_letters"].values())
        rejected = sum(totals["rejected"].values())
        then, read_before, dead_before, rejected_before = self._last
        self._last = (now, read, dead, rejected)
        rate = (read - read_before) / max(1e-9, now - then)
        log.info(
            "progress: read %d records (%.0f/s), lag %d messages, wrote %d records",
            read,
            rate,
            totals["lag_messages"],
            sum(totals["outputs"].values()),
            extra={
                "event": "progress",
                "read": read,
                "rate_per_s": round(rate, 1),
                "lag_messages": totals["lag_messages"],
                "outputs": totals["outputs"],
                "dead_letters": dead,
                "rejected_outputs": rejected,
                "alerts": self._alerts(),
            },
        )
        if rejected > rejected_before:
            log.warning(
                "the broker refused %d output records in the last %.0f s (last: %s)",
                rejected - rejected_before,
                now - then,
                totals["last_rejection"],
                extra={
                    "event": "rejected_outputs",
                    "count": rejected - rejected_before,
                    "by_error": totals["rejected"],
                },
            )
        if dead - dead_before >= DEAD_LETTER_BURST:
            log.warning(
                "%d records dead-lettered in the last %.0f s (see sync.dlq)",
                dead - dead_before,
                now - then,
                extra={
                    "event": "dead_letters",
                    "count": dead - dead_before,
                    "by_error": totals["dead_letters"],
                },
            )

    def _check_partitions(self, totals: dict[str, Any]) -> None:
        partitions = totals["partitions"]
        if not partitions or partitions == self._partitions:
            return
        self._partitions = partitions
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        log.info(
            "reading %d partitions of %d topics",
            len(partitions),
            len(by_topic),
            extra={"event": "partitions", "assigned": by_topic},
        )

    def _update_bar(self, totals: dict[str, Any]) -> None:
        if self._progress is None:
            return
        read = sum(totals["events"].values())
        if (
            self._progress.total is None
            and totals["partitions"]
            and totals["lag_reported"] >= len(totals["partitions"])
        ):
            self._progress.set_total(read + totals["lag_messages"])
        self._progress.advance_to(read)

    def _alerts(self) -> list[dict[str, Any]]:
        if self._board.alerts is None:
            return []
        return [
            {"channel": h.name, "up": h.up, "waiting": h.waiting, "sent": h.sent, "outages": h.outages}
            for h in self._board.alerts.health()
        ]
