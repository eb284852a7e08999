"""Inventory position of one item at one plant: four buckets, movements, snapshots (SPEC 4).

Movement effects are one table, `MOVEMENT_EFFECTS`. `in_transit` is stock on its way *to*
this plant: SHIP_IN_TRANSIT announces it, RECEIVE_IN_TRANSIT moves it into unrestricted
stock; a one-step transfer between plants is TRANSFER_OUT at the sender and TRANSFER_IN at
the receiver. Negative buckets are applied as reported and raise NEGATIVE_STOCK.

A snapshot states the position as of movement `as_of_seq`. It is compared with the computed
position at that point (current position less the movements applied after it), a difference
beyond tolerance raises RECONCILIATION_DISCREPANCY, and the position is re-based: snapshot
plus the movements after `as_of_seq`. Movements at or before `as_of_seq` that arrive later are
already inside the snapshot and are superseded. So the final position is the same whatever
order movements and snapshots arrive in, within one bound: the last `HISTORY_LIMIT`
movements are remembered, and a snapshot older than all of them is discarded as superseded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime

from mfgsync.schemas.events import InventoryMovement, InventorySnapshot
from mfgsync.schemas.outputs import SyncException
from mfgsync.schemas.vocabulary import item_key

BUCKETS = ("unrestricted", "quality_hold", "allocated", "in_transit")
_INDEX = {name: i for i, name in enumerate(BUCKETS)}

MOVEMENT_EFFECTS: dict[str, tuple[tuple[str, int], ...]] = {
    "RECEIPT": (("unrestricted", +1),),
    "ISSUE": (("unrestricted", -1),),
    "ADJUSTMENT": (("unrestricted", +1),),  # qty is signed
    "TRANSFER_OUT": (("unrestricted", -1),),
    "TRANSFER_IN": (("unrestricted", +1),),
    "SHIP_IN_TRANSIT": (("in_transit", +1),),
    "RECEIVE_IN_TRANSIT": (("in_transit", -1), ("unrestricted", +1)),
    "QC_HOLD": (("unrestricted", -1), ("quality_hold", +1)),
    "QC_RELEASE": (("quality_hold", -1), ("unrestricted", +1)),
    "QC_REJECT": (("quality_hold", -1),),
    "ALLOCATE": (("allocated", +1),),
    "DEALLOCATE": (("allocated", -1),),
}
"""Which buckets each movement type changes, and in which direction."""

DEFAULT_TOLERANCE = 1e-6
HISTORY_LIMIT = 1_024
_EPS = 1e-9

Buckets = tuple[float, float, float, float]
ZERO: Buckets = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class StockPosition:
    """The four buckets of an item at a plant; `available = unrestricted - allocated`."""

    unrestricted: float = 0.0
    quality_hold: float = 0.0
    allocated: float = 0.0
    in_transit: float = 0.0

    @property
    def available(self) -> float:
        """Stock free for planning."""
        return self.unrestricted - self.allocated


@dataclass(frozen=True, slots=True)
class PositionChanged:
    """A new position of item@plant, sent to planning.

    `as_of` is the date of the stock event that gave it (its `event_time`): planning dates a
    replenishment of stock already below safety stock from the position's date.
    """

    plant: str
    item: str
    position: StockPosition
    event_id: str
    as_of: date | None = None


@dataclass(frozen=True, slots=True)
class ComponentIssued:
    """An ISSUE movement that names the order it was issued to (for netting orders)."""

    plant: str
    item: str
    order_id: str
    qty: float
    event_id: str


def movement_deltas(movement: InventoryMovement) -> Buckets:
    """The change a movement makes to the four buckets."""
    deltas = [0.0, 0.0, 0.0, 0.0]
    for bucket, sign in MOVEMENT_EFFECTS[movement.movement_type]:
        deltas[_INDEX[bucket]] += sign * movement.qty
    return (deltas[0], deltas[1], deltas[2], deltas[3])


@dataclass
class InventoryPosition:
    """Position state of one item@plant; plain data, picklable as its recovery snapshot."""

    plant: str
    item: str
    buckets: Buckets = ZERO
    first_movement_seq: int | None = None
    rebased_seq: int | None = None
    history: deque[tuple[int, Buckets]] = field(default_factory=lambda: deque(maxlen=HISTORY_LIMIT))
    negative_since: dict[str, datetime] = field(default_factory=dict)
    discrepancy_since: datetime | None = None

    @property
    def key(self) -> str:
        """The item@plant key."""
        return item_key(self.item, self.plant)

    def position(self) -> StockPosition:
        """The current buckets as a value."""
        return StockPosition(*self.buckets)

    def apply_movement(self, movement: InventoryMovement) -> tuple[bool, list[SyncException]]:
        """Apply a movement; False when a snapshot already includes it (superseded)."""
        if self.rebased_seq is not None and movement.source_seq <= self.rebased_seq:
            return False, []
        deltas = movement_deltas(movement)
        self.buckets = _add(self.buckets, deltas)
        self.history.append((movement.source_seq, deltas))
        if self.first_movement_seq is None or movement.source_seq < self.first_movement_seq:
            self.first_movement_seq = movement.source_seq
        return True, self._check_negative(movement.event_time, movement.event_id)

    def apply_snapshot(
        self, snapshot: InventorySnapshot, tolerance: float = DEFAULT_TOLERANCE
    ) -> tuple[bool, list[SyncException]]:
        """Reconcile with a snapshot and re-base on it; False when it is older than the last."""
        as_of = snapshot.as_of_seq
        if self.rebased_seq is not None and as_of < self.rebased_seq:
            return False, []
        after = [(seq, d) for seq, d in self.history if seq > as_of]
        if len(after) == len(self.history) == HISTORY_LIMIT:
            # Every remembered movement is newer than the snapshot: we cannot see its point.
            return False, []
        since = ZERO
        for _, deltas in after:
            since = _add(since, deltas)
        stated: Buckets = (
            snapshot.unrestricted,
            snapshot.quality_hold,
            snapshot.allocated,
            snapshot.in_transit,
        )
        exceptions: list[SyncException] = []
        # Compare only what we can know: a position grounded by an earlier snapshot, or by
        # movements from before the snapshot's point. Otherwise the snapshot is the baseline.
        grounded = self.rebased_seq is not None or (
            self.first_movement_seq is not None and self.first_movement_seq <= as_of
        )
        if grounded:
            computed = _sub(self.buckets, since)
            differences = {
                name: stated[i] - computed[i]
                for i, name in enumerate(BUCKETS)
                if abs(stated[i] - computed[i]) > tolerance
            }
            exceptions.extend(self._reconcile(snapshot, computed, differences))
        self.buckets = _add(stated, since)
        self.rebased_seq = as_of
        self.history = deque(after, maxlen=HISTORY_LIMIT)
        exceptions.extend(self._check_negative(snapshot.event_time, snapshot.event_id))
        return True, exceptions

    def _reconcile(
        self, snapshot: InventorySnapshot, computed: Buckets, differences: dict[str, float]
    ) -> list[SyncException]:
        exception_id = f"RECONCILIATION_DISCREPANCY|{self.key}"
        if differences:
            if self.discrepancy_since is None:
                self.discrepancy_since = snapshot.event_time
            details = {f"delta_{name}": _num(value) for name, value in differences.items()}
            details.update({f"computed_{n}": _num(computed[i]) for i, n in enumerate(BUCKETS)})
            details.update({"as_of_seq": str(snapshot.as_of_seq), "event_id": snapshot.event_id})
            return [
                SyncException(
                    exception_id=exception_id,
                    type="RECONCILIATION_DISCREPANCY",
                    state="OPEN",
                    key=self.key,
                    details=details,
                    first_seen=self.discrepancy_since,
                    correlation_id=snapshot.correlation_id,
                )
            ]
        if self.discrepancy_since is None:
            return []
        first_seen, self.discrepancy_since = self.discrepancy_since, None
        return [
            SyncException(
                exception_id=exception_id,
                type="RECONCILIATION_DISCREPANCY",
                state="CLOSED",
                key=self.key,
                details={"as_of_seq": str(snapshot.as_of_seq), "event_id": snapshot.event_id},
                first_seen=first_seen,
                correlation_id=snapshot.correlation_id,
            )
        ]

    def _check_negative(self, event_time: datetime, event_id: str) -> list[SyncException]:
        exceptions = []
        for i, name in enumerate(BUCKETS):
            value = self.buckets[i]
            was_negative = name in self.negative_since
            if value < -_EPS and not was_negative:
                since = self.negative_since[name] = event_time
                state = "OPEN"
            elif value >= -_EPS and was_negative:
                since = self.negative_since.pop(name)
                state = "CLOSED"
            else:
                continue
            exceptions.append(
                SyncException(
                    exception_id=f"NEGATIVE_STOCK|{self.key}|{name}",
                    type="NEGATIVE_STOCK",
                    state=state,
                    key=self.key,
                    details={"bucket": name, "value": _num(value), "event_id": event_id},
                    first_seen=since,
                )
            )
        return exceptions


def wms_order(
    events: list[InventoryMovement | InventorySnapshot],
) -> list[InventoryMovement | InventorySnapshot]:
    """Stock events of one item@plant in the order the WMS produced them.

    Movements by `source_seq`; each snapshot right after the movement its `as_of_seq` names
    (snapshots by their own `source_seq` among themselves). Replays apply stock events in this
    order so that transient exceptions (a movement seen before the opening snapshot making a
    bucket negative for a moment) do not depend on how the input was interleaved.
    """

    def position(event: InventoryMovement | InventorySnapshot) -> tuple[int, int, int]:
        if isinstance(event, InventorySnapshot):
            return (event.as_of_seq, 1, event.source_seq)
        return (event.source_seq, 0, 0)

    return sorted(events, key=position)


def _add(a: Buckets, b: Buckets) -> Buckets:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3])


def _sub(a: Buckets, b: Buckets) -> Buckets:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3])


def _num(value: float) -> str:
    return f"{value:.6g}"
