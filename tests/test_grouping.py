"""Planning groups: a plant whose BOM graph splits is planned as several groups (SPEC 5).

A group is keyed `plant|group`, so its events, guards, stock and plan live on one worker and
a large plant spreads over a cluster. The answer is the one of planning the plant whole; a
BOM that would link two groups is dead-lettered with the groups to change, and a recovery
store keyed by other groups is refused.
"""

from __future__ import annotations

import functools
import json
import math
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from bytewax.testing import cluster_main

from bench.data import Spec, generate
from mfgsync.connectors.files import JsonlSource, JsonlTopicSink
from mfgsync.connectors.recovery_store import create_store
from mfgsync.flows.cli import main as cli
from mfgsync.flows.dataflow import FlowConfig, build_flow
from mfgsync.flows.kafka_commands import _refuse_other_groups
from mfgsync.flows.placement import kafka_partition
from mfgsync.flows.preflight import CommandError
from mfgsync.flows.replay import OUTPUT_TOPICS, read_changelog, read_counts, run_replay
from mfgsync.flows.settings import Settings
from mfgsync.operators.dedup import DedupWindow
from mfgsync.operators.grouping import SPLIT, PlanningGroups, bom_components, suggest_groups
from mfgsync.operators.planner import PlantPlanner
from mfgsync.operators.sequencer import Sequencer
from mfgsync.operators.status_view import StatusView
from mfgsync.operators.steps import Adoption, PlanningStep, PlantStep, plant_batches, plant_key
from mfgsync.schemas.events import BomRevisionReleased, Event
from mfgsync.schemas.outputs import OUTPUT_TYPES, OutputRecord, ProcurementTrigger
from tests.factories import bom, demand, movement, params

TODAY = date(2026, 3, 2)
DUE = date(2026, 3, 16)
GROUPS = PlanningGroups.parse({"P1": {"pumps": ["PUMP-*", "IMP-*"], "valves": ["VLV-*", "PUMP-9"]}})


def write_events(path: Path, events: list[Event]) -> Path:
    with path.open("w") as out:
        for event in events:
            out.write(json.dumps({"type": type(event).__name__, **event.model_dump(mode="json")}) + "\n")
    return path


def changelogs(directory: Path) -> dict[str, dict[str, dict[str, object]]]:
    return {topic: read_changelog(directory / f"{topic}.jsonl") for topic in OUTPUT_TYPES}


# ------------------------------------------------------------------ the file


def test_an_item_is_in_the_first_group_whose_pattern_matches_and_otherwise_in_the_plants_rest():
    assert GROUPS.group_of("P1", "PUMP-1") == "pumps"
    assert GROUPS.group_of("P1", "PUMP-9") == "pumps"  # listed in valves too: the first group wins
    assert GROUPS.group_of("P1", "VLV-3") == "valves"
    assert GROUPS.group_of("P1", "BOLT-1") == ""
    assert GROUPS.key("P1", "IMP-2") == "P1|pumps"
    assert GROUPS.key("P1", "BOLT-1") == "P1"  # the rest is keyed as a plant without groups
    assert GROUPS.key("P2", "PUMP-1") == "P2"  # a plant without groups is planned whole
    assert plant_key(movement("VLV-3", "RECEIPT", 1, plant="P1"), GROUPS) == "P1|valves"
    assert plant_key(bom("PUMP-1", "A", [("IMP-1", 1)], plant="P1"), GROUPS) == "P1|pumps"  # its parent's
    assert not PlanningGroups()


def test_suggested_item_ids_are_escaped_so_each_matches_only_itself():
    events = [bom("K[1]*", "A", [("S?1", 1)], plant="P1"), bom("X", "A", [("Y", 1)], plant="P1")]
    groups = suggest_groups(events, 2)
    assert groups.group_of("P1", "K[1]*") == groups.group_of("P1", "S?1") != groups.group_of("P1", "X")
    assert groups.group_of("P1", "K1*") == groups.group_of("P1", "SX1") == ""
    assert PlanningGroups.parse(json.loads(json.dumps(groups.to_json()))) == groups  # the file round-trips


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ([], "expected an object of plant"),
        ({"P1": {}}, "plant 'P1': expected a non-empty object"),
        ({"P1": {"a|b": ["X*"]}}, "group name 'a|b' must be non-empty, without '|'"),
        ({"P1": {"a": []}}, "group 'a': expected a non-empty list of item patterns"),
        ({"P1": {"a": ["X", 3]}}, "group 'a': expected a non-empty list"),
    ],
)
def test_a_malformed_groups_file_is_refused_naming_what_is_wrong(data, says):
    with pytest.raises(ValueError, match="planning groups") as refused:
        PlanningGroups.parse(data)
    assert says in str(refused.value)


