"""Helpers shared by the benchmark scripts: services, scratch databases and topics, histories.

Nothing here connects at import time. Histories are built through the
``Order`` aggregate's own commands (its rules hold), in memory, without the
domain API: a benchmark that needs a million events cannot afford a database
round trip per command.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient  # noqa: E402
from psycopg import sql  # noqa: E402

from domain.order import Order  # noqa: E402

ADDRESS = {"name": "Ada", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}
SKUS = [(f"SKU-{i:03d}", f"{random.Random(i).randint(100, 9999) / 100:.2f}") for i in range(200)]


# ---------------------------------------------------------------- services


def migrate(settings: Any) -> None:
    """``orders db upgrade`` on the read-model database of ``settings``."""
    from adapters.bootstrap import open_system
    from adapters.sql.migrations import upgrade

    with open_system(settings) as system:
        upgrade(system.read_models, settings)


def services_env() -> dict[str, str]:
    """var/services.env (written by scripts/services), overridden by ORDERS_TEST_* variables."""
    values = {}
    path = ROOT / "var" / "services.env"
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.startswith("#"):
                k, _, v = line.partition("=")
                values[k.strip()] = v.strip()
    return {**values, **{k: v for k, v in os.environ.items() if k.startswith("ORDERS_TEST_")}}


def pg_admin_url() -> str:
    return services_env().get("ORDERS_TEST_PG_URL") or "postgresql://orderstream:orderstream@127.0.0.1:5432/orderstream_test"


def kafka_bootstrap() -> str:
    return services_env().get("ORDERS_TEST_KAFKA_BOOTSTRAP") or "127.0.0.1:9092"


def fresh_database(admin_url: str, prefix: str = "orderstream_bench") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(admin_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def drop_database(admin_url: str, url: str, patience: float = 120.0) -> None:
    """Drop the bench's database; wait while autovacuum works on it.

    FORCE ends the bench's own connections, but not an autovacuum worker (it
    runs as the superuser): after a bulk load one is often busy there, and
    the drop is refused until it finishes.
    """
    name = urlsplit(url).path.strip("/")
    deadline = time.monotonic() + patience
    with psycopg.connect(admin_url, autocommit=True) as conn:
        while True:
            try:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                return
            except psycopg.errors.InsufficientPrivilege:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)


async def delete_topics(bootstrap: str, topics: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(topics)
    finally:
        await admin.close()


async def topic_end_offsets(bootstrap: str, topic: str) -> dict[int, int] | None:
    """Per partition, the end offset of ``topic``; None if it does not exist."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - aiokafka has no public refresh
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return None
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in sorted(parts)])
        return {tp.partition: int(o) for tp, o in ends.items()}
    finally:
        await consumer.stop()


def topic_size(bootstrap: str, topic: str) -> int | None:
    ends = asyncio.run(topic_end_offsets(bootstrap, topic))
    return None if ends is None else sum(ends.values())


class _NotFoundYet(logging.Filter):
    """Drops aiokafka's "Topic <topic> not found in cluster metadata" while that is expected."""

    def __init__(self, topic: str) -> None:
        super().__init__()
        self.topic = topic

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.msg == "Topic %s not found in cluster metadata" and record.args == (self.topic,))


async def wait_for_topic(
    kafka: AIOKafkaConsumer | AIOKafkaProducer,
    topic: str,
    timeout: float = 60.0,
    creator: subprocess.Popen | None = None,
) -> list[int]:
    """The partitions of ``topic``, once ``kafka``'s own metadata has a leader for every one.

    Call it between creating a topic (or starting the process that creates
    it) and a started consumer or producer using it. An aiokafka client's
    cluster view holds only the topics it tracks (tracking none, whatever its
    last full fetch saw), so a topic created after it started is "not found in
    cluster metadata" until the client tracks it and refreshes: this tracks it
    and refreshes until its partitions and their leaders are in the view, as
    ``ensure_topic`` waits for leaders on the broker's side. aiokafka's error
    line for the topic is expected meanwhile and not printed; after
    ``timeout`` seconds, or as soon as ``creator`` (the process that is to
    create the topic) has exited, it is a RuntimeError naming the topic.
    """
    # A producer's client is public, a consumer's is not (and neither has a public refresh).
    client = kafka.client if isinstance(kafka, AIOKafkaProducer) else kafka._client  # noqa: SLF001
    quiet = _NotFoundYet(topic)
    cluster_log = logging.getLogger("aiokafka.cluster")
    cluster_log.addFilter(quiet)
    try:
        deadline = time.monotonic() + timeout
        await client.add_topic(topic)  # tracked from now on; refreshes unless it already was
        while True:
            partitions = client.cluster.partitions_for_topic(topic)
            if partitions and client.cluster.available_partitions_for_topic(topic) == partitions:
                return sorted(partitions)
            if creator is not None and creator.poll() is not None:
                raise RuntimeError(
                    f"topic {topic}: the process that was to create it exited (code {creator.returncode})"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"topic {topic}: no leader for every partition in the client's metadata within "
                    f"{timeout:.0f} s (partitions known: {sorted(partitions or ())})"
                )
            await asyncio.sleep(0.1)
            await client.force_metadata_update()
    finally:
        cluster_log.removeFilter(quiet)


