"""Scaling over processes: the real service on one topic set with 1, 2 (and 4) processes.

Driven from outside as an operator would: its own broker and registry (`tests/services.py`),
`mfgsync topics create --partitions 8`, `mfgsync produce` of `bench.data.generate(spec)`,
then for each process count N a fresh run of N `mfgsync run --exit-at-end` processes, one
worker each, clustered with `-i K -a "127.0.0.1:p0;127.0.0.1:p1;..."` (N = 1: no `-a`), no
recovery store, on emptied output topics and a fresh consumer group. Finally
`mfgsync replay` of the same input with the same `--today`.

Per run:
- throughput: input records / (last process exit - timestamp of the first output record),
  as `bench/e2e.py` defines it;
- CPU-seconds per record: user + system time of every process of the run over the same
  window (at exit from `os.wait4`, less what `/proc/PID/stat` showed when the first output
  came), summed, over the input records; also over the processes' whole lives (start-up,
  imports and reading the changelogs back included: a fixed cost per process);
- events handed over: how many input events a process read and handed to a plant on another
  process (the `exchanged` count of each process's stop line): 0 when the records are in their
  planning key's partition, as `mfgsync produce` puts them (`--by-key` publishes them in the
  partition their record key gives instead, as a producer off the contract would);
- whether every changelog (latest record per id, closed ones left out, `state` ignored) is
  equal to the first run's and to the replay's.

    python -m bench.scale                 # 200,000 events / 4,000 keys; 1, 2 (and 4 with >= 4 cores)
    python -m bench.scale --quick         # 40,000 events / 1,000 keys
    python -m bench.scale --processes 1,2,4 --events 100000 --keys 2000
    python -m bench.scale --recovery --snapshot-interval 10   # each run with its own store
    python -m bench.scale --plants 1 --families 8 --groups 8  # one plant split by planning groups
    python -m bench.scale --by-key        # partitioned by record key, as a producer off the contract

With `--groups N` the input's plants have `--families` independent BOM families each, and
every run uses the planning groups `mfgsync groups --input ... --groups N` suggests
(`MFGSYNC_PLANNING_GROUPS`); the replay plans every plant whole, so "equal to the replay"
also says that planning in groups gives the answer of planning the plant whole.

The result is printed as a table and as JSON (`BENCH-RESULT {...}`); exit status 1 when a
changelog differs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import RESULT_PREFIX, ROOT, machine, run_cli, service_env, stop_group, topic_stats
from bench.data import Spec, generate
from bench.e2e import output_topics, reset_outputs
from bench.storm import CHANGELOGS, compare, live, replay_changelog, topic_records
from mfgsync.flows.placement import record_key

QUICK = Spec(events=40_000, keys=1_000)
FULL = Spec(events=200_000, keys=4_000)
PARTITIONS = 8


def cluster_commands(
    processes: int, workers: int, ports: list[int], recovery: Path | None = None
) -> list[list[str]]:
    """The `mfgsync run` command of each process of a cluster of `processes` (one address each)."""
    base = [sys.executable, "-m", "mfgsync.flows.cli", "run", "--exit-at-end", "--quiet", "-w", str(workers)]
    if recovery is not None:
        base += ["--recovery-dir", str(recovery)]  # one directory shared by the processes
    if processes == 1:
        return [base]
    addresses = ";".join(f"127.0.0.1:{p}" for p in ports)
    return [[*base, "-i", str(i), "-a", addresses] for i in range(processes)]


def run_cluster(
    env: dict[str, str],
    processes: int,
    workers: int,
    events: int,
    log: Path,
    timeout_s: float,
    recovery: Path | None = None,
) -> dict[str, Any]:
    """Run one cluster to the end of the input; throughput and CPU time of all its processes."""
    from tests.services import free_ports

    commands = cluster_commands(processes, workers, free_ports(processes), recovery)
    started = time.time()
    procs: list[subprocess.Popen[bytes]] = []
    cpu: dict[int, float] = {}
    exits: dict[int, int] = {}
    samples: list[tuple[float, dict[int, float]]] = []  # (time, CPU-seconds so far per live pid)
    with log.open("w") as out:
        try:
            for command in commands:
                procs.append(
                    subprocess.Popen(
                        command, cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True
                    )
                )
            deadline = started + timeout_s
            while len(exits) < len(procs) and time.time() < deadline:
                samples.append((time.time(), {p.pid: _cpu_s(p.pid) for p in procs if p.pid not in exits}))
                for proc in procs:
                    if proc.pid in exits:
                        continue
                    pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                    if pid == 0:
                        continue
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    exits[proc.pid] = proc.returncode
                    cpu[proc.pid] = usage.ru_utime + usage.ru_stime
                time.sleep(0.2)
        finally:
            for proc in procs:
                if proc.pid not in exits:
                    stop_group(proc)
    exited = time.time()
    if len(exits) < len(procs) or any(exits.values()):
        raise RuntimeError(
            f"{processes} process(es): exits {exits} after {exited - started:.0f} s; log {log}"
        )
    stats = topic_stats(env["MFGSYNC_KAFKA_BOOTSTRAP"], output_topics(env["MFGSYNC_TOPIC_PREFIX"]))
    firsts = [s["first_ms"] for s in stats.values() if s["first_ms"] is not None]
    first = min(firsts) / 1000 if firsts else started
    window = exited - first
    cpu_s = sum(cpu.values())
    before = {p.pid: 0.0 for p in procs}  # CPU each process had used when the first output came
    for at, used in samples:
        if at <= first:
            before.update(used)
    cpu_window = cpu_s - sum(before.values())
    return {
        "processes": processes,
        "workers_per_process": workers,
        "seconds": round(window, 2),
        "msg_per_s": round(events / window, 1),
        "wall_s": round(exited - started, 2),
        "cpu_s": round(cpu_window, 2),
        "cpu_s_per_process": [round(cpu[p.pid] - before[p.pid], 2) for p in procs],
        "cpu_us_per_record": round(cpu_window / events * 1e6, 1),
        "cpu_s_whole_lives": round(cpu_s, 2),
        "cpu_us_per_record_whole_lives": round(cpu_s / events * 1e6, 1),
        "exchanged": handed_over(log, processes),
    }


def _produce_by_key(env: dict[str, str], source: Path) -> None:
    """Publish the events of `source` keyed like `mfgsync produce`, partitioned by that key."""
    from mfgsync.connectors.files import read_events
    from mfgsync.connectors.kafka import Message, produce_all
    from mfgsync.connectors.serde import Serde
    from mfgsync.flows.settings import Settings

    settings = Settings(
        kafka_bootstrap=env["MFGSYNC_KAFKA_BOOTSTRAP"],
        schema_registry_url=env["MFGSYNC_SCHEMA_REGISTRY_URL"],
        topic_prefix=env["MFGSYNC_TOPIC_PREFIX"],
    )
    serde = Serde(settings)
    invalid: list[str] = []
    messages = (
        Message(topic, record_key(event), serde.encode(topic, event))
        for event in read_events([source], invalid)
        for topic in [settings.topic(event.TOPIC)]
    )
    produce_all(settings.librdkafka(), messages, flush_timeout_s=120)
    if invalid:
        raise RuntimeError(f"{len(invalid)} invalid lines in {source}")


def handed_over(log: Path, processes: int) -> int | None:
    """Input events the processes handed to a plant on another process (their stop lines).

    None when a process logged no stop line (or one without the count).
    """
    counts = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"event": "stop"' in line:
            with contextlib.suppress(ValueError, TypeError):
                counts.append(int(json.loads(line)["exchanged"]))
    return sum(counts) if len(counts) == processes else None


TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """User + system CPU-seconds of a live process so far (/proc/PID/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def changelogs(env: dict[str, str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Latest live record per id of every changelog topic of the run."""
    bootstrap, registry, prefix = (
        env["MFGSYNC_KAFKA_BOOTSTRAP"],
        env["MFGSYNC_SCHEMA_REGISTRY_URL"],
        env["MFGSYNC_TOPIC_PREFIX"],
    )
    out = {}
    for topic in CHANGELOGS:
        for attempt in range(3):  # a loaded host may read a topic slower than the reader waits
            try:
                out[topic] = live(topic_records(bootstrap, registry, prefix + topic))
                break
            except TimeoutError:
                if attempt == 2:
                    raise
    return out


def differences(
    got: dict[str, dict[str, dict[str, Any]]], expected: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """Per changelog: lost, extra and conflicting records (empty dict: equal)."""
    out = {}
    for topic in CHANGELOGS:
        diff = compare(got[topic], expected[topic])
        if not diff.equal:
            out[topic] = diff.summary()
    return out


def run_scale(
    spec: Spec,
    process_counts: list[int],
    workers: int,
    bootstrap: str,
    registry: str,
    work: Path,
    *,
    recovery: bool = False,
    snapshot_interval_s: int = 10,
    groups: int = 0,
    aligned: bool = True,
) -> dict[str, Any]:
    """Publish `spec` once, run a cluster of each size on it, compare the changelogs (see above).

    With `recovery` every run has its own store (shared by its processes) and snapshots every
    `snapshot_interval_s`. With `groups` the runs (not the replay) plan in the planning groups
    that `mfgsync groups` suggests for the input, at most `groups` per plant. `aligned=False`
    publishes each record in the partition its key gives (librdkafka's default partitioner),
    not its planning key's, as a producer that ignores the contract would.
    """
    prefix = f"scale{os.getpid()}x{int(time.time()) % 100000}."
    env = service_env(
        bootstrap,
        registry,
        prefix,
        today=spec.today,
        snapshot_interval_s=str(snapshot_interval_s),
        connect_timeout_s="120",  # a loaded host: deliveries of `produce` may take long
    )
    env["MFGSYNC_LOG_LEVEL"] = "INFO"  # each process's stop line says how many events it handed over
    source = work / "events.jsonl"
    with source.open("w") as out:
        for event in generate(spec):
            out.write(json.dumps({"type": type(event).__name__, **event.model_dump(mode="json")}) + "\n")
    group_sizes: dict[str, list[int]] = {}
    if groups:  # before `produce`: it puts each group's records in the group's partition
        groups_file = work / "planning-groups.json"
        groups_file.write_text(
            run_cli(
                env,
                "groups",
                "--input",
                str(source),
                "--groups",
                str(groups),
                "--partitions",
                str(PARTITIONS),
            )
        )
        suggested = json.loads(groups_file.read_text())
        group_sizes = {plant: [len(items) for items in g.values()] for plant, g in suggested.items()}
    replay_env = dict(env)
    if groups:
        env["MFGSYNC_PLANNING_GROUPS"] = str(groups_file)
    run_cli(env, "topics", "create", "--partitions", str(PARTITIONS))
    if aligned:
        run_cli(env, "produce", "--quiet", "--input", str(source))
    else:
        _produce_by_key(env, source)
    replay_dir = work / "replay"
    run_cli(
        replay_env,  # the plants planned whole
        "replay",
        "--quiet",
        "--input",
        str(source),
        "--output",
        str(replay_dir),
        "--today",
        spec.today.isoformat(),
    )
    replay = {t: live(replay_changelog(replay_dir / f"{t}.jsonl")) for t in CHANGELOGS}
    runs: list[dict[str, Any]] = []
    first: dict[str, dict[str, dict[str, Any]]] | None = None
    for n, processes in enumerate(process_counts):
        if n:
            reset_outputs(bootstrap, registry, prefix)
        run_env = {**env, "MFGSYNC_CONSUMER_GROUP": f"mfgsync-{prefix}run{n}"}
        store = work / f"recovery{n}" if recovery else None
        result = run_cluster(
            run_env, processes, workers, spec.events, work / f"run{n}.log", timeout_s=1800, recovery=store
        )
        if store is not None:
            result["store_mb"] = round(sum(f.stat().st_size for f in store.glob("part-*")) / 1e6, 1)
        print(f"{processes} process(es): {json.dumps(result)}", file=sys.stderr, flush=True)
        got = changelogs(run_env)
        first = first or got
        result["records"] = {t.split(".")[-1]: len(got[t]) for t in CHANGELOGS}
        result["differs_from_replay"] = differences(got, replay)
        result["differs_from_first_run"] = differences(got, first)
        result["equal"] = not (result["differs_from_replay"] or result["differs_from_first_run"])
        runs.append(result)
        print(_row(result, runs[0]), file=sys.stderr, flush=True)
    base = runs[0]
    for result in runs:
        result["speedup"] = round(result["msg_per_s"] / base["msg_per_s"], 2)
        result["cpu_per_record_ratio"] = round(result["cpu_us_per_record"] / base["cpu_us_per_record"], 2)
    return {
        "events": spec.events,
        "keys": spec.keys,
        "plants": spec.plants,
        "families": spec.families,
        "planning_groups": group_sizes,
        "seed": spec.seed,
        "partitions": PARTITIONS,
        "recovery": recovery,
        "load_average_before": _loadavg(),
        "runs": runs,
        "equal": all(r["equal"] for r in runs),
        "machine": machine(),
    }


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _row(r: dict[str, Any], base: dict[str, Any]) -> str:
    return (
        f"{r['processes']} x {r['workers_per_process']} worker | {r['msg_per_s']:>9,.0f} msg/s "
        f"({r['msg_per_s'] / base['msg_per_s']:.2f}x) | {r['cpu_us_per_record']:>6.1f} us CPU/record "
        f"({r['cpu_us_per_record'] / base['cpu_us_per_record']:.2f}x) | handed over {r['exchanged']} | "
        f"equal: {r['equal']} | "
        f"load {_loadavg()[0]}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK.events} events / {QUICK.keys} keys")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--keys", type=int, default=None)
    parser.add_argument("--plants", type=int, default=FULL.plants)
    parser.add_argument("--seed", type=int, default=FULL.seed)
    parser.add_argument(
        "--processes", default=None, help="comma-separated counts (default 1,2 and 4 with >= 4 cores)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker threads per process")
    parser.add_argument("--recovery", action="store_true", help="each run with a recovery store")
    parser.add_argument("--snapshot-interval", type=int, default=10, help="s between snapshots (--recovery)")
    parser.add_argument("--families", type=int, default=1, help="independent BOM families per plant")
    parser.add_argument("--groups", type=int, default=0, help="plan in at most this many groups per plant")
    parser.add_argument(
        "--by-key",
        action="store_true",
        help="publish each record in its key's partition, not its planning key's (README, Producer partitions)",
    )
    parser.add_argument("--keep", help="work directory to keep (default: a temporary one)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    spec = Spec(
        events=args.events or size.events,
        keys=args.keys or size.keys,
        plants=args.plants,
        seed=args.seed,
        families=args.families,
    )
    counts = [int(c) for c in args.processes.split(",")] if args.processes else [1, 2]
    if not args.processes and (os.cpu_count() or 1) >= 4:
        counts.append(4)
    from tests.services import kafka_broker, schema_registry

    with contextlib.ExitStack() as stack:
        work = Path(args.keep) if args.keep else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        bootstrap = stack.enter_context(kafka_broker(work / "broker"))
        registry = stack.enter_context(schema_registry(work / "registry"))
        report = run_scale(
            spec,
            counts,
            args.workers,
            bootstrap,
            registry,
            work,
            recovery=args.recovery,
            snapshot_interval_s=args.snapshot_interval,
            groups=args.groups,
            aligned=not args.by_key,
        )
    print(RESULT_PREFIX + json.dumps(report, default=str))
    return 0 if report["equal"] else 1


if __name__ == "__main__":
    sys.exit(main())
