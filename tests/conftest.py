"""Session fixtures: one real Kafka broker and one real Schema Registry for the whole run.

Without them, tests that need them skip on a laptop and fail under CI=true. Every test starts
the event factories' ids and sequence numbers afresh (`tests/factories.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from tests.factories import fresh_counters
from tests.services import kafka_broker, schema_registry, start_service


@pytest.fixture(autouse=True)
def _fresh_event_counters() -> None:
    fresh_counters()


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield start_service(stack, "kafka", kafka_broker(tmp_path_factory.mktemp("kafka")))


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        yield start_service(stack, "schema registry", schema_registry(tmp_path_factory.mktemp("registry")))
