"""Netting of one item, as a pure function of its inputs: `net_item` (SPEC 5).

It gives the projected available balance, the proposals, the shortage and the messages
about open receipts. The rules it combines live in their own modules: buckets in
`calendar`, the rescheduling check in `rescheduling`, proposal quantities in `lot_sizing`,
severity in `severity`.

Rules, as the code applies them (dates are bucket start dates):
- Requirements and scheduled receipts dated before the first bucket (the one holding the
  planning date) count in the first bucket: they are past due.
- `PAB(t) = PAB(t-1) + scheduled_receipts(t) + planned_receipts(t) - gross_requirements(t)`,
  starting from `available`. When PAB would fall below safety stock in bucket t, the
  rescheduling check first uses open receipts (arrived ones, then ones moved in); only what
  they cannot cover gets proposals, sized by `lot_sizing` (their yield counts).
- Inside the first bucket, requirements are netted in groups by their own bucket's date
  (a past-due day, a past-due week, then the current one), earliest first, and every
  receipt dated in the first bucket (past-due ones too) is available from its opening. So a
  requirement that becomes past due when the planning date moves keeps the proposal it had,
  with the quantity it had, instead of merging with the next date's (SPEC 5: a trigger id
  depends on the requirement date it covers, never on the planning date).
- Stock already below safety stock before any requirement is a need of its own, netted
  first: the first-bucket receipts cover it, then a proposal (`covers` None, the
  `safety-stock` trigger). It is needed on the date of the stock position that shows it
  (`stock_date`: the item's latest stock event; in week buckets, that date's week), not on
  the planning date: the inputs say the stock is short since then, as a requirement of
  that date would, and a date that moved with the planning date would re-date the proposal
  (and every component requirement below it) every day with nothing changed.
- A proposal covers the requirement date of its step (or the stock date, above). It is due
  `safety_time_days` before that, but never inside the planning time fence
  (`planning_time_fence_days` after the planning date: a proposal due earlier is due on the
  fence's last day), and released `lead_time_days` before it is due. A release before the
  planning date keeps its dates and is flagged `release_in_past`, with
  `earliest_receipt_date` = planning date + lead time.
- PERIODS_OF_SUPPLY counts its `lot_size_periods` from the bucket of the date the proposal
  covers, so a past-due proposal covers the same requirements whatever the planning date.
- Shortage: the first bucket where PAB with receipts at their current dates and *before
  proposals* falls below safety stock, with `safety_stock - PAB` there, and its severity.
- Excess stock: what is left at the end of the horizon above safety stock, after cancelling
  unneeded receipts, and no more than the available stock.

Example (week buckets, planning date Monday W1, lead time 1 week, LOT_FOR_LOT): 20 on hand,
requirements 10 (W1), 15 (W2), 20 (W3); a PO of 10 due W4. W1 leaves 10; W2 falls to -5:
the W4 PO is moved in to W2 (RESCHEDULE_IN), 5 left; W3 falls to -15: a proposal of 15 due
W3, released W2. The shortage (before proposals, PO at W4) is 5 in W2.

Example (day buckets, no stock, lead time 0): requirements of 5 on March 5 and of 5 on March
10. Planning on March 10 gives two proposals, 5 covering March 5 (released in the past) and 5
covering March 10; planning on March 11 gives the same two, not one of 10.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from operator import attrgetter

from mfgsync.operators.calendar import BucketCalendar
from mfgsync.operators.lot_sizing import proposal_quantities
from mfgsync.operators.parameters import LotSizeRule, PlanningSettings
from mfgsync.operators.rescheduling import ReceiptAction, ReceiptQueue, ScheduledReceipt
from mfgsync.operators.rounding import round_quantity
from mfgsync.operators.severity import shortage_severity
from mfgsync.operators.values import value_type
from mfgsync.schemas.vocabulary import Severity

__all__ = [
    "EPS",
    "MAX_CAUSES",
    "ItemPlan",
    "LotSizeRule",
    "PlannedOrder",
    "PlanningSettings",
    "ReceiptAction",
    "Requirement",
    "ScheduledReceipt",
    "Shortage",
    "StepIds",
    "net_item",
    "union_ids",
]

EPS = 1e-9
MAX_CAUSES = 16
"""Cause event ids and correlation ids kept per requirement, order and signal (sorted, first
ones). They travel down the BOM levels, so the bound keeps netting cost flat."""
MAX_IMPACTED = 50


@value_type
class Requirement:
    """A gross requirement: quantity needed on a date, and what it comes from.

    `use_up_for` is set on a requirement of a new component offered to the component it
    replaces (discontinuation with use-up, see `requirements`): it names the new component.
    """

    date: date
    qty: float
    reference: str
    cause_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()
    use_up_for: str | None = None


@value_type
class PlannedOrder:
    """A proposal: received on `need_date`, released on `release_date`.

    `covers` is the requirement date it covers (None: stock already below safety stock in the
    first bucket) and `ordinal` its lot among the proposals of that date (0, 1, ...): together
    they identify it whatever the planning date.
    """

    need_date: date
    release_date: date
    qty: float
    cause_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]
    covers: date | None = None
    ordinal: int = 0
    release_in_past: bool = False
    earliest_receipt_date: date | None = None


@dataclass(frozen=True, slots=True)
class Shortage:
    """The first shortfall below safety stock before proposals.

    `movable_qty` is what open receipts dated after it could add if moved in, and
    `below_zero` whether the balance goes below zero: the planner re-rates the severity with
    the components' lead times (`severity`).
    """

    date: date
    qty: float
    severity: Severity
    impacted_orders: tuple[str, ...]
    cause_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]
    movable_qty: float = 0.0
    below_zero: bool = False


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
    stock_date: date | None = None,
    memo: StepIds | None = None,
) -> ItemPlan:
    """Net one item over its requirements and receipts (see the module rules).

    `stock_date` is the date of the stock position `available` (its latest stock event):
    the date a safety-stock replenishment for stock already short is needed (default: today).
    `memo` keeps the id unions of this item's steps from one netting to its next; the
    result is the same with it or without.
    """
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
        incoming[b] = incoming.get(b, 0.0) + rec.usable
    # Today's bucket is always planned: stock below safety stock needs an order even with no
    # requirement at all.
    buckets = sorted(gross.keys() | incoming.keys() | {first})
    steps = _steps(buckets, first, by_bucket, gross, calendar, stock_date or today)
    if memo is None:
        memo = StepIds()
    ids = memo.renew(steps)
    ss = settings.safety_stock
    queue = ReceiptQueue(
        receipts,
        bucket,
        first,
        settings.reschedule_horizon_days,
        settings.reschedule_in_tolerance_days,
        settings.reschedule_out_tolerance_days,
    )

    balance = available  # with proposals; receipts added when the rescheduling check uses them
    before = available  # before proposals, receipts at their dates
    projected_min = available
    shortage_bucket: date | None = None
    shortage_qty = 0.0
    short_buckets: list[date] = []
    for b in buckets:
        before += incoming.get(b, 0.0) - gross.get(b, 0.0)
        projected_min = min(projected_min, before)
        if before < ss - EPS:
            short_buckets.append(b)
            if shortage_bucket is None:
                shortage_bucket, shortage_qty = b, ss - before
    planned: list[tuple[int, tuple[float, ...]]] = []  # step, lots
    for k, step in enumerate(steps):
        balance -= step.qty
        if balance >= ss - EPS:
            continue
        balance += queue.cover(step.bucket, step.need, ss - balance)
        if balance >= ss - EPS:
            continue
        lots = proposal_quantities(settings, _cover(settings, balance, steps, k, queue, calendar))
        planned.append((k, lots))
        balance += sum(lots) * settings.yield_factor

    orders = tuple(_proposals(settings, planned, steps, ids, today))
    shortage = None
    if shortage_bucket is not None:
        # Every requirement due in a short bucket, as the unions of the steps that hold them.
        short = set(short_buckets)
        impacted = [step_ids for step, step_ids in zip(steps, ids, strict=True) if step.bucket in short]
        movable = queue.movable(shortage_bucket)
        below_zero = projected_min < -EPS
        shortage = Shortage(
            date=shortage_bucket,
            qty=round_quantity(shortage_qty),
            severity=shortage_severity(
                shortage_bucket, shortage_qty, movable, below_zero, settings.lead_time_days, today, calendar
            ),
            impacted_orders=memo.union("references", tuple(i.references() for i in impacted), MAX_IMPACTED),
            cause_ids=memo.union("causes", tuple(i.causes() for i in impacted), MAX_CAUSES),
            correlation_ids=memo.union("correlations", tuple(i.correlations() for i in impacted), MAX_CAUSES),
            movable_qty=round_quantity(movable),
            below_zero=below_zero,
        )
    actions = queue.actions()
    cancelled = sum(a.receipt.usable for a in actions if a.kind == "CANCEL")
    excess = max(0.0, min(available, before - ss - cancelled))
    return ItemPlan(
        planned_orders=orders,
        receipt_actions=actions,
        shortage=shortage,
        projected_min=round_quantity(projected_min),
        projected_end=round_quantity(before),
        excess_stock=round_quantity(excess),
    )


@value_type
class _Step:
    """Requirements netted together: one bucket, or in the first bucket one date's share.

    `covers` is the requirement date the step's proposals cover (None: the opening
    safety-stock step), `need` the date they are needed (`covers`, or the stock date), and
    `qty` the gross requirement of the step.
    """

    bucket: date
    covers: date | None
    need: date
    qty: float
    requirements: tuple[Requirement, ...]


def _steps(
    buckets: list[date],
    first: date,
    by_bucket: dict[date, list[Requirement]],
    gross: dict[date, float],
    calendar: BucketCalendar,
    stock_date: date,
) -> list[_Step]:
    """The netting steps in date order (see the module rules on the first bucket).

    The first bucket opens with the safety-stock step (stock already short, needed since
    the stock date), then nets its requirements grouped by their own bucket's date, earliest
    first; every later bucket is one step.
    """
    opening = _Step(first, None, min(calendar.start_of(stock_date), first), 0.0, ())
    out = [opening]
    for b in buckets:
        reqs = by_bucket.get(b, ())
        if b != first:
            out.append(_Step(b, b, b, gross.get(b, 0.0), tuple(reqs)))
            continue
        groups: dict[date, list[Requirement]] = {}
        for req in reqs:
            groups.setdefault(min(calendar.start_of(req.date), first), []).append(req)
        for day in sorted(groups):
            group = groups[day]
            out.append(_Step(b, day, day, sum(map(_qty, group)), tuple(group)))
    return out


_reference = attrgetter("reference")
_qty = attrgetter("qty")
_cause_ids = attrgetter("cause_ids")
_correlation_ids = attrgetter("correlation_ids")


def _bucket_function(calendar: BucketCalendar, first: date) -> Callable[[date], date]:
    """Maps a date to its bucket's start, dates before today's bucket to today's bucket."""
    if calendar.size == "day":
        return lambda day: day if day > first else first
    start_of = calendar.start_of
    return lambda day: max(start_of(day), first)


