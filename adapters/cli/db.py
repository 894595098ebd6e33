"""``orders db upgrade``: the read-model database's schema, by Alembic."""

from __future__ import annotations

import click

from adapters.cli.app import app, settings_of, system_of
from adapters.cli.output import console
from adapters.cli.services import reporting_unavailable
from adapters.config import redact
from adapters.sql.migrations import upgrade


@app.group()
def db() -> None:
    """The read-model database schema (Alembic)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every Alembic head: the framework's tables and every projection's."""
    settings = settings_of(ctx)
    with reporting_unavailable(settings):
        heads = upgrade(system_of(ctx).read_models, settings)
    console.print(f"read-model schema at {', '.join(heads)} ({redact(settings.read_model_url)})", highlight=False)
