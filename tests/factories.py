"""Builders of valid input events (schemas/events.py) with sensible defaults, for tests.

Every builder fills the envelope: a fresh `event_id` ("E1", "E2", ...), the next `source_seq`
of the event's sequencing key (1, 2, ... per topic and key; an explicit `seq` moves the
counter on) and an `event_time` of `T0 + seq seconds`, so later sequence numbers are later in
time. Pass `seq`, `event_id` or `at` when a test is about them.

The counters belong to an `EventCounters` that `tests/conftest.py` replaces before every test
(`fresh_counters`), so a test's ids and sequence numbers are the same whichever tests ran
before it, alone or in the whole suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mfgsync.schemas.events import (
    BomLine,
    BomRevisionReleased,
    DemandChanged,
    Event,
    GoodsReceipt,
    InventoryMovement,
    InventorySnapshot,
    ItemPlanningParams,
    ProductionOrderChanged,
    PurchaseOrderChanged,
    ScheduleLine,
    SupplierConfirmation,
)
from mfgsync.schemas.outputs import ProcurementTrigger

T0 = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
"""Default event time origin: event `seq` happens at `T0 + seq` seconds."""


@dataclass
class EventCounters:
    """The event ids handed out and the last `source_seq` per topic and key, for one test."""

    next_id: int = 1
    last_seq: dict[tuple[str, str], int] = field(default_factory=dict)

    def event_id(self) -> str:
        event_id = f"E{self.next_id}"
        self.next_id += 1
        return event_id

    def seq(self, counter_key: tuple[str, str], seq: int | None) -> int:
        last = self.last_seq.get(counter_key, 0)
        chosen = last + 1 if seq is None else seq
        self.last_seq[counter_key] = max(chosen, last)
        return chosen


_counters = EventCounters()


def fresh_counters() -> EventCounters:
    """Start a test's ids and sequence numbers from the beginning (E1, seq 1 per key)."""
    global _counters
    _counters = EventCounters()
    return _counters


def next_event_id() -> str:
    """A fresh event id, never repeated within a test."""
    return _counters.event_id()


def at(seconds: float) -> datetime:
    """The event time `seconds` after T0."""
    return T0 + timedelta(seconds=seconds)


def _envelope(
    topic: str,
    key: str,
    *,
    seq: int | None,
    event_id: str | None,
    at: datetime | None,
    source: str,
    plant: str,
    correlation_id: str | None,
) -> dict[str, Any]:
    seq = _counters.seq((topic, f"{plant}|{key}"), seq)
    return {
        "event_id": event_id if event_id is not None else next_event_id(),
        "source": source,
        "source_seq": seq,
        "event_time": at if at is not None else T0 + timedelta(seconds=seq),
        "plant": plant,
        "correlation_id": correlation_id,
    }


def movement(
    item: str,
    type: str,
    qty: float,
    seq: int | None = None,
    plant: str = "P1",
    *,
    reference: str | None = None,
    event_id: str | None = None,
    at: datetime | None = None,
    source: str = "WMS",
    correlation_id: str | None = None,
) -> InventoryMovement:
    """An InventoryMovement of `qty` (signed only for ADJUSTMENT)."""
    envelope = _envelope(
        InventoryMovement.TOPIC,
        item,
        seq=seq,
        event_id=event_id,
        at=at,
        source=source,
        plant=plant,
        correlation_id=correlation_id,
    )
    return InventoryMovement(**envelope, item=item, movement_type=type, qty=qty, reference=reference)


