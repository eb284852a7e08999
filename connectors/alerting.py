"""Alerting channels for shortage signals (SPEC 7): Prometheus Alertmanager and JSON webhooks.

A dataflow sink calls `AlertDispatcher.submit` for every `ShortageSignal`. `submit` keeps the
signals at or above the configured severity as *firing* alerts; a signal it let through that
later resolves or drops below that severity goes out once more as the alert's *end*. It puts
them on one bounded queue per channel and returns at once: it never waits for the network.
One daemon thread per channel delivers with retries and exponential backoff with jitter;
what cannot be delivered (queue full, attempts used up, dispatcher closed) is counted and
handed to `on_undeliverable`.

HTTP goes through the standard library only (`urllib.request`), always with a timeout.
Imports `schemas` only; no bytewax here, so a sink adapter in `flows/` owns the dispatcher.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge
from pydantic import SecretStr

from mfgsync.schemas.outputs import SEVERITY_RANK, ShortageSignal

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Mfgsync-Signature"
"""Header carrying ``sha256=<hex HMAC-SHA256 of the body>`` on signed webhook requests."""

ALERT_STATUS_HEADER = "X-Mfgsync-Alert-Status"
"""Header saying ``firing`` or ``resolved`` on webhook requests; ``resolved`` also when a signal
fell below the minimum severity (its body then still says RAISED/UPDATED, with that severity)."""

DEFAULT_TIMEOUT_S = 5.0
ALERTNAME = "MaterialShortage"

UndeliverableHandler = Callable[[ShortageSignal, str, str], None]
"""``on_undeliverable(signal, channel_name, reason)``; must be quick and must not block."""


class DeliveryError(RuntimeError):
    """A channel could not deliver; ``retryable`` says whether trying again may help.

    A refused connection, a timeout or an HTTP 5xx/408/429 is retryable; any other HTTP
    answer (a 400 for a malformed alert, a 401 for a wrong secret, a redirect) is not.
    """

    def __init__(self, message: str, *, retryable: bool = True, status: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status = status


class AlertChannel(Protocol):
    """Where alerts go. Called from one dispatcher thread at a time, never concurrently."""

    name: str

    def deliver(self, signal: ShortageSignal, *, firing: bool = True) -> None:
        """Deliver one signal or raise `DeliveryError`.

        ``firing=False`` ends the alert: the signal resolved, or fell below the dispatcher's
        minimum severity (then its state is still RAISED/UPDATED, with the lower severity).
        """

    def maintain(self) -> None:
        """Periodic housekeeping between deliveries (e.g. re-sends); may raise `DeliveryError`."""


# --- HTTP -------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # urllib turns a redirected POST into a GET without the body and calls that a success;
    # an alert endpoint that redirects is misconfigured, so report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post_json(url: str, body: bytes, *, timeout_s: float, headers: dict[str, str] | None = None) -> int:
    """POST ``body`` as JSON; the HTTP status on 2xx, else raise `DeliveryError`."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "mfgsync-alerting", **(headers or {})},
    )
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        detail = ""
        with contextlib.suppress(OSError):
            detail = exc.read(300).decode("utf-8", "replace").strip()
        exc.close()
        retryable = exc.code >= 500 or exc.code in (408, 429)
        msg = f"POST {url} answered HTTP {exc.code}: {detail or exc.reason}"
        raise DeliveryError(msg, retryable=retryable, status=exc.code) from exc
    except urllib.error.URLError as exc:  # refused, DNS, timeout while connecting
        msg = f"POST {url} failed: {exc.reason}"
        raise DeliveryError(msg) from exc
    except (OSError, http.client.HTTPException) as exc:  # read timeout, reset, bad status line
        msg = f"POST {url} failed: {exc!r}"
        raise DeliveryError(msg) from exc


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- Alertmanager -----------------------------------------------------------------------------


