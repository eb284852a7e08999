"""Hypothesis strategies for random but valid event streams of one or two plants.

A stream is a list of events in the order sources emitted them: within each sequencing key
`source_seq` runs 1, 2, 3, ...; state entities get several versions; items are linked by
multi-level BOMs (with revisions, phantoms, scrap and the odd cycle).

`event_streams()` draws every choice (which items have parameters, each BOM line, each
event's kind and fields) from hypothesis, so a failing stream shrinks to a minimal one;
`perturbations()` draws the reordering and resending the same way. `build_stream(seed)`
and `perturb(events, seed)` make the same streams from a seed, for the end-to-end tests that
replay one fixed stream.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from hypothesis import strategies as st

from mfgsync.schemas.events import EVENT_TYPES, Event

TODAY = date(2026, 3, 2)
LOT_RULES = ("LOT_FOR_LOT", "FIXED_QTY", "MIN_QTY", "PERIODS_OF_SUPPLY", "REPLENISH_TO_MAX")
MOVES = (
    "RECEIPT",
    "ISSUE",
    "ADJUSTMENT",
    "QC_HOLD",
    "QC_RELEASE",
    "ALLOCATE",
    "DEALLOCATE",
    "SHIP_IN_TRANSIT",
    "RECEIVE_IN_TRANSIT",
    "TRANSFER_OUT",
)


T = TypeVar("T")


class Chooser(Protocol):
    """The choices a stream is made of: `random.Random`, or hypothesis draws (`Drawn`)."""

    def random(self) -> float: ...
    def randint(self, a: int, b: int) -> int: ...
    def choice(self, seq: Sequence[T]) -> T: ...
    def sample(self, population: Sequence[T], k: int) -> list[T]: ...
    def uniform(self, a: float, b: float) -> float: ...


class Drawn:
    """Every choice drawn from hypothesis, so it shrinks (to the first option, the smallest number)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw

    def random(self) -> float:
        return self.draw(st.integers(0, 99)) / 100

    def randint(self, a: int, b: int) -> int:
        return self.draw(st.integers(a, b))

    def choice(self, seq: Sequence[T]) -> T:
        return self.draw(st.sampled_from(seq))

    def sample(self, population: Sequence[T], k: int) -> list[T]:
        return self.draw(st.permutations(population))[:k]

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.draw(st.integers(0, 1000)) / 1000


