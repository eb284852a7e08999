"""Planning time buckets: days, or calendar weeks starting Monday (ISO 8601) (SPEC 5).

A bucket is named by its first day. A week bucket is the ISO week: a plan made on Tuesday and
one made on Wednesday of the same week bucket their dates alike, so moving the planning date
inside a week changes no bucket. The first bucket is the one holding the planning date;
`netting` counts anything dated before it in the first bucket (past due).

Example: with week buckets, 2026-03-04 (a Wednesday) is in the bucket 2026-03-02 (Monday);
planning on 2026-03-04, a requirement of 2026-02-20 is past due and counts in 2026-03-02.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

BucketSize = Literal["day", "week"]


@dataclass(frozen=True, slots=True)
class BucketCalendar:
    """Maps dates to the start date of their bucket and steps between buckets."""

    size: BucketSize = "day"

    def start_of(self, day: date) -> date:
        """The first day of the bucket holding `day` (its Monday for week buckets)."""
        if self.size == "week":
            return day - timedelta(days=day.weekday())
        return day

    def advance(self, bucket_start: date, buckets: int) -> date:
        """The start of the bucket `buckets` after the one starting on `bucket_start`."""
        return bucket_start + timedelta(days=buckets * (7 if self.size == "week" else 1))
