"""``orders projections ...`` and ``orders db upgrade``: run, watch and repair read models.

Source: Kafka when ORDERS_KAFKA_BOOTSTRAP (``--kafka``) is set, else the
event store's log (the embedded default). Exit codes: 0 done, 1 a projection
halted (the message says how to resolve it), 2 bad usage, configuration, or a
read-model schema behind the code.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from aiokafka.errors import KafkaError
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import InterfaceError, OperationalError

from adapters import runner
from adapters.cli.app import app, json_option, settings_of
from adapters.cli.output import console, emit_json
from adapters.config import Settings, redact
from adapters.runner.registry import discover, select
from adapters.runner.worker_processes import ParallelReplayError
from adapters.sql.migrations import upgrade as upgrade_schema
from projections.contract import Projection

EXIT_HALTED = 1
EXIT_UNAVAILABLE = 1


class HaltedError(click.ClickException):
    exit_code = EXIT_HALTED


class UnavailableError(click.ClickException):
    exit_code = EXIT_UNAVAILABLE


@contextmanager
def _services(settings: Settings) -> Iterator[None]:
    """A broker, database or topic that cannot be used: one line, exit 1."""
    try:
        yield
    except KafkaError as e:
        raise UnavailableError(f"cannot use Kafka at {settings.kafka_bootstrap}: {e}") from None
    except (OperationalError, InterfaceError) as e:
        raise UnavailableError(
            f"cannot use the read-model database {redact(settings.read_model_url)}: {str(e.orig or e).strip()}"
        ) from None
    except runner.SourceUnavailableError as e:
        raise UnavailableError(str(e)) from None
    except runner.FencedError as e:
        raise UnavailableError(
            f"another process moved this projection's checkpoints ({e}); is a second rebuild running?"
        ) from None
    except ParallelReplayError as e:
        raise UnavailableError(str(e).splitlines()[0]) from None


def _chosen(settings: Settings, names: tuple[str, ...]) -> list[type[Projection]]:
    return select(discover(settings), names)


def _source(settings: Settings) -> str:
    return f"Kafka {settings.kafka_bootstrap} topic {settings.topic}" if settings.uses_kafka else f"event store {redact(settings.event_store_url)}"


@app.group()
def projections() -> None:
    """Run, inspect, rebuild and repair the read models."""
    _log_to_stderr()


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is now (not the one at creation)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _log_to_stderr() -> None:
    """The runner's own log (rebalances, fences, halts) on stderr; aiokafka's
    connection chatter only when fatal (the command's error line says why)."""
    runner_log = logging.getLogger("adapters")
    if not runner_log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        runner_log.addHandler(handler)
        runner_log.setLevel(logging.INFO)
        runner_log.propagate = False
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


@projections.command("list")
@json_option
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """The projections found: built in, entry points, ORDERS_PROJECTIONS."""
    found = discover(settings_of(ctx))
    rows = [
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


@contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """SIGTERM/SIGINT: finish the batch in hand, commit it, stop."""
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@projections.command()
@click.argument("names", nargs=-1)
@click.option("--until-caught-up", is_flag=True, help="Stop once every event that exists now is applied.")
@click.option("--batch-size", default=runner.BATCH_SIZE, show_default=True, type=click.IntRange(min=1), help="Events per SQL transaction.")
@click.pass_context
def run(ctx: click.Context, names: tuple[str, ...], until_caught_up: bool, batch_size: int) -> None:
    """Apply new events to the projections (all, or NAMES); continuous unless --until-caught-up.

    A projection whose code version is newer than its tables is rebuilt
    first. SIGTERM or Ctrl-C stops after the batch in hand is committed.
    """
    settings = settings_of(ctx)
    chosen = _chosen(settings, names)
    console.print(f"Projecting {', '.join(p.name for p in chosen)} from {_source(settings)}", highlight=False)
    with _services(settings), _stop_on_signals() as stop, _rebuild_progress() as progress:
        stats = runner.run(
            settings, chosen, until_caught_up=until_caught_up, stop=stop, batch_size=batch_size, progress=progress
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
    with _services(settings):
        statuses = runner.status(settings, _chosen(settings, names))
    if as_json:
        emit_json(statuses)
        return
    table = Table("Projection", "Version", "State", "Partition offsets (next/end)", "Lag", "Dead letters", "Last error")
    for s in statuses:
        version = f"{s.version}" if s.version is not None else "-"
        if s.rebuild_pending:
            version += f" (code {s.code_version}: rebuild on run)"
        state = s.state + (" (rebuild in progress)" if s.rebuild_in_progress else "")
        offsets = " ".join(f"{p.partition}:{p.offset}/{p.end}" for p in s.partitions) or "-"
        letters = ", ".join(f"{n} {k}" for k, n in sorted(s.dead_letters.items())) or "0"
        error = f"at {s.failing_event}: {s.last_error}" if s.failing_event else (s.last_error or "")
        table.add_row(s.name, version, state, offsets, str(s.lag), letters, error)
    console.print(table)


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        events = task.fields.get("events", 0)
        seconds = task.elapsed or 0
        return Text(f"{events / seconds:,.0f} events/s" if seconds > 0 else "- events/s")


class _CountColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,} events")


@contextmanager
def _rebuild_progress() -> Iterator[runner.ProgressCallback]:
    """A rich progress bar per rebuilt projection: events done, events/s, time left."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        _CountColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        tasks: dict[str, Any] = {}

        def report(p: runner.Progress) -> None:
            task = tasks.get(p.projection)
            if task is None:
                task = tasks[p.projection] = bar.add_task(f"rebuild {p.projection}", total=p.total)
            bar.update(task, completed=p.done, total=p.total, events=p.events)

        yield report


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
    chosen = _chosen(settings, names)
    # No signal handler here: Ctrl-C interrupts the rebuild at once, which is
    # safe (the live tables stay until the switch; a rebuild run again resumes).
    with _services(settings), _rebuild_progress() as progress:
        for projection in chosen:
            try:
                stats = runner.rebuild(settings, projection, progress=progress)
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
    (projection,) = _chosen(settings, (name,))
    with _services(settings):
        stats = runner.retry(settings, projection)
    _report_resolution(name, stats)


@projections.command()
@click.argument("name")
@click.option("--event", "event", required=True, help="Event id (or PARTITION:OFFSET) of the failed message.")
@click.pass_context
def skip(ctx: click.Context, name: str, event: str) -> None:
    """Skip one failed message of NAME (recorded as skipped), then continue."""
    settings = settings_of(ctx)
    (projection,) = _chosen(settings, (name,))
    with _services(settings):
        stats = runner.skip(settings, projection, event)
    console.print(f"skipped {event} in {name}", highlight=False)
    _report_resolution(name, stats)


def _report_resolution(name: str, stats: runner.RetryStats) -> None:
    if stats.applied or stats.still_dead or stats.still_parked:
        console.print(
            f"{name}: {stats.applied} dead letters applied, {stats.still_dead} still dead, "
            f"{stats.still_parked} still parked",
            highlight=False,
        )
    if stats.run is not None:
        console.print(f"{name}: resumed; {stats.run.events} events applied since", highlight=False)
        if stats.run.halted:
            raise HaltedError("; ".join(stats.run.halted.values()))
    if stats.still_dead:
        raise HaltedError(f"{name} still has {stats.still_dead} dead letters; see `orders projections status`")


@app.group()
def db() -> None:
    """The read-model database schema (Alembic)."""


@db.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Apply every Alembic head: the framework's tables and every projection's."""
    settings = settings_of(ctx)
    with _services(settings):
        heads = upgrade_schema(settings)
    console.print(f"read-model schema at {', '.join(heads)} ({redact(settings.read_model_url)})", highlight=False)
