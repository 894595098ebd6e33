"""``orders views``: the read models on the command line, on a SQLite read-model file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from adapters.cli import main
from adapters.config import Settings
from tests.local.read_model_rows import load, placed_at
from tests.systems import migrate
from tests.unit.projections.stories import OrderStory

pytestmark = pytest.mark.usefixtures("no_orders_environment")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "read_models.db"


@pytest.fixture
def stories(db: Path) -> dict[str, OrderStory]:
    """A migrated read model holding three customers, two currencies, every outcome."""
    stories = {
        "delivered": placed_at(OrderStory(customer_id="alice", lines=(("BOOK-1", 2, "12.50"),)).pay().ship().deliver(),
                               "2026-05-01T09:00:00+00:00"),
        "paid": OrderStory(customer_id="alice", lines=(("MUG-7", 1, "8.00"), ("BOOK-1", 1, "12.50"))).pay(),
        "usd": OrderStory(customer_id="bob", currency="USD", lines=(("LAMP-3", 1, "40.00"),)).pay(),
        "cancelled": OrderStory(customer_id="carol", lines=(("MUG-7", 4, "8.00"),)).cancel(),
        "placed": OrderStory(customer_id="carol", lines=(("PEN-2", 10, "1.00"),)),
    }
    migrate(Settings(read_model_url=f"sqlite:///{db}"))
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        load(conn, *stories.values())
    engine.dispose()
    return stories


@pytest.fixture
def cli(db: Path, capsys):
    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--read-models", f"sqlite:///{db}", "views", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def assert_one_error_line(err: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err


def test_views_order_shows_the_order_summary(cli, stories) -> None:
    code, out, _ = cli("order", stories["paid"].order_id)
    assert code == 0
    assert "paid" in out and "alice" in out and "20.50 EUR" in out


def test_views_order_json_has_exact_money_and_times(cli, stories) -> None:
    code, out, _ = cli("order", stories["delivered"].order_id, "--json")
    data = json.loads(out)
    assert (code, data["status"], data["total"], data["placed_at"]) == (
        0, "delivered", "25.00", "2026-05-01T09:00:00+00:00",
    )
    assert data["lines"] == [{"sku": "BOOK-1", "quantity": 2, "unit_price": "12.50", "subtotal": "25.00"}]


def test_an_order_missing_from_the_read_model_exits_1_with_one_line(cli, stories) -> None:
    code, _, err = cli("order", "3f2b8c1e-9a4d-4f6e-b1c2-7d8e9f0a1b2c")
    assert code == 1
    assert_one_error_line(err)
    assert "not in the order_summary read model" in err


def test_a_malformed_order_id_exits_1_with_one_line(cli, stories) -> None:
    code, _, err = cli("order", "not-a-uuid")
    assert code == 1
    assert_one_error_line(err)


def test_views_customer_json_has_lifetime_value_per_currency(cli, stories) -> None:
    code, out, _ = cli("customer", "alice", "--json")
    data = json.loads(out)
    assert (code, data["order_count"], data["open_orders"], data["lifetime_value"]) == (
        0, 2, 1, {"EUR": "45.50"},
    )


def test_an_unknown_customer_exits_1_with_one_line(cli, stories) -> None:
    code, _, err = cli("customer", "nobody")
    assert code == 1
    assert_one_error_line(err)
    assert "nobody" in err


def test_top_products_by_revenue_ranks_each_currency_apart(cli, stories) -> None:
    code, out, _ = cli("top-products", "--json")
    rankings = json.loads(out)
    assert code == 0
    assert [(r["currency"], [p["sku"] for p in r["products"]]) for r in rankings] == [
        ("EUR", ["BOOK-1", "MUG-7"]),
        ("USD", ["LAMP-3"]),
    ]


def test_top_products_by_units_ranks_by_units_paid(cli, stories) -> None:
    code, out, _ = cli("top-products", "--by", "units", "--limit", "2", "--json")
    [ranking] = json.loads(out)
    assert (code, [(p["sku"], p["units_paid"]) for p in ranking["products"]]) == (
        0, [("BOOK-1", 3), ("LAMP-3", 1)],
    )


def test_top_products_prints_a_table_per_currency(cli, stories) -> None:
    code, out, _ = cli("top-products")
    assert code == 0
    assert "Top products by revenue (EUR)" in out and "Top products by revenue (USD)" in out


def test_an_unsupported_currency_is_a_usage_error(cli, stories) -> None:
    code, _, err = cli("top-products", "--currency", "XXX")
    assert code == 2
    assert_one_error_line(err)


def test_top_customers_by_value_in_one_currency(cli, stories) -> None:
    code, out, _ = cli("top-customers", "--by", "value", "--currency", "EUR", "--json")
    [ranking] = json.loads(out)
    assert (code, [c["customer_id"] for c in ranking["customers"]]) == (0, ["alice"])


def test_views_statuses_counts_orders_and_revenue(cli, stories) -> None:
    code, out, _ = cli("statuses", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["orders_by_status"] == {
        "placed": 1, "confirmed": 0, "paid": 2, "shipped": 0, "delivered": 1, "cancelled": 1,
    }
    assert data["revenue_by_currency"] == {"EUR": "45.50", "USD": "40.00"}


def test_a_read_model_database_that_does_not_exist_says_to_upgrade(cli, db) -> None:
    code, _, err = cli("statuses")
    assert code == 2
    assert_one_error_line(err)
    assert "orders db upgrade" in err
    assert not db.exists()


def test_a_read_model_database_never_migrated_says_to_upgrade(cli, db) -> None:
    create_engine(f"sqlite:///{db}").connect().close()
    code, _, err = cli("customer", "alice")
    assert code == 2
    assert_one_error_line(err)
    assert "orders db upgrade" in err
