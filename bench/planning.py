"""Planning scale: `mfgsync.operators.planner.PlantPlanner` on a generated plant, in pure Python (no Kafka).

The plant: `items` items over `levels` BOM levels (more items deeper down: shares 1:2:3:4:5:5
for six levels), `lines` BOM lines spread over the parents (levels 0..n-2; a component from
the next level 70% of the time, else from any deeper level; 1% phantom lines on MAKE
components), planning parameters for every item, an opening stock position for every item
(through `mfgsync.operators.inventory.InventoryPosition`), and `orders` open orders: 35% production
orders (MAKE items), 35% PO lines (BUY items, half of them supplier-confirmed), 30% demands
(mostly end items).

Measured:
- full rebuild: `plan_all(today)` on the loaded plant (the first, which publishes every
  record, and a second one on unchanged inputs);
- incremental re-plan per stock movement: an `InventoryMovement` applied to the item's
  `InventoryPosition`, its `PositionChanged` fact given to `apply`, then `plan(today)`;
  the time of `apply` + `plan` per event, median and p99 (and the inventory step apart);
- incremental re-plan per BOM revision high in the tree: a new revision (effective today,
  one line's quantity changed, with an ECO number) of a level-0 or level-1 parent, `apply` +
  `plan`;
- memory: pickle sizes of the per-key ingest state of an item@plant (the `IngestGuard` of its
  movement key and its `InventoryPosition`, as the dataflow snapshots them) after the number
  of movements per key of the throughput data (80) and after enough to fill the inventory
  history (1,100); the planner pickle per item; and tracemalloc of both.

Run alone: `python -m bench.planning [--items 10000 --lines 50000 --levels 6 --orders 20000]`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import os
import pickle
import random
import statistics
import sys
import time
import tracemalloc
from datetime import date, timedelta
from typing import Any

from bench.common import EPOCH, TODAY, emit_result, percentile
from bench.reference import reference_plan
from mfgsync.flows.dataflow import SnapshotPacker
from mfgsync.flows.gc_tuning import planning_pass, tune_gc
from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.guard import IngestGuard
from mfgsync.operators.inventory import InventoryPosition, PositionChanged
from mfgsync.operators.planner import PlannerConfig, PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.schemas.events import (
    BomLine,
    BomRevisionReleased,
    DemandChanged,
    Event,
    InventoryMovement,
    ItemPlanningParams,
    ProductionOrderChanged,
    PurchaseOrderChanged,
    ScheduleLine,
    SupplierConfirmation,
)
from mfgsync.schemas.vocabulary import INVENTORY_MOVEMENTS, item_key

PLANT = "P01"


def _log(message: str) -> None:
    print(f"[planning {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _rss() -> int:
    """Resident set size of this process, bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Plant:
    """A generated plant: its master data and open orders as events."""

    def __init__(self, items: int, lines: int, levels: int, orders: int, seed: int = 11) -> None:
        rng = self.rng = random.Random(seed)
        self.n = 0
        weights = [min(k + 1, levels - 1) for k in range(levels)]
        total_w = sum(weights)
        counts = [max(1, items * w // total_w) for w in weights]
        counts[-1] += items - sum(counts)
        self.by_level: list[list[str]] = []
        self.level: dict[str, int] = {}
        k = 0
        for lv, count in enumerate(counts):
            names = [f"M{lv}-{i:06d}" for i in range(k, k + count)]
            k += count
            self.by_level.append(names)
            for name in names:
                self.level[name] = lv
        self.items = [i for level in self.by_level for i in level]
        parents = [i for lv in range(levels - 1) for i in self.by_level[lv]]
        self.bom: dict[str, list[tuple[str, float, float, bool]]] = {p: [] for p in parents}
        placed = 0
        attempts = 0
        while placed < lines and attempts < lines * 20:
            attempts += 1
            parent = parents[placed % len(parents)] if placed < len(parents) else rng.choice(parents)
            lv = self.level[parent]
            target = lv + 1 if rng.random() < 0.7 else rng.randint(lv + 1, levels - 1)
            comp = rng.choice(self.by_level[target])
            if any(c == comp for c, *_ in self.bom[parent]):
                continue
            phantom = target < levels - 1 and rng.random() < 0.01
            self.bom[parent].append((comp, float(rng.randint(1, 4)), rng.choice((0.0, 0.0, 2.0)), phantom))
            placed += 1
        self.lines = placed
        self.make = [p for p, ls in self.bom.items() if ls]
        self.buy = [i for i in self.items if i not in self.bom or not self.bom[i]]
        self.orders = orders

    def _env(self, source: str, seq: int = 1, correlation: str | None = None) -> dict[str, Any]:
        self.n += 1
        return {
            "event_id": f"plan-{self.n:08d}",
            "source": source,
            "source_seq": seq,
            "event_time": EPOCH + timedelta(milliseconds=self.n),
            "plant": PLANT,
            "correlation_id": correlation,
        }

    def revision(
        self, parent: str, rev: str, day: date, eco: str | None, bump: int = -1
    ) -> BomRevisionReleased:
        lines = list(self.bom[parent])
        if 0 <= bump < len(lines):
            comp, qty, scrap, phantom = lines[bump]
            lines[bump] = (comp, qty + 1.0, scrap, phantom)
        return BomRevisionReleased(
            **self._env("PLM", correlation=eco),
            parent_item=parent,
            revision=rev,
            effective_from=day,
            eco_number=eco,
            lines=tuple(BomLine(component=c, qty_per=q, scrap_pct=s, phantom=ph) for c, q, s, ph in lines),
        )

    def master_and_orders(self) -> list[Event]:
        rng = self.rng
        out: list[Event] = []
        for item in self.items:
            make = bool(self.bom.get(item))
            out.append(
                ItemPlanningParams(
                    **self._env("ERP"),
                    item=item,
                    make_or_buy="MAKE" if make else "BUY",
                    lead_time_days=rng.randint(1, 5) if make else rng.randint(3, 15),
                    safety_stock=float(rng.choice((0, 0, 5, 10))),
                    lot_size_rule=rng.choice(("LOT_FOR_LOT", "LOT_FOR_LOT", "MIN_QTY")),
                    lot_size_qty=20.0,
                    preferred_supplier=None if make else f"S{rng.randint(1, 50):03d}",
                )
            )
        for parent in self.make:
            out.append(self.revision(parent, "A", TODAY - timedelta(days=365), None))
        n_prod = int(self.orders * 0.35)
        n_po = int(self.orders * 0.35)
        n_dem = self.orders - n_prod - n_po
        for k in range(n_prod):
            start = TODAY + timedelta(days=rng.randint(-3, 45))
            out.append(
                ProductionOrderChanged(
                    **self._env("ERP"),
                    order_id=f"MO{k:07d}",
                    item=rng.choice(self.make),
                    qty=float(rng.randint(10, 80)),
                    start_date=start,
                    due_date=start + timedelta(days=rng.randint(1, 7)),
                    status=rng.choice(("PLANNED", "RELEASED")),
                )
            )
        for k in range(n_po):
            need = TODAY + timedelta(days=rng.randint(0, 60))
            qty = float(rng.randint(20, 400))
            out.append(
                PurchaseOrderChanged(
                    **self._env("ERP"),
                    po_id=f"PO{k // 3:07d}",
                    line=k % 3 + 1,
                    item=rng.choice(self.buy),
                    supplier=f"S{rng.randint(1, 50):03d}",
                    qty_ordered=qty,
                    need_date=need,
                    status="OPEN",
                )
            )
            if k % 2 == 0:
                out.append(
                    SupplierConfirmation(
                        **self._env("SUPPLIER"),
                        po_id=f"PO{k // 3:07d}",
                        line=k % 3 + 1,
                        item=out[-1].item,  # type: ignore[attr-defined]
                        status="ACCEPTED",
                        schedule=(ScheduleLine(qty=qty, date=need + timedelta(days=rng.randint(-2, 5))),),
                    )
                )
        ends = self.by_level[0]
        for k in range(n_dem):
            out.append(
                DemandChanged(
                    **self._env("ERP"),
                    demand_id=f"SO{k:07d}",
                    item=rng.choice(ends) if rng.random() < 0.8 else rng.choice(self.items),
                    qty=float(rng.randint(5, 50)),
                    due_date=TODAY + timedelta(days=rng.randint(0, 60)),
                    status="OPEN",
                )
            )
        return out

    def load(self, planner: PlantPlanner, events: list[Event]) -> dict[str, InventoryPosition]:
        """Apply `events` (from `master_and_orders`) and an opening receipt of every item to
        `planner`; return the items' stock positions, for movements to come."""
        for event in events:
            planner.apply(event)
        positions: dict[str, InventoryPosition] = {}
        for item in self.items:
            position = positions[item] = InventoryPosition(plant=PLANT, item=item)
            move = self.movement(item, 1, "RECEIPT")
            position.apply_movement(move)
            planner.apply(PositionChanged(PLANT, item, position.position(), move.event_id))
        return positions

    def movement(self, item: str, seq: int, kind: str | None = None) -> InventoryMovement:
        rng = self.rng
        kind = kind or rng.choice(("RECEIPT", "ISSUE", "ISSUE"))
        return InventoryMovement(
            **self._env("WMS", seq=seq),
            item=item,
            movement_type=kind,
            qty=float(rng.randint(1, 30) if kind != "RECEIPT" else rng.randint(20, 200)),
        )


def _stats_ms(samples: list[float]) -> dict[str, float | None]:
    ordered = sorted(s * 1000 for s in samples)
    return {
        "n": len(ordered),
        "median_ms": round(statistics.median(ordered), 3) if ordered else None,
        "p99_ms": round(percentile(ordered, 0.99) or 0.0, 3),
        "max_ms": round(ordered[-1], 3) if ordered else None,
        "mean_ms": round(statistics.fmean(ordered), 3) if ordered else None,
    }


def key_state(movements: int, seed: int = 3) -> dict[str, Any]:
    """Pickle size of one item@plant's guard + inventory state after `movements` movements."""
    plant = Plant(10, 5, 2, 0, seed=seed)
    item = plant.items[0]
    guard = IngestGuard.for_key(
        f"{INVENTORY_MOVEMENTS}|WMS|{PLANT}|{item_key(item, PLANT)}",
        DedupWindow(),
        Sequencer(key=""),
    )
    position = InventoryPosition(plant=PLANT, item=item)
    now = time.time()
    for seq in range(1, movements + 1):
        event = plant.movement(item, seq)
        guard.offer(event, now)
        position.apply_movement(event)
    guard_bytes = len(pickle.dumps(guard, protocol=pickle.HIGHEST_PROTOCOL))
    inventory_bytes = len(pickle.dumps((position, []), protocol=pickle.HIGHEST_PROTOCOL))
    return {
        "movements": movements,
        "guard_pickle_bytes": guard_bytes,
        "inventory_pickle_bytes": inventory_bytes,
        "total_pickle_bytes": guard_bytes + inventory_bytes,
        "dedup_ids": len(guard.dedup.seen),
        "inventory_history": len(position.history),
    }


def key_state_tracemalloc(keys: int, movements: int) -> dict[str, Any]:
    """tracemalloc bytes retained by `keys` guard + inventory states after `movements` each."""
    plant = Plant(10, 5, 2, 0, seed=5)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    states = []
    now = time.time()
    for k in range(keys):
        item = f"K{k:06d}"
        guard = IngestGuard.for_key(
            f"{INVENTORY_MOVEMENTS}|WMS|{PLANT}|{item_key(item, PLANT)}", DedupWindow(), Sequencer(key="")
        )
        position = InventoryPosition(plant=PLANT, item=item)
        for seq in range(1, movements + 1):
            event = plant.movement(item, seq)
            guard.offer(event, now)
            position.apply_movement(event)
        states.append((guard, position))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"keys": keys, "movements": movements, "bytes_per_key": round((after - before) / keys)}


def reference_check(
    planner: PlantPlanner, plant: Plant, events: list[Event], rebuild_cpu_s: float
) -> dict[str, Any]:
    """Time the lean reference pass (`bench.reference`) on the same plant and compare answers.

    Same planned orders means: per item, the same number of planned orders and the same
    total quantity (to 1e-6) as the planner's plan after its full rebuild. The ratio is of
    CPU times (best of three for the reference), which the machine's other load moves less.
    """
    available = {item: pos.available for item, pos in planner.positions.items()}
    best = best_cpu = math.inf
    for _ in range(3):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        ref = reference_plan(events, available, plant.by_level, TODAY)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    mine = {
        item: (len(plan.planned_orders), sum(o.qty for o in plan.planned_orders))
        for item, plan in planner.plans.items()
    }
    differ = sorted(
        item
        for item in mine.keys() | ref.keys()
        if mine.get(item, (0, 0.0))[0] != ref.get(item, (0, 0.0))[0]
        or abs(mine.get(item, (0, 0.0))[1] - ref.get(item, (0, 0.0))[1]) > 1e-6
    )
    return {
        "reference_s": round(best, 3),
        "reference_cpu_s": round(best_cpu, 3),
        "planner_over_reference": round(rebuild_cpu_s / best_cpu, 2),
        "planned_orders": sum(n for n, _ in mine.values()),
        "planned_qty": round(sum(q for _, q in mine.values()), 3),
        "reference_planned_orders": sum(n for n, _ in ref.values()),
        "reference_planned_qty": round(sum(q for _, q in ref.values()), 3),
        "items_differing": len(differ),
        "first_differing": differ[:5],
    }


def run(
    items: int,
    lines: int,
    levels: int,
    orders: int,
    movements: int,
    revisions: int,
    budget_s: float,
    bucket: str = "day",
    service_gc: bool = True,
) -> dict[str, Any]:
    result: dict[str, Any] = {"bucket": bucket, "gc_thresholds": gc.get_threshold(), "gc": service_gc}

    # Each pass runs under the service's collector policy for its size (`planning_pass`).
    def pause(items: int) -> contextlib.AbstractContextManager[None]:
        return planning_pass(items) if service_gc else contextlib.nullcontext()

    plant = Plant(items, lines, levels, orders)
    events = plant.master_and_orders()
    result["plant"] = {
        "items": len(plant.items),
        "bom_lines": plant.lines,
        "levels": levels,
        "make_items": len(plant.make),
        "open_orders": orders,
        "events": len(events),
    }
    gc.collect()
    rss_before = _rss()
    planner = PlantPlanner(plant=PLANT, config=PlannerConfig(bucket=bucket))  # type: ignore[arg-type]
    started = time.perf_counter()
    positions = plant.load(planner, events)
    result["load_s"] = round(time.perf_counter() - started, 3)
    _log(f"loaded {len(events)} events in {result['load_s']} s; plan_all ...")
    t0, c0 = time.perf_counter(), time.process_time()
    with pause(len(plant.items)):
        records = planner.plan_all(TODAY)
    result["full_rebuild_s"] = round(time.perf_counter() - t0, 3)
    # CPU time too: on a shared machine it moves less with the others' load than wall time.
    result["full_rebuild_cpu_s"] = round(time.process_time() - c0, 3)
    result["full_rebuild_records"] = len(records)
    del records
    gc.collect()
    result["planner_rss_bytes_per_item"] = round((_rss() - rss_before) / len(plant.items))
    _log(f"plan_all {result['full_rebuild_s']} s, {result['full_rebuild_records']} records")
    result["reference"] = reference_check(planner, plant, events, result["full_rebuild_cpu_s"])
    _log(f"reference pass: {result['reference']}")
    t0, c0 = time.perf_counter(), time.process_time()
    with pause(len(plant.items)):
        again = planner.plan_all(TODAY)
    result["full_rebuild_again_s"] = round(time.perf_counter() - t0, 3)
    result["full_rebuild_again_cpu_s"] = round(time.process_time() - c0, 3)
    result["full_rebuild_again_records"] = len(again)
    result["llc_max"] = max(planner.bom.low_level_codes().values(), default=0)
    _log(f"plan_all again {result['full_rebuild_again_s']} s; stock movements ...")

    # Incremental: stock movements on random items.
    rng = random.Random(99)
    plan_times: list[float] = []
    plan_cpu: list[float] = []
    inv_times: list[float] = []
    outputs = 0
    seqs = dict.fromkeys(plant.items, 1)
    until = time.perf_counter() + budget_s
    for _ in range(movements):
        if time.perf_counter() > until:
            break
        item = rng.choice(plant.items)
        seqs[item] += 1
        move = plant.movement(item, seqs[item])
        t0 = time.perf_counter()
        pos = positions[item]
        pos.apply_movement(move)
        fact = PositionChanged(PLANT, item, pos.position(), move.event_id)
        t1, c1 = time.perf_counter(), time.process_time()
        planner.apply(fact)
        with pause(planner.items_to_net(TODAY)):
            outputs += len(planner.plan(TODAY))
        t2 = time.perf_counter()
        plan_cpu.append(time.process_time() - c1)
        inv_times.append(t1 - t0)
        plan_times.append(t2 - t1)
    result["stock_movement"] = {
        **_stats_ms(plan_times),
        "records_per_event": round(outputs / max(1, len(plan_times)), 2),
        "budget_s": budget_s,
    }
    result["stock_movement_cpu"] = _stats_ms(plan_cpu)
    result["stock_movement_inventory_step"] = _stats_ms(inv_times)
    _log(f"stock movements: {result['stock_movement']}")

    # Per level of the moved item (a MAKE item's change cascades to its components), deepest first.
    by_level: dict[int, list[float]] = {}
    by_level_cpu: dict[int, list[float]] = {}
    rng = random.Random(7)
    until = time.perf_counter() + budget_s / 2
    for lv, names in reversed(list(enumerate(plant.by_level))):
        for _ in range(min(10, len(names))):
            if time.perf_counter() > until and lv in by_level:
                break
            item = rng.choice(names)
            seqs[item] += 1
            move = plant.movement(item, seqs[item])
            positions[item].apply_movement(move)
            t1, c1 = time.perf_counter(), time.process_time()
            planner.apply(PositionChanged(PLANT, item, positions[item].position(), move.event_id))
            with pause(planner.items_to_net(TODAY)):
                planner.plan(TODAY)
            by_level.setdefault(lv, []).append(time.perf_counter() - t1)
            by_level_cpu.setdefault(lv, []).append(time.process_time() - c1)
    result["stock_movement_by_level_median_ms"] = {
        lv: round(statistics.median(ts) * 1000, 3) for lv, ts in sorted(by_level.items())
    }
    result["stock_movement_by_level_cpu_median_ms"] = {
        lv: round(statistics.median(ts) * 1000, 3) for lv, ts in sorted(by_level_cpu.items())
    }
    result["stock_movement_by_level_samples"] = {lv: len(ts) for lv, ts in sorted(by_level.items())}
    _log(f"by level: {result['stock_movement_by_level_median_ms']}")

    # Incremental: BOM revisions of parents high in the tree.
    bom_times: list[float] = []
    bom_cpu: list[float] = []
    bom_records = 0
    high = [p for p in plant.make if plant.level[p] <= 1]
    until = time.perf_counter() + budget_s / 2
    for k in range(revisions):
        if time.perf_counter() > until and bom_times:
            break
        parent = rng.choice(high)
        rev = plant.revision(parent, f"E{k:03d}", TODAY, f"ECO-{k:04d}", bump=0)
        t0, c0 = time.perf_counter(), time.process_time()
        planner.apply(rev)
        with pause(planner.items_to_net(TODAY)):
            bom_records += len(planner.plan(TODAY))
        bom_times.append(time.perf_counter() - t0)
        bom_cpu.append(time.process_time() - c0)
    result["bom_revision"] = {
        **_stats_ms(bom_times),
        "records_per_event": round(bom_records / max(1, len(bom_times)), 1),
    }
    result["bom_revision_cpu"] = _stats_ms(bom_cpu)
    t0 = time.perf_counter()
    planner.bom._derived = None
    planner.bom.low_level_codes()
    result["bom_graph_rebuild_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    _log(f"bom revisions: {result['bom_revision']}")

    # Memory: the planner as a snapshot of the plant stores it (`SnapshotPacker`: in parts,
    # without what can be rebuilt on restore), per item; and pickled whole, as before.
    planner_bytes = len(pickle.dumps(SnapshotPacker().pack(planner), protocol=pickle.HIGHEST_PROTOCOL))
    result["planner_pickle_bytes"] = planner_bytes
    result["planner_pickle_bytes_per_item"] = round(planner_bytes / len(plant.items))
    whole = len(pickle.dumps(planner, protocol=pickle.HIGHEST_PROTOCOL))
    result["planner_whole_pickle_bytes_per_item"] = round(whole / len(plant.items))
    result["planner_plans"] = {
        "planned_orders": sum(len(p.planned_orders) for p in planner.plans.values()),
        "published_triggers": len(planner.triggers.current()),
        "published_shortages": len(planner.shortages.current()),
    }
    del planner, positions, events
    gc.collect()
    result["key_state"] = [key_state(80), key_state(1_100)]
    result["key_state_tracemalloc"] = [key_state_tracemalloc(500, 80), key_state_tracemalloc(100, 1_100)]
    per_key_80 = result["key_state"][0]["total_pickle_bytes"]
    result["state_per_item_at_plant_bytes"] = per_key_80 + result["planner_pickle_bytes_per_item"]
    result["state_per_item_at_plant_bytes_saturated"] = (
        result["key_state"][1]["total_pickle_bytes"] + result["planner_pickle_bytes_per_item"]
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--levels", type=int, default=6)
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--movements", type=int, default=2_000)
    parser.add_argument("--revisions", type=int, default=20)
    parser.add_argument(
        "--budget",
        type=float,
        default=300,
        help="seconds for the movement loop (half as much per other loop)",
    )
    parser.add_argument(
        "--bucket", choices=("day", "week"), default="day", help="planning buckets (service default: day)"
    )
    parser.add_argument(
        "--gc",
        choices=("service", "default"),
        default="service",
        help="garbage-collector settings: the service's (mfgsync.flows.gc_tuning) or CPython's defaults",
    )
    args = parser.parse_args()
    if args.gc == "service":
        tune_gc()
    emit_result(
        run(
            args.items,
            args.lines,
            args.levels,
            args.orders,
            args.movements,
            args.revisions,
            args.budget,
            args.bucket,
            args.gc == "service",
        )
    )


if __name__ == "__main__":
    main()
