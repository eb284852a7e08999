"""Pydantic models of the input events (SPEC sections 1, 2 and 11).

Each model mirrors one `.avsc` file in this folder; `tests/test_schemas.py` fails when the two
drift apart. Models validate at ingress only: they are frozen, so the operators can keep them
in state and pass them around without copying or re-validating.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, date, datetime
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mfgsync.schemas import vocabulary
from mfgsync.schemas.vocabulary import item_key

Source = Literal["PLM", "ERP", "MES", "WMS", "SUPPLIER"]
EventKind = Literal["delta", "state"]

MovementType = Literal[
    "RECEIPT",
    "ISSUE",
    "ADJUSTMENT",
    "TRANSFER_OUT",
    "TRANSFER_IN",
    "SHIP_IN_TRANSIT",
    "RECEIVE_IN_TRANSIT",
    "QC_HOLD",
    "QC_RELEASE",
    "QC_REJECT",
    "ALLOCATE",
    "DEALLOCATE",
]
MakeOrBuy = Literal["MAKE", "BUY"]
LotSizeRule = Literal["LOT_FOR_LOT", "FIXED_QTY", "MIN_QTY", "PERIODS_OF_SUPPLY", "REPLENISH_TO_MAX"]
ProductionOrderStatus = Literal["PLANNED", "RELEASED", "COMPLETED", "CANCELLED"]
DemandStatus = Literal["OPEN", "CLOSED", "CANCELLED"]
PurchaseOrderStatus = Literal["OPEN", "CANCELLED", "CLOSED"]
ConfirmationStatus = Literal["ACCEPTED", "PARTIAL", "REJECTED", "RESCHEDULED"]

NonEmpty = Annotated[str, Field(min_length=1)]
Quantity = Annotated[float, Field(ge=0)]
PositiveQuantity = Annotated[float, Field(gt=0)]

# Integers are bounded by the Avro type they are written as, so every event that validates can
# also be encoded (an unbounded int would pass validation and then fail in the Avro writer).
AVRO_INT_MAX = 2**31 - 1
AVRO_LONG_MAX = 2**63 - 1
Days = Annotated[int, Field(ge=0, le=AVRO_INT_MAX)]


class Record(BaseModel):
    """Base of every contract model: immutable, strict about unknown keys, finite numbers."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Event(Record):
    """The envelope every input event carries (SPEC section 1)."""

    TOPIC: ClassVar[str]
    KIND: ClassVar[EventKind]

    event_id: NonEmpty
    source: Source
    source_seq: Annotated[int, Field(ge=0, le=AVRO_LONG_MAX)]
    event_time: datetime
    plant: NonEmpty
    correlation_id: str | None = None

    @field_validator("event_time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # The contract says UTC; a timestamp without an offset is read as UTC rather than
        # rejected, and any offset is normalised so equal instants compare and hash equal.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @classmethod
    def type_name(cls) -> str:
        """The `type` discriminator used in JSON Lines files: the class name."""
        return cls.__name__

    def sequencing_key(self) -> str:
        """The key whose `source_seq` is strictly increasing (SPEC section 2)."""
        raise NotImplementedError

    def guard_key(self) -> str:
        """Key of the ingest guard: one sequence per topic, source, plant and sequencing key."""
        return f"{self.TOPIC}|{self.source}|{self.plant}|{self.sequencing_key()}"


class BomLine(Record):
    """One component line of a BOM revision."""

    component: NonEmpty
    qty_per: PositiveQuantity
    uom: str = "EA"
    scrap_pct: Annotated[float, Field(ge=0, lt=100)] = 0.0
    phantom: bool = False
    replaces: str | None = None
    use_up: bool = False
    """With `replaces` (and not the component itself): use up the replaced one's stock first."""


class BomRevisionReleased(Event):
    """Engineering released a BOM revision of `parent_item` (state, per revision)."""

    TOPIC = vocabulary.BOM_REVISIONS
    KIND = "state"

    parent_item: NonEmpty
    revision: NonEmpty
    effective_from: date
    effective_to: date | None = None
    change_reason_code: str = ""
    eco_number: str | None = None
    lines: tuple[BomLine, ...] = ()

    @model_validator(mode="after")
    def _window(self) -> BomRevisionReleased:
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            msg = "effective_to must be after effective_from"
            raise ValueError(msg)
        return self

    def sequencing_key(self) -> str:
        return f"{item_key(self.parent_item, self.plant)}+{self.revision}"


class ItemPlanningParams(Event):
    """ERP planning parameters of an item at a plant (state)."""

    TOPIC = vocabulary.ITEM_PLANNING
    KIND = "state"

    item: NonEmpty
    make_or_buy: MakeOrBuy
    lead_time_days: Annotated[int, Field(ge=0, le=AVRO_INT_MAX)]
    safety_stock: Quantity = 0.0
    lot_size_rule: LotSizeRule = "LOT_FOR_LOT"
    lot_size_qty: Quantity = 0.0
    lot_size_multiple: Annotated[float, Field(gt=0)] | None = None
    lot_size_periods: Annotated[int, Field(ge=1, le=AVRO_INT_MAX)] | None = None
    lot_size_max: Annotated[float, Field(gt=0)] | None = None
    max_stock_level: Quantity | None = None
    assembly_scrap_pct: Annotated[float, Field(ge=0, lt=100)] = 0.0
    safety_time_days: Days | None = None
    reschedule_horizon_days: Days | None = None
    reschedule_in_tolerance_days: Days | None = None
    reschedule_out_tolerance_days: Days | None = None
    planning_time_fence_days: Days | None = None
    preferred_supplier: str | None = None

    @model_validator(mode="after")
    def _lot_sizing(self) -> ItemPlanningParams:
        if self.lot_size_rule == "FIXED_QTY" and self.lot_size_qty <= 0:
            msg = "FIXED_QTY needs lot_size_qty > 0"
            raise ValueError(msg)
        if self.lot_size_rule == "PERIODS_OF_SUPPLY" and self.lot_size_periods is None:
            msg = "PERIODS_OF_SUPPLY needs lot_size_periods"
            raise ValueError(msg)
        if self.lot_size_rule == "REPLENISH_TO_MAX" and self.max_stock_level is None:
            msg = "REPLENISH_TO_MAX needs max_stock_level"
            raise ValueError(msg)
        return self

    def sequencing_key(self) -> str:
        return item_key(self.item, self.plant)


class InventoryMovement(Event):
    """A stock movement reported by the WMS (delta)."""

    TOPIC = vocabulary.INVENTORY_MOVEMENTS
    KIND = "delta"

    item: NonEmpty
    movement_type: MovementType
    qty: float
    uom: str = "EA"
    reference: str | None = None

    @model_validator(mode="after")
    def _sign(self) -> InventoryMovement:
        if self.movement_type != "ADJUSTMENT" and self.qty <= 0:
            msg = f"qty must be positive for {self.movement_type} (only ADJUSTMENT is signed)"
            raise ValueError(msg)
        return self

    def sequencing_key(self) -> str:
        return item_key(self.item, self.plant)


class InventorySnapshot(Event):
    """The WMS's full stock position of an item as of movement `as_of_seq` (state)."""

    TOPIC = vocabulary.INVENTORY_SNAPSHOTS
    KIND = "state"

    item: NonEmpty
    unrestricted: float
    quality_hold: float = 0.0
    in_transit: float = 0.0
    allocated: float = 0.0
    as_of_seq: Annotated[int, Field(ge=0, le=AVRO_LONG_MAX)]

    def sequencing_key(self) -> str:
        return item_key(self.item, self.plant)


class ProductionOrderChanged(Event):
    """The current version of a production order (state)."""

    TOPIC = vocabulary.PRODUCTION_ORDERS
    KIND = "state"

    order_id: NonEmpty
    item: NonEmpty
    qty: Quantity
    qty_completed: Quantity = 0.0
    start_date: date
    due_date: date
    status: ProductionOrderStatus
    bom_revision: str | None = None

    @model_validator(mode="after")
    def _dates(self) -> ProductionOrderChanged:
        if self.due_date < self.start_date:
            msg = "due_date is before start_date"
            raise ValueError(msg)
        return self

    def sequencing_key(self) -> str:
        return self.order_id


class DemandChanged(Event):
    """Independent demand: a sales order line or forecast (state)."""

    TOPIC = vocabulary.DEMAND
    KIND = "state"

    demand_id: NonEmpty
    item: NonEmpty
    qty: Quantity
    due_date: date
    status: DemandStatus

    def sequencing_key(self) -> str:
        return self.demand_id


class PurchaseOrderChanged(Event):
    """The current version of a purchase order line (state)."""

    TOPIC = vocabulary.PURCHASE_ORDERS
    KIND = "state"

    po_id: NonEmpty
    line: Annotated[int, Field(ge=0, le=AVRO_INT_MAX)]
    item: NonEmpty
    supplier: str = ""
    qty_ordered: Quantity
    need_date: date
    status: PurchaseOrderStatus

    def sequencing_key(self) -> str:
        return f"{self.po_id}/{self.line}"


class ScheduleLine(Record):
    """A quantity the supplier confirms for a date."""

    qty: Quantity
    date: dt.date


class SupplierConfirmation(Event):
    """The supplier's current confirmation of a PO line (state)."""

    TOPIC = vocabulary.SUPPLIER_CONFIRMATIONS
    KIND = "state"

    po_id: NonEmpty
    line: Annotated[int, Field(ge=0, le=AVRO_INT_MAX)]
    item: NonEmpty
    status: ConfirmationStatus
    schedule: tuple[ScheduleLine, ...] = ()

    def sequencing_key(self) -> str:
        return f"{self.po_id}/{self.line}"


class GoodsReceipt(Event):
    """A receipt posted against a PO line (delta); stock itself moves via the WMS."""

    TOPIC = vocabulary.GOODS_RECEIPTS
    KIND = "delta"

    po_id: NonEmpty
    line: Annotated[int, Field(ge=0, le=AVRO_INT_MAX)]
    item: NonEmpty
    qty: PositiveQuantity
    to_quality_hold: bool = False

    def sequencing_key(self) -> str:
        return f"{self.po_id}/{self.line}"


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type_name(): cls
    for cls in (
        BomRevisionReleased,
        ItemPlanningParams,
        InventoryMovement,
        InventorySnapshot,
        ProductionOrderChanged,
        DemandChanged,
        PurchaseOrderChanged,
        SupplierConfirmation,
        GoodsReceipt,
    )
}
"""Every input event type by its `type` name."""

TOPIC_TYPES: dict[str, type[Event]] = {cls.TOPIC: cls for cls in EVENT_TYPES.values()}
"""Every input event type by its default topic."""
