"""A projection's checkpoints: the next offset to read, per target and partition, fenced on every move.

A checkpoint is only ever moved from the value its writer read: ``UPDATE ...
WHERE next_offset = :expected`` (a partition without one yet: an ``INSERT``
that a concurrent insert makes fail on the primary key). A writer whose
expectation is stale (it lost its partitions in a rebalance, or a rebuild
moved the checkpoints under it) gets :class:`FencedError` and its whole
transaction is rolled back, so a batch is never applied twice.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from adapters.sql.schema import Target, checkpoints
from adapters.sql.statements import batch_statements


class FencedError(RuntimeError):
    """A checkpoint moved under this writer: re-read the checkpoints and seek."""


@dataclass(frozen=True)
class CheckpointKeys:
    """Which checkpoints one writer owns, and the source partition each stands for.

    Usually a checkpoint's key is its partition (all of them, or the
    partitions of one share of a split rebuild). A worker of a rebuild of the
    embedded log split by order reads the log's one partition, but stores its
    progress under checkpoint key ``share`` (one per share of the orders);
    the swap merges them into the log's one checkpoint again.
    """

    partitions: frozenset[int] | None = None  # None: every partition
    share: int | None = None  # the share of the orders whose progress this writer keeps
    partition_of_share: int = 0  # the partition a share's worker reads (the embedded log's one)

    @classmethod
    def of_partitions(cls, partitions: Collection[int]) -> CheckpointKeys:
        return cls(partitions=frozenset(partitions))

    @classmethod
    def of_share(cls, share: int, partition: int) -> CheckpointKeys:
        return cls(share=share, partition_of_share=partition)

    def owned(self, stored: Mapping[int, int]) -> dict[int, int]:
        """The stored checkpoints this writer owns, as they are stored."""
        if self.share is not None:
            return {self.share: stored[self.share]} if self.share in stored else {}
        if self.partitions is None:
            return dict(stored)
        return {k: o for k, o in stored.items() if k in self.partitions}

    def as_offsets(self, stored: Mapping[int, int]) -> dict[int, int]:
        """This writer's stored checkpoints as next offsets per source partition."""
        owned = self.owned(stored)
        if self.share is not None:
            return {self.partition_of_share: owned[self.share]} if owned else {}
        return owned

    def as_stored(self, offsets: Mapping[int, int]) -> dict[int, int]:
        """Next offsets per source partition as this writer stores them (the inverse of :meth:`as_offsets`)."""
        if self.share is not None:
            p = self.partition_of_share
            return {self.share: offsets[p]} if p in offsets else {}
        return dict(offsets)


def read_checkpoints(conn: Connection, projection: str, target: Target) -> dict[int, int]:
    c = checkpoints.c
    rows = conn.execute(select(c.partition, c.next_offset).where(c.projection == projection, c.target == target))
    return {int(p): int(o) for p, o in rows}


def move_checkpoints(
    conn: Connection,
    projection: str,
    target: Target,
    expected: Mapping[int, int | None],
    new: Mapping[int, int],
) -> None:
    """Move each checkpoint from ``expected[k]`` to ``new[k]``, or raise :class:`FencedError`.

    ``expected[k]`` None means "no checkpoint yet": the row is inserted, and a
    row inserted meanwhile by another writer fails it on the primary key.
    """
    moves: dict[int, tuple[int, int]] = {}  # key -> (before, after)
    for key, offset in sorted(new.items()):
        before = expected.get(key)
        if before == offset:
            continue
        if before is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(checkpoints).values(
                            projection=projection, target=target, partition=key, next_offset=offset
                        )
                    )
            except IntegrityError:
                raise FencedError(
                    f"{projection} ({target}) partition {key}: another writer created the checkpoint first"
                ) from None
            continue
        moves[key] = (before, offset)
    if not moves:
        return
    sql = batch_statements(conn.dialect)
    if sql.move_all_at_once:
        # One round trip for every partition of the batch (a live batch of a
        # few events spans most partitions).
        keys = list(moves)
        moved = conn.exec_driver_sql(
            sql.move, (keys, [moves[k][0] for k in keys], [moves[k][1] for k in keys], projection, target)
        ).rowcount
    else:
        moved = sum(
            conn.exec_driver_sql(sql.move, (after, projection, target, k, before)).rowcount
            for k, (before, after) in moves.items()
        )
    # Fewer rows moved than partitions: another writer moved one first.
    if moved != len(moves):
        stored = read_checkpoints(conn, projection, target)
        # Rows this UPDATE moved are at their new offset now (until the rollback).
        key = next((k for k, (_, after) in moves.items() if stored.get(k) != after), min(moves))
        raise FencedError(
            f"{projection} ({target}) partition {key}: checkpoint is no longer at "
            f"{moves[key][0]} (another writer moved it)"
        )


def replace_checkpoints(conn: Connection, projection: str, target: Target, offsets: Mapping[int, int]) -> None:
    """Make ``offsets`` the only checkpoints of ``projection`` for ``target`` (in the caller's transaction)."""
    c = checkpoints.c
    conn.execute(delete(checkpoints).where(c.projection == projection, c.target == target))
    if offsets:
        conn.execute(
            insert(checkpoints),
            [
                {"projection": projection, "target": target, "partition": p, "next_offset": o}
                for p, o in sorted(offsets.items())
            ],
        )


def forget_rebuild_checkpoints(conn: Connection, projection: str) -> None:
    c = checkpoints.c
    conn.execute(delete(checkpoints).where(c.projection == projection, c.target == Target.REBUILD))


def promote_rebuild_checkpoints(conn: Connection, projection: str) -> None:
    """The rebuild's checkpoints become the live ones (the old live ones are dropped)."""
    c = checkpoints.c
    conn.execute(delete(checkpoints).where(c.projection == projection, c.target == Target.LIVE))
    conn.execute(
        update(checkpoints)
        .where(c.projection == projection, c.target == Target.REBUILD)
        .values(target=Target.LIVE)
    )
