"""``orders demo``: a simulated day of orders on the embedded default, and its read models.

The demo is a list of steps (:data:`STEPS`) run in order on one
:class:`DemoRun`; each step prints its part and records any check that
failed in ``run.failures``. The command exits 1 if a check failed. To show
something more, write a ``step(run)`` function and add it to ``STEPS``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from sqlalchemy import Connection, Engine, select

from adapters.bootstrap import System, open_system
from adapters.cli.app import app, settings_of
from adapters.cli.demo_day import DaySummary, simulate_day
from adapters.cli.output import console
from adapters.cli.views import show_customers, show_products
from adapters.config import Settings
from adapters.runner.live import run_until_caught_up
from adapters.runner.rebuilding import rebuild
from adapters.runner.stats import Progress as RebuildProgress
from adapters.sql.migrations import upgrade
from domain.application import Orders
from projections import OrderSummary
from projections.contract import Projection
from projections.customer_orders import lifetime_value_by_currency, top_customers
from projections.order_summary import STATUSES, orders_by_status, revenue_by_currency
from projections.product_sales import revenue_by_currency as product_revenue_by_currency
from projections.product_sales import top_products

# The projection the demo rebuilds from offset zero.
REBUILT = OrderSummary


class DemoCheckError(click.ClickException):
    """A read model disagreed with the domain, or a rebuild with the live tables."""

    exit_code = 1


@dataclass
class DemoRun:
    system: System
    n_orders: int
    n_customers: int
    seed: int
    day: DaySummary | None = None
    failures: list[str] = field(default_factory=list)

    def check(self, ok: bool, failure: str) -> str:
        """Record ``failure`` unless ``ok``; the verdict to print."""
        if not ok:
            self.failures.append(failure)
        return "[green]yes[/green]" if ok else "[bold red]NO[/bold red]"

    @property
    def settings(self) -> Settings:
        return self.system.settings

    @property
    def orders(self) -> Orders:
        return self.system.orders

    def engine(self) -> Engine:
        """The read-model database, for reading."""
        return self.system.read_models_for_reading


@app.command()
@click.option(
    "--orders",
    "n_orders",
    default=2000,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many orders to place.",
)
@click.option(
    "--customers",
    "n_customers",
    default=300,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many customers place them.",
)
@click.option("--seed", default=7, show_default=True, help="Random seed: the same seed, the same day.")
@click.option(
    "--dir",
    "directory",
    default="var/demo",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the demo keeps its stores; wiped at the start.",
)
@click.pass_context
def demo(ctx: click.Context, n_orders: int, n_customers: int, seed: int, directory: Path) -> None:
    """Simulate a day of orders, project it into the read models, rebuild one.

    Runs on fresh embedded SQLite stores under --dir, so it never touches the
    configured event store and needs no services. Exits 1 if a read model
    disagrees with the domain or a rebuilt table with the live one.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    settings = Settings(
        event_store_url=f"sqlite:///{directory / 'events.db'}",
        read_model_url=f"sqlite:///{directory / 'read_models.db'}",
        extra_projections=settings_of(ctx).extra_projections,
    )
    with open_system(settings) as system:
        run = DemoRun(system, n_orders, n_customers, seed)
        for step in STEPS:
            step(run)
    if run.failures:
        raise DemoCheckError("; ".join(run.failures))


# ---- steps ----------------------------------------------------------------


def simulate(run: DemoRun) -> None:
    """A day of orders through the domain API."""
    console.print(f"Simulating a day: {run.n_orders} orders from {run.n_customers} customers (seed {run.seed})")
    with _progress() as progress:
        task = progress.add_task("orders", total=run.n_orders)
        run.day = simulate_day(
            run.orders, run.n_orders, run.n_customers, run.seed, on_order=lambda: progress.advance(task)
        )
    console.print(f"\n{run.day.orders} orders, {run.day.commands} commands\n")


def project(run: DemoRun) -> None:
    """Migrate the read-model database and run every projection until caught up."""
    heads = upgrade(run.system.read_models, run.settings)
    console.print(f"Read-model schema upgraded: {', '.join(heads)}")
    with console.status("Running the projections on the event store's log..."):
        stats = run_until_caught_up(run.system)
    names = [p.name for p in run.system.projections]
    events = run.orders.recorder.max_notification_id() or 0
    console.print(
        f"{len(names)} projections ({', '.join(names)}) caught up on {events} events: "
        f"{stats.applied} applications in {stats.seconds:.1f} s ({stats.rate:,.0f}/s)\n"
    )
    run.check(not stats.halted, f"projections halted: {'; '.join(stats.halted.values())}")


