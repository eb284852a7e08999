"""Two checkouts end to end on the same topics, one after the other: a paired comparison.

A full `bench.run` compares mfgsync with Quix in one run, but two runs on different days
differ by the host (ceilings 80k-101k msg/s) and, since planning passes are paced by time,
in how many intermediate plans they publish. This runs `bench.e2e` for a base checkout and
for this one over one `bench.data` input, base first in even rounds and this one first in
odd ones, and prints each run's rate and output records as JSON lines.

    python -m bench.e2e_pair --base /tmp/base --events 1000000 --rounds 2

`--base` is a checkout of another commit (`git worktree add /tmp/base <commit>`); its
service runs with that checkout first on `PYTHONPATH` (`--base-path` adds entries before it,
for example a directory holding an `mfgsync` link to the checkout).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from pathlib import Path

from bench import data, e2e
from bench.common import ROOT
from tests.services import kafka_broker, schema_registry

KEPT = ("msg_per_s", "wall_s", "output_records", "outputs")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--base-path", default="", help="PYTHONPATH entries before the base checkout")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    paths = {
        "base": ":".join(p for p in (args.base_path, str(args.base.resolve())) if p),
        "this": str(ROOT),
    }
    work = Path(tempfile.mkdtemp(prefix="e2e-pair-"))
    prefix = "bench."
    with contextlib.ExitStack() as stack:
        kafka = stack.enter_context(kafka_broker(work))
        registry = stack.enter_context(schema_registry(work))
        n = data.produce(data.Spec(events=args.events, keys=args.keys), kafka, registry, prefix)["events"]
        for round_ in range(args.rounds):
            # The host's speed drifts over minutes: each side goes first in every other round.
            for name in ("base", "this") if round_ % 2 == 0 else ("this", "base"):
                e2e.reset_outputs(kafka, registry, prefix)
                log = work / f"{name}-{round_}.log"
                result = e2e.run(kafka, registry, prefix, n, timeout_s=2400, log=log, pythonpath=paths[name])
                kept = {k: result[k] for k in KEPT if k in result}
                print(json.dumps({"side": name, "round": round_, **kept}), flush=True)


if __name__ == "__main__":
    main()
