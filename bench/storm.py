"""Crash storm: SIGKILL `mfgsync run` many times mid-stream, then compare with `mfgsync replay`.

Driven from outside, as an operator would, through the CLI only:
`mfgsync topics create`, `mfgsync produce`, `mfgsync run --recovery-dir R --exit-at-end`
(killed with SIGKILL to its process group at random moments, some within the first seconds
of a life, and restarted each time), then one life to the end, and `mfgsync replay` of the
same input with the same `--today`. Every changelog topic is compared with the replay
(latest record per id, closed records left out, `state` ignored): lost, extra and conflicting
records per topic. Also reported: per life how long it took from start to its first new
output record (the restart time), and the service's published outcome counts against the
number of input records.

    python -m bench.storm --events 120000 --kills 15            # own broker and registry
    python -m bench.storm --events 200000 --kills 20 --seed 5 --busy --broker-restart 60

Lives that are not killed early are killed at a random moment 0.5-10 s (`--min-life`,
`--max-life`) after their first new output, so kills land mid-processing however slow the
host is (`--from-start`: that long after the start instead). `--chunks N` publishes the input
in N parts, the next before each life, so a quick host cannot finish the input before the
kills are spent. `--busy` keeps one core busy beside the service (makes the races of a
loaded host likely).
`--broker-restart S` stops the broker for 20 s once, S seconds into the storm (own broker
only; with `--kills 0` that is S seconds into the one run to the end). The result is printed as JSON (`BENCH-RESULT {...}`); exit status 1 on any difference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from bench.common import RESULT_PREFIX, ROOT, run_cli, service_env
from bench.data import Spec, generate
from mfgsync.schemas.vocabulary import is_live

CHANGELOGS = ("procurement.triggers", "signals.shortages", "signals.availability", "sync.exceptions")
COUNTS = "sync.counts"
ID_FIELDS = ("trigger_id", "signal_id", "availability_id", "exception_id", "dlq_id", "count_id")
OUTCOMES = ("applied", "deduplicated", "superseded", "dead_lettered")
OUTPUT_WAIT_S = 30.0
"""A life that shows no new output this long (it may have nothing left to do) is killed anyway."""


# ------------------------------------------------------------------ comparing


def canonical(value: Any) -> Any:
    """A field value in one representation whichever decoder read it (Avro or JSON text)."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 20 and value[10:11] == "T" and value[:4].isdigit():
        with contextlib.suppress(ValueError):
            return canonical(datetime.fromisoformat(value.replace("Z", "+00:00")))
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


def record_id(record: dict[str, Any]) -> str:
    for name in ID_FIELDS:
        if name in record:
            return str(record[name])
    raise KeyError(f"no id field in {record}")


def live(records: Iterator[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Latest record per id, closed ones left out, without the lifecycle state."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record_id(record)] = record
    return {
        rid: {k: canonical(v) for k, v in r.items() if k != "state"}
        for rid, r in latest.items()
        if is_live(r.get("state"))
    }


@dataclass
class Difference:
    """How a service changelog differs from the replay's."""

    expected: int
    lost: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    conflicting: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not (self.lost or self.extra or self.conflicting)

    def summary(self) -> dict[str, Any]:
        return {
            "expected": self.expected,
            "lost": len(self.lost),
            "extra": len(self.extra),
            "conflicting": len(self.conflicting),
            "examples": (self.lost[:3] + self.extra[:3] + self.conflicting[:3]),
        }


def compare(service: dict[str, dict[str, Any]], replay: dict[str, dict[str, Any]]) -> Difference:
    diff = Difference(expected=len(replay))
    diff.lost = sorted(replay.keys() - service.keys())
    diff.extra = sorted(service.keys() - replay.keys())
    diff.conflicting = sorted(k for k in replay.keys() & service.keys() if replay[k] != service[k])
    return diff


def replay_changelog(path: Path) -> Iterator[dict[str, Any]]:
    if path.exists():
        with path.open() as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)


def topic_records(bootstrap: str, registry: str | None, topic: str) -> Iterator[dict[str, Any]]:
    """Every record of a topic from the beginning, decoded independently of mfgsync."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "storm-reader", "enable.auto.commit": "false"}
    )
    decode = None
    if registry:
        deserializer = AvroDeserializer(SchemaRegistryClient({"url": registry}))
        ctx = SerializationContext(topic, MessageField.VALUE)
        decode = lambda v: deserializer(v, ctx)  # noqa: E731
    try:
        parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = {}
        for p in parts:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        deadline = time.monotonic() + 120
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is not None:
                    continue
                if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                    ends.pop(msg.partition(), None)
                if msg.value() is None:
                    continue
                yield decode(msg.value()) if decode else json.loads(msg.value())
        if ends:
            raise TimeoutError(f"{topic}: partitions {sorted(ends)} not read to their end")
    finally:
        consumer.close()


def output_total(bootstrap: str, topics: list[str]) -> int:
    """Sum of the high watermarks of `topics` (how many records were ever published)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "storm-watch"})
    try:
        total = 0
        metadata = consumer.list_topics(timeout=10).topics
        for topic in topics:
            for p in metadata[topic].partitions:
                total += consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
        return total
    finally:
        consumer.close()


