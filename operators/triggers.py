"""Records a netted item publishes (SPEC 5 and 10).

Procurement triggers, its shortage signal and its availability, as rows: the records' field
values in field order without the state (`Changelog.update_rows`), so that a record is built
only when the changelog emits it. Pure construction; `Changelog` decides what is emitted.

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
from mfgsync.operators.changelog import Row, content_fields
from mfgsync.operators.inventory import StockPosition
from mfgsync.operators.netting import EPS, ItemPlan, PlanningSettings
from mfgsync.operators.severity import shortage_severity
from mfgsync.operators.traceability import change_ids, with_change
from mfgsync.schemas.events import BomRevisionReleased
from mfgsync.schemas.outputs import AvailabilityRecord, ProcurementTrigger, ShortageSignal
from mfgsync.schemas.vocabulary import revision_key

TRIGGER_FIELDS = content_fields(ProcurementTrigger)
SHORTAGE_FIELDS = content_fields(ShortageSignal)
AVAILABILITY_FIELDS = content_fields(AvailabilityRecord)


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
) -> list[Row]:
    """Every trigger the item's plan calls for, as `ProcurementTrigger` rows (`TRIGGER_FIELDS`).

    An item an engineering change introduced is needed because of that change: its planned
    orders carry the change's revision event and ECO number whatever requirement they cover.
    """
    out: list[Row] = []
    order_type = "CREATE_PRODUCTION_PROPOSAL" if settings.make else "CREATE_REQUISITION"
    supplier = None if settings.make else settings.supplier
    prefix = f"{order_type}|{plant}|{item}|"
    for order in plan.planned_orders:
        causes, corrs = with_change(
            order.cause_ids or fallback_causes, order.correlation_ids, engineered_in_by
        )
        covers = order.covers.isoformat() if order.covers else "safety-stock"
        lot = f"|{order.ordinal + 1}" if order.ordinal else ""
        # trigger_id, type, plant, item, qty, need_date, release_date, current_date,
        # reference, supplier, release_in_past, earliest_receipt_date, cause_event_ids,
        # correlation_ids
        out.append(
            (
                f"{prefix}{covers}{lot}",
                order_type,
                plant,
                item,
                float(order.qty),
                order.need_date,
                order.release_date,
                None,
                None,
                supplier,
                order.release_in_past,
                order.earliest_receipt_date,
                causes,
                corrs,
            )
        )
    for action in plan.receipt_actions:
        receipt = action.receipt
        out.append(
            (
                f"{action.kind}|{plant}|{item}|{receipt.reference}|{receipt.slot}",
                action.kind,
                plant,
                item,
                float(receipt.qty),
                action.new_date,
                None,
                receipt.date,
                receipt.reference,
                receipt.supplier,
                False,
                None,
                receipt.cause_ids,
                receipt.correlation_ids,
            )
        )
    for switch in switches or ():
        causes, corrs = with_change(switch.cause_ids, switch.correlation_ids, engineered_in_by)
        out.append(
            (
                f"DISCONTINUATION_SWITCH|{plant}|{item}|{switch.replaced}",
                "DISCONTINUATION_SWITCH",
                plant,
                item,
                float(switch.qty),
                switch.day,
                None,
                None,
                switch.replaced,
                None,
                False,
                None,
                causes,
                corrs,
            )
        )
    if engineered_out_by is not None and plan.excess_stock > EPS:
        rev = engineered_out_by
        out.append(
            (
                f"DISPOSITION_EXCESS|{plant}|{item}",
                "DISPOSITION_EXCESS",
                plant,
                item,
                float(plan.excess_stock),
                rev.effective_from,
                None,
                None,
                revision_key(rev.parent_item, rev.revision),
                None,
                False,
                None,
                (rev.event_id,),
                change_ids(rev),
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
) -> list[Row]:
    """The item's shortage signal, if it is short, rated with its effective lead time.

    A `ShortageSignal` row (`SHORTAGE_FIELDS`).
    """
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
    # signal_id, plant, item, shortage_date, shortage_qty, severity, impacted_orders,
    # cause_event_ids, correlation_ids
    return [
        (
            f"{plant}|{item}",
            plant,
            item,
            shortage.date,
            float(shortage.qty),
            severity,
            shortage.impacted_orders,
            causes,
            corrs,
        )
    ]


def item_availability(
    plant: str, item: str, plan: ItemPlan, settings: PlanningSettings, position: StockPosition
) -> list[Row]:
    """The item's availability record (an `AvailabilityRecord` row, `AVAILABILITY_FIELDS`)."""
    return [
        (
            f"{plant}|{item}",
            plant,
            item,
            float(position.unrestricted),
            float(position.quality_hold),
            float(position.allocated),
            float(position.in_transit),
            float(position.available),
            float(settings.safety_stock),
            plan.projected_min,
            plan.projected_end,
            plan.shortage.date if plan.shortage else None,
        )
    ]
