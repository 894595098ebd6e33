"""Projection rebuild benchmarks (issue 5): order_summary from offset zero.

Needs the services (`scripts/services up`) for the Kafka mode.

  kafka   Rebuild of ``order_summary`` from 1,000,000 events on Kafka into a
          fresh PostgreSQL database (``adapters.runner.rebuild``,
          what ``orders projections rebuild order_summary`` calls), in a fresh
          child process whose peak RSS is reported. In the same run, the *bare
          pipeline*, also in its own child: aiokafka consume of the same topic
          (same consumer settings and batch size) + ``orjson.loads`` + a
          hand-written fold into the same order_summary rows + one ``unnest``
          upsert per batch, committed per batch; no dedupe, no versions, no
          checkpoints, no lock, no pipelining. Afterwards the bare table is
          checked equal, row for row, to the rebuilt one. The two alternate
          (A B, then B A, ...) over ``--rounds``.
  sqlite  Rebuild of ``order_summary`` from a SQLite event store with
          ``--sqlite-events`` events into a fresh SQLite read model (embedded
          source), in a child process.

Events are built in memory through the ``Order`` aggregate's commands (about
5.7 events per order), not through the domain API, and interleaved as in a
real day: 20,000 orders in progress at a time, so one order's history is
spread over ~110,000 events of the stream and a batch of 5,000 events touches
~4,400 different orders (``bench/common.py``: ``interleaved_events``).
Both are cached between runs, because making them takes minutes:

  * the topic ``bench.rebuild.1m`` (reused when it holds exactly ``--events``
    messages; delete it with ``--drop-cache``);
  * the SQLite store ``var/bench/rebuild-events-<N>.db``.

    .venv/bin/python bench/rebuild.py [--only kafka|sqlite] [--events 1000000]
        [--sqlite-events 1000000] [--rounds 2] [--profile] [--drop-cache]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    delete_topics,
    drop_database,
    fresh_database,
    interleaved_events,
    kafka_bootstrap,
    loadavg,
    machine,
    migrate,
    pg_admin_url,
    topic_size,
    wait_for_topic,
)

CACHED_TOPIC = "bench.rebuild.1m"  # for the default 1,000,000 events; bench.rebuild.<N> otherwise
BATCH = 5000  # the runner's default batch size; the bare pipeline uses the same
BARE_TABLE = "bench_bare_order_summary"
SAVE_CHUNK = 400  # events per orders.save(): about 390 orders each


def rss_mb() -> float:
    """This process's peak resident set size (VmHWM), in MB.

    Not ``getrusage().ru_maxrss``: Linux carries that across ``execve`` from
    the forking parent, so a child would report at least its parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------ the events


def produce_topic(bootstrap: str, topic: str, events: int) -> None:
    """``events`` envelope messages of realistic order histories, key = order id, 6 partitions."""
    from aiokafka import AIOKafkaProducer

    from adapters.kafka.envelope import encode
    from adapters.kafka.partitioner import KeyPartitioner
    from adapters.kafka.topics import ensure_topic
    from domain.records import record_of

    async def main() -> None:
        await ensure_topic(bootstrap, topic, 6)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all",
            linger_ms=5, max_batch_size=512 * 1024,
        )
        await producer.start()
        try:
            partitioner = KeyPartitioner(await wait_for_topic(producer, topic))
            builders: dict[int, Any] = {}
            futures: list[Any] = []
            position = 0
            started = time.perf_counter()
            for _order, e in interleaved_events(events):
                position += 1
                m = encode(record_of(e), position)
                p = partitioner(m.key)
                b = builders.get(p)
                if b is None or b.append(timestamp=None, key=m.key, value=m.value, headers=m.headers) is None:
                    if b is not None:
                        futures.append(await producer.send_batch(b, topic, partition=p))
                        if len(futures) > 64:
                            await asyncio.gather(*futures)
                            futures.clear()
                    b = builders[p] = producer.create_batch()
                    b.append(timestamp=None, key=m.key, value=m.value, headers=m.headers)
                if position % 100_000 == 0:
                    print(f"  produced {position:,} events ({time.perf_counter() - started:.0f}s)", flush=True)
            for p, b in builders.items():
                futures.append(await producer.send_batch(b, topic, partition=p))
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(main())


