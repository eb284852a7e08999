"""The rescheduling check: which open receipts cover a shortfall before new proposals do (SPEC 5).

Netting walks the buckets in date order with the open scheduled receipts in a queue, earliest
first (by date, then reference and slot). A receipt is used only when the balance would fall
below safety stock, so each receipt is used once, by the first shortfall that needs it:
- a receipt that has arrived by the shortfall's bucket is used there; if it arrived more
  than `reschedule_out_tolerance_days` earlier, it gets RESCHEDULE_OUT to that date (netting
  keeps it at its date);
- otherwise the next receipts dated after the shortfall, within `reschedule_horizon_days`
  of it (unset: no limit), are assumed moved in to it, earliest first, until the shortfall is
  covered. A move of more than `reschedule_in_tolerance_days` is a RESCHEDULE_IN trigger;
  one needed before the planning date's bucket is EXPEDITE instead (it cannot be moved into
  the past; it is needed as soon as possible);
- only what those receipts cannot cover gets new proposals (lot sizing);
- a receipt no shortfall uses gets CANCEL.
So no receipt gets two contradictory moves, and no requirement is covered twice.

Example (week buckets, no tolerances): 50 on hand; requirements 40 (week 1), 100 (week 2),
150 (week 3); receipts of 200 in weeks 2 and 4. Week 1 leaves 10. Week 2 falls to -90: the
week-2 receipt has arrived and is used there (no message), 110 left. Week 3 falls to -40: the
week-4 receipt is moved in (RESCHEDULE_IN 4 -> 3), 160 left, and no new proposal is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Literal

from mfgsync.operators.values import value_type

EPS = 1e-9


@value_type
class ScheduledReceipt:
    """An open PO schedule line or production order expected on a date.

    `qty` is the open quantity; `yield_factor` the share of it that reaches stock (assembly
    scrap of a production order).
    """

    date: date
    qty: float
    reference: str
    slot: str = ""
    supplier: str | None = None
    cause_ids: tuple[str, ...] = ()
    correlation_ids: tuple[str, ...] = ()
    yield_factor: float = 1.0

    @property
    def usable(self) -> float:
        """What the receipt adds to the projected balance."""
        return self.qty * self.yield_factor


ActionKind = Literal["RESCHEDULE_IN", "RESCHEDULE_OUT", "CANCEL", "EXPEDITE"]


@value_type
class ReceiptAction:
    """A message about an existing scheduled receipt: move it, expedite it, or cancel it."""

    kind: ActionKind
    receipt: ScheduledReceipt
    new_date: date | None


class ReceiptQueue:
    """Open receipts of one item in the order the rescheduling check uses them."""

    __slots__ = ("_bucket_of", "_first", "_horizon", "_in_tol", "_needed", "_next", "_out_tol", "receipts")

    def __init__(
        self,
        receipts: Sequence[ScheduledReceipt],
        bucket_of: Callable[[date], date],
        first: date,
        horizon_days: int | None,
        in_tolerance_days: int,
        out_tolerance_days: int,
    ) -> None:
        self.receipts = sorted(receipts, key=lambda r: (r.date, r.reference, r.slot))
        self._bucket_of = bucket_of
        self._first = first
        self._horizon = horizon_days
        self._in_tol = in_tolerance_days
        self._out_tol = out_tolerance_days
        self._next = 0
        self._needed: dict[int, tuple[date, date]] = {}

    def cover(self, bucket: date, need_date: date, shortfall: float) -> float:
        """Use receipts for a shortfall in `bucket` (needed on `need_date`); return what they add."""
        added = 0.0
        while shortfall - added > EPS and self._next < len(self.receipts):
            receipt = self.receipts[self._next]
            arrives = self._bucket_of(receipt.date)
            if arrives > bucket and self._horizon is not None and (arrives - bucket).days > self._horizon:
                break
            self._needed[self._next] = (bucket, need_date)
            self._next += 1
            added += receipt.usable
        return added

    def unused_until(self, end: date) -> dict[date, float]:
        """What the receipts not used yet add per bucket before `end`, at their dates."""
        out: dict[date, float] = {}
        for receipt in self.receipts[self._next :]:
            arrives = self._bucket_of(receipt.date)
            if arrives >= end:
                break
            out[arrives] = out.get(arrives, 0.0) + receipt.usable
        return out

    def movable(self, bucket: date) -> float:
        """What receipts dated after `bucket`, within the horizon of it, could add (none used)."""
        total = 0.0
        for receipt in self.receipts:
            arrives = self._bucket_of(receipt.date)
            if arrives <= bucket:
                continue
            if self._horizon is not None and (arrives - bucket).days > self._horizon:
                break
            total += receipt.usable
        return total

    def actions(self) -> tuple[ReceiptAction, ...]:
        """The message for each receipt, after the walk (see the module rules)."""
        out: list[ReceiptAction] = []
        for k, receipt in enumerate(self.receipts):
            used = self._needed.get(k)
            if used is None:
                out.append(ReceiptAction("CANCEL", receipt, None))
                continue
            bucket, need_date = used
            arrives = self._bucket_of(receipt.date)
            if arrives > bucket:
                if (arrives - bucket).days <= self._in_tol:
                    continue
                kind: ActionKind = "EXPEDITE" if need_date < self._first else "RESCHEDULE_IN"
                out.append(ReceiptAction(kind, receipt, need_date))
            elif (bucket - arrives).days > self._out_tol:
                out.append(ReceiptAction("RESCHEDULE_OUT", receipt, need_date))
        return tuple(out)
