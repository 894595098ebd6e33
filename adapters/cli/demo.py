"""``orders demo``: a simulated day of orders on the embedded default, its reactors and its read models.

The demo is a list of steps (:data:`STEPS`) run in order on one
:class:`DemoRun`; each step prints its part and records any check that
failed in ``run.failures``. The command exits 1 if a check failed. To show
something more, write a ``step(run)`` function and add it to ``STEPS``.

The built-in reactors start at the head of the empty log, so the whole day
is theirs: the inventory reactor reserves each order's lines (cancelling
what it cannot), the payment reactor captures each confirmed order through
the simulated gateway, the notification reactor writes the customers' mail
as ``.eml`` files under ``--dir``. The day stops at confirming an order;
once the payments are taken it ships a share of the paid orders.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from rich.panel import Panel
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
from adapters.cli.demo_day import DaySummary, restock_catalogue, ship_paid, simulate_day, summarize
from adapters.cli.demo_reactors import MailFile, mail_files, order_outcomes, read_mail, stock_from_orders
from adapters.cli.output import console
from adapters.cli.views import show_customers, show_products
from adapters.config import Settings
from adapters.payments import SimulatedGateway
from adapters.reactors.delivery import delivery_for
from adapters.reactors.run import run_reactors, start
from adapters.reactors.status import effects_status
from adapters.runner.live import run_until_caught_up
from adapters.runner.rebuilding import rebuild
from adapters.runner.stats import Progress as RebuildProgress
from adapters.sql.migrations import upgrade
from domain.application import Orders
from domain.views import OrderView
from projections import OrderSummary
from projections.contract import Projection
from projections.customer_orders import lifetime_value_by_currency, top_customers
from projections.order_summary import STATUSES, orders_by_status, revenue_by_currency
from projections.product_sales import revenue_by_currency as product_revenue_by_currency
from projections.product_sales import top_products
from reactors import BUILT_IN

# The projection the demo rebuilds from offset zero.
REBUILT = OrderSummary

# The reactors the demo runs: the built-in ones, whose work it checks (not
# those of ORDERS_REACTORS, whose effects it could not account for).
REACTORS = BUILT_IN
MAX_ROUNDS = 10  # rounds of the reactors before the demo gives up waiting for them to settle
SAMPLE_LINES = 8  # lines of the sample mail's body shown


class DemoCheckError(click.ClickException):
    """A read model or the reactors' work disagreed with the domain, or a rebuild with the live tables."""

    exit_code = 1


@dataclass
class DemoRun:
    system: System
    n_orders: int
    n_customers: int
    seed: int
    day: DaySummary | None = None
    restocked: dict[str, int] = field(default_factory=dict)  # units restocked per SKU before the day
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

    @property
    def mail_dir(self) -> Path:
        return Path(self.settings.mail_dir)

    def views(self) -> list[OrderView]:
        """Every order of the day, as the domain API has it now."""
        assert self.day is not None
        return [self.orders.get_order(order_id) for order_id in self.day.order_ids]


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
    """Simulate a day of orders, let the reactors act on it, project it into the read models, rebuild one.

    Runs on fresh embedded SQLite stores under --dir, so it never touches the
    configured event store and needs no services; mail is written to
    --dir/mail (never sent over ORDERS_SMTP_URL), payments go to the
    simulated gateway (ORDERS_PAYMENT_*).
    Exits 1 if the stock, the payments or the mails disagree with the
    orders, a read model with the domain, or a rebuilt table with the live one.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    configured = settings_of(ctx)
    settings = Settings(
        event_store_url=f"sqlite:///{directory / 'events.db'}",
        read_model_url=f"sqlite:///{directory / 'read_models.db'}",
        extra_projections=configured.extra_projections,
        mail_dir=str(directory / "mail"),
        mail_from=configured.mail_from,
        payment_decline_rate=configured.payment_decline_rate,
        payment_seed=configured.payment_seed,
        payment_latency_ms=configured.payment_latency_ms,
    )
    with open_system(settings) as system:
        run = DemoRun(system, n_orders, n_customers, seed)
        for step in STEPS:
            step(run)
    if run.failures:
        raise DemoCheckError("; ".join(run.failures))


# ---- steps ----------------------------------------------------------------


def start_reactors(run: DemoRun) -> None:
    """Migrate the read-model database; start the reactors at the head of the (empty) log: the day is theirs."""
    heads = upgrade(run.system.read_models, run.settings)
    console.print(f"Read-model schema upgraded: {', '.join(heads)}")
    for reactor in REACTORS:
        start(run.system, reactor)
    console.print(f"Reactors started at the head of the log: {', '.join(r.name for r in REACTORS)}")


def restock(run: DemoRun) -> None:
    """Restock the day's catalogue through the inventory API, some SKUs too scarcely for the day."""
    run.restocked = restock_catalogue(run.system.inventory, run.n_orders, run.seed)
    console.print(
        f"Restocked {len(run.restocked)} SKUs through the inventory API: "
        f"{sum(run.restocked.values()):,} units, {min(run.restocked.values())} to "
        f"{max(run.restocked.values())} per SKU\n"
    )