class StreamBuilder:
    """Builds events with per-key sequence numbers and unique ids."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.seq: dict[str, int] = {}
        self.clock = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

    def add(self, type_name: str, plant: str, **fields: Any) -> Event:
        cls = EVENT_TYPES[type_name]
        self.clock += timedelta(seconds=1)
        probe = cls.model_construct(plant=plant, source="ERP", **fields)
        key = f"{cls.TOPIC}|{plant}|{probe.sequencing_key()}"
        self.seq[key] = self.seq.get(key, 0) + 1
        event = cls.model_validate(
            {
                "event_id": f"ev-{len(self.events) + 1}",
                "source": "ERP",
                "source_seq": self.seq[key],
                "event_time": self.clock,
                "plant": plant,
                **fields,
            }
        )
        self.events.append(event)
        return event


def _day(rng: Chooser, lo: int = -5, hi: int = 45) -> date:
    return TODAY + timedelta(days=rng.randint(lo, hi))


def build_stream(seed: int, plants: int = 1, items: int = 6, noise: int = 30) -> list[Event]:
    """A random valid stream, fully determined by `seed`."""
    return make_stream(random.Random(seed), seed, plants, items, noise)


@st.composite
def event_streams(draw: st.DrawFn, plants: int = 1, items: int = 6, noise: int = 30) -> list[Event]:
    """A valid stream whose every choice is drawn; `noise` bounds the events after the set-up."""
    return make_stream(Drawn(draw), 0, plants, items, draw(st.integers(0, noise)))


def make_stream(rng: Chooser, seed: int, plants: int, items: int, noise: int) -> list[Event]:
    """A valid stream from `rng`'s choices (`seed` only names the ECOs)."""
    b = StreamBuilder()
    names = [f"I{i}" for i in range(items)]
    for plant in [f"P{p + 1}" for p in range(plants)]:
        for i, item in enumerate(names):
            if rng.random() < 0.85:
                rule = rng.choice(LOT_RULES)
                b.add(
                    "ItemPlanningParams",
                    plant,
                    item=item,
                    make_or_buy="MAKE" if i < items // 2 and rng.random() < 0.8 else "BUY",
                    lead_time_days=rng.choice((0, 3, 7, 14)),
                    safety_stock=rng.choice((0, 0, 5)),
                    lot_size_rule=rule,
                    lot_size_qty=rng.choice((10, 25)) if rule in ("FIXED_QTY", "MIN_QTY") else 0,
                    lot_size_multiple=rng.choice((None, 5)) if rule == "MIN_QTY" else None,
                    lot_size_periods=rng.choice((2, 7)) if rule == "PERIODS_OF_SUPPLY" else None,
                    # The parameters of issue 11 (SPEC 5): unset, or a small value.
                    lot_size_max=rng.choice((None, None, 15)) if rule != "FIXED_QTY" else None,
                    max_stock_level=rng.choice((20, 40)) if rule == "REPLENISH_TO_MAX" else None,
                    assembly_scrap_pct=rng.choice((0, 0, 20)),
                    safety_time_days=rng.choice((None, None, 2)),
                    reschedule_horizon_days=rng.choice((None, None, 5)),
                    reschedule_in_tolerance_days=rng.choice((None, 0, 2)),
                    reschedule_out_tolerance_days=rng.choice((None, 0, 3)),
                    planning_time_fence_days=rng.choice((None, None, 4)),
                )
        for i, parent in enumerate(names[: items - 1]):
            first_lines: list[str] = []
            for rev_no in range(rng.choice((1, 1, 2))):
                below = names[i + 1 :]
                chosen = rng.sample(below, k=min(len(below), rng.randint(1, 3)))
                if rng.random() < 0.05:
                    chosen.append(names[rng.randint(0, i)])  # a cycle back up the tree
                lines = [
                    {
                        "component": c,
                        "qty_per": rng.choice((1, 2, 0.5)),
                        "uom": "EA",
                        "scrap_pct": rng.choice((0, 0, 10)),
                        "phantom": rng.random() < 0.15,
                    }
                    for c in dict.fromkeys(chosen)
                ]
                dropped = [c for c in first_lines if c not in chosen]
                if rev_no and dropped and rng.random() < 0.6:
                    # An engineering change: a new line replaces a dropped one, used up or not.
                    lines[0]["replaces"] = rng.choice(dropped)
                    lines[0]["use_up"] = rng.random() < 0.7
                if rev_no == 0:
                    first_lines = list(dict.fromkeys(chosen))
                start = -60 if rev_no == 0 else rng.randint(1, 20)
                b.add(
                    "BomRevisionReleased",
                    plant,
                    parent_item=parent,
                    revision=f"R{rev_no}",
                    effective_from=TODAY + timedelta(days=start),
                    eco_number=f"ECO-{seed}-{i}-{rev_no}",
                    lines=lines,
                )
        for item in names:
            if rng.random() < 0.7:
                b.add("InventorySnapshot", plant, item=item, unrestricted=rng.randint(0, 60), as_of_seq=0)
        orders: list[str] = []
        for _ in range(noise):
            kind = rng.random()
            item = rng.choice(names)
            if kind < 0.35:
                move = rng.choice(MOVES)
                qty = rng.randint(1, 20) * (rng.choice((1, -1)) if move == "ADJUSTMENT" else 1)
                ref = rng.choice(orders) if move == "ISSUE" and orders and rng.random() < 0.5 else None
                b.add("InventoryMovement", plant, item=item, movement_type=move, qty=qty, reference=ref)
            elif kind < 0.5:
                b.add(
                    "DemandChanged",
                    plant,
                    demand_id=f"D{rng.randint(1, 6)}",
                    item=item,
                    qty=rng.randint(0, 40),
                    due_date=_day(rng),
                    status=rng.choice(("OPEN", "OPEN", "CLOSED")),
                )
            elif kind < 0.65:
                order = f"MO{rng.randint(1, 4)}"
                orders.append(order)
                start = _day(rng, -3, 30)
                qty = rng.randint(1, 30)
                b.add(
                    "ProductionOrderChanged",
                    plant,
                    order_id=order,
                    item=rng.choice(names[: items - 1]),
                    qty=qty,
                    qty_completed=rng.randint(0, qty),
                    start_date=start,
                    due_date=start + timedelta(days=rng.randint(0, 10)),
                    status=rng.choice(("RELEASED", "PLANNED", "COMPLETED")),
                    bom_revision=rng.choice((None, "R0")),
                )
            elif kind < 0.8:
                line = rng.randint(1, 2)
                b.add(
                    "PurchaseOrderChanged",
                    plant,
                    po_id=f"PO{rng.randint(1, 3)}",
                    line=line,
                    item=item,
                    supplier="S1",
                    qty_ordered=rng.randint(5, 60),
                    need_date=_day(rng),
                    status=rng.choice(("OPEN", "OPEN", "CANCELLED")),
                )
            elif kind < 0.9:
                b.add(
                    "SupplierConfirmation",
                    plant,
                    po_id=f"PO{rng.randint(1, 3)}",
                    line=rng.randint(1, 2),
                    item=item,
                    status=rng.choice(("ACCEPTED", "PARTIAL", "REJECTED", "RESCHEDULED")),
                    schedule=[
                        {"qty": rng.randint(1, 30), "date": _day(rng).isoformat()}
                        for _ in range(rng.randint(0, 2))
                    ],
                )
            else:
                b.add(
                    "GoodsReceipt",
                    plant,
                    po_id=f"PO{rng.randint(1, 3)}",
                    line=rng.randint(1, 2),
                    item=item,
                    qty=rng.randint(1, 20),
                )
    return b.events


def perturb(events: list[Event], seed: int, resend: float = 0.2) -> list[Event]:
    """`reorder` with choices made from `seed`."""
    return reorder(events, random.Random(seed), resend)


@st.composite
def perturbations(draw: st.DrawFn, events: list[Event], resend: float = 0.2) -> list[Event]:
    """`events` reordered and partly resent, every choice drawn."""
    return reorder(events, Drawn(draw), resend)


def reorder(events: list[Event], rng: Chooser, resend: float = 0.2) -> list[Event]:
    """Interleave keys differently, swap neighbours within a key, resend a share of events.

    Per-key order is what sequencing repairs; the order across keys is arbitrary anyway.
    """
    by_key: dict[str, list[Event]] = {}
    for event in events:
        by_key.setdefault(event.guard_key(), []).append(event)
    for seq in by_key.values():
        for i in range(len(seq) - 1):
            if rng.random() < 0.3:
                seq[i], seq[i + 1] = seq[i + 1], seq[i]
    queues = [list(q) for q in by_key.values()]
    out: list[Event] = []
    while queues:
        queue = rng.choice(queues)
        out.append(queue.pop(0))
        if rng.random() < resend:
            out.append(out[-1])
        if not queue:
            queues.remove(queue)
    return out
