"""Benchmark: the Orders domain API against bare eventsourcing, same aggregate, same store.

Run on demand::

    .venv/bin/python bench/domain_api.py [--orders 2000] [--rounds 3] [--profile]

Both sides run one client, on a fresh SQLite file each round, with the same
command mix per order: place, add_line, change_quantity, set the shipping
address, confirm, pay, ship, deliver (8 commands). "Domain API" is
``domain.application.Orders`` opened with ``adapters.eventstore.wiring.open_orders``;
"bare" is a plain ``eventsourcing.application.Application`` with the same
environment, doing ``repository.get`` / the ``Order`` command / ``save``
itself, without the retry and idempotency plumbing. Within a round the two
sides take turns in chunks of orders, so drift of the machine (other
processes, disk flushes) hits both alike; the median of the rounds counts.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from uuid import UUID

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application  # noqa: E402

from adapters.config import Settings  # noqa: E402
from adapters.eventstore.wiring import eventsourcing_env, open_orders  # noqa: E402
from domain.application import Orders  # noqa: E402
from domain.order import Order  # noqa: E402

COMMANDS_PER_ORDER = 8
LINES = [("BOOK-42", 2, "19.90"), ("MUG-7", 1, "8.50")]
EXTRA = ("PEN-3", 3, "1.20")
TOTAL = "54.30"  # 2 x 19.90 + 1 x 8.50 + 5 x 1.20 after the quantity change
ADDRESS = {"name": "Sam Doe", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


class BareOrders(Application):
    """The same aggregate on plain eventsourcing: load, command, save."""

    def run_order(self, n: int) -> None:
        order = Order.place(f"customer-{n % 300}", LINES, "EUR")
        self.save(order)
        order_id = order.id
        self._do(order_id, lambda o: o.add_line(*EXTRA))
        self._do(order_id, lambda o: o.change_quantity(EXTRA[0], 5))
        self._do(order_id, lambda o: o.set_shipping_address(ADDRESS))
        self._do(order_id, lambda o: o.confirm())
        self._do(order_id, lambda o: o.record_payment(f"pay-{n}", TOTAL, "EUR"))
        self._do(order_id, lambda o: o.ship("DHL", f"TRK{n}"))
        self._do(order_id, lambda o: o.mark_delivered())

    def _do(self, order_id: UUID, command: Callable[[Order], None]) -> None:
        order = self.repository.get(order_id)
        command(order)
        self.save(order)


def run_domain_api(orders: Orders, n: int) -> None:
    order_id = orders.place_order(f"customer-{n % 300}", LINES, "EUR")
    orders.add_line(order_id, *EXTRA)
    orders.change_quantity(order_id, EXTRA[0], 5)
    orders.set_shipping_address(order_id, ADDRESS)
    orders.confirm(order_id)
    orders.record_payment(order_id, f"pay-{n}", TOTAL, "EUR")
    orders.ship(order_id, "DHL", f"TRK{n}")
    orders.mark_delivered(order_id)


def settings_in(directory: Path, name: str) -> Settings:
    return Settings(event_store_url=f"sqlite:///{directory / name}.db")


def timed_round(
    n_orders: int, chunk: int, directory: Path, profiler: cProfile.Profile | None = None
) -> dict[str, float]:
    """Commands per second of each side in one round, each on a fresh store.

    The sides take turns in chunks of ``chunk`` orders (who goes first
    alternates too), so that a slow patch of the machine (other processes,
    disk flushes) costs both sides alike.
    """
    tag = time.monotonic_ns()
    orders = open_orders(settings_in(directory, f"domain-{tag}"))
    bare = BareOrders(env=eventsourcing_env(settings_in(directory, f"bare-{tag}")))
    runners: dict[str, Callable[[int], None]] = {
        "domain": lambda n: run_domain_api(orders, n),
        "bare": bare.run_order,
    }
    elapsed = {"domain": 0.0, "bare": 0.0}
    try:
        gc.collect()
        for i, first in enumerate(range(0, n_orders, chunk)):
            sides = ("domain", "bare") if i % 2 == 0 else ("bare", "domain")
            for side in sides:
                run = runners[side]
                active = profiler if side == "domain" else None
                if active is not None:
                    active.enable()
                start = time.perf_counter()
                for n in range(first, min(first + chunk, n_orders)):
                    run(n)
                elapsed[side] += time.perf_counter() - start
                if active is not None:
                    active.disable()
        check(orders, "domain", n_orders)
        check(bare, "bare", n_orders)
    finally:
        orders.close()
        bare.close()
    return {side: n_orders * COMMANDS_PER_ORDER / seconds for side, seconds in elapsed.items()}


def check(app: Application, side: str, n_orders: int) -> None:
    """Both sides must have done the same work: 8 events per order."""
    events = app.recorder.max_notification_id() or 0
    if events != n_orders * COMMANDS_PER_ORDER:
        raise SystemExit(f"{side}: {events} events stored, expected {n_orders * COMMANDS_PER_ORDER}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000, help="orders per round (8 commands each)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (each runs both sides)")
    parser.add_argument("--chunk", type=int, default=50, help="orders per turn when interleaving the sides")
    parser.add_argument("--profile", action="store_true", help="cProfile the domain API rounds")
    args = parser.parse_args()

    rates: dict[str, list[float]] = {"domain": [], "bare": []}
    overheads: list[float] = []
    profiler = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory(prefix="bench-domain-api-") as tmp:
        directory = Path(tmp)
        timed_round(max(args.orders // 10, 10), args.chunk, directory)  # warm-up
        for r in range(args.rounds):
            result = timed_round(args.orders, args.chunk, directory, profiler)
            overhead = (result["bare"] / result["domain"] - 1) * 100
            for side, rate in result.items():
                rates[side].append(rate)
            overheads.append(overhead)
            print(
                f"round {r + 1}: domain API {result['domain']:7.0f} commands/s, "
                f"bare {result['bare']:7.0f} commands/s, overhead {overhead:5.1f} %",
                flush=True,
            )

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}, "
          f"eventsourcing {version('eventsourcing')}, SQLite {sqlite3.sqlite_version}")
    print(f"per round: {args.orders} orders x {COMMANDS_PER_ORDER} commands per side, "
          f"interleaved in chunks of {args.chunk} orders; {args.rounds} rounds")
    print(f"domain API (Orders):  {statistics.median(rates['domain']):7.0f} commands/s (median of rounds)")
    print(f"bare eventsourcing:   {statistics.median(rates['bare']):7.0f} commands/s (median of rounds)")
    print(f"domain API overhead:  {statistics.median(overheads):7.1f} % more time per command "
          f"(median of rounds; min {min(overheads):.1f}, max {max(overheads):.1f})")
    if profiler is not None:
        print("\n(--profile: the profiler slowed the domain API side only; ignore the overhead above)")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