def _cover(
    settings: PlanningSettings,
    balance: float,
    steps: list[_Step],
    k: int,
    queue: ReceiptQueue,
    calendar: BucketCalendar,
) -> float:
    """What the proposals of step `k` must add to the balance, by the lot-sizing rule."""
    ss = settings.safety_stock
    net = ss - balance
    rule = settings.lot_size_rule
    if rule == "REPLENISH_TO_MAX" and settings.max_stock_level is not None:
        return max(net, settings.max_stock_level - balance)
    if rule == "PERIODS_OF_SUPPLY":
        # The periods count from the bucket of the date the proposal covers.
        end = calendar.advance(calendar.start_of(steps[k].need), settings.lot_size_periods or 1)
        arriving = queue.unused_until(end)
        cover, running = net, balance
        counted = {steps[k].bucket}
        for step in steps[k + 1 :]:
            if step.need >= end:
                break
            if step.bucket not in counted:
                counted.add(step.bucket)
                running += arriving.get(step.bucket, 0.0)
            running -= step.qty
            cover = max(cover, ss - running)
        return cover
    return net


def _proposals(
    settings: PlanningSettings,
    planned: list[tuple[int, tuple[float, ...]]],
    steps: list[_Step],
    ids: list[_StepIds],
    today: date,
) -> Iterable[PlannedOrder]:
    """The proposals, dated: safety time, planning time fence, lead time offset."""
    fence = settings.planning_time_fence_days > 0
    fence_end = today + timedelta(days=settings.planning_time_fence_days)
    lead = timedelta(days=settings.lead_time_days)
    safety_time = timedelta(days=settings.safety_time_days)
    earliest = today + lead
    for j, (k, lots) in enumerate(planned):
        step = steps[k]
        due = step.need - safety_time
        if fence and due < fence_end:
            due = fence_end
        release = due - lead
        in_past = release < today
        # Causes: the requirements of its own step; correlation ids: of every requirement
        # it serves, up to the next step with proposals.
        until = planned[j + 1][0] if j + 1 < len(planned) else len(steps)
        causes = ids[k].causes()
        if until == k + 1:
            corrs = ids[k].correlations()
        else:
            corrs = union_ids([i.correlations() for i in ids[k:until]], MAX_CAUSES)
        # Positional arguments, in field order: a rebuild makes one per proposal.
        covers, receipt_date = step.covers, earliest if in_past else None
        for n, qty in enumerate(lots):
            yield PlannedOrder(due, release, qty, causes, corrs, covers, n, in_past, receipt_date)


