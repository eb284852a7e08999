"""Shortage severity: can anything still cover the shortage in time? (SPEC 5).

- WARNING: the projected balance dips below safety stock but never below zero;
- CRITICAL: it goes below zero and no action covers the shortage in time: the open receipts
  dated after the shortage (within the rescheduling horizon) cannot be moved in to cover its
  quantity, and new supply cannot arrive by then: the shortage's bucket is before the bucket
  of planning date + lead time. For a MAKE item the lead time is its own plus the longest
  effective lead time among its components that are short themselves (`effective_lead_time`);
- HIGH: it goes below zero, but a move in or new supply can still make it.

Example (days, planning date Monday 2024-01-01): BUY item, lead time 5 days, 4 short on
Jan 5 with nothing on order: new supply arrives Jan 6 at the earliest, so CRITICAL. The same
with a PO of 10 due Jan 9: moving it in covers the shortage, so HIGH. A finished good (lead
time 2) short on Jan 5 whose motor (lead time 7) is short too: 2 + 7 days, CRITICAL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from mfgsync.operators.calendar import BucketCalendar
from mfgsync.schemas.vocabulary import Severity

EPS = 1e-9


def shortage_severity(
    shortage_date: date,
    shortage_qty: float,
    movable_qty: float,
    below_zero: bool,
    lead_time_days: int,
    today: date,
    calendar: BucketCalendar,
) -> Severity:
    """The severity of a shortage (see the module rules)."""
    if not below_zero:
        return "WARNING"
    if movable_qty >= shortage_qty - EPS:
        return "HIGH"
    earliest = calendar.start_of(today + timedelta(days=lead_time_days))
    return "HIGH" if shortage_date >= earliest else "CRITICAL"


def effective_lead_time(lead_time_days: int, make: bool, short_component_leads: Iterable[int]) -> int:
    """An item's own lead time, plus the longest of its short components' for a MAKE item."""
    if not make:
        return lead_time_days
    return lead_time_days + max(short_component_leads, default=0)
