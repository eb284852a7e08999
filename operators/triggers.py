"""Records a netted item publishes (SPEC 5 and 10).

Procurement triggers, its shortage signal and its availability. Pure construction;
`Changelog` decides what is emitted.

Trigger ids are stable so re-planning the same inputs gives the same ids:
- planned orders: `CREATE_REQUISITION|plant|item|need_date` (a BUY item) or
  `CREATE_PRODUCTION_PROPOSAL|plant|item|need_date` (a MAKE item); a planned order whose
  release date is already past also gets `EXPEDITE|plant|item|need_date`, referencing it;
- receipts: `RESCHEDULE_IN|…`, `RESCHEDULE_OUT|…`, `CANCEL|plant|item|reference|slot`;
- `DISPOSITION_EXCESS|plant|item` for stock of a component engineered out and no longer needed.
"""

from __future__ import annotations

from datetime import date

from mfgsync.operators.inventory import StockPosition
from mfgsync.operators.netting import EPS, ItemPlan, PlanningSettings
from mfgsync.schemas.events import BomRevisionReleased
from mfgsync.schemas.outputs import AvailabilityRecord, ProcurementTrigger, ShortageSignal
from mfgsync.schemas.vocabulary import revision_key


def item_triggers(
    plant: str,
    item: str,
    plan: ItemPlan,
    settings: PlanningSettings,
    today: date,
    engineered_out_by: BomRevisionReleased | None,
    engineered_in_by: BomRevisionReleased | None = None,
    fallback_causes: tuple[str, ...] = (),
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
        trigger_id = f"{order_type}|{plant}|{item}|{order.need_date.isoformat()}"
        out.append(
            ProcurementTrigger(
                trigger_id=trigger_id,
                state="OPEN",
                type=order_type,
                plant=plant,
                item=item,
                qty=order.qty,
                need_date=order.need_date,
                release_date=order.release_date,
                supplier=supplier,
                cause_event_ids=causes,
                correlation_ids=corrs,
            )
        )
        if order.release_date < today:
            out.append(
                ProcurementTrigger(
                    trigger_id=f"EXPEDITE|{plant}|{item}|{order.need_date.isoformat()}",
                    state="OPEN",
                    type="EXPEDITE",
                    plant=plant,
                    item=item,
                    qty=order.qty,
                    need_date=order.need_date,
                    release_date=order.release_date,
                    reference=trigger_id,
                    supplier=supplier,
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
                correlation_ids=_change_ids(rev),
            )
        )
    return out


def item_shortage(
    plant: str,
    item: str,
    plan: ItemPlan,
    engineered_in_by: BomRevisionReleased | None = None,
    fallback_causes: tuple[str, ...] = (),
) -> list[ShortageSignal]:
    """The item's shortage signal, if it is short."""
    shortage = plan.shortage
    if shortage is None:
        return []
    causes, corrs = with_change(
        shortage.cause_ids or fallback_causes, shortage.correlation_ids, engineered_in_by
    )
    return [
        ShortageSignal(
            signal_id=f"{plant}|{item}",
            state="RAISED",
            plant=plant,
            item=item,
            shortage_date=shortage.date,
            shortage_qty=shortage.qty,
            severity=shortage.severity,
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


def with_change(
    causes: tuple[str, ...], corrs: tuple[str, ...], change: BomRevisionReleased | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Cause and correlation ids with an engineering change's own added."""
    if change is None:
        return causes, corrs
    return (
        tuple(sorted({*causes, change.event_id})),
        tuple(sorted({*corrs, *_change_ids(change)})),
    )


def _change_ids(rev: BomRevisionReleased) -> tuple[str, ...]:
    return tuple(sorted({c for c in (rev.eco_number, rev.correlation_id) if c}))
