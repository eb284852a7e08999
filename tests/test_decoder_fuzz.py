"""Fuzzing the record decoders: whatever the bytes, a value or a dead letter, never an exception.

The invariant is h11's for its parser: a decoder either returns an event or our own error
value (a `DeadLetter` with a reason), and nothing else escapes. Both paths are fuzzed: JSON
(`connectors/jsonl.decode_event`, files and `MFGSYNC_VALUE_FORMAT=json`) and Avro in the
Confluent frame (`connectors/serde.Serde.decode_event`, against confluent-kafka's in-process
registry). Inputs are arbitrary bytes, and valid records of every event type mutated: bits
flipped, bytes replaced, inserted, deleted, truncated, two records spliced, the frame's schema
id changed and, for JSON, fields dropped, retyped or added. Whatever comes out must be usable
downstream: an event encodes again in both formats (and reads back equal from Avro), and a
dead letter encodes for `sync.dlq`.

The default run tries about 1,500 inputs through hypothesis (a failure shrinks to a minimal
input); `pytest -m slow` feeds 120,000 seeded inputs.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfgsync.connectors.jsonl import RawRecord
from mfgsync.connectors.serde import Serde
from mfgsync.flows.scenario import scenario_events
from mfgsync.schemas.events import EVENT_TYPES, Event
from mfgsync.schemas.outputs import DeadLetter
from mfgsync.schemas.vocabulary import DEAD_LETTERS, INPUT_TOPICS

TODAY = date(2026, 3, 2)
SLOW_INPUTS = 120_000
QUICK = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class FuzzSettings:
    """What a Serde reads of the settings, with an in-process registry."""

    value_format: Literal["avro", "json"]
    schema_registry_url: str = "mock://decoder-fuzz"
    dlq_max_raw_bytes: int = 64 * 1024

    def registry(self) -> dict[str, str]:
        return {}

    def canonical(self, topic: str) -> str:
        return topic


AVRO = Serde(FuzzSettings("avro"))
JSON = Serde(FuzzSettings("json"))
EVENT_DICTS = [e for e in scenario_events(TODAY)]
EVENTS = [
    EVENT_TYPES[d["type"]].model_validate({k: v for k, v in d.items() if k != "type"}) for d in EVENT_DICTS
]
JSON_VALUES = [json.dumps(d).encode() for d in EVENT_DICTS]
AVRO_VALUES = [(e.TOPIC, AVRO.encode(e.TOPIC, e)) for e in EVENTS]
SCHEMA_IDS = sorted({int.from_bytes(value[1:5], "big") for _, value in AVRO_VALUES})
ODD_JSON: list[Any] = [
    None,
    True,
    0,
    -1,
    2**31,
    2**63,
    -(2**64),
    1e308,
    float("nan"),
    float("inf"),
    "",
    "x" * 300,
    "\ud800",
    "2026-02-30",
    "2026-03-02T25:00:00Z",
    [],
    [{}],
    {},
    {"qty": 1, "date": "2026-03-02"},
]


def check(raw: RawRecord, serde: Serde) -> Event | DeadLetter:
    """Decode one value and check the invariant; return what came out."""
    out = serde.decode_event(raw)
    assert isinstance(out, Event | DeadLetter), type(out)
    if isinstance(out, Event):
        value = AVRO.encode(out.TOPIC, out)
        assert AVRO.decode_event(RawRecord(out.TOPIC, 0, 0, value)) == out
        assert JSON.decode_event(RawRecord(out.TOPIC, 0, 0, JSON.encode(out.TOPIC, out))) == out
    else:
        assert out.reason and out.error
        AVRO.encode(DEAD_LETTERS, out)
        out.model_dump_json()
    return out


# ------------------------------------------------------------------- mutations


def mutate_bytes(value: bytes, op: str, position: int, data: bytes, other: bytes) -> bytes:
    """One byte-level mutation of `value` at `position` (taken modulo its length)."""
    at = position % (len(value) + 1)
    if op == "flip" and value:
        at %= len(value)
        return value[:at] + bytes([value[at] ^ (1 << (position % 8))]) + value[at + 1 :]
    if op == "replace":
        return value[:at] + data + value[at + len(data) :]
    if op == "insert":
        return value[:at] + data + value[at:]
    if op == "delete":
        return value[:at] + value[at + 1 + len(data) :]
    if op == "truncate":
        return value[:at]
    if op == "splice":
        return value[:at] + other[position % (len(other) + 1) :]
    if op == "schema_id" and len(value) >= 5:
        schema_id = SCHEMA_IDS[position % len(SCHEMA_IDS)] if position % 4 else position
        return value[:1] + (schema_id % 2**32).to_bytes(4, "big") + value[5:]
    return value


BYTE_OPS = ("flip", "replace", "insert", "delete", "truncate", "splice", "schema_id")


def mutate_json(fields: dict[str, Any], op: str, key_index: int, odd: Any) -> dict[str, Any]:
    """One structural mutation of an event's JSON object."""
    mutated = dict(fields)
    keys = sorted(mutated)
    key = keys[key_index % len(keys)]
    if op == "drop":
        del mutated[key]
    elif op == "retype":
        mutated[key] = odd
    elif op == "add":
        mutated[f"extra_{key_index % 3}"] = odd
    elif op == "nest" and isinstance(mutated.get("lines") or mutated.get("schedule"), list):
        name = "lines" if "lines" in mutated else "schedule"
        items = [dict(x) if isinstance(x, dict) else x for x in mutated[name]]
        if items and isinstance(items[0], dict) and items[0]:
            inner = sorted(items[0])[key_index % len(items[0])]
            items[0][inner] = odd
        mutated[name] = items
    return mutated


JSON_OPS = ("drop", "retype", "add", "nest")


