"""Which checkpoints a writer owns, and the source partitions they stand for (no database)."""

from __future__ import annotations

from adapters.sql.checkpoints import CheckpointKeys

STORED = {0: 10, 1: 20, 2: 30}


def test_a_writer_of_every_partition_owns_every_checkpoint():
    assert CheckpointKeys().as_offsets(STORED) == STORED


def test_a_writer_of_some_partitions_owns_only_theirs():
    assert CheckpointKeys.of_partitions([0, 2]).as_offsets(STORED) == {0: 10, 2: 30}


def test_a_share_of_the_orders_reads_its_checkpoint_as_the_partition_it_reads():
    assert CheckpointKeys.of_share(2, partition=0).as_offsets(STORED) == {0: 30}


def test_a_share_stores_the_partition_it_read_under_its_own_key():
    assert CheckpointKeys.of_share(2, partition=0).as_stored({0: 31}) == {2: 31}


def test_a_share_without_a_checkpoint_yet_owns_none():
    keys = CheckpointKeys.of_share(5, partition=0)
    assert (keys.owned(STORED), keys.as_offsets(STORED)) == ({}, {})


def test_as_stored_undoes_as_offsets_for_every_kind_of_writer():
    for keys in (CheckpointKeys(), CheckpointKeys.of_partitions([1]), CheckpointKeys.of_share(1, partition=0)):
        assert keys.as_stored(keys.as_offsets(STORED)) == keys.owned(STORED)
