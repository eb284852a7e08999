"""Every contract stays BACKWARD compatible with the last released one (SPEC 2).

`tests/contracts/<version>/` keeps the `.avsc` files as released; a consumer holding today's
schema must read what a producer wrote with the released one (the registry's BACKWARD rule):
new fields are optional with a default, enums only grow. Two independent checks:
- fastavro's schema resolution: records generated from the released schema, written with it
  and read with today's as the reader schema, keep every released field's value and get the
  new fields' defaults (fast suite);
- the Schema Registry's own compatibility API, with the released version registered first
  (service suite, a real Apicurio registry with the Confluent-compatible API).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.utils import generate_many

from mfgsync.schemas.avro import SchemaSet, schema_names
from tests.services import schema_registry, start_service

RELEASED = Path(__file__).parent / "contracts" / "0.1.0"
NAMES = sorted(path.stem for path in RELEASED.glob("*.avsc"))


def released(name: str) -> dict[str, Any]:
    return json.loads((RELEASED / f"{name}.avsc").read_text())


def read_with_new(record: dict[str, Any], writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader))  # type: ignore[no-any-return]


def released_part(value: Any, like: Any) -> Any:
    """`value` with only the keys `like` has, in nested records too (new fields dropped)."""
    if isinstance(like, dict):
        return {k: released_part(value[k], v) for k, v in like.items()}
    if isinstance(like, list):
        return [released_part(v, w) for v, w in zip(value, like, strict=True)]
    return value


def test_every_released_contract_is_still_shipped():
    assert NAMES, "no released contracts found"
    assert set(NAMES) <= set(schema_names())


@pytest.mark.parametrize("name", NAMES)
def test_records_written_with_the_released_schema_read_with_todays(name):
    old, new = released(name), json.loads(SchemaSet.load().text(name))
    old_fields = {f["name"] for f in old["fields"]}
    new_defaults = {f["name"]: f["default"] for f in new["fields"] if f["name"] not in old_fields}
    for record in generate_many(fastavro.parse_schema(old), 25):
        as_released = read_with_new(record, old, old)  # logical types decoded alike
        decoded = read_with_new(record, old, new)
        assert released_part(decoded, as_released) == as_released
        assert {k: decoded[k] for k in new_defaults} == new_defaults


def test_the_check_fails_on_a_new_field_without_a_default():
    old = released("ItemPlanningParams")
    broken = copy.deepcopy(old)
    broken["fields"].append({"name": "must_have", "type": "int", "doc": "no default"})
    record = next(iter(generate_many(fastavro.parse_schema(old), 1)))
    with pytest.raises(fastavro.read.SchemaResolutionError):
        read_with_new(record, old, broken)


@pytest.mark.services
def test_the_schema_registry_accepts_every_contract_as_a_backward_compatible_version(tmp_path):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    schemas = SchemaSet.load()
    with contextlib.ExitStack() as stack:
        url = start_service(stack, "schema-registry", schema_registry(tmp_path))
        client = SchemaRegistryClient({"url": url})
        for name in NAMES:
            subject = f"released-{name}-value"
            client.register_schema(subject, Schema(json.dumps(released(name)), "AVRO"))
            client.set_compatibility(subject, "BACKWARD")
            assert client.test_compatibility(subject, Schema(schemas.text(name), "AVRO")), name
        # And the registry does refuse a breaking change, so the check above can fail.
        broken = released("ItemPlanningParams")
        broken["fields"].append({"name": "must_have", "type": "int", "doc": "no default"})
        assert not client.test_compatibility(
            "released-ItemPlanningParams-value", Schema(json.dumps(broken), "AVRO")
        )
