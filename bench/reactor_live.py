"""Live reactor latency (issue 16): command commit -> the reactor's effect delivered, beside order_summary's.

Needs the services (`scripts/services up`). Everything runs against a fresh
PostgreSQL event store, a fresh PostgreSQL read-model database and a fresh
topic, dropped afterwards; as in bench/live_latency.py, `orders relay run`
and `orders projections run order_summary` run as their own processes, and
so does `orders reactors run REACTOR` (``--reactor``):

  notification  with ORDERS_SMTP_URL pointing at a recording SMTP server
                (aiosmtpd, tests/smtp_server.py) that this script runs in a
                process of its own; it notes when each mail is accepted (its
                Message-ID). Measured per placed order: command return ->
                its "We have your order" mail accepted by the server (the
                Message-ID made from the effect key ``notification:<event
                id>:0``, the event id from the order id and version 1).
  inventory     the SKUs restocked beforehand, so every reservation succeeds.
                Measured per command (every place and add-line reserves a
                line): command return -> the reservation committed in the
                inventory, read as the effect's ``dispatched_at`` in
                ``reactor_effects`` (stamped right after the reservation's
                save returned, before the mark commits: an upper bound by
                well under a millisecond).

The load is bench/live_latency.py's: paced threads issue ``--rate``
commands/s through the domain API (40 % place an order with one line, 60 %
add a new line to one of the thread's orders), and a poller (1 ms pause)
notes when each change shows in ``order_summary`` (the projection latency,
measured in the same run on the same commands). ``--skus``: the number of
SKUs a placed order's line is drawn from, and added lines' too (default 1:
every order is placed with BOOK-1 and its n-th added line is SKU-n, as in
live_latency.py); with N > 1 the lines spread over N times as many SKUs.
For each effect the outbox also says when it was recorded (``created_at``,
the reactor's batch) and delivered (``dispatched_at``): the script splits
the latency into command -> recorded and recorded -> delivered.

Also printed per phase: the cores each process used during the load (CPU
seconds per second from /proc: this script's, the relay's, the runner's, the
reactor's, the SMTP server's, PostgreSQL's, the broker's, and every other
process on the machine as "other").

The measured ``--seconds`` follow ``--warm-up`` seconds of the same load (as
in live_latency.py); the effects of the warm-up are awaited before the
measured window starts (up to ``--patience`` seconds). ``--no-projection``
runs without the order_summary runner and its poller; ``--no-poller`` runs the
runner but not the poller (no order_summary figure then; the poller and its
PostgreSQL backend used 0.05-0.07 cores).

    .venv/bin/python bench/reactor_live.py --reactor notification|inventory [--rate 200]
        [--seconds 20] [--threads 6] [--warm-up 15] [--skus 1] [--no-projection | --no-poller]
        [--patience 120]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from common import (  # noqa: E402
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
from live_latency import Poller, wait_for  # noqa: E402

from adapters.config import Settings  # noqa: E402
from adapters.eventstore.wiring import open_inventory, open_orders  # noqa: E402
from adapters.mail.message import message_id  # noqa: E402
from domain.application import Orders  # noqa: E402
from domain.records import event_id_for  # noqa: E402

ORDERS_CLI = str(ROOT / ".venv" / "bin" / "orders")
RESTOCK = 1_000_000  # units per SKU: more than any run reserves
MAX_LINES = 40  # as live_latency.py: orders stay well under the line limit

Change = tuple[str, int]  # (order id, version); version == line count


def percentiles(samples: list[float], expected: int) -> dict[str, Any]:
    samples = sorted(samples)
    if not samples:
        return {"count": expected, "missing": expected}
    return {
        "count": expected,
        "missing": expected - len(samples),
        "p50_ms": round(statistics.median(samples), 1),
        "p90_ms": round(samples[int(0.90 * (len(samples) - 1))], 1),
        "p99_ms": round(samples[int(0.99 * (len(samples) - 1))], 1),
        "max_ms": round(samples[-1], 1),
    }


def shown(f: dict[str, Any]) -> str:
    if "p50_ms" not in f:
        return f"nothing arrived; missing {f['missing']} of {f['count']}"
    return (
        f"p50 {f['p50_ms']} ms, p90 {f['p90_ms']} ms, p99 {f['p99_ms']} ms, max {f['max_ms']} ms; "
        f"missing {f['missing']} of {f['count']}"
    )


# ------------------------------------------------------------ the SMTP server


def smtp_server_main(port: int) -> None:
    """A process of its own: the recording SMTP server; one line per mail accepted: ``<time> <Message-ID>``."""
    from tests.smtp_server import Received, RecordingSmtpServer

    header = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
    lock = threading.Lock()

    class Timed(RecordingSmtpServer):
        def _accept(self, received: Received) -> None:
            at = time.time()
            found = header.search(received.data)
            with lock:
                print(f"{at:.6f} {found.group(1).decode() if found else '-'}", flush=True)
            # Not kept: a long run would hold every message in memory for nothing.

    server = Timed(port)
    server.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the bench closes our stdin
    finally:
        server.stop()


class SmtpProcess:
    """The recording SMTP server's process, and the arrival time of each Message-ID it accepted."""

    def __init__(self) -> None:
        from tests.smtp_server import free_port

        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--smtp-server", str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            raise RuntimeError("the recording SMTP server did not start")
        self.arrived: dict[str, float] = {}
        self.accepted = 0
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            at, mid = line.split()
            with self.lock:
                self.accepted += 1
                self.arrived.setdefault(mid, float(at))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        self.reader.join(10)