class StepIds:
    """The id unions of one item's netting steps, kept from one netting to its next.

    Re-netting an item after a change upstream (a parent's proposal resized by a stock
    movement at a finished good, say) gives most of its steps the very requirements they had,
    and merging and sorting their ids again was about a quarter of such a netting. A step keeps its
    unions while its requirements are equal to its last ones; only the last netting's steps
    are kept. The unions of a stretch of steps are the unions of the steps' unions: the first
    n of a sorted union are among the first n of the part each one comes from.
    """

    __slots__ = ("steps", "unions")

    def __init__(self) -> None:
        self.steps: dict[date | None, _StepIds] = {}
        self.unions: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {}
        """The shortage's last unions over its steps, by name, with the parts they were made of."""

    def union(self, name: str, parts: tuple[tuple[str, ...], ...], limit: int) -> tuple[str, ...]:
        """`union_ids(parts, limit)`, again without merging when the parts equal the last ones.

        A cascade changes the quantities of a step's requirements, rarely their ids, so the
        shortage of an item short over most of its horizon names the same ids as before.
        """
        known = self.unions.get(name)
        if known is not None and known[0] == parts:
            return known[1]
        merged = union_ids(parts, limit)
        self.unions[name] = (parts, merged)
        return merged

    def renew(self, steps: list[_Step]) -> list[_StepIds]:
        """The unions of each of `steps`, kept where a step's requirements did not change."""
        known = self.steps
        out = []
        for step in steps:
            hit = known.get(step.covers)
            if hit is None or hit.requirements != step.requirements:
                hit = _StepIds(step.requirements)
            out.append(hit)
        self.steps = {step.covers: hit for step, hit in zip(steps, out, strict=True)}
        return out


