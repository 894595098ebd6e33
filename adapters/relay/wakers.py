"""What wakes the relay when the log may have grown: LISTEN/NOTIFY on PostgreSQL, polling on SQLite.

A waker only shortens waits: the relay reads everything after its position
whenever it wakes, so a lost or duplicate signal delays publishing at most by
the poll interval and never skips or repeats an event.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.config import PostgresLocation, Settings
from adapters.relay.retry import Backoff, sleep_unless
from domain.application import Orders

log = logging.getLogger(__name__)


class Waker(ABC):
    """Tells the relay when the log may have grown."""

    async def start(self) -> None:  # noqa: B027
        pass

    async def close(self) -> None:  # noqa: B027
        pass

    def arm(self) -> None:  # noqa: B027
        """Called before each read: a signal arriving after this wakes the next wait."""

    @abstractmethod
    async def wait(self, stop: asyncio.Event) -> None:
        """Return when new events may be there (or ``stop`` is set)."""


class PollingWaker(Waker):
    """SQLite has no LISTEN/NOTIFY: poll every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval

    async def wait(self, stop: asyncio.Event) -> None:
        await sleep_unless(stop, self.interval)


class PostgresListenWaker(Waker):
    """Woken by the NOTIFY the eventsourcing recorder issues in every insert.

    The recorder NOTIFYs its channel inside the inserting transaction, so the
    signal arrives at commit. A fallback poll (``fallback`` seconds) covers a
    lost LISTEN connection; the listener reconnects by itself.
    """

    def __init__(self, location: PostgresLocation, channel: str, fallback: float = 1.0) -> None:
        self._location = location
        self._channel = channel
        self._fallback = fallback
        self._signal = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="relay-listen")
        # Do not miss a commit between the first read and the first LISTEN.
        await asyncio.wait({self._task, asyncio.create_task(self._listening.wait())}, timeout=5,
                           return_when=asyncio.FIRST_COMPLETED)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def arm(self) -> None:
        self._signal.clear()

    async def wait(self, stop: asyncio.Event) -> None:
        waiters = {asyncio.create_task(self._signal.wait()), asyncio.create_task(stop.wait())}
        try:
            await asyncio.wait(waiters, timeout=self._fallback, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _listen(self) -> None:
        import psycopg
        from psycopg import sql

        attempt = 0
        pg = self._location
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname=pg.dbname,
                    autocommit=True, connect_timeout=10,
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self._listening.set()
                    self._signal.set()  # anything committed while we were not listening
                    attempt = 0
                    async for _ in conn.notifies():
                        self._signal.set()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - logged; the fallback poll keeps the relay going
                delay = Backoff().delay(attempt)
                attempt += 1
                log.warning(
                    "LISTEN on %s failed (%s: %s); polling every %.1fs, reconnecting in %.1fs",
                    self._channel, type(e).__name__, e, self._fallback, delay,
                )
                self._listening.set()
                await asyncio.sleep(delay)


def make_waker(settings: Settings, orders: Orders) -> Waker:
    if settings.event_store_kind == "postgres":
        recorder = orders.recorder
        assert isinstance(recorder, PostgresApplicationRecorder)  # a postgres URL wires eventsourcing.postgres
        return PostgresListenWaker(settings.postgres, recorder.channel_name)
    return PollingWaker(settings.relay_poll_interval)

