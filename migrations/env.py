"""Alembic environment of the read-model database.

Run through ``orders db upgrade`` (adapters/sql/migrations.py builds the Config in
code and hands over a connection and the target metadata). Run by the plain
``alembic`` command instead, it builds the same from the environment
(ORDERS_READ_MODEL_URL, ORDERS_PROJECTIONS).
"""

from __future__ import annotations

from alembic import context

config = context.config


def _target_metadata():
    metadata = config.attributes.get("target_metadata")
    if metadata is None:
        from adapters.config import Settings
        from adapters.registry import discover, discover_reactors
        from adapters.sql.migrations import target_metadata

        settings = Settings.from_env()
        projections = discover(settings)
        metadata = target_metadata([*projections, *discover_reactors(settings, projections=projections)])
    return metadata


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=_target_metadata(),
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=kwargs.pop("sqlite", False),
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url")
    _configure(url=url, literal_binds=True, sqlite=str(url).startswith("sqlite"))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection, sqlite=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return
    from adapters.sql.engines import create_read_model_engine

    engine = create_read_model_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            _configure(connection=connection, sqlite=connection.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
