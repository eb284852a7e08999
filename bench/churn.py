"""Trigger churn: how much of the plan moves when only the planning date moves (issue 11).

The demo scenario is written once for a fixed date (unchanged input) and replayed with
the replay of `mfgsync replay` (`flows.replay.run_replay`) for `--today D` and `--today D+1`,
in day and week buckets. For each pair, the open triggers (not WITHDRAWN) are compared by
`trigger_id` on their decision fields (type, item, plant, qty, need and release dates): a
trigger counts as changed when it is open on one day only or its decision fields differ.
Churn = changed / open triggers on day D.

Some changes are what SPEC 5 asks for when the planning date passes a date, and the table
counts them apart (`spec`), without taking them out of `changed`:
- a RESCHEDULE_IN whose new date is now before the planning date becomes an EXPEDITE of the
  same receipt for the same date ("a receipt needed before the planning date gets
  EXPEDITE"): two trigger ids change, the old one and the new one;
- a message about a receipt (RESCHEDULE_IN, RESCHEDULE_OUT, EXPEDITE) ends when the
  receipt's own date is now in the first bucket: it counts as arrived ("anything dated
  before the planning date is past due and falls in the first bucket"), and there is
  nothing left to move.
`--explain` lists every changed trigger with its reason.

Run: `python -m bench.churn [--today 2026-03-02] [--days 7] [--explain]` (D runs over
`--days` days from `--today`; the scenario is always the one of `--today`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mfgsync.flows.replay import read_changelog, run_replay
from mfgsync.flows.scenario import scenario_lines
from mfgsync.operators.calendar import BucketCalendar

DECISION_FIELDS = ("type", "item", "plant", "qty", "need_date", "release_date")
RECEIPT_MESSAGES = ("RESCHEDULE_IN", "RESCHEDULE_OUT", "EXPEDITE")

Records = dict[str, dict[str, Any]]


def open_records(input_path: Path, out: Path, today: date, bucket: str) -> Records:
    """The open triggers of one replay (not WITHDRAWN), by trigger id."""
    run_replay(input_path, out, today, bucket)  # type: ignore[arg-type]
    return {
        tid: t
        for tid, t in read_changelog(out / "procurement.triggers.jsonl").items()
        if t["state"] != "WITHDRAWN"
    }


def decisions(records: Records) -> dict[str, tuple[Any, ...]]:
    """The decision fields of each trigger."""
    return {tid: tuple(t[f] for f in DECISION_FIELDS) for tid, t in records.items()}


def open_triggers(input_path: Path, out: Path, today: date, bucket: str) -> dict[str, tuple[Any, ...]]:
    """Decision fields of the open triggers of one replay, by trigger id."""
    return decisions(open_records(input_path, out, today, bucket))


def churn(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> int:
    """Triggers open on one day only, or open on both with other decision fields."""
    return sum(1 for tid in before.keys() | after.keys() if before.get(tid) != after.get(tid))


@dataclass(frozen=True)
class Change:
    """One trigger whose decision fields differ between D and D+1, and why."""

    trigger_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    reason: str
    required_by_spec: bool


def changes(before: Records, after: Records, next_day: date, bucket: str) -> list[Change]:
    """Every changed trigger between the plans of D and D+1 (`next_day`), classified."""
    calendar = BucketCalendar(bucket)  # type: ignore[arg-type]
    first = calendar.start_of(next_day)
    old, new = decisions(before), decisions(after)
    out = []
    for tid in sorted(old.keys() | new.keys()):
        if old.get(tid) == new.get(tid):
            continue
        b, a = before.get(tid), after.get(tid)
        reason, required = _reason(tid, b, a, before, after, calendar, first)
        out.append(Change(tid, b, a, reason, required))
    return out


def _reason(
    tid: str,
    b: dict[str, Any] | None,
    a: dict[str, Any] | None,
    before: Records,
    after: Records,
    calendar: BucketCalendar,
    first: date,
) -> tuple[str, bool]:
    """Why a trigger changed, and whether SPEC 5 requires it (see the module docstring)."""
    record = b if b is not None else a
    kind = record["type"] if record is not None else ""
    if kind in RECEIPT_MESSAGES:
        rest = tid.split("|", 1)[1]
        old_in, new_expedite = before.get(f"RESCHEDULE_IN|{rest}"), after.get(f"EXPEDITE|{rest}")
        if (
            old_in is not None
            and new_expedite is not None
            and old_in["need_date"] == new_expedite["need_date"]
            and date.fromisoformat(old_in["need_date"]) < first
        ):
            return (
                f"RESCHEDULE_IN -> EXPEDITE: needed {old_in['need_date']}, now before the planning date",
                True,
            )
        if b is not None and a is None and b.get("current_date"):
            current = date.fromisoformat(b["current_date"])
            if calendar.start_of(current) <= first:
                return (f"receipt dated {current} is now in the first bucket: arrived, nothing to move", True)
    if b is None:
        return ("new", False)
    if a is None:
        return ("gone", False)
    moved = {f: (b[f], a[f]) for f in DECISION_FIELDS if b[f] != a[f]}
    return (f"changed {moved}", False)


def main(argv: list[str] | None = None) -> int:
    """Print a churn table for day and week buckets."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 3, 2))
    parser.add_argument("--days", type=int, default=1, help="planning dates D to try, from --today")
    parser.add_argument("--explain", action="store_true", help="list every changed trigger and why")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = root / "scenario.jsonl"
        scenario.write_text("\n".join(scenario_lines(args.today)) + "\n")
        print(f"{'bucket':<6} {'D':<10} {'D+1':<10} {'open D':>6} {'changed':>7} {'churn':>6} {'spec':>4}")
        worst = 0.0
        explained: list[str] = []
        for bucket in ("day", "week"):
            runs: dict[date, Records] = {}
            for n in range(args.days + 1):
                day = args.today + timedelta(days=n)
                runs[day] = open_records(scenario, root / f"{bucket}-{day}", day, bucket)
            for n in range(args.days):
                day = args.today + timedelta(days=n)
                nxt = day + timedelta(days=1)
                before, after = runs[day], runs[nxt]
                found = changes(before, after, nxt, bucket)
                share = len(found) / len(before) if before else 0.0
                worst = max(worst, share)
                spec = sum(1 for c in found if c.required_by_spec)
                print(
                    f"{bucket:<6} {day.isoformat():<10} {nxt.isoformat():<10} "
                    f"{len(before):>6} {len(found):>7} {share:>6.1%} {spec:>4}"
                )
                explained.append(f"{bucket} {day} -> {nxt}:")
                explained.extend(
                    f"  {'spec ' if c.required_by_spec else 'other'} {c.trigger_id}: {c.reason}"
                    for c in found
                )
        print(f"worst churn: {worst:.1%} (target: at most 10%); spec: changes SPEC 5 requires (see --help)")
        if args.explain:
            print("\n".join(explained))
    return 0


if __name__ == "__main__":
    sys.exit(main())
