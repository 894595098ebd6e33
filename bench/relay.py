"""Relay benchmark (issue 4): throughput from a pre-filled store, and command-to-readable latency.

Needs the services (`scripts/services up`). Everything runs on PostgreSQL in a
fresh database, against fresh topics, and is dropped afterwards.

  throughput  100,000 events pre-filled into the event store, then
              `Relay.run(once=True)` publishes them (wall time of the whole run,
              start-up included). In the same run a bare aiokafka producer loop
              sends the very same messages, pre-encoded, with the same producer
              settings: the ceiling for this client on this machine.
  latency     `orders relay run` (a separate process) follows the store while
              commands arrive at 200/s for 20 s; a consumer (another process)
              notes when each event becomes readable. Latency = readable time
              minus the moment the command returned (its commit had happened).

    .venv/bin/python bench/relay.py [--events 100000] [--rate 200] [--seconds 20] [--skip-latency]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from common import (  # noqa: E402
    delete_topics,
    drop_database,
    fresh_database,
    paced,
    services_env,
    wait_for_new_topic,
    wait_for_topic,
)

from adapters.config import Settings  # noqa: E402
from adapters.eventstore.log import StoredLog  # noqa: E402
from adapters.eventstore.wiring import open_orders  # noqa: E402
from adapters.kafka.partitioner import KeyPartitioner  # noqa: E402
from adapters.relay.messages import encoder_for, messages_of  # noqa: E402
from adapters.relay.positions import open_checkpoints  # noqa: E402
from adapters.relay.publisher import Relay, RelayTuning  # noqa: E402
from domain.order import Order  # noqa: E402

ADDRESS = {"name": "Ada", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


# ---------------------------------------------------------------- pre-fill


def a_lifecycle(rng: random.Random) -> Order:
    """One order with 7 events (placed ... delivered), built through the aggregate's rules."""
    order = Order.place(f"customer-{rng.randrange(5000):04d}", [("BOOK-1", rng.randint(1, 3), "12.90")], "EUR", "web")
    order.add_line("MUG-2", 1, "4.50")
    order.set_shipping_address(ADDRESS)
    order.confirm()
    order.record_payment(f"pay-{order.id}", order.total, "EUR")
    order.ship("DHL", f"T{rng.randrange(10**9)}")
    order.mark_delivered()
    return order


def prefill(settings: Settings, events: int) -> int:
    orders = open_orders(settings)
    rng = random.Random(1)
    started = time.perf_counter()
    written = 0
    while written < events:
        batch = [a_lifecycle(rng) for _ in range(200)]
        # trim the last batch to the exact event count
        pending = []
        for order in batch:
            if written >= events:
                break
            take = min(len(order.pending_events), events - written)
            del order._pending_events[take:]  # noqa: SLF001 - a bench shortcut: a shorter history
            pending.append(order)
            written += take
        orders.save(*pending)
    newest = orders.recorder.max_notification_id()
    orders.close()
    print(f"pre-filled {written} events in {time.perf_counter() - started:.1f}s (newest notification {newest})")
    return written


# -------------------------------------------------------------- throughput


def relay_throughput(settings: Settings, tuning: RelayTuning) -> tuple[float, int]:
    orders = open_orders(settings)
    try:
        relay = Relay(settings, orders, open_checkpoints(settings), tuning=tuning)
        started = time.perf_counter()
        report = asyncio.run(relay.run(once=True))
        elapsed = time.perf_counter() - started
    finally:
        orders.close()
    return report.published / elapsed, report.published


