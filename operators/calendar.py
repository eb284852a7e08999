"""Planning time buckets: days, or ISO weeks starting on Monday (SPEC 5)."""

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
        """The first day of the bucket holding `day`."""
        if self.size == "week":
            return day - timedelta(days=day.weekday())
        return day

    def advance(self, bucket_start: date, buckets: int) -> date:
        """The start of the bucket `buckets` after the one starting on `bucket_start`."""
        return bucket_start + timedelta(days=buckets * (7 if self.size == "week" else 1))
