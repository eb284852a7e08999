"""Composed Avro writers write the bytes fastavro writes, and leave it what they do not take."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta, timezone

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.common import TODAY
from bench.data import Spec, generate
from bench.planning import PLANT, Plant
from mfgsync.connectors.avro_codec import AvroCodec, registry_client
from mfgsync.connectors.avro_writer import Unwritable, compile_writer
from mfgsync.operators.planner import PlannerConfig, PlantPlanner
from mfgsync.schemas.avro import SchemaSet, avro_datum

SCHEMAS = SchemaSet.load()

EVERY_TYPE = {
    "type": "record",
    "name": "Every",
    "fields": [
        {"name": "s", "type": "string"},
        {"name": "e", "type": {"type": "enum", "name": "Colour", "symbols": ["RED", "GREEN"]}},
        {"name": "e_again", "type": "Colour"},
        {"name": "d", "type": "double"},
        {"name": "i", "type": "int"},
        {"name": "n", "type": "long"},
        {"name": "b", "type": "boolean"},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "maybe", "type": ["string", "null"]},
        {"name": "names", "type": {"type": "array", "items": "string"}},
        {
            "name": "lines",
            "type": {
                "type": "array",
                "items": {"type": "record", "name": "Line", "fields": [{"name": "q", "type": "double"}]},
            },
        },
    ],
}


def fastavro_bytes(schema: dict, datum: dict) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def composed_bytes(schema: dict, datum: dict) -> bytes:
    write = compile_writer(schema)
    assert write is not None
    return write(datum)


zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))])
# (hypothesis takes naive bounds and makes aware values)
aware = st.datetimes(datetime(1901, 1, 1), datetime(2200, 1, 1), timezones=zones)  # noqa: DTZ001


@settings(max_examples=300, deadline=None)
@given(
    s=st.text(max_size=200),
    e=st.sampled_from(["RED", "GREEN"]),
    d=st.one_of(st.floats(allow_nan=False), st.integers(-(2**53), 2**53)),
    i=st.integers(-(2**31), 2**31 - 1),
    n=st.integers(-(2**63), 2**63 - 1),
    b=st.booleans(),
    day=st.one_of(st.none(), st.dates()),
    at=st.one_of(aware, st.integers(-(2**62), 2**62)),
    maybe=st.one_of(st.none(), st.text(max_size=80)),
    names=st.lists(st.text(max_size=10), max_size=150).map(tuple),
    lines=st.lists(st.floats(allow_nan=False).map(lambda q: {"q": q}), max_size=70),
)
def test_every_supported_type_is_written_as_fastavro_writes_it(
    s, e, d, i, n, b, day, at, maybe, names, lines
):
    datum = {
        "s": s, "e": e, "e_again": e, "d": d, "i": i, "n": n, "b": b,
        "day": day, "at": at, "maybe": maybe, "names": names, "lines": lines,
    }  # fmt: skip
    assert composed_bytes(EVERY_TYPE, datum) == fastavro_bytes(EVERY_TYPE, datum)


def test_nan_and_infinities_keep_their_bits():
    for d in (math.nan, math.inf, -math.inf, -0.0):
        datum = {"q": d}
        schema = EVERY_TYPE["fields"][-1]["type"]["items"]
        assert composed_bytes(schema, datum) == fastavro_bytes(schema, datum)


@pytest.mark.parametrize(
    "field, value",
    [
        ("at", datetime(2026, 3, 2, 8, 0)),  # noqa: DTZ001 naive: fastavro reads it as local time
        ("day", "2026-03-02"),  # fastavro parses an ISO string
        ("day", datetime(2026, 3, 2, tzinfo=UTC)),
        ("i", 2**31),
        ("b", 1),
        ("e", "BLUE"),
        ("s", b"bytes"),
        ("names", "not an array"),
    ],
)
def test_a_value_of_another_type_is_left_to_fastavro(field, value):
    datum = {
        "s": "x", "e": "RED", "e_again": "RED", "d": 1.0, "i": 1, "n": 1, "b": True,
        "day": None, "at": 0, "maybe": None, "names": (), "lines": [],
    }  # fmt: skip
    datum[field] = value
    with pytest.raises(Unwritable):
        composed_bytes(EVERY_TYPE, datum)


def test_a_missing_field_is_left_to_fastavro():
    with pytest.raises(Unwritable):
        composed_bytes(EVERY_TYPE, {"s": "x"})


def test_schemas_with_maps_bytes_or_wider_unions_are_not_composed():
    assert compile_writer(json.loads(SCHEMAS.text("DeadLetter"))) is None  # bytes
    assert compile_writer(json.loads(SCHEMAS.text("SyncException"))) is None  # a map
    wide = {"type": "record", "name": "W", "fields": [{"name": "x", "type": ["null", "string", "long"]}]}
    assert compile_writer(wide) is None


def _planner_records() -> list:
    plant = Plant(120, 600, 6, 240)
    planner = PlantPlanner(plant=PLANT, config=PlannerConfig())
    plant.load(planner, plant.master_and_orders())
    return planner.plan_all(TODAY)


def test_the_codec_frames_every_record_and_event_as_with_fastavro_alone():
    codec = AvroCodec(registry_client("mock://avro-writer"), SCHEMAS)
    records = [*_planner_records(), *generate(Spec(events=3_000, keys=200, plants=2))]
    kinds = {type(r).__name__ for r in records}
    assert {"ProcurementTrigger", "AvailabilityRecord", "ShortageSignal", "InventoryMovement"} <= kinds
    composed = 0
    for record in records:
        name = type(record).__name__
        value = codec.encode(f"w.{name}", record)
        body = fastavro_bytes(json.loads(SCHEMAS.text(name)), avro_datum(record))
        assert value[5:] == body, name
        composed += compile_writer(json.loads(SCHEMAS.text(name))) is not None
    assert composed > len(records) * 0.9


def test_a_record_the_composed_writer_does_not_take_is_still_encoded():
    codec = AvroCodec(registry_client("mock://avro-writer-fallback"), SCHEMAS)
    events = generate(Spec(events=40, keys=20, plants=1))
    movement = next(e for e in events if type(e).__name__ == "InventoryMovement")
    naive = movement.model_copy(update={"event_time": datetime(2026, 3, 2, 8, 0)})  # noqa: DTZ001
    value = codec.encode("w.naive", naive)
    assert value[5:] == fastavro_bytes(json.loads(SCHEMAS.text("InventoryMovement")), avro_datum(naive))
