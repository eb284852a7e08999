"""Benchmark input: N mixed, valid mfgsync events, and publishing them once to Kafka.

`generate(spec)` yields the events (pydantic models of `schemas/events.py`, so every one is
valid by construction), deterministic for a seed:

- 80% `InventoryMovement` over `spec.keys` item@plant keys (`spec.plants` plants with the
  same item master), movement types mixed like a real WMS (receipts, issues, some against a
  production order, transfers, QC, allocations, signed adjustments);
- the rest: master data first (one `ItemPlanningParams` per item@plant, one
  `BomRevisionReleased` per MAKE parent), then `ProductionOrderChanged`, `DemandChanged`,
  `PurchaseOrderChanged`, `SupplierConfirmation`, `GoodsReceipt` and engineering changes
  (new BOM revisions with an ECO number), state entities updated in several versions;
- `source_seq` strictly increasing per sequencing key, `event_time` increasing;
- `spec.duplicate_share` of the events sent twice (a producer retry: same event id).

Items per plant are in 4 BOM levels (10/20/30/40%): levels 0-2 are MAKE with 3 components
each from the next levels, level 3 is BUY.

`produce(...)` creates the topic set with `mfgsync topics create --partitions 4` (which also
registers the schemas) and publishes with the project's own `Serde` (Avro, Confluent framing,
through the registry) and `mfgsync.connectors.kafka.produce_all`, keyed and partitioned like
`mfgsync produce` (each record in its plant's partition: README, Producer partitions).

Run alone: `python -m bench.data --count 20` prints a sample as JSON lines.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from bench.common import EPOCH, ROOT, TODAY, service_env
from mfgsync.flows.placement import record_key, record_partition
from mfgsync.schemas.events import (
    BomLine,
    BomRevisionReleased,
    DemandChanged,
    Event,
    GoodsReceipt,
    InventoryMovement,
    ItemPlanningParams,
    ProductionOrderChanged,
    PurchaseOrderChanged,
    ScheduleLine,
    SupplierConfirmation,
)

LEVEL_SHARES = (0.10, 0.20, 0.30, 0.40)
COMPONENTS_PER_PARENT = 3

MOVEMENT_TYPES = (
    ("RECEIPT", 24),
    ("ISSUE", 30),
    ("ADJUSTMENT", 4),
    ("TRANSFER_IN", 5),
    ("TRANSFER_OUT", 5),
    ("QC_HOLD", 5),
    ("QC_RELEASE", 5),
    ("ALLOCATE", 9),
    ("DEALLOCATE", 8),
    ("SHIP_IN_TRANSIT", 2.5),
    ("RECEIVE_IN_TRANSIT", 2.5),
)
# Share of the non-movement, non-master-data budget per event type.
OTHER_WEIGHTS = (
    ("ProductionOrderChanged", 27),
    ("DemandChanged", 26),
    ("PurchaseOrderChanged", 22),
    ("SupplierConfirmation", 10),
    ("GoodsReceipt", 14),
    ("BomRevisionReleased", 1),
)
VERSIONS_PER_ENTITY = 4


@dataclass(frozen=True)
class Spec:
    """What to generate."""

    events: int = 1_000_000
    keys: int = 10_000
    plants: int = 4
    seed: int = 20260302
    movement_share: float = 0.8
    duplicate_share: float = 0.005
    today: date = TODAY
    families: int = 1
    """Independent BOM families per plant (item i is in family i mod families): more than
    one gives a BOM graph that splits, what planning groups spread over workers."""

    def __post_init__(self) -> None:
        if self.families < 1 or self.items_per_plant < 20 * self.families:
            msg = f"{self.families} families need at least {20 * self.families} items per plant"
            raise ValueError(msg)

    @property
    def items_per_plant(self) -> int:
        return self.keys // self.plants


FULL = Spec()
QUICK = Spec(events=60_000, keys=2_000)


@dataclass
class Layout:
    """Items, levels and BOM structure of every plant (the same item master everywhere)."""

    plants: list[str]
    items: list[str]
    level: dict[str, int]
    bom: dict[str, list[tuple[str, float, float]]]  # parent -> (component, qty_per, scrap_pct)

    @classmethod
    def build(cls, spec: Spec, rng: random.Random) -> Layout:
        n = spec.items_per_plant
        items = [f"I{i:05d}" for i in range(n)]
        level: dict[str, int] = {}
        bounds = []
        acc = 0.0
        for share in LEVEL_SHARES:
            acc += share
            bounds.append(round(acc * n))
        by_level: list[list[list[str]]] = [[[] for _ in LEVEL_SHARES] for _ in range(spec.families)]
        family: dict[str, int] = {}
        for i, item in enumerate(items):
            lv = next(k for k, b in enumerate(bounds) if i < b)
            level[item] = lv
            family[item] = i % spec.families
            by_level[family[item]][lv].append(item)
        bom: dict[str, list[tuple[str, float, float]]] = {}
        for item in items:
            lv = level[item]
            if lv >= len(LEVEL_SHARES) - 1:
                continue
            lines: list[tuple[str, float, float]] = []
            chosen: set[str] = set()
            while len(lines) < COMPONENTS_PER_PARENT:
                # Mostly the next level, sometimes one further down (shared raw parts).
                target = lv + 1 if rng.random() < 0.8 or lv + 2 >= len(LEVEL_SHARES) else lv + 2
                comp = rng.choice(by_level[family[item]][target])
                if comp in chosen:
                    continue
                chosen.add(comp)
                lines.append((comp, float(rng.randint(1, 4)), rng.choice((0.0, 0.0, 2.0, 5.0))))
            bom[item] = lines
        plants = [f"P{p + 1:02d}" for p in range(spec.plants)]
        return cls(plants=plants, items=items, level=level, bom=bom)

    def make_items(self) -> list[str]:
        return [i for i in self.items if i in self.bom]

    def buy_items(self) -> list[str]:
        return [i for i in self.items if i not in self.bom]

    def end_items(self) -> list[str]:
        return [i for i in self.items if self.level[i] == 0]


@dataclass
class _Entity:
    plant: str
    item: str
    versions: int = 0
    fields: dict[str, Any] = field(default_factory=dict)


class Generator:
    """Deterministic event stream for a `Spec`."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.layout = Layout.build(spec, self.rng)
        self.seq: Counter[str] = Counter()
        self.index = 0
        self.make = self.layout.make_items()
        self.buy = self.layout.buy_items()
        self.ends = self.layout.end_items()
        self.orders: list[_Entity] = []
        self.demands: list[_Entity] = []
        self.po_lines: list[_Entity] = []
        self.revisions: Counter[tuple[str, str]] = Counter()

    # ------------------------------------------------------------------ helpers

    def _envelope(self, source: str, key: str, plant: str, correlation: str | None = None) -> dict[str, Any]:
        self.index += 1
        self.seq[key] += 1
        return {
            "event_id": f"{source.lower()}-{self.index:08d}",
            "source": source,
            "source_seq": self.seq[key],
            "event_time": EPOCH + timedelta(milliseconds=self.index),
            "plant": plant,
            "correlation_id": correlation,
        }

    def _day(self, lo: int, hi: int) -> date:
        return self.spec.today + timedelta(days=self.rng.randint(lo, hi))

    # ------------------------------------------------------------- master data

    def master_data(self) -> Iterator[Event]:
        rng = self.rng
        for plant in self.layout.plants:
            for item in self.layout.items:
                make = item in self.layout.bom
                rule = rng.choices(("LOT_FOR_LOT", "FIXED_QTY", "MIN_QTY"), (6, 2, 2))[0]
                yield ItemPlanningParams(
                    **self._envelope("ERP", f"params|{plant}|{item}", plant),
                    item=item,
                    make_or_buy="MAKE" if make else "BUY",
                    lead_time_days=rng.randint(1, 10) if make else rng.randint(3, 21),
                    safety_stock=float(rng.choice((0, 0, 5, 10, 20))),
                    lot_size_rule=rule,
                    lot_size_qty=50.0 if rule != "LOT_FOR_LOT" else 0.0,
                    lot_size_multiple=10.0 if rule == "MIN_QTY" else None,
                    preferred_supplier=None if make else f"S{rng.randint(1, 50):03d}",
                )
            for parent, lines in self.layout.bom.items():
                yield self._revision(plant, parent, "A", lines, self.spec.today - timedelta(days=365), None)

    def _revision(
        self,
        plant: str,
        parent: str,
        revision: str,
        lines: list[tuple[str, float, float]],
        effective_from: date,
        eco: str | None,
    ) -> BomRevisionReleased:
        key = f"bom|{plant}|{parent}+{revision}"
        return BomRevisionReleased(
            **self._envelope("PLM", key, plant, eco),
            parent_item=parent,
            revision=revision,
            effective_from=effective_from,
            eco_number=eco,
            change_reason_code="ECO" if eco else "INITIAL",
            lines=tuple(BomLine(component=c, qty_per=q, scrap_pct=s) for c, q, s in lines),
        )

    # ------------------------------------------------------------------ stream

    def movement(self) -> InventoryMovement:
        rng = self.rng
        plant = rng.choice(self.layout.plants)
        item = rng.choice(self.layout.items)
        kind = rng.choices([m for m, _ in MOVEMENT_TYPES], [w for _, w in MOVEMENT_TYPES])[0]
        if kind == "ADJUSTMENT":
            qty = float(rng.choice((-1, 1)) * rng.randint(1, 10))
        elif kind in ("RECEIPT", "TRANSFER_IN", "RECEIVE_IN_TRANSIT"):
            qty = float(rng.randint(5, 100))
        else:
            qty = float(rng.randint(1, 40))
        reference = None
        if kind == "ISSUE" and self.orders and rng.random() < 0.2:
            reference = rng.choice(self.orders).fields["order_id"]
        return InventoryMovement(
            **self._envelope("WMS", f"mv|{plant}|{item}", plant),
            item=item,
            movement_type=kind,
            qty=qty,
            reference=reference,
        )

    def production_order(self) -> ProductionOrderChanged:
        rng = self.rng
        if not self.orders or rng.random() < 1 / VERSIONS_PER_ENTITY:
            plant = rng.choice(self.layout.plants)
            item = rng.choice(self.make)
            start = self._day(-5, 40)
            entity = _Entity(
                plant,
                item,
                fields={
                    "order_id": f"MO{len(self.orders) + 1:07d}-{plant}",
                    "qty": float(rng.randint(10, 100)),
                    "qty_completed": 0.0,
                    "start_date": start,
                    "due_date": start + timedelta(days=rng.randint(1, 10)),
                    "status": rng.choice(("PLANNED", "RELEASED")),
                },
            )
            self.orders.append(entity)
        else:
            entity = rng.choice(self.orders)
            f = entity.fields
            if f["status"] in ("PLANNED", "RELEASED"):
                f["status"] = "RELEASED"
                f["qty_completed"] = min(f["qty"], f["qty_completed"] + float(rng.randint(0, 30)))
                if f["qty_completed"] >= f["qty"] or rng.random() < 0.05:
                    f["status"] = "COMPLETED"
                elif rng.random() < 0.3:
                    shift = timedelta(days=rng.randint(-3, 3))
                    f["start_date"] += shift
                    f["due_date"] += shift
        entity.versions += 1
        return ProductionOrderChanged(
            **self._envelope("ERP", f"mo|{entity.fields['order_id']}", entity.plant),
            item=entity.item,
            **entity.fields,
        )

    def demand(self) -> DemandChanged:
        rng = self.rng
        if not self.demands or rng.random() < 1 / VERSIONS_PER_ENTITY:
            plant = rng.choice(self.layout.plants)
            item = rng.choice(self.ends) if rng.random() < 0.8 else rng.choice(self.buy)
            entity = _Entity(
                plant,
                item,
                fields={
                    "demand_id": f"SO{len(self.demands) + 1:07d}-{plant}",
                    "qty": float(rng.randint(5, 60)),
                    "due_date": self._day(0, 60),
                    "status": "OPEN",
                },
            )
            self.demands.append(entity)
        else:
            entity = rng.choice(self.demands)
            f = entity.fields
            if f["status"] == "OPEN":
                roll = rng.random()
                if roll < 0.15:
                    f["status"] = rng.choice(("CLOSED", "CANCELLED"))
                elif roll < 0.6:
                    f["qty"] = float(max(1, f["qty"] + rng.randint(-10, 10)))
                else:
                    f["due_date"] += timedelta(days=rng.randint(-5, 5))
        entity.versions += 1
        return DemandChanged(
            **self._envelope("ERP", f"so|{entity.fields['demand_id']}", entity.plant),
            item=entity.item,
            **entity.fields,
        )

    def purchase_order(self) -> PurchaseOrderChanged:
        rng = self.rng
        if not self.po_lines or rng.random() < 1 / VERSIONS_PER_ENTITY:
            plant = rng.choice(self.layout.plants)
            n = len(self.po_lines) + 1
            entity = _Entity(
                plant,
                rng.choice(self.buy),
                fields={
                    "po_id": f"PO{(n + 2) // 3:07d}-{plant}",
                    "line": n % 3 + 1,
                    "supplier": f"S{rng.randint(1, 50):03d}",
                    "qty_ordered": float(rng.randint(10, 500)),
                    "need_date": self._day(0, 60),
                    "status": "OPEN",
                },
            )
            self.po_lines.append(entity)
        else:
            entity = rng.choice(self.po_lines)
            f = entity.fields
            if f["status"] == "OPEN":
                roll = rng.random()
                if roll < 0.1:
                    f["status"] = rng.choice(("CANCELLED", "CLOSED"))
                elif roll < 0.6:
                    f["qty_ordered"] = float(max(10, f["qty_ordered"] + rng.randint(-50, 50)))
                else:
                    f["need_date"] += timedelta(days=rng.randint(-7, 7))
        entity.versions += 1
        f = entity.fields
        return PurchaseOrderChanged(
            **self._envelope("ERP", f"po|{f['po_id']}/{f['line']}", entity.plant, f["po_id"]),
            item=entity.item,
            **f,
        )

    def confirmation(self) -> SupplierConfirmation:
        rng = self.rng
        if not self.po_lines:
            self.purchase_order()
        line = rng.choice(self.po_lines)
        f = line.fields
        status = rng.choices(("ACCEPTED", "PARTIAL", "RESCHEDULED", "REJECTED"), (5, 2, 2, 1))[0]
        schedule: tuple[ScheduleLine, ...] = ()
        if status == "ACCEPTED":
            schedule = (ScheduleLine(qty=f["qty_ordered"], date=f["need_date"]),)
        elif status in ("PARTIAL", "RESCHEDULED"):
            part = float(max(1, int(f["qty_ordered"] * rng.uniform(0.3, 0.9))))
            schedule = (ScheduleLine(qty=part, date=f["need_date"] + timedelta(days=rng.randint(-3, 10))),)
            if status == "RESCHEDULED":
                schedule += (
                    ScheduleLine(
                        qty=f["qty_ordered"] - part, date=f["need_date"] + timedelta(days=rng.randint(5, 20))
                    ),
                )
        return SupplierConfirmation(
            **self._envelope("SUPPLIER", f"conf|{f['po_id']}/{f['line']}", line.plant, f["po_id"]),
            po_id=f["po_id"],
            line=f["line"],
            item=line.item,
            status=status,
            schedule=schedule,
        )

    def goods_receipt(self) -> GoodsReceipt:
        rng = self.rng
        if not self.po_lines:
            self.purchase_order()
        line = rng.choice(self.po_lines)
        f = line.fields
        return GoodsReceipt(
            **self._envelope("ERP", f"gr|{f['po_id']}/{f['line']}", line.plant, f["po_id"]),
            po_id=f["po_id"],
            line=f["line"],
            item=line.item,
            qty=float(rng.randint(1, 50)),
            to_quality_hold=rng.random() < 0.1,
        )

    def engineering_change(self) -> BomRevisionReleased:
        rng = self.rng
        plant = rng.choice(self.layout.plants)
        parent = rng.choice(self.make)
        self.revisions[(plant, parent)] += 1
        revision = chr(ord("A") + self.revisions[(plant, parent)] % 26) + str(self.revisions[(plant, parent)])
        lines = list(self.layout.bom[parent])
        k = rng.randrange(len(lines))
        comp, qty, scrap = lines[k]
        lines[k] = (comp, qty + 1.0, scrap)
        return self._revision(plant, parent, revision, lines, self._day(1, 30), f"ECO-{self.index + 1:07d}")

    # -------------------------------------------------------------------- all

    def events(self) -> Iterator[Event]:
        spec, rng = self.spec, self.rng
        emitted = 0
        for event in self.master_data():
            yield event
            emitted += 1
        remaining = spec.events - emitted
        if remaining <= 0:
            return
        movement_total = int(spec.events * spec.movement_share)
        p_move = movement_total / remaining
        makers = {
            "ProductionOrderChanged": self.production_order,
            "DemandChanged": self.demand,
            "PurchaseOrderChanged": self.purchase_order,
            "SupplierConfirmation": self.confirmation,
            "GoodsReceipt": self.goods_receipt,
            "BomRevisionReleased": self.engineering_change,
        }
        names = [n for n, _ in OTHER_WEIGHTS]
        weights = [w for _, w in OTHER_WEIGHTS]
        while emitted < spec.events:
            if rng.random() < p_move:
                event: Event = self.movement()
            else:
                event = makers[rng.choices(names, weights)[0]]()
            yield event
            emitted += 1
            if emitted < spec.events and rng.random() < spec.duplicate_share:
                yield event  # a producer retry: same event id, same sequence number
                emitted += 1


