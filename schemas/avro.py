"""The Avro contracts shipped in this package, and the bridge between them and the pydantic models.

Each `<ClassName>.avsc` file is read with `importlib.resources`, so it works from a source
tree and from an installed wheel alike. `SchemaSet` reads and parses every schema once and is
what a long-lived producer or consumer holds; `load_schema` and `schema_text` read one file per
call, for tools and tests. `to_avro_dict` and `from_avro_dict` convert between a model and the
plain dict that `fastavro` writes and reads (logical types stay `date` and `datetime` objects:
fastavro converts them itself).

Imports nothing from the rest of mfgsync; connectors and tests may import it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, TypeVar, get_args

from fastavro import parse_schema
from pydantic import BaseModel

NAMESPACE = "io.mfgsync"
"""Namespace of every record and enum in the `.avsc` files."""

SCHEMA_PACKAGE = "mfgsync.schemas"
"""The package the `.avsc` files ship in (package-data `*.avsc`)."""

ModelT = TypeVar("ModelT", bound=BaseModel)


def schema_names() -> tuple[str, ...]:
    """Names of every schema shipped in the package (file names without `.avsc`), sorted."""
    return tuple(
        sorted(
            entry.name.removesuffix(".avsc")
            for entry in _schema_dir().iterdir()
            if entry.name.endswith(".avsc") and entry.is_file()
        )
    )


def schema_text(name: str) -> str:
    """The JSON text of schema `name` exactly as shipped: what gets registered with a Schema Registry.

    `name` is the record name, which is also the model's class name (`"InventoryMovement"`).
    """
    path = _schema_dir().joinpath(f"{name}.avsc")
    # The identifier check keeps `name` a plain file name: no separators, no "..".
    if not name.isidentifier() or not path.is_file():
        raise _unknown(name, schema_names())
    return path.read_text(encoding="utf-8")


def load_schema(name: str) -> dict[str, Any]:
    """Schema `name` parsed by `fastavro.parse_schema`, ready for its writers and readers.

    Reads and parses the file on every call; hold a `SchemaSet` to do that once.
    """
    return _parse(name, schema_text(name))


@dataclass(frozen=True, slots=True)
class SchemaSet:
    """Every schema of the package, read and parsed once.

    Bounded by the files shipped in the package; build it once at start-up with `SchemaSet.load()`
    and pass it to whatever encodes or decodes.
    """

    texts: Mapping[str, str]
    """Raw `.avsc` JSON by schema name."""
    parsed: Mapping[str, dict[str, Any]]
    """Parsed schemas (`fastavro.parse_schema`) by schema name."""

    @classmethod
    def load(cls) -> SchemaSet:
        """Read and parse every `.avsc` file shipped in the package."""
        texts = {name: schema_text(name) for name in schema_names()}
        return cls(texts=texts, parsed={name: _parse(name, text) for name, text in texts.items()})

    def schema(self, name: str) -> dict[str, Any]:
        """The parsed schema `name`."""
        return self.parsed[self._known(name)]

    def text(self, name: str) -> str:
        """The raw JSON of schema `name`."""
        return self.texts[self._known(name)]

    def for_model(self, model: type[BaseModel]) -> dict[str, Any]:
        """The parsed schema of a model class: the record named after the class."""
        return self.schema(model.__name__)

    def _known(self, name: str) -> str:
        if name not in self.parsed:
            raise _unknown(name, self.parsed)
        return name


def to_avro_dict(model: BaseModel) -> dict[str, Any]:
    """The model as the dict `fastavro` writes: python-mode values, tuples turned into lists.

    Dates and datetimes are left as objects for fastavro's logical types; a naive datetime is
    written as UTC.
    """
    return {field: _as_lists(value) for field, value in model.model_dump(mode="python").items()}


def avro_datum(model: BaseModel) -> dict[str, Any]:
    """What `fastavro` needs to write ``model``, built as cheaply as the model's fields allow.

    A model without nested models is written from its own field dict (fastavro takes tuples
    for arrays and reads dates and datetimes as `to_avro_dict` leaves them); others go through
    `to_avro_dict`.
    """
    if _is_flat(type(model)):
        return model.__dict__
    return to_avro_dict(model)


_FLAT: dict[type[BaseModel], bool] = {}


def _is_flat(model: type[BaseModel]) -> bool:
    flat = _FLAT.get(model)
    if flat is None:
        flat = _FLAT[model] = not any(_mentions_model(f.annotation) for f in model.model_fields.values())
    return flat


def _mentions_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_mentions_model(arg) for arg in get_args(annotation))


def from_avro_dict(model: type[ModelT], data: Mapping[str, Any]) -> ModelT:
    """A model validated from a dict `fastavro` read (arrays become tuples, enums literals)."""
    return model.model_validate(data)


def _schema_dir() -> Traversable:
    return resources.files(SCHEMA_PACKAGE)


def _unknown(name: str, known: Iterable[str]) -> LookupError:
    return LookupError(
        f"no Avro schema named {name!r} in package {SCHEMA_PACKAGE!r}; known: {', '.join(known)}"
    )


def _parse(name: str, text: str) -> dict[str, Any]:
    parsed = parse_schema(json.loads(text))
    if not isinstance(parsed, dict):
        msg = f"{name}.avsc must hold one Avro record schema, found {type(parsed).__name__}"
        raise ValueError(msg)
    return parsed


def _as_lists(value: Any) -> Any:
    # fastavro wants a sequence for an array; tuples are fine to it, but lists are what every
    # Avro tool (and fastavro's own reader) produces, so the written and read dicts compare equal.
    if isinstance(value, dict):
        return {key: _as_lists(item) for key, item in value.items()}
    if isinstance(value, tuple | list):
        return [_as_lists(item) for item in value]
    return value
