"""Scaling over processes gives the same answer (issue 13), driven from outside like an operator.

`bench.scale` publishes one input, then runs `mfgsync run --exit-at-end` as 1, 2 and 4
processes clustered with `-i/-a` (one worker each), each cluster with its own recovery store
(shared by its processes, snapshots every second), and compares every changelog with the
first run's and with `mfgsync replay` of the same input.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from pathlib import Path

import pytest

from bench.data import Spec
from bench.scale import run_scale
from mfgsync.connectors.recovery_store import KEYS_FILE, create_store
from mfgsync.flows.kafka_commands import _alignment, _refuse_per_step_store, common_partitions
from mfgsync.flows.preflight import CommandError


@pytest.mark.kafka
def test_one_two_and_four_processes_with_recovery_give_the_changelogs_of_replay(kafka, registry, tmp_path):
    spec = Spec(events=8_000, keys=400, seed=1313)
    report = run_scale(spec, [1, 2, 4], 1, kafka, registry, tmp_path, recovery=True, snapshot_interval_s=1)
    runs = report["runs"]
    assert [r["processes"] for r in runs] == [1, 2, 4]
    for run in runs:
        assert run["differs_from_replay"] == {}, json.dumps(run)[:4000]
        assert run["differs_from_first_run"] == {}, json.dumps(run)[:4000]
    assert runs[0]["records"]["triggers"] > 100  # there is something to differ in
    assert len(runs[2]["cpu_s_per_process"]) == 4
    # `mfgsync produce` puts a plant's records where the process holding the plant reads.
    assert [r["exchanged"] for r in runs] == [0, 0, 0]


@pytest.mark.kafka
def test_records_a_producer_partitions_by_another_key_cross_processes_and_give_the_same_answer(
    kafka, registry, tmp_path
):
    spec = Spec(events=4_000, keys=200, seed=4242)
    report = run_scale(spec, [2], 1, kafka, registry, tmp_path, aligned=False)
    (run,) = report["runs"]
    assert run["differs_from_replay"] == {}, json.dumps(run)[:4000]
    assert run["exchanged"] > spec.events // 5  # about half of them cross


@pytest.mark.kafka
def test_one_plant_in_planning_groups_over_two_processes_gives_the_changelogs_of_planning_it_whole(
    kafka, registry, tmp_path
):
    spec = Spec(events=8_000, keys=400, plants=1, families=4, seed=2727)
    report = run_scale(
        spec, [1, 2], 1, kafka, registry, tmp_path, recovery=True, snapshot_interval_s=1, groups=4
    )
    assert list(report["planning_groups"]) == ["P01"] and len(report["planning_groups"]["P01"]) == 4
    for run in report["runs"]:
        assert run["differs_from_replay"] == {}, json.dumps(run)[:4000]  # the replay plans P01 whole
        assert run["differs_from_first_run"] == {}, json.dumps(run)[:4000]
        assert run["exchanged"] == 0  # each group's records in its own partition
    assert report["runs"][0]["records"]["triggers"] > 100


def _store_with_snapshot_of(store: Path, step_id: str) -> None:
    create_store(store, 1)
    with contextlib.closing(sqlite3.connect(store / "part-0.sqlite3")) as conn, conn:
        sql = "INSERT INTO snaps (step_id, state_key, snap_epoch, ser_change) VALUES (?, 'P1', 1, x'00')"
        conn.execute(sql, (step_id,))


def test_a_store_of_the_per_step_dataflow_is_refused_with_what_to_do(tmp_path):
    # Its offsets would resume without the guard, stock and planner state they belong to.
    old = tmp_path / "old"
    _store_with_snapshot_of(old, "mfgsync.guard.stateful_batch")
    with pytest.raises(CommandError) as refused:
        _refuse_per_step_store(old)
    assert refused.value.exit_code == 2
    assert "mfgsync.guard" in str(refused.value) and "empty" in str(refused.value)
    current = tmp_path / "current"
    _store_with_snapshot_of(current, "mfgsync.plant.stateful_batch")
    _refuse_per_step_store(current)  # this layout's own state: resumed


def test_state_is_aligned_to_the_input_partitions_or_to_what_the_store_was_made_with(tmp_path, caplog):
    assert common_partitions({"erp.demand": 8, "plm.bom.revisions": 8}) == 8
    with caplog.at_level(logging.WARNING, logger="mfgsync"):
        assert common_partitions({"erp.demand": 8, "plm.bom.revisions": 4}) == 0  # not aligned
    assert "different partition counts" in caplog.text
    assert _alignment(None, 8) == 8  # no store: the topics' count
    made = tmp_path / "made"
    create_store(made, 1, aligned_partitions=8)
    assert _alignment(made, 8) == 8
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mfgsync"):
        assert _alignment(made, 16) == 8  # partitions added since: the store's keys stay
    assert "16 partitions" in caplog.text
    before = tmp_path / "before"
    create_store(before, 1)
    (before / KEYS_FILE).unlink()  # a store made before alignment keeps its plant keys
    assert _alignment(before, 8) == 0
