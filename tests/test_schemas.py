"""The Avro contracts (`schemas/*.avsc`) and the pydantic models mirror each other (SPEC 1, 2, 10, 11).

`schema_drift(model, schema)` lists every difference between a model and its `.avsc` record:
field names and order, optionality, defaults and types. The Avro type a field should have is
derived here from the model's annotation, so a field added, removed or retyped on one side
only is reported. The round-trip properties write generated valid instances with fastavro and
read them back into equal models.
"""

from __future__ import annotations

import copy
import io
import json
import sys
import types
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from mfgsync.schemas.avro import (
    NAMESPACE,
    SchemaSet,
    avro_datum,
    from_avro_dict,
    load_schema,
    schema_names,
    schema_text,
    to_avro_dict,
)
from mfgsync.schemas.events import (
    EVENT_TYPES,
    BomRevisionReleased,
    GoodsReceipt,
    InventoryMovement,
    ItemPlanningParams,
    ProductionOrderChanged,
)
from mfgsync.schemas.outputs import OUTPUT_TYPES

MODELS: list[type[BaseModel]] = [*EVENT_TYPES.values(), *OUTPUT_TYPES.values()]
ENVELOPE = ["event_id", "source", "source_seq", "event_time", "plant", "correlation_id"]

LONG_FIELDS = frozenset({"source_seq", "as_of_seq", "offset", "raw_size", "OutcomeCount.count"})
"""Integer fields written as Avro `long` (by name, or `Model.field`); every other one is an Avro `int`."""
INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}

SCALARS: dict[object, str] = {
    str: "string",
    float: "double",
    bool: "boolean",
    bytes: "bytes",
    datetime: "long:timestamp-millis",
    date: "int:date",
}


def by_name(model: type[BaseModel]) -> str:
    return model.__name__


def schema_json(model: type[BaseModel]) -> dict[str, Any]:
    """The model's `.avsc` file as plain JSON (not fastavro's parsed, expanded form)."""
    return json.loads(schema_text(model.__name__))