# ------------------------------------------------------------------ the storm


class OutputWatch(threading.Thread):
    """Polls the output topics' high watermarks; `first_output_after(t)` gives restart times."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topics = bootstrap, topics
        self.samples: list[tuple[float, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "storm-watch", "log_level": 0})
        parts = None
        while not self.stopped.is_set():
            try:
                if parts is None:
                    metadata = consumer.list_topics(timeout=5).topics
                    parts = [
                        TopicPartition(t, p)
                        for t in self.topics
                        if t in metadata
                        for p in metadata[t].partitions
                    ]
                total = sum(consumer.get_watermark_offsets(tp, timeout=5, cached=False)[1] for tp in parts)
                self.samples.append((time.monotonic(), total))
            except Exception:  # the broker may be down on purpose
                time.sleep(0.5)
            time.sleep(0.1)
        consumer.close()

    def wait_for_output_after(
        self, start: float, proc: subprocess.Popen[bytes], timeout_s: float
    ) -> float | None:
        """When the first new output after `start` was seen (None: not within the timeout)."""
        while time.monotonic() < start + timeout_s and proc.poll() is None:
            found = self.first_output_after(start, time.monotonic())
            if found is not None:
                return start + found
            time.sleep(0.1)
        return None

    def first_output_after(self, start: float, end: float) -> float | None:
        before = [n for t, n in self.samples if t <= start]
        base = before[-1] if before else 0
        for t, n in self.samples:
            if start < t <= end and n > base:
                return t - start
        return None


def _split(source: Path, count: int) -> list[Path]:
    """`source` as `count` consecutive JSON Lines files of about equal size (in input order)."""
    lines = source.read_text().splitlines(keepends=True)
    size = -(-len(lines) // count)
    parts = []
    for n in range(count):
        part = source.with_name(f"{source.stem}.part{n:02d}.jsonl")
        part.write_text("".join(lines[n * size : (n + 1) * size]))
        parts.append(part)
    return parts


def _progress(store: Path) -> tuple[int, int, int, int] | None:
    """(latest snapshot epoch, last execution, its resume epoch, its frontier); None if unreadable."""
    snapped, executions, fronts = 0, {}, {}
    for part in sorted(store.glob("part-*.sqlite3")):
        try:
            with contextlib.closing(sqlite3.connect(f"file:{part}?mode=ro", uri=True, timeout=0.2)) as conn:
                row = conn.execute("SELECT coalesce(max(snap_epoch), 0) FROM snaps").fetchone()
                snapped = max(snapped, row[0])
                executions.update(conn.execute("SELECT ex_num, resume_epoch FROM exs").fetchall())
                query = "SELECT ex_num, worker_index, worker_frontier FROM fronts"
                for ex, worker, frontier in conn.execute(query):
                    fronts[(ex, worker)] = max(frontier, fronts.get((ex, worker), frontier))
        except sqlite3.Error:
            return None
    if not executions:
        return None
    last = max(executions)
    frontier = min((f for (ex, _), f in fronts.items() if ex == last), default=executions[last])
    return snapped, last, executions[last], frontier


def wait_for_first_commit(store: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait until the running execution has committed an epoch (True) or the timeout (False)."""
    deadline = time.monotonic() + timeout_s
    known = _progress(store)
    while time.monotonic() < deadline and proc.poll() is None:
        now = _progress(store)
        # A new execution's row appears at its start; its frontier moves past its resume epoch.
        if now is not None and (known is None or now[1] > known[1]) and now[3] > now[2]:
            return True
        time.sleep(0.01)
    return False


