"""Relays (and `relay status`) starting at the same moment on a fresh PostgreSQL store all get the checkpoint table."""

from __future__ import annotations

import threading
from collections.abc import Callable

from adapters.config import Settings
from adapters.relay.positions import open_checkpoints
from tests.integration.conftest import PgDatabase

STARTING_AT_ONCE = 6


def test_checkpoint_stores_opened_together_on_a_fresh_store_all_create_or_find_the_table(
    make_pg_database: Callable[[], PgDatabase],
):
    for _ in range(3):  # a race: a few fresh databases
        settings = Settings(event_store_url=make_pg_database().url)
        start = threading.Barrier(STARTING_AT_ONCE)
        failures: list[BaseException] = []
        loaded: list[int] = []
        threads = [
            threading.Thread(target=open_and_load, args=(settings, start, loaded, failures))
            for _ in range(STARTING_AT_ONCE)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == [] and loaded == [0] * STARTING_AT_ONCE


def open_and_load(
    settings: Settings, start: threading.Barrier, loaded: list[int], failures: list[BaseException]
) -> None:
    """One of the relays starting at once: open the checkpoint store, then load a position from it."""
    store = open_checkpoints(settings)
    start.wait()
    try:
        loaded.append(store.load("orders.events"))
    except BaseException as e:  # noqa: BLE001 - collected and asserted below
        failures.append(e)
    finally:
        store.close()
