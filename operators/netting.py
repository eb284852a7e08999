"""Netting of one item, as a pure function of its inputs: `net_item` (SPEC 5).

It gives the projected available balance, planned orders, the shortage and rescheduling
messages.

Rules, as the code applies them (dates are bucket start dates):
- Requirements and scheduled receipts dated before today's bucket count in today's bucket.
- `PAB(t) = PAB(t-1) + scheduled_receipts(t) + planned_receipts(t) - gross_requirements(t)`,
  starting from `available`. Scheduled receipts stay at their dates (classic MRP); whether
  they should move is reported separately as rescheduling messages.
- When PAB would fall below safety stock in bucket t, a planned order is received in t for
  the net requirement `safety_stock - PAB`, sized by the lot-sizing rule:
  LOT_FOR_LOT: the net requirement; FIXED_QTY: the fewest whole lots of `lot_size_qty` that
  cover it; MIN_QTY: `max(net, lot_size_qty)` rounded up to `lot_size_multiple` if given;
  PERIODS_OF_SUPPLY: enough to keep PAB at safety stock through buckets t .. t+N-1.
  It is released `lead_time_days` before its receipt (release dates may be in the past).
- Shortage: the first bucket where PAB *before planned orders* falls below safety stock, with
  `safety_stock - PAB` there. CRITICAL when it is today or inside the lead time, else HIGH when
  the projected balance goes below zero anywhere, else WARNING (safety stock only).
- Rescheduling: walking buckets in order with no planned orders, whenever the balance falls
  below safety stock the next scheduled receipt (by date) is pulled in to cover it; that
  bucket is the date it is needed. A receipt needed earlier than it comes is RESCHEDULE_IN, one
  needed more than `reschedule_out_days` after it comes is RESCHEDULE_OUT, one never needed
  is CANCEL.
- Excess stock: what is left at the end of the horizon above safety stock, after cancelling
  unneeded receipts, and no more than the available stock.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import Literal

from mfgsync.operators.calendar import BucketCalendar
from mfgsync.schemas.vocabulary import Severity

EPS = 1e-9
MAX_CAUSES = 16
"""Cause event ids and correlation ids kept per requirement, order and signal (sorted, first
ones). They travel down the BOM levels, so the bound keeps netting cost flat."""
MAX_IMPACTED = 50

LotSizeRule = Literal["LOT_FOR_LOT", "FIXED_QTY", "MIN_QTY", "PERIODS_OF_SUPPLY"]


@dataclass(frozen=True, slots=True)
class PlanningSettings:
    """The planning parameters of one item, defaults filled in."""

    make: bool = False
    lead_time_days: int = 0
    safety_stock: float = 0.0
    lot_size_rule: LotSizeRule = "LOT_FOR_LOT"
    lot_size_qty: float = 0.0
    lot_size_multiple: float | None = None
    lot_size_periods: int | None = None
    supplier: str | None = None


@dataclass(frozen=True, slots=True)
class Requirement:
    """A gross requirement: quantity needed on a date, and what it comes from."""

    date: date
    qty: float
    reference: str
    cause_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduledReceipt:
    """An open PO schedule line or production order expected on a date."""

    date: date
    qty: float
    reference: str
    slot: str = ""
    supplier: str | None = None
    cause_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """A planned receipt on `need_date`, to be released on `release_date`."""

    need_date: date
    release_date: date
    qty: float
    cause_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReceiptAction:
    """A message about an existing scheduled receipt: move it, or cancel it."""

    kind: Literal["RESCHEDULE_IN", "RESCHEDULE_OUT", "CANCEL"]
    receipt: ScheduledReceipt
    new_date: date | None


@dataclass(frozen=True, slots=True)
class Shortage:
    """The first shortfall below safety stock before planned orders."""

    date: date
    qty: float
    severity: Severity
    impacted_orders: tuple[str, ...]
    cause_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ItemPlan:
    """The netting result of one item."""

    planned_orders: tuple[PlannedOrder, ...]
    receipt_actions: tuple[ReceiptAction, ...]
    shortage: Shortage | None
    projected_min: float
    projected_end: float
    excess_stock: float


def net_item(
    settings: PlanningSettings,
    available: float,
    requirements: Sequence[Requirement],
    receipts: Sequence[ScheduledReceipt],
    today: date,
    calendar: BucketCalendar,
    reschedule_out_days: int = 0,
) -> ItemPlan:
    """Net one item over its requirements and receipts (see the module rules)."""
    first = calendar.start_of(today)
    bucket = _bucket_function(calendar, first)

    gross: dict[date, float] = {}
    by_bucket: dict[date, list[Requirement]] = {}
    for req in requirements:
        b = bucket(req.date)
        gross[b] = gross.get(b, 0.0) + req.qty
        if b in by_bucket:
            by_bucket[b].append(req)
        else:
            by_bucket[b] = [req]
    incoming: dict[date, float] = {}
    for rec in receipts:
        b = bucket(rec.date)
        incoming[b] = incoming.get(b, 0.0) + rec.qty
    # Today's bucket is always planned: stock below safety stock needs an order even with no
    # requirement at all.
    buckets = sorted(gross.keys() | incoming.keys() | {first})
    ss = settings.safety_stock

    balance = available  # with planned orders
    before = available  # before planned orders
    projected_min = available
    shortage_bucket: date | None = None
    shortage_qty = 0.0
    short_buckets: list[date] = []
    planned: list[tuple[date, float]] = []
    for i, b in enumerate(buckets):
        change = incoming.get(b, 0.0) - gross.get(b, 0.0)
        balance += change
        before += change
        projected_min = min(projected_min, before)
        if before < ss - EPS:
            short_buckets.append(b)
            if shortage_bucket is None:
                shortage_bucket, shortage_qty = b, ss - before
        if balance < ss - EPS:
            qty = _lot_size(settings, ss - balance, balance, buckets, i, incoming, gross, calendar)
            planned.append((b, qty))
            balance += qty

    orders = tuple(
        _planned_order(settings, b, qty, _covered(b, planned, j, buckets, by_bucket))
        for j, (b, qty) in enumerate(planned)
    )
    shortage = None
    if shortage_bucket is not None:
        # Every requirement due in a short bucket; map/attrgetter keep these loops in C, as
        # a shortage deep in a BOM can span hundreds of requirements.
        impacted = list(chain.from_iterable(map(by_bucket.get, short_buckets, repeat(()))))
        shortage = Shortage(
            date=shortage_bucket,
            qty=_round(shortage_qty),
            severity=_severity(shortage_bucket, today, first, settings, projected_min),
            impacted_orders=_capped(map(_reference, impacted), MAX_IMPACTED),
            cause_ids=union_ids(map(_cause_ids, impacted), MAX_CAUSES),
            correlation_ids=union_ids(map(_correlation_ids, impacted), MAX_CAUSES),
        )
    actions = _receipt_actions(available, ss, buckets, gross, receipts, bucket, reschedule_out_days)
    cancelled = sum(a.receipt.qty for a in actions if a.kind == "CANCEL")
    excess = max(0.0, min(available, before - ss - cancelled))
    return ItemPlan(
        planned_orders=orders,
        receipt_actions=actions,
        shortage=shortage,
        projected_min=_round(projected_min),
        projected_end=_round(before),
        excess_stock=_round(excess),
    )


_reference = attrgetter("reference")
_cause_ids = attrgetter("cause_ids")
_correlation_ids = attrgetter("correlation_ids")


def _bucket_function(calendar: BucketCalendar, first: date) -> Callable[[date], date]:
    """Maps a date to its bucket's start, dates before today's bucket to today's bucket."""
    if calendar.size == "day":
        return lambda day: day if day > first else first
    start_of = calendar.start_of
    return lambda day: max(start_of(day), first)


