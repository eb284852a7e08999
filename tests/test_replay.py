"""End-to-end: the real bytewax dataflow over JSON Lines files (SPEC 9 and 10)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import date
from pathlib import Path

from mfgsync.flows.replay import read_changelog, read_counts, run_replay
from mfgsync.flows.scenario import ECO, PLANTS, scenario_events
from mfgsync.schemas.events import EVENT_TYPES
from mfgsync.schemas.vocabulary import CHANGELOG_TOPICS, DEAD_LETTERS, is_live
from tests.streams import perturb

TODAY = date(2026, 3, 2)
ROOT = Path(__file__).resolve().parent.parent
CHANGELOGS = (*CHANGELOG_TOPICS, DEAD_LETTERS)


def write_events(path: Path, events) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def as_json(event) -> dict:
    return {"type": type(event).__name__, **event.model_dump(mode="json")}


def live(out: Path, topic: str) -> dict[str, dict]:
    return {
        rid: {k: v for k, v in r.items() if k != "state"}
        for rid, r in read_changelog(out / f"{topic}.jsonl").items()
        if is_live(r.get("state"))
    }


def final_state(out: Path) -> dict[str, dict]:
    return {topic: read_changelog(out / f"{topic}.jsonl") for topic in CHANGELOGS}


def test_engineering_change_raises_new_component_shortage_and_old_component_excess(tmp_path):
    out = tmp_path / "out"
    run_replay(write_events(tmp_path / "in.jsonl", scenario_events(TODAY)), out, TODAY)
    triggers = live(out, "procurement.triggers").values()
    shortages = live(out, "signals.shortages").values()
    for plant in PLANTS:
        new = [s for s in shortages if s["plant"] == plant and s["item"] == "WIND-NEW"]
        assert [s["severity"] for s in new] == ["CRITICAL"]
        assert ECO in new[0]["correlation_ids"]
        requisitions = [
            t
            for t in triggers
            if t["item"] == "WIND-NEW" and t["plant"] == plant and t["type"] == "CREATE_REQUISITION"
        ]
        assert requisitions and all(ECO in t["correlation_ids"] for t in requisitions)
        assert all(t["supplier"] == "COIL-AG" for t in requisitions)
    excess = {t["plant"]: t for t in triggers if t["type"] == "DISPOSITION_EXCESS"}
    # DE01 takes the change with use-up (issue 11): 60 on hand - 5 issued = 55; MO-DE01-1
    # needs 15 and the MOTOR-20 proposal released before the ECO date 39: 1 left, used up by
    # the first proposal under revision B; WIND-NEW takes over on that day with the rest (39),
    # and no WIND-OLD stock is left over.
    assert "DE01" not in excess
    switches = [t for t in triggers if t["type"] == "DISCONTINUATION_SWITCH"]
    assert [(t["plant"], t["item"], t["reference"], t["qty"]) for t in switches] == [
        ("DE01", "WIND-NEW", "WIND-OLD", 39)
    ]
    assert ECO in switches[0]["correlation_ids"]
    # US01 switches hard: 95 - 5 = 90; 15 for MO-US01-1 and 52 for proposals released
    # before the ECO date: 90 - 15 - 52 = 23.
    assert {t["item"] for t in excess.values()} == {"WIND-OLD"}
    assert excess["US01"]["qty"] == 23
    assert all(t["correlation_ids"] == [ECO] for t in excess.values())
    cancels = {(t["plant"], t["reference"]) for t in triggers if t["type"] == "CANCEL"}
    assert cancels == {("DE01", "PO-DE01-9/10"), ("US01", "PO-US01-9/10")}


def test_phantom_kit_is_blown_through_to_its_screws(tmp_path):
    out = tmp_path / "out"
    run_replay(write_events(tmp_path / "in.jsonl", scenario_events(TODAY)), out, TODAY)
    items = {r["item"] for r in live(out, "signals.availability").values()}
    assert "SCREW-M4" in items
    kit_demand = [t for t in live(out, "procurement.triggers").values() if t["item"] == "KIT-FAST"]
    assert kit_demand == []


def test_shuffled_swapped_and_resent_input_gives_the_same_triggers_and_shortages(tmp_path):
    events = [
        EVENT_TYPES[e["type"]].model_validate({k: v for k, v in e.items() if k != "type"})
        for e in scenario_events(TODAY)
    ]
    baseline, shuffled = tmp_path / "a", tmp_path / "b"
    run_replay(write_events(tmp_path / "a.jsonl", [as_json(e) for e in events]), baseline, TODAY)
    noisy = perturb(events, seed=11, resend=0.2)
    assert len(noisy) > len(events)
    run_replay(write_events(tmp_path / "b.jsonl", [as_json(e) for e in noisy]), shuffled, TODAY)
    for topic in ("procurement.triggers", "signals.shortages", "signals.availability"):
        assert live(shuffled, topic) == live(baseline, topic), topic
    counts = read_counts(shuffled)
    assert sum(counts.values()) == len(noisy)
    assert counts["deduplicated"] == len(noisy) - len({e.event_id for e in noisy})


def test_each_malformed_line_becomes_one_dead_letter_and_changes_nothing_else(tmp_path):
    good = [json.dumps(e) for e in scenario_events(TODAY)]
    bad = [
        "{not json",
        "[1, 2, 3]",
        json.dumps({"type": "Teleport", "event_id": "x"}),
        json.dumps({**scenario_events(TODAY)[0], "event_id": "bad-lead", "lead_time_days": -3}),
        json.dumps({**scenario_events(TODAY)[0], "event_id": "bad-time", "event_time": "yesterday"}),
        json.dumps({"type": "InventoryMovement"}),
    ]
    lines = list(good)
    rng = random.Random(3)
    positions = {}
    for text in bad:
        at = rng.randint(0, len(lines))
        lines.insert(at, text)
    for number, text in enumerate(lines, start=1):
        if text in bad:
            positions[number] = text
    clean_out, dirty_out = tmp_path / "clean", tmp_path / "dirty"
    (tmp_path / "clean.jsonl").write_text("\n".join(good) + "\n")
    (tmp_path / "dirty.jsonl").write_text("\n".join(lines) + "\n")
    run_replay(tmp_path / "clean.jsonl", clean_out, TODAY)
    run_replay(tmp_path / "dirty.jsonl", dirty_out, TODAY)
    letters = read_changelog(dirty_out / "sync.dlq.jsonl")
    assert sorted(d["line"] for d in letters.values()) == sorted(positions)
    for letter in letters.values():
        assert letter["reason"]
        assert letter["file"].endswith("dirty.jsonl")
        assert letter["raw"] == positions[letter["line"]]
    for topic in ("procurement.triggers", "signals.shortages", "signals.availability"):
        assert live(dirty_out, topic) == live(clean_out, topic), topic
    counts = read_counts(dirty_out)
    assert counts["dead_lettered"] == len(bad)
    assert sum(counts.values()) == len(lines)
    schema_invalid = [
        e
        for e in read_changelog(dirty_out / "sync.exceptions.jsonl").values()
        if e["type"] == "SCHEMA_INVALID"
    ]
    assert sum(int(e["details"]["count"]) for e in schema_invalid) == len(bad)
    assert {e["state"] for e in schema_invalid} == {"OPEN"}


def test_two_workers_and_a_second_run_give_the_same_changelogs(tmp_path):
    source = write_events(tmp_path / "in.jsonl", scenario_events(TODAY))
    one, again, two = tmp_path / "one", tmp_path / "again", tmp_path / "two"
    run_replay(source, one, TODAY)
    run_replay(source, again, TODAY)
    run_replay(source, two, TODAY, workers=2)
    assert final_state(again) == final_state(one)
    assert final_state(two) == final_state(one)
    assert read_counts(two) == read_counts(one)


def test_bytewax_run_with_two_workers_matches_replay(tmp_path):
    source = write_events(tmp_path / "in.jsonl", scenario_events(TODAY))
    reference, under_run = tmp_path / "ref", tmp_path / "run"
    run_replay(source, reference, TODAY)
    env = {
        **os.environ,
        "MFGSYNC_INPUT": str(source),
        "MFGSYNC_OUTPUT": str(under_run),
        "MFGSYNC_TODAY": TODAY.isoformat(),
    }
    subprocess.run(
        [sys.executable, "-m", "bytewax.run", "mfgsync.flows.replay:flow", "-w", "2"],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    assert final_state(under_run) == final_state(reference)


def test_cli_demo_prints_the_eco_trace_and_where_the_files_are(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mfgsync.flows.cli", "demo", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "DISPOSITION_EXCESS" in result.stdout
    assert f"Trace of {ECO}" in result.stdout
    assert str((tmp_path / "changelogs").resolve()) in result.stdout
    assert (tmp_path / "changelogs" / "procurement.triggers.jsonl").exists()


def test_cli_replay_reports_a_missing_input_clearly(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mfgsync.flows.cli",
            "replay",
            "--input",
            str(tmp_path / "nope"),
            "--output",
            str(tmp_path / "out"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def test_a_lone_surrogate_escape_is_dead_lettered_not_written(tmp_path):
    event = {**scenario_events(TODAY)[0], "event_id": "half-\\ud800-pair"}
    text = json.dumps(event).replace("\\\\ud800", "\\ud800")
    (tmp_path / "in.jsonl").write_text(text + "\n")
    run_replay(tmp_path / "in.jsonl", tmp_path / "out", TODAY)
    letters = list(read_changelog(tmp_path / "out" / "sync.dlq.jsonl").values())
    assert [d["error"] for d in letters] == ["INVALID_JSON"]
    assert "surrogate" in letters[0]["reason"]


def test_a_directory_is_one_ordered_input_with_any_number_of_workers(tmp_path):
    lines = [json.dumps(e) for e in scenario_events(TODAY)]
    whole, parts = tmp_path / "whole.jsonl", tmp_path / "parts"
    whole.write_text("\n".join(lines) + "\n")
    parts.mkdir()
    for n in range(0, len(lines), 15):  # files named so that name order is input order
        (parts / f"{n:04d}.jsonl").write_text("\n".join(lines[n : n + 15]) + "\n")
    (parts / "notes.txt").write_text("not an input: only *.jsonl are read\n")
    run_replay(whole, tmp_path / "one", TODAY)
    run_replay(parts, tmp_path / "two", TODAY, workers=2)
    assert final_state(tmp_path / "two") == final_state(tmp_path / "one")
    assert read_counts(tmp_path / "two") == read_counts(tmp_path / "one")
