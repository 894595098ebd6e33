"""What the projections and reactors commands share: progress bars, signals, halts and repairs reported."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from adapters import runner
from adapters.cli.output import console

EXIT_HALTED = 1


class HaltedError(click.ClickException):
    exit_code = EXIT_HALTED


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
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


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        events = task.fields.get("events", 0)
        seconds = task.elapsed or 0
        return Text(f"{events / seconds:,.0f} events/s" if seconds > 0 else "- events/s")


class _CountColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(f"{int(task.completed):,}/{int(task.total or 0):,} events")


@contextmanager
def rebuild_progress() -> Iterator[runner.ProgressCallback]:
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


def status_table(kind: str, statuses: Sequence[runner.ProjectionStatus]) -> Table:
    """Per consumer: version, state, offsets against the source's end (lag), dead letters, the last error."""
    table = Table(kind, "Version", "State", "Partition offsets (next/end)", "Lag", "Dead letters", "Last error")
    for s in statuses:
        version = f"{s.version}" if s.version is not None else "-"
        if s.rebuild_pending:
            version += f" (code {s.code_version}: rebuild on run)"
        state = s.state + (" (rebuild in progress)" if s.rebuild_in_progress else "")
        offsets = " ".join(f"{p.partition}:{p.offset}/{p.end}" for p in s.partitions) or "-"
        letters = ", ".join(f"{n} {k}" for k, n in sorted(s.dead_letters.items())) or "0"
        error = f"at {s.failing_event}: {s.last_error}" if s.failing_event else (s.last_error or "")
        table.add_row(s.name, version, state, offsets, str(s.lag), letters, error)
    return table


def report_resolution(name: str, stats: runner.RetryStats, group: str) -> None:
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
        raise HaltedError(f"{name} still has {stats.still_dead} dead letters; see `orders {group} status`")
