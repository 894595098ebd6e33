"""Smoke tests against the real Kafka broker started by scripts/services.

Each test checks one behaviour orderstream relies on. asyncio code runs via
asyncio.run inside the test (no pytest-asyncio).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[2]


def _group() -> str:
    return f"test-group.{uuid.uuid4().hex[:12]}"


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,  # implies acks="all"
        acks="all",
        client_id="orderstream-smoke",
    )


async def _consume(consumer: AIOKafkaConsumer, count: int, timeout: float = 60.0) -> list:
    """Read exactly `count` records (fails on timeout, or if more than `count` arrive)."""
    records: list = []
    deadline = time.monotonic() + timeout
    while len(records) < count:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"got {len(records)} of {count} records before the timeout"
        batches = await consumer.getmany(timeout_ms=500, max_records=count - len(records))
        for batch in batches.values():
            records.extend(batch)
    assert len(records) == count
    return records


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    assert parts, f"no partitions known for {topic}"
    return [TopicPartition(topic, p) for p in sorted(parts)]


def test_idempotent_producer_and_consumer_group_round_trip_keys_and_headers(
    kafka_bootstrap, kafka_topic
):
    n = 60
    keys = [f"order-{i % 7}".encode() for i in range(n)]

    async def scenario():
        producer = _producer(kafka_bootstrap)
        await producer.start()
        try:
            sent = []
            for i in range(n):
                md = await producer.send_and_wait(
                    kafka_topic,
                    value=f"event-{i}".encode(),
                    key=keys[i],
                    headers=[("event_type", b"OrderPlaced"), ("seq", str(i).encode())],
                )
                sent.append(md)
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            kafka_topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=_group(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            records = await _consume(consumer, n)
            assert consumer.assignment() == set(await _partitions(consumer, kafka_topic))
        finally:
            await consumer.stop()
        return sent, records

    sent, records = asyncio.run(scenario())

    # Every message exactly once, with its key and headers intact.
    by_seq = {}
    for r in records:
        headers = dict(r.headers)
        assert headers["event_type"] == b"OrderPlaced"
        seq = int(headers["seq"])
        assert seq not in by_seq, f"duplicate delivery of seq {seq}"
        by_seq[seq] = r
    assert sorted(by_seq) == list(range(n))
    for seq, r in by_seq.items():
        assert r.key == keys[seq]
        assert r.value == f"event-{seq}".encode()
        assert (r.partition, r.offset) == (sent[seq].partition, sent[seq].offset)

    # Same key -> same partition, in send order; the keys spread over several partitions.
    per_key = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        per_key[r.key].append((r.partition, int(dict(r.headers)["seq"])))
    for key, seen in per_key.items():
        assert len({p for p, _ in seen}) == 1, f"key {key!r} landed on several partitions"
        seqs = [s for _, s in seen]
        assert seqs == sorted(seqs), f"key {key!r} out of order: {seqs}"
    assert len({r.partition for r in records}) > 1


def test_new_consumer_in_group_resumes_after_committed_offset(kafka_bootstrap, make_topic):
    topic = make_topic(partitions=1)
    group = _group()
    tp = TopicPartition(topic, 0)
    n, first = 10, 4

    async def scenario():
        producer = _producer(kafka_bootstrap)
        await producer.start()
        try:
            for i in range(n):
                await producer.send_and_wait(topic, value=str(i).encode(), key=b"k")
        finally:
            await producer.stop()

        a = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await a.start()
        try:
            got_a = [await a.getone() for _ in range(first)]
            await a.commit({tp: got_a[-1].offset + 1})
            committed = await a.committed(tp)
        finally:
            await a.stop()

        b = AIOKafkaConsumer(
            topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=group,
            auto_offset_reset="earliest",  # would re-read from 0 if the commit were lost
            enable_auto_commit=False,
        )
        await b.start()
        try:
            got_b = await _consume(b, n - first)
            extra = await b.getmany(timeout_ms=1000)
        finally:
            await b.stop()
        return got_a, committed, got_b, extra

    got_a, committed, got_b, extra = asyncio.run(scenario())
    assert [int(r.value) for r in got_a] == list(range(first))
    assert committed == first
    assert [r.offset for r in got_b] == list(range(first, n))
    assert [int(r.value) for r in got_b] == list(range(first, n))
    assert not any(extra.values())


def test_seek_to_beginning_rereads_everything(kafka_bootstrap, kafka_topic):
    n = 30

    async def scenario():
        producer = _producer(kafka_bootstrap)
        await producer.start()
        try:
            for i in range(n):
                await producer.send_and_wait(kafka_topic, value=str(i).encode(), key=str(i).encode())
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            consumer.assign(await _partitions(consumer, kafka_topic))
            first = await _consume(consumer, n)
            await consumer.seek_to_beginning()
            second = await _consume(consumer, n)
        finally:
            await consumer.stop()
        return first, second

    first, second = asyncio.run(scenario())

    def ids(records):
        return sorted((r.partition, r.offset, r.value) for r in records)

    assert ids(second) == ids(first)
    assert sorted(int(r.value) for r in first) == list(range(n))


def _managed_bootstrap() -> str | None:
    env_file = ROOT / "var" / "services.env"
    if not env_file.exists():
        return None
    for line in env_file.read_text().splitlines():
        if line.startswith("ORDERS_TEST_KAFKA_BOOTSTRAP="):
            return line.split("=", 1)[1].strip()
    return None


def test_broker_restart_keeps_every_message(kafka_bootstrap, kafka_topic):
    managed = _managed_bootstrap()
    if managed is None:
        pytest.fail("var/services.env is missing: start the broker with `scripts/services up`")
    if managed != kafka_bootstrap:
        pytest.skip(
            f"ORDERS_TEST_KAFKA_BOOTSTRAP={kafka_bootstrap} is not the broker scripts/services "
            f"manages ({managed}); this test restarts that broker"
        )
    n, m = 40, 25

    async def restart_broker():
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(ROOT / "scripts" / "services"),
            "restart",
            "kafka",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 280)
        assert proc.returncode == 0, f"scripts/services restart kafka failed:\n{out.decode()}"

    async def scenario():
        producer = _producer(kafka_bootstrap)
        await producer.start()
        try:
            for i in range(n):
                await producer.send_and_wait(kafka_topic, value=f"before-{i}".encode(), key=str(i).encode())
            # The same producer outlives the broker restart and must reconnect by itself.
            await restart_broker()
            for i in range(m):
                await asyncio.wait_for(
                    producer.send_and_wait(kafka_topic, value=f"after-{i}".encode(), key=str(i).encode()),
                    60,
                )
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(
            kafka_topic,
            bootstrap_servers=kafka_bootstrap,
            group_id=_group(),
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            records = await _consume(consumer, n + m)
            extra = await consumer.getmany(timeout_ms=1000)
        finally:
            await consumer.stop()
        return records, extra

    records, extra = asyncio.run(scenario())
    values = sorted(r.value.decode() for r in records)
    expected = sorted([f"before-{i}" for i in range(n)] + [f"after-{i}" for i in range(m)])
    assert values == expected
    assert not any(extra.values())
