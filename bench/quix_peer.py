"""Peer: the same ingest job in Quix Streams, run in its own virtualenv (`bench/.venv-quix`).

Quix Streams pins `confluent-kafka<2.13`, so it cannot share mfgsync's environment;
`bench.run` creates the venv (`python -m venv bench/.venv-quix`, `pip install quixstreams`
plus the main environment's pydantic and fastavro versions) and runs this module with it.

The job, over the same Avro input topics (all nine, concatenated; they are co-partitioned:
same keys, 4 partitions, each plant's records in one partition number of every topic):
1. decode exactly as mfgsync does: the project's own `AvroCodec.decode` (Confluent framing,
   writer schema from the registry by id, resolved to the package's reader schema) and the
   pydantic model's `model_validate` (the same code `mfgsync.connectors.serde.Serde.decode_event` runs);
2. dedup by `event_id` per message key (one state key per id; no horizon eviction);
3. per-key sequencing by `source_seq` per topic (next/baseline applied, gaps buffered and
   drained, behind: state events superseded, delta events applied late);
4. inventory position per item@plant (the project's `movement_deltas` table) and a shortage
   threshold per item@plant: the `safety_stock` of the key's `ItemPlanningParams`;
5. output, Avro-encoded with the same `AvroCodec.encode`: an `AvailabilityRecord` per applied
   movement to `signals.availability`, a `ShortageSignal` (RAISED / UPDATED / RESOLVED) when
   the item is below its threshold to `signals.shortages`.
It does no BOM explosion or MRP netting: planning events stop after step 3. So the peer does
strictly less work per event than mfgsync.

Quix settings: `use_changelog_topics=False` (mfgsync runs without recovery here too), state
in RocksDB in a temporary directory, at-least-once, default consumer settings (mfgsync's
source uses librdkafka defaults too). Throughput: from the first record deserialized to the
return of `Application.run` (final commit and producer flush included), stopped after the
N-th input record was processed.

Run: `bench/.venv-quix/bin/python -m bench.quix_peer --bootstrap ... --registry ... \
--input-prefix P --output-prefix Q --expected N`.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import uuid
from datetime import date
from typing import Any

from quixstreams import Application, State
from quixstreams.models.serializers import Deserializer, Serializer

from bench.common import ROOT, emit_result

sys.path.insert(0, str(ROOT))

from mfgsync.connectors.avro_codec import AvroCodec, DecodeError, registry_client
from mfgsync.operators.inventory import movement_deltas
from mfgsync.operators.netting import EPS
from mfgsync.schemas.avro import SchemaSet
from mfgsync.schemas.events import TOPIC_TYPES, Event, InventoryMovement, ItemPlanningParams
from mfgsync.schemas.outputs import AvailabilityRecord, OutputRecord, ShortageSignal


class Clock:
    first: float | None = None
    processed = 0


class EventDeserializer(Deserializer):
    """Framed Avro -> validated event, as `Serde.decode_event` does (errors become None)."""

    def __init__(self, codec: AvroCodec, cls: type[Event], clock: type[Clock]) -> None:
        super().__init__()
        self.codec = codec
        self.cls = cls
        self.name = cls.__name__
        self.clock = clock

    def __call__(self, value: bytes, ctx: Any) -> Event | None:
        if self.clock.first is None:
            self.clock.first = time.perf_counter()
        try:
            return self.cls.model_validate(self.codec.decode(value, self.name))
        except (DecodeError, ValueError):
            return None


class RecordSerializer(Serializer):
    """Output record -> framed Avro, with the same `AvroCodec.encode` as mfgsync's sink."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec

    def __call__(self, value: OutputRecord, ctx: Any) -> bytes:
        return self.codec.encode(ctx.topic, value)


