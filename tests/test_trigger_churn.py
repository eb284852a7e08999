"""Calm triggers: moving the planning date leaves what is still true unchanged (SPEC 5, issue 11).

With unchanged input (the demo scenario written once), replanning one day later changes at
most 10% of the open triggers' decision fields (type, item, plant, qty, need and release
dates), in day and in week buckets; `python -m bench.churn` prints the same figures.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bench.churn import churn, open_triggers
from mfgsync.flows.scenario import scenario_lines

TODAY = date(2026, 3, 2)


@pytest.mark.parametrize("bucket", ["day", "week"])
def test_moving_the_planning_date_by_a_day_changes_at_most_a_tenth_of_the_triggers(tmp_path, bucket):
    scenario = tmp_path / "scenario.jsonl"
    scenario.write_text("\n".join(scenario_lines(TODAY)) + "\n")
    before = open_triggers(scenario, tmp_path / "d0", TODAY, bucket)
    after = open_triggers(scenario, tmp_path / "d1", TODAY + timedelta(days=1), bucket)
    assert len(before) >= 20
    assert churn(before, after) <= 0.10 * len(before)
