"""Crash-consistent recovery against a real broker (SPEC 8), driven from outside like an operator.

`bench.storm` runs the CLI: `mfgsync topics create`, `mfgsync produce`, `mfgsync run
--recovery-dir R --exit-at-end` SIGKILLed (process group) at random moments and restarted,
a last run to the end, and `mfgsync replay` of the same input. Every changelog must equal
the replay: not one lost, extra or conflicting record.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import sqlite3
from pathlib import Path

import pytest

from bench.storm import Storm, _Broker, run_storm
from mfgsync.connectors.recovery_store import (
    KEYS_FILE,
    create_store,
    discard_abandoned_snapshots,
    store_ready,
    stored_alignment,
)
from mfgsync.flows.dataflow import LazyPickles, SnapshotPacker
from mfgsync.flows.scenario import scenario_events
from mfgsync.operators.planner import PlanningFact, PlantPlanner
from mfgsync.schemas.events import EVENT_TYPES, InventoryMovement, InventorySnapshot
from mfgsync.schemas.outputs import OutputRecord
from tests.kafka_harness import TODAY
from tests.services import free_ports


def _assert_equal_to_replay(report: dict[str, object]) -> None:
    topics = report["topics"]
    assert isinstance(topics, dict)
    summary = {t: {k: d[k] for k in ("expected", "lost", "extra", "conflicting")} for t, d in topics.items()}
    differences = {t: d for t, d in summary.items() if d["lost"] or d["extra"] or d["conflicting"]}
    assert differences == {}, json.dumps(report, indent=1)[:6000]
    assert summary["procurement.triggers"]["expected"] > 1000  # there is something to lose
    assert report["counts_balance"], report["counts"]


@pytest.mark.kafka
def test_fifteen_sigkills_at_random_moments_on_a_busy_host_change_nothing(kafka, registry, tmp_path):
    storm = Storm(
        events=100_000,
        keys=400,
        seed=915,
        kills=15,
        min_life=0.5,
        max_life=5.0,
        early_share=0.3,
        window_share=0.5,  # half the others while an epoch commits: abandoned snapshots
        snapshot_interval_s=2,
        chunks=16,  # a part of the input per life: a quick host cannot finish before the kills
        busy=True,
    )
    report = run_storm(storm, kafka, registry, tmp_path)
    print(json.dumps(report))  # kills, lives, restart times, differences (shown with -s)
    assert report["kills"] >= 15, report["lives"]
    assert report["early_kills"] >= 2, report["lives"]
    assert report["commit_window_kills"] >= 2, report["lives"]
    # (`first_commit_kills` is reported, not asserted: on a loaded host a life may commit no
    # epoch before it is killed anyway.)
    _assert_equal_to_replay(report)
    restart = report["restart_to_first_output_s"]
    assert isinstance(restart, dict)
    assert restart["lives_with_output"] >= 8, report["lives"]  # kills landed mid-processing


@pytest.mark.kafka
def test_sigkills_of_one_plant_planned_in_groups_change_nothing(kafka, registry, tmp_path):
    # Each group of the plant restores its own snapshot and, on its first pass, adopts only
    # what its own items published (the plant's records are read back by every group).
    storm = Storm(
        events=40_000,
        keys=400,
        seed=1717,
        plants=1,
        families=4,
        groups=4,
        kills=6,
        min_life=0.5,
        max_life=4.0,
        snapshot_interval_s=2,
        chunks=8,
    )
    report = run_storm(storm, kafka, registry, tmp_path)
    print(json.dumps(report))
    assert report["kills"] >= 6, report["lives"]
    assert json.loads((tmp_path / "planning-groups.json").read_text()).keys() == {"P01"}
    _assert_equal_to_replay(report)


@pytest.mark.kafka
def test_a_broker_stopped_for_20_s_mid_run_changes_nothing(registry, tmp_path):
    port, controller = free_ports(2)
    broker = _Broker(tmp_path / "broker" / "kafka", port, controller)
    with contextlib.ExitStack() as stack:
        broker.start()
        stack.callback(broker.stop)
        storm = Storm(events=60_000, keys=1_000, seed=20, kills=0, broker_restart_s=6.0)
        report = run_storm(storm, f"127.0.0.1:{port}", registry, tmp_path / "work", broker)
    assert report["broker_restarted"]
    _assert_equal_to_replay(report)


# ------------------------------------------------------------- the store itself


def _snap(conn: sqlite3.Connection, key: str, epoch: int) -> None:
    sql = "INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES ('s', ?, ?, x'00')"
    conn.execute(sql, (key, epoch))


def test_snapshots_of_an_abandoned_execution_are_discarded_before_a_resume(tmp_path):
    store = tmp_path / "recovery"
    create_store(store, 2)
    assert store_ready(store)
    with contextlib.closing(sqlite3.connect(store / "part-0.sqlite3")) as conn, conn:
        # Execution 0 resumed at epoch 1 and got to epoch 5; it also wrote snapshots at 5 and 6
        # before it was killed. Those belong to no timeline a resume will continue.
        conn.execute("INSERT INTO exs (ex_num, worker_count, resume_epoch) VALUES (0, 1, 1)")
        conn.execute("INSERT INTO fronts (ex_num, worker_index, worker_frontier) VALUES (0, 0, 5)")
        for key, epoch in [("a", 2), ("a", 4), ("b", 5), ("c", 6)]:
            _snap(conn, key, epoch)
    repair = discard_abandoned_snapshots(store)
    assert (repair.resume_epoch, repair.discarded) == (5, 2)
    with contextlib.closing(sqlite3.connect(store / "part-0.sqlite3")) as conn:
        rows = conn.execute("SELECT state_key, snap_epoch FROM snaps ORDER BY 1, 2").fetchall()
    assert rows == [("a", 2), ("a", 4)]
    assert discard_abandoned_snapshots(store).discarded == 0  # idempotent


def test_a_store_without_durable_progress_resumes_from_nothing(tmp_path):
    store = tmp_path / "recovery"
    create_store(store, 1)
    with contextlib.closing(sqlite3.connect(store / "part-0.sqlite3")) as conn, conn:
        _snap(conn, "a", 1)  # written, but no frontier ever was: the next start begins at epoch 1
    assert discard_abandoned_snapshots(store).discarded == 1


def test_a_half_created_store_is_created_again(tmp_path: Path):
    store = tmp_path / "recovery"
    store.mkdir()
    (store / "part-0.sqlite3").write_bytes(b"")  # a kill during creation, before the atomic version
    assert not store_ready(store)
    create_store(store, 3, aligned_partitions=8)
    assert store_ready(store)
    assert sorted(p.name for p in store.iterdir()) == [f"part-{n}.sqlite3" for n in range(3)] + [KEYS_FILE]
    assert stored_alignment(store) == 8
    (store / KEYS_FILE).unlink()  # as a store made before alignment
    assert stored_alignment(store) == 0


# ------------------------------------------------------ the planner's snapshot


def _planned_planner() -> PlantPlanner:
    """DE01's planner after every planning fact of the demo and one plan."""
    planner = PlantPlanner(plant="DE01")
    for fact in _planning_facts():
        planner.apply(fact)
    planner.plan(TODAY)
    return planner


