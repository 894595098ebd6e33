"""The start of a live batch (``adapters.sql.store.open_batch``): lock, blocked orders, rows read ahead.

A contract on every read-model database: run here on SQLite, and on
PostgreSQL (where the statements go in one pipeline) by tests/integration/contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table
from sqlalchemy.engine import Engine

from adapters.config import Settings
from adapters.sql import schema
from adapters.sql.dead_letters import blocked_orders, record_dead_letters
from adapters.sql.engines import create_read_model_engine
from adapters.sql.rows import SqlRows, live_tables
from adapters.sql.statements import lock
from adapters.sql.store import open_batch
from projections.apply import DeadLetter, Message
from projections.order_summary import OrderSummary
from tests.local.read_model_rows import load
from tests.systems import migrate
from tests.unit.projections.stories import OrderStory

TABLES = live_tables(OrderSummary)


class ReadAheadOnly(SqlRows):
    """Rows that fail a test if any row is read one by one after the batch opened."""

    def load(self, table: Table, key: tuple[Any, ...]) -> dict[str, Any] | None:
        raise AssertionError(f"{table.name} {key} was not read ahead")


@pytest.fixture
def engine(backend_settings: Settings) -> Iterator[Engine]:
    migrate(backend_settings, [OrderSummary])
    engine = create_read_model_engine(backend_settings.read_model_url, writer=True)
    yield engine
    engine.dispose()


def park(engine: Engine, story: OrderStory) -> None:
    """A dead letter for the story's last event, unresolved: its order is blocked."""
    event = story.records[-1]
    letter = DeadLetter(Message(partition=0, offset=7, event=event), "boom", "dead")
    with engine.begin() as conn:
        record_dead_letters(conn, OrderSummary.name, schema.Target.LIVE, [letter])


def test_opening_a_batch_reads_the_stored_rows_of_its_orders_ahead(engine):
    stored = OrderStory(customer_id="c-stored").add_line("SKU-2", 1, "5.00")
    with engine.connect() as conn:
        load(conn, stored)
    with engine.begin() as conn:
        rows = ReadAheadOnly(conn, TABLES)
        open_batch(rows, OrderSummary.name, schema.Target.LIVE, {stored.order_id})
        row = rows.get(OrderSummary.orders, stored.order_id)
    assert (row["customer_id"], row["line_count"]) == ("c-stored", 2)


def test_opening_a_batch_knows_that_a_new_order_has_no_row(engine):
    new = OrderStory(customer_id="c-new")
    with engine.begin() as conn:
        rows = ReadAheadOnly(conn, TABLES)
        open_batch(rows, OrderSummary.name, schema.Target.LIVE, {new.order_id})
        assert rows.get(OrderSummary.orders, new.order_id) is None


def test_opening_a_batch_returns_the_orders_blocked_by_dead_letters(engine):
    blocked = OrderStory(customer_id="c-blocked").add_line("SKU-2", 1, "5.00")
    park(engine, blocked)
    with engine.begin() as conn:
        found = open_batch(SqlRows(conn, TABLES), OrderSummary.name, schema.Target.LIVE, set())
    assert found == {blocked.order_id: 2}


def test_opening_a_batch_returns_what_the_statements_one_by_one_return(engine):
    stored, blocked = OrderStory(customer_id="c-1"), OrderStory(customer_id="c-2").pay()
    with engine.connect() as conn:
        load(conn, stored)
    park(engine, blocked)
    orders = {stored.order_id, blocked.order_id}
    with engine.begin() as conn:
        rows = SqlRows(conn, TABLES)
        opened = open_batch(rows, OrderSummary.name, schema.Target.LIVE, orders)
        read_ahead = {o: rows.get(OrderSummary.orders, o) for o in orders}
    with engine.begin() as conn:
        lock(conn, OrderSummary.name, schema.Target.LIVE)
        one_by_one = SqlRows(conn, TABLES)
        one_by_one.prefetch_keys(OrderSummary.orders, orders)
        expected = (
            blocked_orders(conn, OrderSummary.name, schema.Target.LIVE),
            {o: one_by_one.get(OrderSummary.orders, o) for o in orders},
        )
    assert (opened, read_ahead) == expected
