"""Changelog bookkeeping: turn the current set of records per scope into emissions.

Each scope (for example one item) owns a set of records keyed by their stable id. Given the
new set, the changelog emits records that are new (state `opened`), changed (`updated`) or
gone (the last version with state `closed`), and nothing for records that did not change, so
identical re-planning emits nothing and a consumer keeping the latest record per id has the
current truth.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

from mfgsync.schemas.outputs import OutputRecord

R = TypeVar("R", bound=OutputRecord)
T = TypeVar("T")
Row = tuple[Any, ...]
"""A record's content: its field values in field order, without its state; the id first."""


def content_fields(model: type[OutputRecord]) -> tuple[str, ...]:
    """The fields a `Row` of `model` holds, in order: every field but `state`."""
    return _layout(model).content


Entry = tuple[str | None, Row]
"""What a changelog keeps of a record it emitted: its state, and its `Row`.

Not the record: a pydantic record keeps its values in a dict and the names of its set fields
in a set of its own. A trigger's record took about 1,280 bytes of memory against about 230 for
its entry (tracemalloc), and pickled 1.6 times its row's bytes; the collector walks it too. A
row also compares with the next pass's row in C."""


@dataclass
class Changelog(Generic[R]):
    """Last emitted record per id, grouped by scope. States are None for stateless records.

    It keeps each record as an `Entry` and builds a record again only to emit it (closed) or
    to show it (`current`).
    """

    opened: str | None = None
    updated: str | None = None
    closed: str | None = None
    emitted: dict[str, dict[str, Entry]] = field(default_factory=dict)
    model: type[R] | None = None
    """The record type, known from the first record or rows given (None before them)."""

    def update(self, scope: str, records: Iterable[R]) -> list[R]:
        """Replace the records of `scope`; return what must be emitted, in a stable order."""
        pairs = []
        for record in records:
            self.model = type(record)
            pairs.append((record.record_key(), _layout(type(record)).content_of(record.__dict__), record))
        return self._replace(scope, pairs, self._with_state)

    def update_rows(self, scope: str, model: type[R], rows: Iterable[Row]) -> list[R]:
        """`update` with the records given as rows: a record is built only when it is emitted.

        A row equal to the row last emitted for its id leaves it as it is, exactly as `update`
        of the built record would; so re-planning that changes nothing builds nothing.
        """
        self.model = model
        layout = _layout(model)
        return self._replace(
            scope, ((row[0], row, row) for row in rows), lambda row, state: _build(model, layout, row, state)
        )

    def _replace(
        self, scope: str, entries: Iterable[tuple[str, Row, T]], make: Callable[[T, str | None], R]
    ) -> list[R]:
        """The changelog step: new ids open, changed ones update, missing ones close.

        `entries` are (id, new row, what `make(it, state)` builds the record to emit from).
        """
        previous = self._scope(scope, pop=True)
        current: dict[str, Entry] = {}
        out: list[R] = []
        opened, updated = self.opened, self.updated
        for rid, row, new in entries:
            before = previous.pop(rid, None)
            if before is None:
                out.append(make(new, opened))
                current[rid] = (opened, row)
            elif before[1] == row:
                current[rid] = before
            else:
                out.append(make(new, updated))
                current[rid] = (updated, row)
        if previous and self.closed is not None:
            out.extend(self._record(previous[rid][1], self.closed) for rid in sorted(previous))
        if current:
            self.emitted[scope] = current
        return out

    def adopt(self, scope: str, record: R) -> bool:
        """Take a record published earlier as the last one emitted for its id; True if new to it.

        A closed record removes the id. Used after a restart, so that re-planning withdraws
        what was published after the state's snapshot and is no longer true. A record equal
        to the one this changelog holds for its id (or a closed one for an id it does not
        hold) changes nothing, and False says so: re-planning its scope is not needed.
        """
        self.model = type(record)
        rid = record.record_key()
        by_id = self._scope(scope)
        state = _state(record)
        if state in (self.closed, None) and self.closed is not None:
            if rid not in by_id:
                return False
            del by_id[rid]
            if not by_id:
                del self.emitted[scope]
            return True
        entry = (state, _layout(type(record)).content_of(record.__dict__))
        if by_id.get(rid) == entry:
            return False
        self.emitted.setdefault(scope, by_id)[rid] = entry
        return True

    def current(self) -> list[R]:
        """Every live record, built anew, for status views and tests."""
        scopes = [self._scope(scope) for scope in list(self.emitted)]
        return [self._record(row, state) for by_id in scopes for state, row in by_id.values()]

    def _scope(self, scope: str, pop: bool = False) -> dict[str, Entry]:
        """The entries of `scope` (popped with `pop`); records kept by an older snapshot made entries."""
        by_id: dict[str, Any] = self.emitted.pop(scope, {}) if pop else self.emitted.get(scope, {})
        first = next(iter(by_id.values()), None)
        if isinstance(first, OutputRecord):
            self.model = cast(type[R], type(first))
            content_of = _layout(type(first)).content_of
            by_id = {rid: (_state(r), content_of(r.__dict__)) for rid, r in by_id.items()}
            if not pop:
                self.emitted[scope] = by_id
        return by_id

    def _record(self, row: Row, state: str | None) -> R:
        assert self.model is not None, "a changelog holds entries only once it has seen their type"
        return _build(self.model, _layout(self.model), row, state)

    @staticmethod
    def _with_state(record: R, state: str | None) -> R:
        if state is None or _state(record) == state:
            return record
        return record.model_copy(update={"state": state})


