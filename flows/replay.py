"""`mfgsync replay`: the full dataflow over JSON Lines files, exiting at end of input.

Replays plan once, when the input is exhausted, for a fixed planning date, so the same input
gives the same changelogs every time and with any number of workers. For
`python -m bytewax.run mfgsync.flows.replay:flow`, the module attribute `flow` is built on first
access from `MFGSYNC_INPUT`, `MFGSYNC_OUTPUT`, `MFGSYNC_TODAY` and `MFGSYNC_BUCKET`.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from bytewax.dataflow import Dataflow
from bytewax.inputs import FixedPartitionedSource
from bytewax.testing import cluster_main, run_main

from mfgsync.connectors.files import JsonlSource, JsonlTopicSink
from mfgsync.flows.dataflow import FlowConfig, build_flow
from mfgsync.flows.gc_tuning import tune_gc
from mfgsync.flows.preflight import load_settings
from mfgsync.flows.progress import counted
from mfgsync.operators.grouping import PlanningGroups
from mfgsync.operators.parameters import PlantDefaults
from mfgsync.schemas.outputs import OUTPUT_TYPES
from mfgsync.schemas.vocabulary import COUNTS

OUTPUT_TOPICS = tuple(sorted({*OUTPUT_TYPES, COUNTS}))


def replay_flow(
    input_path: str | Path,
    output_dir: str | Path,
    today: date | None = None,
    bucket: Literal["day", "week"] = "day",
    on_read: Callable[[int], None] | None = None,
    plant_defaults: PlantDefaults | None = None,
    groups: PlanningGroups | None = None,
) -> Dataflow:
    """The replay dataflow: files in, one changelog file per topic out.

    Every topic's file is created, empty when the input causes nothing on it. ``on_read(n)``
    is called after each batch of ``n`` input lines is read (progress). ``plant_defaults``
    are the plant-wide planning defaults (`MFGSYNC_*`, as the service reads them), so a
    replay plans like the service it is compared with; so do ``groups`` (planning groups:
    the same answer, planned apart).
    """
    config = FlowConfig(
        bucket=bucket,
        today=today or datetime.now(UTC).date(),
        plan_on="eof",
        wait_s=math.inf,
        plant_defaults=plant_defaults or PlantDefaults(),
        groups=groups or PlanningGroups(),
    )
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    for topic in OUTPUT_TOPICS:
        (output / f"{topic}.jsonl").write_bytes(b"")  # the sink appends; a replay starts afresh
    source: FixedPartitionedSource[Any, Any] = JsonlSource(input_path)
    if on_read is not None:
        source = counted(source, on_read)
    flow = build_flow(source, JsonlTopicSink(output, OUTPUT_TOPICS), config)
    tune_gc()
    return flow


def run_replay(
    input_path: str | Path,
    output_dir: str | Path,
    today: date | None = None,
    bucket: Literal["day", "week"] = "day",
    workers: int = 1,
    on_read: Callable[[int], None] | None = None,
    plant_defaults: PlantDefaults | None = None,
    groups: PlanningGroups | None = None,
) -> Counter[str]:
    """Run a replay to completion; return the input counts by outcome."""
    flow = replay_flow(input_path, output_dir, today, bucket, on_read, plant_defaults, groups)
    # bytewax.testing's runners carry no annotations.
    if workers <= 1:
        run_main(flow)  # type: ignore[no-untyped-call]
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers)  # type: ignore[no-untyped-call]
    return read_counts(output_dir)


def read_counts(output_dir: str | Path) -> Counter[str]:
    """Outcome counts written by a finished replay."""
    counts: Counter[str] = Counter()
    path = Path(output_dir) / f"{COUNTS}.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            record = json.loads(line)
            counts[record["outcome"]] += record["count"]
    return counts


def read_changelog(path: str | Path) -> dict[str, dict[str, Any]]:
    """The latest record per id of a changelog file: the current truth it describes."""
    topic = Path(path).name.removesuffix(".jsonl")
    record_type = OUTPUT_TYPES[topic]
    latest: dict[str, dict[str, Any]] = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            record = record_type.model_validate_json(line)
            latest[record.record_key()] = json.loads(line)
    return latest


def __getattr__(name: str) -> Dataflow:
    if name != "flow":
        raise AttributeError(name)
    today = os.environ.get("MFGSYNC_TODAY")
    bucket = os.environ.get("MFGSYNC_BUCKET", "day")
    if bucket not in ("day", "week"):
        msg = f"MFGSYNC_BUCKET must be day or week, not {bucket!r}"
        raise ValueError(msg)
    try:
        input_path, output_dir = os.environ["MFGSYNC_INPUT"], os.environ["MFGSYNC_OUTPUT"]
    except KeyError as missing:
        msg = f"set {missing} to run mfgsync.flows.replay:flow (input path and output directory)"
        raise RuntimeError(msg) from None
    return replay_flow(
        input_path,
        output_dir,
        date.fromisoformat(today) if today else None,
        bucket,  # type: ignore[arg-type]
        plant_defaults=load_settings().plant_defaults(),
    )
