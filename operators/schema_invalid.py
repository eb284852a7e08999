"""SCHEMA_INVALID: one open exception per input topic and error kind, counting its dead letters.

Every dead letter of a topic with the same error (`UNKNOWN_SCHEMA`, `VALIDATION_FAILED`, ...)
updates one exception, `SCHEMA_INVALID|<topic>|<error>`, that stays OPEN: its details carry
the count so far, the last reason (first 500 characters) and the last dead letter's id.
Its first-seen time comes from the input, so that a replay of the same records, a service
restarted any number of times and one that never stopped all agree: the earliest `event_time`
that the refused records state (those that are JSON objects with a readable one), whatever
order they arrive in across partitions; None while no refused record states one (never the
processing time).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from mfgsync.schemas.outputs import DeadLetter, SyncException

UNKNOWN_TOPIC = "unknown"
"""The topic named for a dead letter whose origin is not known."""
MAX_REASON = 500

SchemaInvalidState = tuple[int, datetime | None]
"""Dead letters counted so far, and when the first one was seen."""


def schema_invalid_key(letter: DeadLetter) -> str:
    """The key of the exception a dead letter counts towards: its topic and error kind."""
    return f"{letter.topic or UNKNOWN_TOPIC}|{letter.error}"


def count_dead_letter(
    state: SchemaInvalidState | None, letter: DeadLetter
) -> tuple[SchemaInvalidState, SyncException]:
    """Count one more dead letter of a key; return the new state and the updated exception."""
    count, first_seen = state or (0, None)
    count += 1
    stated = stated_time(letter)
    if stated is not None and (first_seen is None or stated < first_seen):
        first_seen = stated
    topic = letter.topic or UNKNOWN_TOPIC
    exception = SyncException(
        exception_id=f"SCHEMA_INVALID|{topic}|{letter.error}",
        type="SCHEMA_INVALID",
        state="OPEN",
        key=topic,
        details={
            "error": letter.error,
            "count": str(count),
            "last_reason": letter.reason[:MAX_REASON],
            "last_dlq_id": letter.dlq_id,
        },
        first_seen=first_seen,
    )
    return (count, first_seen), exception


def stated_time(letter: DeadLetter) -> datetime | None:
    """The `event_time` a refused record states, if it is a JSON object with a readable one (UTC)."""
    cut = letter.raw_size is not None and letter.raw_size != len(letter.raw)
    if cut or b'"event_time"' not in letter.raw:
        return None  # cut to its first bytes (not JSON any more), or without one
    try:
        data = json.loads(letter.raw)
        value = data.get("event_time") if isinstance(data, dict) else None
        stated = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except (UnicodeDecodeError, ValueError):
        return None
    if stated is None:
        return None
    return stated.replace(tzinfo=UTC) if stated.tzinfo is None else stated.astimezone(UTC)