def _lot_size(
    settings: PlanningSettings,
    net: float,
    balance: float,
    buckets: list[date],
    i: int,
    incoming: dict[date, float],
    gross: dict[date, float],
    calendar: BucketCalendar,
) -> float:
    rule = settings.lot_size_rule
    if rule == "FIXED_QTY":
        lot = settings.lot_size_qty
        return _round(lot * math.ceil(net / lot - EPS))
    if rule == "MIN_QTY":
        qty = max(net, settings.lot_size_qty)
        multiple = settings.lot_size_multiple
        if multiple:
            qty = multiple * math.ceil(qty / multiple - EPS)
        return _round(qty)
    if rule == "PERIODS_OF_SUPPLY":
        end = calendar.advance(buckets[i], settings.lot_size_periods or 1)
        qty, running = net, balance
        for b in buckets[i + 1 :]:
            if b >= end:
                break
            running += incoming.get(b, 0.0) - gross.get(b, 0.0)
            qty = max(qty, settings.safety_stock - running)
        return _round(qty)
    return _round(net)


def _covered(
    b: date,
    planned: list[tuple[date, float]],
    j: int,
    buckets: list[date],
    by_bucket: dict[date, list[Requirement]],
) -> tuple[list[Requirement], list[Requirement]]:
    """A planned order's own bucket's requirements (its causes) and those it serves.

    It serves the requirements from its bucket up to the next planned order's.
    """
    until = planned[j + 1][0] if j + 1 < len(planned) else None
    start = bisect.bisect_left(buckets, b)
    served: list[Requirement] = []
    for rb in buckets[start:]:
        if until is not None and rb >= until:
            break
        served.extend(by_bucket.get(rb, ()))
    return by_bucket.get(b, []), served


