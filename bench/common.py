"""Helpers shared by the benchmark parts: paths, service environment, topic statistics, JSON output.

Nothing here imports bytewax, so the Quix peer (its own virtualenv) may import it too.
"""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
QUIX_VENV = BENCH / ".venv-quix"
TODAY = date(2026, 3, 2)
"""Planning date of the throughput data (fixed, so every run plans the same)."""
EPOCH = datetime(2026, 3, 1, tzinfo=UTC)
"""Event time of the first generated event; later ones follow a millisecond apart."""

RESULT_PREFIX = "BENCH-RESULT "
"""A part run as a subprocess prints its result as one JSON line after this marker."""


def service_env(
    bootstrap: str, registry: str, prefix: str, *, today: date | None = TODAY, **settings: str
) -> dict[str, str]:
    """Environment for `python -m mfgsync.flows.cli ...` against the bench broker and registry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MFGSYNC_")}
    env.update(
        {
            "MFGSYNC_KAFKA_BOOTSTRAP": bootstrap,
            "MFGSYNC_SCHEMA_REGISTRY_URL": registry,
            "MFGSYNC_VALUE_FORMAT": "avro",
            "MFGSYNC_TOPIC_PREFIX": prefix,
            "MFGSYNC_METRICS_PORT": "0",
            "MFGSYNC_CONSUMER_GROUP": f"mfgsync-{prefix}",
            "MFGSYNC_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    if today is not None:
        env["MFGSYNC_TODAY"] = today.isoformat()
    env.update({f"MFGSYNC_{k.upper()}": v for k, v in settings.items()})
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 900) -> str:
    """Run `mfgsync ARGS` (a fresh interpreter, from the repository root); its stdout.

    Raises RuntimeError with the end of its stderr when it exits non-zero.
    """
    done = subprocess.run(
        [sys.executable, "-m", "mfgsync.flows.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"mfgsync {' '.join(args)} exited {done.returncode}: {done.stderr[-3000:]}")
    return done.stdout


def stop_group(proc: subprocess.Popen[bytes], waits_s: tuple[float, float, float] = (30, 15, 15)) -> None:
    """Stop a process group started with ``start_new_session``: SIGINT, then SIGTERM, then SIGKILL."""
    for sig, wait_s in zip((signal.SIGINT, signal.SIGTERM, signal.SIGKILL), waits_s, strict=True):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            continue


def emit_result(result: dict[str, Any]) -> None:
    """Print a part's result for the orchestrator (`bench.run`)."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def run_part(
    command: Sequence[str], *, timeout_s: float, log: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run a part as a subprocess (fresh interpreter, fresh heap); return its JSON result."""
    started = time.time()
    with log.open("w") as out:
        proc = subprocess.run(
            list(command),
            cwd=ROOT,
            env=env or {**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=out,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line[len(RESULT_PREFIX) :])
            result.setdefault("part_wall_s", round(time.time() - started, 2))
            return result
    tail = log.read_text()[-3000:] if log.exists() else ""
    msg = f"{' '.join(command)} exited {proc.returncode} without a result; stderr tail:\n{tail}"
    raise RuntimeError(msg)


def topic_stats(bootstrap: str, topics: Iterable[str], timeout_s: float = 30.0) -> dict[str, dict[str, Any]]:
    """Per topic: message count (high - low watermarks) and the first and last message timestamps (ms)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-stats",
            "enable.auto.commit": "false",
            "enable.partition.eof": "true",
        }
    )
    out: dict[str, dict[str, Any]] = {}
    try:
        metadata = consumer.list_topics(timeout=timeout_s).topics
        for topic in topics:
            found = metadata.get(topic)
            if found is None or found.error is not None:
                out[topic] = {"count": 0, "first_ms": None, "last_ms": None}
                continue
            count = 0
            firsts: list[int] = []
            lasts: list[int] = []
            for p in sorted(found.partitions):
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                count += max(0, high - low)
                if high > low:
                    firsts.append(_timestamp_at(consumer, topic, p, low, timeout_s))
                    lasts.append(_timestamp_at(consumer, topic, p, high - 1, timeout_s))
            out[topic] = {
                "count": count,
                "first_ms": min(firsts) if firsts else None,
                "last_ms": max(lasts) if lasts else None,
            }
    finally:
        consumer.close()
    return out


def _timestamp_at(consumer: Any, topic: str, partition: int, offset: int, timeout_s: float) -> int:
    from confluent_kafka import TopicPartition

    consumer.assign([TopicPartition(topic, partition, offset)])
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error() is not None:
            continue
        return int(msg.timestamp()[1])
    msg_text = f"no message at {topic}[{partition}]@{offset}"
    raise TimeoutError(msg_text)


def machine() -> dict[str, Any]:
    """The machine and library versions, for the results."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str] = {}
    from importlib import metadata

    for name in ("bytewax", "confluent-kafka", "fastavro", "pydantic", "pydantic-core"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gb": mem_gb,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "versions": versions,
    }


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (q in 0..1)."""
    if not sorted_values:
        return None
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