def bare_throughput(settings: Settings, tuning: RelayTuning, topic: str) -> tuple[float, float, int]:
    orders = open_orders(settings)
    messages = messages_of(StoredLog(orders).read(0, 10**7, inclusive=False), encoder_for(orders))
    orders.close()

    async def send_all(batched: bool, topic: str) -> float:
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all",
            linger_ms=tuning.linger_ms, max_batch_size=tuning.max_batch_size,
        )
        await producer.start()
        try:
            partitions = await wait_for_topic(producer, topic)  # created a moment ago: not timed
            started = time.perf_counter()
            if not batched:  # the plain aiokafka loop: one send() per message
                futures = [await producer.send(topic, m.value, key=m.key, headers=m.headers) for m in messages]
            else:  # record batches built by hand, as the relay does
                partitioner = KeyPartitioner(partitions)
                builders, futures = {}, []
                for m in messages:
                    p = partitioner(m.key)
                    b = builders.get(p)
                    if b is None or b.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
                        if b is not None:
                            futures.append(await producer.send_batch(b, topic, partition=p))
                        b = builders[p] = producer.create_batch()
                        b.append(timestamp=None, key=m.key, value=m.value, headers=m.headers)
                for p, b in builders.items():
                    futures.append(await producer.send_batch(b, topic, partition=p))
            await asyncio.gather(*futures)
            return time.perf_counter() - started
        finally:
            await producer.stop()

    from adapters.kafka.topics import ensure_topic

    rates = []
    for batched, name in ((False, topic), (True, topic + ".batched")):
        asyncio.run(ensure_topic(settings.kafka_bootstrap, name, settings.topic_partitions))
        rates.append(len(messages) / asyncio.run(send_all(batched, name)))
    return rates[0], rates[1], len(messages)


# ----------------------------------------------------------------- latency


def consume(bootstrap: str, topic: str, expected: int, ready, out_path: str, timeout: float) -> None:
    async def run() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
            fetch_max_wait_ms=100, auto_offset_reset="earliest",
        )
        await consumer.start()
        seen = {}
        try:
            # Created by the relay process: this client's metadata does not track it yet.
            tps = [TopicPartition(topic, p) for p in await wait_for_topic(consumer, topic, timeout=60)]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, 0)
            await consumer.getmany(timeout_ms=200)
            ready.set()
            deadline = time.monotonic() + timeout
            while len(seen) < expected and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                now = time.time()
                for records in batches.values():
                    for r in records:
                        body = json.loads(r.value)
                        seen.setdefault(f"{body['aggregate_id']}:{body['aggregate_version']}", now)
        finally:
            await consumer.stop()
        Path(out_path).write_text(json.dumps(seen))

    asyncio.run(run())


