"""Service configuration: one pydantic-settings class.

It is read from `MFGSYNC_*` environment variables or an env file. librdkafka and registry
settings pass through untouched, as secrets: they print as `**********` and are unwrapped
only when a client is built.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from mfgsync.flows.placement import Placement
from mfgsync.operators.grouping import PlanningGroups
from mfgsync.operators.parameters import PlantDefaults
from mfgsync.schemas.events import TOPIC_TYPES
from mfgsync.schemas.vocabulary import Severity

REMOVED_VARIABLES: dict[str, str] = {
    "MFGSYNC_RESCHEDULE_OUT_DAYS": (
        "set MFGSYNC_RESCHEDULE_OUT_TOLERANCE_DAYS (days a receipt may arrive early before"
        " RESCHEDULE_OUT) and, if needed, MFGSYNC_RESCHEDULE_IN_TOLERANCE_DAYS and"
        " MFGSYNC_RESCHEDULE_HORIZON_DAYS instead"
    ),
    "MFGSYNC_CATCH_UP_LAG": (
        "set MFGSYNC_CATCH_UP_PARTITION_LAG (messages one input partition lags; default 2,500)"
        " instead: a lag in all grew with the partitions a process reads, so a second process"
        " left catching up earlier than one"
    ),
}
"""Variables earlier versions read, and what replaces them: a setting that silently stopped
working would plan with a default its operator did not choose, so each one is refused."""


def removed_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per removed `MFGSYNC_*` variable set in `environ`, naming its replacement."""
    names = {name.upper() for name in environ}
    return [
        f"{name} is no longer read: {replacement}"
        for name, replacement in REMOVED_VARIABLES.items()
        if name in names
    ]