def _planned_order(
    settings: PlanningSettings, need: date, qty: float, covered: tuple[list[Requirement], list[Requirement]]
) -> PlannedOrder:
    own, served = covered
    return PlannedOrder(
        need_date=need,
        release_date=need - timedelta(days=settings.lead_time_days),
        qty=qty,
        cause_ids=union_ids(map(_cause_ids, own), MAX_CAUSES),
        correlation_ids=union_ids(map(_correlation_ids, served), MAX_CAUSES),
    )


def _severity(
    shortage: date,
    today: date,
    first: date,
    settings: PlanningSettings,
    projected_min: float,
) -> Severity:
    if shortage <= first or shortage < today + timedelta(days=settings.lead_time_days):
        return "CRITICAL"
    return "HIGH" if projected_min < -EPS else "WARNING"


def _receipt_actions(
    available: float,
    ss: float,
    buckets: list[date],
    gross: dict[date, float],
    receipts: Sequence[ScheduledReceipt],
    bucket_of: Callable[[date], date],
    reschedule_out_days: int,
) -> tuple[ReceiptAction, ...]:
    pending = sorted(receipts, key=lambda r: (r.date, r.reference, r.slot))
    needed: dict[int, date] = {}
    balance = available
    nxt = 0
    for b in buckets:
        balance -= gross.get(b, 0.0)
        while balance < ss - EPS and nxt < len(pending):
            balance += pending[nxt].qty
            needed[nxt] = b
            nxt += 1
    actions: list[ReceiptAction] = []
    slack = timedelta(days=reschedule_out_days)
    for k, rec in enumerate(pending):
        current = bucket_of(rec.date)
        if k not in needed:
            actions.append(ReceiptAction("CANCEL", rec, None))
        elif needed[k] < current:
            actions.append(ReceiptAction("RESCHEDULE_IN", rec, needed[k]))
        elif needed[k] - current > slack:
            actions.append(ReceiptAction("RESCHEDULE_OUT", rec, needed[k]))
    return tuple(actions)


def _capped(values: Iterable[str], limit: int) -> tuple[str, ...]:
    return tuple(sorted(set(values))[:limit])


def union_ids(groups: Iterable[tuple[str, ...]], limit: int = MAX_CAUSES) -> tuple[str, ...]:
    """The sorted union of id tuples, first `limit` (set union runs in C: this is a hot path)."""
    merged: set[str] = set()
    merged.update(*groups)
    if len(merged) < 2:
        return tuple(merged)
    return tuple(sorted(merged)[:limit])


def _round(value: float) -> float:
    # Quantities come from sums and products of decimals; 9 places keep float noise
    # (0.30000000000000004) out of the outputs and out of changelog comparisons.
    rounded = round(value, 9)
    return 0.0 if rounded == 0 else rounded
