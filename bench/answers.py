"""The planner's published answers, for checking that a speed change changes none of them.

Writes, into a directory, everything three drives publish:
- `demo/`: the changelogs of `mfgsync replay` of the bundled demo scenario;
- `generated/`: the changelogs of `mfgsync replay` of a `bench.data` input (a few thousand
  events over 4 plants, BOM revisions, ECOs, goods receipts, duplicates);
- `planner-<bucket>.jsonl`: every record a `PlantPlanner` emits, in order, on a small
  `bench.planning` plant driven through a full rebuild, a second one, stock movements of
  every level, BOM revisions high in the tree, and a move of the planning date.

`python -m bench.answers OUT` writes them; `python -m bench.answers OUT --against BEFORE`
also compares every file with the same file under BEFORE and exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bench.common import TODAY
from bench.data import Spec, generate
from bench.planning import PLANT, Plant
from mfgsync.flows.cli import DEMO_TODAY
from mfgsync.flows.scenario import scenario_lines
from mfgsync.operators.inventory import PositionChanged
from mfgsync.operators.planner import PlannerConfig, PlantPlanner


def _replay(root: Path, inp: str, out: str, today: str) -> None:
    # Run inside `root` with relative paths: dead letters name the input file.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mfgsync.flows.cli",
            "replay",
            "--input",
            inp,
            "--output",
            out,
            "--today",
            today,
            "--quiet",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        cwd=root,
    )


def planner_drive(out: Path, bucket: str, items: int = 800, lines: int = 4000, orders: int = 1600) -> None:
    plant = Plant(items, lines, 4, orders, seed=5)
    planner = PlantPlanner(plant=PLANT, config=PlannerConfig(bucket=bucket))  # type: ignore[arg-type]
    with out.open("w") as f:

        def emit(step: str, records: list) -> None:
            for r in records:
                f.write(f"{step} {type(r).__name__} {r.model_dump_json()}\n")

        positions = plant.load(planner, plant.master_and_orders())
        emit("plan_all", planner.plan_all(TODAY))
        emit("plan_all2", planner.plan_all(TODAY))
        rng = random.Random(4)
        seqs = dict.fromkeys(plant.items, 1)
        for k in range(300):
            level = plant.by_level[k % len(plant.by_level)]
            item = rng.choice(level)
            seqs[item] += 1
            move = plant.movement(item, seqs[item])
            positions[item].apply_movement(move)
            planner.apply(PositionChanged(PLANT, item, positions[item].position(), move.event_id))
            emit(f"move{k}", planner.plan(TODAY))
        high = [p for p in plant.make if plant.level[p] <= 1]
        for k in range(8):
            parent = rng.choice(high)
            planner.apply(plant.revision(parent, f"E{k:03d}", TODAY, f"ECO-{k:04d}", bump=k % 3))
            emit(f"bom{k}", planner.plan(TODAY))
        emit("tomorrow", planner.plan(TODAY + timedelta(days=1)))
        emit("week", planner.plan(TODAY + timedelta(days=8)))


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    demo = out / "demo-input.jsonl"
    demo.write_text("\n".join(scenario_lines(DEMO_TODAY)) + "\n")
    _replay(out, demo.name, "demo", DEMO_TODAY.isoformat())
    gen = out / "generated-input.jsonl"
    with gen.open("w") as f:
        for event in generate(Spec(events=6_000, keys=400)):
            f.write(json.dumps({"type": type(event).__name__, **event.model_dump(mode="json")}) + "\n")
    _replay(out, gen.name, "generated", TODAY.isoformat())
    for bucket in ("day", "week"):
        planner_drive(out / f"planner-{bucket}.jsonl", bucket)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.jsonl"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--against", type=Path)
    args = parser.parse_args()
    write(args.out)
    mine = digests(args.out)
    for name, digest in mine.items():
        print(digest[:16], name)
    if args.against is not None:
        theirs = digests(args.against)
        differ = sorted(n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))
        if differ:
            print("DIFFERENT:", *differ, sep="\n  ")
            sys.exit(1)
        print(f"identical: {len(mine)} files")


if __name__ == "__main__":
    main()
