"""What a parent asks of its components is left out of a snapshot and rebuilt on restore."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import timedelta

import pytest

from bench.common import TODAY
from bench.planning import PLANT, Plant
from mfgsync.flows.dataflow import SnapshotPacker
from mfgsync.operators.inventory import ComponentIssued
from mfgsync.operators.planner import PlannerConfig, PlantPlanner
from mfgsync.schemas.events import ItemPlanningParams, ProductionOrderChanged


def _plant() -> tuple[Plant, PlantPlanner]:
    plant = Plant(240, 1200, 5, 480, seed=3)
    planner = PlantPlanner(plant=PLANT, config=PlannerConfig())
    plant.load(planner, plant.master_and_orders())
    planner.plan_all(TODAY)
    return plant, planner


def _restored(planner: PlantPlanner) -> PlantPlanner:
    return pickle.loads(pickle.dumps(SnapshotPacker().pack(planner))).restore()


def test_a_snapshot_holds_no_contributions_and_the_restored_planner_has_them_all() -> None:
    _, planner = _plant()
    snapshot = SnapshotPacker().pack(planner)
    assert pickle.loads(snapshot.planner).contributions == {}
    restored = _restored(planner)
    assert restored.contributions == planner.contributions
    assert restored.contributors == planner.contributors
    assert restored.dirty == set()
    assert restored.plan(TODAY) == []


def _order_of(plant: Plant, planner: PlantPlanner) -> ProductionOrderChanged:
    """An open production order of a parent whose components are asked something."""
    return next(
        o
        for o in sorted(planner.production_orders.values(), key=lambda o: o.order_id)
        if o.status in ("PLANNED", "RELEASED") and planner.contributions.get(o.item)
    )


def _resized(plant: Plant, planner: PlantPlanner) -> ProductionOrderChanged:
    order = _order_of(plant, planner)
    return order.model_copy(update={"qty": order.qty + 17.0, "event_id": "resized"})


def _issued(plant: Plant, planner: PlantPlanner) -> ComponentIssued:
    order = _order_of(plant, planner)
    component = next(iter(planner.contributions[order.item]))
    return ComponentIssued(PLANT, component, order.order_id, 3.0, "issued")


def _bought(plant: Plant, planner: PlantPlanner) -> ItemPlanningParams:
    # A parent without open orders that becomes BUY asks nothing of its components any more.
    parent = next(
        p
        for p in sorted(planner.contributions)
        if not any(o.item == p for o in planner.production_orders.values()) and p in planner.params
    )
    return planner.params[parent].model_copy(update={"make_or_buy": "BUY", "event_id": "bought"})


def _revised(plant: Plant, planner: PlantPlanner) -> object:
    return plant.revision(plant.by_level[1][0], "R9", TODAY, "ECO-9", bump=0)


@pytest.mark.parametrize(
    "fact",
    [_resized, _issued, _bought, _revised],
    ids=["order resized", "issue", "parent bought", "bom revision"],
)
def test_a_snapshot_between_a_fact_and_its_pass_restores_to_the_same_plans(
    fact: Callable[[Plant, PlantPlanner], object],
) -> None:
    # The parent's contribution in the snapshot's planner predates the fact; the restored
    # one is rebuilt after it. The next pass must still re-net what the fact changed.
    plant, planner = _plant()
    planner.apply(fact(plant, planner))  # type: ignore[arg-type]
    restored = _restored(planner)
    assert restored.plan(TODAY) == planner.plan(TODAY)
    assert restored.plans == planner.plans
    assert restored.contributions == planner.contributions
    later = TODAY + timedelta(days=1)
    assert restored.plan(later) == planner.plan(later)
