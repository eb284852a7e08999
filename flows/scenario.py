"""The bundled reference scenario (SPEC 9), built relative to a planning date.

Two plants build pump PUMP-100 from a three-level BOM. Engineering change ECO-4711 replaces
the motor's winding WIND-OLD by WIND-NEW from a week after the planning date: DE01 takes it
with use-up (WIND-OLD's stock is used first; a DISCONTINUATION_SWITCH names the day WIND-NEW
takes over), US01 with a hard switch at the effectivity date (WIND-OLD's stock is excess).
Each plant has stock, open production orders, purchase orders with partial supplier
confirmations and sales demand, so a replay shows every kind of output: the new winding's
shortage and requisitions, the old winding's excess and its unneeded PO, a late bearing PO
moved in instead of a second buy, a phantom fastener kit blown through to its screws, a
sequence gap and a stock discrepancy.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

ECO = "ECO-4711"
PLANTS = ("DE01", "US01")


def scenario_events(today: date) -> list[dict[str, Any]]:
    """The scenario as JSON-ready event dicts in arrival order."""
    events: list[dict[str, Any]] = []
    seqs: dict[tuple[str, str], int] = {}
    clock = datetime.combine(today - timedelta(days=1), time(6, 0), UTC)

    def emit(type_name: str, source: str, plant: str, seq_key: str, **fields: Any) -> None:
        nonlocal clock
        key = (type_name, f"{plant}|{seq_key}")
        seqs[key] = seqs.get(key, 0) + 1
        clock += timedelta(seconds=7)
        events.append(
            {
                "type": type_name,
                "event_id": f"{source.lower()}-{plant}-{len(events) + 1:04d}",
                "source": source,
                "source_seq": seqs[key],
                "event_time": clock.isoformat().replace("+00:00", "Z"),
                "plant": plant,
                **fields,
            }
        )

    def d(days: int) -> str:
        return (today + timedelta(days=days)).isoformat()

    switch = 7  # ECO effectivity, days after the planning date
    for plant in PLANTS:
        for item, mob, lt, ss, rule, extra in _ITEMS:
            emit(
                "ItemPlanningParams",
                "ERP",
                plant,
                item,
                item=item,
                make_or_buy=mob,
                lead_time_days=lt,
                safety_stock=ss,
                lot_size_rule=rule,
                **extra,
            )
        emit(
            "BomRevisionReleased",
            "PLM",
            plant,
            "PUMP-100@A",
            parent_item="PUMP-100",
            revision="A",
            effective_from=d(-400),
            change_reason_code="INITIAL",
            lines=[
                {"component": "MOTOR-20", "qty_per": 1, "uom": "EA"},
                {"component": "HOUSING-30", "qty_per": 1, "uom": "EA", "scrap_pct": 2},
            ],
        )
        emit(
            "BomRevisionReleased",
            "PLM",
            plant,
            "MOTOR-20@A",
            parent_item="MOTOR-20",
            revision="A",
            effective_from=d(-400),
            effective_to=d(switch),
            change_reason_code="INITIAL",
            lines=[
                {"component": "WIND-OLD", "qty_per": 1, "uom": "EA"},
                {"component": "BEARING-6204", "qty_per": 2, "uom": "EA"},
                {"component": "KIT-FAST", "qty_per": 1, "uom": "EA", "phantom": True},
            ],
        )
        emit(
            "BomRevisionReleased",
            "PLM",
            plant,
            "KIT-FAST@A",
            parent_item="KIT-FAST",
            revision="A",
            effective_from=d(-400),
            change_reason_code="INITIAL",
            lines=[{"component": "SCREW-M4", "qty_per": 8, "uom": "EA"}],
        )
        # Stock: opening snapshots, then movements.
        for item, qty in _OPENING[plant].items():
            emit(
                "InventorySnapshot",
                "WMS",
                plant,
                f"snap|{item}",
                item=item,
                unrestricted=qty,
                quality_hold=0,
                in_transit=0,
                allocated=0,
                as_of_seq=0,
            )
        emit(
            "InventoryMovement",
            "WMS",
            plant,
            "BEARING-6204",
            item="BEARING-6204",
            movement_type="QC_HOLD",
            qty=10,
            uom="EA",
        )
        emit(
            "InventoryMovement",
            "WMS",
            plant,
            "PUMP-100",
            item="PUMP-100",
            movement_type="ALLOCATE",
            qty=5,
            uom="EA",
            reference="SO-1",
        )
        # Demand and orders.
        for n, (days, qty) in enumerate(((9, 30), (16, 40), (23, 40)), start=1):
            emit(
                "DemandChanged",
                "ERP",
                plant,
                f"SO-{plant}-{n}",
                demand_id=f"SO-{plant}-{n}",
                item="PUMP-100",
                qty=qty,
                due_date=d(days),
                status="OPEN",
            )
        emit(
            "ProductionOrderChanged",
            "ERP",
            plant,
            f"MO-{plant}-1",
            order_id=f"MO-{plant}-1",
            item="MOTOR-20",
            qty=20,
            qty_completed=0,
            start_date=d(2),
            due_date=d(5),
            status="RELEASED",
            bom_revision="A",
        )
        emit(
            "InventoryMovement",
            "WMS",
            plant,
            "WIND-OLD",
            item="WIND-OLD",
            movement_type="ISSUE",
            qty=5,
            uom="EA",
            reference=f"MO-{plant}-1",
        )
        emit(
            "PurchaseOrderChanged",
            "ERP",
            plant,
            f"PO-{plant}-7/10",
            po_id=f"PO-{plant}-7",
            line=10,
            item="HOUSING-30",
            supplier="CAST-CO",
            qty_ordered=100,
            need_date=d(6),
            status="OPEN",
        )
        emit(
            "SupplierConfirmation",
            "SUPPLIER",
            plant,
            f"PO-{plant}-7/10",
            po_id=f"PO-{plant}-7",
            line=10,
            item="HOUSING-30",
            status="PARTIAL",
            schedule=[{"qty": 60, "date": d(6)}],
        )
        emit(
            "GoodsReceipt",
            "ERP",
            plant,
            f"PO-{plant}-7/10",
            po_id=f"PO-{plant}-7",
            line=10,
            item="HOUSING-30",
            qty=20,
            to_quality_hold=False,
        )
        emit(
            "PurchaseOrderChanged",
            "ERP",
            plant,
            f"PO-{plant}-8/10",
            po_id=f"PO-{plant}-8",
            line=10,
            item="BEARING-6204",
            supplier="SKF",
            qty_ordered=200,
            need_date=d(3),
            status="OPEN",
        )
        emit(
            "SupplierConfirmation",
            "SUPPLIER",
            plant,
            f"PO-{plant}-8/10",
            po_id=f"PO-{plant}-8",
            line=10,
            item="BEARING-6204",
            status="RESCHEDULED",
            schedule=[{"qty": 200, "date": d(20)}],
        )
        emit(
            "PurchaseOrderChanged",
            "ERP",
            plant,
            f"PO-{plant}-9/10",
            po_id=f"PO-{plant}-9",
            line=10,
            item="WIND-OLD",
            supplier="COIL-AG",
            qty_ordered=50,
            need_date=d(12),
            status="OPEN",
        )
        # The engineering change: WIND-NEW replaces WIND-OLD from `switch` days on, using up
        # WIND-OLD's stock first at DE01, switching hard at US01.
        emit(
            "BomRevisionReleased",
            "PLM",
            plant,
            "MOTOR-20@B",
            parent_item="MOTOR-20",
            revision="B",
            effective_from=d(switch),
            change_reason_code="COST_DOWN",
            eco_number=ECO,
            correlation_id=ECO,
            lines=[
                {
                    "component": "WIND-NEW",
                    "qty_per": 1,
                    "uom": "EA",
                    "replaces": "WIND-OLD",
                    "use_up": plant == "DE01",
                },
                {"component": "BEARING-6204", "qty_per": 2, "uom": "EA"},
                {"component": "KIT-FAST", "qty_per": 1, "uom": "EA", "phantom": True},
            ],
        )
    # Operational noise the guard and inventory must handle.
    emit(
        "InventoryMovement",
        "WMS",
        "DE01",
        "SCREW-M4",
        item="SCREW-M4",
        movement_type="RECEIPT",
        qty=500,
        uom="EA",
    )
    seqs[("InventoryMovement", "DE01|SCREW-M4")] += 1  # one movement lost upstream
    emit(
        "InventoryMovement",
        "WMS",
        "DE01",
        "SCREW-M4",
        item="SCREW-M4",
        movement_type="ISSUE",
        qty=40,
        uom="EA",
    )
    events.append(dict(events[-1]))  # redelivered by the broker
    emit(
        "InventorySnapshot",
        "WMS",
        "US01",
        "snap|SCREW-M4",
        item="SCREW-M4",
        unrestricted=1180,
        quality_hold=0,
        in_transit=0,
        allocated=0,
        as_of_seq=0,
    )
    return events


def scenario_lines(today: date) -> Iterator[str]:
    """The scenario as JSON Lines, plus two malformed lines that must be dead-lettered."""
    import json

    for event in scenario_events(today):
        yield json.dumps(event)
    yield '{"type": "InventoryMovement", "event_id": "wms-bad-1", "qty": "lots"}'
    yield "<html>502 Bad Gateway</html>"


_ITEMS: tuple[tuple[str, str, int, float, str, dict[str, Any]], ...] = (
    ("PUMP-100", "MAKE", 5, 0, "LOT_FOR_LOT", {}),
    ("MOTOR-20", "MAKE", 7, 0, "LOT_FOR_LOT", {}),
    (
        "HOUSING-30",
        "BUY",
        10,
        10,
        "MIN_QTY",
        {"lot_size_qty": 50, "lot_size_multiple": 10, "preferred_supplier": "CAST-CO"},
    ),
    ("WIND-OLD", "BUY", 14, 0, "LOT_FOR_LOT", {"preferred_supplier": "COIL-AG"}),
    ("WIND-NEW", "BUY", 21, 5, "FIXED_QTY", {"lot_size_qty": 25, "preferred_supplier": "COIL-AG"}),
    (
        "BEARING-6204",
        "BUY",
        7,
        20,
        "PERIODS_OF_SUPPLY",
        {"lot_size_periods": 14, "preferred_supplier": "SKF"},
    ),
    ("KIT-FAST", "MAKE", 0, 0, "LOT_FOR_LOT", {}),
    ("SCREW-M4", "BUY", 3, 200, "FIXED_QTY", {"lot_size_qty": 1000, "preferred_supplier": "FASTEN-IT"}),
)

_OPENING: dict[str, dict[str, float]] = {
    "DE01": {
        "PUMP-100": 12,
        "MOTOR-20": 4,
        "HOUSING-30": 15,
        "WIND-OLD": 60,
        "WIND-NEW": 0,
        "BEARING-6204": 60,
        "SCREW-M4": 900,
    },
    "US01": {
        "PUMP-100": 3,
        "MOTOR-20": 0,
        "HOUSING-30": 40,
        "WIND-OLD": 95,
        "WIND-NEW": 10,
        "BEARING-6204": 30,
        "SCREW-M4": 1200,
    },
}
