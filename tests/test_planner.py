"""The plant planner's rules on small examples (operators/planner.py, triggers.py, changelog.py).

Each test states one rule that the scenario replays otherwise reach only as part of a whole
plant: adopting what was published before a restart, a REJECTED confirmation, issued
quantities deducted from an order's requirement, DISPOSITION_EXCESS of a component an ECO
removed, and a proposal whose release date is already past.
"""

from __future__ import annotations

from datetime import date, timedelta

from mfgsync.operators.changelog import Changelog
from mfgsync.operators.inventory import ComponentIssued, PositionChanged, StockPosition
from mfgsync.operators.planner import PlantPlanner
from mfgsync.schemas.outputs import OutputRecord, ProcurementTrigger, ShortageSignal
from mfgsync.schemas.vocabulary import TRIGGER_STATES, TRIGGERS
from tests.factories import (
    bom,
    confirmation,
    demand,
    line,
    params,
    production_order,
    purchase_order,
    requisition,
)

TODAY = date(2026, 3, 2)
LONG_AGO = TODAY - timedelta(days=60)


def days(n: int) -> date:
    return TODAY + timedelta(days=n)


def triggers(records: list[OutputRecord]) -> dict[str, ProcurementTrigger]:
    return {r.trigger_id: r for r in records if isinstance(r, ProcurementTrigger)}


def live_triggers(planner: PlantPlanner) -> dict[str, ProcurementTrigger]:
    return {t.trigger_id: t for t in planner.triggers.current()}


def stock(item: str, unrestricted: float) -> PositionChanged:
    return PositionChanged("P1", item, StockPosition(unrestricted=unrestricted), f"stock-{item}")


# ------------------------------------------------------------ adopt after restart


def test_after_a_restart_a_published_trigger_no_longer_true_is_withdrawn():
    # The snapshot predates a trigger the plant published; the restored planner adopts it
    # and its first plan withdraws it, because nothing asks for it any more.
    planner = PlantPlanner("P1")
    planner.apply(params("A"))
    assert triggers(planner.plan(TODAY)) == {}
    stale = requisition("A", 10, "2026-03-09", need_date=days(7))
    planner.adopt([stale])
    withdrawn = triggers(planner.plan(TODAY))
    assert [(t.trigger_id, t.state) for t in withdrawn.values()] == [(stale.trigger_id, "WITHDRAWN")]


def test_after_a_restart_a_published_trigger_still_true_is_not_emitted_again():
    facts = [params("A"), demand("D1", "A", 10, days(7))]
    planner = PlantPlanner("P1")
    for fact in facts:
        planner.apply(fact)
    published = list(triggers(planner.plan(TODAY)).values())
    assert published
    restarted = PlantPlanner("P1")  # restored from a snapshot older than what it published
    for fact in facts:
        restarted.apply(fact)
    restarted.adopt(published)
    assert triggers(restarted.plan(TODAY)) == {}
    assert set(live_triggers(restarted)) == {t.trigger_id for t in published}


def test_records_of_another_plant_and_closed_records_are_not_adopted():
    other = requisition("A", 1, plant="P2")
    closed = requisition("A", 1, state="WITHDRAWN")
    planner = PlantPlanner("P1")
    planner.adopt([other, closed])
    assert planner.triggers.current() == []


def test_a_changelog_emits_only_what_changed_with_its_state():
    log: Changelog[ProcurementTrigger] = Changelog(*TRIGGER_STATES)
    first = ProcurementTrigger(
        trigger_id="T", state="OPEN", type="CREATE_REQUISITION", plant="P1", item="A", qty=1
    )
    assert [r.state for r in log.update("A", [first])] == ["OPEN"]
    assert log.update("A", [first]) == []
    assert [(r.state, r.qty) for r in log.update("A", [first.model_copy(update={"qty": 2})])] == [
        ("UPDATED", 2)
    ]
    assert [(r.state, r.qty) for r in log.update("A", [])] == [("WITHDRAWN", 2)]


# ---------------------------------------------------------- purchase order lines


def test_a_rejected_confirmation_means_nothing_is_expected_from_the_po_line():
    planner = PlantPlanner("P1")
    planner.apply(params("C", lead_time_days=2))
    planner.apply(demand("D1", "C", 10, days(7)))
    planner.apply(purchase_order("PO1", 1, "C", 10, days(5)))
    covered = triggers(planner.plan(TODAY))
    assert not any(t.type == "CREATE_REQUISITION" for t in covered.values())
    planner.apply(confirmation("PO1", 1, "C", [], status="REJECTED"))
    after = planner.plan(TODAY)
    requisitions = [t for t in triggers(after).values() if t.type == "CREATE_REQUISITION"]
    assert [(t.qty, t.need_date) for t in requisitions] == [(10, days(7))]