def _build(model: type[R], layout: _Layout, row: Row, state: str | None) -> R:
    # No validation: rows are made of validated facts and of the planner's own floats,
    # dates and tuples, exactly the values validation would keep (`tests/test_changelog.py`
    # checks that every record a planner run emits validates to itself).
    at = layout.state_at
    if not layout.plain or (at is not None and state is None):
        values = dict(zip(layout.content, row, strict=True))
        if state is not None:
            values["state"] = state
        return cast(R, model.model_construct(**values))  # (a stateful model's default state)
    # What `model_construct` does for a plain model, at a third of its cost: a full rebuild
    # builds half a million records (`tests/test_changelog.py` holds the two equal, down to
    # the order of `__dict__`, which is the order of the JSON). Every record of the model
    # shares one set of its field names as its fields set: pydantic adds to it only when a
    # field is assigned (records are frozen), and copies it before a `model_copy` updates it.
    full = row if at is None else (*row[:at], state, *row[at:])
    values = dict(zip(layout.names, full, strict=True))
    record = model.__new__(model)
    _set(record, "__dict__", values)
    _set(record, "__pydantic_fields_set__", layout.all_set)
    _set(record, "__pydantic_extra__", None)
    _set(record, "__pydantic_private__", None)
    return record


_set = object.__setattr__


@dataclass(frozen=True)
class _Layout:
    """How the changelog reads and builds records of one model."""

    names: tuple[str, ...]
    """Every field, in the model's order."""
    content: tuple[str, ...]
    """The fields of a `Row`: every field but `state`, in the model's order."""
    content_of: Callable[[dict[str, Any]], Row]
    """A record's `Row`, from its `__dict__`."""
    state_at: int | None
    """The position of `state` among `names` (None: the model has no state)."""
    plain: bool
    """No aliases, extra fields, private attributes or post-init hook: construct is four stores."""
    all_set: set[str]
    """Every field's name: the fields set of every record `_build` makes by hand."""

    @classmethod
    def of(cls, model: type[OutputRecord]) -> _Layout:
        names = tuple(model.model_fields)
        content = tuple(name for name in names if name != "state")
        return cls(
            names=names,
            content=content,
            content_of=itemgetter(*content),
            state_at=names.index("state") if "state" in names else None,
            all_set=set(names),
            plain=(
                model.__pydantic_post_init__ is None
                and not model.__pydantic_root_model__
                and model.model_config.get("extra") != "allow"
                and not model.__private_attributes__
                and all(f.alias is None and f.validation_alias is None for f in model.model_fields.values())
            ),
        )


_LAYOUTS: dict[type[OutputRecord], _Layout] = {}


def _layout(model: type[OutputRecord]) -> _Layout:
    layout = _LAYOUTS.get(model)
    if layout is None:
        layout = _LAYOUTS[model] = _Layout.of(model)
    return layout


def _state(record: OutputRecord) -> str | None:
    value = record.__dict__.get("state")
    return value if isinstance(value, str) else None
