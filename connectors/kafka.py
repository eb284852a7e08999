"""Kafka for mfgsync (SPEC 2 and 8).

A partitioned raw-record source, a record sink, topic provisioning, publishing events from
files, and reading changelogs back.

The source assigns each topic partition explicitly (bytewax spreads partitions over workers)
and keeps its offset in the bytewax snapshot, which is what recovery resumes from. It also
commits a position to a consumer group so standard Kafka lag tools see the service: with a
recovery store the offset of the last durable snapshot, otherwise the read position every
few seconds (for monitoring, not for resuming). The sink takes part in recovery progress and
never loses a record the broker refuses: see `KafkaRecordSink`. librdkafka settings (SASL,
TLS, ...) are passed through untouched.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from bytewax.outputs import DynamicSink, StatelessSinkPartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from mfgsync.connectors.jsonl import RawRecord

if TYPE_CHECKING:
    from confluent_kafka._types import HeadersType  # the stubs' type of record headers

log = logging.getLogger(__name__)

LagCallback = Callable[[str, int, int], None]
AssignCallback = Callable[[str, int], None]
Encoder = Callable[[str, Any], bytes]

IDLE_WAIT = timedelta(milliseconds=5)
COMMIT_EVERY = timedelta(seconds=5)
WATERMARK_TIMEOUT_S = 5.0
"""How long a reader waits at its start for its partition's watermarks (its first lag)."""
COMPACTED = {"cleanup.policy": "compact"}
LARGE_MESSAGES = {"message.max.bytes": "1048588"}
"""Producers accept records up to the broker's default limit (librdkafka's own is 1,000,000)."""

TopicPartitionKey = tuple[str, int]
"""A topic partition as `(topic, partition)`."""

KafkaConfig = dict[str, Any]
"""A client configuration: librdkafka properties (strings) plus Python-side hooks such as
``logger`` or ``stats_cb``, passed to confluent-kafka untouched."""


def _headers(headers: HeadersType | None) -> tuple[tuple[str, bytes | None], ...]:
    """Record headers as (key, bytes) pairs; librdkafka gives a list, the type also allows a dict."""
    pairs = headers.items() if isinstance(headers, dict) else (headers or ())
    return tuple((key, value.encode() if isinstance(value, str) else value) for key, value in pairs)


def list_partitions(
    config: KafkaConfig, topics: Iterable[str], timeout_s: float = 10.0, wait_s: float = 300.0
) -> list[str]:
    """`topic#partition` for every partition of `topics`; a missing topic is an error.

    A broker that does not answer is waited for (up to `wait_s`), so a service started while
    the broker restarts comes up with it instead of failing.
    """
    admin = AdminClient({**config})
    deadline = time.monotonic() + wait_s
    while True:
        try:
            metadata = admin.list_topics(timeout=timeout_s)
            break
        except KafkaException as exc:
            if time.monotonic() >= deadline:
                raise
            log.warning("kafka metadata unavailable (%s); retrying", exc)
    parts: list[str] = []
    for topic in topics:
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            msg = f"Kafka topic {topic!r} does not exist (run `mfgsync topics create`)"
            raise LookupError(msg)
        parts.extend(f"{topic}#{p}" for p in sorted(found.partitions))
    return parts


class _PartitionReader(StatefulSourcePartition[RawRecord, int]):
    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        partition: int,
        offset: int,
        tail: bool,
        batch_size: int,
        commit: bool,
        on_lag: LagCallback | None,
        durable: bool = False,
    ) -> None:
        self._topic, self._partition, self._offset = topic, partition, offset
        self._batch_size, self._commit, self._on_lag = batch_size, commit, on_lag
        self._durable = durable
        # With a recovery store, the position of the previous snapshot: durable by the time
        # the next snapshot is taken (bytewax starts an epoch only once the last one is written).
        self._snapshotted = offset
        self._eof = False
        self._idle = False
        self._lag_told = False
        self._committed_at = datetime.now(UTC)
        settings = {**config, "enable.auto.commit": "false", "enable.partition.eof": str(not tail).lower()}
        if on_lag is not None:
            settings.update({"statistics.interval.ms": 1000, "stats_cb": self._stats})
        self._consumer = Consumer(settings)
        self._consumer.assign([TopicPartition(topic, partition, offset)])
        if on_lag is not None:
            self._tell_start_lag()

    def next_batch(self) -> list[RawRecord]:
        if self._eof:
            raise StopIteration
        batch: list[RawRecord] = []
        # Never block here: one worker polls every partition it owns in turn, so a wait on
        # one partition delays all the others (measured: p99 latency 1.1 s at 5,000/s).
        for msg in self._consumer.consume(self._batch_size, 0):
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._eof = True
                    break
                # Transport and broker errors are retried by librdkafka; they are not records.
                log.warning("kafka consumer error on %s[%d]: %s", self._topic, self._partition, error)
                continue
            offset = msg.offset()
            if offset is None:  # only error events have no offset, and they are handled above
                continue
            batch.append(
                RawRecord(
                    origin=self._topic,
                    partition=self._partition,
                    offset=offset,
                    value=msg.value() or b"",
                    key=msg.key(),
                    headers=_headers(msg.headers()),
                )
            )
            self._offset = offset + 1
        # Less than a full batch: what had been fetched is read, more comes with the next fetch.
        # Polling again at once keeps the worker spinning over its partitions (at 1,000
        # events/s in tail mode: 46% of a core, 40% with the wait); records gather meanwhile.
        self._idle = len(batch) < self._batch_size
        if batch and not self._lag_told and self._on_lag is not None:
            self._tell_first_lag()
        if self._commit and not self._durable and datetime.now(UTC) - self._committed_at > COMMIT_EVERY:
            self._commit_offset(self._offset)
        return batch

    def next_awake(self) -> datetime | None:
        # A drained partition need not be polled in a busy loop.
        return datetime.now(UTC) + IDLE_WAIT if self._idle else None

    def snapshot(self) -> int:
        if self._commit:
            self._commit_offset(self._snapshotted if self._durable else self._offset)
        self._snapshotted = self._offset
        return self._offset

    def _commit_offset(self, offset: int) -> None:
        self._committed_at = datetime.now(UTC)
        if offset >= 0:
            self._consumer.commit(
                offsets=[TopicPartition(self._topic, self._partition, offset)], asynchronous=True
            )

    def close(self) -> None:
        self._consumer.close()

    def _tell_start_lag(self) -> None:
        """The lag before the first record is read, from the partition's watermarks.

        Asked of the broker once, when the reader is built. Told only after the first batch,
        a small partition that delivered first (its lag below the catch-up setting) made a
        service starting on a backlog plan its first batches as if it were live, before the
        large partitions had told their lag. If the broker does not answer in time, the lag
        comes after the first batch instead.
        """
        try:
            marks = self._consumer.get_watermark_offsets(
                TopicPartition(self._topic, self._partition), timeout=WATERMARK_TIMEOUT_S
            )
        except KafkaException as exc:
            log.info("no watermarks for %s[%d] at the start: %s", self._topic, self._partition, exc)
            return
        if marks is None:
            return
        low, high = marks
        if self._offset >= 0:
            self._tell_lag(high, self._offset)
        elif self._offset == OFFSET_BEGINNING:
            self._tell_lag(high, low)
        # another logical offset (the end, a stored one): left to the first batch

    def _tell_first_lag(self) -> None:
        """The lag after the first batch, from the watermark its fetch brought (no request).

        librdkafka's statistics come a second after the start: by then a service starting on
        a backlog would have planned its first batches as if it were live.
        """
        marks = self._consumer.get_watermark_offsets(
            TopicPartition(self._topic, self._partition), cached=True
        )
        if marks is not None and marks[1] >= 0:  # else not known: try after the next batch
            self._tell_lag(marks[1], self._offset)

    def _tell_lag(self, high: int, position: int) -> None:
        """The lag from the high watermark and a position (the next offset to read)."""
        if self._on_lag is not None:
            self._lag_told = True
            self._on_lag(self._topic, self._partition, max(0, high - position))

    def _stats(self, stats_json: str) -> None:
        stats = json.loads(stats_json)
        part = stats.get("topics", {}).get(self._topic, {}).get("partitions", {}).get(str(self._partition))
        if not part or self._on_lag is None or part.get("ls_offset", -1) < 0:
            return
        # Before the first record the position is logical (beginning): count from the low mark.
        position = self._offset if self._offset >= 0 else max(0, part.get("lo_offset", 0))
        self._on_lag(self._topic, self._partition, max(0, part["ls_offset"] - position))


class KafkaRawSource(FixedPartitionedSource[RawRecord, int]):
    """Records of Kafka topics as `RawRecord`s, one bytewax partition per topic partition.

    `tail=False` stops at the end of every partition (backfills and tests); the default
    follows the topics until stopped. `group_id` names the consumer group that offsets are
    committed to: with `durable=True` (a recovery store is configured) only positions of
    snapshots that are written, so the committed offset is where a restart resumes at the
    latest and never goes backwards; otherwise the read position, every few seconds.
    `reads` says which partition numbers this process lists (bytewax makes one of the
    workers that list a partition its reader): all of them by default.
    """

    def __init__(
        self,
        config: KafkaConfig,
        topics: Iterable[str],
        *,
        tail: bool = True,
        group_id: str | None = None,
        batch_size: int = 1000,
        on_lag: LagCallback | None = None,
        on_assign: AssignCallback | None = None,
        durable: bool = False,
        reads: Callable[[int], bool] | None = None,
    ) -> None:
        self._durable = durable
        self._reads = reads
        self._config = dict(config)
        self._topics = list(topics)
        self._tail = tail
        self._group_id = group_id
        self._batch_size = batch_size
        self._on_lag = on_lag
        self._on_assign = on_assign

    def list_parts(self) -> list[str]:
        parts = list_partitions(self._config, self._topics)
        if self._reads is None:
            return parts
        return [part for part in parts if self._reads(int(part.rsplit("#", 1)[1]))]

    def build_part(self, step_id: str, for_part: str, resume_state: int | None) -> _PartitionReader:
        topic, partition = for_part.rsplit("#", 1)
        config = {**self._config, "group.id": self._group_id or "mfgsync-offsets-unused"}
        offset = OFFSET_BEGINNING if resume_state is None else resume_state
        if self._on_assign is not None:
            self._on_assign(topic, int(partition))
        return _PartitionReader(
            config,
            topic,
            int(partition),
            offset,
            self._tail,
            self._batch_size,
            self._group_id is not None,
            self._on_lag,
            self._durable,
        )


RETRY_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)
PERMANENT_ERRORS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.POLICY_VIOLATION,
        KafkaError._INVALID_ARG,
    }
)
"""Delivery errors that a retry cannot cure: the record is dead-lettered instead."""


class DeliveryLedger:
    """Per topic partition, the offset after the last record this process had delivered.

    The sink notes every delivery. A planner's snapshot takes the ledger's current values as
    the point up to which its plant's published records are reflected in its state (see
    `PlantPlanner.published_through`): a record of the plant appended below them was appended
    before the snapshot, so the plant emitted it in an epoch the snapshot covers. Thread-safe.
    """

    def __init__(self) -> None:
        self._next: dict[TopicPartitionKey, int] = {}
        self._lock = threading.Lock()

    def delivered(self, topic: str, partition: int, offset: int) -> None:
        key = (topic, partition)
        with self._lock:
            if offset + 1 > self._next.get(key, 0):
                self._next[key] = offset + 1

    def current(self) -> dict[TopicPartitionKey, int]:
        with self._lock:
            return dict(self._next)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An output record that could not be encoded or that the broker refused for good."""

    topic: str
    key: str
    record: Any
    error: str
    reason: str


RejectedCallback = Callable[[Rejected], None]
DeadLetterFactory = Callable[[Rejected], tuple[str, Any] | None]


@dataclass(slots=True)
class _Message:
    topic: str
    key: str
    record: Any
    value: bytes
    from_rejection: bool = False


class _ProducerPartition(StatelessSinkPartition[tuple[str, Any]]):
    """Produces batches; every record ends delivered or dead-lettered.

    With `each_batch` a batch returns only once every record of it is delivered or
    dead-lettered: bytewax counts an epoch done (and a resume may start after it) once every
    output step has written the epoch, so nothing a snapshot believes published is lost in a
    crash. That costs a broker round trip per batch, which the worker waits for (30-100 ms on
    a loaded 2-core host). Without recovery no snapshot relies on it, so records are handed
    to the producer and the batch returns at once; deliveries and refusals are settled on the
    next batches, and `close` waits for all of them.
    Transient errors (broker down, leader moving, timeouts) are retried until they pass;
    a permanent refusal (too large, not authorised, unknown topic) or an encoding failure
    is counted, logged and dead-lettered, and processing continues.
    """

    def __init__(
        self,
        config: dict[str, Any],
        encode: Encoder,
        topic_names: dict[str, str],
        on_rejected: RejectedCallback | None,
        dead_letter: DeadLetterFactory | None,
        ledger: DeliveryLedger | None = None,
        each_batch: bool = True,
    ) -> None:
        self._config = config
        self._ledger = ledger
        self._producer = Producer(config)
        self._encode = encode
        self._topic_names = topic_names
        self._on_rejected = on_rejected
        self._dead_letter = dead_letter
        self._each_batch = each_batch
        self._failed: list[tuple[_Message, KafkaError]] = []
        """Records whose delivery failed since the last batch (when not `each_batch`)."""

    def write_batch(self, values: list[tuple[str, Any]]) -> None:
        messages: list[_Message] = []
        for topic, record in values:
            message = self._message(topic, record)
            if message is not None:
                messages.append(message)
        if self._each_batch:
            self._deliver(messages)
            return
        for message in messages:
            self._produce(message, self._failed)
        self._settle()

    def _settle(self) -> None:
        """Re-send what failed transiently, dead-letter what was refused (no waiting)."""
        if not self._failed:
            return
        if any(error.fatal() for _, error in self._failed):
            self._producer.flush()  # the old producer reports all it holds before it is replaced
        failed = self._failed.copy()
        self._failed.clear()  # the same list: delivery callbacks of records in flight append to it
        for message in self._retry(failed):
            self._produce(message, self._failed)

    def _message(self, topic: str, record: Any, from_rejection: bool = False) -> _Message | None:
        name = self._topic_names.get(topic, topic)
        key = record.record_key()
        try:
            return _Message(name, key, record, self._encode(name, record), from_rejection)
        except Exception as exc:  # a record the codec cannot write must not stop the flow
            self._reject(_Message(name, key, record, b"", from_rejection), "ENCODE_FAILED", str(exc))
            return None

    def _deliver(
        self, messages: list[_Message], failed: list[tuple[_Message, KafkaError]] | None = None
    ) -> None:
        """Send `messages` (after the earlier `failed`) until each is delivered or dead-lettered."""
        attempt = 0
        failed = list(failed or ())
        while messages or failed:
            for message in messages:
                self._produce(message, failed)
            self._producer.flush()
            messages, failed = self._retry(failed, attempt), []
            attempt += 1

    def _retry(self, failed: list[tuple[_Message, KafkaError]], attempt: int = 0) -> list[_Message]:
        """What to send again: the transient failures (after a back-off) and the dead letters."""
        transient: list[_Message] = []
        letters: list[_Message] = []
        for message, error in failed:
            if error.code() in PERMANENT_ERRORS:
                letters.extend(self._reject(message, error.name(), error.str()))
            else:
                transient.append(message)
        fatal = next((error for _, error in failed if error.fatal()), None)
        if fatal is not None:
            log.error("kafka producer failed fatally (%s); creating a new one", fatal)
            self._producer = Producer(self._config)
        if transient:
            backoff = RETRY_BACKOFF_S[min(attempt, len(RETRY_BACKOFF_S) - 1)]
            log.warning("retrying %d output records in %.1f s: %s", len(transient), backoff, failed[0][1])
            time.sleep(backoff)
        return transient + letters

    def _produce(self, message: _Message, failed: list[tuple[_Message, KafkaError]]) -> None:
        def delivered(error: KafkaError | None, msg: Any) -> None:
            if error is not None:
                failed.append((message, error))
            elif self._ledger is not None:
                self._ledger.delivered(msg.topic(), msg.partition(), msg.offset())

        while True:
            try:
                self._producer.produce(
                    message.topic, message.value, message.key.encode(), on_delivery=delivered
                )
                break
            except BufferError:  # local queue full: let deliveries drain
                self._producer.poll(0.1)
            except KafkaException as exc:  # refused before sending (e.g. larger than message.max.bytes)
                failed.append((message, exc.args[0]))
                break
        self._producer.poll(0)

    def _reject(self, message: _Message, error: str, reason: str) -> list[_Message]:
        """Count, log and (once) dead-letter a refused record; return the dead letter to send."""
        rejected = Rejected(message.topic, message.key, message.record, error, reason)
        log.error(
            "output record %s on %s rejected (%s): %s; %s",
            message.key,
            message.topic,
            error,
            reason,
            "not dead-lettered (it is one)" if message.from_rejection else "dead-lettered",
        )
        if self._on_rejected is not None:
            self._on_rejected(rejected)
        if message.from_rejection or self._dead_letter is None:
            return []
        letter = self._dead_letter(rejected)
        if letter is None:
            return []
        dead = self._message(*letter, from_rejection=True)
        return [dead] if dead is not None else []

    def close(self) -> None:
        self._producer.flush()
        failed = self._failed.copy()
        self._failed.clear()
        self._deliver([], failed)


class KafkaRecordSink(DynamicSink[tuple[str, Any]]):
    """Writes `(topic, record)` items keyed by the record's stable id, value by `encode`.

    Every worker writes what it made with its own producer, so output records are never
    exchanged between workers (or processes). One id is always made by the worker that holds
    its key's state, so it goes through one producer, in order. The sink is part of bytewax's
    recovery progress (every output step is): with `each_batch` (recovery on) a batch returns
    only once its records are delivered, so an epoch counts as done only once its records are
    on the broker; without, it does not wait for the broker (see `_ProducerPartition`).
    `on_rejected` is told about every record that was refused for good; `dead_letter` turns
    one into a `(topic, record)` to publish instead (None: nothing). `ledger` is told the
    offset of every delivered record (of this process: a plant's records are all delivered by
    the process of its worker).
    """

    def __init__(
        self,
        config: KafkaConfig,
        encode: Encoder,
        topic_names: dict[str, str] | None = None,
        *,
        on_rejected: RejectedCallback | None = None,
        dead_letter: DeadLetterFactory | None = None,
        ledger: DeliveryLedger | None = None,
        each_batch: bool = True,
    ) -> None:
        self._config = {"enable.idempotence": "true", "linger.ms": "5", **LARGE_MESSAGES, **config}
        self._encode = encode
        self._topic_names = topic_names or {}
        self._on_rejected = on_rejected
        self._dead_letter = dead_letter
        self._ledger = ledger
        self._each_batch = each_batch

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _ProducerPartition:
        return _ProducerPartition(
            self._config,
            self._encode,
            self._topic_names,
            self._on_rejected,
            self._dead_letter,
            self._ledger,
            self._each_batch,
        )


def create_topics(
    config: KafkaConfig,
    topics: dict[str, dict[str, str]],
    partitions: int,
    replication: int = 1,
    timeout_s: float = 30.0,
) -> dict[str, str]:
    """Create topics with their configs; return what happened per topic (created / exists)."""
    admin = AdminClient({**config})
    requests = [
        NewTopic(t, num_partitions=partitions, replication_factor=replication, config=c)
        for t, c in topics.items()
    ]
    outcome: dict[str, str] = {}
    for topic, future in admin.create_topics(requests, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
            outcome[topic] = "created"
        except Exception as exc:
            error = exc.args[0] if exc.args else None
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                outcome[topic] = "exists"
            else:
                raise
    return outcome


class Message(NamedTuple):
    """A record to publish."""

    topic: str
    key: bytes
    value: bytes
    partition: int = -1
    """-1: the producer's partitioner picks one from the key."""


