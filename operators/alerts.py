"""Which shortage signals become alerts, and when an alert ends (SPEC 7).

Rules, for a configured minimum severity (default HIGH):

- A RAISED or UPDATED signal whose severity ranks at or above the minimum *fires*: its alert
  is open with that record's content (a later record of the same signal id replaces it).
- A signal whose alert is open *ends* it when it resolves (RESOLVED) or when an update drops
  it below the minimum (WARNING under HIGH): that record goes out once more, as the end.
  Should the same signal rise again, it fires anew.
- Anything else (a signal below the minimum that never fired, the RESOLVED record of one
  that never fired or already ended) is not for alert channels.

Example, minimum HIGH, signal ``P1|GEAR``: RAISED WARNING -> nothing; UPDATED HIGH -> fires;
UPDATED CRITICAL -> fires (replaces the HIGH alert); UPDATED WARNING -> ends; RESOLVED ->
nothing (already ended); UPDATED HIGH -> fires again; RESOLVED -> ends.

State: the ids of signals whose alert is open, bounded by the open shortages at or above the
minimum. Pure: no clock, no I/O; channels (`connectors.alert_dispatch`) do the delivery.
"""

from __future__ import annotations

import enum

from mfgsync.schemas.outputs import ShortageSignal
from mfgsync.schemas.vocabulary import SEVERITIES, SEVERITY_RANK, SHORTAGE_STATES, at_least


class AlertAction(enum.Enum):
    """What a shortage signal does to its alert."""

    FIRE = "fire"
    END = "end"
    NONE = "none"


class AlertRule:
    """The alert selection rule above, with the open alerts as its state."""

    def __init__(self, min_severity: str = "HIGH", open_ids: frozenset[str] = frozenset()) -> None:
        if min_severity not in SEVERITY_RANK:
            msg = f"min_severity must be one of {', '.join(SEVERITIES)}, got {min_severity!r}"
            raise ValueError(msg)
        self.min_severity = min_severity
        self._open: set[str] = set(open_ids)

    def fires(self, signal: ShortageSignal) -> bool:
        """Whether this record, on its own, is an open alert (at or above the minimum, not resolved)."""
        return signal.state != SHORTAGE_STATES.closed and at_least(signal.severity, self.min_severity)

    def decide(self, signal: ShortageSignal) -> AlertAction:
        """Apply one signal record; what it does to its alert."""
        if self.fires(signal):
            self._open.add(signal.signal_id)
            return AlertAction.FIRE
        if signal.signal_id in self._open:
            self._open.discard(signal.signal_id)
            return AlertAction.END
        return AlertAction.NONE

    @property
    def open_alerts(self) -> int:
        """How many signals have an open alert."""
        return len(self._open)

    def snapshot(self) -> frozenset[str]:
        """The ids of open alerts (pass back as ``open_ids`` to resume)."""
        return frozenset(self._open)