def dumps(fields: dict[str, Any]) -> bytes:
    try:
        return json.dumps(fields).encode()
    except UnicodeEncodeError:
        return json.dumps(fields, ensure_ascii=True).encode()


# ----------------------------------------------------------- quick (hypothesis)

byte_mutations = st.lists(
    st.tuples(st.sampled_from(BYTE_OPS), st.integers(0, 2**16), st.binary(max_size=6)), max_size=4
)


@QUICK
@given(value=st.binary(max_size=400), topic=st.sampled_from((*INPUT_TOPICS, "not.a.topic")))
def test_arbitrary_bytes_decode_to_a_value_or_a_dead_letter(value: bytes, topic: str) -> None:
    check(RawRecord(topic, 0, 0, value), JSON)
    check(RawRecord(topic, 0, 0, value), AVRO)
    check(RawRecord(topic, 0, 0, b"\x00" + value), AVRO)  # past the magic byte


@QUICK
@given(record=st.sampled_from(range(len(AVRO_VALUES))), other=st.integers(0), mutations=byte_mutations)
def test_mutated_avro_records_decode_to_a_value_or_a_dead_letter(record, other, mutations) -> None:
    topic, value = AVRO_VALUES[record]
    for op, position, data in mutations:
        value = mutate_bytes(value, op, position, data, AVRO_VALUES[other % len(AVRO_VALUES)][1])
    check(RawRecord(topic, 0, 0, value), AVRO)


@QUICK
@given(record=st.sampled_from(range(len(JSON_VALUES))), other=st.integers(0), mutations=byte_mutations)
def test_mutated_json_bytes_decode_to_a_value_or_a_dead_letter(record, other, mutations) -> None:
    value = JSON_VALUES[record]
    for op, position, data in mutations:
        value = mutate_bytes(value, op, position, data, JSON_VALUES[other % len(JSON_VALUES)])
    check(RawRecord(EVENTS[record].TOPIC, 0, 0, value), JSON)
    check(RawRecord("events.jsonl", -1, 1, value, is_file=True), JSON)


@QUICK
@given(
    record=st.sampled_from(range(len(EVENT_DICTS))),
    mutations=st.lists(
        st.tuples(st.sampled_from(JSON_OPS), st.integers(0, 50), st.sampled_from(range(len(ODD_JSON)))),
        min_size=1,
        max_size=3,
    ),
)
def test_json_records_with_fields_dropped_retyped_or_added_decode_to_a_value_or_a_dead_letter(
    record, mutations
) -> None:
    fields = EVENT_DICTS[record]
    for op, key_index, odd in mutations:
        fields = mutate_json(fields, op, key_index, ODD_JSON[odd])
    check(RawRecord(EVENTS[record].TOPIC, 0, 0, dumps(fields)), JSON)


def test_the_unmutated_records_decode_to_their_events() -> None:
    assert len({type(e) for e in EVENTS}) == len(EVENT_TYPES)  # every event type is fuzzed
    for event, (topic, value), text in zip(EVENTS, AVRO_VALUES, JSON_VALUES, strict=True):
        assert check(RawRecord(topic, 0, 0, value), AVRO) == event
        assert check(RawRecord(topic, 0, 0, text), JSON) == event


# ------------------------------------------------------------------------ slow


def random_input(rng: random.Random) -> tuple[RawRecord, Serde, str]:
    """One fuzz input: which decoder, the record, and what kind of input it is."""
    kind = rng.choice(("bytes", "avro", "json_bytes", "json_fields"))
    index = rng.randrange(len(EVENTS))
    topic = EVENTS[index].TOPIC
    if kind == "bytes":
        value = rng.randbytes(rng.randrange(0, 200))
        if rng.random() < 0.5:
            value = b"\x00" + rng.choice(SCHEMA_IDS).to_bytes(4, "big") + value
        return RawRecord(rng.choice(INPUT_TOPICS), 0, 0, value), rng.choice((AVRO, JSON)), kind
    if kind == "json_fields":
        fields = EVENT_DICTS[index]
        for _ in range(rng.randint(1, 3)):
            fields = mutate_json(fields, rng.choice(JSON_OPS), rng.randrange(50), rng.choice(ODD_JSON))
        return RawRecord(topic, 0, 0, dumps(fields)), JSON, kind
    pool = [v for _, v in AVRO_VALUES] if kind == "avro" else JSON_VALUES
    value = pool[index]
    for _ in range(rng.randint(1, 4)):
        data = rng.randbytes(rng.randint(0, 6))
        value = mutate_bytes(value, rng.choice(BYTE_OPS), rng.randrange(2**16), data, rng.choice(pool))
    return RawRecord(topic, 0, 0, value), (AVRO if kind == "avro" else JSON), kind


@pytest.mark.slow
def test_a_hundred_thousand_fuzzed_records_each_decode_to_a_value_or_a_dead_letter() -> None:
    rng = random.Random(20260302)
    outcomes: Counter[tuple[str, str]] = Counter()
    for number in range(SLOW_INPUTS):
        raw, serde, kind = random_input(rng)
        try:
            out = check(raw, serde)
        except Exception as exc:
            pytest.fail(f"input {number} ({kind}) {raw.value!r} on {raw.origin}: {exc!r}")
        outcomes[(kind, "event" if isinstance(out, Event) else out.error)] += 1
    assert sum(outcomes.values()) == SLOW_INPUTS
    # The inputs reach past the frame and the parser: some mutations still validate, and
    # validation itself rejects many.
    assert sum(n for (_, what), n in outcomes.items() if what == "event") > 1_000
    assert outcomes[("json_fields", "VALIDATION_FAILED")] > 1_000
    assert sum(n for (kind, what), n in outcomes.items() if kind == "avro" and what == "AVRO_DECODE_FAILED")
