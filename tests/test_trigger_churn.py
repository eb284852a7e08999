"""Calm triggers: moving the planning date leaves what is still true unchanged (SPEC 5, issue 11).

With unchanged input (the demo scenario written once), replanning one day later changes at
most 10% of the open triggers' decision fields (type, item, plant, qty, need and release
dates), in day and in week buckets; `python -m bench.churn --days 7 --explain` prints the
same figures and reasons.

Over a week of planning dates, the only changes beyond that are the ones SPEC 5 asks for as
the planning date passes a date: a RESCHEDULE_IN whose date has passed becomes an EXPEDITE,
and a message about a receipt ends when the receipt's own date reaches the first bucket
(`bench.churn.changes` tells them apart). Everything else stays within 10% every day,
Sunday to Monday in week buckets included.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from bench.churn import Records, changes, churn, decisions, open_records
from mfgsync.flows.scenario import scenario_lines

TODAY = date(2026, 3, 2)  # a Monday: the week runs to Sunday, then the next Monday
WEEK = [TODAY + timedelta(days=n) for n in range(8)]


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, date], Records]:
    """The open triggers of the scenario of TODAY, replayed for each day of a week and the next Monday."""
    root: Path = tmp_path_factory.mktemp("churn")
    scenario = root / "scenario.jsonl"
    scenario.write_text("\n".join(scenario_lines(TODAY)) + "\n")
    return {
        (bucket, day): open_records(scenario, root / f"{bucket}-{day}", day, bucket)
        for bucket in ("day", "week")
        for day in WEEK
    }


@pytest.mark.parametrize("bucket", ["day", "week"])
def test_moving_the_planning_date_by_a_day_changes_at_most_a_tenth_of_the_triggers(plans, bucket):
    before, after = decisions(plans[(bucket, TODAY)]), decisions(plans[(bucket, WEEK[1])])
    assert len(before) >= 20
    assert churn(before, after) <= 0.10 * len(before)


@pytest.mark.parametrize("bucket", ["day", "week"])
@pytest.mark.parametrize("day", WEEK[:-1], ids=str)
def test_every_day_of_a_week_only_what_spec_requires_moves_beyond_a_tenth(plans, bucket, day):
    nxt = day + timedelta(days=1)
    before, after = plans[(bucket, day)], plans[(bucket, nxt)]
    found = changes(before, after, nxt, bucket)
    assert len(found) == churn(decisions(before), decisions(after))
    unexplained = [c.trigger_id for c in found if not c.required_by_spec]
    assert len(unexplained) <= 0.10 * len(before), unexplained


def test_a_rescheduled_receipt_whose_date_passes_is_expedited_for_the_same_date(plans):
    # SPEC 5: "A receipt needed before the planning date gets EXPEDITE". PO-DE01-8/10 is moved
    # in to March 4; planned on March 5, that date has passed.
    tid = "PO-DE01-8/10|0"
    on_4th, on_5th = plans[("day", date(2026, 3, 4))], plans[("day", date(2026, 3, 5))]
    moved = on_4th[f"RESCHEDULE_IN|DE01|BEARING-6204|{tid}"]
    expedited = on_5th[f"EXPEDITE|DE01|BEARING-6204|{tid}"]
    assert f"RESCHEDULE_IN|DE01|BEARING-6204|{tid}" not in on_5th
    assert (
        (expedited["qty"], expedited["need_date"])
        == (moved["qty"], moved["need_date"])
        == (200.0, "2026-03-04")
    )
