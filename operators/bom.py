"""BOM revisions of one plant (SPEC 5).

Effectivity, explosion through phantoms, low-level codes, cycles and engineering changes.

Rules, as the code applies them:
- Effectivity: for a date d the effective revision of a parent is the one with the latest
  `effective_from <= d` whose `effective_to` is unset or after d (`effective_to` is the first
  day the revision no longer applies). Ties go to the higher revision name. A production order
  may pin a revision; a pinned revision that is not known (yet) falls back to effectivity.
- Explosion: a line needs `qty_per * (1 + scrap_pct / 100)` of its component per parent unit.
  A phantom line is blown through: its component's own effective revision at the same date is
  exploded in its place with the quantities multiplied; a phantom without a BOM is an
  ordinary component.
- Cycles: every line of every revision is an edge parent -> component. Edges inside a
  strongly connected component (including self-loops) are cycles: they are reported as
  BOM_CYCLE and never exploded.
- Low-level code: the longest path from a top-level item over the acyclic edges; items are
  planned in ascending low-level code so parents feed their components in one pass.
- Phased out: a component that an earlier revision of a parent used and the parent's latest
  revision (highest `effective_from`) no longer uses, after an engineering change; also one
  dropped when a revision is re-released without it. Phased in: a component the latest
  revision uses and an earlier one did not. Both name the revision (and so the ECO) that
  changed them, so every trigger the change causes can carry the ECO number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from mfgsync.operators.traceability import revision_ids
from mfgsync.schemas.events import BomRevisionReleased

MAX_PHANTOM_DEPTH = 32
MAX_EXPLOSIONS_BY_DAY = 200_000


@dataclass(frozen=True, slots=True)
class ExplodedLine:
    """A component need per unit of the parent, with the revisions that defined it."""

    component: str
    qty_per: float
    revision_event_ids: tuple[str, ...]
    correlation_ids: tuple[str, ...]
    replaces: str | None = None
    """With use-up: the component whose projected stock is used first (see `requirements`)."""


@dataclass
class BomBook:
    """All BOM revisions of one plant. Derived graph data is rebuilt on demand, not pickled."""

    revisions: dict[str, dict[str, BomRevisionReleased]] = field(default_factory=dict)
    phantom_users: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    dropped: dict[str, BomRevisionReleased] = field(default_factory=dict)
    _derived: _Derived | None = None

    def release(self, revision: BomRevisionReleased) -> set[str]:
        """Store a released revision; return the items whose plans it may change."""
        by_rev = self.revisions.setdefault(revision.parent_item, {})
        previous = by_rev.get(revision.revision)
        by_rev[revision.revision] = revision
        self._derived = None
        if previous is not None:
            kept = {line.component for line in revision.lines}
            for line in previous.lines:
                if line.component not in kept:
                    self.dropped[line.component] = revision
        if previous is not None:
            self._index_phantoms(previous, present=False)
        self._index_phantoms(revision, present=True)
        affected = {revision.parent_item}
        for rev in by_rev.values():
            affected.update(line.component for line in rev.lines)
        if previous is not None:
            affected.update(line.component for line in previous.lines)
        # Ancestors that blow this parent through as a phantom explode differently now.
        return affected | self.phantom_ancestors({revision.parent_item})

    def phantom_ancestors(self, items: set[str]) -> set[str]:
        """Parents that blow any of ``items`` through as a phantom, transitively."""
        found: set[str] = set()
        stack = list(items)
        while stack:
            for user, _ in self.phantom_users.get(stack.pop(), ()):
                if user not in found and user not in items:
                    found.add(user)
                    stack.append(user)
        return found

    def _index_phantoms(self, rev: BomRevisionReleased, present: bool) -> None:
        for line in rev.lines:
            if line.phantom:
                users = self.phantom_users.setdefault(line.component, set())
                if present:
                    users.add((rev.parent_item, rev.revision))
                else:
                    users.discard((rev.parent_item, rev.revision))

    def has_bom(self, item: str) -> bool:
        """True when the item has any revision at this plant."""
        return item in self.revisions

    def has_bom_from(self, item: str, day: date) -> bool:
        """True when a revision of the item applies on `day` or later (not ended by then)."""
        return any(
            rev.effective_to is None or rev.effective_to > day
            for rev in self.revisions.get(item, {}).values()
        )

    def effective(self, parent: str, day: date, pinned: str | None = None) -> BomRevisionReleased | None:
        """The revision of `parent` that applies on `day` (or the pinned one)."""
        by_rev = self.revisions.get(parent)
        if not by_rev:
            return None
        if pinned is not None and pinned in by_rev:
            return by_rev[pinned]
        best: BomRevisionReleased | None = None
        for rev in by_rev.values():
            if rev.effective_from > day:
                continue
            if rev.effective_to is not None and day >= rev.effective_to:
                continue
            if best is None or (rev.effective_from, rev.revision) > (best.effective_from, best.revision):
                best = rev
        return best

    def explode(self, parent: str, day: date, pinned: str | None = None) -> tuple[ExplodedLine, ...]:
        """Component needs per unit of `parent` on `day`, phantoms blown through."""
        derived = self._derive()
        key = (parent, day, pinned)
        exploded = derived.by_day.get(key)
        if exploded is None:
            # A parent's planned orders are exploded on many dates, each looking up the
            # effective revision among all of the parent's: remember each date's answer until
            # the BOM changes (bounded: dates move on with the planning date).
            if len(derived.by_day) >= MAX_EXPLOSIONS_BY_DAY:
                derived.by_day.clear()
            exploded = derived.by_day[key] = self._explode(parent, day, pinned, derived)
        return exploded

    def _explode(
        self, parent: str, day: date, pinned: str | None, derived: _Derived
    ) -> tuple[ExplodedLine, ...]:
        top = self.effective(parent, day, pinned)
        if top is None:
            return ()
        if top.event_id in derived.explosions:
            return derived.explosions[top.event_id]
        out: list[ExplodedLine] = []
        self._walk(top, 1.0, (top.event_id,), revision_ids(top), 0, day, derived, out)
        exploded = tuple(out)
        if not any(line.phantom for line in top.lines):
            # Without phantoms the explosion depends on the revision only, not on the date.
            derived.explosions[top.event_id] = exploded
        return exploded

    def _walk(
        self,
        rev: BomRevisionReleased,
        factor: float,
        ids: tuple[str, ...],
        corrs: tuple[str, ...],
        depth: int,
        day: date,
        derived: _Derived,
        out: list[ExplodedLine],
    ) -> None:
        """Append `rev`'s lines to `out`, phantoms blown through.

        A method, not a nested function: a recursive closure refers to itself through its
        cell, and each explosion would leave a reference cycle for the collector (the only
        one a planning pass made; `gc_tuning.collector_paused` relies on there being none).
        """
        cyclic = derived.cyclic_edges
        for line in rev.lines:
            if (rev.parent_item, line.component) in cyclic:
                continue
            qty = factor * line.qty_per * (1.0 + line.scrap_pct / 100.0)
            if line.phantom and depth < MAX_PHANTOM_DEPTH:
                inner = self.effective(line.component, day)
                if inner is not None:
                    self._walk(
                        inner,
                        qty,
                        (*ids, inner.event_id),
                        corrs + revision_ids(inner),
                        depth + 1,
                        day,
                        derived,
                        out,
                    )
                    continue
            pair = (line.replaces, line.component)
            use_up = line.replaces if line.use_up and pair in derived.use_ups else None
            out.append(ExplodedLine(line.component, qty, ids, corrs, use_up))

    def derived(self) -> object:
        """The derived graph data now; a different object after any release (for caches)."""
        return self._derive()

    def low_level_codes(self) -> dict[str, int]:
        """Low-level code of every item in the plant's BOMs (absent items are level 0)."""
        return self._derive().llc

    def cycles(self) -> list[tuple[str, ...]]:
        """Each BOM cycle as the sorted items in it."""
        return self._derive().cycles

    def use_ups(self) -> frozenset[tuple[str, str]]:
        """Every (replaced, new) component pair whose use-up applies.

        Use-up makes the new component's requirements depend on the replaced one's plan; a
        pair whose new component is (through the BOM or other use-ups) an ancestor of the
        replaced one would make that dependency circular, and switches hard instead.
        """
        return frozenset(self._derive().use_ups)

    def use_up_parents(self, pairs: set[tuple[str, str]]) -> set[str]:
        """Parents with a use-up line of one of `pairs`."""
        return {
            parent
            for parent, by_rev in self.revisions.items()
            for rev in by_rev.values()
            for line in rev.lines
            if line.use_up and (line.replaces, line.component) in pairs
        }

    def cyclic_edges(self) -> frozenset[tuple[str, str]]:
        """Every (parent, component) edge inside a cycle: never exploded."""
        return frozenset(self._derive().cyclic_edges)

    def cycle_revisions(self, members: tuple[str, ...]) -> list[BomRevisionReleased]:
        """The revisions whose lines close a cycle among `members`."""
        inside = set(members)
        return [
            rev
            for parent in members
            for rev in self.revisions.get(parent, {}).values()
            if any(line.component in inside for line in rev.lines)
        ]

    def users(self, item: str) -> set[str]:
        """Parents whose explosion can contain `item`: direct ones and who blows those through."""
        parents = set(self._derive().parents_of.get(item, ()))
        return parents | self.phantom_ancestors(parents)

    def is_component(self, item: str) -> bool:
        """True when some revision uses the item as a component."""
        return item in self._derive().parents_of

    def phased_out(self) -> dict[str, BomRevisionReleased]:
        """Components engineered out, each with the (latest) revision that dropped it."""
        return self._derive().phased_out

    def phased_in(self) -> dict[str, BomRevisionReleased]:
        """Components an engineering change introduced, each with the revision that did."""
        return self._derive().phased_in

    def __getstate__(self) -> dict[str, Any]:
        return {
            "revisions": self.revisions,
            "phantom_users": self.phantom_users,
            "dropped": self.dropped,
            "_derived": None,
        }

    def _derive(self) -> _Derived:
        if self._derived is None:
            self._derived = _Derived.build(self.revisions, self.dropped)
        return self._derived