def alertmanager_alert(
    signal: ShortageSignal, *, starts_at: datetime, ends_at: datetime | None
) -> dict[str, Any]:
    """The Alertmanager v2 alert for a signal (one element of the ``POST /api/v2/alerts`` list).

    Alertmanager identifies an alert by its label set, so labels hold only what names the
    shortage (item, plant) and its severity; everything else is an annotation (strings only).
    """
    date = signal.shortage_date.isoformat() if signal.shortage_date else ""
    if signal.state == "RESOLVED":
        summary = f"Shortage of {signal.item} at plant {signal.plant} resolved"
    else:
        orders = len(signal.impacted_orders)
        summary = (
            f"{signal.severity} shortage of {signal.item} at plant {signal.plant}: "
            f"{signal.shortage_qty:g} short on {date or 'an unknown date'}, "
            f"{orders} impacted order{'' if orders == 1 else 's'}"
        )
    alert: dict[str, Any] = {
        "labels": {
            "alertname": ALERTNAME,
            "item": signal.item,
            "plant": signal.plant,
            "severity": signal.severity,
        },
        "annotations": {
            "shortage_date": date,
            "shortage_qty": f"{signal.shortage_qty:g}",
            "impacted_orders": ",".join(signal.impacted_orders),
            "eco": ",".join(signal.correlation_ids),
            "summary": summary,
        },
        "startsAt": _rfc3339(starts_at),
    }
    if ends_at is not None:
        alert["endsAt"] = _rfc3339(ends_at)
    return alert


@dataclass(slots=True)
class _ActiveAlert:
    alert: dict[str, Any]
    starts_at: datetime


