"""Checks before a command starts work: the configuration is valid, the broker and registry answer.

Each failure is a `CommandError`: one line that names what is wrong and the setting to check,
and the exit code. The CLI prints the line and exits; no traceback, no librdkafka chatter (the
probes log nothing themselves), and a bounded wait (``MFGSYNC_CONNECT_TIMEOUT_S``).
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterable
from typing import Any, get_origin

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._metadata import ClusterMetadata  # not re-exported by the stubs
from pydantic import ValidationError
from pydantic_settings import SettingsError

from mfgsync.connectors.kafka import KafkaConfig
from mfgsync.flows.logs import silent_kafka_logger
from mfgsync.flows.settings import Settings, removed_variables

CONFIG_EXIT = 2
UNREACHABLE_EXIT = 1


class CommandError(Exception):
    """A failure to report as ``mfgsync: <lines>`` with ``exit_code``."""

    def __init__(self, lines: str | list[str], exit_code: int = UNREACHABLE_EXIT) -> None:
        self.lines = [lines] if isinstance(lines, str) else lines
        super().__init__("\n".join(self.lines))
        self.exit_code = exit_code


def load_settings() -> Settings:
    """`Settings()` from the environment, or a `CommandError` with one line per bad variable.

    A variable that is no longer read (`REMOVED_VARIABLES`) is bad too: the line names the
    settings that replace it.
    """
    removed = removed_variables(os.environ)
    if removed:
        raise CommandError(removed, CONFIG_EXIT)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise CommandError(_validation_lines(exc), CONFIG_EXIT) from None
    except SettingsError as exc:
        raise CommandError(_parse_error_line(exc), CONFIG_EXIT) from None
    try:
        settings.groups()
    except (OSError, ValueError) as exc:
        line = f"MFGSYNC_PLANNING_GROUPS={settings.planning_groups!r} is invalid: {exc}"
        raise CommandError(line, CONFIG_EXIT) from None
    return settings


def _variable(field: str) -> str:
    return f"MFGSYNC_{field.upper()}"


def _validation_lines(exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "?"
        variable = _variable(field)
        value = os.environ.get(variable, error.get("input"))
        expected = re.sub(r"^Input should be ", "", str(error["msg"]))
        expected = expected.split(", unable to parse")[0]
        if expected.startswith(("greater", "less")):
            expected = f"a number {expected}"
        lines.append(f"{variable}={value!r} is invalid: expected {expected}")
    return lines


def _parse_error_line(exc: SettingsError) -> str:
    found = re.search(r'field "([a-z0-9_]+)"', str(exc))
    field = found.group(1) if found else "?"
    variable = _variable(field)
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    kind: dict[object, str] = {
        dict: 'a JSON object, e.g. {"security.protocol": "SASL_SSL"}',
        tuple: 'a JSON list, e.g. ["erp.demand"]',
    }
    expected = kind.get(get_origin(annotation) or annotation, "valid JSON")
    return f"{variable}={os.environ.get(variable, '')!r} is invalid: expected {expected}"


def check_broker(settings: Settings) -> ClusterMetadata:
    """The broker answers within ``connect_timeout_s``; its cluster metadata."""
    timeout_s = settings.connect_timeout_s
    config: KafkaConfig = {**settings.librdkafka(), "logger": silent_kafka_logger()}
    admin = AdminClient(config)
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        msg = (
            f"cannot reach the Kafka broker at {settings.kafka_bootstrap} within {timeout_s:g} s "
            f"({_reason(error)}); check MFGSYNC_KAFKA_BOOTSTRAP (and MFGSYNC_KAFKA_CONFIG for TLS/SASL)"
        )
        raise CommandError(msg) from None


def check_topics(settings: Settings, metadata: ClusterMetadata, topics: Iterable[str]) -> None:
    """Every topic in ``topics`` exists on the broker."""
    missing = [t for t in topics if t not in metadata.topics or metadata.topics[t].error is not None]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        msg = (
            f"Kafka topic {shown} does not exist at {settings.kafka_bootstrap}; run `mfgsync topics create` "
            "(or check MFGSYNC_TOPIC_PREFIX)"
        )
        raise CommandError(msg)


def check_registry(settings: Settings) -> None:
    """With Avro values, the schema registry answers within ``connect_timeout_s``."""
    if settings.value_format != "avro" or settings.schema_registry_url.startswith("mock://"):
        return
    url = settings.schema_registry_url.rstrip("/") + "/subjects"
    try:
        with urllib.request.urlopen(url, timeout=settings.connect_timeout_s) as response:
            json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return  # it answers; credentials are the client's business (MFGSYNC_SCHEMA_REGISTRY_CONFIG)
        msg = (
            f"the schema registry at {settings.schema_registry_url} answered HTTP {exc.code} for /subjects; "
            "check MFGSYNC_SCHEMA_REGISTRY_URL"
        )
        raise CommandError(msg) from None
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        msg = (
            f"cannot reach the schema registry at {settings.schema_registry_url} within "
            f"{settings.connect_timeout_s:g} s ({reason}); check MFGSYNC_SCHEMA_REGISTRY_URL "
            "(or MFGSYNC_VALUE_FORMAT=json to run without one)"
        )
        raise CommandError(msg) from None


def _reason(error: Any) -> str:
    text = error.str() if hasattr(error, "str") else str(error)
    return text.rstrip(".") or "no answer"