def build(args: argparse.Namespace, state_dir: str, clock: type[Clock]) -> Application:
    codec = AvroCodec(registry_client(args.registry), SchemaSet.load())
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        use_changelog_topics=False,
        state_dir=state_dir,
        loglevel="WARNING",
        auto_create_topics=True,
    )
    today = date.fromisoformat(args.today)
    out_topics = {
        cls.TOPIC: app.topic(
            args.output_prefix + cls.TOPIC, key_serializer="str", value_serializer=RecordSerializer(codec)
        )
        for cls in (AvailabilityRecord, ShortageSignal)
    }
    frames = [
        app.dataframe(
            app.topic(
                args.input_prefix + canonical,
                key_deserializer="bytes",
                value_deserializer=EventDeserializer(codec, cls, clock),
            )
        )
        for canonical, cls in sorted(TOPIC_TYPES.items())
    ]
    expected = args.expected
    thresholds = static_thresholds(args) if args.mode == "split" else None

    def guard(event: Event | None, state: State) -> list[Event]:
        clock.processed += 1
        if clock.processed >= expected:
            app.stop()
        if event is None:
            return []
        id_key = "id:" + event.event_id
        if state.exists(id_key):
            return []  # duplicate
        state.set(id_key, 1)
        topic = event.TOPIC
        seq_key = "seq:" + topic
        last = state.get(seq_key)
        seq = event.source_seq
        buf_key = "buf:" + topic
        if last is None or seq == last + 1:
            state.set(seq_key, seq)
            released = [event]
            buffered = state.get(buf_key)
            if buffered:
                nxt = seq + 1
                while str(nxt) in buffered:
                    released.append(type(event).model_validate_json(buffered.pop(str(nxt))))
                    state.set(seq_key, nxt)
                    nxt += 1
                state.set(buf_key, buffered)
            return released
        if seq > last + 1:
            buffered = state.get(buf_key) or {}
            buffered[str(seq)] = event.model_dump_json()
            state.set(buf_key, buffered)
            return []
        return [] if event.KIND == "state" else [event]  # superseded / applied late

    def inventory(event: Event, state: State) -> list[OutputRecord]:
        if isinstance(event, ItemPlanningParams):
            if thresholds is None:
                state.set("ss", event.safety_stock)
            return []
        if not isinstance(event, InventoryMovement):
            return []  # planning facts: the peer does no MRP
        pos = state.get("pos") or [0.0, 0.0, 0.0, 0.0]
        deltas = movement_deltas(event)
        pos = [pos[i] + deltas[i] for i in range(4)]
        state.set("pos", pos)
        if thresholds is None:
            ss = state.get("ss", 0.0)
        else:
            ss = thresholds.get(f"{event.plant}|{event.item}", 0.0)
        available = pos[0] - pos[2]
        rid = f"{event.plant}|{event.item}"
        short = available < ss - EPS
        out: list[OutputRecord] = [
            AvailabilityRecord(
                availability_id=rid,
                plant=event.plant,
                item=event.item,
                unrestricted=pos[0],
                quality_hold=pos[1],
                allocated=pos[2],
                in_transit=pos[3],
                available=available,
                safety_stock=ss,
                projected_balance_min=available,
                projected_balance_end=available,
                first_shortage_date=today if short else None,
            )
        ]
        was = state.get("short")
        qty = round(ss - available, 9) if short else 0.0
        if short or was is not None:
            if not short:
                signal_state = "RESOLVED"
                state.delete("short")
            elif was is None:
                signal_state = "RAISED"
            elif was != qty:
                signal_state = "UPDATED"
            else:
                return out
            if short:
                state.set("short", qty)
            out.append(
                ShortageSignal(
                    signal_id=rid,
                    state=signal_state,
                    plant=event.plant,
                    item=event.item,
                    shortage_date=today,
                    shortage_qty=qty if short else round(max(0.0, ss - available), 9),
                    severity="CRITICAL",
                    cause_event_ids=(event.event_id,),
                )
            )
        return out

    def wire(sdf: Any) -> None:
        released = sdf.apply(guard, stateful=True, expand=True)
        records = released.apply(inventory, stateful=True, expand=True)
        records.to_topic(
            lambda value, key, ts, headers: out_topics[value.TOPIC], key=lambda v: v.record_key()
        )

    if args.mode == "concat":
        sdf = frames[0]
        for other in frames[1:]:
            sdf = sdf.concat(other)
        wire(sdf)
    else:
        for sdf in frames:
            wire(sdf)
    return app


def static_thresholds(args: argparse.Namespace) -> dict[str, float]:
    """`split` mode: the thresholds the data's `ItemPlanningParams` carry, known up front."""
    from bench.data import Generator, Spec

    spec = Spec(events=args.events_spec, keys=args.keys)
    return {
        f"{e.plant}|{e.item}": e.safety_stock
        for e in Generator(spec).master_data()
        if isinstance(e, ItemPlanningParams)
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--input-prefix", required=True)
    parser.add_argument("--output-prefix", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--today", default="2026-03-02")
    parser.add_argument(
        "--mode",
        choices=("concat", "split"),
        default="concat",
        help="concat: all topics in one dataframe, thresholds joined from ItemPlanningParams state "
        "(Quix aligns the topics by timestamp); split: one dataframe per topic, thresholds known up front",
    )
    parser.add_argument("--keys", type=int, default=10_000, help="split mode: the data's key count")
    parser.add_argument("--events-spec", type=int, default=1_000_000, help="split mode: the data's size")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    state_dir = tempfile.mkdtemp(prefix="bench-quix-state-")
    try:
        app = build(args, state_dir, Clock)
        app.run()
        end = time.perf_counter()
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    import quixstreams

    elapsed = end - Clock.first if Clock.first is not None else 0.0
    emit_result(
        {
            "messages": Clock.processed,
            "expected": args.expected,
            "seconds": round(elapsed, 3),
            "msg_per_s": round(Clock.processed / elapsed, 1) if elapsed > 0 else None,
            "mode": args.mode,
            "quixstreams": quixstreams.__version__,
            "confluent_kafka": __import__("confluent_kafka").__version__,
        }
    )


if __name__ == "__main__":
    main()
