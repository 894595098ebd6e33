"""Live projection latency (issue 5): command commit -> change visible in order_summary.

Needs the services (`scripts/services up`). Everything runs against a fresh
PostgreSQL event store, a fresh PostgreSQL read-model database and a fresh
topic, dropped afterwards.

`orders relay run` and `orders projections run order_summary` run as their own
processes (ORDERS_* environment), continuously. Paced threads issue commands
at ``--rate`` per second for ``--seconds`` through the domain API (40 % place
an order with one line, 60 % add a new line to one of the thread's orders), so
after the command that made an order version *v* its summary row has
``line_count == v``. A poller (its own connection, a tight loop with a 1 ms
pause) reads ``order_summary`` for the orders with a change not yet seen and
notes when each one becomes visible. Latency = visible time minus the moment
the command returned (its transaction had committed).

The measured window follows ``--warm-up`` seconds (15 by default) of the same
load, whose figures are printed too but are not the result: a broker in
service has long compiled its hot paths, one just started spends ~10 s of CPU
in its JIT compiler during its first minute under load, on this 2-core
machine the tail of whatever runs then. ``--warm-up 0`` measures from cold.

    .venv/bin/python bench/live_latency.py [--rate 200] [--seconds 20] [--threads 6] [--warm-up 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg
from common import (
    ROOT,
    delete_topics,
    drop_database,
    fresh_database,
    kafka_bootstrap,
    loadavg,
    machine,
    migrate,
    paced,
    pg_admin_url,
    wait_for_new_topic,
)

from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from domain.application import Orders

ORDERS_CLI = str(ROOT / ".venv" / "bin" / "orders")
POLL_PAUSE = 0.001


class Poller(threading.Thread):
    """Notes when each awaited (order, line_count) first shows in order_summary."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.awaited: dict[str, set[int]] = {}
        self.visible: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.polls = 0

    def expect(self, order_id: str, line_count: int) -> None:
        with self.lock:
            self.awaited.setdefault(order_id, set()).add(line_count)

    def outstanding(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.awaited.values())

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            query = "SELECT order_id, line_count FROM order_summary WHERE order_id = ANY(%s)"
            while not self.stop.is_set():
                with self.lock:
                    ids = list(self.awaited)
                if ids:
                    found = conn.execute(query, [ids]).fetchall()
                    now = time.time()
                    self.polls += 1
                    with self.lock:
                        for order_id, line_count in found:
                            waiting = self.awaited.get(order_id)
                            if not waiting:
                                continue
                            for n in [n for n in waiting if n <= line_count]:
                                waiting.discard(n)
                                self.visible[(order_id, n)] = now
                            if not waiting:
                                del self.awaited[order_id]
                time.sleep(POLL_PAUSE)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def percentiles(committed: dict[tuple[str, int], float], visible: dict[tuple[str, int], float]) -> dict[str, object]:
    samples = sorted((visible[k] - t) * 1000 for k, t in committed.items() if k in visible)
    if not samples:
        return {"commands": len(committed), "missing": len(committed)}
    return {
        "commands": len(committed),
        "missing": len(committed) - len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(0.90 * (len(samples) - 1))], 1),
        "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 1),
        "max_ms": round(samples[-1], 1),
    }


class Load(NamedTuple):
    committed: dict[tuple[str, int], float]  # (order id, line count) -> when its command returned
    seconds: float


