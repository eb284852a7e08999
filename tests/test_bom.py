"""BOM revisions of a plant: effectivity, explosion, phantoms, cycles, low-level codes (SPEC 5,
operators/bom.py)."""

from __future__ import annotations

import pickle
from datetime import date

import pytest

from mfgsync.operators.bom import BomBook, ExplodedLine
from tests.factories import bom, line


def book_of(*revisions) -> BomBook:
    book = BomBook()
    for revision in revisions:
        book.release(revision)
    return book


def needs(lines: list[ExplodedLine]) -> list[tuple[str, float]]:
    return [(x.component, x.qty_per) for x in lines]


def rev_of(book: BomBook, parent: str, day: date, pinned: str | None = None) -> str | None:
    found = book.effective(parent, day, pinned)
    return None if found is None else found.revision


# --- effectivity --------------------------------------------------------------------------------


def test_effective_revision_has_the_latest_effective_from_on_or_before_the_day():
    book = book_of(
        bom("P", "A", [("C", 1)], date(2024, 1, 1)),
        bom("P", "B", [("C", 2)], date(2024, 3, 1)),
    )
    assert rev_of(book, "P", date(2023, 12, 31)) is None
    assert rev_of(book, "P", date(2024, 1, 1)) == "A"
    assert rev_of(book, "P", date(2024, 2, 29)) == "A"
    assert rev_of(book, "P", date(2024, 3, 1)) == "B"
    assert rev_of(book, "P", date(2030, 1, 1)) == "B"


def test_release_order_does_not_matter_for_effectivity():
    book = book_of(
        bom("P", "B", [("C", 2)], date(2024, 3, 1)),
        bom("P", "A", [("C", 1)], date(2024, 1, 1)),
    )
    assert rev_of(book, "P", date(2024, 2, 1)) == "A"
    assert rev_of(book, "P", date(2024, 3, 1)) == "B"


def test_effective_to_is_the_first_day_the_revision_no_longer_applies():
    book = book_of(bom("P", "A", [("C", 1)], date(2024, 1, 1), effective_to=date(2024, 3, 1)))
    assert rev_of(book, "P", date(2024, 2, 29)) == "A"
    assert rev_of(book, "P", date(2024, 3, 1)) is None


def test_an_ended_revision_gives_way_to_an_earlier_one_still_running():
    book = book_of(
        bom("P", "A", [("C", 1)], date(2024, 1, 1)),
        bom("P", "B", [("C", 2)], date(2024, 2, 1), effective_to=date(2024, 3, 1)),
    )
    assert rev_of(book, "P", date(2024, 2, 15)) == "B"
    assert rev_of(book, "P", date(2024, 3, 1)) == "A"


def test_same_effective_from_goes_to_the_higher_revision_name():
    for order in (("A", "B"), ("B", "A")):
        book = book_of(*(bom("P", r, [("C", 1)], date(2024, 1, 1)) for r in order))
        assert rev_of(book, "P", date(2024, 1, 1)) == "B"


def test_unknown_parent_has_no_revision_and_explodes_to_nothing():
    book = BomBook()
    assert book.effective("P", date(2024, 1, 1)) is None
    assert book.explode("P", date(2024, 1, 1)) == ()
    assert book.has_bom("P") is False


def test_pinned_revision_applies_whatever_the_date():
    book = book_of(
        bom("P", "A", [("OLD", 1)], date(2024, 1, 1), effective_to=date(2024, 3, 1)),
        bom("P", "B", [("NEW", 1)], date(2024, 3, 1)),
    )
    assert rev_of(book, "P", date(2024, 6, 1), pinned="A") == "A"
    assert needs(book.explode("P", date(2024, 6, 1), pinned="A")) == [("OLD", 1)]
    assert rev_of(book, "P", date(2024, 1, 15), pinned="B") == "B"


def test_unknown_pinned_revision_falls_back_to_effectivity():
    book = book_of(
        bom("P", "A", [("OLD", 1)], date(2024, 1, 1)),
        bom("P", "B", [("NEW", 1)], date(2024, 3, 1)),
    )
    assert rev_of(book, "P", date(2024, 6, 1), pinned="Z") == "B"
    assert needs(book.explode("P", date(2024, 2, 1), pinned="Z")) == [("OLD", 1)]


# --- explosion ----------------------------------------------------------------------------------


def test_line_need_includes_scrap():
    top = bom("P", "A", [line("C1", 2, scrap_pct=25), line("C2", 3)], eco="ECO-1", correlation_id="CORR-1")
    book = book_of(top)
    exploded = book.explode("P", date(2024, 1, 1))
    assert needs(exploded) == [("C1", 2.5), ("C2", 3.0)]
    assert exploded[0].revision_event_ids == (top.event_id,)
    assert exploded[0].correlation_ids == ("ECO-1", "CORR-1")


