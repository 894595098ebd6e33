"""Alembic, wired in code: ``orders db upgrade`` and the schema check of the runner.

Layout: the framework's tables are the base revision ``0001_framework``
(branch label ``framework``) in ``migrations/versions``. Every projection's
tables come in its own branch: a revision with ``down_revision = None``, a
``branch_labels`` naming the projection and ``depends_on = "0001_framework"``.
Built-in projections keep their revisions in ``migrations/versions``; a plugin
points ``Projection.migrations`` at its own folder, which is added to the
version locations. ``orders db upgrade`` applies every head.

A read-model database whose schema is behind the code (a head not applied,
or a projection's table missing) refuses to run: :class:`SchemaBehindError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import Engine, MetaData

import migrations as _migrations_package
from adapters.config import ConfigurationError, Settings
from adapters.sql.engines import sqlalchemy_url
from adapters.sql.schema import metadata as framework_metadata
from adapters.sql.shadow import existing_tables
from projections.contract import Projection

# ``__path__``, not ``__file__``: an editable install may expose it as a namespace package.
MIGRATIONS_DIR = Path(next(iter(_migrations_package.__path__))).resolve()
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
FRAMEWORK_REVISION = "0001_framework"
UPGRADE_HINT = "read-model schema is behind the code: run `orders db upgrade`"


class SchemaBehindError(ConfigurationError):
    """The read-model database lacks revisions or tables the code needs."""


def version_locations(projections: Sequence[type[Projection]]) -> list[Path]:
    locations = [VERSIONS_DIR]
    for projection in projections:
        if projection.migrations is not None:
            folder = Path(projection.migrations).resolve()
            if not folder.is_dir():
                raise ConfigurationError(
                    f"projection {projection.name}: migrations folder {folder} does not exist"
                )
            if folder not in locations:
                locations.append(folder)
    return locations


def target_metadata(projections: Sequence[type[Projection]]) -> list[MetaData]:
    """What autogenerate compares against: the framework's and every projection's tables."""
    return [framework_metadata, *(p.metadata for p in projections)]


def alembic_config(settings: Settings, projections: Sequence[type[Projection]] | None = None) -> Config:
    """An Alembic ``Config`` built in code (no alembic.ini needed).

    Version locations: the built-in folder plus the ``migrations`` folder of
    every discovered projection and reactor, and of ``projections``.
    """
    from adapters.registry import discover, discover_reactors

    # Every known projection's and reactor's revisions, so that a database
    # migrated for all of them is understood even when only some are run.
    found_projections = discover(settings)
    found: list[type[Projection]] = [*found_projections, *discover_reactors(settings, projections=found_projections)]
    projections = found + [p for p in projections or () if p not in found]
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(str(p) for p in version_locations(projections))
    )
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(settings.read_model_url).replace("%", "%%"))
    config.attributes["target_metadata"] = target_metadata(projections)
    return config


def upgrade(engine: Engine, settings: Settings, projections: Sequence[type[Projection]] | None = None) -> list[str]:
    """Apply every head (``orders db upgrade``) on ``engine``; the heads now applied."""
    config = alembic_config(settings, projections)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "heads")
    with engine.connect() as conn:
        return sorted(MigrationContext.configure(conn).get_current_heads())


def pending_revisions(engine: Engine, config: Config) -> list[str]:
    """Heads of the known revision scripts the database has not applied (empty: up to date).

    Revisions in the database that no known script names (a plugin projection
    that is not configured here) are left alone: they concern tables this
    code does not use.
    """
    script = ScriptDirectory.from_config(config)
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    known = []
    for revision in current:
        try:
            script.get_revision(revision)
        except (CommandError, RevisionError):
            continue
        known.append(revision)
    applied = {r.revision for r in script.iterate_revisions(tuple(known), "base")} if known else set()
    return [head for head in script.get_heads() if head not in applied]


def check_schema(engine: Engine, settings: Settings, projections: Sequence[type[Projection]]) -> None:
    """Refuse to run on a read-model schema that is behind the code."""
    config = alembic_config(settings, projections)
    if pending_revisions(engine, config):
        raise SchemaBehindError(UPGRADE_HINT)
    present = existing_tables(engine)
    needed = [t.name for t in framework_metadata.sorted_tables]
    for projection in projections:
        needed += [t.name for t in projection.tables()]
    missing = [name for name in needed if name not in present]
    if missing:
        raise SchemaBehindError(
            f"{UPGRADE_HINT} (missing tables: {', '.join(missing)}; a projection needs an Alembic "
            "revision creating its tables, see docs/adding-a-projection.md)"
        )