def test_the_commands_refuse_an_invalid_groups_file_with_the_variable_and_the_reason(
    tmp_path, monkeypatch, capsys
):
    bad = tmp_path / "groups.json"
    bad.write_text('{"P1": {"pumps": "PUMP-*"}}')
    events = write_events(tmp_path / "in.jsonl", [params("PUMP-1", plant="P1")])
    monkeypatch.setenv("MFGSYNC_PLANNING_GROUPS", str(bad))
    assert cli(["replay", "-q", "--input", str(events), "--output", str(tmp_path / "out")]) == 2
    said = capsys.readouterr().err
    assert "MFGSYNC_PLANNING_GROUPS=" in said and "expected a non-empty list of item patterns" in said
    monkeypatch.setenv("MFGSYNC_PLANNING_GROUPS", str(tmp_path / "missing.json"))
    assert cli(["replay", "-q", "--input", str(events), "--output", str(tmp_path / "out")]) == 2
    assert "missing.json" in capsys.readouterr().err


# -------------------------------------------------------------- the answer


def test_a_bom_that_links_two_groups_is_dead_lettered_with_the_groups_to_change(tmp_path):
    groups_file = tmp_path / "groups.json"
    groups_file.write_text(json.dumps(GROUPS.to_json()))
    events = [
        params("PUMP-1", "MAKE", plant="P1"),
        bom("PUMP-1", "A", [("IMP-1", 1), ("VLV-3", 2)], plant="P1"),  # a valve in a pump
        bom("PUMP-2", "A", [("IMP-1", 1)], plant="P1"),
        demand("D1", "PUMP-1", 5, DUE, plant="P1"),
    ]
    source = write_events(tmp_path / "in.jsonl", events)
    out = tmp_path / "out"
    run_replay(source, out, TODAY, groups=PlanningGroups.load(str(groups_file)))
    (letter,) = read_changelog(out / "sync.dlq.jsonl").values()
    assert letter["error"] == SPLIT and letter["line"] == 2
    assert "PUMP-1" in letter["reason"] and "VLV-3" in letter["reason"] and "'valves'" in letter["reason"]
    counts = read_counts(out)
    assert counts["dead_lettered"] == 1 and sum(counts.values()) == len(events)  # nothing lost silently
    exceptions = read_changelog(out / "sync.exceptions.jsonl")
    assert any(k.startswith("SCHEMA_INVALID|") and k.endswith(f"|{SPLIT}") for k in exceptions)
    run_replay(source, tmp_path / "whole", TODAY)  # without groups it is an ordinary BOM
    assert read_counts(tmp_path / "whole")["dead_lettered"] == 0


def split_plant(tmp_path: Path) -> tuple[Path, list[Event]]:
    events = list(generate(Spec(events=6_000, keys=600, plants=2, families=4, seed=4242)))
    return write_events(tmp_path / "in.jsonl", events), events


def test_suggested_groups_keep_every_bom_within_one_group_and_spread_the_plant(tmp_path):
    _, events = split_plant(tmp_path)
    groups = suggest_groups(events, 4)
    boms = [e for e in events if isinstance(e, BomRevisionReleased)]
    assert all(groups.split_reason(e) is None for e in boms)
    assert {plant: len(parts) for plant, parts in bom_components(events).items()} == {"P01": 4, "P02": 4}
    routed = dict(plant_batches(events, groups=groups))
    assert {key for key in routed if "|" in key} == {f"P0{p}|g{g}" for p in (1, 2) for g in (1, 2, 3, 4)}
    in_boms = {item for parts in bom_components(events).values() for part in parts for item in part}
    rest = [e for key, batch in routed.items() if "|" not in key for e in batch.events]
    assert not [e for e in rest if plant_key(e) != e.plant or getattr(e, "item", None) in in_boms]
    assert not suggest_groups(events, 1)  # one group per plant is the plant whole


