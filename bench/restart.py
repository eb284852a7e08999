"""Restart time: how long `mfgsync run` takes from a restart to its first new output record.

Driven from outside through the CLI. The state is built once: `--events` events in the
shape of `bench/data.py` are published, `mfgsync run --recovery-dir R --today T` (default
10 s snapshots, 60 s backup) follows them until its committed offsets (those of durable snapshots) reach
the end of the input, a little longer, and is SIGKILLed. The recovery store is kept aside.
Then, `--restarts` times: the store is put back as it was, a few new events (`--fresh`, the
next ones of the same generated stream) are published, the service is started and the time
to the first new record on a changelog topic is taken; then it is killed again. Every
restart so resumes from the same state and has the same amount of new input (the new events
of earlier restarts are re-read too: they are after the snapshot).

    python -m bench.restart                      # own broker and registry, 120,000 events
    python -m bench.restart --restarts 5 --spy   # also a py-spy profile of the first restart

With `--spy` the first restart is recorded by `py-spy record` from its start (raw folded
stacks, `spy.txt` in the work directory). The service logs (INFO) of every restart are kept in the work directory, so
the phases of a start can be read off their timestamps. The result is printed as JSON
(`BENCH-RESULT {...}`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULT_PREFIX, ROOT, run_cli, service_env
from bench.data import Spec, generate
from bench.storm import CHANGELOGS, OutputWatch, _Broker
from mfgsync.schemas.events import TOPIC_TYPES

SETTLE_S = 15.0
"""The first life is killed this long after its committed offsets reached the end of the input."""


def committed_total(bootstrap: str, group: str, topics: list[str]) -> int:
    """Sum of `group`'s committed offsets over every partition of `topics` (durable snapshots)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": "false"})
    try:
        metadata = consumer.list_topics(timeout=10).topics
        parts = [TopicPartition(t, p) for t in topics if t in metadata for p in metadata[t].partitions]
        return sum(max(0, tp.offset) for tp in consumer.committed(parts, timeout=10))
    finally:
        consumer.close()


def _jsonl(events: list[Any], path: Path) -> Path:
    with path.open("w") as out:
        for event in events:
            out.write(json.dumps({"type": type(event).__name__, **event.model_dump(mode="json")}) + "\n")
    return path


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _spy(proc: subprocess.Popen[bytes], out: Path) -> subprocess.Popen[bytes]:
    """`py-spy record` of the service from its start (raw folded stacks in `out`)."""
    command = ["py-spy", "record", "-r", "50", "-f", "raw", "-o", str(out), "--pid", str(proc.pid)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure_restarts(
    bootstrap: str,
    registry: str,
    work: Path,
    *,
    events: int = 120_000,
    keys: int = 2_000,
    restarts: int = 5,
    fresh: int = 200,
    snapshot_interval_s: int = 10,
    spy: bool = False,
) -> dict[str, Any]:
    """Build the state once, then time `restarts` restarts from it (see the module docstring)."""
    prefix = f"restart{os.getpid()}x{int(time.time()) % 100000}."
    env = service_env(bootstrap, registry, prefix, snapshot_interval_s=str(snapshot_interval_s))
    env["MFGSYNC_LOG_LEVEL"] = "INFO"
    spec = Spec(events=events + restarts * fresh, keys=keys)
    work.mkdir(parents=True, exist_ok=True)
    stream = list(generate(spec))
    base = _jsonl(stream[:events], work / "base.jsonl")
    parts = [
        _jsonl(stream[events + n * fresh : events + (n + 1) * fresh], work / f"fresh{n:02d}.jsonl")
        for n in range(restarts)
    ]

    run_cli(env, "topics", "create", "--partitions", "4")
    run_cli(env, "produce", "--input", str(base))
    recovery, kept = work / "recovery", work / "recovery.built"
    run = [sys.executable, "-m", "mfgsync.flows.cli", "run", "--recovery-dir", str(recovery)]
    run += ["--today", spec.today.isoformat()]
    watch = OutputWatch(bootstrap, [prefix + t for t in (*CHANGELOGS, "sync.dlq")])
    watch.start()

    def start(name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], float]:
        log = (work / f"{name}.log").open("wb")
        started = time.monotonic()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        log.close()
        return proc, started

    try:
        built = time.monotonic()
        proc, _ = start("build", run)
        inputs = [prefix + t for t in sorted(TOPIC_TYPES)]
        group = env["MFGSYNC_CONSUMER_GROUP"]
        while proc.poll() is None:
            with contextlib.suppress(Exception):  # the group's coordinator may not be known yet
                if committed_total(bootstrap, group, inputs) >= events:
                    break
            time.sleep(2.0)
        time.sleep(SETTLE_S)
        if proc.poll() is not None:
            raise RuntimeError(f"the building life exited {proc.returncode} (see {work / 'build.log'})")
        _kill(proc)
        build_s = time.monotonic() - built
        shutil.copytree(recovery, kept)
        times: list[float | None] = []
        for n, part in enumerate(parts):
            shutil.rmtree(recovery)
            shutil.copytree(kept, recovery)
            run_cli(env, "produce", "--input", str(part))
            time.sleep(1.0)  # the watch has a sample of the output before the start
            proc, started = start(f"restart{n:02d}", run)
            profiler = _spy(proc, work / "spy.txt") if spy and n == 0 else None
            found = watch.wait_for_output_after(started, proc, timeout_s=120.0)
            times.append(None if found is None else round(found - started, 2))
            time.sleep(1.0)
            _kill(proc)
            if profiler is not None:
                profiler.wait(60)  # it writes its profile once the service is gone
    finally:
        watch.stopped.set()
    measured = sorted(t for t in times if t is not None)
    return {
        "events": events,
        "keys": keys,
        "fresh_per_restart": fresh,
        "snapshot_interval_s": snapshot_interval_s,
        "build_s": round(build_s, 1),
        "restart_to_first_output_s": times,
        "median_s": measured[len(measured) // 2] if measured else None,
        "max_s": measured[-1] if measured else None,
        "work": str(work),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=120_000)
    parser.add_argument("--keys", type=int, default=2_000)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument("--fresh", type=int, default=200, help="new events published before each restart")
    parser.add_argument("--snapshot-interval", type=int, default=10)
    parser.add_argument("--spy", action="store_true", help="py-spy profile of the first restart")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--registry", help="use this registry instead of starting one")
    parser.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = parser.parse_args()
    from tests.services import free_ports, schema_registry

    with contextlib.ExitStack() as stack:
        work = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        bootstrap, registry = args.bootstrap, args.registry
        if bootstrap is None:
            port, controller = free_ports(2)
            broker = _Broker(work / "broker" / "kafka", port, controller)
            broker.start()
            stack.callback(broker.stop)
            bootstrap = f"127.0.0.1:{port}"
        if registry is None:
            registry = stack.enter_context(schema_registry(work / "registry"))
        result = measure_restarts(
            bootstrap,
            registry,
            work,
            events=args.events,
            keys=args.keys,
            restarts=args.restarts,
            fresh=args.fresh,
            snapshot_interval_s=args.snapshot_interval,
            spy=args.spy,
        )
    print(RESULT_PREFIX + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
