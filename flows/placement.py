"""Which process of a cluster holds a key's state: bytewax's routing, predicted.

bytewax (0.21) sends a keyed item to worker `hash(key) % workers`, where the hash is Rust's
`DefaultHasher` (SipHash-1-3, keys 0 and 0) over the key string as Rust hashes a `str`: its
bytes, then 0xFF. Worker `w` runs in process `w // workers_per_process`. An item that leaves
its process is pickled twice by timely on the way (once to size the message, once to write
it) and unpickled once; one that stays is handed over as it is. Knowing which items leave
lets the reader pickle those once itself (`dataflow.pack_remote`), so timely only copies
bytes, and leave the others alone. A wrong prediction costs time, never an answer: the
receiver takes an item packed or not. `tests/test_placement.py` checks the prediction
against a real cluster of two processes.

Partition alignment keeps a record on the worker that reads it. The producer contract: every
input record of a plant (or planning group) goes to the partition Kafka's default
partitioner gives its planning key, `murmur2(key) % partitions` (`kafka_partition`), the same
partition number in every input topic. Worker `w` of a cluster of `W` reads the partitions
`p` with `p % W == w` (`Placement.reads`), and the state of a planning key is held under a
state key whose bytewax hash is congruent to the key's partition modulo the partition count
(`aligned_key`): with `W` dividing the partition count, that is the worker reading the
partition. A record that came in on another partition (a producer keyed otherwise) crosses
to the worker of its state as before: the answer never depends on the partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mfgsync.operators.grouping import PlanningGroups
from mfgsync.operators.steps import NO_GROUPS, plant_key
from mfgsync.schemas.events import Event

_MASK = (1 << 64) - 1


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & _MASK


def siphash13(data: bytes) -> int:
    """SipHash-1-3 of `data` with both keys 0 (Rust's `DefaultHasher::new()`)."""
    v0, v1, v2, v3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573

    def rounds(n: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(n):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    end = len(data) - len(data) % 8
    for i in range(0, end, 8):
        m = int.from_bytes(data[i : i + 8], "little")
        v3 ^= m
        rounds(1)
        v0 ^= m
    last = ((len(data) & 0xFF) << 56) | int.from_bytes(data[end:], "little")
    v3 ^= last
    rounds(1)
    v0 ^= last
    v2 ^= 0xFF
    rounds(3)
    return v0 ^ v1 ^ v2 ^ v3


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (32 bits, seed 0x9747B28C), as `org.apache.kafka.common.utils.Utils.murmur2`."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    end = len(data) - len(data) % 4
    for i in range(0, end, 4):
        k = (int.from_bytes(data[i : i + 4], "little") * m) & 0xFFFFFFFF
        k = ((k ^ (k >> r)) * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail = data[end:]
    if len(tail) == 3:
        h ^= tail[2] << 16
    if len(tail) >= 2:
        h ^= tail[1] << 8
    if tail:
        h = ((h ^ tail[0]) * m) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * m) & 0xFFFFFFFF
    return h ^ (h >> 15)


def kafka_partition(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a record keyed `key` (UTF-8).

    The Java client's `toPositive(murmur2(key)) % partitions`; librdkafka (and so
    confluent-kafka) gives the same with `partitioner=murmur2_random`.
    """
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def record_key(event: Event) -> bytes:
    """The Kafka key `mfgsync produce` gives an event: its plant and sequencing key.

    Each entity keeps its order, and a compacted topic keeps every entity's latest version.
    """
    return f"{event.plant}|{event.sequencing_key()}".encode()


def record_partition(event: Event, partitions: int, groups: PlanningGroups = NO_GROUPS) -> int:
    """The partition of the producer contract: the one Kafka gives the event's planning key."""
    return kafka_partition(plant_key(event, groups), partitions)


ALIGNED = "~"
"""Between a planning key and the number that aligns its state key (`aligned_key`)."""


def aligned_key(key: str, partitions: int) -> str:
    """The state key of planning key `key` whose worker reads `kafka_partition(key, partitions)`.

    `key` itself when its hash already fits, else `key~n` with the smallest such n (about
    `partitions` hashes to find, once per key). A key with a `~` of its own always gets a
    number (from 0), so two planning keys never share a state key. It depends on the
    partition count only, so a recovery store keeps the count its state was keyed with.
    """
    if partitions <= 1:
        return key
    target = kafka_partition(key, partitions)
    candidate, n = (key, 0) if ALIGNED not in key else (f"{key}{ALIGNED}0", 0)
    while siphash13(candidate.encode() + b"\xff") % partitions != target:
        n += 1
        candidate = f"{key}{ALIGNED}{n}"
    return candidate


def worker_of(key: str, workers: int) -> int:
    """The worker (0-based, over the whole cluster) whose state holds `key`."""
    return siphash13(key.encode() + b"\xff") % workers


@dataclass(frozen=True)
class Placement:
    """A process in its cluster: which keys are held by another process, which partitions it reads."""

    process_id: int = 0
    processes: int = 1
    workers_per_process: int = 1
    partitions: int = 0
    """The input partition count state keys are aligned to (0: planning keys as they are)."""
    _remote: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    """Per key asked so far (plants and planning groups: few)."""
    _keys: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def workers(self) -> int:
        """Workers in the whole cluster."""
        return self.processes * self.workers_per_process

    def state_key(self, key: str) -> str:
        """The state key of a planning key (`aligned_key`; the key itself when not aligned)."""
        known = self._keys.get(key)
        if known is None:
            known = self._keys[key] = aligned_key(key, self.partitions) if self.partitions else key
        return known

    def reads(self, partition: int) -> bool:
        """Whether this process reads input partition `partition` (all of them when not aligned).

        Partition p is read by worker `p % workers`: aligned state keys put the plants of
        partition p on that worker when the worker count divides the partition count.
        """
        if not self.partitions or self.processes <= 1:
            return True
        return (partition % self.workers) // self.workers_per_process == self.process_id

    def remote(self, key: str) -> bool:
        """Whether `key`'s state is in another process than this one."""
        if self.processes <= 1:
            return False
        known = self._remote.get(key)
        if known is None:
            worker = worker_of(key, self.processes * self.workers_per_process)
            known = self._remote[key] = worker // self.workers_per_process != self.process_id
        return known