def cached_topic(events: int) -> str:
    return CACHED_TOPIC if events == 1_000_000 else f"bench.rebuild.{events}"


def ensure_kafka_events(bootstrap: str, events: int) -> str:
    topic = cached_topic(events)
    size = topic_size(bootstrap, topic)
    if size == events:
        print(f"topic {topic}: {size:,} messages (cached)")
        return topic
    if size is not None:
        print(f"topic {topic} holds {size:,} messages, not {events:,}: recreating it")
        asyncio.run(delete_topics(bootstrap, [topic]))
        time.sleep(2)
    started = time.perf_counter()
    produce_topic(bootstrap, topic, events)
    print(f"topic {topic}: produced {events:,} events in {time.perf_counter() - started:.0f}s")
    return topic


def sqlite_store_path(events: int) -> Path:
    return ROOT / "var" / "bench" / f"rebuild-events-{events}.db"


def ensure_sqlite_events(events: int) -> Path:
    from adapters.config import Settings
    from adapters.eventstore.wiring import open_orders

    path = sqlite_store_path(events)
    done = path.with_suffix(".complete")
    if path.exists() and done.exists():
        print(f"event store {path.relative_to(ROOT)}: {events:,} events (cached)")
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, done, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    orders = open_orders(Settings(event_store_url=f"sqlite:///{path}"))
    started = time.perf_counter()
    saved = 0
    chunk: dict[Any, tuple[Any, list[Any]]] = {}  # order id -> (order, its next events in version order)
    in_chunk = 0

    def save() -> None:
        # A few hundred orders per save, each with its next event(s): the log
        # interleaves orders as a real day does (see interleaved_events).
        for order, evs in chunk.values():
            order._pending_events = evs  # noqa: SLF001 - a bench shortcut: save a slice of a history
        orders.save(*(order for order, _ in chunk.values()))
        chunk.clear()

    try:
        for order, e in interleaved_events(events):
            chunk.setdefault(order.id, (order, []))[1].append(e)
            in_chunk += 1
            saved += 1
            if in_chunk == SAVE_CHUNK:
                save()
                in_chunk = 0
            if saved % 100_000 == 0:
                print(f"  saved {saved:,} events ({time.perf_counter() - started:.0f}s)", flush=True)
        if chunk:
            save()
        newest = orders.recorder.max_notification_id()
    finally:
        orders.close()
    done.write_text(str(newest))
    print(f"event store {path.relative_to(ROOT)}: saved {events:,} events in {time.perf_counter() - started:.0f}s")
    return path