class AlertmanagerChannel:
    """Posts signals to Alertmanager's v2 API and keeps the open ones alive.

    Alertmanager resolves an alert that is not re-sent within its ``resolve_timeout``
    (default 5 min), so the channel remembers every alert it posted that is not resolved yet
    (at most one per signal id: bounded by the open shortages) and re-posts them all every
    ``resend_interval_s`` until their RESOLVED signal arrives. That memory is not persisted:
    after a restart an alert lives on only if its signal is emitted again.
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "alertmanager",
        resend_interval_s: float = 60.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], datetime] = _utcnow,
        batch_size: int = 500,
    ) -> None:
        if resend_interval_s <= 0:
            msg = f"resend_interval_s must be positive, got {resend_interval_s}"
            raise ValueError(msg)
        self.name = name
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval_s = resend_interval_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._batch_size = batch_size
        self._active: dict[str, _ActiveAlert] = {}
        self._next_resend_s = time.monotonic() + resend_interval_s

    @property
    def active_alerts(self) -> int:
        """How many alerts this channel keeps alive."""
        return len(self._active)

    def deliver(self, signal: ShortageSignal, *, firing: bool = True) -> None:
        now = self._clock()
        previous = self._active.get(signal.signal_id)
        starts_at = previous.starts_at if previous else now
        ended = not firing or signal.state == "RESOLVED"
        alert = alertmanager_alert(signal, starts_at=starts_at, ends_at=now if ended else None)
        alerts = [alert]
        if previous is not None and previous.alert["labels"] != alert["labels"]:
            if ended:
                # End the alert that fired, under its own labels, rather than post a
                # resolved alert of another severity (a downgrade below the threshold).
                alert["labels"] = previous.alert["labels"]
                if signal.state != "RESOLVED":
                    alert["annotations"]["summary"] = (
                        f"Shortage of {signal.item} at plant {signal.plant} is now {signal.severity}, "
                        "below the alerting threshold"
                    )
            else:
                # The severity changed: that is another alert to Alertmanager. End the old one,
                # or it would stay active for as long as we keep re-sending it.
                alerts.insert(0, {**previous.alert, "endsAt": _rfc3339(now)})
        self._post(alerts)
        if ended:
            self._active.pop(signal.signal_id, None)
        else:
            if not self._active:
                self._next_resend_s = time.monotonic() + self.resend_interval_s
            self._active[signal.signal_id] = _ActiveAlert(alert, starts_at)

    def maintain(self) -> None:
        """Re-post every active alert once ``resend_interval_s`` has passed since the last time."""
        if not self._active or time.monotonic() < self._next_resend_s:
            return
        self.resend()

    def resend(self) -> None:
        """Re-post every active alert now."""
        alerts = [active.alert for active in self._active.values()]
        for start in range(0, len(alerts), self._batch_size):
            self._post(alerts[start : start + self._batch_size])
        self._next_resend_s = time.monotonic() + self.resend_interval_s

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        post_json(self.url, json.dumps(alerts).encode(), timeout_s=self.timeout_s)


# --- Webhook ----------------------------------------------------------------------------------


def _secret_bytes(secret: SecretStr | str | bytes) -> bytes:
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return secret.encode() if isinstance(secret, str) else secret


def sign(body: bytes, secret: SecretStr | str | bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(_secret_bytes(secret), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: SecretStr | str | bytes) -> bool:
    """True when ``header`` is the signature of exactly ``body`` under ``secret``.

    For receivers: verify the raw request body before parsing it. Compares in constant time.
    """
    if not header:
        return False
    return hmac.compare_digest(header.strip().encode(), sign(body, secret).encode())


def webhook_body(signal: ShortageSignal) -> bytes:
    """The JSON body a webhook receives: the signal's fields as ``model_dump(mode="json")``."""
    return json.dumps(signal.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookChannel:
    """POSTs each signal as JSON, signed with HMAC-SHA256 when a secret is set.

    The body is the signal record itself; `ALERT_STATUS_HEADER` says whether the alert fires
    or ends.
    """

    def __init__(
        self,
        url: str,
        secret: SecretStr | None = None,
        *,
        name: str = "webhook",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.url = url
        self.timeout_s = timeout_s
        self._secret = secret

    def deliver(self, signal: ShortageSignal, *, firing: bool = True) -> None:
        body = webhook_body(signal)
        status = "firing" if firing and signal.state != "RESOLVED" else "resolved"
        headers = {ALERT_STATUS_HEADER: status}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret)
        post_json(self.url, body, timeout_s=self.timeout_s, headers=headers)

    def maintain(self) -> None:
        return None


# --- Dispatcher -------------------------------------------------------------------------------

_WAKE = object()  # put on a queue by close() to wake its worker


@dataclass(slots=True)
class _Lane:
    """One channel's queue and worker thread."""

    channel: AlertChannel
    queue: queue.Queue[Any]
    thread: threading.Thread = field(init=False)


class AlertDispatcher:
    """Filters shortage signals by severity and delivers them to channels off the caller's thread.

    Rules:
    - A signal whose severity ranks at or above ``min_severity`` fires, and its signal id is
      remembered. When a remembered signal resolves, or an update drops it below
      ``min_severity``, that record goes out once more as the alert's end (``firing=False``)
      and the id is forgotten; should it rise again it fires as a new alert. Anything else
      below ``min_severity`` (including RESOLVED records of ids never let through) is
      ignored. The memory is bounded by the open shortages.
    - ``submit`` never blocks: when a channel's queue (``queue_size``) is full the signal is
      dropped for that channel.
    - Each channel is tried up to ``max_attempts`` times, waiting ``backoff_s * 2**(n-1)``
      (capped at ``max_backoff_s``, with jitter: half of it fixed, half random) between
      attempts; a non-retryable `DeliveryError` fails at once.
    - Dropped and failed signals are counted and handed to ``on_undeliverable(signal,
      channel_name, reason)`` (by default: logged, sparsely for drops). A lost RESOLVED
      record leaves its alert open (Alertmanager keeps receiving re-sends) until a later
      record of the same signal gets through; the handler is the place to notice that.

    Counters: the ``sent``, ``failed`` and ``dropped`` dicts (channel name -> count) and the
    metrics ``mfgsync_alerts_{sent,failed,dropped}_total{channel}`` and
    ``mfgsync_alert_queue_depth{channel}`` in ``registry``; one dispatcher per registry.
    """

    def __init__(
        self,
        channels: Sequence[AlertChannel],
        *,
        min_severity: str = "HIGH",
        queue_size: int = 1000,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        on_undeliverable: UndeliverableHandler | None = None,
        registry: CollectorRegistry = REGISTRY,
        maintain_interval_s: float = 1.0,
    ) -> None:
        if min_severity not in SEVERITY_RANK:
            msg = f"min_severity must be one of {', '.join(SEVERITY_RANK)}, got {min_severity!r}"
            raise ValueError(msg)
        names = [channel.name for channel in channels]
        if not names or len(set(names)) != len(names) or not all(names):
            msg = f"channels need distinct, non-empty names (they label the metrics), got {names}"
            raise ValueError(msg)
        if queue_size < 1 or max_attempts < 1 or backoff_s < 0 or max_backoff_s < 0:
            msg = "queue_size and max_attempts must be at least 1, backoff_s and max_backoff_s >= 0"
            raise ValueError(msg)
        self._min_rank = SEVERITY_RANK[min_severity]
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._on_undeliverable = on_undeliverable
        self._maintain_interval_s = maintain_interval_s

        self.sent: dict[str, int] = dict.fromkeys(names, 0)
        self.failed: dict[str, int] = dict.fromkeys(names, 0)
        self.dropped: dict[str, int] = dict.fromkeys(names, 0)
        self._counts_lock = threading.Lock()
        self._alerted: set[str] = set()  # signal ids let through and not resolved yet
        self._alerted_lock = threading.Lock()
        self._closing = threading.Event()
        self._abort = threading.Event()

        self._sent_total = Counter(
            "mfgsync_alerts_sent_total", "Shortage alerts delivered", ["channel"], registry=registry
        )
        self._failed_total = Counter(
            "mfgsync_alerts_failed_total",
            "Shortage alerts given up after max attempts or a permanent error",
            ["channel"],
            registry=registry,
        )
        self._dropped_total = Counter(
            "mfgsync_alerts_dropped_total",
            "Shortage alerts dropped undelivered (queue full or dispatcher closed)",
            ["channel"],
            registry=registry,
        )
        queue_depth = Gauge(
            "mfgsync_alert_queue_depth",
            "Shortage alerts waiting for delivery",
            ["channel"],
            registry=registry,
        )

        self._lanes: list[_Lane] = []
        for channel in channels:
            lane = _Lane(channel, queue.Queue(maxsize=queue_size))
            for metric in (self._sent_total, self._failed_total, self._dropped_total):
                metric.labels(channel=channel.name)  # export zeros from the start
            queue_depth.labels(channel=channel.name).set_function(lane.queue.qsize)
            lane.thread = threading.Thread(
                target=self._work, args=(lane,), name=f"mfgsync-alerts-{channel.name}", daemon=True
            )
            self._lanes.append(lane)
        for lane in self._lanes:
            lane.thread.start()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, signal: ShortageSignal) -> bool:
        """Queue ``signal`` for every channel if it passes the severity rule; never blocks.

        Returns whether it passed the rule (a pass may still be dropped by a full queue).
        """
        firing = self._firing(signal)
        if firing is None:
            return False
        if self._closing.is_set():
            for lane in self._lanes:
                self._drop(signal, lane.channel.name, "dispatcher closed")
            return True
        for lane in self._lanes:
            try:
                lane.queue.put_nowait((signal, firing))
            except queue.Full:
                self._drop(signal, lane.channel.name, f"queue full ({lane.queue.maxsize} waiting)")
        return True

    def queue_depth(self, channel_name: str) -> int:
        """Signals waiting for ``channel_name`` (approximate, as any queue size)."""
        for lane in self._lanes:
            if lane.channel.name == channel_name:
                return lane.queue.qsize()
        raise KeyError(channel_name)

    def close(self, timeout_s: float = 5.0) -> bool:
        """Stop accepting signals, deliver what is queued for up to ``timeout_s``, stop the threads.

        Signals still queued (or between retries) at the deadline are dropped and reported.
        Returns whether every worker stopped; one stuck in an HTTP request ends after its
        channel's timeout (the threads are daemons, so they never hold the process).
        """
        self._closing.set()
        for lane in self._lanes:
            with contextlib.suppress(queue.Full):  # a full queue's worker is awake anyway
                lane.queue.put_nowait(_WAKE)
        deadline = time.monotonic() + timeout_s
        for lane in self._lanes:
            lane.thread.join(max(0.0, deadline - time.monotonic()))
        if any(lane.thread.is_alive() for lane in self._lanes):
            self._abort.set()
            for lane in self._lanes:
                lane.thread.join(0.1)
        return not any(lane.thread.is_alive() for lane in self._lanes)

    # --- internals (severity rule in the caller's thread, delivery in the lanes' threads) ---

    def _firing(self, signal: ShortageSignal) -> bool | None:
        """True: deliver as firing; False: deliver as the alert's end; None: not for channels."""
        signal_id = signal.signal_id
        with self._alerted_lock:
            if signal.state != "RESOLVED" and SEVERITY_RANK[signal.severity] >= self._min_rank:
                self._alerted.add(signal_id)
                return True
            if signal_id in self._alerted:
                self._alerted.discard(signal_id)
                return False
            return None

    def _work(self, lane: _Lane) -> None:
        channel = lane.channel
        next_maintain_s = time.monotonic() + self._maintain_interval_s
        while True:
            if self._closing.is_set():
                try:
                    item = lane.queue.get_nowait()
                except queue.Empty:
                    return
            else:
                try:
                    item = lane.queue.get(timeout=max(0.0, next_maintain_s - time.monotonic()))
                except queue.Empty:
                    item = None
            if item is not None and item is not _WAKE:
                signal, firing = item
                if self._abort.is_set():
                    self._drop(signal, channel.name, "dispatcher closed before delivery")
                else:
                    self._deliver(channel, signal, firing)
            if time.monotonic() >= next_maintain_s and not self._closing.is_set():
                self._maintain(channel)
                next_maintain_s = time.monotonic() + self._maintain_interval_s

    def _deliver(self, channel: AlertChannel, signal: ShortageSignal, firing: bool) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                channel.deliver(signal, firing=firing)
            except DeliveryError as exc:
                error: Exception = exc
                retry = exc.retryable and attempt < self._max_attempts
            except Exception as exc:  # a bug in a channel must not kill its worker
                log.exception("alert channel %s raised unexpectedly", channel.name)
                error, retry = exc, False
            else:
                with self._counts_lock:
                    self.sent[channel.name] += 1
                self._sent_total.labels(channel=channel.name).inc()
                return
            if not retry:
                with self._counts_lock:
                    self.failed[channel.name] += 1
                self._failed_total.labels(channel=channel.name).inc()
                self._report(signal, channel.name, f"failed after {attempt} attempt(s): {error}")
                return
            if self._abort.wait(self._backoff(attempt)):
                self._drop(signal, channel.name, f"dispatcher closed while retrying: {error}")
                return

    def _backoff(self, attempt: int) -> float:
        delay = min(self._max_backoff_s, self._backoff_s * 2.0 ** (attempt - 1))
        return delay / 2 + random.uniform(0, delay / 2)  # jitter, not crypto

    def _maintain(self, channel: AlertChannel) -> None:
        try:
            channel.maintain()
        except DeliveryError as exc:
            log.warning("alert channel %s: periodic re-send failed: %s", channel.name, exc)
        except Exception:
            log.exception("alert channel %s: maintain() raised unexpectedly", channel.name)

    def _drop(self, signal: ShortageSignal, channel_name: str, reason: str) -> None:
        with self._counts_lock:
            self.dropped[channel_name] += 1
            count = self.dropped[channel_name]
        self._dropped_total.labels(channel=channel_name).inc()
        if self._on_undeliverable is None and count & (count - 1):
            return  # without a handler, log drops sparsely (1st, 2nd, 4th, 8th, ...)
        self._report(signal, channel_name, f"dropped: {reason}")

    def _report(self, signal: ShortageSignal, channel_name: str, reason: str) -> None:
        if self._on_undeliverable is None:
            log.warning("shortage alert %s not delivered to %s: %s", signal.signal_id, channel_name, reason)
            return
        try:
            self._on_undeliverable(signal, channel_name, reason)
        except Exception:
            log.exception("on_undeliverable raised for %s on %s", signal.signal_id, channel_name)