def simulate(run: DemoRun) -> None:
    """A day of orders through the domain API, up to confirming them: the payment reactor takes the payments."""
    console.print(f"Simulating a day: {run.n_orders} orders from {run.n_customers} customers (seed {run.seed})")
    with _progress() as progress:
        task = progress.add_task("orders", total=run.n_orders)
        run.day = simulate_day(
            run.orders,
            run.n_orders,
            run.n_customers,
            run.seed,
            on_order=lambda: progress.advance(task),
            paid_by_reactor=True,
        )
    console.print(f"\n{run.day.orders} orders placed, edited, confirmed or not: {run.day.commands} commands")


def react(run: DemoRun) -> None:
    """Run the reactors in rounds until one consumes nothing: their own cancellations are events for the next."""
    assert run.day is not None
    deliver = delivery_for(run.system)
    started = time.perf_counter()
    consumed = delivered = rounds = 0
    with console.status("The reactors at work...") as status:
        while rounds < MAX_ROUNDS:
            rounds += 1
            status.update(f"The reactors at work: round {rounds}, {consumed:,} events consumed before it...")
            result = run_reactors(run.system, deliver, REACTORS, until_caught_up=True)
            consumed += result.consumed.events
            delivered += result.delivered.dispatched
            if result.consumed.halted:
                run.check(False, f"reactors halted: {'; '.join(result.consumed.halted.values())}")
                break
            if not result.consumed.events:
                break
        else:
            run.check(False, f"the reactors still had events to consume after {MAX_ROUNDS} rounds")
    seconds = time.perf_counter() - started
    console.print(
        f"Reactors: {consumed:,} events consumed, {delivered:,} effects delivered, {rounds} rounds, {seconds:.1f} s\n"
    )
    # They cancelled orders (out of stock, payment declined) and recorded payments.
    run.day = summarize(run.orders, run.day.order_ids, run.day.commands)


def ship(run: DemoRun) -> None:
    """Ship a share of the orders the payment reactor paid (the reactors then handle the shipments)."""
    assert run.day is not None
    paid = run.day.by_status.get("paid", 0)
    with _progress() as progress:
        task = progress.add_task("shipping", total=run.day.orders)
        run.day = ship_paid(run.orders, run.day, run.seed, on_order=lambda: progress.advance(task))
    delivered = run.day.by_status.get("delivered", 0)
    shipped = run.day.by_status.get("shipped", 0) + delivered
    console.print(f"\n{shipped} of the {paid} paid orders shipped, {delivered} of them delivered")


