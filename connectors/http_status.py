"""The service's small HTTP face (SPEC 7): ``/metrics``, ``/healthz``, ``/readyz``, ``/status``.

`StatusServer` is a stdlib `ThreadingHTTPServer` on a daemon thread; it knows nothing about
the dataflow and asks two callables for readiness and the status document. Imports no
bytewax; `flows/` owns the server and decides what "ready" means.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import generate_latest

log = logging.getLogger(__name__)

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The format `generate_latest` writes by default. Not `CONTENT_TYPE_LATEST`, which in recent
prometheus-client releases (0.26 here) names text format 1.0.0."""


class StatusServer:
    """Serves the metrics of ``registry`` and the health, readiness and status of the service.

    - ``GET /metrics``: Prometheus text exposition of ``registry``.
    - ``GET /healthz``: 200 ``ok`` for as long as the server runs (liveness).
    - ``GET /readyz``: 200 when ``ready()`` is true, else 503 (also 503 if it raises).
    - ``GET /status``: ``status()`` as JSON (500 with the error if it raises).

    ``port=0`` picks a free port; read the chosen one from ``.port`` after `start`.
    """

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        ready: Callable[[], bool],
        status: Callable[[], dict[str, Any]],
    ) -> None:
        self.host = host
        self._requested_port = port
        self.registry = registry
        self.ready = ready
        self.status = status
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one until `start`)."""
        return self._httpd.server_address[1] if self._httpd else self._requested_port

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:9464``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> StatusServer:
        """Bind and serve on a daemon thread; raises OSError if the port is taken."""
        if self._httpd is not None:
            msg = "StatusServer already started"
            raise RuntimeError(msg)
        httpd = _Server((self.host, self._requested_port), _handler_for(self))
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="mfgsync-status", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port; idempotent."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> StatusServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hung client never holds the process

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A scraper that hangs up mid-response is not worth a traceback on stderr.
        log.debug("status request from %s failed", client_address, exc_info=True)


def _handler_for(server: StatusServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mfgsync"
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(HTTPStatus.OK, generate_latest(server.registry), METRICS_CONTENT_TYPE)
            elif path == "/healthz":
                self._send(HTTPStatus.OK, b"ok\n")
            elif path == "/readyz":
                try:
                    is_ready = bool(server.ready())
                except Exception:
                    log.exception("ready() raised; answering 503")
                    is_ready = False
                if is_ready:
                    self._send(HTTPStatus.OK, b"ready\n")
                else:
                    self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"not ready\n")
            elif path == "/status":
                try:
                    body, code = json.dumps(server.status(), default=str).encode(), HTTPStatus.OK
                except Exception as exc:
                    log.exception("status() raised")
                    body = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
                    code = HTTPStatus.INTERNAL_SERVER_ERROR
                self._send(code, body, "application/json")
            else:
                self._send(HTTPStatus.NOT_FOUND, b"not found: try /metrics, /healthz, /readyz, /status\n")

        def _send(
            self, code: HTTPStatus, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("status %s - %s", self.address_string(), format % args)

    return Handler
