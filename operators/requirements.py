"""Gross requirements: what an item is asked for, and by whom (SPEC 5).

- Independent demand: an open `DemandChanged` asks its quantity on its due date.
- An open production order of a parent asks, per exploded BOM line, `qty_per x remaining
  qty x (1 + scrap)` on the order's start date, less what ISSUE movements referencing the
  order have already issued of the component (`order_requirements`).
- A proposal of a MAKE parent asks `qty_per x (1 + scrap) x planned qty` on its release date
  (`proposal_requirements`): a parent's planned order release is its components'
  requirement, and the planned quantity is exploded (not its yield).
- Discontinuation with use-up: a line with `replaces: OLD` and `use_up: true` asks its
  requirement of OLD first. `use_up` covers as much of each such requirement (earliest
  first) as OLD's projected stock, receipts at their dates and after OLD's own other
  requirements and safety stock, can spare from then on; only the rest is required of the
  new component, and the first date with a rest is the switch.

Example (use-up): OLD has 30 on hand, needs 10 of its own on day 5; NEW replaces it from
day 3 with use-up, asked 15 on day 3 and 15 on day 8. OLD can spare 20 from day 3 on (30 less
its own 10): day 3 takes 15 from OLD, day 8 takes 5 from OLD and 10 from NEW. The switch is on
day 8 with 10 moved to NEW; OLD makes no proposal, and has no stock left for excess.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date

from mfgsync.operators.bom import ExplodedLine
from mfgsync.operators.netting import EPS, PlannedOrder, Requirement, ScheduledReceipt, union_ids
from mfgsync.operators.rounding import round9
from mfgsync.schemas.events import DemandChanged, ProductionOrderChanged

Ids = Callable[[tuple[str, ...], tuple[str, ...]], tuple[str, ...]]


def demand_requirement(demand: DemandChanged) -> Requirement:
    """An open independent demand's requirement."""
    return Requirement(
        date=demand.due_date,
        qty=demand.qty,
        reference=demand.demand_id,
        cause_ids=(demand.event_id,),
        correlation_ids=(demand.correlation_id,) if demand.correlation_id else (),
    )


def order_requirements(
    order: ProductionOrderChanged,
    lines: Iterable[ExplodedLine],
    issued: Mapping[tuple[str, str], float],
    ids: Ids = lambda a, b: union_ids((a, b)),
) -> Iterable[tuple[str, Requirement]]:
    """(component, requirement) of an open production order's remaining quantity.

    `issued` is what ISSUE movements gave out per (order id, component).
    """
    remaining = order.qty - order.qty_completed
    own_corrs = (order.correlation_id,) if order.correlation_id else ()
    for line in lines:
        qty = line.qty_per * remaining - issued.get((order.order_id, line.component), 0.0)
        if qty > EPS:
            yield _asked(
                line,
                Requirement(
                    date=order.start_date,
                    qty=round9(qty),
                    reference=order.order_id,
                    cause_ids=ids((order.event_id,), line.revision_event_ids),
                    correlation_ids=ids(own_corrs, line.correlation_ids),
                ),
            )


def proposal_requirements(
    parent: str,
    proposal: PlannedOrder,
    lines: Iterable[ExplodedLine],
    ids: Ids = lambda a, b: union_ids((a, b)),
) -> list[tuple[str, Requirement]]:
    """(component, requirement) of a MAKE parent's proposal, on its release date.

    It names its direct causes, the BOM revisions, and the parent proposal as its reference;
    correlation ids (an ECO) travel all the way down.
    """
    reference = f"planned:{parent}:{proposal.need_date.isoformat()}"
    if proposal.ordinal:
        reference += f"#{proposal.ordinal + 1}"
    # A list built in one loop, positional arguments: a rebuild makes one per line per order.
    day, qty, corrs = proposal.release_date, proposal.qty, proposal.correlation_ids
    out = []
    for line in lines:
        req = Requirement(
            day,
            round9(line.qty_per * qty),
            reference,
            line.revision_event_ids,
            ids(corrs, line.correlation_ids),
        )
        out.append(_asked(line, req))
    return out


def _asked(line: ExplodedLine, req: Requirement) -> tuple[str, Requirement]:
    """Whom the requirement is asked of: the replaced component first under use-up."""
    if line.replaces is None:
        return line.component, req
    return line.replaces, replace(req, use_up_for=line.component)


def use_up(
    available: float,
    safety_stock: float,
    own: Sequence[Requirement],
    receipts: Sequence[ScheduledReceipt],
    offered: Sequence[Requirement],
    bucket_of: Callable[[date], date],
) -> tuple[list[Requirement], dict[str, list[Requirement]]]:
    """Split requirements offered to a replaced component (see the module rules).

    Returns the parts the replaced component covers (its requirements now) and, per new
    component, the rest it must cover itself.
    """
    deltas: dict[date, float] = {}
    for req in own:
        b = bucket_of(req.date)
        deltas[b] = deltas.get(b, 0.0) - req.qty
    for rec in receipts:
        b = bucket_of(rec.date)
        deltas[b] = deltas.get(b, 0.0) + rec.usable
    buckets = sorted(deltas)
    balance, balances = available, []
    for b in buckets:
        balance += deltas[b]
        balances.append(balance)
    lowest_from = balances[:]  # lowest_from[k]: the lowest balance from bucket k on
    for k in range(len(lowest_from) - 2, -1, -1):
        lowest_from[k] = min(lowest_from[k], lowest_from[k + 1])
    covered: list[Requirement] = []
    rest: dict[str, list[Requirement]] = {}
    used = 0.0
    for req in sorted(offered, key=lambda r: (r.date, r.reference, r.use_up_for or "", r.qty)):
        k = bisect.bisect_right(buckets, bucket_of(req.date))
        at = balances[k - 1] if k > 0 else available
        lowest = min(at, lowest_from[k]) if k < len(buckets) else at
        spare = max(0.0, lowest - safety_stock - used)
        take = min(req.qty, spare)
        if take > EPS:
            used += take
            covered.append(replace(req, qty=round9(take), use_up_for=None))
        if req.qty - take > EPS:
            new = req.use_up_for or ""
            rest.setdefault(new, []).append(replace(req, qty=round9(req.qty - take), use_up_for=None))
    return covered, rest
