"""Reactor replay benchmark (issue 16): a reactor rebuilt from offset zero, its effects suppressed.

Needs the services (`scripts/services up`) for the Kafka path.

What it measures: events/s of ``adapters.reactors.run.replay`` (what
``orders reactors replay NAME`` runs: the reactor's state rebuilt from offset
zero into shadow tables and swapped in, every effect its handlers return
recorded in the effects outbox, as *suppressed* for events older than the
reactor's start) against events/s of the ``order_summary`` rebuild
(``adapters.runner.rebuild``, as in bench/rebuild.py) in the same run, on the
same events and the same path:

  sqlite  the cached 1,000,000-event SQLite store of bench/rebuild.py
          (``var/bench/rebuild-events-1000000.db``) into a fresh SQLite read
          model, split over two processes by order;
  kafka   the cached topic ``bench.rebuild.1m`` of bench/rebuild.py into a
          fresh PostgreSQL database, the partitions split over two processes.

Every measured item runs in a fresh child process on a fresh read-model
database (migrated, ``orders db upgrade``). For a reactor the child first
starts it (``adapters.reactors.run.start``: at the head of the log, so all of
history is before its start and every effect of the replay is recorded
suppressed), then times ``replay``. Events/s = events replayed / the wall
time of the ``rebuild``/``replay`` call (the child's imports and the
database's migration are outside it). Within a round the items alternate
(order_summary, notification, inventory; the next round the other way
round: A B C, C B A, ...); the ratio of each reactor to order_summary is
taken per round. Afterwards the script counts the effects recorded per status
(all must be suppressed: a replay sends nothing) and the reactor's state rows.
Peak RSS (``VmHWM``) of the replaying process and of its worker process.

    .venv/bin/python bench/reactor_replay.py [--only sqlite|kafka] [--rounds 2]
        [--reactors notification,inventory] [--events 1000000] [--profile]

The cached events are made by bench/rebuild.py if absent (minutes).
``--profile`` cProfiles the replaying process (main thread and apply threads),
saved under var/bench/; its figures are then not the result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ROOT,
    drop_database,
    fresh_database,
    kafka_bootstrap,
    loadavg,
    machine,
    migrate,
    pg_admin_url,
)
from rebuild import (  # noqa: E402
    BATCH,
    _memory,
    _profile_worker_threads,
    ensure_kafka_events,
    ensure_sqlite_events,
    rss_mb,
)

SUMMARY = "order_summary"
REACTORS = ("notification", "inventory")


# ------------------------------------------------------------- the child


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh interpreter: one rebuild or one reactor replay, its figures and peak RSS."""
    import cProfile
    import io
    import pstats

    from adapters import runner
    from adapters.bootstrap import open_system
    from adapters.config import Settings
    from adapters.reactors.run import replay, start
    from projections.order_summary import OrderSummary

    profiles: list[cProfile.Profile] = []
    with open_system(Settings(**spec["settings"])) as system:
        if spec["what"] == SUMMARY:
            consumer: Any = OrderSummary
        else:
            consumer = next(r for r in system.reactors if r.name == spec["what"])
            # Started at the head: everything the replay reads is history, its effects suppressed.
            assert start(system, consumer), f"{consumer.name} had started before in a fresh database"
        if spec.get("profile"):
            _profile_worker_threads(profiles)
            profiles.insert(0, cProfile.Profile())
            profiles[0].enable()
        started = time.perf_counter()
        if spec["what"] == SUMMARY:
            stats = runner.rebuild(system, consumer, batch_size=spec["batch"])
        else:
            stats = replay(system, consumer)
        seconds = time.perf_counter() - started
    if profiles:
        profiles[0].disable()
        for name, profile in zip(("main", "apply"), profiles, strict=True):
            if not profile.getstats():
                continue
            out = io.StringIO()
            path = ROOT / "var" / "bench" / f"reactor-replay-{spec['label']}-{name}.prof"
            pstats.Stats(profile, stream=out).dump_stats(path)
            pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(25)
            print(f"--- profile, {name} thread(s) of {spec['label']} (own time; saved to {path}) ---")
            print(out.getvalue())
    peak = rss_mb()
    workers = stats.worker_peak_rss_mb
    return {
        "events": stats.events,
        "seconds": seconds,
        "rate": stats.events / seconds,
        "processes": stats.processes,
        "peak_rss_mb": peak,
        "worker_peak_rss_mb": workers,
        "total_peak_rss_mb": peak + sum(workers),
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{spec['label']} failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    lines = out.stdout.splitlines()
    for line in lines:
        if not line.startswith("RESULT "):
            print(line)
    return json.loads(next(line for line in reversed(lines) if line.startswith("RESULT "))[7:])


# ------------------------------------------------------ what was recorded


def recorded(url: str, what: str) -> dict[str, Any]:
    """The effects the run recorded, per status, and the consumer's state rows (from its read-model database)."""
    from sqlalchemy import create_engine, func, select

    from adapters.sql.schema import reactor_effects
    from projections.order_summary import OrderSummary
    from reactors import BUILT_IN

    consumer = OrderSummary if what == SUMMARY else next(r for r in BUILT_IN if r.name == what)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = sum(
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in consumer.tables()
                if t is not consumer.versions
            )
            if what == SUMMARY:
                return {"state_rows": rows}
            e = reactor_effects.c
            counts = {
                str(status): int(n)
                for status, n in conn.execute(
                    select(e.status, func.count()).where(e.reactor == what).group_by(e.status)
                )
            }
            return {"effects": counts, "state_rows": rows}
    finally:
        engine.dispose()


# ----------------------------------------------------------------- rounds


def measure(label: str, what: str, settings: dict[str, Any], url: str, profile: bool) -> dict[str, Any]:
    from adapters.config import Settings

    migrate(Settings(**settings))
    load = loadavg()
    spec = {"what": what, "label": f"{label}-{what}", "batch": BATCH, "settings": settings, "profile": profile}
    f = {**run_child(spec), **recorded(url, what), "loadavg": load}
    effects = f.get("effects")
    shown = "" if effects is None else f", effects recorded {sum(effects.values()):,} {effects}"
    print(
        f"  {what:13}: {f['events']:,} events in {f['seconds']:.1f}s = {f['rate']:,.0f} events/s "
        f"({f['processes']} processes), peak RSS {_memory(f)}, state rows {f['state_rows']:,}{shown} (load {load})",
        flush=True,
    )
    return f


def rounds_of(args: argparse.Namespace, label: str, settings_for: Any, report: dict[str, Any]) -> None:
    items = [SUMMARY, *args.reactors]
    rounds = []
    for r in range(args.rounds):
        order = items if r % 2 == 0 else list(reversed(items))
        print(f"{label} round {r + 1}: {' -> '.join(order)}", flush=True)
        figures: dict[str, Any] = {}
        for what in order:
            with settings_for() as (settings, url):
                figures[what] = measure(label, what, settings, url, args.profile and what != SUMMARY)
        for reactor in args.reactors:
            figures[f"{reactor}_ratio"] = figures[reactor]["rate"] / figures[SUMMARY]["rate"]
        print(
            f"{label} round {r + 1}: "
            + ", ".join(f"{x} / {SUMMARY} = {figures[f'{x}_ratio']:.2f}" for x in args.reactors),
            flush=True,
        )
        rounds.append(figures)
    summary = {what: statistics.median(f[what]["rate"] for f in rounds) for what in items} | {
        f"{x}_ratio": statistics.median(f[f"{x}_ratio"] for f in rounds) for x in args.reactors
    }
    print(
        f"{label}: medians "
        + ", ".join(f"{k} {v:,.2f}" if "ratio" in k else f"{k} {v:,.0f} events/s" for k, v in summary.items())
    )
    report[label] = {"rounds": rounds, "medians": summary}


class _SqliteScratch:
    def __init__(self, store: Path) -> None:
        self.store = store

    def __enter__(self) -> tuple[dict[str, Any], str]:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-reactor-replay-", dir=ROOT / "var" / "bench"))
        url = f"sqlite:///{self.dir / 'read_models.db'}"
        return {"event_store_url": f"sqlite:///{self.store}", "read_model_url": url}, url

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class _PostgresScratch:
    def __init__(self, admin: str, bootstrap: str, topic: str, keep: bool) -> None:
        self.admin, self.bootstrap, self.topic, self.keep = admin, bootstrap, topic, keep

    def __enter__(self) -> tuple[dict[str, Any], str]:
        self.url = fresh_database(self.admin, "orderstream_bench_reactor_replay")
        return {"read_model_url": self.url, "kafka_bootstrap": self.bootstrap, "topic": self.topic}, self.url

    def __exit__(self, *exc: object) -> None:
        if self.keep:
            print(f"  kept {self.url}")
        else:
            drop_database(self.admin, self.url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("kafka", "sqlite"))
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the cached store and topic")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reactors", default=",".join(REACTORS), help="comma-separated reactor names")
    parser.add_argument("--profile", action="store_true", help="cProfile the reactor replays (figures then void)")
    parser.add_argument("--keep-db", action="store_true", help="keep the Kafka path's PostgreSQL databases")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(json.loads(args.child))
        print("RESULT " + json.dumps(result), flush=True)
        return
    args.reactors = [r for r in args.reactors.split(",") if r]

    print(f"{time.strftime('%Y-%m-%d %H:%M')} {machine()}; load average {loadavg()}")
    report: dict[str, Any] = {"events": args.events}
    if args.only in (None, "sqlite"):
        store = ensure_sqlite_events(args.events)
        rounds_of(args, "sqlite", lambda: _SqliteScratch(store), report)
    if args.only in (None, "kafka"):
        bootstrap = kafka_bootstrap()
        topic = ensure_kafka_events(bootstrap, args.events)
        admin = pg_admin_url()
        rounds_of(args, "kafka", lambda: _PostgresScratch(admin, bootstrap, topic, args.keep_db), report)
    print(f"load average at the end: {loadavg()}")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
