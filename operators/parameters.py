"""The planning parameters of one item, with every default filled in (SPEC 5 and 11).

`PlanningSettings` is what netting reads; the planner builds it from the item's
`ItemPlanningParams`, taking the plant-wide default (`PlantDefaults`, from the service
settings) for a per-item parameter the item leaves unset. A value on the item wins.

Example: the plant default `reschedule_in_tolerance_days` is 2; item A says nothing, item B
says 0. A receipt one day late is moved in silently for A and gets RESCHEDULE_IN for B.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LotSizeRule = Literal["LOT_FOR_LOT", "FIXED_QTY", "MIN_QTY", "PERIODS_OF_SUPPLY", "REPLENISH_TO_MAX"]


@dataclass(frozen=True, slots=True)
class PlantDefaults:
    """Plant-wide defaults of the per-item parameters an item may leave unset."""

    safety_time_days: int = 0
    reschedule_horizon_days: int | None = None
    """None: no limit."""
    reschedule_in_tolerance_days: int = 0
    reschedule_out_tolerance_days: int = 0
    planning_time_fence_days: int = 0


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
    lot_size_max: float | None = None
    max_stock_level: float | None = None
    assembly_scrap_pct: float = 0.0
    safety_time_days: int = 0
    reschedule_horizon_days: int | None = None
    reschedule_in_tolerance_days: int = 0
    reschedule_out_tolerance_days: int = 0
    planning_time_fence_days: int = 0
    supplier: str | None = None

    @property
    def yield_factor(self) -> float:
        """What one unit of a MAKE item's order yields after assembly scrap."""
        return 1.0 - self.assembly_scrap_pct / 100.0 if self.make else 1.0
