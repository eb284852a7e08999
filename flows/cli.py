"""The `mfgsync` command line (SPEC 8 and 10).

`demo` and `replay` work on files with no broker; `topics create`, `produce` and `run` work
against Kafka, configured by `MFGSYNC_*` environment variables (see `flows/settings.py`);
`status` summarises a running service.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from mfgsync.connectors.files import count_lines, input_files, read_events
from mfgsync.flows.placement import kafka_partition
from mfgsync.flows.preflight import CommandError, load_settings
from mfgsync.flows.progress import Progress, on_terminal
from mfgsync.flows.replay import read_changelog, run_replay
from mfgsync.flows.scenario import ECO, scenario_lines
from mfgsync.operators.grouping import bom_components, suggest_groups
from mfgsync.schemas.events import BomRevisionReleased
from mfgsync.schemas.vocabulary import DEAD_LETTERS, EXCEPTIONS, SEVERITY_RANK, SHORTAGES, TRIGGERS, is_live

DEMO_TODAY = date(2026, 3, 2)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"not a date (YYYY-MM-DD): {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"expected a whole number of at least 1, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mfgsync", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the bundled reference scenario, no broker needed")
    demo.add_argument("--output", default="mfgsync-demo", help="directory for input and changelogs")
    demo.add_argument("--today", type=_date, default=DEMO_TODAY, help="planning date (YYYY-MM-DD)")
    demo.add_argument("--bucket", choices=("day", "week"), default="day")

    replay = sub.add_parser("replay", help="run the dataflow over JSON Lines files and exit")
    replay.add_argument("--input", required=True, help="a .jsonl file or a directory of them")
    replay.add_argument("--output", required=True, help="directory for the changelog files")
    replay.add_argument(
        "--today", type=_date, default=None, help="planning date (default: MFGSYNC_TODAY, else today, UTC)"
    )
    replay.add_argument("--bucket", choices=("day", "week"), default="day")
    replay.add_argument("--workers", type=_positive, default=1, help="worker threads (results are the same)")
    replay.add_argument("--quiet", "-q", action="store_true", help="no progress bar on a terminal")

    groups = sub.add_parser(
        "groups", help="suggest planning groups (MFGSYNC_PLANNING_GROUPS) from the BOMs of JSON Lines files"
    )
    groups.add_argument("--input", required=True, help="a .jsonl file or a directory of them")
    groups.add_argument("--groups", type=_positive, default=8, help="at most this many groups per plant")
    groups.add_argument(
        "--partitions",
        type=_positive,
        default=None,
        help="input partitions the groups are spread over (default: MFGSYNC_TOPIC_PARTITIONS)",
    )

    topics = sub.add_parser("topics", help="Kafka topic provisioning")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True)
    create = topics_sub.add_parser("create", help="create every input and output topic")
    create.add_argument("--partitions", type=int, default=None, help="default: MFGSYNC_TOPIC_PARTITIONS")

    produce = sub.add_parser("produce", help="publish JSON Lines events to their Kafka topics")
    produce.add_argument("--input", required=True, help="a .jsonl file or a directory of them")
    produce.add_argument("--quiet", "-q", action="store_true", help="no progress bar on a terminal")

    status = sub.add_parser("status", help="summarise a running service (its /status endpoint)")
    status.add_argument(
        "--url",
        default=None,
        help="service URL or host:port (default: MFGSYNC_METRICS_HOST:MFGSYNC_METRICS_PORT, 127.0.0.1:9464)",
    )

    run = sub.add_parser("run", help="run the service against Kafka until stopped")
    run.add_argument("--workers", "-w", type=_positive, default=1, help="worker threads per process")
    run.add_argument("--process-id", "-i", type=int, default=None, help="this process in a cluster")
    run.add_argument("--addresses", "-a", default=None, help="host:port;host:port of every process")
    run.add_argument(
        "--recovery-dir", default=None, help="bytewax recovery store (default: MFGSYNC_RECOVERY_DIR)"
    )
    run.add_argument("--exit-at-end", action="store_true", help="stop at the end of the input topics")
    run.add_argument(
        "--today", type=_date, default=None, help="fix the planning date (default: processing date)"
    )
    run.add_argument(
        "--bucket", choices=("day", "week"), default=None, help="planning buckets (default: day)"
    )
    run.add_argument("--quiet", "-q", action="store_true", help="no progress bar on a terminal")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `mfgsync` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo(Path(args.output), args.today, args.bucket)
        if args.command == "status":
            from mfgsync.flows import status

            return status.main([args.url] if args.url else [])
        if args.command == "groups":
            return _groups(args.input, args.groups, args.partitions or load_settings().topic_partitions)
        if args.command in ("topics", "produce", "run"):
            from mfgsync.flows import kafka_commands

            return kafka_commands.main(args)
        return _replay(args)
    except CommandError as exc:  # an invalid MFGSYNC_* setting: one line per variable
        for line in exc.lines:
            print(f"mfgsync: {line}", file=sys.stderr)
        return exc.exit_code
    except (FileNotFoundError, LookupError, ReplayError) as exc:
        print(f"mfgsync: {exc}", file=sys.stderr)
        return 2


def _replay(args: argparse.Namespace) -> int:
    today = args.today or _env_today()
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        msg = f"--output {output} is a file; it must be a directory (it is created if missing)"
        raise ReplayError(msg)
    files = input_files(args.input)
    show = on_terminal(args.quiet)
    total = count_lines(files)
    progress = Progress("replay", total=total, unit="events", enabled=show)
    started = time.monotonic()
    settings = load_settings()
    try:
        counts = run_replay(
            args.input,
            output,
            today,
            args.bucket,
            args.workers,
            on_read=progress.update,
            plant_defaults=settings.plant_defaults(),
            groups=settings.groups(),
        )
    finally:
        progress.close()
    elapsed_s = time.monotonic() - started
    read = sum(counts.values())
    if read == 0:
        print(f"mfgsync: warning: {args.input} has no events; the changelogs are empty", file=sys.stderr)
    print(f"{_counts_line(counts)} in {elapsed_s:.1f} s ({read / max(elapsed_s, 1e-9):.0f}/s)")
    print(f"changelogs in {output.resolve()}")
    return 0


def _groups(path: str, groups: int, partitions: int) -> int:
    """Print the suggested planning groups file; a line per plant (and invalid lines) on stderr.

    Each plant's groups are named so that they are in consecutive input partitions
    (`suggest_groups`), so a cluster whose worker count divides `partitions` reads and plans
    them round-robin over its processes.
    """
    invalid: list[str] = []
    boms = [e for e in read_events(input_files(path), invalid) if isinstance(e, BomRevisionReleased)]
    place = functools.partial(kafka_partition, partitions=partitions)
    suggested = suggest_groups(boms, groups, place, partitions).to_json()
    for plant, components in bom_components(boms).items():
        sizes = ", ".join(str(len(items)) for items in suggested.get(plant, {}).values()) or "none"
        said = f"{plant}: {len(components)} independent BOM component(s); items per group: {sizes}"
        print(f"mfgsync: {said}", file=sys.stderr)
    if invalid:
        print(
            f"mfgsync: warning: {len(invalid)} invalid line(s) left out, first {invalid[0]}", file=sys.stderr
        )
    print(json.dumps(suggested, indent=1))
    return 0


class ReplayError(ValueError):
    """A replay argument or setting that cannot work."""


def _env_today() -> date | None:
    text = os.environ.get("MFGSYNC_TODAY")
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        msg = f"MFGSYNC_TODAY={text!r} is invalid: expected a date YYYY-MM-DD (or pass --today)"
        raise ReplayError(msg) from None


def _demo(output: Path, today: date, bucket: str) -> int:
    output.mkdir(parents=True, exist_ok=True)
    scenario = output / "scenario.jsonl"
    scenario.write_text("\n".join(scenario_lines(today)) + "\n")
    counts = run_replay(scenario, output / "changelogs", today, bucket)  # type: ignore[arg-type]
    print(render_summary(output / "changelogs", today, counts))
    print(f"\ninput:      {scenario.resolve()}")
    print(f"changelogs: {(output / 'changelogs').resolve()}")
    return 0


def render_summary(changelogs: Path, today: date, counts: Counter[str]) -> str:
    """A planner-readable summary of the current state of the changelogs."""
    triggers = _live(read_changelog(changelogs / f"{TRIGGERS}.jsonl"))
    shortages = _live(read_changelog(changelogs / f"{SHORTAGES}.jsonl"))
    exceptions = _live(read_changelog(changelogs / f"{EXCEPTIONS}.jsonl"))
    dead = read_changelog(changelogs / f"{DEAD_LETTERS}.jsonl")
    lines = [f"mfgsync demo: planning date {today.isoformat()}", _counts_line(counts), ""]

    lines.append(f"Shortages ({len(shortages)}):")
    for s in sorted(shortages, key=lambda s: (-SEVERITY_RANK[s["severity"]], s["plant"], s["item"])):
        lines.append(
            f"  {s['severity']:<8} {s['plant']} {s['item']:<13} short {s['shortage_qty']:>7g} "
            f"on {s['shortage_date']}  impacts {', '.join(s['impacted_orders'][:4])}"
        )
    lines.append(f"\nProcurement triggers ({len(triggers)}):")
    for t in sorted(triggers, key=lambda t: (t["type"], t["plant"], t["item"], t["need_date"] or "")):
        when = f"need {t['need_date']}" if t["need_date"] else ""
        if t["release_date"]:
            when += f" release {t['release_date']}"
        if t.get("release_in_past"):
            when += f" (released late: earliest {t['earliest_receipt_date']})"
        if t["current_date"]:
            when += f" (now {t['current_date']})"
        ref = f" ref {t['reference']}" if t["reference"] else ""
        eco = f" [{', '.join(t['correlation_ids'])}]" if t["correlation_ids"] else ""
        lines.append(f"  {t['type']:<27} {t['plant']} {t['item']:<13} {t['qty']:>7g} {when}{ref}{eco}")
    moved = [t for t in triggers if t["type"] in ("RESCHEDULE_IN", "EXPEDITE")]
    lines.append(f"\nReceipts moved in instead of new buys ({len(moved)}):")
    for t in sorted(moved, key=lambda t: (t["plant"], t["item"], t["reference"] or "")):
        buys = [
            p
            for p in triggers
            if p["type"] in ("CREATE_REQUISITION", "CREATE_PRODUCTION_PROPOSAL")
            and (p["plant"], p["item"], p["need_date"]) == (t["plant"], t["item"], t["need_date"])
        ]
        also = f"; also new supply {sum(p['qty'] for p in buys):g}" if buys else "; no new buy for it"
        lines.append(
            f"  {t['plant']} {t['item']:<13} {t['reference']} {t['qty']:g} from {t['current_date']} "
            f"to {t['need_date']} ({t['type']}){also}"
        )
    switches = [t for t in triggers if t["type"] == "DISCONTINUATION_SWITCH"]
    lines.append(f"\nEngineering change switches ({len(switches)}):")
    for t in switches:
        lines.append(
            f"  {t['plant']} {t['item']} takes over from {t['reference']} on {t['need_date']} "
            f"({t['qty']:g} moved to it; stock of {t['reference']} used up first)"
        )
    lines.append(f"\nOpen exceptions ({len(exceptions)}):")
    for e in sorted(exceptions, key=lambda e: (e["type"], e["key"])):
        detail = ", ".join(f"{k}={v}" for k, v in list(e["details"].items())[:3])
        lines.append(f"  {e['type']:<27} {e['key']:<40} {detail}")
    lines.append(f"\nDead letters ({len(dead)}):")
    for d in dead.values():
        lines.append(f"  line {d['line']}: {d['reason'][:100]}")
    traced = [t for t in triggers if ECO in t["correlation_ids"]]
    traced += [s for s in shortages if ECO in s["correlation_ids"]]
    lines.append(f"\nTrace of {ECO}: {len(traced)} open records carry it")
    for r in traced:
        what = r.get("type") or f"SHORTAGE {r['severity']}"
        lines.append(f"  {what:<27} {r['plant']} {r['item']}")
    return "\n".join(lines)


def _live(changelog: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in changelog.values() if is_live(r.get("state"))]


def _counts_line(counts: Counter[str]) -> str:
    read = sum(counts.values())
    parts = ", ".join(
        f"{k} {counts.get(k, 0)}" for k in ("applied", "deduplicated", "superseded", "dead_lettered")
    )
    return f"read {read} = {parts}"


if __name__ == "__main__":
    sys.exit(main())
