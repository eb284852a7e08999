"""Smoke tests: the local Schema Registry (scripts/schema-registry) works with confluent_kafka's client."""

from __future__ import annotations

import contextlib
import json
import struct

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from tests.services import kafka_broker, schema_registry, start_service

SCHEMA = {
    "type": "record",
    "name": "Smoke",
    "namespace": "mfgsync.test",
    "fields": [
        {"name": "item", "type": "string"},
        {"name": "qty", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}


@pytest.mark.services
def test_schema_registry_register_fetch_and_avro_roundtrip(tmp_path):
    with contextlib.ExitStack() as stack:
        url = start_service(stack, "schema-registry", schema_registry(tmp_path))
        client = SchemaRegistryClient({"url": url})
        schema_str = json.dumps(SCHEMA)

        schema_id = client.register_schema("t-value", Schema(schema_str, "AVRO"))
        assert client.get_subjects() == ["t-value"]
        fetched = client.get_schema(schema_id)
        assert fetched.schema_type == "AVRO"
        assert json.loads(fetched.schema_str) == SCHEMA
        latest = client.get_latest_version("t-value")
        assert (latest.schema_id, latest.version) == (schema_id, 1)

        # Like Confluent's registry: the same schema (differently formatted) keeps its id and
        # adds no version; an incompatible change is refused (global rule BACKWARD).
        pretty = json.dumps(SCHEMA, indent=2)
        assert client.register_schema("t-value", Schema(pretty, "AVRO")) == schema_id
        assert client.get_versions("t-value") == [1]
        incompatible = {**SCHEMA, "fields": [{"name": "qty", "type": "string"}]}
        with pytest.raises(SchemaRegistryError) as refused:
            client.register_schema("t-value", Schema(json.dumps(incompatible), "AVRO"))
        assert refused.value.http_status_code == 409

        ctx = SerializationContext("t", MessageField.VALUE)
        serializer = AvroSerializer(client, schema_str, conf={"auto.register.schemas": False})
        deserializer = AvroDeserializer(client)
        record = {"item": "BOLT-M8", "qty": 42, "note": None}
        payload = serializer(record, ctx)
        magic, wire_id = struct.unpack(">bI", payload[:5])
        assert (magic, wire_id) == (0, schema_id)
        assert deserializer(payload, ctx) == record
        # A fresh client (empty cache) resolves the id from the registry itself.
        assert AvroDeserializer(SchemaRegistryClient({"url": url}))(payload, ctx) == record


@pytest.mark.kafka
@pytest.mark.services
def test_schema_registry_on_kafka_keeps_schemas_across_restart(tmp_path):
    with contextlib.ExitStack() as stack:
        bootstrap = start_service(stack, "kafka", kafka_broker(tmp_path / "broker"))
        with contextlib.ExitStack() as first:
            url = start_service(first, "schema-registry", schema_registry(tmp_path / "first", bootstrap))
            schema_id = SchemaRegistryClient({"url": url}).register_schema(
                "t-value", Schema(json.dumps(SCHEMA), "AVRO")
            )
        # The first registry is stopped; a new one reads the schemas back from Kafka.
        url = start_service(stack, "schema-registry", schema_registry(tmp_path / "second", bootstrap))
        client = SchemaRegistryClient({"url": url})
        assert client.get_subjects() == ["t-value"]
        assert json.loads(client.get_schema(schema_id).schema_str) == SCHEMA
        assert client.get_latest_version("t-value").schema_id == schema_id
