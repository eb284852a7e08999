"""The planning state of one plant and its incremental re-planning (SPEC 5).

`PlantPlanner.apply` records a fact (an admitted event, a new stock position, an issue to
an order) and marks the items whose plans it may change. `PlantPlanner.plan(today)` re-nets
the marked items in low-level-code order, parents before components. Netting a parent
recomputes what it asks of its components (open production orders and, for a MAKE item, its
planned orders, exploded through the BOM effective on their start or release date); any
component whose requirements changed is marked and re-netted later in the same pass. Every
item's plan is a function of its own inputs and its parents' plans only, so re-planning the
marked items gives exactly what netting every item from scratch gives (`plan_all`).

Gross requirements of an item: its open independent demand; per open production order of a
parent, `qty_per * (qty - qty_completed) * (1 + scrap)` on the order's start date, less what
ISSUE movements referencing that order have already issued of the component; per planned
order of a MAKE parent, `qty_per * (1 + scrap) * qty` on the order's release date.
Scheduled receipts: open production orders (`qty - qty_completed` on the due date) and open
PO lines: confirmed schedule lines at their dates, the unconfirmed remainder at the need
date, a REJECTED confirmation meaning nothing is expected, and goods received consuming the
earliest lines first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from mfgsync.operators.bom import BomBook
from mfgsync.operators.calendar import BucketCalendar, BucketSize
from mfgsync.operators.changelog import Changelog
from mfgsync.operators.inventory import ComponentIssued, PositionChanged, StockPosition
from mfgsync.operators.netting import (
    EPS,
    ItemPlan,
    PlanningSettings,
    Requirement,
    ScheduledReceipt,
    net_item,
    union_ids,
)
from mfgsync.operators.triggers import item_availability, item_shortage, item_triggers
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
    reschedule_out_days: int = 0


@dataclass
class PlantPlanner:
    """Everything one plant's plan depends on, the plans, and what was last published."""

    plant: str
    config: PlannerConfig = field(default_factory=PlannerConfig)
    params: dict[str, ItemPlanningParams] = field(default_factory=dict)
    bom: BomBook = field(default_factory=BomBook)
    production_orders: dict[str, ProductionOrderChanged] = field(default_factory=dict)
    demands: dict[str, DemandChanged] = field(default_factory=dict)
    po_lines: dict[PoLineKey, PurchaseOrderChanged] = field(default_factory=dict)
    confirmations: dict[PoLineKey, SupplierConfirmation] = field(default_factory=dict)
    received: dict[PoLineKey, float] = field(default_factory=dict)
    positions: dict[str, StockPosition] = field(default_factory=dict)
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
    dirty: set[str] = field(default_factory=set)
    bom_changed: bool = False
    cyclic_edges: frozenset[tuple[str, str]] = frozenset()
    """The BOM's cyclic edges as of the last pass, to see which parents a new loop affects."""
    planned_for: date | None = None
    # What was published, per item.
    triggers: Changelog[ProcurementTrigger] = field(default_factory=lambda: Changelog(*TRIGGER_STATES))
    shortages: Changelog[ShortageSignal] = field(default_factory=lambda: Changelog(*SHORTAGE_STATES))
    availability: Changelog[AvailabilityRecord] = field(default_factory=Changelog)
    exceptions: Changelog[SyncException] = field(default_factory=lambda: Changelog(*EXCEPTION_STATES))

    # ----------------------------------------------------------------- facts in

    def apply(self, fact: PlanningFact) -> None:
        """Record one fact and mark the items it may affect."""
        if isinstance(fact, PositionChanged):
            self.positions[fact.item] = fact.position
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

    def adopt(self, records: Iterable[OutputRecord]) -> None:
        """Take this plant's previously published records as what was last emitted.

        After a restart from a snapshot, records published after the snapshot are unknown
        to the restored state; adopting them lets the next plan withdraw or update them
        instead of leaving stale truths on the changelogs. Every adopted item is re-planned.
        """
        for record in records:
            if isinstance(record, ProcurementTrigger | ShortageSignal | AvailabilityRecord):
                if record.plant != self.plant:
                    continue
                if isinstance(record, ProcurementTrigger):
                    self.triggers.adopt(record.item, record)
                elif isinstance(record, ShortageSignal):
                    self.shortages.adopt(record.item, record)
                else:
                    self.availability.adopt(record.item, record)
                self.dirty.add(record.item)
            elif isinstance(record, SyncException) and record.type == "UNKNOWN_ITEM":
                item, plant = parse_item_key(record.key)
                if plant == self.plant:
                    self.exceptions.adopt(item, record)
                    self.dirty.add(item)
            elif (
                isinstance(record, SyncException) and record.type == "BOM_CYCLE" and record.key == self.plant
            ):
                self.exceptions.adopt(BOM_SCOPE, record)
                self.bom_changed = True

    # ---------------------------------------------------------------- planning

    def plan_all(self, today: date) -> list[OutputRecord]:
        """Re-net every item from scratch (the batch answer)."""
        self.dirty |= self._all_items()
        self.bom_changed = True
        return self.plan(today)

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
        calendar = BucketCalendar(self.config.bucket, today)
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
        return out

    def _plan_item(
        self, item: str, today: date, calendar: BucketCalendar, out: list[OutputRecord]
    ) -> set[str]:
        """Net one item, publish its records, return components whose requirements changed."""
        settings = self.settings(item, today)
        position = self.positions.get(item, StockPosition())
        plan = net_item(
            settings,
            position.available,
            self.requirements(item),
            self.receipts(item),
            today,
            calendar,
            self.config.reschedule_out_days,
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
            self.triggers.update(
                item, item_triggers(self.plant, item, plan, settings, today, phased_out, phased_in, fallback)
            )
        )
        out.extend(self.shortages.update(item, item_shortage(self.plant, item, plan, phased_in, fallback)))
        out.extend(
            self.availability.update(item, item_availability(self.plant, item, plan, settings, position))
        )
        out.extend(self.exceptions.update(item, self._unknown_item(item)))
        return self._update_contributions(item, plan, settings)

    def settings(self, item: str, today: date) -> PlanningSettings:
        """Planning parameters, defaulted: MAKE when a BOM applies from today on, else BUY."""
        params = self.params.get(item)
        if params is None:
            return PlanningSettings(make=self.bom.has_bom_from(item, today))
        return PlanningSettings(
            make=params.make_or_buy == "MAKE",
            lead_time_days=params.lead_time_days,
            safety_stock=params.safety_stock,
            lot_size_rule=params.lot_size_rule,
            lot_size_qty=params.lot_size_qty,
            lot_size_multiple=params.lot_size_multiple,
            lot_size_periods=params.lot_size_periods,
            supplier=params.preferred_supplier,
        )

    def requirements(self, item: str) -> list[Requirement]:
        """Gross requirements of an item: independent demand and what its parents ask."""
        reqs = [
            Requirement(
                date=d.due_date,
                qty=d.qty,
                reference=d.demand_id,
                cause_ids=(d.event_id,),
                correlation_ids=(d.correlation_id,) if d.correlation_id else (),
            )
            for d in (self.demands[k] for k in sorted(self.demands_of.get(item, ())))
            if d.item == item and d.status == "OPEN" and d.qty > EPS
        ]
        for parent in sorted(self.contributors.get(item, ())):
            reqs.extend(self.contributions[parent].get(item, ()))
        return reqs

    def receipts(self, item: str) -> list[ScheduledReceipt]:
        """Scheduled receipts of an item: open production orders and open PO lines."""
        out = [
            ScheduledReceipt(
                date=o.due_date,
                qty=o.qty - o.qty_completed,
                reference=o.order_id,
                slot="order",
                cause_ids=(o.event_id,),
                correlation_ids=(o.correlation_id,) if o.correlation_id else (),
            )
            for o in (self.production_orders[k] for k in sorted(self.orders_of.get(item, ())))
            if o.item == item and o.status in OPEN_ORDER and o.qty - o.qty_completed > EPS
        ]
        for key in sorted(self.po_lines_of.get(item, ())):
            line = self.po_lines[key]
            if line.item == item:
                out.extend(
                    self._po_line_receipts(line, self.confirmations.get(key), self.received.get(key, 0.0))
                )
        return out

    @staticmethod
    def _po_line_receipts(
        line: PurchaseOrderChanged, confirmation: SupplierConfirmation | None, received: float
    ) -> list[ScheduledReceipt]:
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
                        qty=round(qty - taken, 9),
                        reference=f"{line.po_id}/{line.line}",
                        slot=slot,
                        supplier=line.supplier or None,
                        cause_ids=tuple(sorted(set(causes))),
                        correlation_ids=tuple(sorted(set(corrs))),
                    )
                )
        return out

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
            remaining = order.qty - order.qty_completed
            if remaining <= EPS:
                continue
            for line in self.bom.explode(parent, order.start_date, order.bom_revision):
                qty = line.qty_per * remaining - self.issued.get((order.order_id, line.component), 0.0)
                if qty > EPS:
                    asks.setdefault(line.component, []).append(
                        Requirement(
                            date=order.start_date,
                            qty=round(qty, 9),
                            reference=order.order_id,
                            cause_ids=ids((order.event_id,), line.revision_event_ids),
                            correlation_ids=ids(
                                (order.correlation_id,) if order.correlation_id else (), line.correlation_ids
                            ),
                        )
                    )
        if settings.make:
            for planned in plan.planned_orders:
                # A component's requirement from a planned order names its direct causes, the
                # BOM revisions, and the parent order as its reference; correlation ids (an ECO)
                # travel all the way down.
                reference = f"planned:{parent}:{planned.need_date.isoformat()}"
                for line in self.bom.explode(parent, planned.release_date):
                    asks.setdefault(line.component, []).append(
                        Requirement(
                            date=planned.release_date,
                            qty=round(line.qty_per * planned.qty, 9),
                            reference=reference,
                            cause_ids=line.revision_event_ids,
                            correlation_ids=ids(planned.correlation_ids, line.correlation_ids),
                        )
                    )
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
                    correlation_id=next((r.eco_number for r in revisions if r.eco_number), None),
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


def _req_order(req: Requirement) -> tuple[date, str, float]:
    return (req.date, req.reference, req.qty)
