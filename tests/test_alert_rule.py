"""Which shortage signals alert (SPEC 7): `operators.alerts.AlertRule`, pure, no channel involved."""

from __future__ import annotations

import pickle

import pytest

from mfgsync.operators.alerts import AlertAction, AlertRule
from tests.test_alerting import shortage

FIRE, END, NONE = AlertAction.FIRE, AlertAction.END, AlertAction.NONE


def test_an_alert_fires_at_or_above_the_threshold_and_ends_when_resolved_or_below_it():
    rule = AlertRule("HIGH")
    submitted = [
        (shortage("A", severity="WARNING"), NONE),  # below the threshold
        (shortage("A", severity="WARNING", state="RESOLVED"), NONE),  # never fired
        (shortage("B", severity="HIGH"), FIRE),
        (shortage("B", severity="CRITICAL", state="UPDATED"), FIRE),  # still firing, new severity
        (shortage("B", severity="WARNING", state="UPDATED"), END),  # below: the alert ends
        (shortage("B", severity="WARNING", state="RESOLVED"), NONE),  # already ended
        (shortage("B", severity="HIGH", state="UPDATED"), FIRE),  # above again: fires anew
        (shortage("B", severity="HIGH", state="RESOLVED"), END),
        (shortage("C", severity="CRITICAL"), FIRE),
    ]
    assert [rule.decide(signal) for signal, _ in submitted] == [expected for _, expected in submitted]
    assert rule.open_alerts == 1


def test_a_critical_threshold_ignores_high_shortages_entirely():
    rule = AlertRule("CRITICAL")
    assert rule.decide(shortage("A", severity="HIGH")) is NONE
    assert rule.decide(shortage("A", severity="CRITICAL", state="UPDATED")) is FIRE
    assert rule.decide(shortage("A", severity="HIGH", state="UPDATED")) is END
    assert rule.decide(shortage("A", severity="HIGH", state="RESOLVED")) is NONE


def test_open_alerts_are_bounded_by_open_shortages_and_survive_a_snapshot():
    rule = AlertRule("WARNING")
    for i in range(1_000):
        rule.decide(shortage(f"I{i}", severity="WARNING"))
        if i % 2:
            rule.decide(shortage(f"I{i}", severity="WARNING", state="RESOLVED"))
    assert rule.open_alerts == 500
    resumed = AlertRule("WARNING", pickle.loads(pickle.dumps(rule.snapshot())))
    assert resumed.decide(shortage("I0", severity="WARNING", state="RESOLVED")) is END
    assert resumed.decide(shortage("I1", severity="WARNING", state="RESOLVED")) is NONE


def test_an_unknown_threshold_is_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="min_severity must be one of CRITICAL, HIGH, WARNING"):
        AlertRule("high")