class _StepIds:
    """A step's unions of cause ids, correlation ids and references, made when first asked."""

    __slots__ = ("_causes", "_correlations", "_references", "requirements")

    def __init__(self, requirements: tuple[Requirement, ...]) -> None:
        self.requirements = requirements
        self._causes: tuple[str, ...] | None = None
        self._correlations: tuple[str, ...] | None = None
        self._references: tuple[str, ...] | None = None

    def causes(self) -> tuple[str, ...]:
        if self._causes is None:
            self._causes = _union_of(self.requirements, _cause_ids)
        return self._causes

    def correlations(self) -> tuple[str, ...]:
        if self._correlations is None:
            self._correlations = _union_of(self.requirements, _correlation_ids)
        return self._correlations

    def references(self) -> tuple[str, ...]:
        if self._references is None:
            reqs = self.requirements
            if len(reqs) == 1:
                self._references = (reqs[0].reference,)
            else:
                self._references = tuple(sorted(set(map(_reference, reqs)))[:MAX_IMPACTED])
        return self._references


def _union_of(
    requirements: tuple[Requirement, ...], get: Callable[[Requirement], tuple[str, ...]]
) -> tuple[str, ...]:
    """`union_ids` of one id field over a step's requirements.

    Half of all steps hold one requirement, and nine in ten requirements name one cause and
    no correlation: such a step's union is its requirement's own tuple.
    """
    if len(requirements) == 1:
        own = get(requirements[0])
        if len(own) < 2:
            return own
    return union_ids(map(get, requirements), MAX_CAUSES)


def union_ids(groups: Iterable[tuple[str, ...]], limit: int = MAX_CAUSES) -> tuple[str, ...]:
    """The sorted union of id tuples, first `limit` (set union runs in C: this is a hot path)."""
    merged: set[str] = set()
    merged.update(*groups)
    if len(merged) < 2:
        return tuple(merged)
    return tuple(sorted(merged)[:limit])
