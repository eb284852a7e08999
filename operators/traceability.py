"""Traceability: which engineering change (ECO) and cause events a record carries (SPEC 5, 9).

Every output names the input events that caused it (`cause_event_ids`) and the correlation ids
of those events (`correlation_ids`: ECO numbers, PO numbers). The ECO of a BOM revision
travels everywhere the revision's effect goes:
- a revision's own ids are its `eco_number` and `correlation_id` (`revision_ids`);
- an exploded BOM line carries the ids of every revision it was exploded through, so the
  component requirements of a parent's orders carry the ECO down every BOM level;
- a component an engineering change introduced (phased in) or engineered out (phased out)
  is needed, or left over, because of that change: every record about it carries the
  change's revision event and ECO (`with_change`), whatever requirement caused it;
- a BOM cycle names the ECO of the first revision on the loop that has one (`cycle_change`).

Example: ECO-4711 releases MOTOR-20 revision B with WIND-NEW instead of WIND-OLD. A sales
order for PUMP-100 (made of MOTOR-20) becomes a planned order of PUMP-100, a planned order of
MOTOR-20, and a requirement of WIND-NEW from revision B: the WIND-NEW requisition carries
ECO-4711, and so does WIND-OLD's DISPOSITION_EXCESS.
"""

from __future__ import annotations

from collections.abc import Iterable

from mfgsync.schemas.events import BomRevisionReleased


def revision_ids(rev: BomRevisionReleased) -> tuple[str, ...]:
    """The correlation ids a BOM revision carries into what it causes: ECO number and its own."""
    return tuple(c for c in (rev.eco_number, rev.correlation_id) if c)


def change_ids(rev: BomRevisionReleased) -> tuple[str, ...]:
    """A revision's correlation ids, sorted and unique."""
    return tuple(sorted(set(revision_ids(rev))))


def with_change(
    causes: tuple[str, ...], corrs: tuple[str, ...], change: BomRevisionReleased | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Cause and correlation ids with an engineering change's own added."""
    if change is None:
        return causes, corrs
    return (
        tuple(sorted({*causes, change.event_id})),
        tuple(sorted({*corrs, *change_ids(change)})),
    )


def cycle_change(revisions: Iterable[BomRevisionReleased]) -> str | None:
    """The ECO number a BOM cycle is reported with: the first of its revisions that has one."""
    return next((r.eco_number for r in revisions if r.eco_number), None)