# ------------------------------------------------------------- children


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh interpreter: one measured thing, its figures and peak RSS."""
    baseline = rss_mb()
    profiles: list[cProfile.Profile] = []
    if spec.get("profile"):
        _profile_worker_threads(profiles)
        main_profile = cProfile.Profile()
        profiles.insert(0, main_profile)
        main_profile.enable()
    started = time.perf_counter()
    if spec["what"] == "rebuild":
        from adapters import runner
        from adapters.bootstrap import open_system
        from adapters.config import Settings
        from projections.order_summary import OrderSummary

        with open_system(Settings(**spec["settings"])) as system:
            stats = runner.rebuild(system, OrderSummary, batch_size=spec["batch"])
        events = stats.events
        workers = stats.worker_peak_rss_mb
    else:
        events = asyncio.run(bare_pipeline(**spec["bare"]))
        workers = []
    seconds = time.perf_counter() - started
    if profiles:
        profiles[0].disable()
        for name, profile in zip(("main thread", "worker threads (apply)"), profiles, strict=True):
            if not profile.getstats():
                continue  # the embedded rebuild applies in the main thread
            out = io.StringIO()
            stats_ = pstats.Stats(profile, stream=out)
            path = ROOT / "var" / "bench" / f"rebuild-{spec['label']}-{name.split()[0]}.prof"
            stats_.dump_stats(path)
            stats_.sort_stats("tottime").print_stats(22)
            print(f"--- profile, {name} (by own time; saved to {path.relative_to(ROOT)}) ---")
            print(out.getvalue())
    peak = rss_mb()
    return {
        "events": events, "seconds": seconds, "rate": events / seconds, "peak_rss_mb": peak,
        "baseline_rss_mb": baseline, "worker_peak_rss_mb": workers,
        # Every process at its peak at once: an upper bound of the rebuild's memory.
        "total_peak_rss_mb": peak + sum(workers),
    }


def _memory(f: dict[str, Any]) -> str:
    workers = f.get("worker_peak_rss_mb") or []
    if not workers:
        return f"{f['peak_rss_mb']:.0f} MB"
    each = " + ".join(f"{w:.0f}" for w in workers)
    return f"{f['total_peak_rss_mb']:.0f} MB in all (parent {f['peak_rss_mb']:.0f} MB + workers {each} MB)"


def _profile_worker_threads(profiles: list[cProfile.Profile]) -> None:
    """cProfile sees only its own thread: also profile the rebuild's batch applies (run in threads)."""
    from adapters.runner.replay import ReplayWorker

    thread_profile = cProfile.Profile()
    profiles.append(thread_profile)
    process = ReplayWorker.process

    def profiled(self: Any, messages: Any) -> Any:
        if threading.current_thread() is threading.main_thread():
            return process(self, messages)  # the main thread's profiler sees it already
        thread_profile.enable()
        try:
            return process(self, messages)
        finally:
            thread_profile.disable()

    ReplayWorker.process = profiled  # type: ignore[method-assign]


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{spec['label']} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    lines = out.stdout.splitlines()
    for line in lines:
        if not line.startswith("RESULT "):
            print(line)
    return json.loads(next(line for line in reversed(lines) if line.startswith("RESULT "))[7:])


# -------------------------------------------------------- bare pipeline