@dataclass
class _Derived:
    """Graph facts computed from all revisions at once."""

    cyclic_edges: set[tuple[str, str]]
    cycles: list[tuple[str, ...]]
    llc: dict[str, int]
    parents_of: dict[str, set[str]]
    phased_out: dict[str, BomRevisionReleased]
    phased_in: dict[str, BomRevisionReleased]
    use_ups: set[tuple[str, str]] = field(default_factory=set)
    explosions: dict[str, tuple[ExplodedLine, ...]] = field(default_factory=dict)
    """Explosions of phantom-free revisions by revision event id, filled as they are asked."""
    by_day: dict[tuple[str, date, str | None], tuple[ExplodedLine, ...]] = field(default_factory=dict)
    """Explosions by (parent, date, pinned revision), filled as they are asked."""

    @classmethod
    def build(
        cls,
        revisions: dict[str, dict[str, BomRevisionReleased]],
        dropped: dict[str, BomRevisionReleased],
    ) -> _Derived:
        edges: dict[str, set[str]] = {}
        parents_of: dict[str, set[str]] = {}
        replacements: set[tuple[str, str]] = set()
        for parent, by_rev in revisions.items():
            for rev in by_rev.values():
                for line in rev.lines:
                    edges.setdefault(parent, set()).add(line.component)
                    parents_of.setdefault(line.component, set()).add(parent)
                    if line.use_up and line.replaces and line.replaces != line.component:
                        replacements.add((line.replaces, line.component))
        scc = _strongly_connected(edges)
        cyclic = {(p, c) for p, cs in edges.items() for c in cs if scc[p] == scc.get(c)}
        groups: dict[int, list[str]] = {}
        for node, comp in scc.items():
            groups.setdefault(comp, []).append(node)
        cycles = sorted(
            tuple(sorted(members))
            for members in groups.values()
            if len(members) > 1 or (members[0], members[0]) in cyclic
        )
        phased_out, phased_in = _engineering_changes(revisions, dropped)
        use_ups = _acyclic_use_ups(edges, cyclic, replacements)
        return cls(
            cyclic_edges=cyclic,
            cycles=cycles,
            use_ups=use_ups,
            llc=_low_level_codes(edges, cyclic, use_ups),
            parents_of=parents_of,
            phased_out=phased_out,
            phased_in=phased_in,
        )


