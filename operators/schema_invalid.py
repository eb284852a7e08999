"""SCHEMA_INVALID: one open exception per input topic and error kind, counting its dead letters.

Every dead letter of a topic with the same error (`UNKNOWN_SCHEMA`, `VALIDATION_FAILED`, ...)
updates one exception, `SCHEMA_INVALID|<topic>|<error>`, that stays OPEN: its details carry
the count so far, the last reason (first 500 characters) and the last dead letter's id.
Its first-seen time is the processing time of the first such dead letter in service mode;
replays pass None, so their outputs do not depend on when they ran.
"""

from __future__ import annotations

from datetime import datetime

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
    state: SchemaInvalidState | None, letter: DeadLetter, now: datetime | None
) -> tuple[SchemaInvalidState, SyncException]:
    """Count one more dead letter of a key; return the new state and the updated exception.

    `now` is the first-seen time used when this is the key's first dead letter.
    """
    count, first_seen = state or (0, now)
    count += 1
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
