"""Every benchmark figure with one command: `python -m bench.run [--quick] [--profile]`.

Starts its own Kafka broker and Schema Registry (`tests/services.py`), creates the Quix
Streams virtualenv if missing (`bench/.venv-quix`), then:
1. data: generates the mixed events (`bench/data.py`) and publishes them once (Avro, 4 partitions);
2. ceiling: plain consumer + decode + validate (`bench/ceiling.py`), before and after the
   framework runs (the better run counts), and once with reader-schema resolution;
3. mfgsync: the real service to the end of the input (`bench/e2e.py`);
4. peer: the same ingest job in Quix Streams (`bench/quix_peer.py`), both wirings;
5. latency: produce-to-signal at fixed rates, service in tail mode (`bench/latency.py`);
6. planning: `PlantPlanner` at plant scale, no Kafka (`bench/planning.py`);
then prints a table and writes `bench/results.json`. `--profile` adds a py-spy profile of
the service over the same topics (not timed) and of the planning run, summarised into the
results. Every part runs in its own interpreter with a timeout; every service is stopped.
Sizes: `--quick` is a smoke run (a few minutes), the default the full sizes (about 16-20 min).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import data, e2e
from bench.common import BENCH, QUIX_VENV, ROOT, machine, run_part
from bench.profile_report import summarise

FULL = {
    "data": {"events": 1_000_000, "keys": 10_000},
    "latency": {"rates": "1000,5000", "seconds": 20, "keys": 1000, "warmup": 3, "drain": 30},
    "planning": {"items": 10_000, "lines": 50_000, "levels": 6, "orders": 20_000, "movements": 2_000,
                 "revisions": 20, "budget": 90},
    "timeouts": {"ceiling": 600, "mfgsync": 2400, "quix": 2400, "latency": 600, "planning": 1500},
    "mfgsync_cap_s": 600,
}  # fmt: skip
QUICK = {
    "data": {"events": 60_000, "keys": 2_000},
    "latency": {"rates": "1000,5000", "seconds": 5, "keys": 500, "warmup": 2, "drain": 15},
    "planning": {"items": 1_000, "lines": 5_000, "levels": 6, "orders": 2_000, "movements": 300,
                 "revisions": 5, "budget": 30},
    "timeouts": {"ceiling": 300, "mfgsync": 600, "quix": 600, "latency": 300, "planning": 600},
    "mfgsync_cap_s": 0,
}  # fmt: skip

TARGETS = {
    "throughput_vs_ceiling": 0.5,
    "throughput_vs_quix": 2.0,
    "p99_ms_at_5000": 100.0,
    "stock_movement_median_ms": 1.0,
    "full_rebuild_s": 5.0,
    "state_bytes_per_item_at_plant": 2048,
}


def ensure_quix_venv(log: Path) -> Path:
    """`bench/.venv-quix` with Quix Streams 3, the main environment's fastavro, and mfgsync.

    pydantic is left to pip within the project's range: Quix Streams pins its own, which may
    be older than the main environment's (3.28.1 needs pydantic < 2.14). Pinning the main
    one made pip fall back to a Quix Streams of 2023 (0.5.7) that does not even import.
    """
    python = QUIX_VENV / "bin" / "python"
    probe = [
        str(python),
        "-c",
        "import quixstreams, fastavro, pydantic, mfgsync.connectors.avro_codec; "
        "assert int(quixstreams.__version__.split('.')[0]) >= 3",
    ]
    if (
        python.exists()
        and subprocess.run(probe, capture_output=True, timeout=120, check=False).returncode == 0
    ):
        return python
    with log.open("a") as out:
        subprocess.run(
            [sys.executable, "-m", "venv", str(QUIX_VENV)], check=True, timeout=300, stdout=out, stderr=out
        )
        pins = [f"fastavro=={metadata.version('fastavro')}", "pydantic>=2.7,<3"]
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "quixstreams>=3,<4", *pins],
            check=True, timeout=900, stdout=out, stderr=out,
        )  # fmt: skip
        # The peer decodes with the project's own codec and models: mfgsync itself, without
        # its dependencies (bytewax, ...), which the peer does not import.
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(ROOT)],
            check=True, timeout=900, stdout=out, stderr=out,
        )  # fmt: skip
    return python


def _loadavg() -> float | None:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return None


def _step(name: str) -> None:
    print(f"[{datetime.now(UTC).strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)


def _git() -> dict[str, Any]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip()

    changed = [
        line[3:] for line in git("status", "--porcelain").splitlines() if not line[3:].startswith("bench/")
    ]
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "subject": git("log", "-1", "--format=%s"),
        "changed_outside_bench": changed,
    }


def run(quick: bool, profile: bool, work: Path, cap_s: float | None = None) -> dict[str, Any]:
    from tests.services import kafka_broker, schema_registry

    sizes = dict(QUICK if quick else FULL)
    if cap_s is not None:
        sizes["mfgsync_cap_s"] = cap_s
    timeouts = sizes["timeouts"]
    results: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "git": _git(),
        "sizes": sizes,
        "load_avg": {"start": _loadavg()},
    }
    _step("quix venv")
    quix_python = ensure_quix_venv(work / "quix-venv.log")
    results["machine"]["versions"]["quixstreams"] = subprocess.run(
        [str(quix_python), "-c", "import quixstreams, confluent_kafka, pydantic; print(quixstreams.__version__, \"confluent-kafka\", confluent_kafka.__version__, \"pydantic\", pydantic.VERSION)"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout.strip()  # fmt: skip
    spec = data.Spec(events=sizes["data"]["events"], keys=sizes["data"]["keys"])
    prefix = "bench."
    with contextlib.ExitStack() as stack:
        _step("kafka + schema registry")
        kafka = stack.enter_context(kafka_broker(work))
        registry = stack.enter_context(schema_registry(work))
        _step(f"data: {spec.events} events")
        results["data"] = data.produce(spec, kafka, registry, prefix)
        n = results["data"]["events"]
        common = ["--bootstrap", kafka, "--registry", registry]

        def ceiling(tag: str, *extra: str) -> dict[str, Any]:
            _step(f"ceiling {tag}")
            return run_part(
                [sys.executable, "-m", "bench.ceiling", *common, "--prefix", prefix, "--expected", str(n), *extra],
                timeout_s=timeouts["ceiling"], log=work / f"ceiling-{tag}.log",
            )  # fmt: skip

        ceilings = [ceiling("before")]
        _step("mfgsync end to end")
        results["mfgsync"] = e2e.run(
            kafka, registry, prefix, n, timeout_s=timeouts["mfgsync"], log=work / "mfgsync-service.log",
            cap_s=sizes["mfgsync_cap_s"],
        )  # fmt: skip
        results["load_avg"]["after_mfgsync"] = _loadavg()
        quix: dict[str, Any] = {}
        for mode in ("split", "concat"):
            _step(f"quix peer ({mode})")
            quix[mode] = run_part(
                [str(quix_python), "-m", "bench.quix_peer", *common, "--input-prefix", prefix,
                 "--output-prefix", f"quix-{mode}.", "--expected", str(n), "--mode", mode,
                 "--keys", str(spec.keys), "--events-spec", str(spec.events)],
                timeout_s=timeouts["quix"], log=work / f"quix-{mode}.log",
            )  # fmt: skip
        results["quix"] = quix
        ceilings.append(ceiling("after"))
        results["ceiling"] = max(ceilings, key=lambda c: c["msg_per_s"] or 0)
        results["ceiling_runs"] = [c["msg_per_s"] for c in ceilings]
        results["ceiling_reader_schema"] = ceiling("reader-schema", "--reader-schema")
        _step("latency")
        lat = sizes["latency"]
        results["latency"] = run_part(
            [sys.executable, "-m", "bench.latency", *common, "--rates", lat["rates"], "--seconds", str(lat["seconds"]),
             "--keys", str(lat["keys"]), "--warmup", str(lat["warmup"]), "--drain", str(lat["drain"]),
             "--log", str(work / "latency-service.log")],
            timeout_s=timeouts["latency"], log=work / "latency.log",
        )  # fmt: skip
        if profile:
            _step("profile: mfgsync service under py-spy (not timed)")
            e2e.reset_outputs(kafka, registry, prefix)
            raw = work / "profile-service.txt"
            run_info = e2e.run(
                kafka, registry, prefix, n, timeout_s=timeouts["mfgsync"], log=work / "profile-service.log",
                profile_to=raw, cap_s=min(300, sizes["mfgsync_cap_s"] or 300),
            )  # fmt: skip
            results.setdefault("profiles", {})["service"] = {"run": run_info, **summarise(raw, top=30)}
        results["load_avg"]["after_kafka_parts"] = _loadavg()
    _step("planning")
    plan = sizes["planning"]
    plan_cmd = [
        "-m", "bench.planning", "--items", str(plan["items"]), "--lines", str(plan["lines"]),
        "--levels", str(plan["levels"]), "--orders", str(plan["orders"]), "--movements", str(plan["movements"]),
        "--revisions", str(plan["revisions"]), "--budget", str(plan["budget"]),
    ]  # fmt: skip
    results["planning"] = run_part(
        [sys.executable, *plan_cmd], timeout_s=timeouts["planning"], log=work / "planning.log"
    )
    if profile:
        _step("profile: planning under py-spy (not timed)")
        raw = work / "profile-planning.txt"
        subprocess.run(
            ["py-spy", "record", "--format", "raw", "--rate", "50", "-o", str(raw), "--", sys.executable, *plan_cmd],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            timeout=timeouts["planning"] * 2, check=False,
        )  # fmt: skip
        if raw.exists():
            results.setdefault("profiles", {})["planning"] = summarise(raw, top=30)
    results["load_avg"]["end"] = _loadavg()
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["targets"] = evaluate(results)
    return results


def evaluate(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target: the measured value, the target, whether it holds, and the margin."""
    out: list[dict[str, Any]] = []

    def add(name: str, value: float | None, target: float, higher_is_better: bool, unit: str) -> None:
        holds = value is not None and (value >= target if higher_is_better else value < target)
        margin = None
        if value:
            margin = round(value / target, 3) if higher_is_better else round(target / value, 3)
        out.append({"target": name, "value": value, "limit": target, "unit": unit, "holds": holds,
                    "factor": margin})  # fmt: skip

    m = r["mfgsync"]["msg_per_s"]
    add("throughput >= 0.5 x ceiling", _ratio(m, r["ceiling"]["msg_per_s"]), 0.5, True, "x ceiling")
    quix_best = max(q["msg_per_s"] or 0 for q in r["quix"].values())
    add("throughput >= 2 x Quix (faster wiring)", _ratio(m, quix_best), 2.0, True, "x Quix")
    add(
        "throughput >= 2 x Quix (concat wiring)",
        _ratio(m, r["quix"]["concat"]["msg_per_s"]),
        2.0,
        True,
        "x Quix",
    )
    phase = r["latency"]["phases"].get("5000/s", {})
    p99s = [phase.get(k, {}).get("p99_ms") for k in ("availability", "shortage")]
    unmatched = sum(phase.get(k, {}).get("unmatched", 0) or 0 for k in ("availability", "shortage"))
    worst = max((p for p in p99s if p is not None), default=None)
    add("p99 produce-to-signal < 100 ms at 5,000/s", None if unmatched else worst, 100.0, False, "ms")
    p = r["planning"]
    add("stock movement re-plan median < 1 ms", p["stock_movement"]["median_ms"], 1.0, False, "ms")
    add("full rebuild < 5 s", p["full_rebuild_s"], 5.0, False, "s")
    add("state < 2 KB per item@plant", p["state_per_item_at_plant_bytes"], 2048, False, "bytes")
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def table(r: dict[str, Any]) -> str:
    rows = _rows(r)
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines.append("")
    lines.append("targets:")
    for t in r["targets"]:
        mark = "HOLDS" if t["holds"] else "MISSED"
        lines.append(
            f"  {mark:<6} {t['target']:<45} value {t['value']} {t['unit']} (limit {t['limit']}; factor {t['factor']})"
        )
    return "\n".join(lines)


