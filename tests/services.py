"""Real local services for tests: Kafka, Schema Registry, Prometheus and Alertmanager on 127.0.0.1.

Each context manager starts its service with the matching ``scripts/<name>`` on free ports
in a directory under ``tmp_dir``, yields how to reach it, and stops it on exit. A service
that cannot start raises :class:`ServiceError`; pass that to :func:`require_service` to skip
the test locally or fail it loudly in CI (``CI=true``). Typical fixture::

    @pytest.fixture(scope="session")
    def kafka_bootstrap(tmp_path_factory):
        with contextlib.ExitStack() as stack:
            yield start_service(stack, "kafka", kafka_broker(tmp_path_factory.mktemp("kafka")))
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"

# Generous: a cold `scripts/kafka start` also resolves Kafka from Maven Central first
# (about 6 s here), then waits up to 60 s for the broker.
START_TIMEOUT_S = 300
STOP_TIMEOUT_S = 60

T = TypeVar("T")


class ServiceError(RuntimeError):
    """A local service could not be installed or started."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in socks:  # all bound at once, so the ports differ
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_service(name: str, exc: BaseException) -> NoReturn:
    """Skip the current test because ``name`` is unavailable, or fail loudly in CI."""
    if in_ci():
        raise RuntimeError(f"{name} is required in CI but unavailable: {exc}") from exc
    import pytest

    pytest.skip(f"{name} unavailable (under CI=true this fails instead): {exc}")


def start_service(stack: contextlib.ExitStack, name: str, service: contextlib.AbstractContextManager[T]) -> T:
    """Enter ``service`` on ``stack``; on ServiceError skip (or fail in CI) via require_service."""
    try:
        return stack.enter_context(service)
    except ServiceError as exc:
        require_service(name, exc)


def _start(name: str, directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
    """Run ``scripts/<name> start --dir DIR ARGS...``; raise ServiceError with its output on failure."""
    cmd = [str(SCRIPTS / name), "start", "--dir", str(directory), *args]
    try:
        proc = subprocess.run(
            cmd,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceError(f"{' '.join(cmd)}: {exc}") from exc
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-3000:]
        raise ServiceError(f"{' '.join(cmd)} exited {proc.returncode}:\n{output}")


def _stop(name: str, directory: Path) -> None:
    """Run ``scripts/<name> stop --dir DIR``, best effort (it also cleans up after a failed start)."""
    cmd = [str(SCRIPTS / name), "stop", "--dir", str(directory)]
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=STOP_TIMEOUT_S)


@contextlib.contextmanager
def kafka_broker(tmp_dir: str | os.PathLike[str]) -> Iterator[str]:
    """A single-node KRaft Kafka broker; yields its bootstrap string ``127.0.0.1:PORT``."""
    directory = Path(tmp_dir) / "kafka"
    port, controller_port = free_ports(2)
    env = {"MFGSYNC_KAFKA_CONTROLLER_PORT": str(controller_port)}
    try:
        _start("kafka", directory, "--port", str(port), env=env)
        yield f"127.0.0.1:{port}"
    finally:
        _stop("kafka", directory)


@contextlib.contextmanager
def schema_registry(tmp_dir: str | os.PathLike[str], kafka_bootstrap: str | None = None) -> Iterator[str]:
    """A Confluent-compatible Schema Registry (Apicurio Registry, see scripts/schema-registry).

    Yields the URL for confluent_kafka's ``SchemaRegistryClient({"url": URL})``:
    ``http://127.0.0.1:PORT/apis/ccompat/v7``. Schemas live in memory, or with
    ``kafka_bootstrap`` (e.g. from :func:`kafka_broker`) in that broker's topics, so a registry
    started again against the same broker still has them.
    """
    directory = Path(tmp_dir) / "schema-registry"
    port = free_port()
    args = ["--port", str(port)]
    if kafka_bootstrap:
        args += ["--kafka", kafka_bootstrap]
    try:
        _start("schema-registry", directory, *args)
        yield f"http://127.0.0.1:{port}/apis/ccompat/v7"
    finally:
        _stop("schema-registry", directory)


@contextlib.contextmanager
def prometheus(tmp_dir: str | os.PathLike[str], target: str | None = None) -> Iterator[str]:
    """Prometheus scraping ``target`` (``host:port``; default: itself) every second.

    Yields its base URL ``http://127.0.0.1:PORT``. Prometheus applies a new scrape config only
    after about 5 s, so expect the first sample of ``target`` 5-7 s after start.
    """
    directory = Path(tmp_dir) / "prometheus"
    port = free_port()
    try:
        _start("prometheus", directory, "--port", str(port), "--target", target or f"127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop("prometheus", directory)


@contextlib.contextmanager
def alertmanager(tmp_dir: str | os.PathLike[str], port: int | None = None) -> Iterator[str]:
    """Alertmanager with a single no-op receiver; yields its base URL ``http://127.0.0.1:PORT``.

    ``port`` (default: a free one) lets a test start it where a client already points (an
    outage that ends), and again after stopping it (an Alertmanager that lost its state).
    """
    directory = Path(tmp_dir) / "alertmanager"
    port = port or free_port()
    try:
        _start("alertmanager", directory, "--port", str(port))
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop("alertmanager", directory)
