"""The Grafana dashboard and the alert rules use only metrics that exist (SPEC 7).

A renamed metric must break this test rather than leave an empty panel or an alert that can
never fire: every ``mfgsync_*`` name in the dashboard and the rules must be a SPEC 7 metric or
one the alert dispatcher really registers.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from mfgsync.connectors.alert_dispatch import AlertDispatcher
from tests.test_alert_rules import promtool

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "mfgsync.json"
DATASOURCES = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
RULE_FILES = (
    ROOT / "deploy" / "prometheus" / "rules" / "mfgsync.yml",
    ROOT / "tests" / "rules" / "mfgsync_rules_test.yml",
)

# SPEC section 7, name -> type. Histograms are also queried through _bucket/_sum/_count.
SPEC7_METRICS = {
    "mfgsync_events_total": "counter",
    "mfgsync_event_lag_seconds": "histogram",
    "mfgsync_sync_latency_seconds": "histogram",
    "mfgsync_consumer_lag_messages": "gauge",
    "mfgsync_shortages_open": "gauge",
    "mfgsync_triggers_total": "counter",
    "mfgsync_exceptions_open": "gauge",
    "mfgsync_exception_age_seconds": "gauge",
    "mfgsync_po_lines_awaiting_confirmation": "gauge",
    "mfgsync_bom_revision_propagation_seconds": "histogram",
}
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
METRIC_NAME = re.compile(r"\bmfgsync_[a-z0-9_]+")
COMMENT = re.compile(r"(^|\s)#.*$", re.MULTILINE)


def alert_metrics() -> set[str]:
    """The names AlertDispatcher registers (sample names, so counters carry _total)."""
    registry = CollectorRegistry()
    dispatcher = AlertDispatcher([_NoChannel()], registry=registry)
    dispatcher.close()
    return {
        sample.name
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


class _NoChannel:
    name = "none"

    def deliver(self, changes) -> None:
        pass

    def maintain(self) -> None:
        pass

    def resync(self) -> None:
        pass


def known_metric(name: str, alert_names: set[str]) -> bool:
    if name in SPEC7_METRICS or name in alert_names:
        return True
    base, _, suffix = name.rpartition("_")
    return f"_{suffix}" in HISTOGRAM_SERIES and SPEC7_METRICS.get(base) == "histogram"


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def dashboard_exprs() -> list[str]:
    return [target["expr"] for panel in dashboard()["panels"] for target in panel["targets"]]


def test_alert_metric_names_are_the_documented_ones():
    assert alert_metrics() == {
        "mfgsync_alerts_sent_total",
        "mfgsync_alerts_failed_total",
        "mfgsync_alerts_dropped_total",
        "mfgsync_alerts_coalesced_total",
        "mfgsync_alert_channel_outages_total",
        "mfgsync_alert_channel_up",
        "mfgsync_alert_queue_depth",
    }


def test_dashboard_is_valid_json_with_panels_on_the_provisioned_datasource():
    board = dashboard()
    panels = board["panels"]
    assert isinstance(panels, list) and len(panels) >= 11
    assert len({panel["id"] for panel in panels}) == len(panels)
    [provisioned_uid] = re.findall(r"^\s*uid:\s*(\S+)\s*$", DATASOURCES.read_text(), re.MULTILINE)
    assert provisioned_uid == "prometheus"
    for panel in panels:
        assert panel["title"] and panel["gridPos"]["w"] > 0
        assert panel["datasource"] == {"type": "prometheus", "uid": provisioned_uid}, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip() and target["datasource"]["uid"] == provisioned_uid
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_dashboard_shows_every_spec7_and_alert_metric():
    used = {name for expr in dashboard_exprs() for name in METRIC_NAME.findall(expr)}
    bases = {
        name.removesuffix(suffix) for name in used for suffix in HISTOGRAM_SERIES if name.endswith(suffix)
    }
    missing = (set(SPEC7_METRICS) | alert_metrics()) - used - bases
    assert not missing, f"no panel shows {sorted(missing)}"


@pytest.mark.parametrize("path", [DASHBOARD, *RULE_FILES], ids=lambda p: p.name)
def test_only_known_metric_names_are_used(path):
    text = path.read_text() if path.suffix == ".json" else COMMENT.sub("", path.read_text())
    names = set(METRIC_NAME.findall(text))
    assert names, f"no mfgsync metric in {path}"
    alert_names = alert_metrics()
    unknown = sorted(name for name in names if not known_metric(name, alert_names))
    assert not unknown, (
        f"{path.name} uses metrics that neither SPEC 7 nor the alert dispatcher define: {unknown}"
    )


def test_dashboard_queries_are_valid_promql(tmp_path):
    # promtool parses every query when it checks a rules file: one recording rule per query,
    # with Grafana's $__rate_interval replaced by a duration.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "1m")}
                    for i, expr in enumerate(dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    result = subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
