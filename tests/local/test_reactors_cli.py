"""``orders reactors ...`` and ``orders effects status`` on the embedded default."""

from __future__ import annotations

import json

import pytest

from adapters.cli import main

pytestmark = pytest.mark.usefixtures("no_orders_environment")


@pytest.fixture
def cli(tmp_path, capsys, monkeypatch):
    """Run ``orders ARGS`` on SQLite files and a mail folder under tmp_path; (exit code, stdout, stderr)."""
    monkeypatch.setenv("ORDERS_EVENT_STORE_URL", f"sqlite:///{tmp_path}/events.db")
    monkeypatch.setenv("ORDERS_READ_MODEL_URL", f"sqlite:///{tmp_path}/read_models.db")
    monkeypatch.setenv("ORDERS_MAIL_DIR", str(tmp_path / "mail"))
    monkeypatch.setenv("ORDERS_PAYMENT_DECLINE_RATE", "0")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    assert run("db", "upgrade")[0] == 0
    return run


def test_the_built_in_reactors_are_listed(cli):
    code, out, _ = cli("reactors", "list", "--json")
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["inventory", "payment", "notification"]


def test_a_run_until_caught_up_delivers_the_effects_of_new_orders(cli, tmp_path):
    assert cli("reactors", "run", "--until-caught-up")[0] == 0  # started at the head of an empty log
    assert cli("stock", "restock", "BOOK-42", "--quantity", "5")[0] == 0
    assert cli("place", "--customer", "c-1", "--line", "BOOK-42:2:19.90")[0] == 0
    code, out, _ = cli("reactors", "run", "--until-caught-up")
    assert code == 0 and "2 delivered" in out  # the reservation and the mail
    _, stock, _ = cli("stock", "show", "BOOK-42", "--json")
    assert json.loads(stock)["reserved"] == 2
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 1


def test_effects_status_counts_what_was_delivered(cli):
    cli("reactors", "run", "--until-caught-up")
    cli("stock", "restock", "BOOK-42", "--quantity", "5")
    cli("place", "--customer", "c-1", "--line", "BOOK-42:2:19.90")
    cli("reactors", "run", "--until-caught-up")
    code, out, _ = cli("effects", "status", "--json")
    counts = {r["reactor"]: (r["pending"], r["dispatched"]) for r in json.loads(out)}
    assert code == 0 and counts == {"inventory": (0, 1), "notification": (0, 1), "payment": (0, 0)}


def test_the_reactors_status_shows_each_caught_up(cli):
    cli("reactors", "run", "--until-caught-up")
    code, out, _ = cli("reactors", "status", "--json")
    assert code == 0 and {(s["name"], s["lag"]) for s in json.loads(out)} == {
        ("inventory", 0), ("payment", 0), ("notification", 0)
    }


def test_sending_history_without_starting_from_the_beginning_is_refused_in_one_line(cli):
    code, _, err = cli("reactors", "run", "--send-history")
    assert code == 2 and err.startswith("error: --send-history needs --from-beginning") and len(err.splitlines()) == 1


def test_an_unknown_reactor_is_refused_in_one_line(cli):
    code, _, err = cli("reactors", "run", "fax")
    assert code == 2 and "no reactor named 'fax'" in err and len(err.splitlines()) == 1


def test_starting_an_already_started_reactor_from_the_beginning_is_refused(cli):
    cli("reactors", "run", "payment", "--until-caught-up")
    code, _, err = cli("reactors", "run", "payment", "--from-beginning")
    assert code == 2 and "orders reactors replay payment" in err
