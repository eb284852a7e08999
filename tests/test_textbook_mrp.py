"""An MRP record in textbook form, computed by hand, replayed through `mfgsync replay --bucket week`.

The record is a constructed example (no published source); published worked examples are in
tests/test_published_examples.py.

Planning date Monday 2026-01-05 is the start of week 1. Product A (MAKE, lead time 1 week,
20 on hand, lot-for-lot) is made of 2 B (BUY, 2 weeks, 30 on hand, fixed lots of 60, a PO of
20 due in week 2), 3 C (MAKE, 1 week, 50 on hand, safety stock 20, minimum lot 100 in
multiples of 25) and 1 D; C is made of 1 D (BUY, 2 weeks, 10 on hand, lot-for-lot), so D sits
at low-level code 2 and collects demand from two levels.

A: gross 30 (wk3), 40 (wk5), 30 (wk7): receipts 10 / 40 / 30 in wk3 / 5 / 7, released wk2 / 4 / 6.
B: gross 2 x A releases = 20 (wk2), 80 (wk4), 60 (wk6); PAB 30 + 20 - 20 = 30 in wk2, then
   30 - 80 < 0 -> 60 in wk4 (PAB 10), 10 - 60 < 0 -> 60 in wk6: released wk2 and wk4.
C: gross 30 (wk2), 120 (wk4), 90 (wk6); PAB 20 in wk2 (not below 20), wk4 needs 120 -> 125
   (PAB 25), wk6 needs 85 -> 100 (PAB 35): released wk3 and wk5.
D: gross A 10 (wk2), 40 (wk4), 30 (wk6) plus C 125 (wk3), 100 (wk5); 10 on hand covers wk2:
   receipts 125 / 40 / 100 / 30 in wk3 / 4 / 5 / 6, released wk1 / 2 / 3 / 4.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

from mfgsync.flows.replay import read_changelog

MONDAY = date(2026, 1, 5)
ROOT = Path(__file__).resolve().parent.parent


def week(n: int, weekday: int = 0) -> str:
    return (MONDAY + timedelta(weeks=n - 1, days=weekday)).isoformat()


def events() -> list[dict]:
    out: list[dict] = []

    def add(type_name: str, **fields) -> None:
        out.append(
            {
                "type": type_name,
                "event_id": f"tb-{len(out)}",
                "source": "ERP",
                "source_seq": 1,
                "event_time": "2026-01-04T12:00:00Z",
                "plant": "TB",
                **fields,
            }
        )

    add("ItemPlanningParams", item="A", make_or_buy="MAKE", lead_time_days=7)
    add(
        "ItemPlanningParams",
        item="B",
        make_or_buy="BUY",
        lead_time_days=14,
        lot_size_rule="FIXED_QTY",
        lot_size_qty=60,
    )
    add(
        "ItemPlanningParams",
        item="C",
        make_or_buy="MAKE",
        lead_time_days=7,
        safety_stock=20,
        lot_size_rule="MIN_QTY",
        lot_size_qty=100,
        lot_size_multiple=25,
    )
    add("ItemPlanningParams", item="D", make_or_buy="BUY", lead_time_days=14)
    add(
        "BomRevisionReleased",
        parent_item="A",
        revision="1",
        effective_from="2025-01-01",
        lines=[
            {"component": "B", "qty_per": 2},
            {"component": "C", "qty_per": 3},
            {"component": "D", "qty_per": 1},
        ],
    )
    add(
        "BomRevisionReleased",
        parent_item="C",
        revision="1",
        effective_from="2025-01-01",
        lines=[{"component": "D", "qty_per": 1}],
    )
    for item, qty in (("A", 20), ("B", 30), ("C", 50), ("D", 10)):
        add("InventorySnapshot", item=item, unrestricted=qty, as_of_seq=0)
    # Requirements fall on different weekdays: only the week matters.
    for n, (wk, qty) in enumerate(((3, 30), (5, 40), (7, 30))):
        add("DemandChanged", demand_id=f"SO-{n}", item="A", qty=qty, due_date=week(wk, n), status="OPEN")
    add(
        "PurchaseOrderChanged",
        po_id="PO-1",
        line=1,
        item="B",
        supplier="S",
        qty_ordered=20,
        need_date=week(2, 3),
        status="OPEN",
    )
    return out


def replay_week(tmp_path: Path, records: list[dict]) -> dict[str, dict]:
    """Replay events through `mfgsync replay --bucket week` on MONDAY; the open triggers."""
    source = tmp_path / "record.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in records))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mfgsync.flows.cli",
            "replay",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "out"),
            "--bucket",
            "week",
            "--today",
            MONDAY.isoformat(),
        ],
        cwd=ROOT,
        check=True,
        timeout=120,
        capture_output=True,
    )
    triggers = read_changelog(tmp_path / "out" / "procurement.triggers.jsonl").values()
    return {t["trigger_id"]: t for t in triggers if t["state"] != "WITHDRAWN"}


def test_planned_order_releases_match_the_hand_computed_record(tmp_path):
    triggers = replay_week(tmp_path, events())
    releases: dict[str, dict[int, float]] = {}
    for t in triggers.values():
        if t["type"] in ("CREATE_REQUISITION", "CREATE_PRODUCTION_PROPOSAL"):
            wk = (date.fromisoformat(t["release_date"]) - MONDAY).days // 7 + 1
            releases.setdefault(t["item"], {})[wk] = releases.get(t["item"], {}).get(wk, 0) + t["qty"]
    assert releases == {
        "A": {2: 10, 4: 40, 6: 30},
        "B": {2: 60, 4: 60},
        "C": {3: 125, 5: 100},
        "D": {1: 125, 2: 40, 3: 100, 4: 30},
    }


def test_a_raised_requirement_moves_a_receipt_in_instead_of_buying_again(tmp_path):
    """The record of issue 11 (a constructed example), as SAP MRP's rescheduling check treats
    it (SAP ERP help, "Rescheduling Check", help.sap.com/doc/9dadce5314894208e10000000a174cb4/
    3.6/en-US/0a98b6535fe6b74ce10000000a174cb4.html: a firmed receipt after the requirement,
    within the rescheduling horizon, is proposed for bringing forward and used before another
    procurement proposal is made). Item X: 100 on hand, lot
    multiple 200, lead time 4 weeks; receipts of 200 in weeks 2 and 4; requirements 50 (wk1),
    150 (wk2), 150 (wk3, raised from 100), 100 (wk4). Week 3 would fall to -50: the week-4
    receipt moves in to week 3 and nothing new is bought (no proposal released in the past,
    no EXPEDITE)."""

    def event(n: int, type_name: str, **fields) -> dict:
        return {
            "type": type_name,
            "event_id": f"rs-{n}",
            "source": "ERP",
            "source_seq": 1,
            "event_time": "2026-01-04T12:00:00Z",
            "plant": "TB",
            **fields,
        }

    records = [
        event(0, "ItemPlanningParams", item="X", make_or_buy="BUY", lead_time_days=28, lot_size_multiple=200),
        event(1, "InventorySnapshot", item="X", unrestricted=100, as_of_seq=0),
    ]
    for n, (wk, qty) in enumerate(((1, 50), (2, 150), (3, 150), (4, 100))):
        records.append(
            event(
                10 + n,
                "DemandChanged",
                demand_id=f"D{wk}",
                item="X",
                qty=qty,
                due_date=week(wk, 2),
                status="OPEN",
            )
        )
    for n, wk in enumerate((2, 4)):
        records.append(
            event(
                20 + n,
                "PurchaseOrderChanged",
                po_id=f"PO-{wk}",
                line=1,
                item="X",
                supplier="S",
                qty_ordered=200,
                need_date=week(wk, 1),
                status="OPEN",
            )
        )
    triggers = replay_week(tmp_path, records)
    assert [(t["type"], t["reference"], t["need_date"], t["current_date"]) for t in triggers.values()] == [
        ("RESCHEDULE_IN", "PO-4/1", week(3), week(4, 1))
    ]
