"""The Prometheus metrics of SPEC 7, defined once on a registry.

Names and labels are the contract that the shipped alert rules and dashboard query
(`deploy/prometheus/rules/mfgsync.yml`, `deploy/grafana/dashboards/mfgsync.json`).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class SyncMetrics:
    """Every mfgsync metric; one instance per process and registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.events = Counter(
            "mfgsync_events",
            "Input records by topic and terminal outcome.",
            ["topic", "outcome"],
            registry=registry,
        )
        self.events_exchanged = Counter(
            "mfgsync_events_exchanged",
            "Input events this process read and handed to a plant whose state is on another process "
            "(0 when producers partition by planning key; README, Scaling).",
            registry=registry,
        )
        self.outputs_rejected = Counter(
            "mfgsync_outputs_rejected",
            "Output records refused by the broker for good (or not encodable), dead-lettered where possible.",
            ["topic", "error"],
            registry=registry,
        )
        self.event_lag = Histogram(
            "mfgsync_event_lag_seconds",
            "Processing time minus event time of admitted events.",
            ["source"],
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.sync_latency = Histogram(
            "mfgsync_sync_latency_seconds",
            "From ingest of the newest cause in a planning batch to emission of its records.",
            ["output"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.consumer_lag = Gauge(
            "mfgsync_consumer_lag_messages",
            "Messages between the last stable offset and the next one to read.",
            ["topic", "partition"],
            registry=registry,
        )
        self.shortages_open = Gauge(
            "mfgsync_shortages_open", "Open shortage signals.", ["plant", "severity"], registry=registry
        )
        self.triggers = Counter(
            "mfgsync_triggers", "Procurement triggers opened, by type.", ["type"], registry=registry
        )
        self.exceptions_open = Gauge(
            "mfgsync_exceptions_open", "Open exceptions.", ["type"], registry=registry
        )
        self.exception_age = Gauge(
            "mfgsync_exception_age_seconds", "Age of the oldest open exception.", ["type"], registry=registry
        )
        self.po_lines_awaiting = Gauge(
            "mfgsync_po_lines_awaiting_confirmation",
            "Open purchase order lines without a supplier confirmation.",
            ["plant"],
            registry=registry,
        )
        self.bom_propagation = Histogram(
            "mfgsync_bom_revision_propagation_seconds",
            "From a BOM revision's event time to the end of the planning pass that published its effects.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )


class AlertMetrics:
    """The alert channels' metrics (`connectors.alert_dispatch`), labelled by channel."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.sent = Counter(
            "mfgsync_alerts_sent", "Alert changes delivered to a channel.", ["channel"], registry=registry
        )
        self.failed = Counter(
            "mfgsync_alerts_failed",
            "Alert changes a channel rejected (HTTP 4xx: retrying would not help).",
            ["channel"],
            registry=registry,
        )
        self.dropped = Counter(
            "mfgsync_alerts_dropped",
            "Alert changes still waiting at shutdown (or submitted after it).",
            ["channel"],
            registry=registry,
        )
        self.coalesced = Counter(
            "mfgsync_alerts_coalesced",
            "Alert changes replaced by a newer state of the same signal before delivery.",
            ["channel"],
            registry=registry,
        )
        self.outages = Counter(
            "mfgsync_alert_channel_outages",
            "Times a channel became unreachable (refused, timed out, 5xx).",
            ["channel"],
            registry=registry,
        )
        self.up = Gauge(
            "mfgsync_alert_channel_up",
            "1 while the channel's last delivery attempt succeeded, 0 during an outage.",
            ["channel"],
            registry=registry,
        )
        self.waiting = Gauge(
            "mfgsync_alert_queue_depth",
            "Alert changes waiting for delivery (at most one per signal).",
            ["channel"],
            registry=registry,
        )

    def export(self, channel: str, *, waiting: Callable[[], float]) -> None:
        """Export a channel's series from the start: zero counters, up, and its waiting count."""
        for counter in (self.sent, self.failed, self.dropped, self.coalesced, self.outages):
            counter.labels(channel)
        self.up.labels(channel).set(1)
        self.waiting.labels(channel).set_function(waiting)