def test_explosion_uses_the_revision_effective_on_the_day():
    book = book_of(
        bom("P", "A", [("OLD", 1)], date(2024, 1, 1)),
        bom("P", "B", [("NEW", 2)], date(2024, 3, 1)),
    )
    assert needs(book.explode("P", date(2024, 2, 29))) == [("OLD", 1)]
    assert needs(book.explode("P", date(2024, 3, 1))) == [("NEW", 2)]


def test_phantom_is_blown_through_with_quantities_multiplied():
    top = bom("P", "A", [line("X", 2, phantom=True), line("D", 1)])
    kit = bom("X", "1", [line("C1", 3), line("C2", 1, scrap_pct=50)])
    book = book_of(top, kit)
    exploded = book.explode("P", date(2024, 1, 1))
    assert needs(exploded) == [("C1", 6.0), ("C2", 3.0), ("D", 1.0)]
    assert exploded[0].revision_event_ids == (top.event_id, kit.event_id)
    assert exploded[2].revision_event_ids == (top.event_id,)


def test_multi_level_phantoms_are_blown_through_to_real_components():
    top = bom("P", "A", [line("X", 2, scrap_pct=50, phantom=True)])
    mid = bom("X", "1", [line("Y", 3, phantom=True)])
    low = bom("Y", "1", [line("C", 5)], eco="ECO-Y")
    book = book_of(top, mid, low)
    exploded = book.explode("P", date(2024, 1, 1))
    # 2 x 1.5 (scrap) x 3 x 5 = 45 of C per P; X and Y never appear.
    assert needs(exploded) == [("C", 45.0)]
    assert exploded[0].revision_event_ids == (top.event_id, mid.event_id, low.event_id)
    assert exploded[0].correlation_ids == ("ECO-Y",)


def test_phantom_without_a_bom_is_an_ordinary_component():
    book = book_of(bom("P", "A", [line("Z", 4, phantom=True)]))
    assert needs(book.explode("P", date(2024, 1, 1))) == [("Z", 4.0)]


def test_phantom_is_exploded_with_its_own_revision_effective_on_the_same_day():
    book = book_of(
        bom("P", "A", [line("X", 1, phantom=True)], date(2024, 1, 1)),
        bom("X", "1", [("OLD", 2)], date(2024, 1, 1), effective_to=date(2024, 3, 1)),
        bom("X", "2", [("NEW", 3)], date(2024, 3, 1)),
    )
    assert needs(book.explode("P", date(2024, 2, 1))) == [("OLD", 2.0)]
    assert needs(book.explode("P", date(2024, 3, 5))) == [("NEW", 3.0)]


def test_phantom_with_no_revision_effective_on_the_day_is_an_ordinary_component():
    book = book_of(
        bom("P", "A", [line("X", 2, phantom=True)], date(2024, 1, 1)),
        bom("X", "1", [("C", 3)], date(2024, 6, 1)),
    )
    assert needs(book.explode("P", date(2024, 2, 1))) == [("X", 2.0)]
    assert needs(book.explode("P", date(2024, 6, 1))) == [("C", 6.0)]


# --- cycles -------------------------------------------------------------------------------------


def test_self_loop_is_a_cycle_and_its_edge_is_never_exploded():
    book = book_of(bom("A", "1", [("A", 1), ("C", 2)]))
    assert book.cycles() == [("A",)]
    assert needs(book.explode("A", date(2024, 1, 1))) == [("C", 2.0)]


def test_two_cycle_is_detected_and_neither_edge_exploded():
    a = bom("A", "1", [("B", 1), ("C", 2)])
    b = bom("B", "1", [("A", 3)])
    book = book_of(a, b, bom("P", "1", [("A", 1)]))
    assert book.cycles() == [("A", "B")]
    assert needs(book.explode("A", date(2024, 1, 1))) == [("C", 2.0)]
    assert needs(book.explode("B", date(2024, 1, 1))) == []
    # The edge into the cycle is not cyclic.
    assert needs(book.explode("P", date(2024, 1, 1))) == [("A", 1.0)]
    assert sorted(r.event_id for r in book.cycle_revisions(("A", "B"))) == sorted([a.event_id, b.event_id])


def test_cycle_through_a_phantom_is_not_blown_through():
    book = book_of(
        bom("A", "1", [line("B", 1, phantom=True), line("C", 1)]),
        bom("B", "1", [line("A", 1)]),
    )
    assert book.cycles() == [("A", "B")]
    assert needs(book.explode("A", date(2024, 1, 1))) == [("C", 1.0)]


def test_cycle_closed_by_a_later_release_is_detected():
    book = book_of(bom("A", "1", [("B", 1)]), bom("B", "1", [("C", 1)]))
    assert book.cycles() == []
    book.release(bom("C", "1", [("A", 1)]))
    assert book.cycles() == [("A", "B", "C")]


def test_acyclic_book_has_no_cycles():
    book = book_of(bom("P", "1", [("A", 1), ("B", 1)]), bom("A", "1", [("B", 1)]))
    assert book.cycles() == []


# --- low-level codes ----------------------------------------------------------------------------


