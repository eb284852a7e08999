"""The planning state of one plant and its incremental re-planning (SPEC 5).

`PlantPlanner.apply` records a fact (an admitted event, a new stock position, an issue to
an order) and marks the items whose plans it may change. `PlantPlanner.plan(today)` re-nets
the marked items in low-level-code order, parents before components. Netting a parent
recomputes what it asks of its components (open production orders and, for a MAKE item, its
planned orders, exploded through the BOM effective on their start or release date); any
component whose requirements changed is marked and re-netted later in the same pass. Every
item's plan is a function of its own inputs and its parents' plans only, so re-planning the
marked items gives exactly what netting every item from scratch gives (`plan_all`).

Gross requirements are built by `requirements` (demand, parents' orders and proposals,
use-up of a replaced component), scheduled receipts by `receipts`. After netting, the
shortages of the netted items and of every parent whose short components changed are rated
(`severity`), components first, since a MAKE item's lead time includes its short
components'.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any, TypeVar

from mfgsync.operators.bom import BomBook
from mfgsync.operators.calendar import BucketCalendar, BucketSize
from mfgsync.operators.changelog import Changelog
from mfgsync.operators.grouping import SEPARATOR
from mfgsync.operators.inventory import ComponentIssued, PositionChanged, StockPosition
from mfgsync.operators.netting import (
    EPS,
    ItemPlan,
    PlannedOrder,
    PlanningSettings,
    Requirement,
    ScheduledReceipt,
    StepIds,
    net_item,
    union_ids,
)
from mfgsync.operators.parameters import PlantDefaults
from mfgsync.operators.receipts import order_receipt, po_line_receipts
from mfgsync.operators.requirements import (
    demand_requirement,
    order_requirements,
    proposal_requirements,
    use_up,
)
from mfgsync.operators.rounding import round9
from mfgsync.operators.severity import effective_lead_time
from mfgsync.operators.traceability import cycle_change
from mfgsync.operators.triggers import Switch, item_availability, item_shortage, item_triggers
from mfgsync.schemas.events import (
    BomRevisionReleased,
    DemandChanged,
    Event,
    GoodsReceipt,
    ItemPlanningParams,
    ProductionOrderChanged,
    PurchaseOrderChanged,
    SupplierConfirmation,
)
from mfgsync.schemas.outputs import (
    AvailabilityRecord,
    OutputRecord,
    ProcurementTrigger,
    ShortageSignal,
    SyncException,
)
from mfgsync.schemas.vocabulary import (
    EXCEPTION_STATES,
    SHORTAGE_STATES,
    TRIGGER_STATES,
    item_key,
    parse_item_key,
    revision_key,
)

PlanningFact = Event | PositionChanged | ComponentIssued
K = TypeVar("K")
PoLineKey = tuple[str, int]
OPEN_ORDER = ("PLANNED", "RELEASED")
BOM_SCOPE = "|bom|"
MAX_RENETS = 4
"""Times one pass may net an item again after it was netted (see `PlantPlanner.plan`)."""


@dataclass(frozen=True)
class PlannerConfig:
    """Plant-independent planning settings."""

    bucket: BucketSize = "day"
    defaults: PlantDefaults = field(default_factory=PlantDefaults)
    """Plant-wide defaults of the per-item parameters an item leaves unset."""


class _Memo:
    """Caches derived from a planner's facts, to skip work whose inputs did not change.

    Never pickled (a restored planner starts with empty caches): they hold nothing a pass
    cannot recompute, and are dropped whenever the BOM changes.
    """

    __slots__ = ("bom", "proposals", "settings", "steps")

    def __init__(self) -> None:
        self.steps: dict[str, StepIds] = {}
        """Per item: the id unions of its last netting's steps (kept when the BOM changes)."""
        self.bom: object | None = None
        """The BOM's derived graph the caches were filled under (see `BomBook._derive`)."""
        self.proposals: dict[str, dict[PlannedOrder, tuple[tuple[str, Requirement], ...]]] = {}
        """Per MAKE parent, per current planned order: what it asks of each component."""
        self.settings: dict[str, tuple[object, object, date, PlanningSettings]] = {}
        """Per item: its parameters and the plant config and date its settings were made for."""

    def __reduce__(self) -> tuple[type[_Memo], tuple[()]]:
        return (_Memo, ())

    def valid_for(self, bom: BomBook) -> _Memo:
        derived = bom.derived()
        if derived is not self.bom:
            self.bom = derived
            self.proposals = {}
            self.settings = {}
        return self