def _planning_facts() -> list[PlanningFact]:
    facts: list[PlanningFact] = []
    for data in scenario_events(TODAY):
        fields = dict(data)
        event = EVENT_TYPES[fields.pop("type")].model_validate(fields)
        if event.plant == "DE01" and not isinstance(event, InventoryMovement | InventorySnapshot):
            facts.append(event)
    return facts


def _latest(records: list[OutputRecord]) -> dict[tuple[str, str], OutputRecord]:
    return {(r.TOPIC, r.record_key()): r for r in records}


def test_a_planner_restored_from_its_snapshot_continues_like_the_one_that_was_never_stopped():
    facts = _planning_facts()
    first, rest = facts[: len(facts) // 2], facts[len(facts) // 2 :]
    planner = PlantPlanner(plant="DE01")
    for fact in first:
        planner.apply(fact)
    published = _latest(planner.plan(TODAY))
    assert published  # the first half already asks for something

    restored = pickle.loads(pickle.dumps(SnapshotPacker().pack(planner))).restore()
    assert restored.plans == planner.plans
    assert restored.triggers.emitted == planner.triggers.emitted
    assert restored.adopt(published.values()) == 0  # what it published it holds already
    assert restored.dirty == set()
    assert restored.plan(TODAY) == []  # nothing changed: nothing is emitted again

    for fact in rest:
        planner.apply(fact)
        restored.apply(fact)
    assert restored.plan(TODAY) == planner.plan(TODAY)
    assert _latest(restored.triggers.current()) == _latest(planner.triggers.current())


def test_a_record_published_after_the_snapshot_is_adopted_and_only_its_item_re_planned():
    planner = _planned_planner()
    snapshot = SnapshotPacker().pack(planner)
    trigger = planner.triggers.current()[0]
    later = trigger.model_copy(update={"qty": trigger.qty + 1, "state": "UPDATED"})

    restored = snapshot.restore()
    assert restored.adopt([later]) == 1
    assert restored.dirty == {trigger.item}
    corrected = restored.plan(TODAY)
    assert [(r.record_key(), r) for r in corrected] == [
        (trigger.record_key(), trigger.model_copy(update={"state": "UPDATED"}))
    ]


def test_a_snapshot_re_pickles_only_the_plans_and_scopes_that_changed():
    planner = _planned_planner()
    packer = SnapshotPacker()
    before = packer.pack(planner)
    item = planner.triggers.current()[0].item
    planner.dirty.add(item)
    planner.plan(TODAY)  # re-netted: a new plan object, the same records
    after = packer.pack(planner)
    assert after.restore().plans == planner.plans
    changed_plans = {i for i in after.plans if after.plans[i] is not before.plans.get(i)}
    assert changed_plans == {item}
    assert all(after.emitted[n][s] is before.emitted[n][s] for n in range(4) for s in after.emitted[n])


def test_a_restored_planner_unpickles_only_what_it_reads_and_snapshots_the_rest_as_it_was():
    planner = _planned_planner()
    snapshot = SnapshotPacker().pack(planner)
    restored = pickle.loads(pickle.dumps(snapshot)).restore()
    assert isinstance(restored.plans, LazyPickles)
    # Parents' plans are read to rebuild what they ask of their components; no other plan is.
    parents = {parent for parents in planner.contributors.values() for parent in parents}
    unread = {i for i in planner.plans if restored.plans.packed(i) is not None}
    assert unread == set(planner.plans) - parents and unread
    item = min(unread)
    assert restored.plans.get(item) == planner.plans[item]
    assert restored.plans.packed(item) is None  # unpickled once read

    again = SnapshotPacker().pack(restored)  # nothing else read: their bytes are the snapshot's
    assert {k: v for k, v in again.plans.items() if k != item} == {
        k: v for k, v in snapshot.plans.items() if k != item
    }
    assert again.restore().plans == planner.plans
    assert again.restore().triggers.emitted == planner.triggers.emitted
    assert pickle.loads(pickle.dumps(restored)).plans == planner.plans  # pickled whole: plain dicts
