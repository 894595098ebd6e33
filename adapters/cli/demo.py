"""``orders demo``: a simulated day of orders on the embedded default."""

from __future__ import annotations

import shutil
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from adapters.cli.app import app, settings_of
from adapters.cli.output import console
from adapters.event_store import open_orders
from adapters.simulation import DaySummary, simulate_day


@app.command()
@click.option("--orders", "n_orders", default=2000, show_default=True, type=click.IntRange(min=1), help="How many orders to place.")
@click.option("--customers", "n_customers", default=300, show_default=True, type=click.IntRange(min=1), help="How many customers place them.")
@click.option("--seed", default=7, show_default=True, help="Random seed: the same seed, the same day.")
@click.option("--dir", "directory", default="var/demo", show_default=True, type=click.Path(path_type=Path), help="Where the demo keeps its stores; wiped at the start.")
@click.pass_context
def demo(ctx: click.Context, n_orders: int, n_customers: int, seed: int, directory: Path) -> None:
    """Simulate a day of orders through the domain API and summarize it.

    Runs on fresh embedded SQLite stores under --dir, so it never touches the
    configured event store and needs no services.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    settings = settings_of(ctx).__class__(
        event_store_url=f"sqlite:///{directory / 'events.db'}",
        read_model_url=f"sqlite:///{directory / 'read_models.db'}",
    )
    orders = open_orders(settings)
    console.print(f"Simulating a day: {n_orders} orders from {n_customers} customers (seed {seed})")
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("orders", total=n_orders)
        summary = simulate_day(
            orders, n_orders, n_customers, seed, on_order=lambda: progress.advance(task)
        )
    print_summary(summary)


def print_summary(summary: DaySummary) -> None:
    console.print(f"\n{summary.orders} orders, {summary.commands} commands\n")
    statuses = Table("Status", "Orders", title="Orders by status (domain API)")
    for status in ("placed", "confirmed", "paid", "shipped", "delivered", "cancelled"):
        statuses.add_row(status, str(summary.by_status.get(status, 0)))
    console.print(statuses)
    revenue = Table("Currency", "Revenue paid", "Refunds due", title="Revenue by currency (domain API)")
    for currency in sorted(set(summary.revenue_by_currency) | set(summary.refunds_due_by_currency)):
        revenue.add_row(
            currency,
            str(summary.revenue_by_currency.get(currency, 0)),
            str(summary.refunds_due_by_currency.get(currency, 0)),
        )
    console.print(revenue)