def show_reactors(run: DemoRun) -> None:
    """What the reactors did, held up against the orders, the payment gateway and the mail files."""
    did = order_outcomes(run.views())
    mails = mail_files(run.mail_dir)
    table = Table("Reactor", "What it did", "Count", title="What the reactors did")
    table.add_row("inventory", _did("orders cancelled for lack of stock", did.out_of_stock), str(len(did.out_of_stock)))
    refunded = f"{did.refunded} of them refunded: the order was cancelled after" if did.refunded else ""
    table.add_row("payment", _did("payments taken", [refunded]), str(did.paid))
    table.add_row("payment", _did("payments declined, orders cancelled", did.declined), str(len(did.declined)))
    table.add_row("notification", _did("mails written", [f"in {run.mail_dir}"]), str(len(mails)))
    console.print(table)

    undelivered = {s.reactor: s.pending + s.failed for s in effects_status(run.system) if s.pending or s.failed}
    same = run.check(not undelivered, f"effects not delivered: {undelivered}")
    console.print(f"every effect delivered: {same}")
    gateway = run.system.payment_gateway
    if isinstance(gateway, SimulatedGateway):  # the demo's; a real provider would be asked through its own API
        charges = gateway.charges_by_order()
        declines = sum(1 for capture in gateway.captures.values() if not capture.approved)
        agree = (sum(charges.values()), declines) == (did.paid, len(did.declined)) and set(charges.values()) <= {1}
        same = run.check(agree, "the payments on the orders differ from the gateway's captures")
        console.print(f"payments agree with the gateway's captures, no order charged twice: {same}")
    distinct = len({m.message_id for m in mails if m.message_id})
    same = run.check(distinct == len(mails), f"mails sharing a Message-ID or without one: {len(mails) - distinct}")
    console.print(f"each mail has a Message-ID of its own: {same}")
    same = run.check(len(mails) == did.mails, f"{len(mails)} mails written, {did.mails} expected")
    console.print(f"one mail per order placed, shipped and cancelled: {same}\n")
    if mails:
        show_sample_mail(_sample_mail(mails, did.out_of_stock[0] if did.out_of_stock else None))


def show_sample_mail(path: Path) -> None:
    """The subject and the first lines of the mail in ``path``."""
    subject, body = read_mail(path)
    text = "\n".join(body[:SAMPLE_LINES] + (["..."] if len(body) > SAMPLE_LINES else []))
    console.print("One of them, read back from its .eml file:")
    console.print(Panel(text, title=f"Subject: {subject}", title_align="left", expand=False))
    console.print()


def check_stock(run: DemoRun) -> None:
    """Stock per SKU from the inventory API, checked against the orders.

    The orders say: reserved = the lines of the orders neither cancelled nor
    shipped; on hand = restocked - the lines of the orders shipped. A figure
    that differs is shown in red, with the orders' in brackets.
    """
    table = Table(
        "SKU", "Restocked", "Shipped", "Reserved", "Available", "Orders short",
        title="Stock per SKU (the inventory API)",
        caption="checked against the orders' lines: shipped ones, open ones",
    )
    disagree = []
    for want in stock_from_orders(run.views(), run.restocked):
        stock = run.system.inventory.stock(want.sku)
        if (stock.on_hand, stock.reserved) != (want.on_hand, want.reserved):
            disagree.append(want.sku)
        table.add_row(
            want.sku,
            str(want.restocked),
            _versus(want.restocked - stock.on_hand, want.shipped),
            _versus(stock.reserved, want.reserved),
            _versus(stock.available, want.available),
            str(want.short or ""),
        )
    console.print(table)
    same = run.check(not disagree, f"stock disagrees with the orders on {', '.join(disagree)}")
    console.print(f"stock agrees with the orders on every SKU: {same}\n")


def project(run: DemoRun) -> None:
    """Run every projection until caught up."""
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
    start_reactors,
    restock,
    simulate,
    react,  # reserve, capture, mail
    ship,
    react,  # ship the reservations, mail
    show_reactors,
    check_stock,
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


def _did(what: str, examples: list[str]) -> str:
    """``what``, with the first of ``examples`` (if any) on a dim line below."""
    example = next((e for e in examples if e), "")
    return f"{what}\n[dim]{example}[/dim]" if example else what


def _versus(actual: int, expected: int) -> str:
    return str(actual) if actual == expected else f"[bold red]{actual}[/bold red] ({expected})"


def _sample_mail(mails: list[MailFile], reason: str | None) -> Path:
    """A mail telling of a cancellation for ``reason`` (the first mail if there is none)."""
    if reason is not None:
        for mail in mails:
            if mail.subject.startswith("Your order was cancelled"):
                _, body = read_mail(mail.path)
                if any(reason in line for line in body):
                    return mail.path
    return mails[0].path


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )

