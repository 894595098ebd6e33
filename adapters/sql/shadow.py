"""A rebuild's shadow tables: named after the live ones, fingerprinted, created, indexed, swapped in.

A rebuild fills ``<table>__rebuild`` copies that nothing else writes, and
:func:`swap_in` replaces the live tables by them in one transaction (readers
keep reading the old complete tables until it commits).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    Connection,
    Engine,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    inspect,
    text,
)
from sqlalchemy.schema import CreateIndex, CreateTable, DropTable
from sqlalchemy.sql.elements import conv

from adapters.config import ConfigurationError
from adapters.sql.checkpoints import forget_rebuild_checkpoints, promote_rebuild_checkpoints
from adapters.sql.dead_letters import forget_rebuild_letters, promote_rebuild_letters
from adapters.sql.rows import Tables
from adapters.sql.schema import Target
from adapters.sql.state import read_state, set_rebuild_fingerprint, set_running
from adapters.sql.statements import lock
from projections.contract import Projection

SHADOW_SUFFIX = "__rebuild"
PG_IDENTIFIER_MAX = 63


def shadow_tables(projection: type[Projection], postgres: bool) -> Tables:
    """The rebuild's shadow copies: same columns and constraints, no secondary indexes.

    On PostgreSQL constraint and index names are unique per schema, so named
    constraints get the shadow suffix too (removed again by the swap).
    """
    shadow_md = MetaData()
    physical: dict[Table, Table] = {}
    for table in projection.tables():
        for constraint in table.constraints:
            if isinstance(constraint, ForeignKeyConstraint):
                raise ConfigurationError(
                    f"table {table.name} of projection {projection.name} declares a foreign key; "
                    "read-model tables must not (a rebuild replaces them one by one)"
                )
        shadow = table.to_metadata(shadow_md, name=shadow_name(table.name))
        for index in list(shadow.indexes):
            shadow.indexes.discard(index)
        if postgres:
            for constraint in shadow.constraints:
                if isinstance(constraint.name, str) and constraint.name:
                    constraint.name = conv(_pg_name(constraint.name + SHADOW_SUFFIX))
        physical[table] = shadow
    return Tables(projection, Target.REBUILD, physical)


def shadow_name(name: str) -> str:
    return name + SHADOW_SUFFIX


def _pg_name(name: str) -> str:
    if len(name) > PG_IDENTIFIER_MAX:
        raise ConfigurationError(
            f"name {name!r} is longer than PostgreSQL's {PG_IDENTIFIER_MAX} characters; "
            "shorten the table, index or constraint name"
        )
    return name


def schema_fingerprint(projection: type[Projection], bind: Engine | Connection) -> str:
    """Identifies the code version and table definitions a rebuild was started with."""
    digest = hashlib.sha256(f"{projection.name}:{projection.version}".encode())
    for table in projection.tables():
        digest.update(str(CreateTable(table).compile(dialect=bind.dialect)).encode())
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            digest.update(str(CreateIndex(index).compile(dialect=bind.dialect)).encode())
    return digest.hexdigest()[:32]


def existing_tables(bind: Engine | Connection) -> set[str]:
    return set(inspect(bind).get_table_names())


def drop_shadow(conn: Connection, tables: Tables) -> None:
    """Drop leftover shadow tables and forget the rebuild's checkpoints and dead letters."""
    present = existing_tables(conn)
    for table in reversed(list(tables.physical.values())):
        if table.name in present:
            conn.execute(DropTable(table))
    forget_rebuild(conn, tables.projection.name)


def forget_rebuild(conn: Connection, projection: str) -> None:
    forget_rebuild_checkpoints(conn, projection)
    forget_rebuild_letters(conn, projection)


def begin_shadow(conn: Connection, tables: Tables, fingerprint: str) -> bool:
    """Resume the rebuild whose shadow tables are there with this ``fingerprint`` (True), else start afresh.

    Starting afresh drops what a rebuild left, creates the shadow tables
    empty and records ``fingerprint`` as the rebuild's; the caller holds the
    rebuild lock.
    """
    name = tables.projection.name
    state = read_state(conn, name)
    present = existing_tables(conn)
    if (
        state is not None
        and state.rebuild_fingerprint == fingerprint
        and all(t.name in present for t in tables.physical.values())
    ):
        return True
    drop_shadow(conn, tables)
    create_shadow(conn, tables)
    set_rebuild_fingerprint(conn, name, fingerprint)
    return False