# ------------------------------------------------------------- production orders


def test_what_was_issued_to_an_order_is_deducted_from_its_component_requirement():
    # FG order of 10 needs 2 C each on its start date: 20 C; 15 C already issued to it.
    planner = PlantPlanner("P1")
    planner.apply(params("FG", make_or_buy="MAKE"))
    planner.apply(params("C"))
    planner.apply(bom("FG", "A", [line("C", 2.0)], effective_from=LONG_AGO))
    planner.apply(production_order("MO1", "FG", 10, days(4), days(6)))
    before = [t for t in triggers(planner.plan(TODAY)).values() if t.item == "C"]
    assert [(t.type, t.qty, t.need_date) for t in before] == [("CREATE_REQUISITION", 20, days(4))]
    planner.apply(ComponentIssued("P1", "C", "MO1", 15, "issue-1"))
    after = [t for t in planner.plan(TODAY) if isinstance(t, ProcurementTrigger) and t.item == "C"]
    assert [(t.state, t.qty) for t in after] == [("UPDATED", 5)]


# ------------------------------------------------------------ engineering changes


def test_stock_of_a_component_an_eco_removed_is_a_disposition_excess_naming_the_eco():
    planner = PlantPlanner("P1")
    planner.apply(params("FG", make_or_buy="MAKE"))
    planner.apply(params("OLD"))
    planner.apply(params("NEW"))
    planner.apply(bom("FG", "A", [line("OLD", 1.0)], effective_from=LONG_AGO))
    planner.apply(stock("OLD", 30))
    planner.apply(demand("D1", "FG", 10, days(20)))
    planner.plan(TODAY)
    planner.apply(bom("FG", "B", [line("NEW", 1.0)], effective_from=days(1), eco="ECO-1"))
    excess = [t for t in triggers(planner.plan(TODAY)).values() if t.type == "DISPOSITION_EXCESS"]
    assert [(t.trigger_id, t.item, t.qty, t.reference, t.correlation_ids) for t in excess] == [
        ("DISPOSITION_EXCESS|P1|OLD", "OLD", 30, "FG@B", ("ECO-1",))
    ]


# ------------------------------------------------------------------ release dates


def test_a_proposal_whose_release_date_is_past_is_published_with_its_true_dates():
    planner = PlantPlanner("P1")
    planner.apply(params("C", lead_time_days=10))
    planner.apply(demand("D1", "C", 5, days(3)))
    records = planner.plan(TODAY)
    (proposal,) = triggers(records).values()
    assert proposal.type == "CREATE_REQUISITION"
    assert (proposal.need_date, proposal.release_date) == (days(3), days(-7))
    assert proposal.release_in_past
    assert proposal.earliest_receipt_date == days(10)
    shortage = next(r for r in records if isinstance(r, ShortageSignal))
    assert shortage.severity == "CRITICAL"  # inside the lead time


def test_a_trigger_topic_is_the_vocabulary_topic():
    assert ProcurementTrigger.TOPIC == TRIGGERS


# ------------------------------------------------------------ stock already short


def test_stock_already_short_is_replenished_from_the_date_of_its_latest_stock_event():
    # netting: stock below safety stock is needed since the stock position that shows it,
    # so the safety-stock proposal keeps its dates when the planning date moves.
    planner = PlantPlanner("P1")
    planner.apply(params("A", lead_time_days=5, safety_stock=10))
    planner.apply(PositionChanged("P1", "A", StockPosition(unrestricted=3), "s1", days(-3)))
    planner.apply(PositionChanged("P1", "A", StockPosition(unrestricted=4), "s2", days(-1)))
    planner.apply(PositionChanged("P1", "A", StockPosition(unrestricted=4), "s0", days(-9)))  # late, older
    first = triggers(planner.plan(TODAY))
    proposal = first["CREATE_REQUISITION|P1|A|safety-stock"]
    assert (proposal.qty, proposal.need_date, proposal.release_date) == (6.0, days(-1), days(-6))
    assert (proposal.release_in_past, proposal.earliest_receipt_date) == (True, days(5))
    # A day later nothing the planner decides has moved: only the earliest receipt date.
    later = triggers(planner.plan(days(1)))
    moved = later["CREATE_REQUISITION|P1|A|safety-stock"]
    assert (moved.qty, moved.need_date, moved.release_date) == (6.0, days(-1), days(-6))
    assert moved.earliest_receipt_date == days(6)
