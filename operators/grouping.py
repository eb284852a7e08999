"""Planning groups: a plant's items split into groups that are planned apart (SPEC 5).

A plant's items are linked only by its BOMs (dependent demand, use-up pairs). Where the BOM
graph splits into independent components, each can be planned on its own, and so on its own
worker: a group is keyed `plant|group` instead of `plant`, and a large plant spreads over a
cluster. The groups are configured, not discovered at run time: the key of an event must be
known where it is read, before any state, and a group that moved when a BOM changed would
leave its state on another worker. `suggest_groups` finds the independent components of a
plant's BOMs in an input and packs them into a given number of groups, as a starting file.

The file maps plant -> group name -> item-id patterns (`fnmatch`: `*`, `?`, `[...]`; an item
id with those characters is escaped with `[...]`, as `suggest_groups` writes it):

    {"P100": {"pumps": ["PUMP-*", "IMP-*"], "valves": ["VLV-*"]}}

An item is in the first group (in file order) with a matching pattern; an item in no group
is in the plant's rest, keyed by the plant alone, as every item of a plant without groups.
A BOM revision whose components (or replaced components) are in another group than its
parent would split a plan: it is dead-lettered with that reason (`split_reason`) and the
groups must be changed. An order, demand or PO line is planned in the group of its item: a
later version that names an item of another group is a new entity there (the first group
keeps the last version it saw), so cancel it and create a new one instead.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from mfgsync.schemas.events import BomRevisionReleased, Event
from mfgsync.schemas.outputs import (
    AvailabilityRecord,
    OutputRecord,
    ProcurementTrigger,
    ShortageSignal,
    SyncException,
)
from mfgsync.schemas.vocabulary import parse_item_key

SEPARATOR = "|"
"""Between plant and group in a group's key (`P100|pumps`); not allowed in a group name."""

REST = ""
"""The group of an item that matches no pattern: keyed by its plant alone."""

SPLIT = "PLANNING_GROUP_SPLIT"
"""Dead-letter error of a BOM revision that links items of two groups."""


@dataclass(frozen=True)
class _Group:
    name: str
    patterns: tuple[str, ...]
    matcher: re.Pattern[str]


@dataclass(frozen=True)
class PlanningGroups:
    """Configured planning groups per plant; `PlanningGroups()` is none (every plant whole)."""

    plants: Mapping[str, tuple[_Group, ...]] = field(default_factory=dict)
    _of: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)
    """Cache of `group_of`: the item ids of an input are few compared with its events."""
    _keys: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)
    """Cache of `key`, asked once per event read."""

    @classmethod
    def parse(cls, data: object, origin: str = "planning groups") -> PlanningGroups:
        """Groups from the decoded file; ValueError naming `origin` and what is wrong."""
        if not isinstance(data, dict):
            msg = f"{origin}: expected an object of plant -> group -> item patterns"
            raise ValueError(msg)
        plants: dict[str, tuple[_Group, ...]] = {}
        for plant, groups in data.items():
            if not isinstance(groups, dict) or not groups:
                msg = f"{origin}: plant {plant!r}: expected a non-empty object of group -> item patterns"
                raise ValueError(msg)
            plants[plant] = tuple(_group(f"{origin}: plant {plant!r}", n, p) for n, p in groups.items())
        return cls(plants)

    @classmethod
    def load(cls, path: str) -> PlanningGroups:
        """Groups from a JSON file; ValueError (or OSError) naming the file."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as exc:
                msg = f"planning groups {path}: not valid JSON: {exc}"
                raise ValueError(msg) from None
        return cls.parse(data, f"planning groups {path}")

    def to_json(self) -> dict[str, dict[str, list[str]]]:
        """The file's content (`parse` of it gives these groups)."""
        return {plant: {g.name: list(g.patterns) for g in groups} for plant, groups in self.plants.items()}

    def __bool__(self) -> bool:
        return bool(self.plants)

    # ------------------------------------------------------------------ routing

    def group_of(self, plant: str, item: str) -> str:
        """The group of `item` at `plant` (`REST` when it matches no pattern)."""
        known = self._of.get((plant, item))
        if known is not None:
            return known
        group = REST
        for candidate in self.plants.get(plant, ()):
            if candidate.matcher.match(item):
                group = candidate.name
                break
        self._of[(plant, item)] = group
        return group

    def key(self, plant: str, item: str) -> str:
        """The planning key of `item` at `plant`: `plant|group`, or the plant for its rest."""
        known = self._keys.get((plant, item))
        if known is None:
            group = self.group_of(plant, item) if self.plants else REST
            known = self._keys[(plant, item)] = f"{plant}{SEPARATOR}{group}" if group else plant
        return known

    def event_key(self, event: Event) -> str:
        """The key an event is routed by: its item's group (a BOM revision: its parent's)."""
        if not self.plants or event.plant not in self.plants:
            return event.plant
        return self.key(event.plant, event_item(event))

    def split_reason(self, event: Event) -> str | None:
        """Why a BOM revision cannot be planned in its parent's group (None: it can)."""
        if not isinstance(event, BomRevisionReleased) or event.plant not in self.plants:
            return None
        plant = event.plant
        group = self.group_of(plant, event.parent_item)
        for line in event.lines:
            for item in (line.component, line.replaces):
                if item is not None and (other := self.group_of(plant, item)) != group:
                    return (
                        f"BOM {event.parent_item} revision {event.revision} at plant {plant} is in "
                        f"planning group {_name(group)} and lists {item}, which is in {_name(other)}: "
                        "a group must hold every item its BOMs link; change the planning groups "
                        "(and start with an empty recovery store) to plan it"
                    )
        return None

    def owns(self, key: str, record: OutputRecord) -> bool:
        """Whether a published record was made by the group of `key` (adopted on a start)."""
        plant, _, group = key.partition(SEPARATOR)
        item = record_item(record)
        return item is None or self.group_of(plant, item) == group


