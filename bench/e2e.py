"""mfgsync end to end: the real service over the benchmark topics, from first record to exit.

Runs `python -m mfgsync.flows.cli run --exit-at-end` (one worker, metrics port 0, the planning date
fixed) with `MFGSYNC_*` settings for the bench broker, registry and topic prefix, and waits
for it to exit: every input partition read to its end, planned, and every output flushed.

With a cap (`cap_s`, used by the full run: the service is far slower than the data is long),
the service is stopped at the cap and the rate is the input records it had read by then
(its consumer group's committed offsets, sampled every 10 s) over the time since its first
output; the samples are kept, so a rate that drifts as state grows is visible.

Throughput = input records / (process exit - timestamp of the first output record). The
first output's Kafka timestamp is set by the service's producer when it emitted it, so the
window excludes interpreter start, dataflow build and partition assignment, and includes
everything from the first processed batch to the final flush. The wall time from spawn to
exit is reported too.

`reset_outputs` deletes and recreates the output topics so the service can run again on the
same input (otherwise a second run would adopt the first run's records on start).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, service_env, stop_group, topic_stats
from mfgsync.schemas.events import TOPIC_TYPES
from mfgsync.schemas.outputs import OUTPUT_TYPES


def output_topics(prefix: str) -> list[str]:
    return [prefix + t for t in sorted(OUTPUT_TYPES)]


def reset_outputs(bootstrap: str, registry: str, prefix: str) -> None:
    """Delete the output topics of `prefix` and create them again (empty)."""
    from confluent_kafka.admin import AdminClient

    from bench.data import create_topics

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = output_topics(prefix)
    for future in admin.delete_topics(topics, operation_timeout=30).values():
        try:
            future.result(timeout=60)
        except Exception:
            pass
    deadline = time.time() + 60
    while time.time() < deadline:
        present = admin.list_topics(timeout=10).topics
        if not any(t in present for t in topics):
            break
        time.sleep(0.5)
    for _ in range(20):
        try:
            create_topics(bootstrap, registry, prefix)
            return
        except RuntimeError:  # deletion still in progress on the broker
            time.sleep(1)
    create_topics(bootstrap, registry, prefix)


def command(profile_to: Path | None = None, rate: int = 100) -> list[str]:
    """The service command.

    Profiling runs what `mfgsync run --exit-at-end` runs (bytewax's runner on
    `mfgsync.flows.service:flow`, MFGSYNC_TAIL=false) directly under py-spy, which does not reliably
    follow the CLI's subprocess.
    """
    if profile_to is None:
        return [sys.executable, "-m", "mfgsync.flows.cli", "run", "--exit-at-end", "--workers", "1"]
    return [
        "py-spy", "record", "--format", "raw", "--rate", str(rate), "-o", str(profile_to), "--",
        sys.executable, "-m", "bytewax.run", "mfgsync.flows.service:flow", "-w", "1",
    ]  # fmt: skip


class Progress:
    """Input records the service has read, from its consumer group's committed offsets.

    The source commits its read position every 5 s and at each snapshot (at most one batch
    ahead of processing), so this is accurate to a few seconds of input.
    """

    def __init__(self, bootstrap: str, prefix: str, group: str) -> None:
        from confluent_kafka import Consumer, TopicPartition

        self._consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": "false"}
        )
        topics = self._consumer.list_topics(timeout=30).topics
        self._parts = [
            TopicPartition(prefix + t, p)
            for t in sorted(TOPIC_TYPES)
            for p in sorted(topics[prefix + t].partitions)
        ]

    def read(self) -> int:
        committed = self._consumer.committed(self._parts, timeout=10)
        return sum(max(0, tp.offset) for tp in committed)

    def close(self) -> None:
        self._consumer.close()


def run(
    bootstrap: str,
    registry: str,
    prefix: str,
    expected: int,
    *,
    timeout_s: float,
    log: Path,
    profile_to: Path | None = None,
    cap_s: float = 0,
    pythonpath: str | None = None,
) -> dict[str, Any]:
    """Run the service to the end of the input, or for at most `cap_s` seconds (0: no cap).

    Capped, the service is stopped and the rate is the records read (committed offsets) over
    the time from its first output to the last progress sample. `pythonpath` runs the
    service from another checkout (`bench/e2e_pair.py`).
    """
    env = service_env(bootstrap, registry, prefix, tail="false")
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    progress = Progress(bootstrap, prefix, env["MFGSYNC_CONSUMER_GROUP"])
    samples: list[tuple[float, int]] = []
    started = time.time()
    limit = min(timeout_s, cap_s) if cap_s else timeout_s
    with log.open("w") as err:
        proc = subprocess.Popen(
            command(profile_to), cwd=ROOT, env=env, stdout=err, stderr=err, start_new_session=True
        )
        try:
            while proc.poll() is None and time.time() - started < limit:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    samples.append((time.time(), progress.read()))
        finally:
            capped = proc.poll() is None
            stop_group(proc)
            progress.close()
    exited = time.time()
    if not capped and proc.returncode != 0:
        raise RuntimeError(f"service exited {proc.returncode}; log {log}: {log.read_text()[-2000:]}")
    stats = topic_stats(bootstrap, output_topics(prefix))
    firsts = [s["first_ms"] for s in stats.values() if s["first_ms"] is not None]
    first = min(firsts) / 1000 if firsts else started
    if capped:
        end, processed = samples[-1] if samples else (exited, 0)
    else:
        end, processed = exited, expected
    window = end - first
    return {
        "completed": not capped,
        "cap_s": cap_s or None,
        "messages": processed,
        "input_records": expected,
        "seconds": round(window, 3),
        "msg_per_s": round(processed / window, 1) if window > 0 else None,
        "wall_s": round(exited - started, 3),
        "startup_s": round(first - started, 3),
        "outputs": {t.removeprefix(prefix): s["count"] for t, s in stats.items()},
        "output_records": sum(s["count"] for s in stats.values()),
        "progress": [(round(t - first, 1), n) for t, n in samples],
        "profiled": profile_to is not None,
    }