async def bare_pipeline(bootstrap: str, topic: str, url: str, batch: int) -> int:
    """aiokafka consume + orjson decode + fold into order_summary rows + one unnest upsert per batch.

    The minimal hand-written pipeline: one loop, one connection, a commit per
    batch. Rows of orders already seen are read back first (one query per
    batch), as any correct pipeline must for an order whose history spans batches.
    """
    import orjson
    import psycopg
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
        max_poll_records=batch, fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    conn = psycopg.connect(url)
    columns = [
        "order_id", "customer_id", "channel", "currency", "status", "line_count", "total", "amount_paid",
        "refund_due", "placed_at", "confirmed_at", "paid_at", "shipped_at", "delivered_at", "cancelled_at", "lines",
    ]
    types = ["text", "text", "text", "text", "text", "int4", "int8", "int8", "int8"] + ["text"] * 7
    upsert = (
        f"INSERT INTO {BARE_TABLE} ({', '.join(columns)}) SELECT * FROM unnest("
        + ", ".join(f"%s::{t}[]" for t in types)
        + ") ON CONFLICT (order_id) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns[1:])
    )
    select = f"SELECT {', '.join(columns)} FROM {BARE_TABLE} WHERE order_id = ANY(%s)"
    steps = {
        "Order.Confirmed": ("confirmed", "confirmed_at"),
        "Order.Paid": ("paid", "paid_at"),
        "Order.Shipped": ("shipped", "shipped_at"),
        "Order.Delivered": ("delivered", "delivered_at"),
        "Order.Cancelled": ("cancelled", "cancelled_at"),
    }

    def thousandths(amount: str) -> int:
        return int(Decimal(amount).scaleb(3))

    def fold(rows: dict[str, list[Any]], lines: dict[str, dict[str, list[Any]]], e: dict[str, Any]) -> None:
        order, kind, data, at = e["aggregate_id"], e["event_type"], e["data"], e["occurred_at"]
        if len(at) != 32:  # the summary keeps fixed-width UTC text
            at = datetime.fromisoformat(at).astimezone(timezone.utc).isoformat(timespec="microseconds")
        if kind == "Order.Placed":
            ls = lines[order] = {ln["sku"]: [int(ln["quantity"]), ln["unit_price"]] for ln in data["lines"]}
            total = sum(thousandths(p) * q for q, p in ls.values())
            rows[order] = [order, data["customer_id"], data["channel"], data["currency"], "placed", len(ls), total,
                           None, None, at, None, None, None, None, None, None]
            return
        row = rows[order]
        if kind in steps:
            status, column = steps[kind]
            row[4] = status
            row[columns.index(column)] = at
            if kind == "Order.Paid":
                row[7] = thousandths(data["amount"])
            elif kind == "Order.Cancelled":
                row[8] = thousandths(data["refund_due"])
            return
        ls = lines.get(order)
        if ls is None:
            ls = lines[order] = orjson.loads(row[15])
        if kind == "Order.LineAdded":
            ls[data["sku"]] = [int(data["quantity"]), data["unit_price"]]
        elif kind == "Order.LineRemoved":
            del ls[data["sku"]]
        elif kind == "Order.QuantityChanged":
            ls[data["sku"]] = [int(data["quantity"]), ls.pop(data["sku"])[1]]  # moved last, as the projection does
        else:  # ShippingAddressSet: nothing on the summary
            return
        row[5] = len(ls)
        row[6] = sum(thousandths(p) * q for q, p in ls.values())

    consumed = 0
    try:
        await consumer.start()
        tps = [TopicPartition(topic, p) for p in await wait_for_topic(consumer, topic)]
        ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(tps)).items()}
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        pending = {tp.partition for tp in tps if ends[tp.partition] > 0}
        while pending:
            fetched = await consumer.getmany(timeout_ms=500, max_records=batch)
            events = []
            for tp, records in fetched.items():
                end = ends[tp.partition]
                for r in records:
                    if r.offset < end:
                        events.append(orjson.loads(r.value))
                if records and records[-1].offset + 1 >= end:
                    pending.discard(tp.partition)
            if not events:
                continue
            ids = list({e["aggregate_id"] for e in events})
            rows = {r[0]: list(r) for r in conn.execute(select, [ids])}
            lines: dict[str, dict[str, list[Any]]] = {}
            for e in events:
                fold(rows, lines, e)
            for order, ls in lines.items():
                rows[order][15] = orjson.dumps(ls).decode()
            conn.execute(upsert, [[row[i] for row in rows.values()] for i in range(len(columns))])
            conn.commit()
            consumed += len(events)
    finally:
        await consumer.stop()
        conn.close()
    return consumed


# ----------------------------------------------------------------- modes