def _group(where: str, name: object, patterns: object) -> _Group:
    if not isinstance(name, str) or not name or SEPARATOR in name:
        msg = f"{where}: group name {name!r} must be non-empty, without {SEPARATOR!r}"
        raise ValueError(msg)
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p for p in patterns):
        msg = f"{where}, group {name!r}: expected a non-empty list of item patterns"
        raise ValueError(msg)
    matcher = re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))
    return _Group(name, tuple(patterns), matcher)


def _name(group: str) -> str:
    return repr(group) if group else "the plant's rest (no group)"


def event_item(event: Event) -> str:
    """The item an event is about (a BOM revision: its parent)."""
    if isinstance(event, BomRevisionReleased):
        return event.parent_item
    item: str = getattr(event, "item")  # noqa: B009  # every other event type has one
    return item


def record_item(record: OutputRecord) -> str | None:
    """An item a planner's record is about (a BOM cycle: its first member); None: none."""
    if isinstance(record, ProcurementTrigger | ShortageSignal | AvailabilityRecord):
        return record.item
    if isinstance(record, SyncException):
        if record.type == "BOM_CYCLE":
            return record.details.get("items", "").split(",")[0] or None
        return parse_item_key(record.key)[0]
    return None


# -------------------------------------------------------------- suggestions


def bom_components(events: Iterable[Event]) -> dict[str, list[set[str]]]:
    """Per plant, the items its BOM revisions link, as independent sets (largest first)."""
    parent: dict[tuple[str, str], tuple[str, str]] = {}

    def root(node: tuple[str, str]) -> tuple[str, str]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for event in events:
        if not isinstance(event, BomRevisionReleased):
            continue
        top = root((event.plant, event.parent_item))
        for line in event.lines:
            for item in (line.component, line.replaces):
                if item is not None:
                    other = root((event.plant, item))
                    if other != top:
                        parent[other] = top
    sets: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for node in list(parent):
        sets[root(node)].add(node[1])
    out: defaultdict[str, list[set[str]]] = defaultdict(list)
    for (plant, _), members in sets.items():
        out[plant].append(members)
    return {plant: sorted(parts, key=lambda s: (-len(s), min(s))) for plant, parts in sorted(out.items())}


def suggest_groups(
    events: Iterable[Event],
    groups: int,
    partition_of: Callable[[str], int] | None = None,
    partitions: int = 0,
) -> PlanningGroups:
    """Up to `groups` groups per plant: its independent BOM components, packed by size.

    The largest component goes to the smallest group first, so groups come out about
    equal in items; a plant with one component gets no groups. Items in no BOM stay in the
    plant's rest. Item ids are listed escaped, so each matches itself only. With
    `partition_of` (a group key's input partition) and `partitions`, group n is named so
    that its key is in partition n modulo `partitions`: consecutive groups in consecutive
    partitions, so they spread over the processes that read them (README, Scaling).
    """
    data: dict[str, dict[str, list[str]]] = {}
    for plant, parts in bom_components(events).items():
        count = min(groups, len(parts))
        if count < 2:
            continue
        bins: list[list[str]] = [[] for _ in range(count)]
        for part in parts:
            smallest = min(bins, key=len)
            smallest.extend(sorted(part))
        data[plant] = {
            _group_name(plant, n, partition_of, partitions): [_escaped(i) for i in sorted(items)]
            for n, items in enumerate(bins)
        }
    return PlanningGroups.parse(data)


def _group_name(plant: str, n: int, partition_of: Callable[[str], int] | None, partitions: int) -> str:
    """`g<n+1>`, or the first `g<n+1>.<k>` whose key is in partition n % partitions."""
    name = f"g{n + 1}"
    if partition_of is None or partitions < 2:
        return name
    candidate, k = name, 0
    while partition_of(f"{plant}{SEPARATOR}{candidate}") != n % partitions:
        k += 1
        candidate = f"{name}.{k}"
    return candidate


def _escaped(item: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", item)
