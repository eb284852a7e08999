"""Clear failures of the real `mfgsync` command: bounded time, one line naming what to check,
a non-zero exit code, no traceback or panic (issue 10, item 3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mfgsync.connectors.http_status import StatusServer
from mfgsync.flows.scenario import scenario_events
from tests.kafka_harness import ROOT, TODAY, write_lines
from tests.services import free_port

CONNECT_TIMEOUT_S = 3


def mfgsync(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, str, float]:
    """Run the real CLI; (exit code, stdout, stderr, seconds)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MFGSYNC_")}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "mfgsync.flows.cli", *args],
        cwd=ROOT,
        env={**clean, "MFGSYNC_CONNECT_TIMEOUT_S": str(CONNECT_TIMEOUT_S), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - started


def assert_clean_failure(stderr: str) -> None:
    assert len(stderr.splitlines()) <= 10, stderr
    for noise in ("Traceback", "panicked", "PanicException", "Connection refused\n"):
        assert noise not in stderr, stderr


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "scenario.jsonl", scenario_events(TODAY))


@pytest.mark.parametrize(
    "command", [("run",), ("run", "--exit-at-end"), ("produce", "--input", "SCENARIO"), ("topics", "create")]
)
def test_an_unreachable_broker_ends_the_command_in_bounded_time_with_one_line(command, scenario):
    nowhere = f"127.0.0.1:{free_port()}"
    args = [str(scenario) if a == "SCENARIO" else a for a in command]
    code, _, stderr, seconds = mfgsync(*args, env={"MFGSYNC_KAFKA_BOOTSTRAP": nowhere})
    assert code == 1
    assert seconds < CONNECT_TIMEOUT_S + 10, seconds
    [line] = stderr.splitlines()
    assert nowhere in line and "MFGSYNC_KAFKA_BOOTSTRAP" in line
    assert_clean_failure(stderr)


def test_invalid_settings_get_one_line_per_variable_and_exit_code_2():
    code, _, stderr, _ = mfgsync(
        "topics",
        "create",
        env={"MFGSYNC_TOPIC_PARTITIONS": "abc", "MFGSYNC_WAIT_S": "-1", "MFGSYNC_VALUE_FORMAT": "xml"},
    )
    assert code == 2
    assert sorted(stderr.splitlines()) == [
        "mfgsync: MFGSYNC_TOPIC_PARTITIONS='abc' is invalid: expected a valid integer",
        "mfgsync: MFGSYNC_VALUE_FORMAT='xml' is invalid: expected 'avro' or 'json'",
        "mfgsync: MFGSYNC_WAIT_S='-1' is invalid: expected a number greater than 0",
    ]


def test_librdkafka_settings_that_are_not_json_say_json_is_expected():
    code, _, stderr, _ = mfgsync("run", env={"MFGSYNC_KAFKA_CONFIG": "not json"})
    assert code == 2
    [line] = stderr.splitlines()
    assert line.startswith("mfgsync: MFGSYNC_KAFKA_CONFIG='not json' is invalid: expected a JSON object")


def test_replay_rejects_a_bad_planning_date_a_file_as_output_and_zero_workers(scenario, tmp_path):
    code, _, stderr, _ = mfgsync(
        "replay", "--input", str(scenario), "--output", str(tmp_path / "o"), env={"MFGSYNC_TODAY": "notadate"}
    )
    assert (code, stderr.strip()) == (
        2,
        "mfgsync: MFGSYNC_TODAY='notadate' is invalid: expected a date YYYY-MM-DD (or pass --today)",
    )
    code, _, stderr, _ = mfgsync("replay", "--input", str(scenario), "--output", str(scenario))
    assert code == 2 and "is a file; it must be a directory" in stderr
    assert_clean_failure(stderr)
    code, _, stderr, _ = mfgsync(
        "replay", "--input", str(scenario), "--output", str(tmp_path / "o"), "--workers", "0"
    )
    assert code == 2 and "--workers: expected a whole number of at least 1, got '0'" in stderr


