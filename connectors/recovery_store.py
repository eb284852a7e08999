"""The bytewax recovery store on disk: create it crash-safely, and drop abandoned snapshots.

A bytewax (0.21) recovery store is a directory of SQLite partitions (`part-N.sqlite3`). Each
execution writes state snapshots tagged with their epoch and, once an epoch's snapshots are
written, its frontier. A resumed execution starts at the resume epoch (the frontier of the
last execution) and loads, per state key, the newest snapshot *before* that epoch.

What bytewax does not do: delete the snapshots that a killed execution wrote at or after the
epoch the next execution resumes from. They belong to a timeline that was abandoned, and the
new execution overwrites only the keys it touches in the same epochs. A later resume then
loads, for every key the new execution did not touch, the abandoned state, which is ahead
of (or beside) the input offsets and the rest of the state: events are taken for
duplicates and dropped, or applied twice. After many kills on a loaded host (slow lives
touch few keys per epoch) that showed as missing demands, wrong stock and conflicting
triggers. `discard_abandoned_snapshots` runs before every start and deletes them, so every
resume sees exactly one consistent timeline.

`create_store` initialises the partitions in a temporary directory and renames it into
place, so a kill during creation never leaves a half-initialised store that fails every
later start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

FIRST_EPOCH = 1
"""The epoch an execution without recovery data starts at (bytewax's default)."""


@dataclass(frozen=True)
class Repair:
    """What `discard_abandoned_snapshots` found and did."""

    resume_epoch: int
    executions: int
    discarded: int


def store_ready(db_dir: Path) -> bool:
    """Whether `db_dir` holds an initialised store (all its partitions)."""
    return db_dir.is_dir() and _partition_files(db_dir) != [] and _complete(db_dir)


GROUPS_FILE = "planning-groups.json"
"""Beside the partitions: the planning groups the store's state is keyed by (none: absent)."""


KEYS_FILE = "state-keys.json"
"""Beside the partitions: the input partition count the store's plant state keys are aligned
to (`flows/placement.aligned_key`; absent: a store from before, keyed by plant)."""


def create_store(
    db_dir: Path, partitions: int, groups: dict[str, Any] | None = None, aligned_partitions: int = 0
) -> None:
    """Create the store's partitions atomically: all of them, or (after a kill) none.

    `groups` (the planning groups file's content, when there are any) is kept beside them:
    the store's state is keyed by those groups (`stored_groups`); so is the partition count
    its state keys are aligned to (`stored_alignment`).
    """
    from bytewax.recovery import init_db_dir

    db_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = db_dir.with_name(f".{db_dir.name}.init-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    init_db_dir(staging, partitions)  # type: ignore[no-untyped-call]  # bytewax.recovery has no annotations
    if groups:
        (staging / GROUPS_FILE).write_text(json.dumps(groups, indent=1) + "\n")
    (staging / KEYS_FILE).write_text(json.dumps({"aligned_partitions": aligned_partitions}) + "\n")
    if db_dir.exists():
        leftovers = list(db_dir.iterdir())
        if leftovers and not all(
            p.name.startswith("part-") or p.name in (GROUPS_FILE, KEYS_FILE) for p in leftovers
        ):
            msg = f"recovery directory {db_dir} holds files that are not a recovery store"
            raise FileExistsError(msg)
        shutil.rmtree(db_dir)  # an incomplete store from before the atomic creation
    os.replace(staging, db_dir)
    log.info("created recovery store %s with %d partitions", db_dir, partitions)


def stored_groups(db_dir: Path) -> dict[str, Any]:
    """The planning groups a store was created with (`{}`: none, as every store before them)."""
    path = db_dir / GROUPS_FILE
    if not path.exists():
        return {}
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def stored_alignment(db_dir: Path) -> int:
    """The input partition count a store's state keys are aligned to.

    0: not aligned, as every store made before alignment (keyed by plant).
    """
    path = db_dir / KEYS_FILE
    if not path.exists():
        return 0
    value = json.loads(path.read_text()).get("aligned_partitions", 0)
    return value if isinstance(value, int) and value >= 0 else 0


def discard_abandoned_snapshots(db_dir: Path) -> Repair:
    """Delete snapshots at or after the resume epoch; return the resume epoch and the count.

    Needs every partition of the store (one process, or a shared directory): the resume
    epoch is computed over all of them exactly as bytewax computes it. Idempotent, and each
    partition is changed in one transaction, so a kill in the middle is repaired by the next
    start.
    """
    files = _partition_files(db_dir)
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(_connect(f)) for f in files]
        parts: dict[int, int] = {}
        executions: dict[int, tuple[int, int]] = {}
        fronts: dict[tuple[int, int], int] = {}
        for conn in conns:
            parts.update(conn.execute("SELECT part_index, part_count FROM parts").fetchall())
            for ex_num, workers, resume in conn.execute("SELECT ex_num, worker_count, resume_epoch FROM exs"):
                executions[ex_num] = (workers, resume)
            for ex_num, worker, frontier in conn.execute(
                "SELECT ex_num, worker_index, worker_frontier FROM fronts"
            ):
                fronts[(ex_num, worker)] = max(frontier, fronts.get((ex_num, worker), frontier))
        counts = set(parts.values())
        if len(counts) != 1 or set(parts) != set(range(counts.pop())):
            msg = f"recovery store {db_dir} is missing partitions (found {sorted(parts)})"
            raise FileNotFoundError(msg)
        resume_epoch = _resume_epoch(executions, fronts)
        discarded = 0
        for conn in conns:
            with conn:  # one transaction per partition
                discarded += conn.execute("DELETE FROM snaps WHERE snap_epoch >= ?", (resume_epoch,)).rowcount
    repair = Repair(resume_epoch=resume_epoch, executions=len(executions), discarded=discarded)
    if discarded:
        log.warning(
            "recovery store %s: discarded %d snapshots of an abandoned execution (epoch >= %d)",
            db_dir,
            discarded,
            resume_epoch,
        )
    return repair


def _resume_epoch(executions: dict[int, tuple[int, int]], fronts: dict[tuple[int, int], int]) -> int:
    """Bytewax's resume epoch: the last execution's lowest worker frontier (at least its start)."""
    if not executions:
        return FIRST_EPOCH
    last = max(executions)
    workers, started_at = executions[last]
    return min(max(fronts.get((last, w), started_at), started_at) for w in range(workers))


def _partition_files(db_dir: Path) -> list[Path]:
    return sorted(p for p in db_dir.glob("*.sqlite3") if p.is_file())


def _complete(db_dir: Path) -> bool:
    try:
        with contextlib.ExitStack() as stack:
            rows = [
                row
                for f in _partition_files(db_dir)
                for row in stack.enter_context(_connect(f)).execute(
                    "SELECT part_index, part_count FROM parts"
                )
            ]
    except sqlite3.Error:
        return False
    counts = {count for _, count in rows}
    return len(counts) == 1 and {index for index, _ in rows} == set(range(counts.pop()))


@contextlib.contextmanager
def _connect(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, timeout=30, isolation_level="DEFERRED")
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        yield conn
    finally:
        conn.close()


def snapshot_steps(db_dir: Path) -> set[str]:
    """The step ids that have snapshots in the store (to tell a store of another dataflow layout)."""
    with contextlib.ExitStack() as stack:
        return {
            step
            for f in _partition_files(db_dir)
            for (step,) in stack.enter_context(_connect(f)).execute("SELECT DISTINCT step_id FROM snaps")
        }
