"""Lot sizing: the quantities of the proposals that cover a net requirement (SPEC 5).

`proposal_quantities(settings, cover)` takes `cover`, the quantity the proposals' yield must
add to the projected balance, as netting determined it for the rule:
- LOT_FOR_LOT, FIXED_QTY, MIN_QTY: the net requirement (safety stock less the balance);
- PERIODS_OF_SUPPLY: what keeps the balance at safety stock through the next
  `lot_size_periods` buckets;
- REPLENISH_TO_MAX: what brings the balance up to `max_stock_level` (at least the net).
and returns the planned quantities, one per proposal:
- the yield: a MAKE item with `assembly_scrap_pct` p needs cover / (1 - p/100) planned
  (100 needed at 20% is 125 planned, before lot sizing);
- FIXED_QTY: as many proposals of exactly `lot_size_qty` as their yield needs, one per lot;
- MIN_QTY: at least `lot_size_qty`; every rule but FIXED_QTY rounds up to
  `lot_size_multiple`;
- `lot_size_max` (every rule but FIXED_QTY): a larger proposal is split into proposals of
  `lot_size_max`, and the rest is sized by the rule (minimum, multiple), never above the
  maximum.

Example: MIN_QTY, minimum 100, multiple 12, maximum 200, net requirement 301: 301 is above
the maximum, so one proposal of 200; the remaining 101 is at least the minimum and rounds up
to 108 (9 x 12): proposals 200 and 108. FIXED_QTY 50 for a net of 120: 50, 50, 50.
"""

from __future__ import annotations

import math

from mfgsync.operators.parameters import PlanningSettings
from mfgsync.operators.rounding import round_quantity

EPS = 1e-9


def proposal_quantities(settings: PlanningSettings, cover: float) -> tuple[float, ...]:
    """Planned quantities of the proposals whose yield covers `cover` (see the module rules)."""
    if cover <= EPS:
        return ()
    factor = settings.yield_factor
    if settings.lot_size_rule == "FIXED_QTY":
        lot = settings.lot_size_qty
        lots = math.ceil(round_quantity(cover / (lot * factor)) - EPS)
        return (round_quantity(lot),) * max(lots, 1)
    planned = round_quantity(cover / factor)
    largest = settings.lot_size_max
    if largest is None or planned <= largest + EPS:
        return (_sized(settings, planned),)
    out: list[float] = []
    remaining = planned
    while remaining > largest + EPS:
        out.append(round_quantity(largest))
        remaining = round_quantity(remaining - largest)
    if remaining > EPS:
        out.append(_sized(settings, remaining))
    return tuple(out)


def _sized(settings: PlanningSettings, qty: float) -> float:
    if settings.lot_size_rule == "MIN_QTY":
        qty = max(qty, settings.lot_size_qty)
    multiple = settings.lot_size_multiple
    if multiple:
        qty = multiple * math.ceil(round_quantity(qty / multiple) - EPS)
    if settings.lot_size_max is not None:
        qty = min(qty, settings.lot_size_max)
    return round_quantity(qty)