def _strongly_connected(edges: dict[str, set[str]]) -> dict[str, int]:
    """Tarjan's algorithm, iterative: node -> component number."""
    nodes = set(edges) | {c for cs in edges.values() for c in cs}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comp: dict[str, int] = {}
    counter = 0
    components = 0
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            if children:
                child = children.pop()
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp[member] = components
                    if member == node:
                        break
                components += 1
    return comp


def _acyclic_use_ups(
    edges: dict[str, set[str]], cyclic: set[tuple[str, str]], replacements: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    """The replacement pairs, in name order, that close no loop with the BOM and each other."""
    graph = {p: {c for c in cs if (p, c) not in cyclic} for p, cs in edges.items()}
    accepted: set[tuple[str, str]] = set()
    for old, new in sorted(replacements):
        seen, stack = {new}, [new]
        while stack and old not in seen:
            for nxt in graph.get(stack.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        if old not in seen:
            accepted.add((old, new))
            graph.setdefault(old, set()).add(new)
    return accepted


def _low_level_codes(
    edges: dict[str, set[str]], cyclic: set[tuple[str, str]], replacements: set[tuple[str, str]]
) -> dict[str, int]:
    """Longest path over the acyclic edges.

    A replaced component (use-up) also comes before the component that replaces it, whose
    requirements depend on its projected stock.
    """
    acyclic = {p: {c for c in cs if (p, c) not in cyclic} for p, cs in edges.items()}
    for old, new in sorted(replacements):
        acyclic.setdefault(old, set()).add(new)
    indegree: dict[str, int] = {}
    for p, cs in acyclic.items():
        indegree.setdefault(p, 0)
        for c in cs:
            indegree[c] = indegree.get(c, 0) + 1
    llc = {n: 0 for n in indegree}
    ready = sorted(n for n, d in indegree.items() if d == 0)
    while ready:
        node = ready.pop()
        for child in acyclic.get(node, ()):
            llc[child] = max(llc[child], llc[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return llc


def _engineering_changes(
    revisions: dict[str, dict[str, BomRevisionReleased]],
    dropped: dict[str, BomRevisionReleased],
) -> tuple[dict[str, BomRevisionReleased], dict[str, BomRevisionReleased]]:
    phased_out: dict[str, BomRevisionReleased] = {}
    phased_in: dict[str, BomRevisionReleased] = {}
    used_now: set[str] = set()
    for parent in sorted(revisions):
        ordered = sorted(revisions[parent].values(), key=lambda r: (r.effective_from, r.revision))
        latest = ordered[-1]
        kept = {line.component for line in latest.lines}
        used_now |= kept
        earlier = {line.component for rev in ordered[:-1] for line in rev.lines}
        for component in sorted(earlier - kept):
            phased_out.setdefault(component, latest)
        if ordered[:-1]:
            for component in sorted(kept - earlier):
                phased_in.setdefault(component, latest)
    for component, revision in sorted(dropped.items()):
        if component not in used_now:
            phased_out.setdefault(component, revision)
    return phased_out, phased_in