def latency(settings: Settings, rate: float, seconds: float, workdir: Path) -> dict[str, float]:
    orders = open_orders(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env.update(
        ORDERS_EVENT_STORE_URL=settings.event_store_url, ORDERS_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        ORDERS_TOPIC=settings.topic,
    )
    log = open(workdir / "relay-latency.log", "wb")  # noqa: SIM115
    relay = subprocess.Popen([str(ROOT / ".venv" / "bin" / "orders"), "relay", "run"], env=env, stderr=log, cwd=ROOT)
    out_path = workdir / "consumed.json"
    expected = int(rate * seconds)
    try:
        # The relay creates its checkpoint table, then the topic. `relay status`
        # (below) creates that table too if absent, and two first CREATE TABLE
        # IF NOT EXISTS at once can fail in PostgreSQL (UniqueViolation on pg_type,
        # which ended the relay process at its start in a run here):
        # so the topic first. The consumer needs it anyway.
        try:
            wait_for_new_topic(settings.kafka_bootstrap, settings.topic, timeout=60, creator=relay)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; the relay's log: {log.name}") from None
        while True:  # wait until the relay published the backlog (a fresh store has none)
            status = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "orders"), "relay", "status", "--json"],
                env=env, capture_output=True, text=True, cwd=ROOT,
            )
            if json.loads(status.stdout)["lag"] == 0:
                break
            time.sleep(0.2)
        ready = multiprocessing.Event()
        consumer = multiprocessing.Process(
            target=consume,
            args=(settings.kafka_bootstrap, settings.topic, expected, ready, str(out_path), seconds + 60),
        )
        consumer.start()
        if not ready.wait(60):
            raise RuntimeError(f"the consumer of {settings.topic} was not ready within 60 s")
        committed: dict[str, float] = {}
        threads = 4  # one thread cannot issue 200 PostgreSQL commands/s here
        started = time.perf_counter()

        def issue(worker: int) -> None:
            rng = random.Random(worker)
            live: list = []
            for i in paced(started, rate, seconds, threads, worker):
                if not live or rng.random() < 0.4:
                    order_id = orders.place_order(f"customer-{worker}-{i % 100}", [("BOOK-1", 1, "9.90")])
                    live.append([order_id, 1])
                    key = f"{order_id}:1"
                else:
                    entry = rng.choice(live)
                    orders.add_line(entry[0], f"SKU-{entry[1]}", 1, Decimal("1.00"))
                    entry[1] += 1
                    key = f"{entry[0]}:{entry[1]}"
                committed[key] = time.time()

        workers = [threading.Thread(target=issue, args=(w,)) for w in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        achieved = len(committed) / (time.perf_counter() - started)
        consumer.join(seconds + 90)
    finally:
        relay.send_signal(signal.SIGTERM)
        relay.wait(60)
        orders.close()
    seen = json.loads(out_path.read_text())
    missing = [k for k in committed if k not in seen]
    samples = sorted((seen[k] - t) * 1000 for k, t in committed.items() if k in seen)
    return {
        "commands": len(committed),
        "achieved_rate": round(achieved, 1),
        "missing": len(missing),
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[int(0.99 * (len(samples) - 1))],
        "max_ms": samples[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    env = services_env()
    admin_url = env.get("ORDERS_TEST_PG_URL") or "postgresql://orderstream:orderstream@127.0.0.1:5432/orderstream_test"
    bootstrap = env.get("ORDERS_TEST_KAFKA_BOOTSTRAP") or "127.0.0.1:9092"
    tuning = RelayTuning()
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    topics: list[str] = []
    results: dict[str, object] = {"tuning": {k: v for k, v in vars(tuning).items() if k != "backoff"}}
    try:
        if not args.skip_throughput:
            url = fresh_database(admin_url)
            try:
                topic = f"bench.relay.{uuid.uuid4().hex[:8]}"
                bare_topic = f"bench.bare.{uuid.uuid4().hex[:8]}"
                topics += [topic, bare_topic]
                settings = Settings(event_store_url=url, kafka_bootstrap=bootstrap, topic=topic)
                prefill(settings, args.events)
                topics.append(bare_topic + ".batched")
                relay_rate, published = relay_throughput(settings, tuning)
                print(f"relay: {published} events, {relay_rate:,.0f} events/s", flush=True)
                bare_rate, batched_rate, sent = bare_throughput(settings, tuning, bare_topic)
                results["throughput"] = {
                    "events": published, "relay_events_per_s": round(relay_rate),
                    "bare_send_loop_per_s": round(bare_rate), "ratio": round(relay_rate / bare_rate, 2),
                    "bare_batch_loop_per_s": round(batched_rate),
                }
                print(f"bare producer, send() per message: {sent} messages, {bare_rate:,.0f} messages/s")
                print(f"bare producer, hand-built record batches: {batched_rate:,.0f} messages/s")
                print(f"relay / bare send() loop = {relay_rate / bare_rate:.2f}")
            finally:
                drop_database(admin_url, url)
        if not args.skip_latency:
            url = fresh_database(admin_url)
            try:
                topic = f"bench.latency.{uuid.uuid4().hex[:8]}"
                topics.append(topic)
                settings = Settings(event_store_url=url, kafka_bootstrap=bootstrap, topic=topic)
                figures = latency(settings, args.rate, args.seconds, workdir)
                results["latency"] = figures
                print(
                    f"latency at {args.rate:.0f} commands/s for {args.seconds:.0f}s: "
                    f"p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
                    f"max {figures['max_ms']:.1f} ms, missing {figures['missing']} of {figures['commands']} "
                    f"(achieved {figures['achieved_rate']} commands/s)"
                )
            finally:
                drop_database(admin_url, url)
    finally:
        if topics:
            asyncio.run(delete_topics(bootstrap, topics))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
