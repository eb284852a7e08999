"""JSON Lines serde (SPEC 10): one event per line, `type` naming it, other keys its fields.

`decode_event` turns raw bytes into an event or a dead letter with the reason, and never
raises: invalid JSON, a non-object, an unknown `type` and a validation failure each become
exactly one `DeadLetter`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from pydantic import ValidationError

from mfgsync.schemas.events import EVENT_TYPES, TOPIC_TYPES, Event
from mfgsync.schemas.outputs import DeadLetter, Header, OutputRecord

DEFAULT_MAX_RAW = 64 * 1024
"""Bytes of a rejected value a dead letter keeps by default; size and SHA-256 describe all of it."""


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Bytes read from somewhere, with where they came from (for dead letters)."""

    origin: str  # topic name, or file path
    partition: int  # -1 for files
    offset: int  # Kafka offset, or 1-based line number
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    is_file: bool = False


def decode_event(
    raw: RawRecord, expected_topic: str | None = None, max_raw: int = DEFAULT_MAX_RAW
) -> Event | DeadLetter:
    """Parse and validate one JSON event; a dead letter with the reason when that fails."""
    try:
        data = json.loads(raw.value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return dead_letter(raw, "INVALID_JSON", f"not valid JSON: {exc}", max_raw=max_raw)
    if not isinstance(data, dict):
        return dead_letter(raw, "INVALID_JSON", "a JSON object is expected", max_raw=max_raw)
    if b"\\u" in raw.value and _has_lone_surrogate(data):
        # JSON escapes can spell half a UTF-16 pair, which no output encoding can carry.
        return dead_letter(raw, "INVALID_JSON", "string with a lone UTF-16 surrogate escape", max_raw=max_raw)
    type_name = data.pop("type", None)
    if type_name is None and expected_topic in TOPIC_TYPES:
        type_name = TOPIC_TYPES[expected_topic].type_name()  # the topic names the type
    cls = EVENT_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        known = ", ".join(sorted(EVENT_TYPES))
        return dead_letter(
            raw, "UNKNOWN_TYPE", f"unknown event type {type_name!r}; expected one of {known}", max_raw=max_raw
        )
    if expected_topic is not None and cls.TOPIC != expected_topic:
        return dead_letter(
            raw, "WRONG_TOPIC", f"{type_name} does not belong on topic {expected_topic}", max_raw=max_raw
        )
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        return dead_letter(
            raw, "VALIDATION_FAILED", validation_summary(exc), topic=cls.TOPIC, max_raw=max_raw
        )


def dead_letter(
    raw: RawRecord, error: str, reason: str, topic: str | None = None, max_raw: int = DEFAULT_MAX_RAW
) -> DeadLetter:
    """A dead letter keeping the raw record (its first `max_raw` bytes), its size and SHA-256."""
    return DeadLetter(
        dlq_id=f"{raw.origin}|{raw.partition}|{raw.offset}",
        topic=topic or ("" if raw.is_file else raw.origin),
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key[:max_raw] if raw.key is not None else None,
        raw=raw.value[:max_raw],
        raw_size=len(raw.value),
        raw_sha256=hashlib.sha256(raw.value).hexdigest(),
        headers=tuple(Header(key=k, value=v) for k, v in raw.headers),
        reason=reason,
        error=error,
        file=raw.origin if raw.is_file else None,
        line=raw.offset if raw.is_file else None,
    )


def encode_record(record: OutputRecord) -> bytes:
    """One output record as a JSON line (without the newline)."""
    return record.model_dump_json().encode()


def _has_lone_surrogate(data: object) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def validation_summary(exc: ValidationError) -> str:
    """The first few validation errors as one line, for dead letters."""
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "record"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "validation failed: " + "; ".join(parts)
