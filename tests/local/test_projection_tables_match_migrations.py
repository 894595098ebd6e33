"""Every projection's tables, as its class declares them, are what its Alembic head creates.

A projection's schema is written twice: as ``Table`` objects in the class and
as an Alembic revision (so are the framework's tables, in
``adapters.sql.schema`` and ``0001_framework``). Here a fresh read-model
database is upgraded to every head, as ``orders db upgrade`` does, and
Alembic's autogenerate comparison against each owner's ``MetaData`` must find
no difference: one is a revision that was forgotten (or a ``Table`` that was).

The owners: the framework, every built-in projection and the test plugins
(tests/plugins and tests/local/projection_kit), configured by
``ORDERS_PROJECTIONS`` as a deployment would configure them.

A contract on every read-model database: run here on SQLite, and on
PostgreSQL by tests/integration/contract.
"""

from __future__ import annotations

import pprint
from collections.abc import Iterator
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import MetaData, inspect
from sqlalchemy.engine import Engine

from adapters.config import Settings
from adapters.registry import discover, discover_reactors
from adapters.sql.migrations import target_metadata
from adapters.sql.schema import metadata as framework_metadata
from tests.systems import migrate, system_for

PLUGINS = ",".join(
    (
        "tests.plugins.orders_per_channel:OrdersPerChannel",
        "tests.plugins.failing_projection:OrderProgress",
        "tests.local.projection_kit:OrderEvents",
    )
)
# Alembic's own bookkeeping table, which no MetaData declares.
ALEMBIC_VERSION_TABLE = "alembic_version"


def with_plugins(settings: Settings) -> Settings:
    return Settings.from_env(
        {"ORDERS_PROJECTIONS": PLUGINS},
        event_store_url=settings.event_store_url,
        read_model_url=settings.read_model_url,
    )


# Owner name -> its MetaData, known at collection so that a failure names its owner.
DECLARED: dict[str, MetaData] = {
    "framework": framework_metadata,
    **{p.name: p.metadata for p in discover(with_plugins(Settings()))},
    **{r.name: r.metadata for r in discover_reactors(Settings())},
}


@pytest.fixture
def migrated(backend_settings: Settings) -> Iterator[Engine]:
    """A fresh read-model database upgraded to every head, the plugins' included."""
    settings = with_plugins(backend_settings)
    migrate(settings)
    yield system_for(settings).read_models_for_reading


def schema_differences(engine: Engine, metadata: MetaData) -> list[Any]:
    """Alembic's autogenerate diff between the database and ``metadata``'s tables."""
    own_tables = set(metadata.tables)
    opts = {
        # Types as migrations/env.py compares them; server defaults too, so that
        # a default declared on one side only is a difference. Neither reports
        # anything spurious on SQLite or PostgreSQL for these schemas (the test
        # passes with no filtering of differences).
        "compare_type": True,
        "compare_server_default": True,
        # The database holds every owner's tables: compared with one owner's
        # MetaData, the others would all show as "remove_table". Only the
        # reflection of other owners' tables is skipped; a table of this owner
        # missing from the database is still reported ("add_table"), and a
        # table no owner declares is the next test's business.
        "include_name": lambda name, type_, parent_names: type_ != "table" or name in own_tables,
    }
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts=opts), metadata)


def listed(differences: list[Any]) -> str:
    return "\n".join(pprint.pformat(d, width=120) for d in differences)


@pytest.mark.parametrize("owner", sorted(DECLARED))
def test_the_declared_tables_match_what_the_alembic_heads_create(migrated, owner):
    differences = schema_differences(migrated, DECLARED[owner])
    assert not differences, (
        f"{owner}: its Table objects and its Alembic head differ (write a revision, or fix the Table):\n"
        f"{listed(differences)}"
    )


def test_every_table_the_alembic_heads_create_is_declared_by_the_framework_a_projection_or_a_reactor(
    migrated, backend_settings
):
    projections = discover(with_plugins(backend_settings))
    consumers = [*projections, *discover_reactors(backend_settings, projections=projections)]
    declared = {name for metadata in target_metadata(consumers) for name in metadata.tables}
    undeclared = sorted(set(inspect(migrated).get_table_names()) - declared - {ALEMBIC_VERSION_TABLE})
    assert not undeclared, f"tables created by a migration that no Table declares: {undeclared}"