def in_commit_window(store: Path) -> bool:
    """Whether the last execution has written snapshots at or after its frontier.

    bytewax writes an epoch's snapshots as its steps finish it and the frontier once the
    whole epoch is done (sink included): a kill in between leaves snapshots of an epoch that
    the next execution resumes at, i.e. of an abandoned timeline.
    """
    progress = _progress(store)
    return progress is not None and progress[0] >= progress[3]


def wait_for_commit_window(store: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait until `in_commit_window` (True) or the timeout (False)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if in_commit_window(store):
            return True
        time.sleep(0.01)
    return False


def busy_loop() -> None:  # pragma: no cover - runs in a child process
    while True:
        pass


@dataclass
class Storm:
    events: int = 120_000
    keys: int = 2_000
    seed: int = Spec().seed
    kills: int = 15
    min_life: float = 0.5
    max_life: float = 10.0
    early_share: float = 0.3
    """Share of lives killed within their first 0.3-3 s."""
    window_share: float = 0.0
    """Share of the other lives killed while an epoch is being committed: its snapshots are
    (partly) written to the recovery store, its frontier is not yet (see `in_commit_window`).
    The life after such a one is killed as soon as it has committed its first epoch: that is
    when snapshots a killed life left behind would be taken for the new timeline's."""
    after_output: bool = True
    """Other lives are killed min_life..max_life s after their first new output (else after start)."""
    snapshot_interval_s: int = 10
    chunks: int = 1
    """The input is published in this many parts, the next one before each life starts, so a
    quick host cannot finish the whole input before the kills are spent."""
    busy: bool = False
    broker_restart_s: float | None = None
    value_format: str = "avro"
    plants: int = Spec().plants
    families: int = 1
    """Independent BOM families per plant (`bench.data.Spec.families`)."""
    groups: int = 0
    """Plan in at most this many planning groups per plant, as `mfgsync groups` suggests
    (the replay plans every plant whole)."""


def run_storm(
    storm: Storm, bootstrap: str, registry: str | None, work: Path, broker_control: Any = None
) -> dict[str, Any]:
    """The whole storm against a broker; returns the report (see the module docstring)."""
    prefix = f"storm{storm.seed % 1000}x{os.getpid()}{int(time.time()) % 100000}."
    settings = {"snapshot_interval_s": str(storm.snapshot_interval_s), "value_format": storm.value_format}
    env = service_env(bootstrap, registry or "", prefix, **settings)
    env["MFGSYNC_LOG_LEVEL"] = "WARNING"
    if not registry:
        env.pop("MFGSYNC_SCHEMA_REGISTRY_URL", None)
    spec = Spec(
        events=storm.events, keys=storm.keys, seed=storm.seed, plants=storm.plants, families=storm.families
    )
    work.mkdir(parents=True, exist_ok=True)
    source = work / "events.jsonl"
    with source.open("w") as out:
        for event in generate(spec):
            out.write(json.dumps({"type": type(event).__name__, **event.model_dump(mode="json")}) + "\n")
    replay_env = dict(env)
    if storm.groups:
        groups_file = work / "planning-groups.json"
        groups_file.write_text(run_cli(env, "groups", "--input", str(source), "--groups", str(storm.groups)))
        env["MFGSYNC_PLANNING_GROUPS"] = str(groups_file)

    run_cli(env, "topics", "create", "--partitions", "4")
    parts = _split(source, max(1, storm.chunks))

    def publish_next_part() -> None:
        if parts:
            run_cli(env, "produce", "--input", str(parts.pop(0)))

    publish_next_part()

    recovery = work / "recovery"
    today = spec.today.isoformat()
    # Killed lives follow the topics (they never end by themselves, so every kill lands, also
    # on a host quick enough to catch up); the last life runs to the end of the input.
    run_args = ["run", "--recovery-dir", str(recovery), "--today", today]
    # A restart counts as quick when a changelog gets a new record soon (counts do not count).
    outputs = [prefix + t for t in (*CHANGELOGS, "sync.dlq")]
    watch = OutputWatch(bootstrap, outputs)
    watch.start()
    busy = multiprocessing.Process(target=busy_loop, daemon=True) if storm.busy else None
    if busy is not None:
        busy.start()
    rng = random.Random(storm.seed)
    lives: list[dict[str, Any]] = []
    broker_restart: threading.Thread | None = None
    if storm.broker_restart_s is not None and broker_control is not None:
        broker_restart = threading.Thread(
            target=_restart_broker, args=(broker_control, storm.broker_restart_s), daemon=True
        )
        broker_restart.start()
    log = (work / "service.log").open("ab")
    try:
        while len(lives) < storm.kills:
            if lives:
                publish_next_part()
            early = rng.random() < storm.early_share
            life = rng.uniform(0.3, 3.0) if early else rng.uniform(storm.min_life, storm.max_life)
            started = time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "mfgsync.flows.cli", *run_args],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            after_window = bool(lives) and lives[-1].get("in_commit_window") is True
            in_window = not early and not after_window and rng.random() < storm.window_share
            if not early and storm.after_output:
                # Kill a life at a random moment once it is productive, however slow the host.
                productive = watch.wait_for_output_after(started, proc, timeout_s=OUTPUT_WAIT_S)
                life = (productive - started if productive else OUTPUT_WAIT_S) + rng.uniform(
                    storm.min_life, storm.max_life
                )
            if in_window:
                # From that moment on, at the next commit of an epoch (or a little later).
                time.sleep(max(0.0, life - (time.monotonic() - started)))
                caught = wait_for_commit_window(recovery, proc, timeout_s=storm.max_life + 10)
                life = time.monotonic() - started + (0.0 if caught else 0.01)
            if after_window:
                committed = wait_for_first_commit(recovery, proc, timeout_s=OUTPUT_WAIT_S + storm.max_life)
                life = time.monotonic() - started + (0.0 if committed else 0.01)
            try:
                rc = proc.wait(timeout=max(0.0, life - (time.monotonic() - started)))
                raise RuntimeError(f"mfgsync run exited {rc} by itself (see {work / 'service.log'})")
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                ended = time.monotonic()
                lives.append(
                    {
                        "life_s": round(ended - started, 2),
                        "killed": True,
                        "first_output_s": _round(watch.first_output_after(started, ended)),
                        **({"in_commit_window": caught} if in_window else {}),
                        **({"at_first_commit": committed} if after_window else {}),
                    }
                )
        while parts:
            publish_next_part()
        started = time.monotonic()
        run_cli(env, *run_args, "--exit-at-end", timeout=1800)
        ended = time.monotonic()
        lives.append(
            {
                "life_s": round(ended - started, 2),
                "exit": 0,
                "first_output_s": _round(watch.first_output_after(started, ended)),
            }
        )
    finally:
        log.close()
        watch.stopped.set()
        if broker_restart is not None:
            broker_restart.join()
        if busy is not None:
            busy.terminate()

    replay_dir = work / "replay"
    run_cli(replay_env, "replay", "--input", str(source), "--output", str(replay_dir), "--today", today)
    topics: dict[str, Any] = {}
    equal = True
    for topic in CHANGELOGS:
        expected = live(replay_changelog(replay_dir / f"{topic}.jsonl"))
        got = live(topic_records(bootstrap, registry, prefix + topic))
        diff = compare(got, expected)
        equal &= diff.equal
        topics[topic] = diff.summary()
    counts = published_counts(topic_records(bootstrap, registry, prefix + COUNTS))
    kills = sum(1 for life in lives if life.get("killed"))
    restart_times = [life["first_output_s"] for life in lives[1:] if life.get("first_output_s") is not None]
    report = {
        "events": storm.events,
        "keys": storm.keys,
        "seed": storm.seed,
        "plants": storm.plants,
        "planning_groups": storm.groups,
        "kills": kills,
        "early_kills": sum(1 for life in lives if life.get("killed") and life["life_s"] < 3.5),
        "commit_window_kills": sum(1 for life in lives if life.get("in_commit_window")),
        "first_commit_kills": sum(1 for life in lives if life.get("at_first_commit")),
        "busy_core": storm.busy,
        "broker_restarted": broker_restart is not None,
        "lives": lives,
        "restart_to_first_output_s": {
            "max": max(restart_times, default=None),
            "median": sorted(restart_times)[len(restart_times) // 2] if restart_times else None,
            "lives_with_output": len(restart_times),
        },
        "topics": topics,
        "counts": counts,
        "counts_balance": counts.get("read") == sum(counts.get(o, 0) for o in OUTCOMES) == storm.events,
        "equal": equal,
    }
    return report


def published_counts(records: Iterator[dict[str, Any]]) -> dict[str, int]:
    """Outcome totals over every input topic from the service's latest `sync.counts` records."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[record_id(record)] = record
    totals: dict[str, int] = {}
    for record in latest.values():
        totals[record["outcome"]] = totals.get(record["outcome"], 0) + int(record["count"])
    return totals


def _restart_broker(control: Any, after_s: float, down_s: float = 20.0) -> None:
    time.sleep(after_s)
    control.stop()
    time.sleep(down_s)
    control.start()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


class _Broker:
    """Stop and start the storm's own broker (same data directory and ports)."""

    def __init__(self, directory: Path, port: int, controller_port: int) -> None:
        self.directory, self.port, self.controller_port = directory, port, controller_port

    def _script(self, *args: str) -> None:
        env = {**os.environ, "MFGSYNC_KAFKA_CONTROLLER_PORT": str(self.controller_port)}
        subprocess.run(
            [str(ROOT / "scripts" / "kafka"), *args, "--dir", str(self.directory)],
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )

    def start(self) -> None:
        self._script("start", "--port", str(self.port))

    def stop(self) -> None:
        self._script("stop")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=Storm.events)
    parser.add_argument("--keys", type=int, default=Storm.keys)
    parser.add_argument("--seed", type=int, default=Storm.seed)
    parser.add_argument("--kills", type=int, default=Storm.kills)
    parser.add_argument("--min-life", type=float, default=Storm.min_life, help="s after first output")
    parser.add_argument("--max-life", type=float, default=Storm.max_life)
    parser.add_argument("--early-share", type=float, default=Storm.early_share)
    parser.add_argument(
        "--window-share", type=float, default=Storm.window_share, help="share killed while an epoch commits"
    )
    parser.add_argument("--snapshot-interval", type=int, default=Storm.snapshot_interval_s)
    parser.add_argument("--chunks", type=int, default=Storm.chunks, help="publish the input in N parts")
    parser.add_argument("--busy", action="store_true", help="keep one core busy beside the service")
    parser.add_argument("--from-start", action="store_true", help="lives measured from start, not output")
    parser.add_argument("--broker-restart", type=float, default=None, help="stop the broker 20 s, S s in")
    parser.add_argument("--json", action="store_true", help="JSON values instead of Avro")
    parser.add_argument("--plants", type=int, default=Storm.plants)
    parser.add_argument("--families", type=int, default=Storm.families, help="BOM families per plant")
    parser.add_argument("--groups", type=int, default=0, help="plan in at most N planning groups per plant")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--registry", help="use this registry instead of starting one")
    parser.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = parser.parse_args()
    storm = Storm(
        events=args.events,
        keys=args.keys,
        seed=args.seed,
        kills=args.kills,
        min_life=args.min_life,
        max_life=args.max_life,
        early_share=args.early_share,
        window_share=args.window_share,
        snapshot_interval_s=args.snapshot_interval,
        chunks=args.chunks,
        busy=args.busy,
        after_output=not args.from_start,
        broker_restart_s=args.broker_restart,
        value_format="json" if args.json else "avro",
        plants=args.plants,
        families=args.families,
        groups=args.groups,
    )
    from tests.services import free_ports, kafka_broker, schema_registry

    with contextlib.ExitStack() as stack:
        work = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        bootstrap, registry, control = args.bootstrap, args.registry, None
        if bootstrap is None:
            port, controller = free_ports(2)
            broker_dir = work / "broker" / "kafka"
            control = _Broker(broker_dir, port, controller)
            control.start()
            stack.callback(control.stop)
            bootstrap = f"127.0.0.1:{port}"
        if registry is None and not args.json:
            registry = stack.enter_context(schema_registry(work / "registry"))
        del kafka_broker
        report = run_storm(storm, bootstrap, registry if not args.json else None, work, control)
    print(RESULT_PREFIX + json.dumps(report))
    return 0 if report["equal"] and report["counts_balance"] else 1


if __name__ == "__main__":
    sys.exit(main())
