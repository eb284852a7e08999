"""Planning time buckets: days, or weeks counted from the planning date (SPEC 5).

Week buckets start on the planning date's weekday, so period 1 of an MRP record is the week
starting today, as in a textbook record; with a Monday planning date they are ISO weeks.
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
    anchor: date = date(2000, 1, 3)  # a Monday; the planner passes the planning date

    def start_of(self, day: date) -> date:
        """The first day of the bucket holding `day`."""
        if self.size == "week":
            return day - timedelta(days=(day - self.anchor).days % 7)
        return day

    def advance(self, bucket_start: date, buckets: int) -> date:
        """The start of the bucket `buckets` after the one starting on `bucket_start`."""
        return bucket_start + timedelta(days=buckets * (7 if self.size == "week" else 1))
