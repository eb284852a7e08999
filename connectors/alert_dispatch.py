"""Delivery of alert changes to channels, converging to the latest state per signal (SPEC 7).

Which signals fire or end an alert is decided before this (`operators.alerts.AlertRule`);
`AlertDispatcher.submit(signal, firing=...)` hands over the change and returns at once. Rules:

- **Latest state per signal id, per channel.** Each channel has an outbox of the changes it
  has not delivered yet, one per signal id: a newer change of a waiting id replaces the older
  one (counted as coalesced). Memory is bounded by the number of signals, never by the event
  rate, and nothing is dropped for lack of room.
- **Batches.** A channel's worker thread takes up to ``max_batch`` waiting changes at a time
  and hands them to the channel in one call (Alertmanager posts them as one list).
- **Outages.** A retryable failure (refused, timeout, 5xx) puts the undelivered changes back
  (unless a newer one arrived meanwhile) and marks the channel down: counted in
  ``mfgsync_alert_channel_outages_total``, ``mfgsync_alert_channel_up`` = 0, and logged once
  as a warning with the waiting count. The worker tries again with exponential backoff
  (``backoff_s`` doubling up to ``max_backoff_s``, with jitter). When a delivery succeeds
  again the channel is up, the end of the outage is logged once with its duration and counts,
  and after the waiting changes the channel re-syncs (`AlertChannel.resync`: Alertmanager
  re-posts every open alert). No per-signal report for an outage.
- **Rejections.** A non-retryable failure (HTTP 4xx) rejects those changes: counted in
  ``mfgsync_alerts_failed_total`` and handed to ``on_rejected(signal, channel, reason)`` (by
  default logged, sparsely). Retrying would not help.
- **Shutdown.** `close` delivers what waits for up to its timeout (a channel that is down gets
  one more attempt at once, not a wait for it to come back); what still waits then is counted
  as dropped and logged once per channel with the count.

No bytewax here; a sink or hook in `flows/` owns the dispatcher.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, Protocol

from prometheus_client import REGISTRY, CollectorRegistry

from mfgsync.connectors.http_client import DeliveryError
from mfgsync.connectors.metrics import AlertMetrics
from mfgsync.schemas.outputs import ShortageSignal

log = logging.getLogger(__name__)

RejectedHandler = Callable[[ShortageSignal, str, str], None]
"""``on_rejected(signal, channel_name, reason)``; must be quick and must not block."""


class AlertChange(NamedTuple):
    """The latest state of one signal's alert: firing with this record, or ended by it."""

    signal: ShortageSignal
    firing: bool


class AlertChannel(Protocol):
    """Where alerts go. Called from one worker thread at a time, never concurrently."""

    name: str

    def deliver(self, changes: Sequence[AlertChange]) -> None:
        """Deliver the changes in order, or raise `DeliveryError` saying how many got through."""

    def resync(self) -> None:
        """After an outage, bring the receiver up to date with what is open; may raise `DeliveryError`."""

    def maintain(self) -> None:
        """Periodic housekeeping between deliveries (e.g. re-sends); may raise `DeliveryError`."""


@dataclass(slots=True)
class ChannelHealth:
    """A channel's delivery state, for logs and `/status`."""

    name: str
    up: bool
    waiting: int
    sent: int
    coalesced: int
    failed: int
    dropped: int
    outages: int
    down_for_s: float | None
    last_error: str | None


@dataclass(slots=True)
class _Lane:
    """One channel's outbox (latest change per signal id) and worker thread."""

    channel: AlertChannel
    pending: dict[str, AlertChange] = field(default_factory=dict)
    ready: threading.Condition = field(default_factory=threading.Condition)
    thread: threading.Thread | None = None
    up: bool = True
    needs_resync: bool = False
    down_since_s: float = 0.0
    failed_attempts: int = 0
    retry_at_s: float = 0.0
    last_error: str | None = None
    outage_sent: int = 0
    outage_coalesced: int = 0
    sent: int = 0
    coalesced: int = 0
    failed: int = 0
    dropped: int = 0
    outages: int = 0


