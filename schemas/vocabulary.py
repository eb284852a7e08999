"""The words of mfgsync's contract, each defined once: topics, changelog states, severities, keys.

Everything that names a topic, compares a record's state, ranks a severity or builds or reads
an `item@plant` key imports it from here (operators, flows, connectors, tests and bench), so
a word is spelled in one place and a typo is an import error rather than a silent mismatch.
"""

from __future__ import annotations

from typing import Final, Literal, NamedTuple

# ---------------------------------------------------------------------- topics

BOM_REVISIONS: Final = "plm.bom.revisions"
ITEM_PLANNING: Final = "erp.item.planning"
INVENTORY_MOVEMENTS: Final = "wms.inventory.movements"
INVENTORY_SNAPSHOTS: Final = "wms.inventory.snapshots"
PRODUCTION_ORDERS: Final = "erp.production.orders"
DEMAND: Final = "erp.demand"
PURCHASE_ORDERS: Final = "erp.purchase.orders"
SUPPLIER_CONFIRMATIONS: Final = "supplier.confirmations"
GOODS_RECEIPTS: Final = "erp.goods.receipts"
INPUT_TOPICS: Final = (
    BOM_REVISIONS,
    ITEM_PLANNING,
    INVENTORY_MOVEMENTS,
    INVENTORY_SNAPSHOTS,
    PRODUCTION_ORDERS,
    DEMAND,
    PURCHASE_ORDERS,
    SUPPLIER_CONFIRMATIONS,
    GOODS_RECEIPTS,
)
"""The input topics of the specification, one event type each."""

TRIGGERS: Final = "procurement.triggers"
SHORTAGES: Final = "signals.shortages"
AVAILABILITY: Final = "signals.availability"
EXCEPTIONS: Final = "sync.exceptions"
DEAD_LETTERS: Final = "sync.dlq"
LAG: Final = "sync.lag"
COUNTS: Final = "sync.counts"
"""How many input records of each topic were read and ended in each outcome (latest per id)."""

CHANGELOG_TOPICS: Final = (TRIGGERS, SHORTAGES, AVAILABILITY, EXCEPTIONS)
"""Compacted changelogs keyed by stable id; what a planner adopts again after a restart."""
COMPACTED_TOPICS: Final = (*CHANGELOG_TOPICS, COUNTS)
"""Topics whose latest record per key is the truth: compacted on the broker."""
OUTPUT_TOPICS: Final = (*CHANGELOG_TOPICS, DEAD_LETTERS, LAG, COUNTS)
"""Every topic the service writes."""

# ----------------------------------------------------------- changelog states

TriggerState = Literal["OPEN", "UPDATED", "WITHDRAWN"]
ShortageState = Literal["RAISED", "UPDATED", "RESOLVED"]
ExceptionState = Literal["OPEN", "CLOSED"]


class ChangelogStates(NamedTuple):
    """The state a changelog record carries when it is new, changed, and gone."""

    opened: str
    updated: str
    closed: str


TRIGGER_STATES: Final = ChangelogStates("OPEN", "UPDATED", "WITHDRAWN")
SHORTAGE_STATES: Final = ChangelogStates("RAISED", "UPDATED", "RESOLVED")
EXCEPTION_STATES: Final = ChangelogStates("OPEN", "OPEN", "CLOSED")
"""An exception stays OPEN while its details change; only its end is a new state."""

CLOSED_STATES: Final = frozenset(
    states.closed for states in (TRIGGER_STATES, SHORTAGE_STATES, EXCEPTION_STATES)
)
"""The last state of a changelog id: after it, the id is no longer part of the truth."""


def is_live(state: str | None) -> bool:
    """True for a record that is part of the current truth (stateless records always are)."""
    return state not in CLOSED_STATES


# ------------------------------------------------------------------ severities

Severity = Literal["CRITICAL", "HIGH", "WARNING"]
SEVERITIES: Final[tuple[Severity, ...]] = ("CRITICAL", "HIGH", "WARNING")
"""Most severe first (the order status views list them in)."""
SEVERITY_RANK: Final[dict[str, int]] = {"WARNING": 1, "HIGH": 2, "CRITICAL": 3}
"""Severities ordered, for 'at or above a configured severity' comparisons."""


def at_least(severity: str, minimum: str) -> bool:
    """True when `severity` is `minimum` or more severe; an unknown word is a ValueError."""
    try:
        return SEVERITY_RANK[severity] >= SEVERITY_RANK[minimum]
    except KeyError as exc:
        msg = f"severity must be one of {', '.join(SEVERITIES)}, got {exc.args[0]!r}"
        raise ValueError(msg) from None


# ------------------------------------------------------------------------ keys


def item_key(item: str, plant: str) -> str:
    """The `item@plant` key: stock state, sequencing of stock and planning events, exceptions."""
    return f"{item}@{plant}"


def parse_item_key(key: str) -> tuple[str, str]:
    """`(item, plant)` of an `item@plant` key; the plant is the text after the last `@`."""
    item, _, plant = key.rpartition("@")
    return item, plant


def revision_key(parent_item: str, revision: str) -> str:
    """`parent@revision`: names a BOM revision (an ECO's stand-in when it has no number)."""
    return f"{parent_item}@{revision}"