def issue_commands(orders: Orders, poller: Poller, rate: float, seconds: float, threads: int, phase: str) -> Load:
    """``threads`` paced threads issue ``rate`` commands/s for ``seconds`` (seeded by ``phase``)."""
    committed: dict[tuple[str, int], float] = {}
    started = time.perf_counter()
    errors: list[BaseException] = []

    def issue(worker: int) -> None:
        try:
            rng = random.Random(f"{phase}-{worker}")
            live: list[list] = []
            for i in paced(started, rate, seconds, threads, worker):
                if not live or rng.random() < 0.4:
                    order_id = str(orders.place_order(f"customer-{worker}-{i % 100}", [("BOOK-1", 1, "9.90")]))
                    entry = [order_id, 1]
                    live.append(entry)
                    live[:] = live[-20:]
                else:
                    entry = rng.choice(live)
                    if entry[1] >= 40:  # keep orders well under the line limit
                        continue
                    orders.add_line(entry[0], f"SKU-{entry[1]}", 1, Decimal("1.00"))
                    entry[1] += 1
                key = (entry[0], entry[1])
                committed[key] = time.time()
                poller.expect(*key)
        except BaseException as e:  # noqa: BLE001 - reported by the main thread
            errors.append(e)

    workers = [threading.Thread(target=issue, args=(w,)) for w in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return Load(committed, time.perf_counter() - started)


def measure(
    settings: Settings, rate: float, seconds: float, threads: int, warm_up: float, workdir: Path
) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env.update(
        ORDERS_EVENT_STORE_URL=settings.event_store_url,
        ORDERS_READ_MODEL_URL=settings.read_model_url,
        ORDERS_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        ORDERS_TOPIC=settings.topic,
    )
    migrate(settings)
    orders = open_orders(settings)  # creates the event store's tables before the relay starts
    relay_log = open(workdir / "live-relay.log", "wb")  # noqa: SIM115
    runner_log = open(workdir / "live-runner.log", "wb")  # noqa: SIM115
    relay = subprocess.Popen([ORDERS_CLI, "relay", "run"], env=env, stderr=relay_log, stdout=relay_log, cwd=ROOT)
    runner = None
    poller = Poller(settings.read_model_url)
    warm_figures: dict[str, object] = {}
    try:
        try:  # the relay creates it
            wait_for_new_topic(settings.kafka_bootstrap, settings.topic, timeout=60, creator=relay)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; the relay's log: {relay_log.name}") from None
        runner = subprocess.Popen(
            [ORDERS_CLI, "projections", "run", "order_summary"], env=env, stderr=runner_log, stdout=runner_log, cwd=ROOT
        )
        poller.start()
        # The runner has joined its group and applies events.
        first = str(orders.place_order("customer-first", [("BOOK-1", 1, "9.90")]))
        poller.expect(first, 1)
        wait_for(lambda: (first, 1) in poller.visible, 90, "the first order in order_summary")
        if warm_up > 0:
            # The same load, not the figure: the broker's JIT compiler, caches
            # and connections reach their steady state (a broker's first
            # minute after a start costs it ~10 s of CPU in compilation).
            warm = issue_commands(orders, poller, rate, warm_up, threads, "warm-up")
            try:
                wait_for(lambda: poller.outstanding() == 0, 60, "every warm-up change in order_summary")
            except RuntimeError:
                pass  # reported as missing
            warm_figures = percentiles(warm.committed, poller.visible)
            with poller.lock:
                poller.awaited.clear()
        poller.visible.clear()

        load_before = loadavg()
        committed, elapsed = issue_commands(orders, poller, rate, seconds, threads, "measured")
        try:
            wait_for(lambda: poller.outstanding() == 0, 60, "every change in order_summary")
        except RuntimeError:
            pass  # reported as missing
        load_after = loadavg()
    finally:
        poller.stop.set()
        for proc in (runner, relay):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
        for proc in (runner, relay):
            if proc is not None:
                proc.wait(60)
        orders.close()
    return {
        **percentiles(committed, poller.visible),
        "achieved_rate": round(len(committed) / elapsed, 1),
        "warm_up_seconds": warm_up,
        "warm_up": warm_figures,
        "polls": poller.polls,
        "loadavg_before": load_before,
        "loadavg_after": load_after,
        "relay_exit": relay.returncode,
        "runner_exit": runner.returncode if runner else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument(
        "--warm-up", type=float, default=15, help="seconds of the same load before the measured window (0: none)"
    )
    args = parser.parse_args()

    admin = pg_admin_url()
    bootstrap = kafka_bootstrap()
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {machine()}; load average {loadavg()}")
    store = fresh_database(admin, "orderstream_bench_live_events")
    read_models = fresh_database(admin, "orderstream_bench_live_views")
    topic = f"bench.live.{uuid.uuid4().hex[:8]}"
    try:
        settings = Settings(event_store_url=store, read_model_url=read_models, kafka_bootstrap=bootstrap, topic=topic)
        figures = measure(settings, args.rate, args.seconds, args.threads, args.warm_up, workdir)
    finally:
        drop_database(admin, store)
        drop_database(admin, read_models)
        try:
            asyncio.run(delete_topics(bootstrap, [topic]))
        except Exception as e:  # noqa: BLE001 - the topic may not exist if the relay never started
            print(f"note: topic {topic} not deleted: {e}")
    warm = figures["warm_up"]
    if warm:
        print(
            f"warm-up ({args.warm_up:.0f}s, same load, not the figure): p50 {warm.get('p50_ms')} ms, "
            f"p99 {warm.get('p99_ms')} ms, max {warm.get('max_ms')} ms; missing {warm['missing']} of {warm['commands']}"
        )
    print(
        f"command commit -> visible in order_summary at {args.rate:.0f} commands/s for {args.seconds:.0f}s "
        f"(achieved {figures['achieved_rate']}/s): p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, "
        f"p99 {figures['p99_ms']} ms, max {figures['max_ms']} ms; missing {figures['missing']} of {figures['commands']}"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
