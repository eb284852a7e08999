"""Scaling over processes gives the same answer (issue 13), driven from outside like an operator.

`bench.scale` publishes one input, then runs `mfgsync run --exit-at-end` as 1, 2 and 4
processes clustered with `-i/-a` (one worker each), each cluster with its own recovery store
(shared by its processes, snapshots every second), and compares every changelog with the
first run's and with `mfgsync replay` of the same input.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from bench.data import Spec
from bench.scale import run_scale
from mfgsync.connectors.recovery_store import create_store
from mfgsync.flows.kafka_commands import _refuse_per_step_store
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
