"""Scaling over processes gives the same answer (issue 13), driven from outside like an operator.

`bench.scale` publishes one input, then runs `mfgsync run --exit-at-end` as 1, 2 and 4
processes clustered with `-i/-a` (one worker each), each cluster with its own recovery store
(shared by its processes, snapshots every second), and compares every changelog with the
first run's and with `mfgsync replay` of the same input.
"""

from __future__ import annotations

import json

import pytest

from bench.data import Spec
from bench.scale import run_scale


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
