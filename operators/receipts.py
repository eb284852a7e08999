"""Scheduled receipts: what open orders are expected to bring, and when (SPEC 5).

- An open production order (PLANNED, i.e. firm planned in the ERP, or RELEASED) brings its
  remaining quantity `qty - qty_completed` on its due date; with assembly scrap only its
  yield reaches stock (`yield_factor`).
- An open PO line brings its confirmed schedule lines at their dates and quantities, and the
  unconfirmed remainder at the line's need date; with no confirmation yet, the whole line at
  the need date; a REJECTED confirmation means nothing is expected. Goods received consume
  the earliest lines first.

Example: PO-7 line 10 orders 100 for March 6; the supplier confirms 60 for March 6; 20 are
received. Expected: 40 on March 6 (slot 0) and 40 on March 6 (the unconfirmed rest, slot
"open").
"""

from __future__ import annotations

from datetime import date

from mfgsync.operators.rescheduling import EPS, ScheduledReceipt
from mfgsync.operators.rounding import round9
from mfgsync.schemas.events import ProductionOrderChanged, PurchaseOrderChanged, SupplierConfirmation


def order_receipt(order: ProductionOrderChanged, yield_factor: float = 1.0) -> ScheduledReceipt:
    """An open production order's expected receipt."""
    return ScheduledReceipt(
        date=order.due_date,
        qty=order.qty - order.qty_completed,
        reference=order.order_id,
        slot="order",
        cause_ids=(order.event_id,),
        correlation_ids=(order.correlation_id,) if order.correlation_id else (),
        yield_factor=yield_factor,
    )


def po_line_receipts(
    line: PurchaseOrderChanged, confirmation: SupplierConfirmation | None, received: float
) -> list[ScheduledReceipt]:
    """An open PO line's expected receipts (see the module rules)."""
    if line.status != "OPEN" or line.qty_ordered - received <= EPS:
        return []
    causes = [line.event_id]
    corrs = [line.correlation_id] if line.correlation_id else []
    slots: list[tuple[date, float, str]] = []
    if confirmation is None:
        slots.append((line.need_date, line.qty_ordered, "open"))
    elif confirmation.status != "REJECTED":
        causes.append(confirmation.event_id)
        if confirmation.correlation_id:
            corrs.append(confirmation.correlation_id)
        confirmed = 0.0
        for n, sched in enumerate(sorted(confirmation.schedule, key=lambda s: s.date)):
            if sched.qty > EPS:
                slots.append((sched.date, sched.qty, str(n)))
                confirmed += sched.qty
        if line.qty_ordered - confirmed > EPS:
            slots.append((line.need_date, line.qty_ordered - confirmed, "open"))
    out = []
    left = received
    for day, qty, slot in slots:
        taken = min(left, qty)
        left -= taken
        if qty - taken > EPS:
            out.append(
                ScheduledReceipt(
                    date=day,
                    qty=round9(qty - taken),
                    reference=f"{line.po_id}/{line.line}",
                    slot=slot,
                    supplier=line.supplier or None,
                    cause_ids=tuple(sorted(set(causes))),
                    correlation_ids=tuple(sorted(set(corrs))),
                )
            )
    return out