def snapshot(
    item: str,
    as_of_seq: int,
    unrestricted: float = 0.0,
    quality_hold: float = 0.0,
    allocated: float = 0.0,
    in_transit: float = 0.0,
    *,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> InventorySnapshot:
    """The WMS's position of `item` as of movement `as_of_seq`."""
    envelope = _envelope(
        InventorySnapshot.TOPIC,
        item,
        seq=seq,
        event_id=event_id,
        at=at,
        source="WMS",
        plant=plant,
        correlation_id=correlation_id,
    )
    return InventorySnapshot(
        **envelope,
        item=item,
        unrestricted=unrestricted,
        quality_hold=quality_hold,
        allocated=allocated,
        in_transit=in_transit,
        as_of_seq=as_of_seq,
    )


def line(component: str, qty_per: float = 1.0, scrap_pct: float = 0.0, phantom: bool = False) -> BomLine:
    """One BOM line."""
    return BomLine(component=component, qty_per=qty_per, scrap_pct=scrap_pct, phantom=phantom)


def bom(
    parent: str,
    rev: str,
    lines: Iterable[BomLine | tuple[str, float]],
    effective_from: date = date(2024, 1, 1),
    effective_to: date | None = None,
    *,
    eco: str | None = None,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> BomRevisionReleased:
    """A released BOM revision; `lines` are BomLines or `(component, qty_per)` pairs."""
    envelope = _envelope(
        BomRevisionReleased.TOPIC,
        f"{parent}+{rev}",
        seq=seq,
        event_id=event_id,
        at=at,
        source="PLM",
        plant=plant,
        correlation_id=correlation_id,
    )
    built = tuple(x if isinstance(x, BomLine) else line(x[0], x[1]) for x in lines)
    return BomRevisionReleased(
        **envelope,
        parent_item=parent,
        revision=rev,
        effective_from=effective_from,
        effective_to=effective_to,
        change_reason_code="ECO" if eco else "",
        eco_number=eco,
        lines=built,
    )


def params(
    item: str,
    make_or_buy: str = "BUY",
    lead_time_days: int = 0,
    safety_stock: float = 0.0,
    lot_size_rule: str = "LOT_FOR_LOT",
    lot_size_qty: float = 0.0,
    lot_size_multiple: float | None = None,
    lot_size_periods: int | None = None,
    preferred_supplier: str | None = None,
    *,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
) -> ItemPlanningParams:
    """ERP planning parameters of `item`."""
    envelope = _envelope(
        ItemPlanningParams.TOPIC,
        item,
        seq=seq,
        event_id=event_id,
        at=at,
        source="ERP",
        plant=plant,
        correlation_id=None,
    )
    return ItemPlanningParams(
        **envelope,
        item=item,
        make_or_buy=make_or_buy,
        lead_time_days=lead_time_days,
        safety_stock=safety_stock,
        lot_size_rule=lot_size_rule,
        lot_size_qty=lot_size_qty,
        lot_size_multiple=lot_size_multiple,
        lot_size_periods=lot_size_periods,
        preferred_supplier=preferred_supplier,
    )


def demand(
    demand_id: str,
    item: str,
    qty: float,
    due_date: date,
    status: str = "OPEN",
    *,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> DemandChanged:
    """Independent demand for `item`."""
    envelope = _envelope(
        DemandChanged.TOPIC,
        demand_id,
        seq=seq,
        event_id=event_id,
        at=at,
        source="ERP",
        plant=plant,
        correlation_id=correlation_id,
    )
    return DemandChanged(
        **envelope, demand_id=demand_id, item=item, qty=qty, due_date=due_date, status=status
    )


def production_order(
    order_id: str,
    item: str,
    qty: float,
    start_date: date,
    due_date: date,
    status: str = "RELEASED",
    *,
    qty_completed: float = 0.0,
    bom_revision: str | None = None,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> ProductionOrderChanged:
    """The current version of a production order."""
    envelope = _envelope(
        ProductionOrderChanged.TOPIC,
        order_id,
        seq=seq,
        event_id=event_id,
        at=at,
        source="ERP",
        plant=plant,
        correlation_id=correlation_id,
    )
    return ProductionOrderChanged(
        **envelope,
        order_id=order_id,
        item=item,
        qty=qty,
        qty_completed=qty_completed,
        start_date=start_date,
        due_date=due_date,
        status=status,
        bom_revision=bom_revision,
    )


def purchase_order(
    po_id: str,
    line: int,
    item: str,
    qty_ordered: float,
    need_date: date,
    status: str = "OPEN",
    *,
    supplier: str = "S1",
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
    correlation_id: str | None = None,
) -> PurchaseOrderChanged:
    """The current version of a purchase order line."""
    envelope = _envelope(
        PurchaseOrderChanged.TOPIC,
        f"{po_id}/{line}",
        seq=seq,
        event_id=event_id,
        at=at,
        source="ERP",
        plant=plant,
        correlation_id=correlation_id,
    )
    return PurchaseOrderChanged(
        **envelope,
        po_id=po_id,
        line=line,
        item=item,
        supplier=supplier,
        qty_ordered=qty_ordered,
        need_date=need_date,
        status=status,
    )


def confirmation(
    po_id: str,
    line: int,
    item: str,
    schedule: Sequence[tuple[float, date]],
    status: str = "ACCEPTED",
    *,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
) -> SupplierConfirmation:
    """The supplier's confirmation of a PO line: `schedule` is `(qty, date)` pairs."""
    envelope = _envelope(
        SupplierConfirmation.TOPIC,
        f"{po_id}/{line}",
        seq=seq,
        event_id=event_id,
        at=at,
        source="SUPPLIER",
        plant=plant,
        correlation_id=None,
    )
    return SupplierConfirmation(
        **envelope,
        po_id=po_id,
        line=line,
        item=item,
        status=status,
        schedule=tuple(ScheduleLine(qty=q, date=d) for q, d in schedule),
    )


def goods_receipt(
    po_id: str,
    line: int,
    item: str,
    qty: float,
    to_quality_hold: bool = False,
    *,
    seq: int | None = None,
    plant: str = "P1",
    event_id: str | None = None,
    at: datetime | None = None,
) -> GoodsReceipt:
    """A goods receipt posted against a PO line."""
    envelope = _envelope(
        GoodsReceipt.TOPIC,
        f"{po_id}/{line}",
        seq=seq,
        event_id=event_id,
        at=at,
        source="ERP",
        plant=plant,
        correlation_id=None,
    )
    return GoodsReceipt(
        **envelope, po_id=po_id, line=line, item=item, qty=qty, to_quality_hold=to_quality_hold
    )


def seqs(events: Iterable[Event]) -> list[int]:
    """The `source_seq` of each event, in order."""
    return [e.source_seq for e in events]


def requisition(
    item: str, qty: float, covers: str = "x", *, plant: str = "P1", state: str = "OPEN", **fields: Any
) -> ProcurementTrigger:
    """A published CREATE_REQUISITION trigger (what a planner adopts after a restart)."""
    return ProcurementTrigger.model_validate(
        {
            "trigger_id": f"CREATE_REQUISITION|{plant}|{item}|{covers}",
            "state": state,
            "type": "CREATE_REQUISITION",
            "plant": plant,
            "item": item,
            "qty": qty,
            **fields,
        }
    )
