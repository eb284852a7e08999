"""Garbage-collector settings for the long-lived dataflow processes.

The planner holds millions of small, long-lived objects (plans, requirements, published
records) and builds many more per planning pass. With CPython's default thresholds
(700, 10, 10) the collector runs young collections every few hundred allocations and full
collections that walk the whole heap; measured on the planning benchmark (2,000 items, daily
buckets) that is a third of a full rebuild. mfgsync's state holds no reference cycles that
need prompt collection, so the thresholds are raised and everything alive at start-up is
moved out of the collector's sight (`gc.freeze`). Collection still runs, just far less often.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

THRESHOLDS = (10_000, 10, 10)
"""Young-generation allocations before a collection; then collections per older generation.

Measured on the 2,000-item plant: plan_all 2.84 s with (700, 10, 10), 2.10 s with these,
1.97 s with (100_000, 50, 1_000); the last made every middle-generation collection walk
millions of objects and put pauses of a few hundred ms into the produce-to-signal p99."""


def tune_gc() -> None:
    """Raise the collector's thresholds and freeze what is alive now (idempotent)."""
    gc.set_threshold(*THRESHOLDS)
    gc.freeze()


PAUSE_MIN_ITEMS = 1
"""Passes that net at least this many items (before their cascade) run with the collector
paused (`planning_pass`): every pass that nets anything. A pass that nets most of a plant (a
rebuild, a new planning date, a start) builds a new heap of plans: paused, it ran in 21.5 s
instead of 32.7 s on the 10,000-item plant. Passes from one stock movement used to run with
the collector on (500 items was the bound), because the collection after a paused pass cost
more than the pause saved; since the collection runs before the pass instead and the pass's
objects are frozen unwalked (`collector_paused`), level-0 movements of the 2,000-item plant
take 0.87-0.95 of their time with the collector on (paired in one process, 8 movements each)."""


def planning_pass(items: int) -> AbstractContextManager[None]:
    """The collector policy for a pass that nets `items` items (see `PAUSE_MIN_ITEMS`)."""
    return collector_paused() if items >= PAUSE_MIN_ITEMS else nullcontext()


_pause_lock = threading.Lock()
_paused = 0
"""Planning passes running now in this process (each worker thread runs its own)."""
_resume = False
"""Whether the collector was on when the first of them began (it is turned back on then)."""


@contextmanager
def collector_paused() -> Iterator[None]:
    """Run a planning pass without the collector; collect before it, freeze what it made.

    A rebuild allocates millions of small objects and keeps many (requirements, plans,
    records). With the collector on, every full collection during the pass walks the whole
    heap again, and the heap grows while the pass runs: on the 10,000-item plant that was
    about a third of a first rebuild (32.7 s against 21.5 s paused). A collection after the
    pass was a fifth of what was left (0.58-0.75 s of a 2,000-item first rebuild, walking the
    1.5 million objects the pass made), and it found nothing a pass made once explosions
    stopped leaving a closure cycle behind: planning passes form no reference cycles
    (`tests/test_gc_tuning.py` holds a rebuild, stock movements and a BOM revision to it).
    So the collection runs when the pass begins, over what is not frozen (what was made
    since the last pass, the cycles among it freed), and `gc.freeze` takes the pass's
    survivors out of every later collection without walking them. Frozen objects are still
    freed by reference counting when the planner drops them; a cycle another thread makes
    while a pass runs is frozen with it and never collected (bounded by what that thread
    makes during passes). Re-entrant across the worker threads of one process: the collector
    resumes when the last pass running ends.
    """
    global _paused, _resume
    with _pause_lock:
        if _paused == 0:
            _resume = gc.isenabled()
            if _resume:
                gc.collect()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _pause_lock:
            _paused -= 1
            if _paused == 0 and _resume:
                gc.freeze()
                gc.enable()