class Settings(BaseSettings):
    """Everything `mfgsync run`, `topics` and `produce` need."""

    model_config = SettingsConfigDict(env_prefix="MFGSYNC_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_config: dict[str, SecretStr] = Field(default_factory=dict)
    """librdkafka properties, e.g. MFGSYNC_KAFKA_CONFIG='{"security.protocol": "SASL_SSL", ...}'."""
    schema_registry_url: str = "http://127.0.0.1:8081"
    schema_registry_config: dict[str, SecretStr] = Field(default_factory=dict)
    value_format: Literal["avro", "json"] = "avro"
    topic_prefix: str = ""
    """Prepended to every topic name (shared clusters, isolated test runs)."""
    input_topics: tuple[str, ...] = tuple(sorted(TOPIC_TYPES))
    """Canonical names of the input topics to consume (SPEC 2)."""
    topic_partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)
    consumer_group: str = "mfgsync"
    tail: bool = True
    """False: stop at the end of every input partition (backfills, tests)."""
    today: date | None = None
    """Fix the planning date (tests, what-if runs); default: the processing date."""
    bucket: Literal["day", "week"] = "day"
    wait_s: float = Field(30.0, gt=0)
    max_buffer: int = Field(1_000, ge=1)
    dedup_horizon_days: float = Field(7.0, gt=0)
    # Plant-wide defaults of the per-item planning parameters (SPEC 5, 11); a value an item's
    # ItemPlanningParams gives wins.
    safety_time_days: int = Field(0, ge=0)
    reschedule_horizon_days: int | None = Field(None, ge=0)
    """None: receipts any time after a shortfall may be moved in to cover it."""
    reschedule_in_tolerance_days: int = Field(0, ge=0)
    reschedule_out_tolerance_days: int = Field(0, ge=0)
    planning_time_fence_days: int = Field(0, ge=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9464, ge=0)
    """0 disables the HTTP endpoints; process N of a cluster listens on port + N."""
    process_id: int = Field(0, ge=0)
    """Set by `mfgsync run -i`; offsets the metrics port."""
    processes: int = Field(1, ge=1)
    """Set by `mfgsync run -a` (how many addresses) and `workers_per_process` by `-w`: where
    each plant's state is, so batches for other processes are pickled once (`flows/placement.py`)."""
    workers_per_process: int = Field(1, ge=1)
    aligned_partitions: int = Field(0, ge=0)
    """Set by `mfgsync run`: the input partition count plant state is keyed to, so each
    process reads the partitions of its own plants (`flows/placement.py`); 0: not aligned."""
    ready_max_lag: int = Field(1_000, ge=0)
    """Ready once every assigned partition lags at most this many messages."""
    catch_up_partition_lag: int = Field(2_500, ge=0)
    """A process is catching up while one of its input partitions lags more than this many
    messages: the same point of a backlog whatever the number of processes reading it."""
    catch_up_plan_s: float = Field(30.0, ge=0)
    """While catching up, each plant plans at most once per this many seconds and about a tenth
    of the time; each further pass held in the same backlog waits twice as long, up to 16
    times this (0: after every batch, as when live)."""
    lag_window_s: int = Field(60, ge=1)
    """Window of the `sync.lag` reports."""
    alertmanager_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    alert_min_severity: Severity = "HIGH"
    alert_drain_s: float = Field(10.0, ge=0)
    """At shutdown, how long alert channels may take to deliver what still waits."""
    recovery_dir: str | None = None
    recovery_partitions: int = Field(4, ge=1)
    snapshot_interval_s: int = Field(10, gt=0)
    backup_interval_s: int = Field(60, ge=0)
    planning_groups: str | None = None
    """A JSON file of planning groups that split plants over workers (`operators/grouping.py`);
    unset: every plant is planned whole. A recovery store keeps the groups it was made with."""
    dlq_max_raw_bytes: int = Field(64 * 1024, ge=0)
    """At most this many bytes of a rejected value are kept in its dead letter (with its size
    and SHA-256), so a dead letter always fits on the broker."""
    connect_timeout_s: float = Field(15.0, gt=0, le=600)
    """How long `run`, `produce`, `topics create` wait for the broker and the registry before
    giving up with a message naming the address (and status for the service's endpoint)."""
    log_progress_s: float = Field(30.0, gt=0)
    """Interval of the service's progress log lines."""
    progress: bool = True
    """Show a progress bar when stderr is a terminal (`--quiet` sets this false)."""

    def plant_defaults(self) -> PlantDefaults:
        """The plant-wide planning defaults these settings give."""
        return PlantDefaults(
            safety_time_days=self.safety_time_days,
            reschedule_horizon_days=self.reschedule_horizon_days,
            reschedule_in_tolerance_days=self.reschedule_in_tolerance_days,
            reschedule_out_tolerance_days=self.reschedule_out_tolerance_days,
            planning_time_fence_days=self.planning_time_fence_days,
        )

    def placement(self) -> Placement:
        """The placement of the process in its cluster, as `mfgsync run` set it."""
        return Placement(self.process_id, self.processes, self.workers_per_process, self.aligned_partitions)

    def groups(self) -> PlanningGroups:
        """The planning groups of `planning_groups` (none when unset); ValueError or OSError."""
        return PlanningGroups.load(self.planning_groups) if self.planning_groups else PlanningGroups()

    def topic(self, canonical: str) -> str:
        """The Kafka topic name of a canonical topic."""
        return self.topic_prefix + canonical

    def canonical(self, topic: str) -> str:
        """The canonical name of a Kafka topic."""
        return topic.removeprefix(self.topic_prefix)

    def librdkafka(self) -> dict[str, str]:
        """Client configuration with the secrets unwrapped; never log it."""
        return {
            "bootstrap.servers": self.kafka_bootstrap,
            **{k: v.get_secret_value() for k, v in self.kafka_config.items()},
        }

    def registry(self) -> dict[str, str]:
        """Schema Registry client configuration with the secrets unwrapped; never log it."""
        return {k: v.get_secret_value() for k, v in self.schema_registry_config.items()}