def edited(model: type[BaseModel], edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    schema = copy.deepcopy(schema_json(model))
    edit(schema)
    return schema


def field_of(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(field for field in schema["fields"] if field["name"] == name)


# --- The Avro type a model field maps to, and the type a schema declares, as the same notation ---


def int_type(field: str, owner: type[BaseModel] | None = None) -> str:
    qualified = f"{owner.__name__}.{field}" if owner is not None else field
    return "long" if field in LONG_FIELDS or qualified in LONG_FIELDS else "int"


def literal_name(literal: object, owner: type[BaseModel]) -> str:
    """The module-level alias a Literal was written as (`LotSizeRule`): the Avro enum's name."""
    for cls in owner.__mro__:
        module = sys.modules.get(cls.__module__)
        for name, value in vars(module).items() if module else ():
            if value is literal:
                return name
    return f"<Literal without a module-level name in {owner.__name__}>"


def split_optional(annotation: Any) -> tuple[bool, Any]:
    """(accepts None, the annotation without None) for `X | None`; other annotations unchanged."""
    if get_origin(annotation) in (Union, types.UnionType):
        arms = [arm for arm in get_args(annotation) if arm is not types.NoneType]
        if len(arms) < len(get_args(annotation)):
            # A union of several types besides None stays whole, and so is reported as unmapped.
            return True, arms[0] if len(arms) == 1 else annotation
    return False, annotation


def model_type(annotation: Any, field: str, owner: type[BaseModel]) -> str:
    """The Avro type (in `schema_type`'s notation) that a model field's annotation maps to."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return model_type(args[0], field, owner)
    if origin in (Union, types.UnionType):
        return "union[" + ", ".join(model_type(arm, field, owner) for arm in args) + "]"
    if origin is Literal:
        return f"enum {literal_name(annotation, owner)}{list(args)}"
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return f"array[{model_type(args[0], field, owner)}]"
    if origin is dict and args[0] is str:
        return f"map[{model_type(args[1], field, owner)}]"
    if annotation is types.NoneType:
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"record {annotation.__name__}"
    if annotation is int:
        return int_type(field, owner)
    if annotation in SCALARS:
        return SCALARS[annotation]
    return f"<no Avro mapping for {annotation!r}>"


def schema_type(avro: Any, named: dict[str, dict[str, Any]]) -> str:
    """An Avro type in a short notation: `int:date`, `enum Source[...]`, `array[record BomLine]`."""
    if isinstance(avro, list):
        return "union[" + ", ".join(schema_type(branch, named) for branch in avro) + "]"
    if isinstance(avro, str):
        short = avro.rpartition(".")[2]
        return schema_type(named[short], named) if short in named else avro
    kind = avro["type"]
    if "logicalType" in avro:
        return f"{kind}:{avro['logicalType']}"
    if kind == "enum":
        return f"enum {avro['name']}{avro['symbols']}"
    if kind == "record":
        return f"record {avro['name']}"
    if kind == "array":
        return f"array[{schema_type(avro['items'], named)}]"
    if kind == "map":
        return f"map[{schema_type(avro['values'], named)}]"
    return schema_type(kind, named)


def named_types(avro: Any) -> Iterator[dict[str, Any]]:
    """Every named type (record, enum, fixed) defined anywhere inside a schema."""
    if isinstance(avro, list):
        for branch in avro:
            yield from named_types(branch)
    elif isinstance(avro, dict):
        if avro.get("type") in ("record", "enum", "fixed"):
            yield avro
        for field in avro.get("fields", ()):
            yield from named_types(field["type"])
        for key in ("items", "values"):
            if key in avro:
                yield from named_types(avro[key])
        if isinstance(avro.get("type"), dict | list):
            yield from named_types(avro["type"])


def nested_models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in get_args(annotation):
        yield from nested_models(arg)


def avro_default(info: FieldInfo) -> Any:
    default = info.get_default(call_default_factory=True)
    return list(default) if isinstance(default, tuple) else default


def constraints(annotation: Any, info: FieldInfo | None = None) -> dict[str, Any]:
    """The annotated-types bounds (ge, gt, lt, le, min_length) on a field, merged."""
    found: dict[str, Any] = {}
    metadata = list(info.metadata) if info else []
    if get_origin(annotation) is Annotated:
        for extra in get_args(annotation)[1:]:
            metadata += extra.metadata if isinstance(extra, FieldInfo) else [extra]
    for bound in metadata:
        for kind in ("ge", "gt", "lt", "le", "min_length"):
            if hasattr(bound, kind):
                found[kind] = getattr(bound, kind)
    return found


def int_bounds(annotation: Any, info: FieldInfo) -> tuple[float, float]:
    bounds = constraints(annotation, info)
    low = bounds.get("ge", bounds["gt"] + 1 if "gt" in bounds else -float("inf"))
    high = bounds.get("le", bounds["lt"] - 1 if "lt" in bounds else float("inf"))
    return low, high


# --- The comparison ---


def schema_drift(model: type[BaseModel], schema: dict[str, Any]) -> list[str]:
    """Every difference between a model and its Avro record schema; empty when they agree."""
    named = {definition["name"]: definition for definition in named_types(schema)}
    return record_drift(model, schema, named)


def record_drift(model: type[BaseModel], record: dict[str, Any], named: dict[str, Any]) -> list[str]:
    where = model.__name__
    model_fields = list(model.model_fields)
    schema_fields = {field["name"]: field for field in record.get("fields", ())}
    problems = []
    if only_model := [name for name in model_fields if name not in schema_fields]:
        problems.append(f"{where}: fields only in the model: {only_model}")
    if only_schema := [name for name in schema_fields if name not in model.model_fields]:
        problems.append(f"{where}: fields only in the schema: {only_schema}")
    if not only_model and not only_schema and model_fields != list(schema_fields):
        problems.append(f"{where}: field order differs: model {model_fields}, schema {list(schema_fields)}")
    for name in model_fields:
        if name in schema_fields:
            problems += field_drift(model, name, schema_fields[name], named)
    return problems


def field_drift(
    model: type[BaseModel], name: str, avro_field: dict[str, Any], named: dict[str, Any]
) -> list[str]:
    where = f"{model.__name__}.{name}"
    info = model.model_fields[name]
    problems = []

    model_nullable, model_annotation = split_optional(info.annotation)
    avro = avro_field["type"]
    schema_nullable = isinstance(avro, list) and "null" in avro
    if schema_nullable:
        if avro[0] != "null":
            problems.append(f"{where}: null must be the union's first branch, so a null default is valid")
        others = [branch for branch in avro if branch != "null"]
        avro = others[0] if len(others) == 1 else others
    if model_nullable != schema_nullable:
        model_says = "accepts None" if model_nullable else "does not accept None"
        schema_says = "has a null branch" if schema_nullable else "has no null branch"
        problems.append(f"{where}: the model {model_says} but the schema {schema_says}")

    expected, declared = model_type(model_annotation, name, model), schema_type(avro, named)
    if expected != declared:
        problems.append(f"{where}: the model maps to {expected}, the schema declares {declared}")

    if info.is_required():
        if "default" in avro_field:
            problems.append(f"{where}: required in the model, but the schema has a default")
    elif "default" not in avro_field:
        problems.append(f"{where}: the model defaults to {avro_default(info)!r}, the schema has no default")
    elif json.dumps(avro_field["default"]) != json.dumps(avro_default(info)):
        problems.append(
            f"{where}: the model defaults to {avro_default(info)!r}, the schema to {avro_field['default']!r}"
        )

    for nested in nested_models(model_annotation):
        if isinstance(named.get(nested.__name__), dict):
            problems += record_drift(nested, named[nested.__name__], named)
    return problems


# --- (a) Every model and its schema agree ---


def test_every_model_has_a_schema_file_and_every_schema_file_a_model():
    assert list(schema_names()) == sorted(model.__name__ for model in MODELS)


@pytest.mark.parametrize("model", MODELS, ids=by_name)
def test_schema_is_a_record_named_after_its_model_in_the_mfgsync_namespace(model):
    schema = schema_json(model)
    assert (schema["type"], schema["name"], schema["namespace"]) == ("record", model.__name__, NAMESPACE)


@pytest.mark.parametrize("model", MODELS, ids=by_name)
def test_schema_mirrors_its_model_field_by_field(model):
    assert schema_drift(model, schema_json(model)) == []


@pytest.mark.parametrize("model", EVENT_TYPES.values(), ids=by_name)
def test_input_event_schemas_start_with_the_envelope_in_spec_order(model):
    fields = [field["name"] for field in schema_json(model)["fields"]]
    assert fields[: len(ENVELOPE)] == ENVELOPE


@pytest.mark.parametrize("model", MODELS, ids=by_name)
def test_every_record_and_field_in_a_schema_has_a_doc(model):
    undocumented = []
    for definition in named_types(schema_json(model)):
        if not definition.get("doc"):
            undocumented.append(definition["name"])
        undocumented += [
            f"{definition['name']}.{field['name']}"
            for field in definition.get("fields", ())
            if not field.get("doc")
        ]
    assert undocumented == []


@pytest.mark.parametrize("model", MODELS, ids=by_name)
def test_each_named_type_is_defined_once_per_schema(model):
    names = [definition["name"] for definition in named_types(schema_json(model))]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("model", EVENT_TYPES.values(), ids=by_name)
def test_every_integer_an_input_event_accepts_fits_its_avro_type(model):
    # Input events are validated at ingress, also from JSON files: a value that passes
    # validation must also encode. (Output records are built by the operators from bounded
    # values: Kafka partitions and offsets, counts.)
    for name, info in model.model_fields.items():
        _, annotation = split_optional(info.annotation)
        if model_type(annotation, name, model) in INT_RANGE:
            low, high = int_bounds(annotation, info)
            assert INT_RANGE[int_type(name)][0] <= low, (
                f"{model.__name__}.{name} has no Avro-sized lower bound"
            )
            assert high <= INT_RANGE[int_type(name)][1], (
                f"{model.__name__}.{name} has no Avro-sized upper bound"
            )


# --- (b) Valid instances survive an Avro round trip ---


def at_millis(moment: datetime) -> datetime:
    """Avro's timestamp-millis keeps milliseconds; generated times carry no finer part."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def value_strategy(annotation: Any, field: str, info: FieldInfo | None = None) -> st.SearchStrategy[Any]:
    """Values a model field accepts, from its annotation and bounds (not its model validators)."""
    origin, args = get_origin(annotation), get_args(annotation)
    bounds = constraints(annotation, info)
    if origin is Annotated:
        annotation, origin, args = args[0], get_origin(args[0]), get_args(args[0])
    if origin in (Union, types.UnionType):
        return st.one_of([value_strategy(arm, field) for arm in args])
    if origin is Literal:
        return st.sampled_from(args)
    if origin is tuple:
        return st.lists(value_strategy(args[0], field), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(value_strategy(args[0], field), value_strategy(args[1], field), max_size=3)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return instances(annotation)
    if annotation is types.NoneType:
        return st.none()
    if annotation is str:
        return st.text(min_size=bounds.get("min_length", 0), max_size=12)
    if annotation is bool:
        return st.booleans()
    if annotation is bytes:
        return st.binary(max_size=12)
    if annotation is int:
        low, high = INT_RANGE[int_type(field)]
        low = max(low, bounds.get("ge", low), bounds.get("gt", low - 1) + 1)
        high = min(high, bounds.get("le", high), bounds.get("lt", high + 1) - 1)
        return st.integers(low, high)
    if annotation is float:
        return st.floats(
            min_value=bounds.get("ge", bounds.get("gt")),
            max_value=bounds.get("le", bounds.get("lt")),
            exclude_min="gt" in bounds,
            exclude_max="lt" in bounds,
            allow_nan=False,
            allow_infinity=False,
        )
    if annotation is datetime:
        return st.datetimes(timezones=st.just(UTC)).map(at_millis)
    if annotation is date:
        return st.dates()
    raise TypeError(f"no strategy for {annotation!r} ({field})")


def field_values(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Keyword arguments for `model`: every required field, and any subset of the defaulted ones."""
    required, optional = {}, {}
    for name, info in model.model_fields.items():
        target = required if info.is_required() else optional
        target[name] = value_strategy(info.annotation, name, info)
    return st.fixed_dictionaries(required, optional=optional)


# The model validators, honoured by redrawing the fields they relate.


def effective_window(draw: st.DrawFn, fields: dict[str, Any]) -> None:
    """BomRevisionReleased: `effective_to`, when given, is after `effective_from`."""
    if fields.get("effective_to") is not None:
        start, end = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2, unique=True)))
        fields.update(effective_from=start, effective_to=end)


def lot_sizing(draw: st.DrawFn, fields: dict[str, Any]) -> None:
    """ItemPlanningParams: FIXED_QTY needs `lot_size_qty` > 0, PERIODS_OF_SUPPLY `lot_size_periods`,
    REPLENISH_TO_MAX `max_stock_level`."""
    if fields.get("lot_size_rule") == "FIXED_QTY" and fields.get("lot_size_qty", 0.0) <= 0:
        fields["lot_size_qty"] = draw(st.floats(min_value=0.001, max_value=1e9))
    if fields.get("lot_size_rule") == "PERIODS_OF_SUPPLY" and fields.get("lot_size_periods") is None:
        fields["lot_size_periods"] = draw(st.integers(1, 52))
    if fields.get("lot_size_rule") == "REPLENISH_TO_MAX" and fields.get("max_stock_level") is None:
        fields["max_stock_level"] = draw(st.floats(min_value=0, max_value=1e9))


def signed_only_for_adjustments(draw: st.DrawFn, fields: dict[str, Any]) -> None:
    """InventoryMovement: qty > 0 for every movement but ADJUSTMENT."""
    if fields["movement_type"] != "ADJUSTMENT" and fields["qty"] <= 0:
        fields["qty"] = draw(st.floats(min_value=0.0, exclude_min=True, allow_infinity=False))


def due_after_start(draw: st.DrawFn, fields: dict[str, Any]) -> None:
    """ProductionOrderChanged: `due_date` >= `start_date`."""
    start, due = sorted((fields["start_date"], fields["due_date"]))
    fields.update(start_date=start, due_date=due)


MODEL_VALIDATORS: dict[type[BaseModel], Callable[[st.DrawFn, dict[str, Any]], None]] = {
    BomRevisionReleased: effective_window,
    ItemPlanningParams: lot_sizing,
    InventoryMovement: signed_only_for_adjustments,
    ProductionOrderChanged: due_after_start,
}


@st.composite
def instances(draw: st.DrawFn, model: type[BaseModel]) -> BaseModel:
    """Valid instances of `model`: field values within bounds, adjusted to its model validators."""
    fields = draw(field_values(model))
    if model in MODEL_VALIDATORS:
        MODEL_VALIDATORS[model](draw, fields)
    return model(**fields)


def avro_round_trip(record: dict[str, Any], writer: Any, reader: Any = None) -> Any:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, writer, record)
    buffer.seek(0)
    return fastavro.schemaless_reader(buffer, writer, reader)


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load()


@pytest.mark.parametrize("model", MODELS, ids=by_name)
@settings(deadline=None)
@given(data=st.data())
def test_valid_instances_survive_an_avro_round_trip(model, schemas, data):
    original = data.draw(instances(model), label="original")
    decoded = avro_round_trip(to_avro_dict(original), schemas.for_model(model))
    assert from_avro_dict(model, decoded) == original


@pytest.mark.parametrize("model", MODELS, ids=by_name)
@settings(deadline=None, max_examples=50)
@given(data=st.data())
def test_the_fast_encoding_path_writes_the_same_bytes_as_the_plain_one(model, schemas, data):
    original = data.draw(instances(model), label="original")
    fast, plain = io.BytesIO(), io.BytesIO()
    fastavro.schemaless_writer(fast, schemas.for_model(model), avro_datum(original))
    fastavro.schemaless_writer(plain, schemas.for_model(model), to_avro_dict(original))
    assert fast.getvalue() == plain.getvalue()


@pytest.mark.parametrize("model", MODELS, ids=by_name)
@settings(deadline=None, max_examples=25)
@given(data=st.data())
def test_a_writer_without_the_defaulted_fields_is_read_with_the_model_defaults(model, schemas, data):
    # Schema evolution: a reader whose schema adds a field fills it from the Avro default,
    # which must be the model's default.
    original = data.draw(instances(model), label="original")
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    old_schema = edited(model, lambda s: s.update(fields=[f for f in s["fields"] if f["name"] in required]))
    old_record = {name: value for name, value in to_avro_dict(original).items() if name in required}
    decoded = avro_round_trip(old_record, fastavro.parse_schema(old_schema), schemas.for_model(model))
    expected = model(**{name: getattr(original, name) for name in required})
    assert from_avro_dict(model, decoded) == expected


def test_an_unknown_schema_name_is_refused_with_the_known_names():
    with pytest.raises(LookupError, match="known: AvailabilityRecord, BomRevisionReleased"):
        load_schema("../pyproject")
    with pytest.raises(LookupError, match="no Avro schema named 'Nope'"):
        SchemaSet.load().schema("Nope")


def test_event_times_are_written_in_utc_to_the_millisecond():
    # The model normalises event_time to UTC; Avro's timestamp-millis then drops sub-millisecond
    # parts, which is why generated timestamps above carry none.
    in_berlin = datetime(2024, 3, 1, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=1)))
    receipt = GoodsReceipt(
        event_id="E1",
        source="ERP",
        source_seq=1,
        event_time=in_berlin,
        plant="P1",
        po_id="PO1",
        line=10,
        item="A",
        qty=5.0,
    )
    decoded = avro_round_trip(to_avro_dict(receipt), load_schema("GoodsReceipt"))
    assert decoded["event_time"] == datetime(2024, 3, 1, 8, 30, 15, 123000, tzinfo=UTC)
    assert decoded["event_time"].utcoffset() == timedelta(0)


# --- (c) The comparison does catch drift ---


def test_drift_check_reports_a_field_dropped_from_the_schema():
    schema = edited(GoodsReceipt, lambda s: s["fields"].remove(field_of(s, "to_quality_hold")))
    assert schema_drift(GoodsReceipt, schema) == [
        "GoodsReceipt: fields only in the model: ['to_quality_hold']"
    ]


def test_drift_check_reports_a_field_added_to_the_model_only():
    class GoodsReceiptWithNote(GoodsReceipt):
        note: str = ""

    drift = schema_drift(GoodsReceiptWithNote, schema_json(GoodsReceipt))
    assert drift == ["GoodsReceiptWithNote: fields only in the model: ['note']"]


def test_drift_check_reports_a_field_added_to_the_schema_only():
    schema = edited(
        GoodsReceipt, lambda s: s["fields"].append({"name": "note", "type": "string", "doc": "?"})
    )
    assert schema_drift(GoodsReceipt, schema) == ["GoodsReceipt: fields only in the schema: ['note']"]


def test_drift_check_reports_a_changed_type():
    schema = edited(GoodsReceipt, lambda s: field_of(s, "qty").update(type="float"))
    assert schema_drift(GoodsReceipt, schema) == [
        "GoodsReceipt.qty: the model maps to double, the schema declares float"
    ]


def test_drift_check_reports_an_int_widened_to_long():
    schema = edited(GoodsReceipt, lambda s: field_of(s, "line").update(type="long"))
    assert schema_drift(GoodsReceipt, schema) == [
        "GoodsReceipt.line: the model maps to int, the schema declares long"
    ]


def test_drift_check_reports_a_logical_type_on_the_wrong_base_type():
    schema = edited(
        ProductionOrderChanged,
        lambda s: field_of(s, "due_date").update(type={"type": "long", "logicalType": "date"}),
    )
    assert schema_drift(ProductionOrderChanged, schema) == [
        "ProductionOrderChanged.due_date: the model maps to int:date, the schema declares long:date"
    ]


def test_drift_check_reports_an_optional_field_made_required():
    def make_required(schema: dict[str, Any]) -> None:
        field_of(schema, "correlation_id").update(type="string")
        del field_of(schema, "correlation_id")["default"]

    drift = schema_drift(InventoryMovement, edited(InventoryMovement, make_required))
    assert (
        "InventoryMovement.correlation_id: the model accepts None but the schema has no null branch" in drift
    )


def test_drift_check_reports_changed_enum_symbols():
    schema = edited(ItemPlanningParams, lambda s: field_of(s, "lot_size_rule")["type"]["symbols"].reverse())
    (problem,) = schema_drift(ItemPlanningParams, schema)
    assert problem.startswith(
        "ItemPlanningParams.lot_size_rule: the model maps to enum LotSizeRule['LOT_FOR_LOT'"
    )


def test_drift_check_reports_a_changed_default():
    schema = edited(ItemPlanningParams, lambda s: field_of(s, "safety_stock").update(default=1.0))
    assert schema_drift(ItemPlanningParams, schema) == [
        "ItemPlanningParams.safety_stock: the model defaults to 0.0, the schema to 1.0"
    ]


def test_drift_check_reports_reordered_fields():
    schema = edited(GoodsReceipt, lambda s: s["fields"].reverse())
    (problem,) = schema_drift(GoodsReceipt, schema)
    assert problem.startswith("GoodsReceipt: field order differs")


def test_drift_check_looks_inside_nested_records():
    def drop_phantom(schema: dict[str, Any]) -> None:
        bom_line = field_of(schema, "lines")["type"]["items"]
        bom_line["fields"].remove(field_of(bom_line, "phantom"))

    drift = schema_drift(BomRevisionReleased, edited(BomRevisionReleased, drop_phantom))
    assert drift == ["BomLine: fields only in the model: ['phantom']"]
