"""One vocabulary (schemas/vocabulary.py): the words agree with the contract models."""

from __future__ import annotations

from typing import get_args

import pytest

from mfgsync.schemas import vocabulary as v
from mfgsync.schemas.events import TOPIC_TYPES
from mfgsync.schemas.outputs import OUTPUT_TYPES


def test_changelog_states_are_the_states_the_records_accept():
    assert set(v.TRIGGER_STATES) == set(get_args(v.TriggerState))
    assert set(v.SHORTAGE_STATES) == set(get_args(v.ShortageState))
    assert set(v.EXCEPTION_STATES) == set(get_args(v.ExceptionState))


def test_only_the_last_state_of_a_changelog_id_is_not_live():
    assert v.CLOSED_STATES == {"WITHDRAWN", "RESOLVED", "CLOSED"}
    assert not any(v.is_live(state) for state in v.CLOSED_STATES)
    assert all(v.is_live(state) for state in ("OPEN", "UPDATED", "RAISED", None))


def test_severities_are_ordered_most_severe_first():
    assert set(v.SEVERITIES) == set(get_args(v.Severity)) == set(v.SEVERITY_RANK)
    ranks = [v.SEVERITY_RANK[s] for s in v.SEVERITIES]
    assert ranks == sorted(ranks, reverse=True)
    assert v.at_least("CRITICAL", "HIGH") and v.at_least("HIGH", "HIGH")
    assert not v.at_least("WARNING", "HIGH")


def test_an_unknown_severity_is_an_error_naming_the_known_ones():
    with pytest.raises(ValueError, match="CRITICAL, HIGH, WARNING, got 'SEVERE'"):
        v.at_least("SEVERE", "HIGH")


def test_the_topics_are_the_topics_of_the_models():
    assert set(v.INPUT_TOPICS) == set(TOPIC_TYPES)
    assert set(v.OUTPUT_TOPICS) == set(OUTPUT_TYPES)
    assert set(v.CHANGELOG_TOPICS) < set(v.OUTPUT_TOPICS)


def test_an_item_key_reads_back_even_when_the_item_has_an_at_sign():
    assert v.item_key("M-100", "DE01") == "M-100@DE01"
    assert v.parse_item_key(v.item_key("kit@2", "DE01")) == ("kit@2", "DE01")
    assert v.revision_key("M-100", "B") == "M-100@B"
