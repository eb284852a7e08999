"""A terminal summary of a running service's ``/status`` document (SPEC 7).

`fetch_status` reads the JSON from a `connectors.http_status.StatusServer`; `render_status`
turns it into plain text: open shortages by severity, open triggers by type, ECOs and whether
each fully propagated, PO lines awaiting confirmation, open exceptions with their age, and
lag per source. ``python -m flows.status [URL]`` prints it. Missing sections render as
"none", so an older or partial document still prints.

The document's shape::

    {"service": {"ready": bool, "uptime_s": float},
     "events": {"applied": int, "deduplicated": int, "superseded": int, "dead_lettered": int},
     "shortages_open": {"CRITICAL": int, "HIGH": int, "WARNING": int},
     "triggers_open": {"<TYPE>": int},
     "ecos": [{"eco": str, "plant": str, "released_at": iso str, "last_trigger_at": iso str | null,
               "propagated": bool, "propagation_s": float | null}],
     "po_lines_awaiting_confirmation": {"<plant>": int},
     "exceptions_open": [{"type": str, "key": str, "age_s": float}],
     "lag": {"<source>": {"count": int, "p50_s": float, "p99_s": float, "max_s": float}}}
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import Any

from mfgsync.schemas.vocabulary import SEVERITIES

MAX_EXCEPTIONS_SHOWN = 20
DEFAULT_URL = "http://127.0.0.1:9464"


class StatusUnavailableError(RuntimeError):
    """The status document could not be fetched or was not JSON."""


def fetch_status(url: str = DEFAULT_URL, timeout_s: float = 5.0) -> dict[str, Any]:
    """GET the status document; ``url`` is the service's base URL or its ``/status`` URL."""
    parts = urllib.parse.urlsplit(url)
    if not parts.path.rstrip("/").endswith("/status"):
        url = urllib.parse.urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/status"))
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            document = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        msg = f"could not read the status from {url}: {exc}"
        raise StatusUnavailableError(msg) from exc
    if not isinstance(document, dict):
        msg = f"{url} did not answer a JSON object"
        raise StatusUnavailableError(msg)
    return document


