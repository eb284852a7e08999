"""Netting of another revision against this tree, paired call by call in one process.

On this shared 2-core host the same code moves by 20-40% between runs, and even between
minutes of one run, which hides any change below about 1.5x. Here every `net_item` call of
the planner runs twice back to back, once with this tree's `operators/netting.py` and once
with the one at `--against` (loaded from git under its own module name), alternating which
goes first; the planner goes on with this tree's result. Both see the same inputs, the same
heap and the same moment of the host, so their ratio holds to a few percent where two
separate runs do not.

Phases, on a `bench.planning` plant: the first rebuild, a second one on unchanged inputs,
and level-0 stock flips (the stock of three finished goods moved up and down by 60, each
re-netting its whole subtree). Only netting is paired: what the planner does around it
(explosion, records, changelogs) runs once, with this tree's code.

Run: `python -m bench.paired --against HEAD~1 [--items 2000 --flips 2]`. `--against` may also
name a file: a copy of `netting.py` with a part left out prices that part in place, as only
this tree's results go on into the planner.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import ROOT, TODAY, emit_result
from bench.planning import PLANT, Plant
from mfgsync.flows.gc_tuning import collector_paused, tune_gc
from mfgsync.operators import planner as planner_module
from mfgsync.operators.inventory import PositionChanged, StockPosition
from mfgsync.operators.planner import PlantPlanner

NETTING = "operators/netting.py"


def netting_at(revision: str, into: Path) -> Callable[..., Any]:
    """`net_item` of `operators/netting.py` at `revision` (or of the file `revision` names),
    imported under a module name of its own."""
    if revision.endswith(".py") and Path(revision).is_file():
        source = Path(revision).read_text()
    else:
        source = subprocess.run(
            ["git", "show", f"{revision}:{NETTING}"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
    path = into / "netting_against.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("netting_against", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module.net_item  # type: ignore[no-any-return]


class Pair:
    """Stands in for the planner's `net_item`: runs both, times both, returns this tree's."""

    def __init__(self, ours: Callable[..., Any], theirs: Callable[..., Any]) -> None:
        self.ours = ours
        self.theirs = theirs
        self.their_arity = len(inspect.signature(theirs).parameters)
        self.phase = "setup"
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: dict[str, int] = {}
        self._ours_first = False

    def __call__(self, *args: Any) -> Any:
        clock = time.perf_counter
        theirs_args = args[: self.their_arity]
        self._ours_first = not self._ours_first
        if self._ours_first:
            t0 = clock()
            result = self.ours(*args)
            t1 = clock()
            self.theirs(*theirs_args)
            t2 = clock()
            ours_s, theirs_s = t1 - t0, t2 - t1
        else:
            t0 = clock()
            self.theirs(*theirs_args)
            t1 = clock()
            result = self.ours(*args)
            t2 = clock()
            theirs_s, ours_s = t1 - t0, t2 - t1
        for side, spent in (("tree", ours_s), ("against", theirs_s)):
            key = (self.phase, side)
            self.seconds[key] = self.seconds.get(key, 0.0) + spent
        self.calls[self.phase] = self.calls.get(self.phase, 0) + 1
        return result

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for phase, calls in self.calls.items():
            tree, against = self.seconds[(phase, "tree")], self.seconds[(phase, "against")]
            out[phase] = {
                "calls": calls,
                "tree_s": round(tree, 3),
                "against_s": round(against, 3),
                "tree_over_against": round(tree / against, 3) if against else None,
            }
        return out


def run(against: str, items: int, flips: int) -> dict[str, Any]:
    tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        pair = Pair(planner_module.net_item, netting_at(against, Path(tmp)))
        planner_module.net_item = pair  # type: ignore[assignment]
        plant = Plant(items, items * 5, 6, items * 2)
        planner = PlantPlanner(plant=PLANT)
        plant.load(planner, plant.master_and_orders())
        # Every pass with the collector paused, so collections land in neither side's time.
        for phase in ("first rebuild", "second rebuild"):
            pair.phase = phase
            with collector_paused():
                planner.plan_all(TODAY)
        llc = planner.bom.low_level_codes()
        finished = [item for item in plant.items if llc.get(item, 0) == 0][:3]
        pair.phase = "level-0 flips"
        for n in range(flips):
            for item in finished:
                for delta in (60.0, -60.0):
                    stock = planner.positions[item]
                    moved = StockPosition(unrestricted=stock.unrestricted + delta)
                    planner.apply(PositionChanged(PLANT, item, moved, f"flip-{n}-{item}-{delta}"))
                    with collector_paused():
                        planner.plan(TODAY)
        return {"against": against, "items": items, "flips": flips, "phases": pair.report()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--against",
        required=True,
        help="git revision whose operators/netting.py to pair with, or a netting module's file (a variant with"
        " a part left out prices that part: only this tree's results are used)",
    )
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument(
        "--flips", type=int, default=2, help="rounds of up-and-down moves of three finished goods"
    )
    args = parser.parse_args()
    result = run(args.against, args.items, args.flips)
    for phase, figures in result["phases"].items():
        print(
            f"{phase:16s} {figures['calls']:7d} calls  tree {figures['tree_s']:8.3f} s  "
            f"{args.against} {figures['against_s']:8.3f} s  tree/{args.against} {figures['tree_over_against']}",
            file=sys.stderr,
        )
    emit_result(result)


if __name__ == "__main__":
    main()
