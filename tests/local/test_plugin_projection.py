"""A projection from outside the package, added to a system that already has a history.

The plugin (tests/plugins/orders_per_channel) is registered only by
configuration (``ORDERS_PROJECTIONS``), brings its own Alembic revision, and
catches up from offset zero: nothing in domain/, the relay or the built-in
projections changes for it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from adapters.cli.demo_day import simulate_day
from adapters.config import Settings
from adapters.eventstore.wiring import open_orders
from adapters.registry import discover
from adapters.runner.live import run_until_caught_up
from adapters.runner.status import status
from adapters.sql.engines import create_read_model_engine
from domain.application import Orders
from projections import BUILT_IN
from tests.plugins.orders_per_channel import OrdersPerChannel
from tests.systems import migrate, system_for

PLUGIN = "tests.plugins.orders_per_channel:OrdersPerChannel"


@pytest.fixture
def base_settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        event_store_url=f"sqlite:///{tmp_path}/events.db",
        read_model_url=f"sqlite:///{tmp_path}/read_models.db",
    )


@pytest.fixture
def with_plugin(base_settings: Settings) -> Settings:
    return Settings.from_env(
        {"ORDERS_PROJECTIONS": PLUGIN},
        event_store_url=base_settings.event_store_url,
        read_model_url=base_settings.read_model_url,
    )


@pytest.fixture
def orders(base_settings: Settings) -> Orders:
    return open_orders(base_settings)


@pytest.fixture
def history(orders: Orders, base_settings: Settings) -> Counter[str]:
    """A day already in the event store and in the built-in read models; orders per channel."""
    day = simulate_day(orders, n_orders=30, n_customers=6, seed=5)
    migrate(base_settings)
    run_until_caught_up(system_for(base_settings, orders))
    return Counter(orders.get_order(order_id).channel for order_id in day.order_ids)


@pytest.fixture
def engine(base_settings: Settings):
    engine = create_read_model_engine(base_settings.read_model_url)
    yield engine
    engine.dispose()


def channel_counts(engine: Engine) -> dict[str, int]:
    table = OrdersPerChannel.channels
    with engine.connect() as conn:
        return {row.channel: row.orders for row in conn.execute(select(table))}


def built_in_rows(engine: Engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(select(table).order_by(*table.primary_key.columns))]
            for projection in BUILT_IN
            for table in projection.tables()
        }


def test_a_projection_named_in_orders_projections_is_discovered(with_plugin: Settings) -> None:
    assert discover(with_plugin) == [*BUILT_IN, OrdersPerChannel]


def test_upgrading_applies_the_plugins_own_revision(history, with_plugin: Settings) -> None:
    assert "orders_per_channel_0001" in migrate(with_plugin)


def test_the_plugin_catches_up_from_offset_zero_on_an_existing_history(
    history: Counter[str], with_plugin: Settings, orders: Orders, engine: Engine
) -> None:
    migrate(with_plugin)
    [before] = status(system_for(with_plugin, orders), [OrdersPerChannel])
    run_until_caught_up(system_for(with_plugin, orders), [OrdersPerChannel])
    assert (before.state, before.lag > 0, channel_counts(engine)) == ("new", True, dict(history))


def test_running_every_projection_with_the_plugin_leaves_the_built_in_read_models_as_they_were(
    history, with_plugin: Settings, orders: Orders, engine: Engine
) -> None:
    before = built_in_rows(engine)
    migrate(with_plugin)
    run_until_caught_up(system_for(with_plugin, orders))
    assert built_in_rows(engine) == before


def test_the_plugin_keeps_up_with_orders_placed_after_it_caught_up(
    history: Counter[str], with_plugin: Settings, orders: Orders, engine: Engine
) -> None:
    migrate(with_plugin)
    run_until_caught_up(system_for(with_plugin, orders))
    orders.place_order("customer-late", [("BOOK-1", 1, "9.99")], "EUR", "phone")
    run_until_caught_up(system_for(with_plugin, orders))
    assert channel_counts(engine) == dict(history + Counter({"phone": 1}))
