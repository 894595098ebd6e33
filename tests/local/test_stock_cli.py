"""``orders stock``, run in-process on a SQLite file.

Exit codes as in the rest of the CLI: 0 ok, 1 broken domain rule, 2 usage
error; an error is one line on stderr starting with "error:".
"""

from __future__ import annotations

import json
from uuid import UUID

import pytest

from adapters.cli import main
from adapters.config import Settings
from adapters.eventstore.wiring import open_inventory

ORDER = UUID("00000000-0000-4000-8000-000000000001")

pytestmark = pytest.mark.usefixtures("no_orders_environment")


@pytest.fixture
def store(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/events.db"


@pytest.fixture
def cli(store, capsys):
    """Run ``orders --event-store <tmp file> stock ARGS``; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--event-store", store, "stock", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def reserved(cli, store) -> None:
    """BOOK-42: 5 on hand, 2 of them reserved for ORDER."""
    cli("restock", "BOOK-42", "--quantity", "5")
    inventory = open_inventory(Settings(event_store_url=store))
    try:
        inventory.reserve_for_order(ORDER, [("BOOK-42", 2)])
    finally:
        inventory.close()


def assert_one_error_line(err: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err


def test_restock_prints_the_new_stock(cli):
    code, out, _ = cli("restock", "BOOK-42", "--quantity", "5")
    assert (code, out.strip()) == (0, "restocked BOOK-42: 5 on hand, 0 reserved, 5 available")


def test_restocks_add_up(cli):
    cli("restock", "BOOK-42", "--quantity", "5")
    cli("restock", "BOOK-42", "--quantity", "3")
    _, out, _ = cli("show", "BOOK-42", "--json")
    assert json.loads(out)["on_hand"] == 8


def test_restock_json_prints_the_stock(cli):
    code, out, _ = cli("restock", "BOOK-42", "--quantity", "5", "--json")
    assert (code, json.loads(out)) == (
        0, {"sku": "BOOK-42", "version": 2, "on_hand": 5, "reserved": 0, "available": 5, "reservations": {}}
    )


def test_show_json_lists_the_reservations_per_order(cli, reserved):
    code, out, _ = cli("show", "BOOK-42", "--json")
    data = json.loads(out)
    assert (code, data["reserved"], data["available"], data["reservations"]) == (0, 2, 3, {str(ORDER): 2})


def test_show_prints_the_stock_and_its_reservations(cli, reserved):
    code, out, _ = cli("show", "BOOK-42")
    assert code == 0 and "Stock BOOK-42  on hand 5  reserved 2  available 3" in out and str(ORDER) in out


def test_show_of_a_sku_never_restocked_says_so(cli):
    code, out, _ = cli("show", "LAMP-3")
    assert code == 0 and "on hand 0" in out and "never restocked" in out


@pytest.mark.parametrize("quantity", ["0", "-1", "2.5", "many", "1000001"])
def test_an_invalid_restock_quantity_breaks_a_rule(cli, quantity):
    code, _, err = cli("restock", "BOOK-42", "--quantity", quantity)
    assert code == 1 and "restock quantity" in err
    assert_one_error_line(err)


def test_an_invalid_restock_records_nothing(cli):
    cli("restock", "BOOK-42", "--quantity", "0")
    _, out, _ = cli("show", "BOOK-42", "--json")
    assert json.loads(out)["version"] == 0


def test_an_invalid_sku_breaks_a_rule(cli):
    code, _, err = cli("show", "book 42")
    assert code == 1 and "SKU 'book 42' is invalid" in err
    assert_one_error_line(err)


def test_restock_without_a_quantity_is_a_usage_error(cli):
    code, _, err = cli("restock", "BOOK-42")
    assert code == 2 and "Missing option '--quantity'" in err and "orders stock restock --help" in err
    assert_one_error_line(err)
