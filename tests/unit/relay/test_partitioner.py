"""Keys go to the partition the Java client and ``producer.send`` would choose."""

from __future__ import annotations

from aiokafka.partitioner import murmur2

from adapters.relay import KeyPartitioner


def test_a_key_goes_to_the_murmur2_partition():
    key = b"6d8363f9-7059-405e-9565-b6a000f2a162"
    assert KeyPartitioner(list(range(6)))(key) == (murmur2(key) & 0x7FFFFFFF) % 6


def test_a_key_keeps_its_partition_after_the_cache_is_cleared():
    partitioner = KeyPartitioner(list(range(6)), capacity=2)
    keys = [f"order-{i}".encode() for i in range(5)]
    first = [partitioner(k) for k in keys]
    assert [partitioner(k) for k in keys] == first
