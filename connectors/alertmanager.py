"""The Prometheus Alertmanager channel (SPEC 7): ``POST /api/v2/alerts`` with lists of alerts.

Alertmanager identifies an alert by its label set (alertname=MaterialShortage, item, plant,
severity) and resolves one that is not re-sent within its ``resolve_timeout`` (default 5 min).
So the channel keeps the alerts it has open there (at most one per signal id: bounded by the
open shortages at or above the threshold), re-posts them every ``resend_interval_s`` and after
an outage, and never re-posts one that ended. That memory is not persisted: after a restart an
alert lives on only if its signal is emitted again (or ends by Alertmanager's timeout).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mfgsync.connectors.alert_dispatch import AlertChange
from mfgsync.connectors.http_client import DEFAULT_TIMEOUT_S, DeliveryError, post_json
from mfgsync.schemas.outputs import ShortageSignal
from mfgsync.schemas.vocabulary import SHORTAGE_STATES

ALERTNAME = "MaterialShortage"
BATCH_SIZE = 500
"""Alerts per POST: Alertmanager takes lists; 500 alerts are about 250 kB of JSON."""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def alertmanager_alert(
    signal: ShortageSignal, *, starts_at: datetime, ends_at: datetime | None
) -> dict[str, Any]:
    """The Alertmanager v2 alert for a signal (one element of the ``POST /api/v2/alerts`` list).

    Labels hold only what names the shortage (item, plant) and its severity; everything else
    is an annotation (strings only).
    """
    date = signal.shortage_date.isoformat() if signal.shortage_date else ""
    if signal.state == SHORTAGE_STATES.closed:
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
class _OpenAlert:
    alert: dict[str, Any]
    starts_at: datetime


class AlertmanagerChannel:
    """Posts alert changes to Alertmanager in batches and keeps the open ones alive."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "alertmanager",
        resend_interval_s: float = 60.0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], datetime] = _utcnow,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        if resend_interval_s <= 0 or batch_size < 1:
            msg = f"resend_interval_s must be > 0 and batch_size >= 1, got {resend_interval_s}, {batch_size}"
            raise ValueError(msg)
        self.name = name
        self.url = base_url.rstrip("/") + "/api/v2/alerts"
        self.resend_interval_s = resend_interval_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self._clock = clock
        self._open: dict[str, _OpenAlert] = {}
        self._next_resend_s = time.monotonic() + resend_interval_s

    @property
    def active_alerts(self) -> int:
        """How many alerts this channel keeps open in Alertmanager."""
        return len(self._open)

    def deliver(self, changes: Sequence[AlertChange]) -> None:
        """Post ``changes`` in lists of ``batch_size``; on failure say how many got through."""
        for start in range(0, len(changes), self.batch_size):
            chunk = changes[start : start + self.batch_size]
            alerts, opened, ended = self._alerts_for(chunk)
            if alerts:
                try:
                    self._post(alerts)
                except DeliveryError as exc:
                    raise exc.after(start, rejected=len(chunk)) from exc.__cause__
            for signal_id in ended:
                self._open.pop(signal_id, None)
            self._open.update(opened)

    def _alerts_for(
        self, changes: Sequence[AlertChange]
    ) -> tuple[list[dict[str, Any]], dict[str, _OpenAlert], list[str]]:
        now = self._clock()
        alerts: list[dict[str, Any]] = []
        opened: dict[str, _OpenAlert] = {}
        ended: list[str] = []
        for signal, firing in changes:
            previous = opened.get(signal.signal_id) or self._open.get(signal.signal_id)
            if not firing:
                if previous is None:
                    continue  # never open here (or already ended): nothing to end, never re-post
                # End the alert that fired, under its own labels, rather than post a resolved
                # alert of another severity (a downgrade below the threshold).
                alert = alertmanager_alert(signal, starts_at=previous.starts_at, ends_at=now)
                alert["labels"] = previous.alert["labels"]
                if signal.state != SHORTAGE_STATES.closed:
                    alert["annotations"]["summary"] = (
                        f"Shortage of {signal.item} at plant {signal.plant} is now {signal.severity}, "
                        "below the alerting threshold"
                    )
                alerts.append(alert)
                opened.pop(signal.signal_id, None)
                ended.append(signal.signal_id)
                continue
            starts_at = previous.starts_at if previous else now
            alert = alertmanager_alert(signal, starts_at=starts_at, ends_at=None)
            if previous is not None and previous.alert["labels"] != alert["labels"]:
                # The severity changed: that is another alert to Alertmanager. End the old one,
                # or it would stay active until Alertmanager times it out.
                alerts.append({**previous.alert, "endsAt": _rfc3339(now)})
            alerts.append(alert)
            opened[signal.signal_id] = _OpenAlert(alert, starts_at)
        return alerts, opened, ended

    def maintain(self) -> None:
        """Re-post every open alert once ``resend_interval_s`` has passed since the last time."""
        if self._open and time.monotonic() >= self._next_resend_s:
            self.resync()

    def resync(self) -> None:
        """Re-post every open alert now (after an outage Alertmanager may have lost or expired them)."""
        alerts = [entry.alert for entry in self._open.values()]
        for start in range(0, len(alerts), self.batch_size):
            self._post(alerts[start : start + self.batch_size])
        self._next_resend_s = time.monotonic() + self.resend_interval_s

    def _post(self, alerts: list[dict[str, Any]]) -> None:
        post_json(self.url, json.dumps(alerts).encode(), timeout_s=self.timeout_s)
