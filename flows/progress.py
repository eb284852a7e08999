"""Progress of long work on a terminal: records, rate and, where the total is known, an estimate.

`Progress` is a tqdm bar on stderr that exists only when stderr is a terminal and the user did
not ask for quiet; otherwise every method does nothing. `counted` wraps a bytewax source so
each batch it reads advances a callback (how replays report the lines they read).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition


def on_terminal(quiet: bool = False) -> bool:
    """Whether to show progress: stderr is a terminal and not ``quiet``."""
    return not quiet and sys.stderr.isatty()


class Progress:
    """A progress bar of ``unit`` on stderr, or nothing when ``enabled`` is false."""

    def __init__(self, what: str, *, total: int | None = None, unit: str = "records", enabled: bool) -> None:
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled:
            from tqdm import tqdm  # only on a terminal: services and pipes never load it

            self._bar = tqdm(
                desc=what,
                total=total,
                unit=f" {unit}",
                unit_scale=True,
                dynamic_ncols=True,
                file=sys.stderr,
                mininterval=0.5,
                leave=False,
            )

    @property
    def total(self) -> int | None:
        """The known total, if any."""
        return None if self._bar is None or self._bar.total is None else int(self._bar.total)

    def set_total(self, total: int) -> None:
        """The total became known (e.g. the initial consumer lag)."""
        with self._lock:
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()

    def update(self, count: int) -> None:
        """``count`` more done."""
        if self._bar is not None and count:
            with self._lock:
                self._bar.update(count)

    def advance_to(self, done: int) -> None:
        """``done`` done in all."""
        if self._bar is not None:
            with self._lock:
                self._bar.update(done - self._bar.n)

    def close(self) -> None:
        """Remove the bar (the caller prints its own one-line summary)."""
        with self._lock:
            if self._bar is not None:
                self._bar.close()
                self._bar = None


class _CountedPartition(StatefulSourcePartition[Any, Any]):
    def __init__(self, inner: StatefulSourcePartition[Any, Any], on_read: Callable[[int], None]) -> None:
        self._inner = inner
        self._on_read = on_read

    def next_batch(self) -> list[Any]:
        batch = list(self._inner.next_batch())
        self._on_read(len(batch))
        return batch

    def next_awake(self) -> datetime | None:
        return self._inner.next_awake()

    def snapshot(self) -> Any:
        return self._inner.snapshot()

    def close(self) -> None:
        self._inner.close()


class _CountedSource(FixedPartitionedSource[Any, Any]):
    def __init__(self, inner: FixedPartitionedSource[Any, Any], on_read: Callable[[int], None]) -> None:
        self._inner = inner
        self._on_read = on_read

    def list_parts(self) -> list[str]:
        return self._inner.list_parts()

    def build_part(self, step_id: str, for_part: str, resume_state: Any) -> _CountedPartition:
        return _CountedPartition(self._inner.build_part(step_id, for_part, resume_state), self._on_read)


def counted(source: FixedPartitionedSource[Any, Any], on_read: Callable[[int], None]) -> _CountedSource:
    """``source``, calling ``on_read(n)`` after each batch of ``n`` items it reads."""
    return _CountedSource(source, on_read)
