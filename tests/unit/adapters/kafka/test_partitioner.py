"""Keys go to the partition the Java client and ``producer.send`` would choose."""

from __future__ import annotations

import random
import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2

from adapters.kafka.partitioner import KeyPartitioner, murmur2


def test_murmur2_equals_aiokafkas_on_order_ids():
    keys = [str(uuid.UUID(int=random.Random(i).getrandbits(128))).encode() for i in range(500)]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]


def test_murmur2_equals_aiokafkas_for_every_length_remainder():
    rng = random.Random(7)
    keys = [bytes(rng.randrange(256) for _ in range(length)) for length in range(0, 41) for _ in range(5)]
    assert [murmur2(k) for k in keys] == [aiokafka_murmur2(k) for k in keys]


def test_a_key_goes_to_the_partition_of_aiokafkas_default_partitioner():
    partitions = list(range(6))
    keys = [f"order-{i}".encode() for i in range(200)]
    expected = [DefaultPartitioner()(k, partitions, partitions) for k in keys]
    assert [KeyPartitioner(partitions)(k) for k in keys] == expected


def test_a_key_keeps_its_partition_after_the_cache_is_cleared():
    partitioner = KeyPartitioner(list(range(6)), capacity=2)
    keys = [f"order-{i}".encode() for i in range(5)]
    first = [partitioner(k) for k in keys]
    assert [partitioner(k) for k in keys] == first
