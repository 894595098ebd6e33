"""``orders projections ...``: run, watch, rebuild and repair read models.

Source: Kafka when ORDERS_KAFKA_BOOTSTRAP (``--kafka``) is set, else the
event store's log (the embedded default). Exit codes: 0 done, 1 a projection
halted (the message says how to resolve it), 2 bad usage, configuration, or a
read-model schema behind the code.
"""

from __future__ import annotations

from typing import TypedDict

import click
from rich.table import Table

from adapters import runner
from adapters.bootstrap import System
from adapters.cli.app import app, json_option, settings_of, system_of
from adapters.cli.consumers import HaltedError, rebuild_progress, report_resolution, status_table, stop_on_signals
from adapters.cli.logs import configure_logging
from adapters.cli.output import console, emit_json
from adapters.cli.services import reporting_unavailable
from adapters.config import Settings, redact
from adapters.registry import select_by_name
from projections.contract import Projection

EXIT_HALTED = 1


def _chosen(system: System, names: tuple[str, ...]) -> list[type[Projection]]:
    return select_by_name(system.projections, names)


def _source(settings: Settings) -> str:
    if settings.uses_kafka:
        return f"Kafka {settings.kafka_bootstrap} topic {settings.topic}"
    return f"event store {redact(settings.event_store_url)}"


@app.group()
def projections() -> None:
    """Run, inspect, rebuild and repair the read models."""
    configure_logging()


# One projection as `projections list --json` prints it ("class" is a keyword: the functional form).
ProjectionListing = TypedDict(
    "ProjectionListing", {"name": str, "version": int, "error_policy": str, "tables": list[str], "class": str}
)


@projections.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The projections found: built in, entry points, ORDERS_PROJECTIONS."""
    found = system_of(ctx).projections
    rows: list[ProjectionListing] = [
        {
            "name": p.name,
            "version": p.version,
            "error_policy": p.error_policy,
            "tables": [t.name for t in p.tables()],
            "class": f"{p.__module__}.{p.__qualname__}",
        }
        for p in found
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table("Projection", "Version", "On error", "Tables", "Class")
    for r in rows:
        table.add_row(r["name"], str(r["version"]), r["error_policy"], ", ".join(r["tables"]), r["class"])
    console.print(table)


@projections.command()
@click.argument("names", nargs=-1)
@click.option("--until-caught-up", is_flag=True, help="Stop once every event that exists now is applied.")
@click.option(
    "--batch-size",
    default=runner.BATCH_SIZE,
    show_default=True,
    type=click.IntRange(min=1),
    help="Events per SQL transaction.",
)
@click.pass_context
def run(ctx: click.Context, names: tuple[str, ...], until_caught_up: bool, batch_size: int) -> None:
    """Apply new events to the projections (all, or NAMES); continuous unless --until-caught-up.

    A projection whose code version is newer than its tables is rebuilt
    first. SIGTERM or Ctrl-C stops after the batch in hand is committed.
    """
    settings = settings_of(ctx)
    system = system_of(ctx)
    chosen = _chosen(system, names)
    console.print(f"Projecting {', '.join(p.name for p in chosen)} from {_source(settings)}", highlight=False)
    with reporting_unavailable(settings), stop_on_signals() as stop, rebuild_progress() as progress:
        stats = runner.run(
            system, chosen, until_caught_up=until_caught_up, stop=stop, batch_size=batch_size, progress=progress
        )
    for name in stats.rebuilt:
        console.print(f"rebuilt {name} (its code version was newer than its tables)")
    console.print(
        f"{stats.events} events in {stats.seconds:.1f}s ({stats.rate:,.0f}/s): {stats.applied} applied, "
        f"{stats.duplicates} duplicates dropped, {stats.dead} dead-lettered, {stats.parked} parked",
        highlight=False,
    )
    if stats.halted:
        raise HaltedError("; ".join(stats.halted.values()))


@projections.command()
@json_option
@click.argument("names", nargs=-1)
@click.pass_context
def status(ctx: click.Context, as_json: bool, names: tuple[str, ...]) -> None:
    """Per projection: version, state, offsets against the source's end (lag), errors, dead letters."""
    settings = settings_of(ctx)
    with reporting_unavailable(settings):
        system = system_of(ctx)
        statuses = runner.status(system, _chosen(system, names))
    if as_json:
        emit_json(statuses)
        return
    console.print(status_table("Projection", statuses))


@projections.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Rebuild every projection.")
@click.pass_context
def rebuild(ctx: click.Context, names: tuple[str, ...], all_: bool) -> None:
    """Replay NAME from offset zero into fresh tables, then switch to them atomically.

    Readers keep the old tables until the switch; an interrupted rebuild
    leaves them serving and resumes next time.
    """
    settings = settings_of(ctx)
    if not names and not all_:
        raise click.UsageError("name a projection to rebuild, or pass --all")
    if names and all_:
        raise click.UsageError("name projections or pass --all, not both")
    system = system_of(ctx)
    chosen = _chosen(system, names)
    # No signal handler here: Ctrl-C interrupts the rebuild at once, which is
    # safe (the live tables stay until the switch; a rebuild run again resumes).
    with reporting_unavailable(settings), rebuild_progress() as progress:
        for projection in chosen:
            try:
                stats = runner.rebuild(system, projection, progress=progress)
            except runner.ProjectionHaltedError as e:
                raise HaltedError(str(e)) from None
            console.print(
                f"rebuilt {projection.name}: {stats.events} events in {stats.seconds:.1f}s "
                f"({stats.rate:,.0f}/s), switched to the new tables",
                highlight=False,
            )


@projections.command()
@click.argument("name")
@click.pass_context
def retry(ctx: click.Context, name: str) -> None:
    """Re-apply NAME's dead letters; resume it if halted (from the failing event)."""
    settings = settings_of(ctx)
    system = system_of(ctx)
    (projection,) = _chosen(system, (name,))
    with reporting_unavailable(settings):
        stats = runner.retry(system, projection)
    report_resolution(name, stats, "projections")


@projections.command()
@click.argument("name")
@click.option("--event", "event", required=True, help="Event id (or PARTITION:OFFSET) of the failed message.")
@click.pass_context
def skip(ctx: click.Context, name: str, event: str) -> None:
    """Skip one failed message of NAME (recorded as skipped), then continue."""
    settings = settings_of(ctx)
    system = system_of(ctx)
    (projection,) = _chosen(system, (name,))
    with reporting_unavailable(settings):
        stats = runner.skip(system, projection, event)
    console.print(f"skipped {event} in {name}", highlight=False)
    report_resolution(name, stats, "projections")