def _rows(r: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    d = r["data"]
    rows.append(("events (movements)", f"{d['events']:,} ({d['by_type'].get('InventoryMovement', 0):,}), "
                 f"{d['duplicates']:,} duplicates, {d['keys']:,} item@plant keys"))  # fmt: skip
    c = r["ceiling"]
    rows.append(
        ("ceiling: consume + decode + validate", f"{c['msg_per_s']:,.0f} msg/s (runs: {r['ceiling_runs']})")
    )
    rows.append(
        ("ceiling with reader-schema resolution", f"{r['ceiling_reader_schema']['msg_per_s']:,.0f} msg/s")
    )
    m = r["mfgsync"]
    done = (
        "to the end"
        if m.get("completed", True)
        else f"capped at {m['cap_s']:.0f} s: {m['messages']:,} of {m['input_records']:,} records read"
    )
    rows.append(("mfgsync end to end, 1 worker", f"{m['msg_per_s']:,.0f} msg/s = {_ratio(m['msg_per_s'], c['msg_per_s'])} x ceiling "
                 f"({done}; {m['seconds']} s, {m['output_records']:,} output records)"))  # fmt: skip
    for mode, q in r["quix"].items():
        rows.append(
            (
                f"Quix Streams ({mode})",
                f"{q['msg_per_s']:,.0f} msg/s; mfgsync/Quix = {_ratio(m['msg_per_s'], q['msg_per_s'])}",
            )
        )
    for name, ph in r["latency"]["phases"].items():
        a, s = ph.get("availability", {}), ph.get("shortage", {})
        rows.append((f"latency at {name} (sent {ph['achieved_rate']:,.0f}/s)",
                     f"availability p50 {a.get('p50_ms')} / p99 {a.get('p99_ms')} ms; shortage p50 {s.get('p50_ms')} / "
                     f"p99 {s.get('p99_ms')} ms; unmatched {a.get('unmatched', 0)}+{s.get('unmatched', 0)}"))  # fmt: skip
    p = r["planning"]
    pl = p["plant"]
    rows.append(
        (
            "planning plant",
            f"{pl['items']:,} items, {pl['bom_lines']:,} BOM lines, {pl['levels']} levels, {pl['open_orders']:,} open orders",
        )
    )
    rows.append(
        (
            "full rebuild (plan_all)",
            f"{p['full_rebuild_s']} s ({p['full_rebuild_records']:,} records); again: {p['full_rebuild_again_s']} s",
        )
    )
    sm = p["stock_movement"]
    rows.append(
        (
            "re-plan per stock movement",
            f"median {sm['median_ms']} ms, p99 {sm['p99_ms']} ms (n={sm['n']}, {sm['records_per_event']} records/event)",
        )
    )
    rows.append(
        ("  by level of the moved item (median ms)", json.dumps(p["stock_movement_by_level_median_ms"]))
    )
    b = p["bom_revision"]
    rows.append(
        (
            "re-plan per BOM revision (level 0-1)",
            f"median {b['median_ms']} ms, p99 {b['p99_ms']} ms (n={b['n']}, {b['records_per_event']} records/event)",
        )
    )
    ks = p["key_state"]
    rows.append(("state per item@plant (pickle)", f"{p['state_per_item_at_plant_bytes']:,} B = guard {ks[0]['guard_pickle_bytes']:,} + inventory "
                 f"{ks[0]['inventory_pickle_bytes']:,} + planner/item {p['planner_pickle_bytes_per_item']:,} (after 80 movements)"))  # fmt: skip
    rows.append(("  after 1,100 movements per key", f"{p['state_per_item_at_plant_bytes_saturated']:,} B"))
    kt = p["key_state_tracemalloc"]
    rows.append(("  tracemalloc", f"guard+inventory {kt[0]['bytes_per_key']:,} B/key (80 mv), {kt[1]['bytes_per_key']:,} B/key (1,100 mv); "
                 f"planner RSS {p.get('planner_rss_bytes_per_item', 0):,} B/item"))  # fmt: skip
    return rows


def markdown(r: dict[str, Any]) -> str:
    """The results as the Markdown tables of bench/README.md."""
    out = ["| measurement | result |", "|---|---|"]
    for key, value in _rows(r):
        out.append(f"| {key.strip()} | {value.strip()} |")
    out += ["", "| target | measured | holds | factor |", "|---|---|---|---|"]
    for t in r["targets"]:
        out.append(
            f"| {t['target']} | {t['value']} {t['unit']} | {'yes' if t['holds'] else '**no**'} | {t['factor']} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument(
        "--profile", action="store_true", help="also profile the service and the planner with py-spy"
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results.json")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, raw profiles)")
    parser.add_argument(
        "--mfgsync-cap", type=float, default=None,
        help="stop the mfgsync run after this many seconds (0: run to the end; default 600 full, 0 quick)",
    )  # fmt: skip
    parser.add_argument("--render", type=Path, default=None, help="print a results file as Markdown and exit")
    args = parser.parse_args()
    if args.render is not None:
        print(markdown(json.loads(args.render.read_text())))
        return
    if args.profile and shutil.which("py-spy") is None:
        parser.error("--profile needs py-spy: python -m pip install py-spy")
    work = Path(tempfile.mkdtemp(prefix="mfgsync-bench-"))
    started = time.time()
    ok = False
    try:
        results = run(args.quick, args.profile, work, args.mfgsync_cap)
        results["total_s"] = round(time.time() - started, 1)
        args.output.write_text(json.dumps(results, indent=2, default=str) + "\n")
        print(table(results))
        kept = f"logs in {work}" if args.keep else "logs removed; --keep keeps them"
        print(f"\nresults: {args.output} (total {results['total_s']} s; {kept})")
        ok = True
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif not ok:
            print(f"bench failed; logs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