def test_item_used_at_two_depths_gets_the_deeper_low_level_code():
    book = book_of(
        bom("P", "1", [("A", 1), ("B", 1)]),
        bom("B", "1", [("A", 1)]),
        bom("A", "1", [("C", 1)]),
    )
    assert book.low_level_codes() == {"P": 0, "B": 1, "A": 2, "C": 3}


def test_deeper_path_wins_whichever_parent_is_planned_first():
    # Z -> B -> A is two levels deep, P -> A one level: A gets 2 in every order.
    book = book_of(bom("P", "1", [("A", 1)]), bom("Z", "1", [("B", 1)]), bom("B", "1", [("A", 1)]))
    assert book.low_level_codes() == {"P": 0, "Z": 0, "B": 1, "A": 2}


def test_low_level_codes_cover_every_revision_and_ignore_cyclic_edges():
    book = book_of(
        bom("P", "1", [("A", 1)], date(2024, 1, 1)),
        bom("P", "2", [("B", 1)], date(2024, 3, 1)),
        bom("B", "1", [("A", 1)]),
        bom("S", "1", [("S", 1), ("T", 1)]),
    )
    assert book.low_level_codes() == {"P": 0, "B": 1, "A": 2, "S": 0, "T": 1}


# --- phased out ---------------------------------------------------------------------------------


def test_component_dropped_by_the_latest_revision_is_phased_out():
    new = bom("P", "B", [("C1", 1), ("C3", 1)], date(2024, 3, 1), eco="ECO-7")
    book = book_of(bom("P", "A", [("C1", 1), ("C2", 1)], date(2024, 1, 1)), new)
    assert book.phased_out() == {"C2": new}
    assert book.phased_out()["C2"].eco_number == "ECO-7"


def test_single_revision_phases_nothing_out():
    book = book_of(bom("P", "A", [("C1", 1), ("C2", 1)]))
    assert book.phased_out() == {}


def test_phased_out_follows_the_highest_effective_from_not_release_order():
    old = bom("P", "A", [("C1", 1)], date(2024, 1, 1))
    new = bom("P", "B", [("C2", 1)], date(2024, 3, 1))
    book = book_of(new, old)
    assert book.phased_out() == {"C1": new}


# --- release and affected items ----------------------------------------------------------------


def test_release_returns_the_parent_and_every_component_of_its_revisions():
    book = BomBook()
    assert book.release(bom("P", "A", [("C1", 1), ("C2", 1)], date(2024, 1, 1))) == {"P", "C1", "C2"}
    assert book.release(bom("P", "B", [("C1", 1), ("C3", 1)], date(2024, 3, 1))) == {
        "P",
        "C1",
        "C2",
        "C3",
    }


def test_re_release_of_a_revision_also_affects_the_components_it_dropped():
    book = BomBook()
    book.release(bom("P", "A", [("C1", 1)]))
    assert book.release(bom("P", "A", [("C2", 1)])) == {"P", "C1", "C2"}
    assert needs(book.explode("P", date(2024, 1, 1))) == [("C2", 1.0)]


def test_release_affects_ancestors_through_phantoms_only():
    book = book_of(
        bom("G", "1", [line("P", 1, phantom=True)]),
        bom("P", "1", [line("X", 1, phantom=True)]),
        bom("Q", "1", [line("X", 1)]),  # uses X as an ordinary component
        bom("H", "1", [line("P", 1)]),  # uses P as an ordinary component
    )
    assert book.release(bom("X", "1", [("C", 2)])) == {"X", "C", "P", "G"}


def test_parent_that_no_longer_uses_a_phantom_is_no_longer_affected_by_it():
    book = book_of(bom("P", "1", [line("X", 1, phantom=True)]))
    book.release(bom("P", "1", [line("X", 1)]))
    assert book.release(bom("X", "1", [("C", 2)])) == {"X", "C"}


def test_has_bom_and_is_component():
    book = book_of(bom("P", "1", [("C", 1)]))
    assert (book.has_bom("P"), book.has_bom("C")) == (True, False)
    assert (book.is_component("C"), book.is_component("P")) == (True, False)


def test_book_pickles_without_derived_data_and_answers_the_same():
    book = book_of(bom("P", "1", [line("X", 2, phantom=True)]), bom("X", "1", [("C", 3)]))
    assert book.low_level_codes() == {"P": 0, "X": 1, "C": 2}
    restored: BomBook = pickle.loads(pickle.dumps(book))
    assert needs(restored.explode("P", date(2024, 1, 1))) == [("C", 6.0)]
    assert restored.release(bom("X", "2", [("D", 1)], date(2024, 6, 1))) == {"X", "C", "D", "P"}


@pytest.mark.parametrize("scrap_pct", [0.0, 10.0, 99.0])
def test_scrap_factor_is_one_plus_scrap_percent(scrap_pct):
    book = book_of(bom("P", "1", [line("C", 4, scrap_pct=scrap_pct)]))
    expected = {0.0: 4.0, 10.0: 4.4, 99.0: 7.96}[scrap_pct]
    assert book.explode("P", date(2024, 1, 1))[0].qty_per == pytest.approx(expected)