@dataclass
class PlantPlanner:
    """Everything one plant's plan depends on, the plans, and what was last published."""

    plant: str
    config: PlannerConfig = field(default_factory=PlannerConfig)
    group: str = ""
    """The plant's planning group this planner plans ("": the plant whole, or its rest)."""
    params: dict[str, ItemPlanningParams] = field(default_factory=dict)
    bom: BomBook = field(default_factory=BomBook)
    production_orders: dict[str, ProductionOrderChanged] = field(default_factory=dict)
    demands: dict[str, DemandChanged] = field(default_factory=dict)
    po_lines: dict[PoLineKey, PurchaseOrderChanged] = field(default_factory=dict)
    confirmations: dict[PoLineKey, SupplierConfirmation] = field(default_factory=dict)
    received: dict[PoLineKey, float] = field(default_factory=dict)
    positions: dict[str, StockPosition] = field(default_factory=dict)
    stock_dates: dict[str, date] = field(default_factory=dict)
    """Per item: the date of its latest stock event (see `netting`, stock already short)."""
    issued: dict[tuple[str, str], float] = field(default_factory=dict)
    first_seen: dict[str, datetime] = field(default_factory=dict)
    # Indexes from item to the facts about it.
    demands_of: dict[str, set[str]] = field(default_factory=dict)
    orders_of: dict[str, set[str]] = field(default_factory=dict)
    po_lines_of: dict[str, set[PoLineKey]] = field(default_factory=dict)
    # Derived planning state.
    contributions: dict[str, dict[str, tuple[Requirement, ...]]] = field(default_factory=dict)
    contributors: dict[str, set[str]] = field(default_factory=dict)
    plans: dict[str, ItemPlan] = field(default_factory=dict)
    use_up_rest: dict[str, dict[str, tuple[Requirement, ...]]] = field(default_factory=dict)
    """Per new component, per replaced one: what the replaced one's stock cannot cover."""
    short_leads: dict[str, tuple[bool, int]] = field(default_factory=dict)
    """Per item: whether it is short, and its effective lead time for severity."""
    dirty: set[str] = field(default_factory=set)
    bom_changed: bool = False
    cyclic_edges: frozenset[tuple[str, str]] = frozenset()
    use_ups: frozenset[tuple[str, str]] = frozenset()
    """The BOM's use-up pairs that apply, as of the last pass (see `BomBook.use_ups`)."""
    """The BOM's cyclic edges as of the last pass, to see which parents a new loop affects."""
    planned_for: date | None = None
    # What was published, per item.
    triggers: Changelog[ProcurementTrigger] = field(default_factory=lambda: Changelog(*TRIGGER_STATES))
    shortages: Changelog[ShortageSignal] = field(default_factory=lambda: Changelog(*SHORTAGE_STATES))
    availability: Changelog[AvailabilityRecord] = field(default_factory=Changelog)
    exceptions: Changelog[SyncException] = field(default_factory=lambda: Changelog(*EXCEPTION_STATES))
    published_through: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per output topic partition: every record of this plant published below this offset is
    reflected in the changelogs above (what a start must read back begins there)."""
    memo: _Memo = field(default_factory=_Memo, repr=False, compare=False)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A snapshot from before a field existed restores with that field's default.
        for f in fields(self):
            if f.name not in state:
                if f.default_factory is not MISSING:
                    state[f.name] = f.default_factory()
                elif f.default is not MISSING:
                    state[f.name] = f.default
        self.__dict__.update(state)

    def key(self) -> str:
        """The planning key: the plant, or `plant|group` (`operators/grouping.py`)."""
        return f"{self.plant}{SEPARATOR}{self.group}" if self.group else self.plant

    # ----------------------------------------------------------------- facts in

    def apply(self, fact: PlanningFact) -> None:
        """Record one fact and mark the items it may affect."""
        if isinstance(fact, PositionChanged):
            self.positions[fact.item] = fact.position
            if fact.as_of is not None:
                known = self.stock_dates.get(fact.item)
                self.stock_dates[fact.item] = fact.as_of if known is None else max(known, fact.as_of)
            self.dirty.add(fact.item)
        elif isinstance(fact, ComponentIssued):
            issued_key = (fact.order_id, fact.item)
            self.issued[issued_key] = self.issued.get(issued_key, 0.0) + fact.qty
            order = self.production_orders.get(fact.order_id)
            if order is not None:
                self.dirty.add(order.item)
        elif isinstance(fact, BomRevisionReleased):
            self.dirty |= self.bom.release(fact)
            self.bom_changed = True
            self._seen(fact.parent_item, fact.event_time)
        elif isinstance(fact, ItemPlanningParams):
            self.params[fact.item] = fact
            self._mark(fact.item, fact.event_time)
        elif isinstance(fact, ProductionOrderChanged):
            old = self.production_orders.get(fact.order_id)
            self.production_orders[fact.order_id] = fact
            self._reindex(self.orders_of, old.item if old else None, fact.item, fact.order_id)
            self._mark(fact.item, fact.event_time, old.item if old else None)
        elif isinstance(fact, DemandChanged):
            old_demand = self.demands.get(fact.demand_id)
            self.demands[fact.demand_id] = fact
            old_item = old_demand.item if old_demand else None
            self._reindex(self.demands_of, old_item, fact.item, fact.demand_id)
            self._mark(fact.item, fact.event_time, old_item)
        elif isinstance(fact, PurchaseOrderChanged):
            key = (fact.po_id, fact.line)
            old_line = self.po_lines.get(key)
            self.po_lines[key] = fact
            old_item = old_line.item if old_line else None
            self._reindex(self.po_lines_of, old_item, fact.item, key)
            self._mark(fact.item, fact.event_time, old_item)
        elif isinstance(fact, SupplierConfirmation):
            key = (fact.po_id, fact.line)
            self.confirmations[key] = fact
            self._mark(self._po_item(key, fact.item), fact.event_time)
        elif isinstance(fact, GoodsReceipt):
            key = (fact.po_id, fact.line)
            self.received[key] = self.received.get(key, 0.0) + fact.qty
            self._mark(self._po_item(key, fact.item), fact.event_time)
        else:  # Stock events are kept by the inventory operator, not here.
            msg = f"planning does not take {type(fact).__name__}"
            raise TypeError(msg)

    def _po_item(self, key: PoLineKey, fallback: str) -> str:
        line = self.po_lines.get(key)
        return line.item if line is not None else fallback

    def _mark(self, item: str, event_time: datetime, old_item: str | None = None) -> None:
        self.dirty.add(item)
        if old_item is not None:
            self.dirty.add(old_item)
        self._seen(item, event_time)

    def _seen(self, item: str, event_time: datetime) -> None:
        known = self.first_seen.get(item)
        if known is None or event_time < known:
            self.first_seen[item] = event_time

    @staticmethod
    def _reindex(index: dict[str, set[K]], old_item: str | None, new_item: str, key: K) -> None:
        if old_item is not None and old_item != new_item:
            index.get(old_item, set()).discard(key)
        index.setdefault(new_item, set()).add(key)

    def adopt(self, records: Iterable[OutputRecord]) -> int:
        """Take this plant's previously published records as what was last emitted.

        After a restart from a snapshot, records published after the snapshot are unknown
        to the restored state; adopting them lets the next plan withdraw or update them
        instead of leaving stale truths on the changelogs. An item is re-planned only when
        an adopted record differs from what the state holds as emitted for its id (one
        equal to it changes nothing). Returns how many records differed.
        """
        changed = 0
        for record in records:
            if isinstance(record, ProcurementTrigger | ShortageSignal | AvailabilityRecord):
                if record.plant != self.plant:
                    continue
                if isinstance(record, ProcurementTrigger):
                    new = self.triggers.adopt(record.item, record)
                elif isinstance(record, ShortageSignal):
                    new = self.shortages.adopt(record.item, record)
                else:
                    new = self.availability.adopt(record.item, record)
                if new:
                    self.dirty.add(record.item)
                    changed += 1
            elif isinstance(record, SyncException) and record.type == "UNKNOWN_ITEM":
                item, plant = parse_item_key(record.key)
                if plant == self.plant and self.exceptions.adopt(item, record):
                    self.dirty.add(item)
                    changed += 1
            elif (
                isinstance(record, SyncException) and record.type == "BOM_CYCLE" and record.key == self.plant
            ):
                if self.exceptions.adopt(BOM_SCOPE, record):
                    self.bom_changed = True
                    changed += 1
        return changed

    # ---------------------------------------------------------------- planning

    def plan_all(self, today: date) -> list[OutputRecord]:
        """Re-net every item from scratch (the batch answer)."""
        self.dirty |= self._all_items()
        self.bom_changed = True
        return self.plan(today)

    def items_to_net(self, today: date) -> int:
        """About how many items the next `plan(today)` nets before its cascade.

        The marked ones, or every planned item when the date moved. Cheap, for the caller's
        collector policy (`mfgsync.flows.gc_tuning.planning_pass`).
        """
        return len(self.plans) if self.planned_for != today else len(self.dirty)

    def plan(self, today: date) -> list[OutputRecord]:
        """Re-net the marked items in low-level-code order; return the records to emit."""
        if self.planned_for != today:
            self.dirty |= self._all_items()
            self.planned_for = today
        out: list[OutputRecord] = []
        if self.bom_changed:
            out.extend(self._bom_cycles())
            self.dirty |= self._loop_changes()
            self.bom_changed = False
        if not self.dirty:
            return out
        llc = self.bom.low_level_codes()
        heap = [(llc.get(item, 0), item) for item in self.dirty]
        heapq.heapify(heap)
        self.dirty = set()
        done: set[str] = set()
        again: dict[str, int] = {}
        calendar = BucketCalendar(self.config.bucket)
        while heap:
            _, item = heapq.heappop(heap)
            if item in done:
                continue
            done.add(item)
            for component in self._plan_item(item, today, calendar, out):
                if component in done:
                    # Netted already in this pass, so its low-level code is not below this
                    # item's: the requirement that changed came over an edge that has become
                    # cyclic since (a BOM revision closed a loop) and is now withdrawn. Net
                    # it again; the bound only guards against a loop we did not foresee.
                    again[component] = again.get(component, 0) + 1
                    if again[component] > MAX_RENETS:
                        self.dirty.add(component)
                        continue
                    done.discard(component)
                heapq.heappush(heap, (llc.get(component, 0), component))
        self._rate_shortages(done, today, calendar, llc, out)
        return out

    def _rate_shortages(
        self,
        netted: set[str],
        today: date,
        calendar: BucketCalendar,
        llc: dict[str, int],
        out: list[OutputRecord],
    ) -> None:
        """Publish the shortages of the netted items and of parents whose short components changed."""
        heap = [(-llc.get(item, 0), item) for item in netted]
        heapq.heapify(heap)
        queued = set(netted)
        while heap:
            _, item = heapq.heappop(heap)
            queued.discard(item)
            plan = self.plans.get(item)
            shortage = plan.shortage if plan is not None else None
            settings = self.settings(item, today)
            lead = settings.lead_time_days
            if settings.make and shortage is not None:
                # Only a short item's lead time matters to its parents.
                day = shortage.date
                leads = (
                    self.short_leads.get(line.component, (False, 0)) for line in self.bom.explode(item, day)
                )
                lead = effective_lead_time(lead, True, (n for short, n in leads if short))
            rated = (shortage is not None, lead)
            if self.short_leads.get(item) != rated:
                self.short_leads[item] = rated
                for parent in self.bom.users(item):
                    if parent not in queued:
                        queued.add(parent)
                        heapq.heappush(heap, (-llc.get(parent, 0), parent))
            if plan is None:
                continue
            params = self.params.get(item)
            fallback = (params.event_id,) if params is not None else ()
            phased_in = self.bom.phased_in().get(item)
            records = item_shortage(self.plant, item, plan, lead, today, calendar, phased_in, fallback)
            out.extend(self.shortages.update_rows(item, ShortageSignal, records))

    def _plan_item(
        self, item: str, today: date, calendar: BucketCalendar, out: list[OutputRecord]
    ) -> set[str]:
        """Net one item, publish its records, return components whose requirements changed."""
        settings = self.settings(item, today)
        position = self.positions.get(item, StockPosition())
        requirements = self.requirements(item)
        receipts = self.receipts(item, settings)
        offered = [r for r in requirements if r.use_up_for is not None]
        changed_rest: set[str] = set()
        if offered or item in self.use_up_from_items():
            own = [r for r in requirements if r.use_up_for is None]
            first = calendar.start_of(today)
            covered, rest = use_up(
                position.available,
                settings.safety_stock,
                own,
                receipts,
                offered,
                lambda d: max(calendar.start_of(d), first),
            )
            requirements = own + covered
            changed_rest = self._store_use_up(item, rest)
        step_ids = self.memo.steps.get(item)
        if step_ids is None:
            step_ids = self.memo.steps[item] = StepIds()
        plan = net_item(
            settings,
            position.available,
            requirements,
            receipts,
            today,
            calendar,
            self.stock_dates.get(item),
            step_ids,
        )
        self.plans[item] = plan
        phased_out = self.bom.phased_out().get(item)
        phased_in = self.bom.phased_in().get(item)
        # A planned order or shortage that covers no requirement (safety stock) is caused by
        # the parameters that set it. (Not by the last stock movement: which one came last
        # depends on arrival order, and the records must not.)
        params = self.params.get(item)
        fallback = (params.event_id,) if params is not None else ()
        out.extend(
            self.triggers.update_rows(
                item,
                ProcurementTrigger,
                item_triggers(
                    self.plant, item, plan, settings, phased_out, phased_in, fallback, self._switches(item)
                ),
            )
        )
        out.extend(
            self.availability.update_rows(
                item, AvailabilityRecord, item_availability(self.plant, item, plan, settings, position)
            )
        )
        out.extend(self.exceptions.update(item, self._unknown_item(item)))
        return self._update_contributions(item, plan, settings) | changed_rest

    def use_up_from_items(self) -> set[str]:
        """Replaced components that last left a rest to some new component."""
        return {old for rests in self.use_up_rest.values() for old in rests}

    def _store_use_up(self, old: str, rest: dict[str, list[Requirement]]) -> set[str]:
        """Keep what `old` cannot cover per new component; return the new ones that changed."""
        changed: set[str] = set()
        for new in set(rest) | {n for n, rests in self.use_up_rest.items() if old in rests}:
            reqs = tuple(sorted(rest.get(new, ()), key=_req_order))
            rests = self.use_up_rest.setdefault(new, {})
            if rests.get(old, ()) != reqs:
                changed.add(new)
            if reqs:
                rests[old] = reqs
            else:
                rests.pop(old, None)
            if not rests:
                del self.use_up_rest[new]
        return changed

    def _switches(self, item: str) -> list[Switch]:
        """The item takes over from each component it replaces with use-up: when, and how much."""
        return [
            Switch(
                replaced=old,
                day=min(r.date for r in reqs),
                qty=round9(sum(r.qty for r in reqs)),
                cause_ids=union_ids(r.cause_ids for r in reqs),
                correlation_ids=union_ids(r.correlation_ids for r in reqs),
            )
            for old, reqs in sorted(self.use_up_rest.get(item, {}).items())
        ]

    def settings(self, item: str, today: date) -> PlanningSettings:
        """Planning parameters, defaulted: MAKE when a BOM applies from today on, else BUY."""
        params = self.params.get(item)
        known = self.memo.valid_for(self.bom).settings
        hit = known.get(item)
        if hit is not None and hit[0] is params and hit[1] is self.config and hit[2] == today:
            return hit[3]
        settings = self._settings(item, params, today)
        known[item] = (params, self.config, today, settings)
        return settings

    def _settings(self, item: str, params: ItemPlanningParams | None, today: date) -> PlanningSettings:
        plant = self.config.defaults
        if params is None:
            return PlanningSettings(
                make=self.bom.has_bom_from(item, today),
                safety_time_days=plant.safety_time_days,
                reschedule_horizon_days=plant.reschedule_horizon_days,
                reschedule_in_tolerance_days=plant.reschedule_in_tolerance_days,
                reschedule_out_tolerance_days=plant.reschedule_out_tolerance_days,
                planning_time_fence_days=plant.planning_time_fence_days,
            )
        return PlanningSettings(
            make=params.make_or_buy == "MAKE",
            lead_time_days=params.lead_time_days,
            safety_stock=params.safety_stock,
            lot_size_rule=params.lot_size_rule,
            lot_size_qty=params.lot_size_qty,
            lot_size_multiple=params.lot_size_multiple,
            lot_size_periods=params.lot_size_periods,
            lot_size_max=params.lot_size_max,
            max_stock_level=params.max_stock_level,
            assembly_scrap_pct=params.assembly_scrap_pct,
            safety_time_days=_given(params.safety_time_days, plant.safety_time_days),
            reschedule_horizon_days=(
                params.reschedule_horizon_days
                if params.reschedule_horizon_days is not None
                else plant.reschedule_horizon_days
            ),
            reschedule_in_tolerance_days=_given(
                params.reschedule_in_tolerance_days, plant.reschedule_in_tolerance_days
            ),
            reschedule_out_tolerance_days=_given(
                params.reschedule_out_tolerance_days, plant.reschedule_out_tolerance_days
            ),
            planning_time_fence_days=_given(params.planning_time_fence_days, plant.planning_time_fence_days),
            supplier=params.preferred_supplier,
        )

    def requirements(self, item: str) -> list[Requirement]:
        """Gross requirements of an item: independent demand and what its parents ask."""
        reqs = [
            demand_requirement(d)
            for d in (self.demands[k] for k in sorted(self.demands_of.get(item, ())))
            if d.item == item and d.status == "OPEN" and d.qty > EPS
        ]
        for parent in sorted(self.contributors.get(item, ())):
            reqs.extend(self.contributions[parent].get(item, ()))
        for old in sorted(self.use_up_rest.get(item, ())):
            reqs.extend(self.use_up_rest[item][old])
        return reqs

    def receipts(self, item: str, settings: PlanningSettings | None = None) -> list[ScheduledReceipt]:
        """Scheduled receipts of an item: open production orders (their yield) and open PO lines."""
        factor = settings.yield_factor if settings is not None else 1.0
        out = [
            order_receipt(o, factor)
            for o in (self.production_orders[k] for k in sorted(self.orders_of.get(item, ())))
            if o.item == item and o.status in OPEN_ORDER and o.qty - o.qty_completed > EPS
        ]
        for key in sorted(self.po_lines_of.get(item, ())):
            line = self.po_lines[key]
            if line.item == item:
                out.extend(po_line_receipts(line, self.confirmations.get(key), self.received.get(key, 0.0)))
        return out

    def restore_contributions(self) -> None:
        """Rebuild what each parent asks of its components, which a snapshot leaves out.

        They are derived from the facts and the plans, and were most of a snapshot: at 2,000
        items the planner without its plans and emitted records pickled in 1.97 s with them
        and 0.14 s without (about 450,000 requirements), and every snapshot after a pass
        pickled them again. A parent's contribution is a function of its
        open orders, its plan, the BOM and the planning date, so rebuilding it from the
        restored state gives what the snapshot's planner held, except where a fact came in
        after the parent's last netting (a marked parent, or a BOM change not planned yet):
        such a parent's components are marked too, so that the next pass nets them whatever
        it finds changed. Nothing to do when contributions were restored (a snapshot written
        before they were left out) or nothing was planned yet.
        """
        if self.contributions or self.planned_for is None:
            return
        if self.bom_changed:
            self.dirty |= self._all_items()
        asked_of: dict[str, set[str]] = {}
        for component, parents in self.contributors.items():
            for parent in parents:
                asked_of.setdefault(parent, set()).add(component)
        today = self.planned_for
        for parent in sorted(asked_of):
            plan = self.plans.get(parent)
            if plan is None:  # (a parent asks only once netted) net it and its components again
                self.dirty.add(parent)
            else:
                self._update_contributions(parent, plan, self.settings(parent, today))
            asks = self.contributions.get(parent, {})
            if parent in self.dirty:
                self.dirty |= asked_of[parent] | asks.keys()
            # The index must name only parents that ask (a marked parent may now ask less):
            # a component it no longer asks is netted again without it.
            for component in asked_of[parent] - asks.keys():
                self.contributors[component].discard(parent)
                self.dirty.add(component)

    def _update_contributions(self, parent: str, plan: ItemPlan, settings: PlanningSettings) -> set[str]:
        """Recompute what `parent` asks of its components; return those that changed."""
        asks: dict[str, list[Requirement]] = {}
        # Lines of one revision share their cause and correlation ids: union each pair once.
        unions: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[str, ...]] = {}

        def ids(own: tuple[str, ...], from_bom: tuple[str, ...]) -> tuple[str, ...]:
            merged = unions.get((own, from_bom))
            if merged is None:
                merged = unions[(own, from_bom)] = union_ids((own, from_bom))
            return merged

        for key in sorted(self.orders_of.get(parent, ())):
            order = self.production_orders[key]
            if order.item != parent or order.status not in OPEN_ORDER:
                continue
            if order.qty - order.qty_completed <= EPS:
                continue
            lines = self.bom.explode(parent, order.start_date, order.bom_revision)
            for component, req in order_requirements(order, lines, self.issued, ids):
                asks.setdefault(component, []).append(req)
        proposals = self.memo.valid_for(self.bom).proposals
        if settings.make and plan.planned_orders:
            # A planned order equal to one of the last pass asks what it asked then (same
            # BOM): explode only the orders that changed.
            known = proposals.get(parent, {})
            current: dict[PlannedOrder, tuple[tuple[str, Requirement], ...]] = {}
            for planned in plan.planned_orders:
                asked = known.get(planned)
                if asked is None:
                    lines = self.bom.explode(parent, planned.release_date)
                    asked = tuple(proposal_requirements(parent, planned, lines, ids))
                current[planned] = asked
                for component, req in asked:
                    if component in asks:
                        asks[component].append(req)
                    else:
                        asks[component] = [req]
            proposals[parent] = current
        else:
            proposals.pop(parent, None)
        new = {c: tuple(sorted(reqs, key=_req_order)) for c, reqs in asks.items()}
        old = self.contributions.get(parent, {})
        changed = {c for c in old.keys() | new.keys() if old.get(c) != new.get(c)}
        for component in old.keys() - new.keys():
            self.contributors.get(component, set()).discard(parent)
        for component in new.keys() - old.keys():
            self.contributors.setdefault(component, set()).add(parent)
        if new:
            self.contributions[parent] = new
        else:
            self.contributions.pop(parent, None)
        return changed

    # -------------------------------------------------------------- exceptions

    def _unknown_item(self, item: str) -> list[SyncException]:
        if item in self.params or self.bom.has_bom(item) or self.bom.is_component(item):
            return []
        return [
            SyncException(
                exception_id=f"UNKNOWN_ITEM|{item_key(item, self.plant)}",
                type="UNKNOWN_ITEM",
                state="OPEN",
                key=item_key(item, self.plant),
                details={"reason": "no planning parameters and in no BOM at this plant; planned as BUY"},
                first_seen=self.first_seen.get(item),
            )
        ]

    def _loop_changes(self) -> set[str]:
        """Parents whose explosion changed because an edge entered or left a BOM cycle.

        A revision that closes a loop makes every edge of the loop cyclic, not only its own
        parent's: each parent on the loop (and whoever blows it through as a phantom) now
        explodes without it, and must be netted again.
        """
        cyclic = self.bom.cyclic_edges()
        parents = {parent for parent, _ in cyclic ^ self.cyclic_edges}
        self.cyclic_edges = cyclic
        # Likewise a use-up pair that starts or stops applying (see `BomBook.use_ups`).
        use_ups = self.bom.use_ups()
        parents |= self.bom.use_up_parents(set(use_ups ^ self.use_ups))
        self.use_ups = use_ups
        return parents | self.bom.phantom_ancestors(parents)

    def _bom_cycles(self) -> list[SyncException]:
        records = []
        for members in self.bom.cycles():
            revisions = self.bom.cycle_revisions(members)
            records.append(
                SyncException(
                    exception_id=f"BOM_CYCLE|{self.plant}|{'>'.join(members)}",
                    type="BOM_CYCLE",
                    state="OPEN",
                    key=self.plant,
                    details={
                        "items": ",".join(members),
                        "revisions": ",".join(
                            sorted(revision_key(r.parent_item, r.revision) for r in revisions)
                        ),
                    },
                    first_seen=max((r.event_time for r in revisions), default=None),
                    correlation_id=cycle_change(revisions),
                )
            )
        return self.exceptions.update(BOM_SCOPE, records)

    # ------------------------------------------------------------------- views

    def _all_items(self) -> set[str]:
        items = set(self.params) | set(self.positions) | set(self.first_seen)
        items |= {d.item for d in self.demands.values()}
        items |= {o.item for o in self.production_orders.values()}
        items |= {p.item for p in self.po_lines.values()}
        items |= set(self.contributors) | set(self.plans)
        return items

    def po_lines_awaiting_confirmation(self) -> int:
        """Open PO lines the supplier has not confirmed yet."""
        return sum(
            1
            for key, line in self.po_lines.items()
            if line.status == "OPEN" and key not in self.confirmations
        )


def _req_order(req: Requirement) -> tuple[date, str, float, str]:
    return (req.date, req.reference, req.qty, req.use_up_for or "")


def _given(value: int | None, default: int) -> int:
    return default if value is None else value
