"""Prometheus alerting rules (SPEC 7): promtool accepts them and their unit tests pass.

The unit tests live in tests/rules/mfgsync_rules_test.yml: each alert fires on crafted series
above its threshold and not at or below it.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

from tests.services import SCRIPTS, ServiceError, require_service

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus" / "rules" / "mfgsync.yml"
RULE_TESTS = ROOT / "tests" / "rules" / "mfgsync_rules_test.yml"

ALERTS = (
    "MfgsyncEventLagHigh",
    "MfgsyncConsumerLagHigh",
    "MfgsyncDeadLettersRising",
    "MfgsyncCriticalShortagesOpen",
    "MfgsyncExceptionsAging",
    "MfgsyncAlertDeliveryFailing",
    "MfgsyncAlertChannelDown",
)


def promtool() -> str:
    """Path of promtool; installs Debian's prometheus package if needed (skip locally, fail in CI)."""
    path = shutil.which("promtool")
    if path is None:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            subprocess.run(
                [str(SCRIPTS / "prometheus"), "install"], capture_output=True, timeout=300, check=False
            )
        path = shutil.which("promtool")
    if path is None:
        require_service("promtool", ServiceError("promtool not on PATH after `scripts/prometheus install`"))
    return path


def run_promtool(*args: str, cwd: Path = ROOT) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_promtool_check_rules_accepts_the_rules():
    output = run_promtool("check", "rules", str(RULES))
    assert f"SUCCESS: {len(ALERTS)} rules found" in output


def test_every_alert_has_a_promtool_unit_test_that_passes():
    text = RULE_TESTS.read_text()
    for alert in ALERTS:
        assert f"alertname: {alert}" in text, f"{alert} has no unit test"
        assert f"alert: {alert}" in RULES.read_text()
    output = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert "SUCCESS" in output
