"""A lean reference netting pass: the lower bound `bench.planning` holds the planner against.

The same plant, the same rules, none of the bookkeeping: no ids, no records, no changelog,
no incremental state. Days are integers (date ordinals), an item's gross requirements a
plain dict day -> quantity, items netted level by level (every parent of a `bench.planning`
item is on a higher level, so a level's gross requirements are complete before it is netted).

What it reproduces of `operators/netting.py` and `operators/requirements.py`, for day
buckets and the plant-wide defaults `bench.planning` uses (no safety time, no planning time
fence, no rescheduling horizon):
- stock already below safety stock is netted first (its proposal released `lead_time_days`
  before the planning date: the bench's positions carry no stock date); then past-due
  requirements, each date by itself, and the buckets from the planning date on, in date
  order;
- open receipts (production orders' remaining quantity on their due date, PO lines at their
  confirmed schedule dates or their need date) are used, whole, in (date, reference, slot)
  order only when the balance would fall below safety stock (the rescheduling check);
- what they cannot cover gets a proposal: LOT_FOR_LOT the net requirement, MIN_QTY at least
  `lot_size_qty`, FIXED_QTY lots of `lot_size_qty` (multiples and maxima are not generated
  by the bench and not reproduced);
- a proposal is released `lead_time_days` before the bucket it covers and, for a MAKE item,
  exploded on its release date through the BOM (phantoms blown through, `qty_per x (1 +
  scrap)`), as are open production orders on their start date.

It computes planned orders only (count and total quantity per item), not shortages,
receipt messages or excess: those do not feed lower levels. Not reproduced: week buckets,
safety time, time fences, horizons, yields, use-up, BOM effectivity beyond one revision per
parent (the bench's plant has one until its revision loop), cycles (the plant has none).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date

from mfgsync.schemas.events import (
    BomRevisionReleased,
    DemandChanged,
    Event,
    ItemPlanningParams,
    ProductionOrderChanged,
    PurchaseOrderChanged,
    SupplierConfirmation,
)

EPS = 1e-9


def _round(value: float) -> float:
    rounded = round(value, 9)
    return 0.0 if rounded == 0 else rounded


def reference_plan(
    events: Iterable[Event], available: dict[str, float], levels: list[list[str]], today: date
) -> dict[str, tuple[int, float]]:
    """Per item: (planned orders, their total quantity)."""
    t0 = today.toordinal()
    params: dict[str, ItemPlanningParams] = {}
    revisions: dict[str, BomRevisionReleased] = {}
    orders: list[ProductionOrderChanged] = []
    lines: dict[tuple[str, int], PurchaseOrderChanged] = {}
    confirmed: dict[tuple[str, int], SupplierConfirmation] = {}
    demands: list[DemandChanged] = []
    for e in events:
        if isinstance(e, ItemPlanningParams):
            params[e.item] = e
        elif isinstance(e, BomRevisionReleased):
            revisions[e.parent_item] = e
        elif isinstance(e, ProductionOrderChanged):
            orders.append(e)
        elif isinstance(e, PurchaseOrderChanged):
            lines[(e.po_id, e.line)] = e
        elif isinstance(e, SupplierConfirmation):
            confirmed[(e.po_id, e.line)] = e
        elif isinstance(e, DemandChanged):
            demands.append(e)

    def flat(parent: str, factor: float, out: list[tuple[str, float]]) -> None:
        for line in revisions[parent].lines:
            qty = factor * line.qty_per * (1.0 + line.scrap_pct / 100.0)
            if line.phantom and line.component in revisions:
                flat(line.component, qty, out)
            else:
                out.append((line.component, qty))

    bom: dict[str, list[tuple[str, float]]] = {}
    for parent in revisions:
        bom[parent] = exploded = []
        flat(parent, 1.0, exploded)

    gross: dict[str, dict[int, float]] = {}
    receipts: dict[str, list[tuple[int, str, str, float]]] = {}

    def ask(item: str, day: int, qty: float) -> None:
        g = gross.setdefault(item, {})
        g[day] = g.get(day, 0.0) + qty

    for d in demands:
        if d.status == "OPEN" and d.qty > EPS:
            ask(d.item, d.due_date.toordinal(), d.qty)
    for o in orders:
        remaining = o.qty - o.qty_completed
        if o.status not in ("PLANNED", "RELEASED") or remaining <= EPS:
            continue
        receipts.setdefault(o.item, []).append((o.due_date.toordinal(), o.order_id, "order", remaining))
        start = o.start_date.toordinal()
        for component, per in bom.get(o.item, ()):
            qty = per * remaining
            if qty > EPS:
                ask(component, start, round(qty, 9))
    for key, po in lines.items():
        if po.status != "OPEN":
            continue
        ref = f"{po.po_id}/{po.line}"
        conf = confirmed.get(key)
        rest = po.qty_ordered
        if conf is not None and conf.status != "REJECTED":
            for n, s in enumerate(sorted(conf.schedule, key=lambda s: s.date)):
                if s.qty > EPS:
                    receipts.setdefault(po.item, []).append((s.date.toordinal(), ref, str(n), s.qty))
                    rest -= s.qty
        elif conf is not None:
            rest = 0.0
        if rest > EPS:
            receipts.setdefault(po.item, []).append((po.need_date.toordinal(), ref, "open", rest))

    result: dict[str, tuple[int, float]] = {}
    for level in levels:
        for item in level:
            p = params[item]
            ss = p.safety_stock
            rule = p.lot_size_rule
            lot = p.lot_size_qty
            g = gross.get(item, {})
            queue = sorted(receipts.get(item, ()))
            nxt = 0
            balance = available.get(item, 0.0)
            count = 0
            total = 0.0
            explode = bom.get(item) if p.make_or_buy == "MAKE" else None
            lead = p.lead_time_days
            # The opening step (stock already short, qty 0), then every date in order.
            for day, need in [(t0, 0.0), *sorted(g.items())]:
                balance -= need
                if balance >= ss - EPS:
                    continue
                while ss - balance > EPS and nxt < len(queue):
                    balance += queue[nxt][3]
                    nxt += 1
                if balance >= ss - EPS:
                    continue
                net = ss - balance
                if rule == "FIXED_QTY":
                    lots = (_round(lot),) * max(math.ceil(_round(net / lot) - EPS), 1)
                elif rule == "MIN_QTY":
                    lots = (_round(max(_round(net), lot)),)
                else:
                    lots = (_round(net),)
                release = day - lead
                for qty in lots:
                    count += 1
                    total += qty
                    balance += qty
                    if explode:
                        for component, per in explode:
                            ask(component, release, round(per * qty, 9))
            result[item] = (count, total)
    return result
