"""Running reactors: where a new one starts, consuming and dispatching together, replaying one.

A reactor consumes like a projection (the same loops, checkpoints, dead
letters, halts, ``retry`` and ``skip``), its effects recorded with its rows;
a dispatcher delivers them meanwhile. A new reactor starts at the head of
the log: history is not its business. Started ``from_beginning`` it reads
the whole log, its effects of history recorded suppressed (never delivered)
unless ``send_history``. Replaying one rebuilds its state from offset zero;
an effect already recorded (dispatched or not) is never recorded again, and
effects of events older than its start stay suppressed: a replay sends
nothing that was sent, nor anything from before the reactor started.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.bootstrap import System
from adapters.config import ConfigurationError
from adapters.reactors.dispatcher import Deliverer, Dispatcher, DispatchStats
from adapters.runner.halts import prepare
from adapters.runner.live import run
from adapters.runner.rebuilding import rebuild
from adapters.runner.stats import ProgressCallback, RunStats
from adapters.runner.worker import BATCH_SIZE
from adapters.sql.rows import live_tables
from adapters.sql.store import ProjectionStore
from reactors.contract import Reactor

log = logging.getLogger(__name__)

DRAIN_PATIENCE = 30.0  # seconds --until-caught-up waits for effects due later (a retry's backoff)


@dataclass
class ReactorRun:
    """What a run of reactors did: consumed (as a projection run) and delivered."""

    consumed: RunStats
    delivered: DispatchStats
    pending: int = 0  # effects still to deliver when the run ended
    started: list[str] = field(default_factory=list)  # reactors started by this run


def end_offsets(system: System) -> dict[int, int]:
    """The source's end offsets now: where a reactor starting at the head starts."""
    if system.uses_kafka:
        return asyncio.run(system.kafka_source.end_offsets())
    return system.embedded_source.end_offsets()


def start(system: System, reactor: type[Reactor], *, from_beginning: bool = False, send_history: bool = False) -> bool:
    """A reactor's first start (False if it started before): at the head, or from the beginning.

    ``from_beginning``: it reads the whole log; its effects of events before
    the head (as it is now) are suppressed, unless ``send_history``.
    """
    if send_history and not from_beginning:
        raise ConfigurationError("--send-history needs --from-beginning (a reactor at the head has no history)")
    store = ProjectionStore(system.read_models, live_tables(reactor))
    if store.read_live_from() is not None:
        if from_beginning:
            raise ConfigurationError(
                f"reactor {reactor.name} has started before; `orders reactors replay {reactor.name}` "
                "rebuilds its state from the beginning (sending nothing again)"
            )
        return False
    prepare(system.read_models, reactor)
    head = end_offsets(system)
    checkpoints = {} if from_beginning else head
    live_from = {p: 0 for p in head} if send_history else head
    started = store.start_reactor(checkpoints, live_from)
    if started:
        where = "the beginning" if from_beginning else f"the head ({head})"
        sent = "sending history's effects" if send_history else "suppressing history's effects"
        log.info("reactor %s started from %s, %s", reactor.name, where, sent)
    return started


def run_reactors(
    system: System,
    deliver: Deliverer,
    reactors: Sequence[type[Reactor]] | None = None,
    *,
    until_caught_up: bool = False,
    stop: threading.Event | None = None,
    from_beginning: bool = False,
    send_history: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: ProgressCallback | None = None,
    patience: float = DRAIN_PATIENCE,
) -> ReactorRun:
    """Start (if new), consume and dispatch ``reactors`` (all found by default).

    Continuous until ``stop``; with ``until_caught_up``, until every event
    that exists now is consumed and its effects delivered (waiting up to
    ``patience`` seconds for effects whose delivery is being retried).
    """
    chosen = system.reactors if reactors is None else list(reactors)
    started = [r.name for r in chosen if start(system, r, from_beginning=from_beginning, send_history=send_history)]
    dispatcher = Dispatcher(system.read_models, deliver, reactors=[r.name for r in chosen])
    stop = stop or threading.Event()
    dispatching = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(dispatching,), name="effects-dispatcher", daemon=True)
    thread.start()
    try:
        consumed = run(
            system, chosen, until_caught_up=until_caught_up, stop=stop, batch_size=batch_size, progress=progress
        )
    finally:
        dispatching.set()
        thread.join()
    pending = dispatcher.drain(patience, stop) if until_caught_up and not stop.is_set() else dispatcher.pending()
    return ReactorRun(consumed, dispatcher.stats, pending, started)


def replay(system: System, reactor: type[Reactor], progress: ProgressCallback | None = None) -> RunStats:
    """Rebuild ``reactor``'s state from offset zero; nothing already recorded, nor older than its start, is sent."""
    start(system, reactor)  # a reactor never started starts at the head first: its history stays suppressed
    return rebuild(system, reactor, progress)
