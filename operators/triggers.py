"""Records a netted item publishes (SPEC 5 and 10).

Procurement triggers, its shortage signal and its availability. Pure construction;
`Changelog` decides what is emitted.

A trigger id depends on what the trigger is about, never on the planning date, so moving the
planning date with unchanged inputs leaves the triggers that are still true unchanged:
- proposals: `CREATE_REQUISITION|plant|item|covers` (a BUY item) or
  `CREATE_PRODUCTION_PROPOSAL|plant|item|covers` (a MAKE item), `covers` being the
  requirement date it covers (`safety-stock` for stock already below safety stock), and
  `|2`, `|3`, ... for further lots of that date. A proposal
  released in the past is one record with `release_in_past` and `earliest_receipt_date`;
- receipts: `RESCHEDULE_IN|…`, `RESCHEDULE_OUT|…`, `EXPEDITE|…`, `CANCEL|plant|item|reference|slot`;
- `DISPOSITION_EXCESS|plant|item` for stock of a component engineered out and left after its
  last requirement;
- `DISCONTINUATION_SWITCH|plant|item|replaced` for the day a component takes over from the
  one it replaces with use-up.

Example: planning on 2026-03-02 or 2026-03-03, a requisition covering the requirement of
2026-03-20 is `CREATE_REQUISITION|DE01|WIND-NEW|2026-03-20` both times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from mfgsync.operators.calendar import BucketCalendar
from mfgsync.operators.inventory import StockPosition
from mfgsync.operators.netting import EPS, ItemPlan, PlanningSettings
from mfgsync.operators.severity import shortage_severity
from mfgsync.operators.traceability import change_ids, with_change
from mfgsync.schemas.events import BomRevisionReleased
from mfgsync.schemas.outputs import AvailabilityRecord, ProcurementTrigger, ShortageSignal
from mfgsync.schemas.vocabulary import revision_key


@dataclass(frozen=True, slots=True)
class Switch:
    """The day a component takes over from the one it replaces with use-up, and how much."""

    replaced: str
    day: date
    qty: float
    cause_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]


def item_triggers(
    plant: str,
    item: str,
    plan: ItemPlan,
    settings: PlanningSettings,
    engineered_out_by: BomRevisionReleased | None,
    engineered_in_by: BomRevisionReleased | None = None,
    fallback_causes: tuple[str, ...] = (),
    switches: list[Switch] | None = None,
) -> list[ProcurementTrigger]:
    """Every trigger the item's plan calls for.

    An item an engineering change introduced is needed because of that change: its planned
    orders carry the change's revision event and ECO number whatever requirement they cover.
    """
    out: list[ProcurementTrigger] = []
    order_type = "CREATE_PRODUCTION_PROPOSAL" if settings.make else "CREATE_REQUISITION"
    supplier = None if settings.make else settings.supplier
    for order in plan.planned_orders:
        causes, corrs = with_change(
            order.cause_ids or fallback_causes, order.correlation_ids, engineered_in_by
        )
        covers = order.covers.isoformat() if order.covers else "safety-stock"
        lot = f"|{order.ordinal + 1}" if order.ordinal else ""
        out.append(
            ProcurementTrigger(
                trigger_id=f"{order_type}|{plant}|{item}|{covers}{lot}",
                state="OPEN",
                type=order_type,
                plant=plant,
                item=item,
                qty=order.qty,
                need_date=order.need_date,
                release_date=order.release_date,
                supplier=supplier,
                release_in_past=order.release_in_past,
                earliest_receipt_date=order.earliest_receipt_date,
                cause_event_ids=causes,
                correlation_ids=corrs,
            )
        )
    for action in plan.receipt_actions:
        receipt = action.receipt
        out.append(
            ProcurementTrigger(
                trigger_id=f"{action.kind}|{plant}|{item}|{receipt.reference}|{receipt.slot}",
                state="OPEN",
                type=action.kind,
                plant=plant,
                item=item,
                qty=receipt.qty,
                need_date=action.new_date,
                current_date=receipt.date,
                reference=receipt.reference,
                supplier=receipt.supplier,
                cause_event_ids=receipt.cause_ids,
                correlation_ids=receipt.correlation_ids,
            )
        )
    for switch in switches or ():
        causes, corrs = with_change(switch.cause_ids, switch.correlation_ids, engineered_in_by)
        out.append(
            ProcurementTrigger(
                trigger_id=f"DISCONTINUATION_SWITCH|{plant}|{item}|{switch.replaced}",
                state="OPEN",
                type="DISCONTINUATION_SWITCH",
                plant=plant,
                item=item,
                qty=switch.qty,
                need_date=switch.day,
                reference=switch.replaced,
                cause_event_ids=causes,
                correlation_ids=corrs,
            )
        )
    if engineered_out_by is not None and plan.excess_stock > EPS:
        rev = engineered_out_by
        out.append(
            ProcurementTrigger(
                trigger_id=f"DISPOSITION_EXCESS|{plant}|{item}",
                state="OPEN",
                type="DISPOSITION_EXCESS",
                plant=plant,
                item=item,
                qty=plan.excess_stock,
                need_date=rev.effective_from,
                reference=revision_key(rev.parent_item, rev.revision),
                cause_event_ids=(rev.event_id,),
                correlation_ids=change_ids(rev),
            )
        )
    return out


def item_shortage(
    plant: str,
    item: str,
    plan: ItemPlan,
    lead_time_days: int,
    today: date,
    calendar: BucketCalendar,
    engineered_in_by: BomRevisionReleased | None = None,
    fallback_causes: tuple[str, ...] = (),
) -> list[ShortageSignal]:
    """The item's shortage signal, if it is short, rated with its effective lead time."""
    shortage = plan.shortage
    if shortage is None:
        return []
    causes, corrs = with_change(
        shortage.cause_ids or fallback_causes, shortage.correlation_ids, engineered_in_by
    )
    severity = shortage_severity(
        shortage.date,
        shortage.qty,
        shortage.movable_qty,
        shortage.below_zero,
        lead_time_days,
        today,
        calendar,
    )
    return [
        ShortageSignal(
            signal_id=f"{plant}|{item}",
            state="RAISED",
            plant=plant,
            item=item,
            shortage_date=shortage.date,
            shortage_qty=shortage.qty,
            severity=severity,
            impacted_orders=shortage.impacted_orders,
            cause_event_ids=causes,
            correlation_ids=corrs,
        )
    ]


def item_availability(
    plant: str, item: str, plan: ItemPlan, settings: PlanningSettings, position: StockPosition
) -> list[AvailabilityRecord]:
    """The item's availability record."""
    return [
        AvailabilityRecord(
            availability_id=f"{plant}|{item}",
            plant=plant,
            item=item,
            unrestricted=position.unrestricted,
            quality_hold=position.quality_hold,
            allocated=position.allocated,
            in_transit=position.in_transit,
            available=position.available,
            safety_stock=settings.safety_stock,
            projected_balance_min=plan.projected_min,
            projected_balance_end=plan.projected_end,
            first_shortage_date=plan.shortage.date if plan.shortage else None,
        )
    ]