def kafka_mode(args: argparse.Namespace, report: dict[str, Any]) -> None:
    import psycopg

    from adapters.config import Settings

    bootstrap = kafka_bootstrap()
    admin = pg_admin_url()
    topic = ensure_kafka_events(bootstrap, args.events)
    url = fresh_database(admin, "orderstream_bench_rebuild")
    try:
        settings = {"read_model_url": url, "kafka_bootstrap": bootstrap, "topic": topic}
        migrate(Settings(**settings))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {BARE_TABLE} (LIKE order_summary INCLUDING DEFAULTS, PRIMARY KEY (order_id))"
            )
        rounds = []
        for r in range(args.rounds):
            order = ("rebuild", "bare") if r % 2 == 0 else ("bare", "rebuild")
            figures: dict[str, Any] = {}
            for what in order:
                if what == "bare":  # (not before the rebuild: in B A order it would empty the bare table)
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.execute(f"TRUNCATE {BARE_TABLE}")
                spec = {
                    "what": what, "label": f"kafka-{what}", "batch": BATCH,
                    "profile": args.profile and what == "rebuild",
                    "settings": settings,
                    "bare": {"bootstrap": bootstrap, "topic": topic, "url": url, "batch": BATCH},
                }
                load = loadavg()
                figures[what] = {**run_child(spec), "loadavg": load}
                f = figures[what]
                print(
                    f"round {r + 1} {what:7}: {f['events']:,} events in {f['seconds']:.1f}s = "
                    f"{f['rate']:,.0f} events/s, peak RSS {_memory(f)} (load {load})",
                    flush=True,
                )
            figures["ratio"] = figures["rebuild"]["rate"] / figures["bare"]["rate"]
            figures["equal_rows"] = same_rows(url)
            print(
                f"round {r + 1}: rebuild / bare = {figures['ratio']:.2f}; "
                f"bare rows equal rebuilt rows: {figures['equal_rows']}"
            )
            rounds.append(figures)
        report["kafka"] = {"topic": topic, "events": args.events, "rounds": rounds}
    finally:
        if args.keep_db:
            print(f"kept the read-model database {url}")
        else:
            drop_database(admin, url)


def same_rows(url: str) -> bool:
    import psycopg

    with psycopg.connect(url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM order_summary").fetchone()
        (bare,) = conn.execute(f"SELECT count(*) FROM {BARE_TABLE}").fetchone()
        (diff,) = conn.execute(
            f"SELECT count(*) FROM (SELECT * FROM order_summary EXCEPT SELECT * FROM {BARE_TABLE}) d"
        ).fetchone()
    return count == bare and diff == 0


def sqlite_mode(args: argparse.Namespace, report: dict[str, Any]) -> None:
    from adapters.config import Settings

    store = ensure_sqlite_events(args.sqlite_events)
    rounds = []
    for r in range(args.rounds):
        scratch = Path(tempfile.mkdtemp(prefix="bench-rebuild-", dir=ROOT / "var" / "bench"))
        try:
            settings = {
                "event_store_url": f"sqlite:///{store}",
                "read_model_url": f"sqlite:///{scratch / 'read_models.db'}",
            }
            migrate(Settings(**settings))
            load = loadavg()
            spec = {
                "what": "rebuild",
                "label": "sqlite-rebuild",
                "batch": BATCH,
                "profile": args.profile,
                "settings": settings,
            }
            f = {**run_child(spec), "loadavg": load}
            print(
                f"round {r + 1} sqlite rebuild: {f['events']:,} events in {f['seconds']:.1f}s = "
                f"{f['rate']:,.0f} events/s, peak RSS {_memory(f)} (load {load})",
                flush=True,
            )
            rounds.append(f)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    report["sqlite"] = {"events": args.sqlite_events, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("kafka", "sqlite"))
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sqlite-events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the rebuild child (main thread and apply threads)"
    )
    parser.add_argument("--drop-cache", action="store_true", help="delete the cached topic and SQLite store, then exit")
    parser.add_argument(
        "--keep-db", action="store_true", help="keep the Kafka mode's PostgreSQL database (to inspect it)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        result = child(json.loads(args.child))
        print("RESULT " + json.dumps(result), flush=True)
        return
    if args.drop_cache:
        asyncio.run(delete_topics(kafka_bootstrap(), [cached_topic(args.events)]))
        for path in (ROOT / "var" / "bench").glob("rebuild-events-*"):
            path.unlink()
        print("dropped the cached topic and event stores")
        return
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {machine()}; load average {loadavg()}")
    report: dict[str, Any] = {}
    if args.only in (None, "kafka"):
        kafka_mode(args, report)
    if args.only in (None, "sqlite"):
        sqlite_mode(args, report)
    print(f"load average at the end: {loadavg()}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