def produce_all(config: KafkaConfig, messages: Iterable[Message], flush_timeout_s: float = 30.0) -> int:
    """Publish messages and wait for every delivery; return the count.

    Waits at most ``flush_timeout_s`` for the last deliveries (and librdkafka's
    ``message.timeout.ms`` for each): undelivered messages raise `RuntimeError`.
    """
    producer = Producer({"enable.idempotence": "true", "linger.ms": "20", **LARGE_MESSAGES, **config})
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    count = 0
    for topic, key, value, partition in messages:
        while True:
            try:
                producer.produce(topic, value, key, partition=partition, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let deliveries drain
                producer.poll(0.1)
        producer.poll(0)
        count += 1
    waiting = producer.flush(flush_timeout_s)
    if waiting:
        msg = f"{waiting} of {count} messages still undelivered after {flush_timeout_s:g} s"
        raise RuntimeError(msg)
    if failures:
        msg = f"{len(failures)} of {count} messages were not delivered: {failures[0]}"
        raise RuntimeError(msg)
    return count


def read_topic(
    config: KafkaConfig, topic: str, timeout_s: float = 30.0
) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Every `(key, value)` of a topic from the beginning to its current end."""
    for _topic, key, value in read_topics(config, [topic], timeout_s):
        yield key, value


def read_topics(
    config: KafkaConfig, topics: Iterable[str], timeout_s: float = 30.0
) -> Iterator[tuple[str, bytes | None, bytes | None]]:
    """Every `(topic, key, value)` of some topics from the beginning to their current end."""
    _, records = read_ranges(config, topics, lambda _tp: 0, timeout_s=timeout_s)
    for record in records:
        yield record.topic, record.key, record.value


@dataclass(frozen=True, slots=True)
class Published:
    """A record read back from a changelog, with where it is."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def read_ranges(
    config: KafkaConfig,
    topics: Iterable[str],
    since: Callable[[TopicPartitionKey], int],
    until: dict[TopicPartitionKey, int] | None = None,
    timeout_s: float = 30.0,
) -> tuple[dict[TopicPartitionKey, int], Iterator[Published]]:
    """The records of some topics from `since(tp)` up to `until[tp]` (default: the current end).

    Returns the ends read up to (for every partition of the topics) and the records. One
    consumer reads every partition at once; an offset below a partition's start reads from
    its start.
    """
    consumer = Consumer(
        {
            **config,
            "group.id": "mfgsync-reader",
            "enable.auto.commit": "false",
            "enable.partition.eof": "false",
            "auto.offset.reset": "earliest",
        }
    )
    try:
        metadata = consumer.list_topics(timeout=timeout_s).topics
        ends: dict[TopicPartitionKey, int] = {}
        todo: dict[TopicPartitionKey, tuple[int, int]] = {}
        for topic in topics:
            found = metadata.get(topic)
            if found is None:
                msg_text = f"Kafka topic {topic!r} does not exist"
                raise LookupError(msg_text)
            for p in found.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
                end = high if until is None else min(high, until.get((topic, p), high))
                ends[(topic, p)] = end
                start = max(low, since((topic, p)))
                if end > start:
                    todo[(topic, p)] = (start, end)
    except BaseException:
        consumer.close()
        raise
    return ends, _read(consumer, todo, timeout_s)


def _read(
    consumer: Consumer, todo: dict[TopicPartitionKey, tuple[int, int]], timeout_s: float
) -> Iterator[Published]:
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in todo.items()])
        remaining = {tp: end for tp, (_, end) in todo.items()}
        deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
        while remaining and datetime.now(UTC) < deadline:
            batch = consumer.consume(1000, 0.2)
            if batch:  # the deadline is for a broker that stops answering, not for a long read
                deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
            for msg in batch:
                if msg.error() is not None:
                    continue
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                if topic is None or partition is None or offset is None:
                    continue
                end = remaining.get((topic, partition))
                if end is None:
                    continue
                if offset + 1 >= end:  # (compaction may have removed the record just before the end)
                    del remaining[(topic, partition)]
                    if offset >= end:
                        continue
                yield Published(topic, partition, offset, msg.key(), msg.value())
        if remaining:
            msg_text = f"timed out reading {sorted(remaining)}: not at their end"
            raise TimeoutError(msg_text)
    finally:
        consumer.close()
