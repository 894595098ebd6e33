"""``orders reactors ...`` and ``orders effects status``: run, watch, replay and repair the reactors.

Exit codes: 0 done, 1 a reactor halted or effects left undelivered (the
message says what to do), 2 bad usage, configuration, or a read-model schema
behind the code.
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
from adapters.reactors.delivery import delivery_for
from adapters.reactors.run import replay as replay_reactor
from adapters.reactors.run import run_reactors
from adapters.reactors.status import effects_status
from adapters.registry import select_by_name
from reactors.contract import Reactor


class UndeliveredError(click.ClickException):
    exit_code = 1


class ReactorRow(TypedDict):
    name: str
    version: int
    error_policy: str
    reacts_to: list[str]
    tables: list[str]
    reactor_class: str


def _chosen(system: System, names: tuple[str, ...]) -> list[type[Reactor]]:
    return select_by_name(system.reactors, names, "reactor")


@app.group()
def reactors() -> None:
    """Run, inspect, replay and repair the reactors (consumers that act: inventory, payment, notification)."""
    configure_logging()


@reactors.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The reactors found: built in, entry points, ORDERS_REACTORS."""
    rows: list[ReactorRow] = [
        {
            "name": r.name,
            "version": r.version,
            "error_policy": r.error_policy,
            "reacts_to": sorted(r.handlers),
            "tables": [t.name for t in r.tables()],
            "reactor_class": f"{r.__module__}.{r.__qualname__}",
        }
        for r in system_of(ctx).reactors
    ]
    if as_json:
        emit_json(rows)
        return
    table = Table("Reactor", "Version", "On error", "Reacts to", "Tables")
    for r in rows:
        reacts_to, tables = ", ".join(r["reacts_to"]), ", ".join(r["tables"])
        table.add_row(r["name"], str(r["version"]), r["error_policy"], reacts_to, tables)
    console.print(table)


@reactors.command()
@click.argument("names", nargs=-1)
@click.option("--until-caught-up", is_flag=True, help="Stop once every event there now is handled and delivered.")
@click.option("--from-beginning", is_flag=True, help="A new reactor reads the whole log (history's effects not sent).")
@click.option("--send-history", is_flag=True, help="With --from-beginning: deliver history's effects too.")
@click.pass_context
def run(
    ctx: click.Context, names: tuple[str, ...], until_caught_up: bool, from_beginning: bool, send_history: bool
) -> None:
    """Consume events and deliver the reactors' effects (all, or NAMES); continuous unless --until-caught-up.

    A new reactor starts at the head of the log. SIGTERM or Ctrl-C stops
    after the batch in hand is committed.
    """
    settings = settings_of(ctx)
    system = system_of(ctx)
    chosen = _chosen(system, names)
    console.print(f"Reacting with {', '.join(r.name for r in chosen)}", highlight=False)
    with reporting_unavailable(settings), stop_on_signals() as stop, rebuild_progress() as progress:
        result = run_reactors(
            system, delivery_for(system), chosen, until_caught_up=until_caught_up, stop=stop,
            from_beginning=from_beginning, send_history=send_history, progress=progress,
        )
    for name in result.started:
        console.print(f"started {name}", highlight=False)
    stats, delivered = result.consumed, result.delivered
    console.print(
        f"{stats.events} events in {stats.seconds:.1f}s: {stats.applied} applied, "
        f"{stats.duplicates} duplicates dropped, {stats.dead} dead-lettered, {stats.parked} parked; "
        f"effects: {delivered.dispatched} delivered, {delivered.retried} retries, {delivered.failed} failed, "
        f"{result.pending} pending",
        highlight=False,
    )
    if stats.halted:
        raise HaltedError("; ".join(stats.halted.values()))
    if until_caught_up and result.pending:
        raise UndeliveredError(
            f"{result.pending} effects are still waiting to be delivered (their receivers failing?); "
            "see `orders effects status`, and run again"
        )


@reactors.command()
@json_option
@click.argument("names", nargs=-1)
@click.pass_context
def status(ctx: click.Context, as_json: bool, names: tuple[str, ...]) -> None:
    """Per reactor: version, state, offsets against the source's end (lag), errors, dead letters."""
    settings = settings_of(ctx)
    with reporting_unavailable(settings):
        system = system_of(ctx)
        statuses = runner.status(system, _chosen(system, names))
    if as_json:
        emit_json(statuses)
        return
    console.print(status_table("Reactor", statuses))


@reactors.command()
@click.argument("name")
@click.pass_context
def replay(ctx: click.Context, name: str) -> None:
    """Rebuild NAME's state from offset zero; nothing already sent, nor older than its start, is sent."""
    settings = settings_of(ctx)
    system = system_of(ctx)
    (reactor,) = _chosen(system, (name,))
    with reporting_unavailable(settings), rebuild_progress() as progress:
        try:
            stats = replay_reactor(system, reactor, progress)
        except runner.ProjectionHaltedError as e:
            raise HaltedError(str(e)) from None
    console.print(f"replayed {name}: {stats.events} events in {stats.seconds:.1f}s, state switched", highlight=False)


@reactors.command()
@click.argument("name")
@click.pass_context
def retry(ctx: click.Context, name: str) -> None:
    """Re-apply NAME's dead letters; resume it if halted (its effects are delivered by `orders reactors run`)."""
    settings = settings_of(ctx)
    system = system_of(ctx)
    (reactor,) = _chosen(system, (name,))
    with reporting_unavailable(settings):
        stats = runner.retry(system, reactor)
    report_resolution(name, stats, "reactors")


@reactors.command()
@click.argument("name")
@click.option("--event", "event", required=True, help="Event id (or PARTITION:OFFSET) of the failed message.")
@click.pass_context
def skip(ctx: click.Context, name: str, event: str) -> None:
    """Skip one failed message of NAME (recorded as skipped), then continue."""
    settings = settings_of(ctx)
    system = system_of(ctx)
    (reactor,) = _chosen(system, (name,))
    with reporting_unavailable(settings):
        stats = runner.skip(system, reactor, event)
    console.print(f"skipped {event} in {name}", highlight=False)
    report_resolution(name, stats, "reactors")


@app.group()
def effects() -> None:
    """The reactors' effects outbox."""


@effects.command("status")
@json_option
@click.pass_context
def effects_status_command(ctx: click.Context, as_json: bool) -> None:
    """Per reactor: effects pending, dispatched, failed, suppressed; the last failures."""
    settings = settings_of(ctx)
    with reporting_unavailable(settings):
        report = effects_status(system_of(ctx))
    if as_json:
        emit_json(report)
        return
    table = Table("Reactor", "Pending", "Dispatched", "Failed", "Suppressed", "Last failure")
    for r in report:
        last = f"{r.failures[0].key}: {r.failures[0].error}" if r.failures else ""
        table.add_row(r.reactor, str(r.pending), str(r.dispatched), str(r.failed), str(r.suppressed), last)
    console.print(table)