def test_replay_takes_the_planning_date_from_the_environment(scenario, tmp_path):
    code, stdout, _, _ = mfgsync(
        "replay",
        "--input",
        str(scenario),
        "--output",
        str(tmp_path / "o"),
        env={"MFGSYNC_TODAY": "2026-03-02"},
    )
    assert code == 0
    again, _, _, _ = mfgsync(
        "replay", "--input", str(scenario), "--output", str(tmp_path / "p"), "--today", "2026-03-02"
    )
    assert again == 0
    for name in ("procurement.triggers.jsonl", "signals.shortages.jsonl"):
        assert (tmp_path / "o" / name).read_text() == (tmp_path / "p" / name).read_text()
    assert stdout.startswith("read 68 = applied 67")


def test_an_empty_input_writes_every_changelog_file_empty_and_warns(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    code, stdout, stderr, _ = mfgsync("replay", "--input", str(empty), "--output", str(tmp_path / "out"))
    assert code == 0
    assert stderr.strip() == f"mfgsync: warning: {empty} has no events; the changelogs are empty"
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "signals.shortages.jsonl" in written and "procurement.triggers.jsonl" in written
    assert all((tmp_path / "out" / name).read_text() == "" for name in written)
    assert stdout.startswith("read 0 = ")


def test_status_reads_the_metrics_host_and_port_settings_and_takes_host_port():
    document = {"service": {"ready": True, "uptime_s": 5}, "shortages_open": {"CRITICAL": 2}}
    with StatusServer(
        "127.0.0.1", 0, CollectorRegistry(), ready=lambda: True, status=lambda: document
    ) as server:
        port = str(server.port)
        by_env = mfgsync("status", env={"MFGSYNC_METRICS_HOST": "127.0.0.1", "MFGSYNC_METRICS_PORT": port})
        by_host_port = mfgsync("status", "--url", f"127.0.0.1:{port}")
    for code, stdout, stderr, _ in (by_env, by_host_port):
        assert code == 0, stderr
        assert "CRITICAL" in stdout
    code, _, stderr, seconds = mfgsync("status", "--url", f"127.0.0.1:{free_port()}")
    assert code == 2 and seconds < 15
    [line] = stderr.splitlines()
    assert "MFGSYNC_METRICS_HOST/MFGSYNC_METRICS_PORT" in line


@pytest.mark.kafka
@pytest.mark.parametrize(
    "command", [("run", "--exit-at-end"), ("produce", "--input", "SCENARIO"), ("topics", "create")]
)
def test_an_unreachable_registry_ends_the_command_with_one_line(command, kafka, scenario):
    nowhere = f"http://127.0.0.1:{free_port()}"
    args = [str(scenario) if a == "SCENARIO" else a for a in command]
    env = {
        "MFGSYNC_KAFKA_BOOTSTRAP": kafka,
        "MFGSYNC_SCHEMA_REGISTRY_URL": nowhere,
        "MFGSYNC_VALUE_FORMAT": "avro",
    }
    code, _, stderr, seconds = mfgsync(*args, env=env)
    assert code == 1 and seconds < CONNECT_TIMEOUT_S + 10
    [line] = stderr.splitlines()
    assert nowhere in line and "MFGSYNC_SCHEMA_REGISTRY_URL" in line


@pytest.mark.kafka
def test_run_against_missing_topics_names_them_and_the_command_to_create_them(kafka):
    env = {"MFGSYNC_KAFKA_BOOTSTRAP": kafka, "MFGSYNC_VALUE_FORMAT": "json", "MFGSYNC_TOPIC_PREFIX": "never."}
    code, _, stderr, _ = mfgsync("run", "--exit-at-end", env=env)
    assert code == 1
    [line] = stderr.splitlines()
    assert "never.erp.demand" in line and "mfgsync topics create" in line


def test_replay_plans_with_the_plant_wide_defaults_the_service_reads(scenario, tmp_path):
    """MFGSYNC_SAFETY_TIME_DAYS moves proposals earlier in a replay as in the service; a bad
    value is one line and exit code 2, as for every other command."""

    def proposals(env: dict[str, str], out: str) -> dict[str, str]:
        args = ("--input", str(scenario), "--output", str(tmp_path / out), "--today", str(TODAY))
        code, _, stderr, _ = mfgsync("replay", *args, env=env)
        assert code == 0, stderr
        lines = (tmp_path / out / "procurement.triggers.jsonl").read_text().splitlines()
        latest = {json.loads(line)["trigger_id"]: json.loads(line) for line in lines}
        return {
            tid: t["need_date"]
            for tid, t in latest.items()
            if t["state"] != "WITHDRAWN" and t["type"].startswith("CREATE_")
        }

    plain = proposals({}, "plain")
    early = proposals({"MFGSYNC_SAFETY_TIME_DAYS": "2"}, "early")
    common = plain.keys() & early.keys()  # ids name the requirement covered, not the need date
    assert common
    assert all(early[tid] <= plain[tid] for tid in common)
    assert any(early[tid] < plain[tid] for tid in common)  # due two days before the requirement
    args = ("--input", str(scenario), "--output", str(tmp_path / "bad"))
    code, _, stderr, _ = mfgsync("replay", *args, env={"MFGSYNC_SAFETY_TIME_DAYS": "-1"})
    assert code == 2
    [line] = stderr.splitlines()
    assert line.startswith("mfgsync: MFGSYNC_SAFETY_TIME_DAYS='-1' is invalid")


@pytest.mark.parametrize("command", [("replay", "--input", "SCENARIO", "--output", "OUT"), ("run",)])
def test_the_removed_reschedule_out_days_is_refused_with_its_replacements(command, scenario, tmp_path):
    """MFGSYNC_RESCHEDULE_OUT_DAYS is no longer read: rather than plan with a default its
    operator did not choose, every command stops with one line naming the reschedule
    tolerance settings that replace it, and exit code 2 (a configuration error)."""
    args = [str(scenario) if a == "SCENARIO" else str(tmp_path / "o") if a == "OUT" else a for a in command]
    code, _, stderr, _ = mfgsync(*args, env={"MFGSYNC_RESCHEDULE_OUT_DAYS": "3"})
    assert code == 2
    [line] = stderr.splitlines()
    assert line.startswith("mfgsync: MFGSYNC_RESCHEDULE_OUT_DAYS is no longer read")
    assert "MFGSYNC_RESCHEDULE_OUT_TOLERANCE_DAYS" in line
    assert "MFGSYNC_RESCHEDULE_IN_TOLERANCE_DAYS" in line
    assert not (tmp_path / "o").exists()


def test_the_removed_catch_up_lag_in_all_is_refused_naming_the_per_partition_setting(tmp_path):
    code, _, stderr, _ = mfgsync("run", env={"MFGSYNC_CATCH_UP_LAG": "20000"})
    assert code == 2
    [line] = stderr.splitlines()
    assert line.startswith("mfgsync: MFGSYNC_CATCH_UP_LAG is no longer read")
    assert "MFGSYNC_CATCH_UP_PARTITION_LAG" in line


@pytest.mark.parametrize("module", ["mfgsync.flows.service", "mfgsync.flows.replay"])
def test_the_bytewax_run_entry_points_refuse_the_removed_variable_too(module, scenario, tmp_path):
    """`python -m bytewax.run mfgsync.flows.service:flow` (or replay's) bypasses the CLI: the
    module's `flow` is built from the environment, and refuses the removed variable alike."""
    env = {
        "MFGSYNC_RESCHEDULE_OUT_DAYS": "3",
        "MFGSYNC_INPUT": str(scenario),
        "MFGSYNC_OUTPUT": str(tmp_path / "o"),
    }
    code = (
        f"import {module} as m\n"
        "try:\n    m.flow\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.startswith("CommandError MFGSYNC_RESCHEDULE_OUT_DAYS is no longer read"), done
    assert not (tmp_path / "o").exists()
