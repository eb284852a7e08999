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
from mfgsync.flows.placement import Placement, siphash13, worker_of
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
