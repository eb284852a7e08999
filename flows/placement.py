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
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def worker_of(key: str, workers: int) -> int:
    """The worker (0-based, over the whole cluster) whose state holds `key`."""
    return siphash13(key.encode() + b"\xff") % workers


@dataclass(frozen=True)
class Placement:
    """A process in its cluster: which keys are held by another process."""

    process_id: int = 0
    processes: int = 1
    workers_per_process: int = 1
    _remote: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)
    """Per key asked so far (plants and planning groups: few)."""

    def remote(self, key: str) -> bool:
        """Whether `key`'s state is in another process than this one."""
        if self.processes <= 1:
            return False
        known = self._remote.get(key)
        if known is None:
            worker = worker_of(key, self.processes * self.workers_per_process)
            known = self._remote[key] = worker // self.workers_per_process != self.process_id
        return known
