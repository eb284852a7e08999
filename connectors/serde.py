"""Serde: input values to validated events, output records to values, in the configured format.

Avro in the Confluent framing against a Schema Registry (the `.avsc` files in `schemas/`),
or JSON. A value that cannot be decoded or validated becomes a dead letter with the reason,
never an exception.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import ValidationError

from mfgsync.connectors.avro_codec import AvroCodec, DecodeError, registry_client
from mfgsync.connectors.jsonl import RawRecord, dead_letter, decode_event, validation_summary
from mfgsync.schemas.avro import SchemaSet
from mfgsync.schemas.events import TOPIC_TYPES, Event
from mfgsync.schemas.outputs import DeadLetter, OutputRecord


class SerdeSettings(Protocol):
    """What a `Serde` reads of the service settings (`flows.settings.Settings` has it)."""

    @property
    def value_format(self) -> Literal["avro", "json"]: ...

    @property
    def schema_registry_url(self) -> str: ...

    @property
    def dlq_max_raw_bytes(self) -> int: ...

    def registry(self) -> dict[str, str]:
        """Schema Registry client configuration."""
        ...

    def canonical(self, topic: str) -> str:
        """The canonical name of a Kafka topic (without the configured prefix)."""
        ...


class Serde:
    """Decodes input values and encodes output records in the configured value format.

    The registry client is created on first use, in the process that uses it.
    """

    def __init__(self, settings: SerdeSettings) -> None:
        self._settings = settings
        self._codec: AvroCodec | None = None

    @property
    def codec(self) -> AvroCodec:
        if self._codec is None:
            client = registry_client(self._settings.schema_registry_url, self._settings.registry())
            self._codec = AvroCodec(client, SchemaSet.load())
        return self._codec

    def decode_event(self, raw: RawRecord) -> Event | DeadLetter:
        """An input record as a validated event, or a dead letter with the reason."""
        topic = self._settings.canonical(raw.origin)
        cls = TOPIC_TYPES.get(topic)
        max_raw = self._settings.dlq_max_raw_bytes
        if self._settings.value_format == "json" or cls is None:
            return decode_event(raw, expected_topic=topic, max_raw=max_raw)
        try:
            data = self.codec.decode(raw.value, cls.__name__)
        except DecodeError as exc:
            return dead_letter(raw, exc.error, exc.reason, topic=raw.origin, max_raw=max_raw)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            summary = validation_summary(exc)
            return dead_letter(raw, "VALIDATION_FAILED", summary, topic=raw.origin, max_raw=max_raw)

    def encode(self, topic: str, record: Any) -> bytes:
        """An output record (or event) as a value for `topic`."""
        if self._settings.value_format == "json":
            return bytes(record.model_dump_json().encode())
        return self.codec.encode(topic, record)

    def decode_record(self, cls: type[OutputRecord], value: bytes) -> OutputRecord:
        """An output record read back from its topic."""
        if self._settings.value_format == "json":
            return cls.model_validate_json(value)
        return cls.model_validate(self.codec.decode(value, cls.__name__))