def wait_for_new_topic(
    bootstrap: str, topic: str, timeout: float = 60.0, creator: subprocess.Popen | None = None
) -> list[int]:
    """``wait_for_topic`` with a consumer of its own: for a topic another process creates."""

    async def run() -> list[int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        try:
            return await wait_for_topic(consumer, topic, timeout, creator)
        finally:
            await consumer.stop()

    return asyncio.run(run())


# ----------------------------------------------------------------- machine


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}"


# --------------------------------------------------------------- histories


def paced(started: float, rate: float, seconds: float, threads: int, worker: int) -> Iterator[int]:
    """Worker ``worker``'s share of ``rate`` commands/s for ``seconds`` over ``threads`` threads.

    Yields the command's number at its appointed time (the threads' slots
    staggered evenly); late commands go at once, so a slow patch is caught up.
    """
    interval = threads / rate
    next_at = started + worker * interval / threads
    for i in range(int(rate * seconds) // threads):
        next_at += interval
        delay = next_at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        yield i


def an_order(rng: random.Random) -> Order:
    """One order with a realistic history (about 5.6 events on average), through the aggregate's rules.

    Placed with 1-3 lines; sometimes a line added, a quantity changed or a
    line removed; a shipping address; then confirm, pay, ship, deliver, with
    some orders stopping on the way and some cancelled (before or after payment).
    """
    lines = rng.sample(SKUS, rng.randint(1, 3))
    order = Order.place(
        f"customer-{rng.randrange(20_000):05d}",
        [(sku, rng.randint(1, 4), price) for sku, price in lines],
        "EUR",
        rng.choice(("web", "web", "web", "mobile", "store", "marketplace")),
    )
    if rng.random() < 0.3:
        sku, price = rng.choice([s for s in SKUS if s[0] not in order.lines])
        order.add_line(sku, rng.randint(1, 3), price)
    if rng.random() < 0.15:
        sku = next(iter(order.lines))
        order.change_quantity(sku, order.lines[sku]["quantity"] + 1)
    if len(order.lines) > 1 and rng.random() < 0.1:
        order.remove_line(next(reversed(order.lines)))
    order.set_shipping_address(ADDRESS)
    step = rng.random()
    if step < 0.06:
        order.cancel("changed my mind")
        return order
    if step < 0.10:
        return order  # left placed
    order.confirm()
    if step < 0.14:
        order.cancel("found it cheaper")
        return order
    if step < 0.18:
        return order
    order.record_payment(f"pay-{order.id}", order.total, "EUR")
    if step < 0.22:
        order.cancel("too late")
        return order
    if step < 0.30:
        return order
    order.ship(rng.choice(("DHL", "UPS", "DPD")), f"T{rng.randrange(10**9)}")
    if step < 0.42:
        return order
    order.mark_delivered()
    return order


def interleaved_events(events: int, seed: int = 1, active: int = 20_000) -> Iterator[tuple[Order, object]]:
    """Exactly ``events`` (order, domain event) pairs, orders interleaved as in a real day.

    ``active`` orders are in progress at any time; each step takes the next
    event of one of them at random, and a finished order is replaced by a new
    one. So an order's history is spread over roughly ``active`` x 5.7 events
    of the stream (its events stay in version order), and a batch of a few
    thousand events touches a few thousand different orders. The last orders
    may end part-way (a prefix of a history is still a valid history).
    """
    rng = random.Random(seed)
    pool: list[tuple[Order, list[object]]] = []
    made = 0
    while made < events:
        while len(pool) < active:
            order = an_order(rng)
            pool.append((order, list(reversed(order.collect_events()))))
        i = rng.randrange(len(pool))
        order, rest = pool[i]
        yield order, rest.pop()
        made += 1
        if not rest:
            pool[i] = pool[-1]
            pool.pop()
