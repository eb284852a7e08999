"""Trigger churn: how much of the plan moves when only the planning date moves (issue 11).

The demo scenario is written once for a fixed date (unchanged input) and replayed with
the replay of `mfgsync replay` (`flows.replay.run_replay`) for `--today D` and `--today D+1`, in day and week buckets. For each pair, the
open triggers (not WITHDRAWN) are compared by `trigger_id` on their decision fields (type,
item, plant, qty, need and release dates): a trigger counts as changed when it is open on one
day only or its decision fields differ. Churn = changed / open triggers on day D.

Run: `python -m bench.churn [--today 2026-03-02] [--days 7]` (D runs over `--days` days from
`--today`; the scenario is always the one of `--today`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from mfgsync.flows.replay import read_changelog, run_replay
from mfgsync.flows.scenario import scenario_lines

DECISION_FIELDS = ("type", "item", "plant", "qty", "need_date", "release_date")


def open_triggers(input_path: Path, out: Path, today: date, bucket: str) -> dict[str, tuple[Any, ...]]:
    """Decision fields of the open triggers of one replay, by trigger id."""
    run_replay(input_path, out, today, bucket)  # type: ignore[arg-type]
    return {
        tid: tuple(t[f] for f in DECISION_FIELDS)
        for tid, t in read_changelog(out / "procurement.triggers.jsonl").items()
        if t["state"] != "WITHDRAWN"
    }


def churn(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> int:
    """Triggers open on one day only, or open on both with other decision fields."""
    return sum(1 for tid in before.keys() | after.keys() if before.get(tid) != after.get(tid))


def main(argv: list[str] | None = None) -> int:
    """Print a churn table for day and week buckets."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--today", type=date.fromisoformat, default=date(2026, 3, 2))
    parser.add_argument("--days", type=int, default=1, help="planning dates D to try, from --today")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scenario = root / "scenario.jsonl"
        scenario.write_text("\n".join(scenario_lines(args.today)) + "\n")
        print(f"{'bucket':<6} {'D':<10} {'D+1':<10} {'open D':>6} {'changed':>7} {'churn':>6}")
        worst = 0.0
        for bucket in ("day", "week"):
            runs: dict[date, dict[str, tuple[Any, ...]]] = {}
            for n in range(args.days + 1):
                day = args.today + timedelta(days=n)
                runs[day] = open_triggers(scenario, root / f"{bucket}-{day}", day, bucket)
            for n in range(args.days):
                day = args.today + timedelta(days=n)
                before, after = runs[day], runs[day + timedelta(days=1)]
                changed = churn(before, after)
                share = changed / len(before) if before else 0.0
                worst = max(worst, share)
                print(
                    f"{bucket:<6} {day.isoformat():<10} {(day + timedelta(days=1)).isoformat():<10} "
                    f"{len(before):>6} {changed:>7} {share:>6.1%}"
                )
        print(f"worst churn: {worst:.1%} (target: at most 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