def generate(spec: Spec) -> Iterator[Event]:
    """The benchmark events for `spec` (see the module docstring)."""
    return Generator(spec).events()


PARTITIONS = 4
"""Partitions per topic of `produce`."""


def create_topics(bootstrap: str, registry: str, prefix: str, partitions: int = PARTITIONS) -> None:
    """`mfgsync topics create` under `prefix` (also registers every schema)."""
    env = service_env(bootstrap, registry, prefix)
    done = subprocess.run(
        [sys.executable, "-m", "mfgsync.flows.cli", "topics", "create", "--partitions", str(partitions)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"topics create failed: {done.stderr[-2000:]}")


def produce(spec: Spec, bootstrap: str, registry: str, prefix: str) -> dict[str, Any]:
    """Create the topic set under `prefix` and publish `generate(spec)` to it; return counts and timings."""
    from mfgsync.connectors.kafka import Message, produce_all
    from mfgsync.connectors.serde import Serde
    from mfgsync.flows.settings import Settings

    create_topics(bootstrap, registry, prefix, PARTITIONS)
    settings = Settings(kafka_bootstrap=bootstrap, schema_registry_url=registry, topic_prefix=prefix)
    serde = Serde(settings)
    by_type: Counter[str] = Counter()
    event_ids: set[str] = set()
    duplicates = 0

    def messages() -> Iterator[Message]:
        nonlocal duplicates
        for event in generate(spec):
            name = type(event).__name__
            by_type[name] += 1
            if event.event_id in event_ids:
                duplicates += 1
            else:
                event_ids.add(event.event_id)
            topic = settings.topic(event.TOPIC)
            partition = record_partition(event, PARTITIONS)
            yield Message(topic, record_key(event), serde.encode(topic, event), partition)

    started = time.perf_counter()
    count = produce_all({**settings.librdkafka(), "linger.ms": "50", "batch.size": "1000000"}, messages())
    elapsed = time.perf_counter() - started
    return {
        "events": count,
        "by_type": dict(sorted(by_type.items())),
        "duplicates": duplicates,
        "distinct_event_ids": len(event_ids),
        "keys": spec.keys,
        "plants": spec.plants,
        "generate_encode_produce_s": round(elapsed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20, help="events to print")
    parser.add_argument("--events", type=int, default=QUICK.events)
    args = parser.parse_args()
    spec = Spec(events=args.events, keys=QUICK.keys)
    for n, event in enumerate(generate(spec)):
        if n >= args.count:
            break
        print(type(event).__name__, event.model_dump_json())


if __name__ == "__main__":
    main()
