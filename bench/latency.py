"""Latency: produce-to-signal with the service running in tail mode, at fixed event rates.

Setup, under a fresh topic prefix: `K` item@plant keys, each with `ItemPlanningParams`
(BUY, lead time 5 days, safety stock 0); 20% of them also with an open demand of 1,000,000
due in 3 days, so they stay short whatever arrives. The service (`python -m mfgsync.flows.cli run`,
one worker, tail mode, metrics port 0, planning date = processing date) starts, plans the
seed, and then a producer sends `InventoryMovement` RECEIPTs at a fixed rate (after a short
warm-up) for each rate in turn, each event's `event_time` stamped with its send time.

Matching outputs to causes. Availability records carry no cause ids, and shortage signals
carry their requirements' causes (the demand), not movements, so ids cannot be matched.
Instead every movement is a RECEIPT with a positive integer quantity (1-9), so per key the
cumulative received quantity U_j after movement j is strictly increasing, exact in floating
point, and known to the producer. The service applies a key's movements in order (one
partition per key, per-key sequencing), so:
- an `AvailabilityRecord` of item@plant with `unrestricted = U` reflects exactly the movements
  j with U_j <= U; the first such record is the first output reflecting movement j;
- for a short key, the `ShortageSignal` quantity is `1,000,000 - available`, so a signal with
  quantity Q reflects the movements with U_j <= 1,000,000 - Q.
Several movements of a key folded into one planning batch give one record; each of them is
matched to it (that is when their effect became visible). Latency = the output record's Kafka
timestamp (set by the service's producer when it emitted it) - the send time; also reported to
a consumer receiving it here (`recv`). Movements never matched within the drain time are
counted as unmatched.

Run alone: `python -m bench.latency --bootstrap ... --registry ... [--rates 1000,5000 --seconds 20]`.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bench.common import ROOT, emit_result, percentile, service_env, stop_group
from bench.data import create_topics
from mfgsync.flows.placement import record_key
from mfgsync.schemas.vocabulary import is_live

DEMAND = 1_000_000.0
SHORT_SHARE = 0.2


@dataclass
class Sent:
    phase: str
    cumulative: float
    at: float


@dataclass
class KeyTrack:
    plant: str
    item: str
    short: bool
    seq: int = 0
    total: float = 0.0
    sent: list[Sent] = field(default_factory=list)


class Collector(threading.Thread):
    """Reads the availability and shortage topics from the beginning, timestamping arrivals."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        super().__init__(daemon=True)
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-latency-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": "false",
                "fetch.wait.max.ms": "5",
                "fetch.min.bytes": "1",
            }
        )
        meta = self.consumer.list_topics(timeout=30).topics
        self.consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in sorted(meta[t].partitions)]
        )
        self.records: list[tuple[str, bytes, bytes, float, float]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopping.is_set():
            batch = self.consumer.consume(1000, 0.05)
            now = time.time()
            got = [
                (m.topic(), m.key(), m.value(), m.timestamp()[1] / 1000.0, now)
                for m in batch
                if m.error() is None
            ]
            if got:
                with self.lock:
                    self.records.extend(got)
        self.consumer.close()

    def count(self, topic: str) -> int:
        with self.lock:
            return sum(1 for r in self.records if r[0] == topic)

    def snapshot(self) -> list[tuple[str, bytes, bytes, float, float]]:
        with self.lock:
            return list(self.records)


def _start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("w")
    return subprocess.Popen(
        [sys.executable, "-m", "mfgsync.flows.cli", "run", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )


def run(
    bootstrap: str,
    registry: str,
    rates: list[int],
    seconds: float,
    keys: int,
    plants: int,
    warmup_s: float,
    drain_s: float,
    log: Path,
) -> dict[str, Any]:
    from mfgsync.connectors.avro_codec import AvroCodec, registry_client
    from mfgsync.connectors.serde import Serde
    from mfgsync.flows.settings import Settings
    from mfgsync.schemas.avro import SchemaSet
    from mfgsync.schemas.events import DemandChanged, InventoryMovement, ItemPlanningParams
    from mfgsync.schemas.outputs import AvailabilityRecord, ShortageSignal

    prefix = f"lat{uuid.uuid4().hex[:6]}."
    create_topics(bootstrap, registry, prefix)
    settings = Settings(kafka_bootstrap=bootstrap, schema_registry_url=registry, topic_prefix=prefix)
    serde = Serde(settings)
    rng = random.Random(7)
    today = datetime.now(UTC).date()
    tracks: dict[str, KeyTrack] = {}
    per_plant = max(1, keys // plants)
    for p in range(plants):
        for i in range(per_plant):
            plant, item = f"L{p + 1:02d}", f"LAT{i:05d}"
            tracks[f"{plant}|{item}"] = KeyTrack(plant, item, short=rng.random() < SHORT_SHARE)

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": "1", "enable.idempotence": "true"})

    def send(event: Any) -> None:
        topic = settings.topic(event.TOPIC)
        value = serde.encode(topic, event)
        while True:
            try:
                producer.produce(topic, value, record_key(event))
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)

    # Seed: planning parameters for every key, a big open demand for the short ones.
    now = datetime.now(UTC)
    for n, track in enumerate(tracks.values()):
        base = {"source_seq": 1, "event_time": now, "plant": track.plant}
        send(
            ItemPlanningParams(
                event_id=f"lat-params-{n}", source="ERP", item=track.item, make_or_buy="BUY",
                lead_time_days=5, safety_stock=0.0, **base,
            )
        )  # fmt: skip
        if track.short:
            send(
                DemandChanged(
                    event_id=f"lat-demand-{n}", source="ERP", demand_id=f"LD{n:06d}", item=track.item,
                    qty=DEMAND, due_date=today + timedelta(days=3), status="OPEN", **base,
                )
            )  # fmt: skip
    producer.flush(30)

    availability_topic = settings.topic(AvailabilityRecord.TOPIC)
    shortage_topic = settings.topic(ShortageSignal.TOPIC)
    collector = Collector(bootstrap, [availability_topic, shortage_topic])
    collector.start()
    env = service_env(bootstrap, registry, prefix, today=None)
    service = _start_service(env, log)
    result: dict[str, Any] = {"keys": len(tracks), "short_keys": sum(t.short for t in tracks.values())}
    try:
        deadline = time.time() + 180
        while collector.count(availability_topic) < len(tracks):
            if service.poll() is not None:
                raise RuntimeError(f"service exited {service.returncode}: {log.read_text()[-2000:]}")
            if time.time() > deadline:
                raise TimeoutError("the service did not plan the seed within 180 s")
            time.sleep(0.2)
        result["ready_after_s"] = round(180 - (deadline - time.time()), 1)

        order = list(tracks.values())
        event_no = 0
        decoder = Decoder(
            AvroCodec(registry_client(registry), SchemaSet.load()), availability_topic, shortage_topic
        )

        def phase(name: str, rate: int, duration: float) -> dict[str, Any]:
            nonlocal event_no
            total = int(rate * duration)
            start = time.perf_counter()
            wall_start = time.time()
            i = 0
            while i < total:
                due = start + i / rate
                now_p = time.perf_counter()
                if due > now_p:
                    time.sleep(min(due - now_p, 0.002))
                    continue
                track = rng.choice(order)
                qty = float(rng.randint(1, 9))
                track.seq += 1
                track.total += qty
                event_no += 1
                sent_at = time.time()
                send(
                    InventoryMovement(
                        event_id=f"lat-mv-{event_no}", source="WMS", source_seq=track.seq,
                        event_time=datetime.fromtimestamp(sent_at, UTC), plant=track.plant,
                        item=track.item, movement_type="RECEIPT", qty=qty,
                    )
                )  # fmt: skip
                track.sent.append(Sent(name, track.total, sent_at))
                i += 1
            producer.flush(30)
            achieved = total / (time.time() - wall_start)
            return {"target_rate": rate, "sent": total, "achieved_rate": round(achieved, 1)}

        phases: dict[str, dict[str, Any]] = {}
        if warmup_s > 0:
            phase("warmup", min(rates), warmup_s)
            time.sleep(min(drain_s, 3))
        for rate in rates:
            name = f"{rate}/s"
            phases[name] = phase(name, rate, seconds)
            # Drain: wait until every movement of this phase has its availability record.
            wanted = sum(1 for t in tracks.values() for s in t.sent if s.phase == name)
            until = time.time() + drain_s
            while time.time() < until:
                matched = _match(decoder.update(collector.snapshot()), tracks)
                if matched["availability"].get(name, {}).get("matched", 0) >= wanted:
                    break
                time.sleep(1.0)
        final = _match(decoder.update(collector.snapshot()), tracks)
        for name, info in phases.items():
            info["availability"] = final["availability"].get(name, {})
            info["shortage"] = final["shortage"].get(name, {})
        result["phases"] = phases
        result["service_alive"] = service.poll() is None
    finally:
        stop_group(service, (20, 10, 10))
        collector.stopping.set()
        collector.join(10)
    return result


class Decoder:
    """Decodes collected records once each, into (kind, key, reflected cumulative, created, received)."""

    def __init__(self, codec: Any, availability_topic: str, shortage_topic: str) -> None:
        self.codec = codec
        self.availability_topic = availability_topic
        self.shortage_topic = shortage_topic
        self.done = 0
        self.decoded: list[tuple[str, str, float, float, float]] = []

    def update(
        self, records: list[tuple[str, bytes, bytes, float, float]]
    ) -> list[tuple[str, str, float, float, float]]:
        for topic, key, value, created, received in records[self.done :]:
            rid = key.decode() if key else ""
            if topic == self.availability_topic:
                reflected = self.codec.decode(value, "AvailabilityRecord")["unrestricted"]
                self.decoded.append(("availability", rid, reflected, created, received))
            elif topic == self.shortage_topic:
                data = self.codec.decode(value, "ShortageSignal")
                if is_live(data["state"]):
                    self.decoded.append(("shortage", rid, DEMAND - data["shortage_qty"], created, received))
        self.done = len(records)
        return self.decoded


def _match(
    records: list[tuple[str, str, float, float, float]], tracks: dict[str, KeyTrack]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Match each sent movement to the first availability (and shortage) record reflecting it."""
    pointers: dict[str, dict[str, int]] = {"availability": defaultdict(int), "shortage": defaultdict(int)}
    lat: dict[str, dict[str, list[tuple[float, float]]]] = {
        "availability": defaultdict(list),
        "shortage": defaultdict(list),
    }
    for kind, rid, reflected, created, received in records:
        track = tracks.get(rid)
        if track is None or (kind == "shortage" and not track.short):
            continue
        ptr = pointers[kind]
        while ptr[rid] < len(track.sent) and track.sent[ptr[rid]].cumulative <= reflected + 1e-6:
            sent = track.sent[ptr[rid]]
            lat[kind][sent.phase].append((created - sent.at, received - sent.at))
            ptr[rid] += 1
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, by_phase in lat.items():
        out[kind] = {}
        for phase_name, pairs in by_phase.items():
            sent_total = sum(
                1
                for t in tracks.values()
                for s in t.sent
                if s.phase == phase_name and (kind == "availability" or t.short)
            )
            created = sorted(p[0] * 1000 for p in pairs)
            received = sorted(p[1] * 1000 for p in pairs)
            out[kind][phase_name] = {
                "matched": len(pairs),
                "unmatched": sent_total - len(pairs),
                "p50_ms": _r(percentile(created, 0.5)),
                "p99_ms": _r(percentile(created, 0.99)),
                "max_ms": _r(created[-1] if created else None),
                "recv_p50_ms": _r(percentile(received, 0.5)),
                "recv_p99_ms": _r(percentile(received, 0.99)),
            }
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--rates", default="1000,5000")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--plants", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--drain", type=float, default=30)
    parser.add_argument("--log", type=Path, default=Path("latency-service.log"))
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",") if r]
    emit_result(
        run(
            args.bootstrap,
            args.registry,
            rates,
            args.seconds,
            args.keys,
            args.plants,
            args.warmup,
            args.drain,
            args.log,
        )
    )


if __name__ == "__main__":
    main()
