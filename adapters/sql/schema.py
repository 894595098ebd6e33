"""The framework's own tables: checkpoints, projection state, dead letters, and the reactors' effects outbox.

They live in their own ``MetaData`` (created by the base Alembic revision
``0001_framework``), apart from every projection's tables.

``projection_checkpoints``
    The next source offset to read, per projection, target and partition.
    ``target`` is ``"live"`` for the tables readers use and ``"rebuild"`` for
    the shadow tables a rebuild fills; the swap moves the rebuild rows to live.
    A checkpoint is written in the same SQL transaction as the rows it
    accounts for, and every write is fenced on the value it expects to
    replace (see ``adapters.sql.checkpoints``).

``projection_state``
    One row per projection: the ``version`` its live tables were built by,
    ``state`` (``running``, ``halted``, ``rebuilding``) and, when halted, the
    error and the failing message.

``dead_letters``
    Messages a ``dead-letter`` projection could not apply (status ``dead``),
    the later messages of the same order parked behind them (``parked``), the
    message a ``halt`` projection stopped at (``halted``), and the resolutions
    an operator chose (``applied`` by a retry, ``retried`` for a halted
    message handed back to the runner, ``skipped``).
    ``payload`` is the raw message value, so a retry decodes exactly what
    failed. Rows are kept (never deleted by a resolution): nothing is ever
    dropped silently.

``reactor_effects``
    The effects outbox: what reactors decided to do, each with its
    deterministic ``key`` (unique: recording a key again records nothing),
    written in the same transaction as the reactor's rows and offsets. Status
    ``pending`` until the dispatcher delivered it (``dispatched``), or gave up
    on it (``failed``, with the error); ``suppressed`` for an effect of an
    event older than the reactor's start, never delivered. A dispatcher
    claims pending effects for a while (``claimed_until``) before delivering,
    one order's in the order they were recorded.

``reactor_live_from``
    Per reactor and partition, the offset from which its effects are
    delivered; those of earlier messages (history a reactor replayed or
    started from) are recorded ``suppressed``.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)


class Target(StrEnum):
    """Which tables a checkpoint, a dead letter or a batch belongs to."""

    LIVE = "live"  # the tables readers use
    REBUILD = "rebuild"  # the shadow tables a rebuild fills


class ProjectionState(StrEnum):
    RUNNING = "running"
    HALTED = "halted"  # a halt-policy projection stopped at a message it could not apply
    REBUILDING = "rebuilding"


class LetterStatus(StrEnum):
    """A dead letter's status: why it is there, or how an operator resolved it."""

    DEAD = "dead"  # could not be applied; blocks its order
    PARKED = "parked"  # a later message of a blocked order, waiting behind it
    HALTED = "halted"  # the message a halt-policy projection stopped at
    RETRIED = "retried"  # a halted message handed back to the runner by a retry
    APPLIED = "applied"  # applied by a retry
    SKIPPED = "skipped"


# Dead letters that still block their order.
UNRESOLVED = (LetterStatus.DEAD, LetterStatus.PARKED)


class EffectStatus(StrEnum):
    PENDING = "pending"  # to be delivered
    DISPATCHED = "dispatched"  # delivered
    FAILED = "failed"  # given up on (a permanent error, or too many attempts): an operator's to resolve
    SUPPRESSED = "suppressed"  # of an event older than the reactor's start: never delivered

metadata = MetaData()

checkpoints = Table(
    "projection_checkpoints",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("target", String(16), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

projection_state = Table(
    "projection_state",
    metadata,
    Column("projection", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("failing_event_id", String(64), nullable=True),
    Column("failing_partition", Integer, nullable=True),
    Column("failing_offset", BigInteger, nullable=True),
    # The code version and table definitions a rebuild in progress started
    # with: a rebuild resumes only if they are still the same.
    Column("rebuild_fingerprint", String(64), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("projection", String(100), nullable=False),
    Column("target", String(16), nullable=False),
    Column("event_id", String(64), nullable=True),
    Column("event_type", String(100), nullable=True),
    Column("aggregate_id", String(64), nullable=True),
    Column("aggregate_version", Integer, nullable=True),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("payload", LargeBinary, nullable=True),
    Column("error", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    # A message is recorded once; recording it again updates the record.
    UniqueConstraint("projection", "target", "partition", "offset", name="uq_dead_letters_position"),
    Index("ix_dead_letters_projection_status", "projection", "target", "status"),
)

reactor_effects = Table(
    "reactor_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False),
    Column("reactor", String(100), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("aggregate_id", String(64), nullable=False),
    Column("source_partition", Integer, nullable=False),
    Column("source_offset", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("claimed_until", DateTime(timezone=True), nullable=True),
    Column("dispatched_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("key", name="uq_reactor_effects_key"),
    Index("ix_reactor_effects_due", "status", "next_attempt_at"),
    Index("ix_reactor_effects_reactor_status", "reactor", "status"),
    Index("ix_reactor_effects_order", "reactor", "aggregate_id", "status"),
)

reactor_live_from = Table(
    "reactor_live_from",
    metadata,
    Column("reactor", String(100), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("live_from", BigInteger, nullable=False),
)