def create_shadow(conn: Connection, tables: Tables) -> None:
    """Create the shadow tables (no secondary indexes: they are built once, at the end)."""
    for table in tables.physical.values():
        conn.execute(CreateTable(table))


def shadow_index(index: Index, shadow: Table, name: str) -> Index:
    columns = [shadow.c[c.name] for c in index.columns]
    if len(columns) != len(index.expressions):
        raise ConfigurationError(
            f"index {index.name} of {index.table.name} has expressions; read-model indexes "  # type: ignore[union-attr]
            "must list plain columns so a rebuild can recreate them"
        )
    return Index(conv(name), *columns, unique=index.unique, _table=shadow, **index.kwargs)


def index_shadow_pg(conn: Connection, tables: Tables) -> None:
    """PostgreSQL: build the secondary indexes on the shadow tables, before the swap.

    They get the shadow suffix and are renamed in the swap, which then stays
    short (readers block on the swap's locks only for a moment). A resumed
    rebuild may find them built already (it was killed after this transaction
    committed and before the swap did): ``IF NOT EXISTS``.
    """
    for table, shadow in tables.physical.items():
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            name = _pg_name(_index_name(index) + SHADOW_SUFFIX)
            conn.execute(CreateIndex(shadow_index(index, shadow, name), if_not_exists=True))
        shadow.indexes.clear()  # built now; never re-created from the metadata


def _index_name(index: Index) -> str:
    if not index.name:
        raise ConfigurationError(
            f"an index of {index.table.name} has no name; name it (Index('ix_...', ...))"  # type: ignore[union-attr]
        )
    return str(index.name)


def swap_in(conn: Connection, tables: Tables) -> None:
    """Replace the live tables by the shadow ones, in the caller's transaction.

    Also moves the rebuild checkpoints and dead letters to live (replacing the
    old ones) and records the projection's code version as built. A live
    runner holding the old checkpoints is fenced by its next write.
    """
    projection = tables.projection
    lock(conn, projection.name, Target.LIVE)
    postgres = conn.dialect.name == "postgresql"
    present = existing_tables(conn)
    for table, shadow in tables.physical.items():
        if table.name in present:
            conn.execute(DropTable(table))
        conn.execute(text(f"ALTER TABLE {_q(conn, shadow.name)} RENAME TO {_q(conn, table.name)}"))
        if postgres:
            _rename_pg_relations(conn, shadow.name, table.name)
        else:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index))

    promote_rebuild_checkpoints(conn, projection.name)
    promote_rebuild_letters(conn, projection.name)
    set_running(conn, projection.name, version=projection.version, rebuild_fingerprint=None)


def _rename_pg_relations(conn: Connection, shadow: str, live: str) -> None:
    """Give the renamed table's constraints, indexes and sequences their live names.

    Otherwise the next rebuild's shadow table would collide with names like
    ``<table>__rebuild_pkey`` still held by the live table.
    """
    constraints = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass) "
            "AND contype IN ('p', 'u', 'c', 'x')"
        ),
        {"t": live},
    ).scalars().all()
    for name in constraints:
        fixed = _live_name(name, shadow, live)
        if fixed != name:
            conn.execute(
                text(f"ALTER TABLE {_q(conn, live)} RENAME CONSTRAINT {_q(conn, name)} TO {_q(conn, fixed)}")
            )
    # Constraint renames rename their indexes; what is left are plain indexes
    # and sequences owned by the table's columns.
    relations = conn.execute(
        text(
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE i.indrelid = CAST(:t AS regclass) "
            "UNION ALL "
            "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_depend d ON d.objid = c.oid "
            "WHERE c.relkind = 'S' AND d.refobjid = CAST(:t AS regclass) AND d.deptype IN ('a', 'i')"
        ),
        {"t": live},
    ).all()
    for name, kind in relations:
        fixed = _live_name(name, shadow, live)
        if fixed != name:
            keyword = "SEQUENCE" if kind == "S" else "INDEX"
            conn.execute(text(f"ALTER {keyword} {_q(conn, name)} RENAME TO {_q(conn, fixed)}"))


def _live_name(name: str, shadow: str, live: str) -> str:
    if name.endswith(SHADOW_SUFFIX):
        return name[: -len(SHADOW_SUFFIX)]
    if name.startswith(shadow):
        return live + name[len(shadow) :]
    return name


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)