def compare_with_domain(run: DemoRun) -> None:
    """Orders by status and revenue by currency: the domain API next to the read models."""
    assert run.day is not None
    engine = run.engine()
    with engine.connect() as conn:
        statuses = orders_by_status(conn)
        revenue = revenue_by_currency(conn)
        lifetime = lifetime_value_by_currency(conn)
        product_revenue = product_revenue_by_currency(conn)

    table = Table("Status", "Domain API", "order_summary", title="Orders by status")
    for status in STATUSES:
        table.add_row(status, str(run.day.by_status.get(status, 0)), str(statuses[status]))
    console.print(table)
    domain_statuses = {s: run.day.by_status.get(s, 0) for s in STATUSES}
    same = run.check(statuses == domain_statuses, "order_summary's status counts differ from the domain's")
    console.print(f"order_summary agrees with the domain on every status: {same}\n")

    table = Table("Currency", "Domain API", "order_summary", "customer_orders", "product_sales",
                  title="Revenue by currency (paid, shipped and delivered orders)")
    currencies = sorted(set(run.day.revenue_by_currency) | set(revenue) | set(lifetime) | set(product_revenue))
    for currency in currencies:
        table.add_row(
            currency,
            str(run.day.revenue_by_currency.get(currency, Decimal(0))),
            str(revenue.get(currency, "-")),
            str(lifetime.get(currency, "-")),
            str(product_revenue.get(currency, "-")),
        )
    console.print(table)
    domain_revenue = {c: v for c, v in run.day.revenue_by_currency.items() if v}
    same = run.check(
        revenue == lifetime == product_revenue == domain_revenue,
        "revenue by currency differs between the domain and the read models",
    )
    console.print(f"all three read models agree with the domain on revenue: {same}\n")


def show_top_lists(run: DemoRun) -> None:
    """Top products and customers, straight from the read models."""
    engine = run.engine()
    with engine.connect() as conn:
        products = top_products(conn, 5, by="units")
        customers = top_customers(conn, 5, by="orders")
    show_products(products, "units")
    show_customers(customers, title="Top 5 customers by orders")
    console.print()


def rebuild_from_zero(run: DemoRun, projection: type[Projection] = REBUILT) -> None:
    """Rebuild one projection from offset zero and compare it with the live tables."""
    engine = run.engine()
    before = snapshot(engine, projection)
    with _progress() as progress:
        task = progress.add_task(f"rebuild {projection.name}", total=None)

        def report(p: RebuildProgress) -> None:
            progress.update(task, total=p.total, completed=p.done)

        stats = rebuild(run.system, projection, progress=report)
    after = snapshot(engine, projection)
    differences = diff_snapshots(before, after)
    same = run.check(
        not differences,
        f"rebuilt {projection.name} differs from the live tables: {'; '.join(differences[:3])}",
    )
    rows = sum(len(r) for r in after.values())
    console.print(
        f"rebuilt {projection.name} from offset 0: {stats.events} events "
        f"({stats.rate:,.0f} events/s), {rows} rows, identical to the live table: {same}"
    )


STEPS: list[Callable[[DemoRun], None]] = [
    simulate,
    project,
    compare_with_domain,
    show_top_lists,
    rebuild_from_zero,
]


# ---- helpers --------------------------------------------------------------


Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: Engine, projection: type[Projection]) -> Snapshot:
    """Every row of every table of ``projection``, in primary-key order."""
    with engine.connect() as conn:
        return {table.name: _rows(conn, table) for table in projection.tables()}


def _rows(conn: Connection, table: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]


def diff_snapshots(before: Snapshot, after: Snapshot) -> list[str]:
    """Human-readable differences between two snapshots (empty when identical)."""
    differences = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) != after.get(name):
            old, new = set(before.get(name, [])), set(after.get(name, []))
            differences.append(
                f"{name}: {len(old - new)} rows only in the live table, {len(new - old)} only in the rebuilt one"
            )
    return differences


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )

