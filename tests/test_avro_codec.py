"""The Confluent-framed Avro codec against a real Schema Registry: own schema, evolved writers, bad bytes."""

from __future__ import annotations

import io
import json
import struct
from datetime import UTC, datetime

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema

from mfgsync.connectors.avro_codec import AvroCodec, DecodeError, registry_client
from mfgsync.schemas.avro import SchemaSet
from mfgsync.schemas.events import InventoryMovement

pytestmark = pytest.mark.services

MOVEMENT = InventoryMovement(
    event_id="WMS-1",
    source="WMS",
    source_seq=7,
    event_time=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
    plant="P1",
    item="BOLT-8",
    movement_type="RECEIPT",
    qty=40.0,
    uom="EA",
)


@pytest.fixture
def codec(registry: str) -> AvroCodec:
    return AvroCodec(registry_client(registry), SchemaSet.load())


def framed(schema_id: int, schema: dict, datum: dict) -> bytes:
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def test_a_record_written_with_our_schema_reads_back_equal(codec):
    value = codec.encode("codec-own.inventory", MOVEMENT)
    assert InventoryMovement.model_validate(codec.decode(value, "InventoryMovement")) == MOVEMENT
    [schema_id] = struct.unpack_from(">I", value, 1)
    assert codec.reader_schema(schema_id, "InventoryMovement") is None  # read without resolution


def test_an_older_writer_schema_is_resolved_to_ours_with_its_defaults(codec, registry):
    ours = json.loads(SchemaSet.load().text("InventoryMovement"))
    defaulted = {f["name"] for f in ours["fields"] if "default" in f}
    assert defaulted, "the test needs a field with a default"
    older = {**ours, "fields": [f for f in ours["fields"] if f["name"] not in defaulted]}
    client = registry_client(registry)
    older_id = client.register_schema("codec-older.inventory-value", Schema(json.dumps(older), "AVRO"))
    datum = {k: v for k, v in MOVEMENT.model_dump(mode="python").items() if k not in defaulted}

    assert codec.reader_schema(older_id, "InventoryMovement") is not None
    read = codec.decode(framed(older_id, older, datum), "InventoryMovement")
    assert set(read) == {f["name"] for f in ours["fields"]}  # resolved: Avro filled the defaults
    assert InventoryMovement.model_validate(read) == MOVEMENT.model_copy(
        update={name: InventoryMovement.model_fields[name].default for name in defaulted}
    )
    # The same codec still reads its own schema's values afterwards (the cache is per writer id).
    own = codec.encode("codec-older-own.inventory", MOVEMENT)
    assert InventoryMovement.model_validate(codec.decode(own, "InventoryMovement")) == MOVEMENT


def test_undecodable_values_raise_decode_error_with_a_category(codec):
    value = codec.encode("codec-bad.inventory", MOVEMENT)
    with pytest.raises(DecodeError) as short:
        codec.decode(b"\x00\x01", "InventoryMovement")
    assert short.value.error == "NOT_AVRO"
    with pytest.raises(DecodeError) as magic:
        codec.decode(b"\x07" + value[1:], "InventoryMovement")
    assert magic.value.error == "NOT_AVRO"
    with pytest.raises(DecodeError) as truncated:
        codec.decode(value[:-5], "InventoryMovement")
    assert truncated.value.error == "AVRO_DECODE_FAILED"
    with pytest.raises(DecodeError) as unknown:
        codec.decode(struct.pack(">bI", 0, 987_654) + value[5:], "InventoryMovement")
    assert unknown.value.error == "UNKNOWN_SCHEMA_ID"