class AlertDispatcher:
    """Delivers alert changes to channels off the caller's thread, as the module docstring says.

    The ``sent``, ``failed``, ``coalesced`` and ``dropped`` dicts (channel name -> count)
    mirror the metrics in ``registry`` (one dispatcher per registry).
    """

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        *,
        max_batch: int = 500,
        backoff_s: float = 0.5,
        max_backoff_s: float = 10.0,
        on_rejected: RejectedHandler | None = None,
        registry: CollectorRegistry = REGISTRY,
        maintain_interval_s: float = 1.0,
    ) -> None:
        names = [channel.name for channel in channels]
        if not names or len(set(names)) != len(names) or not all(names):
            msg = f"channels need distinct, non-empty names (they label the metrics), got {names}"
            raise ValueError(msg)
        if max_batch < 1 or backoff_s < 0 or max_backoff_s < 0:
            msg = "max_batch must be at least 1, backoff_s and max_backoff_s >= 0"
            raise ValueError(msg)
        self._max_batch = max_batch
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._on_rejected = on_rejected
        self._maintain_interval_s = maintain_interval_s
        self._closing = False
        self._abort = False
        self._deadline_s = 0.0
        self._metrics = AlertMetrics(registry)
        self._lanes = [_Lane(channel) for channel in channels]
        for lane in self._lanes:
            name = lane.channel.name
            self._metrics.export(name, waiting=partial(_waiting, lane))
            lane.thread = threading.Thread(
                target=self._work, args=(lane,), name=f"mfgsync-alerts-{name}", daemon=True
            )
        for lane in self._lanes:
            assert lane.thread is not None
            lane.thread.start()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ caller side

    def submit(self, signal: ShortageSignal, *, firing: bool = True) -> None:
        """Make ``firing`` (or its end) the latest state of ``signal``'s alert on every channel."""
        change = AlertChange(signal, firing)
        key = signal.signal_id
        for lane in self._lanes:
            with lane.ready:
                if self._closing:
                    lane.dropped += 1
                    self._metrics.dropped.labels(lane.channel.name).inc()
                    continue
                idle = not lane.pending
                if key in lane.pending:
                    lane.coalesced += 1
                    lane.outage_coalesced += 1
                    self._metrics.coalesced.labels(lane.channel.name).inc()
                lane.pending[key] = change
                if idle and lane.up:
                    # Wake the worker only when it waits for work: a busy one takes this next,
                    # a channel that is down is tried again at its retry time. (A wake-up per
                    # change costs the dataflow thread the GIL each time.)
                    lane.ready.notify()

    def waiting(self, channel_name: str) -> int:
        """Changes waiting for ``channel_name`` (one per signal id at most)."""
        return len(self._lane(channel_name).pending)

    def health(self) -> list[ChannelHealth]:
        """Every channel's delivery state."""
        now = time.monotonic()
        return [
            ChannelHealth(
                name=lane.channel.name,
                up=lane.up,
                waiting=len(lane.pending),
                sent=lane.sent,
                coalesced=lane.coalesced,
                failed=lane.failed,
                dropped=lane.dropped,
                outages=lane.outages,
                down_for_s=None if lane.up else now - lane.down_since_s,
                last_error=lane.last_error,
            )
            for lane in self._lanes
        ]

    @property
    def sent(self) -> dict[str, int]:
        return {lane.channel.name: lane.sent for lane in self._lanes}

    @property
    def failed(self) -> dict[str, int]:
        return {lane.channel.name: lane.failed for lane in self._lanes}

    @property
    def coalesced(self) -> dict[str, int]:
        return {lane.channel.name: lane.coalesced for lane in self._lanes}

    @property
    def dropped(self) -> dict[str, int]:
        return {lane.channel.name: lane.dropped for lane in self._lanes}

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop accepting changes, deliver what waits for up to ``timeout_s``, stop the workers.

        What still waits at the deadline is counted as dropped and logged once per channel.
        Returns whether every worker stopped; one stuck in an HTTP request ends after its
        channel's timeout (the threads are daemons, so they never hold the process).
        """
        self._deadline_s = time.monotonic() + timeout_s
        for lane in self._lanes:
            with lane.ready:
                self._closing = True
                lane.retry_at_s = 0.0  # a channel that is down gets one last attempt now, no waiting
                lane.ready.notify()
        for lane in self._lanes:
            assert lane.thread is not None
            lane.thread.join(max(0.0, self._deadline_s - time.monotonic()))
        self._abort = True
        for lane in self._lanes:
            with lane.ready:
                left = len(lane.pending)
                lane.pending.clear()
                lane.ready.notify()
            if left:
                lane.dropped += left
                self._metrics.dropped.labels(lane.channel.name).inc(left)
                log.warning(
                    "alert channel %s: %d alert changes not delivered at shutdown (%s)",
                    lane.channel.name,
                    left,
                    "channel down" if not lane.up else "out of time",
                    extra={"channel": lane.channel.name, "undelivered": left},
                )
        for lane in self._lanes:
            assert lane.thread is not None
            lane.thread.join(0.1)
        return not any(lane.thread is not None and lane.thread.is_alive() for lane in self._lanes)

    # ------------------------------------------------------------------ worker side

    def _lane(self, name: str) -> _Lane:
        for lane in self._lanes:
            if lane.channel.name == name:
                return lane
        raise KeyError(name)

    def _work(self, lane: _Lane) -> None:
        next_maintain_s = time.monotonic() + self._maintain_interval_s
        while True:
            with lane.ready:
                batch = self._next_batch(lane, next_maintain_s)
            if batch is None:
                return
            if batch:
                self._deliver(lane, batch)
            elif not lane.up or lane.needs_resync:
                self._call(lane, lane.channel.resync)
            elif time.monotonic() >= next_maintain_s:
                self._call(lane, lane.channel.maintain)
                next_maintain_s = time.monotonic() + self._maintain_interval_s

    def _next_batch(self, lane: _Lane, next_maintain_s: float) -> list[AlertChange] | None:
        """Wait (holding ``lane.ready``) for work; the changes to deliver, [] to (re)sync, None to stop."""
        while True:
            now = time.monotonic()
            if self._abort:
                return None
            can_try = lane.up or now >= lane.retry_at_s
            if self._closing:
                if not lane.pending or now >= self._deadline_s or lane.retry_at_s >= self._deadline_s:
                    return None
            if can_try and lane.pending:
                take = min(self._max_batch, len(lane.pending))
                keys = [key for key, _ in zip(lane.pending, range(take), strict=False)]
                return [lane.pending.pop(key) for key in keys]
            if not self._closing and can_try and (lane.needs_resync or not lane.up):
                return []
            if not self._closing and lane.up and now >= next_maintain_s:
                return []
            wake_s = lane.retry_at_s if not lane.up else next_maintain_s
            if self._closing:
                wake_s = min(wake_s, self._deadline_s)
            lane.ready.wait(max(0.001, wake_s - now))

    def _deliver(self, lane: _Lane, batch: list[AlertChange]) -> None:
        error: DeliveryError | None = None
        try:
            lane.channel.deliver(batch)
        except DeliveryError as exc:
            error = exc
        except Exception as exc:  # a bug in a channel must not kill its worker
            log.exception("alert channel %s raised unexpectedly", lane.channel.name)
            error = DeliveryError(repr(exc), retryable=False, rejected=len(batch))
        delivered = len(batch) if error is None else min(error.delivered, len(batch))
        self._count_sent(lane, delivered)
        if error is None:
            self._channel_up(lane)
            return
        rest = batch[delivered:]
        if not error.retryable:
            rejected, rest = rest[: error.rejected], rest[error.rejected :]
            self._reject(lane, rejected, str(error))
        self._requeue(lane, rest)
        if error.retryable:
            self._channel_down(lane, error)
        else:
            self._channel_up(lane)

    def _call(self, lane: _Lane, action: Callable[[], None]) -> None:
        try:
            action()
        except DeliveryError as exc:
            if exc.retryable:
                self._channel_down(lane, exc)
            else:
                log.warning("alert channel %s: re-send rejected: %s", lane.channel.name, exc)
                lane.needs_resync = False
            return
        except Exception:
            log.exception("alert channel %s: housekeeping raised unexpectedly", lane.channel.name)
            return
        lane.needs_resync = False
        self._channel_up(lane)

    def _requeue(self, lane: _Lane, changes: list[AlertChange]) -> None:
        """Put undelivered changes back in front, unless a newer change of the same id waits."""
        if not changes:
            return
        with lane.ready:
            if self._abort:  # close() has already counted what waited: these come too late
                lane.dropped += len(changes)
                self._metrics.dropped.labels(lane.channel.name).inc(len(changes))
                return
            older = {c.signal.signal_id: c for c in changes if c.signal.signal_id not in lane.pending}
            lane.pending = {**older, **lane.pending}
            superseded = len(changes) - len(older)
            if superseded:
                lane.coalesced += superseded
                lane.outage_coalesced += superseded
                self._metrics.coalesced.labels(lane.channel.name).inc(superseded)

    def _count_sent(self, lane: _Lane, count: int) -> None:
        if count:
            lane.sent += count
            lane.outage_sent += count
            self._metrics.sent.labels(lane.channel.name).inc(count)

    def _reject(self, lane: _Lane, changes: list[AlertChange], reason: str) -> None:
        name = lane.channel.name
        lane.failed += len(changes)
        self._metrics.failed.labels(name).inc(len(changes))
        for change in changes:
            if self._on_rejected is not None:
                try:
                    self._on_rejected(change.signal, name, f"rejected: {reason}")
                except Exception:
                    log.exception("on_rejected raised for %s on %s", change.signal.signal_id, name)
            elif lane.failed & (lane.failed - 1) == 0:  # 1st, 2nd, 4th, 8th, ...
                log.warning(
                    "alert channel %s rejected the alert of %s (%d rejected so far): %s",
                    name,
                    change.signal.signal_id,
                    lane.failed,
                    reason,
                    extra={"channel": name, "rejected": lane.failed},
                )

    def _channel_down(self, lane: _Lane, error: DeliveryError) -> None:
        now = time.monotonic()
        name = lane.channel.name
        lane.failed_attempts += 1
        lane.needs_resync = True
        lane.last_error = str(error)
        # Closing: no further attempt (shutdown must not wait out an outage).
        lane.retry_at_s = math.inf if self._closing else now + self._backoff(lane.failed_attempts)
        if not lane.up:
            return
        lane.up = False
        lane.down_since_s = now
        lane.outages += 1
        lane.outage_sent = lane.outage_coalesced = 0
        self._metrics.outages.labels(name).inc()
        self._metrics.up.labels(name).set(0)
        log.warning(
            "alert channel %s is down: %s; %d alert changes wait (latest per signal) until it is back",
            name,
            error,
            len(lane.pending),
            extra={"channel": name, "waiting": len(lane.pending), "outages": lane.outages},
        )

    def _channel_up(self, lane: _Lane) -> None:
        if lane.up:
            return
        name = lane.channel.name
        down_s = time.monotonic() - lane.down_since_s
        log.warning(
            "alert channel %s is back after %.1f s (%d failed attempts, %d changes coalesced meanwhile); "
            "delivered %d so far, %d waiting",
            name,
            down_s,
            lane.failed_attempts,
            lane.outage_coalesced,
            lane.outage_sent,
            len(lane.pending),
            extra={
                "channel": name,
                "down_s": round(down_s, 3),
                "failed_attempts": lane.failed_attempts,
                "coalesced": lane.outage_coalesced,
                "waiting": len(lane.pending),
            },
        )
        lane.up = True
        lane.failed_attempts = 0
        lane.retry_at_s = 0.0
        self._metrics.up.labels(name).set(1)

    def _backoff(self, attempt: int) -> float:
        delay = min(self._max_backoff_s, self._backoff_s * 2.0 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)  # jitter, not crypto


def _waiting(lane: _Lane) -> int:
    """Alerts queued or retrying on a lane (read at scrape time)."""
    return len(lane.pending)
