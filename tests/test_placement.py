"""The reader knows which process holds a key (bytewax's routing, predicted) and packs for it.

Checked against a real cluster: two processes of two workers each run a keyed step, and
every key is held where `Placement` says. A changed routing in a later bytewax fails here,
before it turns the packing into a cost.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap

from mfgsync.flows.dataflow import FlowConfig, PlantLogic, pack_remote, plant_builder, unpacked
from mfgsync.flows.placement import Placement, aligned_key, kafka_partition, murmur2, siphash13, worker_of
from mfgsync.operators.steps import PlantBatch, plant_batches
from tests.factories import movement
from tests.services import free_ports

KEYS = [f"P{n:02d}" for n in range(40)] + [f"P01|g{n}" for n in range(1, 25)] + ["DE01", "US02@x"]

CLUSTER = textwrap.dedent(
    """
    import os, sys
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSource, cluster_main

    proc, addresses, keys, out = int(sys.argv[1]), sys.argv[2].split(";"), sys.argv[3].split(","), sys.argv[4]
    flow = Dataflow("placement")
    keyed = op.key_on("key", op.input("in", flow, TestingSource(keys)), lambda k: k)
    held = op.stateful_map("hold", keyed, lambda state, k: (state, k))
    with open(out, "w") as f:
        op.inspect("where", held, lambda step, kv: (f.write(f"{kv[0]}\\n"), f.flush()))
        cluster_main(flow, addresses, proc, worker_count_per_proc=2)
    """
)


def test_siphash13_is_rusts_default_hasher():
    # Reference values of SipHash-1-3 with zero keys (Rust's `DefaultHasher::new()`).
    assert siphash13(b"") == 0xD1FBA762150C532C
    assert siphash13(bytes(range(15))) == siphash13(bytes(range(15)))  # deterministic
    assert siphash13(b"P01\xff") != siphash13(b"P02\xff")
    assert {worker_of(k, 1) for k in KEYS} == {0}


def test_every_key_is_held_by_the_process_its_placement_names(tmp_path):
    script = tmp_path / "cluster.py"
    script.write_text(CLUSTER)
    addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
    outs = [tmp_path / f"held-{proc}.txt" for proc in (0, 1)]
    procs = [
        subprocess.Popen([sys.executable, str(script), str(proc), addresses, ",".join(KEYS), str(out)])
        for proc, out in enumerate(outs)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    held = {proc: set(out.read_text().split()) for proc, out in enumerate(outs)}
    assert held[0] | held[1] == set(KEYS) and held[0] and held[1]
    for proc in (0, 1):
        placement = Placement(process_id=proc, processes=2, workers_per_process=2)
        assert {k for k in KEYS if not placement.remote(k)} == held[proc]


def test_batches_for_another_process_are_pickled_once_and_taken_packed_or_not():
    batch = [movement("A", "RECEIPT", 1, plant=plant, seq=1) for plant in ("P00", "P01", "P02", "P03")]
    items = plant_batches(batch)
    placement = Placement(process_id=0, processes=2, workers_per_process=1)
    sent = dict(pack_remote(items, placement))
    assert {k for k, v in sent.items() if isinstance(v, bytes)} == {
        k for k, _ in items if placement.remote(k)
    }
    assert 0 < sum(isinstance(v, bytes) for v in sent.values()) < len(items)  # some stay, some leave
    assert {k: unpacked(v) for k, v in sent.items()} == dict(items)
    assert dict(pack_remote(items, Placement())) == dict(items)  # one process: nothing packed
    # The plant's step takes a packed batch like the batch itself.
    logic: PlantLogic = plant_builder(FlowConfig())(None)
    packed = pickle.dumps(PlantBatch((batch[0],)))
    out, _ = logic.on_batch([packed])
    assert [v.outcome.value for v in out if hasattr(v, "outcome")] == ["applied"]


ALIGNED_CLUSTER = textwrap.dedent(
    """
    import sys
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
    from bytewax.testing import cluster_main
    from mfgsync.flows.placement import Placement, kafka_partition

    proc, addresses, keys, out = int(sys.argv[1]), sys.argv[2].split(";"), sys.argv[3].split(","), sys.argv[4]
    workers = int(sys.argv[5])
    placement = Placement(proc, len(addresses), workers, partitions=8)

    class Part(StatefulSourcePartition):
        def __init__(self, partition):
            self.items = [(k, partition, proc) for k in keys if kafka_partition(k, 8) == partition]
        def next_batch(self):
            if not self.items:
                raise StopIteration()
            batch, self.items = self.items, []
            return batch
        def snapshot(self):
            return None

    class Source(FixedPartitionedSource):
        def list_parts(self):
            return [f"t#{p}" for p in range(8) if placement.reads(p)]
        def build_part(self, step_id, for_part, resume_state):
            return Part(int(for_part.rsplit("#", 1)[1]))

    flow = Dataflow("aligned")
    keyed = op.key_on("key", op.input("in", flow, Source()), lambda item: placement.state_key(item[0]))
    held = op.stateful_map("hold", keyed, lambda state, item: (state, item))
    with open(out, "w") as f:
        row = lambda step, kv: (f.write(f"{kv[1][0]} {kv[1][1]} {kv[1][2]} {proc}\\n"), f.flush())
        op.inspect("where", held, row)
        cluster_main(flow, addresses, proc, worker_count_per_proc=workers)
    """
)


def test_kafka_partition_is_the_java_clients_default_partition():
    # Kafka's own test vectors of Utils.murmur2 (clients' UtilsTest), as signed 32-bit values.
    vectors = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536}
    vectors |= {
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    }
    vectors |= {b"abc": 479470107}
    for data, signed in vectors.items():
        assert murmur2(data) == signed & 0xFFFFFFFF
    assert kafka_partition("21", 8) == (-973932308 & 0x7FFFFFFF) % 8


def test_an_aligned_state_key_is_held_by_the_worker_that_reads_its_partition():
    keys = [*KEYS, "a~b", "a~b~0", "~", ""]
    for partitions in (1, 4, 8, 12, 64):
        aligned = {aligned_key(k, partitions) for k in keys}
        assert len(aligned) == len(keys)  # never two planning keys in one state
        for key in keys:
            state_key = aligned_key(key, partitions)
            assert state_key == aligned_key(key, partitions)
            assert state_key.split("~")[0] == key.split("~")[0]
            for workers in (w for w in (1, 2, 4, 8) if partitions % w == 0):
                assert worker_of(state_key, workers) == kafka_partition(key, partitions) % workers
    assert Placement().state_key("P01") == "P01"  # not aligned: the plant is its own state key


def test_each_process_lists_the_partitions_of_its_workers():
    for processes, per_process in ((1, 1), (2, 1), (2, 2), (4, 1), (3, 1)):
        placements = [Placement(i, processes, per_process, partitions=8) for i in range(processes)]
        readers = [[p for p in range(8) if placement.reads(p)] for placement in placements]
        assert sorted(p for read in readers for p in read) == list(range(8))  # each one exactly once
        for i, read in enumerate(readers):
            assert all((p % (processes * per_process)) // per_process == i for p in read)
    assert all(Placement(1, 2).reads(p) for p in range(8))  # not aligned: every partition listed


def test_records_partitioned_by_their_planning_key_never_leave_the_process_that_reads_them(tmp_path):
    script = tmp_path / "aligned.py"
    script.write_text(ALIGNED_CLUSTER)
    for workers in (1, 2):
        addresses = ";".join(f"127.0.0.1:{port}" for port in free_ports(2))
        outs = [tmp_path / f"aligned-{workers}-{proc}.txt" for proc in (0, 1)]
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(proc), addresses, ",".join(KEYS), str(out), str(workers)]
            )
            for proc, out in enumerate(outs)
        ]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
        rows = [line.split() for out in outs for line in out.read_text().splitlines()]
        assert sorted(key for key, *_ in rows) == sorted(KEYS)  # every key read once
        assert {reader for _, _, reader, _ in rows} == {"0", "1"}  # both processes read
        assert [row for row in rows if row[2] != row[3]] == []  # read and held by one process