class Passes:
    """Which planners planned: their keys."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def planned(self, planner: PlantPlanner, facts: object, records: object) -> None:
        self.keys.add(planner.key())


def test_mfgsync_groups_prints_the_file_of_the_suggested_groups(tmp_path, capsys):
    source, events = split_plant(tmp_path)
    assert cli(["groups", "--input", str(source), "--groups", "3", "--partitions", "8"]) == 0
    printed = capsys.readouterr()
    suggested = json.loads(printed.out)
    place = functools.partial(kafka_partition, partitions=8)
    assert suggested == suggest_groups(events, 3, place, 8).to_json()
    assert "P01: 4 independent BOM component(s)" in printed.err
    # Group n of a plant is in input partition n: the groups spread over the readers.
    for plant, groups in suggested.items():
        assert [kafka_partition(f"{plant}|{name}", 8) for name in groups] == [0, 1, 2]
    unnamed = suggest_groups(events, 3).to_json()
    # The same items in each group as without partitions: only the names differ.
    assert [list(g.values()) for g in suggested.values()] == [list(g.values()) for g in unnamed.values()]


def test_planned_in_groups_a_split_plant_gives_the_changelogs_of_planning_it_whole(tmp_path):
    source, events = split_plant(tmp_path)
    groups = suggest_groups(events, 3)
    run_replay(source, tmp_path / "whole", TODAY)
    run_replay(source, tmp_path / "grouped", TODAY, workers=2, groups=groups)
    whole = changelogs(tmp_path / "whole")
    assert len(whole["procurement.triggers"]) > 100 and whole["signals.shortages"]  # something to differ in
    assert changelogs(tmp_path / "grouped") == whole
    assert read_counts(tmp_path / "grouped") == read_counts(tmp_path / "whole")
    # The same flow, watched: every group of both plants had a planner of its own.
    passes, out = Passes(), tmp_path / "watched"
    config = FlowConfig(today=TODAY, plan_on="eof", wait_s=math.inf, groups=groups, observer=passes)
    cluster_main(
        build_flow(JsonlSource(source), JsonlTopicSink(out, OUTPUT_TOPICS), config),
        [],
        0,
        worker_count_per_proc=2,
    )
    assert passes.keys == {"P01", "P02"} | {f"P0{p}|g{g}" for p in (1, 2) for g in (1, 2, 3)}
    assert changelogs(out) == whole


def test_a_group_adopts_only_what_its_own_items_published():
    # After a restart each group of a plant reads the plant's records back; a record of
    # another group adopted here would be withdrawn by this group's next pass.
    def planned(item: str) -> list[OutputRecord]:
        step = PlantStep(
            PlanningStep(PlantPlanner(""), groups=GROUPS),
            dedup=DedupWindow(),
            sequencer=Sequencer(key="", wait_s=math.inf),
        )
        step.offer([params(item, plant="P1"), demand(f"D-{item}", item, 10, DUE, plant="P1")], 0.0)
        return step.planning.plan(TODAY)[1]

    pumps, valves = planned("PUMP-1"), planned("VLV-3")
    assert pumps and valves
    restarted = PlanningStep(PlantPlanner("P1", group="pumps"), adopt_published=True, groups=GROUPS)
    restarted.adopt(lambda plant, since: Adoption(records=[*pumps, *valves], through={}))
    adopted = restarted.planner.triggers.emitted
    assert set(adopted) == {"PUMP-1"}
    again = restarted.planner.plan(TODAY)
    assert not [r for r in again if isinstance(r, ProcurementTrigger) and r.item == "VLV-3"]


def test_a_plants_po_lines_awaiting_confirmation_are_summed_over_its_groups():
    now = datetime(2026, 3, 2, 8, tzinfo=UTC)
    view = StatusView(now)
    view.planned("P1", 3, [], [], now, group="pumps")
    view.planned("P1", 4, [], [], now, group="valves")
    view.planned("P1", 1, [], [], now, group="pumps")  # the latest pass of a group counts
    assert view.po_awaiting == {"P1": 5}


# --------------------------------------------------------------- recovery


def test_a_recovery_store_made_with_other_groups_is_refused_with_what_to_do(tmp_path):
    groups_file = tmp_path / "groups.json"
    groups_file.write_text(json.dumps(GROUPS.to_json()))
    grouped = Settings(planning_groups=str(groups_file))
    store = tmp_path / "store"
    create_store(store, 1, grouped.groups().to_json())
    _refuse_other_groups(store, grouped)  # the same groups: resumed
    with pytest.raises(CommandError) as refused:
        _refuse_other_groups(store, Settings())
    assert refused.value.exit_code == 2
    assert "groups of plants P1" in str(refused.value) and "no planning groups" in str(refused.value)
    whole = tmp_path / "whole"
    create_store(whole, 1)  # as every store made before planning groups
    _refuse_other_groups(whole, Settings())
    with pytest.raises(CommandError):
        _refuse_other_groups(whole, grouped)