def format_age(seconds: float) -> str:
    """A duration in its largest whole unit, rounded down: 45s, 3m, 2h, 4d."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def format_lag(seconds: float) -> str:
    """Lag below a minute with centiseconds (0.42s), above in whole units (3m)."""
    return f"{seconds:.2f}s" if seconds < 60 else format_age(seconds)


def render_status(status: dict[str, Any]) -> str:
    """The status document as a terminal summary, one section per concern."""
    lines = [*_header(status)]
    lines += ["", "Open shortages by severity"]
    shortages = status.get("shortages_open") or {}
    lines += _counts({severity: shortages.get(severity, 0) for severity in SEVERITIES}, sort=False)
    lines += ["", "Open triggers by type"]
    lines += _counts(status.get("triggers_open") or {})
    lines += ["", "ECOs", *_ecos(status.get("ecos") or [])]
    lines += ["", "PO lines awaiting confirmation"]
    lines += _counts(status.get("po_lines_awaiting_confirmation") or {})
    lines += ["", "Open exceptions", *_exceptions(status.get("exceptions_open") or [])]
    lines += ["", *_lag(status.get("lag") or {})]
    return "\n".join(lines) + "\n"


def _header(status: dict[str, Any]) -> list[str]:
    service = status.get("service") or {}
    state = "ready" if service.get("ready") else "NOT READY"
    uptime = service.get("uptime_s")
    line = f"mfgsync: {state}" + (f", up {format_age(uptime)}" if uptime is not None else "")
    events = status.get("events") or {}
    counts = ", ".join(
        f"{events.get(key, 0)} {label}"
        for key, label in (
            ("applied", "applied"),
            ("deduplicated", "deduplicated"),
            ("superseded", "superseded"),
            ("dead_lettered", "dead-lettered"),
        )
    )
    return [line, f"events: {counts}"]


def _counts(counts: dict[str, int], *, sort: bool = True) -> list[str]:
    """``  NAME   COUNT`` lines, largest first (then by name) unless ``sort`` is false."""
    if not counts:
        return ["  none"]
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if sort else list(counts.items())
    width = max(len(name) for name, _ in items)
    return [f"  {name:<{width}}  {count:>6}" for name, count in items]


def _ecos(ecos: Sequence[dict[str, Any]]) -> list[str]:
    if not ecos:
        return ["  none"]
    ordered = sorted(ecos, key=lambda eco: (eco.get("released_at") or "", eco.get("eco", "")))
    width = max(len(f"{eco.get('eco', '?')} @ {eco.get('plant', '?')}") for eco in ordered)
    lines = []
    for eco in ordered:
        name = f"{eco.get('eco', '?')} @ {eco.get('plant', '?')}"
        if eco.get("propagated"):
            seconds = eco.get("propagation_s")
            outcome = "propagated" + (f" in {format_age(seconds)}" if seconds is not None else "")
        elif eco.get("last_trigger_at"):
            outcome = f"NOT propagated (last trigger {eco['last_trigger_at']})"
        else:
            outcome = "NOT propagated (no trigger yet)"
        lines.append(f"  {name:<{width}}  released {eco.get('released_at', '?')}  {outcome}")
    return lines


def _exceptions(exceptions: Sequence[dict[str, Any]]) -> list[str]:
    if not exceptions:
        return ["  none"]
    oldest_first = sorted(exceptions, key=lambda exc: -float(exc.get("age_s", 0)))
    shown = oldest_first[:MAX_EXCEPTIONS_SHOWN]
    type_width = max(len(str(exc.get("type", "?"))) for exc in shown)
    key_width = max(len(str(exc.get("key", "?"))) for exc in shown)
    lines = [
        f"  {exc.get('type', '?')!s:<{type_width}}  {exc.get('key', '?')!s:<{key_width}}  "
        f"{format_age(float(exc.get('age_s', 0))):>4}"
        for exc in shown
    ]
    if len(oldest_first) > len(shown):
        lines.append(f"  ... and {len(oldest_first) - len(shown)} more")
    return lines


def _lag(lag: dict[str, dict[str, float]]) -> list[str]:
    if not lag:
        return ["Lag per source", "  none"]
    width = max(len("source"), *(len(source) for source in lag))
    lines = ["Lag per source", f"  {'source':<{width}}  {'count':>7}  {'p50':>7}  {'p99':>7}  {'max':>7}"]
    for source in sorted(lag):
        report = lag[source]
        lines.append(
            f"  {source:<{width}}  {report.get('count', 0):>7}  {format_lag(report.get('p50_s', 0)):>7}  "
            f"{format_lag(report.get('p99_s', 0)):>7}  {format_lag(report.get('max_s', 0)):>7}"
        )
    return lines


def service_url(given: str | None = None) -> str:
    """The service's base URL: ``given`` (a URL or ``host:port``), else MFGSYNC_METRICS_HOST/PORT."""
    if not given:
        host = os.environ.get("MFGSYNC_METRICS_HOST") or "127.0.0.1"
        port = os.environ.get("MFGSYNC_METRICS_PORT") or "9464"
        if not port.isdigit() or not 0 < int(port) < 65536:
            msg = f"MFGSYNC_METRICS_PORT={port!r} is invalid: expected a TCP port number"
            raise ValueError(msg)
        given = f"{host}:{port}"
    return given if "://" in given else f"http://{given}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flows.status [URL]``: print the summary of the service at URL."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        url = service_url(args[0] if args else None)
    except ValueError as exc:
        print(f"mfgsync status: {exc}", file=sys.stderr)
        return 2
    try:
        print(render_status(fetch_status(url)), end="")
    except StatusUnavailableError as exc:
        print(
            f"mfgsync status: {exc}; check --url or MFGSYNC_METRICS_HOST/MFGSYNC_METRICS_PORT",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