# -------------------------------------------------------------- the outbox


class Outboxed(NamedTuple):
    created: float  # when the reactor recorded it (its batch)
    dispatched: float | None  # when the dispatcher had delivered it


def read_outbox(url: str, reactor: str) -> dict[str, Outboxed]:
    """Every effect of ``reactor``: key -> when recorded, when delivered."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT key, created_at, dispatched_at FROM reactor_effects WHERE reactor = %s", (reactor,)
        ).fetchall()
    return {key: Outboxed(c.timestamp(), d.timestamp() if d else None) for key, c, d in rows}


def reactor_started(url: str, reactor: str) -> bool:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT 1 FROM reactor_live_from WHERE reactor = %s", (reactor,)).fetchone() is not None


def count_pending(url: str, reactor: str) -> int:
    with psycopg.connect(url) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM reactor_effects WHERE reactor = %s AND status = 'pending'", (reactor,)
        ).fetchone()
    return int(n)


# ------------------------------------------------------------------- CPU


TICK = os.sysconf("SC_CLK_TCK")


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """Every process now: pid -> (its name, CPU seconds used so far)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        found[int(entry.name)] = (cmdline or name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def cpu_used(before: dict[int, tuple[str, float]], ours: dict[int, str], seconds: float) -> dict[str, float]:
    """Cores used since ``before`` (CPU seconds per second), by who: our processes by name, the services, the rest."""
    used: dict[str, float] = {}
    for pid, (cmdline, total) in cpu_by_process().items():
        spent = total - before.get(pid, (cmdline, 0.0))[1]
        if pid in ours:
            who = ours[pid]
        elif "postgres" in cmdline:
            who = "postgresql"
        elif "kafka.Kafka" in cmdline:
            who = "kafka"
        else:
            who = "other"
        used[who] = used.get(who, 0.0) + spent
    return {who: round(cpu / seconds, 2) for who, cpu in sorted(used.items()) if cpu > 0}


# ---------------------------------------------------------------- the load


class Load(NamedTuple):
    committed: dict[Change, float]  # (order id, version) -> when its command returned
    seconds: float


def sku_of(line: int, skus: int, rng: random.Random) -> str:
    """The SKU of an order's ``line``-th line (1: the one it is placed with), of ``skus`` choices."""
    if skus == 1:
        return "BOOK-1" if line == 1 else f"SKU-{line - 1}"
    return f"P-{rng.randrange(skus)}" if line == 1 else f"L{line - 1}-{rng.randrange(skus)}"


def catalogue(skus: int) -> list[str]:
    """Every SKU ``sku_of`` can name."""
    if skus == 1:
        return ["BOOK-1", *(f"SKU-{n}" for n in range(1, MAX_LINES))]
    return [f"P-{k}" for k in range(skus)] + [f"L{n}-{k}" for n in range(1, MAX_LINES) for k in range(skus)]


def issue_commands(
    orders: Orders,
    on_commit: Callable[[Change, float], None],
    rate: float,
    seconds: float,
    threads: int,
    phase: str,
    skus: int,
) -> Load:
    """live_latency.py's load: 40 % place an order with one line, 60 % add a line; seeded by ``phase``."""
    committed: dict[Change, float] = {}
    started = time.perf_counter()
    errors: list[BaseException] = []

    def issue(worker: int) -> None:
        try:
            rng = random.Random(f"{phase}-{worker}")
            live: list[list[Any]] = []
            for i in paced(started, rate, seconds, threads, worker):
                if not live or rng.random() < 0.4:
                    sku = sku_of(1, skus, rng)
                    order_id = str(orders.place_order(f"customer-{worker}-{i % 100}", [(sku, 1, "9.90")]))
                    entry = [order_id, 1]
                    live.append(entry)
                    live[:] = live[-20:]
                else:
                    entry = rng.choice(live)
                    if entry[1] >= MAX_LINES:
                        continue
                    orders.add_line(entry[0], sku_of(entry[1] + 1, skus, rng), 1, Decimal("1.00"))
                    entry[1] += 1
                change = (entry[0], entry[1])
                at = time.time()
                committed[change] = at
                on_commit(change, at)
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


# --------------------------------------------------------------- the reactors


class Watched:
    """What the reactor must do for a change, and when it had: by mail arrival or by the outbox."""

    def __init__(self, reactor: str, url: str, smtp: SmtpProcess | None) -> None:
        self.reactor = reactor
        self.url = url
        self.smtp = smtp

    def key(self, change: Change) -> str | None:
        """The effect key a change leads to (None: the reactor does nothing for it)."""
        order_id, version = change
        if self.reactor == "notification" and version != 1:
            return None  # only Order.Placed mails (line edits change the reactor's state only)
        return f"{self.reactor}:{event_id_for(order_id, version)}:0"

    def done(self, keys: list[str]) -> dict[str, float]:
        """key -> when its effect was done (mail accepted, reservation committed), for those done."""
        if self.smtp is not None:
            with self.smtp.lock:
                arrived = dict(self.smtp.arrived)
            return {k: arrived[m] for k in keys if (m := message_id(k)) in arrived}
        outbox = read_outbox(self.url, self.reactor)
        return {k: at for k in keys if (o := outbox.get(k)) is not None and (at := o.dispatched) is not None}

    def wait(self, keys: list[str], patience: float) -> None:
        deadline = time.monotonic() + patience
        while len(self.done(keys)) < len(keys) and time.monotonic() < deadline:
            time.sleep(0.5 if self.smtp is None else 0.05)


def figures_of(load: Load, watched: Watched, poller: Poller | None) -> dict[str, Any]:
    """The phase's latencies: the reactor's effect, its two parts, and order_summary's."""
    keyed = {k: t for change, t in load.committed.items() if (k := watched.key(change)) is not None}
    done = watched.done(list(keyed))
    outbox = read_outbox(watched.url, watched.reactor)
    figures: dict[str, Any] = {
        "effect": percentiles([(done[k] - t) * 1000 for k, t in keyed.items() if k in done], len(keyed)),
        "recorded": percentiles([(outbox[k].created - t) * 1000 for k, t in keyed.items() if k in outbox], len(keyed)),
        "recorded_to_done": percentiles(
            [(done[k] - outbox[k].created) * 1000 for k in keyed if k in done and k in outbox], len(keyed)
        ),
    }
    if poller is not None:
        visible = poller.visible
        figures["order_summary"] = percentiles(
            [(visible[c] - t) * 1000 for c, t in load.committed.items() if c in visible], len(load.committed)
        )
    return figures


def measure(settings: Settings, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    env.update(
        ORDERS_EVENT_STORE_URL=settings.event_store_url,
        ORDERS_READ_MODEL_URL=settings.read_model_url,
        ORDERS_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        ORDERS_TOPIC=settings.topic,
    )
    migrate(settings)
    orders = open_orders(settings)  # creates the event store's tables before the relay starts
    smtp = SmtpProcess() if args.reactor == "notification" else None
    if smtp is not None:
        env["ORDERS_SMTP_URL"] = smtp.url
    if args.reactor == "inventory":
        inventory = open_inventory(settings)
        started = time.perf_counter()
        skus = catalogue(args.skus)
        for sku in skus:
            inventory.restock(sku, RESTOCK)
        inventory.close()
        print(f"restocked {len(skus)} SKUs with {RESTOCK:,} units each in {time.perf_counter() - started:.1f}s")
    logs = {name: open(workdir / f"reactor-live-{name}.log", "wb") for name in ("relay", "runner", "reactor")}  # noqa: SIM115
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(name: str, *command: str) -> subprocess.Popen[bytes]:
        procs[name] = subprocess.Popen([ORDERS_CLI, *command], env=env, stdout=logs[name], stderr=logs[name], cwd=ROOT)
        return procs[name]

    poller = Poller(settings.read_model_url) if args.projection and args.poll else None
    watched = Watched(args.reactor, settings.read_model_url, smtp)
    phases: dict[str, Any] = {}
    try:
        relay = spawn("relay", "relay", "run")
        try:  # the relay creates it
            wait_for_new_topic(settings.kafka_bootstrap, settings.topic, timeout=60, creator=relay)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; the relay's log: {logs['relay'].name}") from None
        if args.projection:
            spawn("runner", "projections", "run", "order_summary")
        if poller is not None:
            poller.start()
        spawn("reactor", "reactors", "run", args.reactor)
        # A new reactor starts at the head: wait until it has, so that the first order is after its start.
        wait_for(
            lambda: reactor_started(settings.read_model_url, args.reactor), 60, f"the {args.reactor} reactor's start"
        )
        # The reactor (and the runner) joined their groups, and the reactor delivers.
        first = (str(orders.place_order("customer-first", [(sku_of(1, args.skus, random.Random(0)), 1, "9.90")])), 1)
        if poller is not None:
            poller.expect(*first)
            wait_for(lambda: first in poller.visible, 90, "the first order in order_summary")
        first_key = watched.key(first)
        assert first_key is not None
        wait_for(lambda: bool(watched.done([first_key])), 90, f"the first order's {args.reactor} effect")

        def on_commit(change: Change, at: float) -> None:
            if poller is not None:
                poller.expect(*change)

        for phase, seconds in (("warm-up", args.warm_up), ("measured", args.seconds)):
            if seconds <= 0:
                continue
            if poller is not None:
                poller.visible.clear()
            load_before = loadavg()
            cpu_before = cpu_by_process()
            load = issue_commands(orders, on_commit, args.rate, seconds, args.threads, phase, args.skus)
            issued = time.perf_counter()
            ours = {p.pid: name for name, p in procs.items()} | {os.getpid(): "bench"}
            if smtp is not None:
                ours[smtp.process.pid] = "smtp server"
            cpu = cpu_used(cpu_before, ours, load.seconds)
            keys = [k for c in load.committed if (k := watched.key(c)) is not None]
            watched.wait(keys, args.patience)
            if poller is not None:
                try:
                    wait_for(lambda: poller.outstanding() == 0, 60, "every change in order_summary")
                except RuntimeError:
                    pass  # reported as missing
            phases[phase] = {
                **figures_of(load, watched, poller),
                "achieved_rate": round(len(load.committed) / load.seconds, 1),
                "drained_after_s": round(time.perf_counter() - issued, 1),
                "loadavg_before": load_before,
                "loadavg_after": loadavg(),
                "cores_used": cpu,
            }
            if poller is not None:
                with poller.lock:
                    poller.awaited.clear()
        pending = count_pending(settings.read_model_url, args.reactor)
    finally:
        if poller is not None:
            poller.stop.set()
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(90)
        orders.close()
        if smtp is not None:
            smtp.close()
    return {
        **phases,
        "pending_at_end": pending,
        "mails_accepted": smtp.accepted if smtp is not None else None,
        "polls": poller.polls if poller is not None else None,
        "exits": {name: proc.returncode for name, proc in procs.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reactor", choices=("notification", "inventory"))
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--warm-up", type=float, default=15, help="seconds of the same load first (0: none)")
    parser.add_argument("--skus", type=int, default=1, help="SKUs each line is drawn from (1: live_latency's)")
    parser.add_argument(
        "--no-projection",
        dest="projection",
        action="store_false",
        help="without the order_summary runner and its poller",
    )
    parser.add_argument(
        "--no-poller", dest="poll", action="store_false", help="run the order_summary runner, but do not poll it"
    )
    parser.add_argument("--patience", type=float, default=120, help="seconds to wait for a phase's effects")
    parser.add_argument("--smtp-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smtp_server:
        smtp_server_main(args.smtp_server)
        return
    if args.reactor is None:
        parser.error("--reactor is required")

    admin = pg_admin_url()
    bootstrap = kafka_bootstrap()
    workdir = ROOT / "var" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {machine()}; load average {loadavg()}")
    store = fresh_database(admin, "orderstream_bench_reactor_events")
    read_models = fresh_database(admin, "orderstream_bench_reactor_views")
    topic = f"bench.reactor.{uuid.uuid4().hex[:8]}"
    try:
        settings = Settings(event_store_url=store, read_model_url=read_models, kafka_bootstrap=bootstrap, topic=topic)
        figures = measure(settings, args, workdir)
    finally:
        drop_database(admin, store)
        drop_database(admin, read_models)
        try:
            asyncio.run(delete_topics(bootstrap, [topic]))
        except Exception as e:  # noqa: BLE001 - the topic may not exist if the relay never started
            print(f"note: topic {topic} not deleted: {e}")
    what = {"notification": "mail accepted by the SMTP server", "inventory": "reservation committed"}[args.reactor]
    for phase in ("warm-up", "measured"):
        f = figures.get(phase)
        if not f:
            continue
        note = " (same load, not the figure)" if phase == "warm-up" else ""
        print(
            f"{phase}{note}: {f['achieved_rate']}/s achieved, effects drained {f['drained_after_s']} s "
            f"after the load; load {f['loadavg_before']} -> {f['loadavg_after']}"
        )
        print(f"  command -> {what}: {shown(f['effect'])}")
        print(f"    command -> effect recorded by the reactor: {shown(f['recorded'])}")
        print(f"    recorded -> {what}: {shown(f['recorded_to_done'])}")
        if "order_summary" in f:
            print(f"  command -> visible in order_summary: {shown(f['order_summary'])}")
        print(f"  cores used during the load: {f['cores_used']}")
    print(f"pending effects at the end: {figures['pending_at_end']}; exits {figures['exits']}")
    print(json.dumps({"reactor": args.reactor, "rate": args.rate, "skus": args.skus, **figures}))


if __name__ == "__main__":
    main()
