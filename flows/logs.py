"""Structured logs: one JSON object per line on stderr, from the process that does the work.

`setup_logging` is called by every command and, because `mfgsync run` execs bytewax's
runner, again inside the dataflow process when the flow is built. `kafka_logger` is the
logger handed to librdkafka (``logger=`` in a client's configuration), so its messages come
out as the same JSON lines, at most one per facility every `KAFKA_LOG_EVERY_S` seconds
(the rest are counted in the next line that gets through). `obscured` prints a
configuration without secrets.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
import urllib.parse
from datetime import UTC, datetime
from typing import Any

KAFKA_LOG_EVERY_S = 10.0
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _StderrHandler(logging.Handler):
    """Writes to stderr; through tqdm once a progress bar may be showing, so it is redrawn below."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            bars = sys.modules.get("tqdm")  # imported only by a `flows.progress.Progress` bar
            if bars is not None:
                bars.tqdm.write(line, file=sys.stderr)
            else:
                sys.stderr.write(line + "\n")
                sys.stderr.flush()
        except Exception:
            self.handleError(record)


def setup_logging(level: str | None = None) -> None:
    """JSON lines on stderr at ``level`` (default ``MFGSYNC_LOG_LEVEL`` or INFO); idempotent."""
    root = logging.getLogger()
    chosen = (level or os.environ.get("MFGSYNC_LOG_LEVEL") or "INFO").upper()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(JsonLogFormatter())
        root.handlers = [handler]
    root.setLevel(chosen if chosen in logging.getLevelNamesMapping() else "INFO")


class _PerFacilityLimit(logging.Filter):
    """Lets through one record per librdkafka facility every ``every_s`` seconds."""

    def __init__(self, every_s: float) -> None:
        super().__init__()
        self._every_s = every_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        facility = str(record.args[0]) if isinstance(record.args, tuple) and record.args else record.msg
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(facility, -self._every_s) < self._every_s:
                self._suppressed[facility] = self._suppressed.get(facility, 0) + 1
                return False
            self._last[facility] = now
            suppressed = self._suppressed.pop(facility, 0)
        record.facility = facility
        if suppressed:
            record.suppressed = suppressed
        return True


def kafka_logger(every_s: float = KAFKA_LOG_EVERY_S) -> logging.Logger:
    """The logger for librdkafka messages (pass as ``logger`` in a client config), rate-limited."""
    logger = logging.getLogger("mfgsync.librdkafka")
    if not any(isinstance(f, _PerFacilityLimit) for f in logger.filters):
        logger.addFilter(_PerFacilityLimit(every_s))
    return logger


def silent_kafka_logger() -> logging.Logger:
    """A logger that drops librdkafka's messages (for probes that report failures themselves)."""
    logger = logging.getLogger("mfgsync.librdkafka.probe")
    logger.propagate = False
    logger.addHandler(logging.NullHandler())
    return logger


def obscured(value: Any) -> Any:
    """A configuration value safe to log: secrets stay masked, URLs lose their user info."""
    if isinstance(value, dict):
        return {k: obscured(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [obscured(v) for v in value]
    if isinstance(value, str) and "://" in value and "@" in value:
        parts = urllib.parse.urlsplit(value)
        if parts.username or parts.password:
            host = parts.hostname or ""
            netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
            return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return value
