"""The ``orders`` command line, run in-process on a SQLite file.

Exit codes: 0 ok, 1 broken domain rule, 2 usage or configuration error;
an error is one line on stderr starting with "error:", never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from adapters.cli import main

ADDRESS_OPTIONS = [
    "--name", "Sam Doe", "--street", "1 Main St", "--city", "Berlin", "--postal-code", "10115", "--country", "de"
]


pytestmark = pytest.mark.usefixtures("no_orders_environment")


@pytest.fixture
def cli(tmp_path, capsys):
    """Run ``orders --event-store <tmp file> ARGS``; returns (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--event-store", f"sqlite:///{tmp_path}/events.db", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def order_id(cli) -> str:
    code, out, _ = cli("place", "--customer", "customer-1", "--line", "SKU-1:2:10.00")
    assert code == 0
    return out.strip()


def assert_one_error_line(err: str) -> None:
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    assert "Traceback" not in err


def test_place_prints_the_new_order_id(order_id):
    assert UUID(order_id)


def test_an_order_goes_through_its_whole_lifecycle(cli, order_id):
    steps = [
        ["add-line", order_id, "--line", "SKU-2:1:5.00"],
        ["change-quantity", order_id, "--sku", "SKU-2", "--quantity", "2"],
        ["set-address", order_id, *ADDRESS_OPTIONS],
        ["confirm", order_id],
        ["pay", order_id, "--reference", "pay-1", "--amount", "30.00"],
        ["ship", order_id, "--carrier", "DHL", "--tracking", "TRK-1"],
        ["deliver", order_id],
    ]
    codes = [cli(*step)[0] for step in steps]
    _, out, _ = cli("show", order_id, "--json")
    assert (codes, json.loads(out)["status"], json.loads(out)["version"]) == ([0] * 7, "delivered", 8)


def test_a_command_reports_the_new_status(cli, order_id):
    _, out, _ = cli("set-address", order_id, *ADDRESS_OPTIONS)
    assert f"address set: order {order_id} is placed (version 2)" in out


def test_place_json_prints_the_order(cli):
    code, out, _ = cli("place", "--customer", "c-1", "--line", "SKU-1:2:10.00", "--line", "SKU-2:1:0.50", "--json")
    data = json.loads(out)
    assert (code, data["status"], data["total"], data["currency"], [ln["sku"] for ln in data["lines"]]) == (
        0, "placed", "20.50", "EUR", ["SKU-1", "SKU-2"]
    )


def test_show_json_of_an_addressed_order_has_the_address(cli, order_id):
    cli("set-address", order_id, *ADDRESS_OPTIONS)
    code, out, _ = cli("show", order_id, "--json")
    assert (code, json.loads(out)["shipping_address"]["country"]) == (0, "DE")


def test_history_json_lists_the_events(cli, order_id):
    cli("cancel", order_id, "--reason", "changed my mind")
    code, out, _ = cli("history", order_id, "--json")
    records = json.loads(out)
    assert (code, [r["event_type"] for r in records], records[0]["data"]["channel"]) == (
        0, ["Order.Placed", "Order.Cancelled"], "web"
    )


def test_place_with_the_same_idempotency_key_prints_the_same_id(cli):
    args = ("place", "--customer", "c-1", "--line", "SKU-1:1:1.00", "--idempotency-key", "k-1")
    assert cli(*args)[1] == cli(*args)[1]


@pytest.mark.parametrize("line", ["SKU-1", "SKU-1:2", "SKU-1:2:3:4", "SKU-1::1.00"])
def test_bad_line_syntax_is_a_usage_error(cli, line):
    code, _, err = cli("place", "--customer", "c-1", "--line", line)
    assert code == 2 and "is not SKU:QTY:PRICE" in err
    assert_one_error_line(err)


def test_shipping_an_unpaid_order_breaks_a_rule(cli, order_id):
    code, _, err = cli("ship", order_id, "--carrier", "DHL", "--tracking", "TRK-1")
    assert code == 1 and "cannot ship it" in err and "it must be paid" in err
    assert_one_error_line(err)


def test_a_payment_that_does_not_match_breaks_a_rule(cli, order_id):
    cli("set-address", order_id, *ADDRESS_OPTIONS)
    cli("confirm", order_id)
    code, _, err = cli("pay", order_id, "--reference", "pay-1", "--amount", "19.99")
    assert code == 1 and "pay exactly 20.00 EUR" in err
    assert_one_error_line(err)


def test_an_invalid_value_breaks_a_rule(cli):
    code, _, err = cli("place", "--customer", "c-1", "--line", "SKU-1:0:1.00")
    assert code == 1 and "quantity must be between 1 and 999" in err
    assert_one_error_line(err)


def test_an_unknown_order_id_is_reported(cli):
    code, _, err = cli("show", str(uuid4()))
    assert code == 1 and "there is no order" in err
    assert_one_error_line(err)


def test_a_malformed_order_id_is_reported(cli):
    code, _, err = cli("confirm", "not-an-id")
    assert code == 1 and "is not an order id" in err
    assert_one_error_line(err)


def test_a_missing_required_option_is_a_usage_error(cli):
    code, _, err = cli("place", "--line", "SKU-1:1:1.00")
    assert code == 2 and "Missing option '--customer'" in err and "orders place --help" in err
    assert_one_error_line(err)


def test_an_unknown_command_is_a_usage_error(cli):
    code, _, err = cli("teleport")
    assert code == 2
    assert_one_error_line(err)


def test_an_unsupported_event_store_in_the_environment_is_a_configuration_error(monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_EVENT_STORE_URL", "mysql://x")
    code = main(["show", str(uuid4())])
    err = capsys.readouterr().err
    assert code == 2 and "ORDERS_EVENT_STORE_URL" in err
    assert_one_error_line(err)


def test_enabled_postgres_db_functions_are_a_configuration_error(cli, monkeypatch):
    monkeypatch.setenv("POSTGRES_ENABLE_DB_FUNCTIONS", "y")
    code, _, err = cli("show", str(uuid4()))
    assert code == 2 and "POSTGRES_ENABLE_DB_FUNCTIONS must not be enabled" in err
    assert_one_error_line(err)


def test_the_installed_console_script_reports_a_usage_error_in_one_line(tmp_path):
    script = Path(sys.executable).with_name("orders")
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERS_", "POSTGRES_"))}
    env["ORDERS_EVENT_STORE_URL"] = f"sqlite:///{tmp_path}/events.db"
    result = subprocess.run(
        [str(script), "place", "--customer", "c-1", "--line", "nonsense"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert_one_error_line(result.stderr)


def test_a_price_too_large_for_a_decimal_breaks_a_rule_without_a_traceback(cli):
    code, _, err = cli("place", "--customer", "c-1", "--line", "SKU-1:1:1e40")
    assert code == 1 and "too large" in err
    assert_one_error_line(err)


def test_an_event_store_that_cannot_be_created_is_one_error_line(tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    code = main(["--event-store", f"sqlite:///{blocked}/events.db", "show", str(uuid4())])
    err = capsys.readouterr().err
    assert code == 1
    assert_one_error_line(err)
