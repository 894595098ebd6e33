"""Schema checks, status and the `orders projections` / `orders db` commands on SQLite."""

from __future__ import annotations

import json

import pytest

from adapters import runner
from adapters.cli import main
from adapters.sql.migrations import SchemaBehindError
from tests.local.projection_kit import OrderEvents, expected_counts, simulate
from tests.systems import migrate, system_for

PLUGIN = "tests.local.projection_kit:OrderEvents"


@pytest.fixture
def cli_env(settings, monkeypatch):
    monkeypatch.setenv("ORDERS_EVENT_STORE_URL", settings.event_store_url)
    monkeypatch.setenv("ORDERS_READ_MODEL_URL", settings.read_model_url)
    monkeypatch.setenv("ORDERS_PROJECTIONS", PLUGIN)
    monkeypatch.delenv("ORDERS_KAFKA_BOOTSTRAP", raising=False)
    return settings


def test_running_on_a_fresh_read_model_refuses_and_says_to_upgrade(settings, orders):
    with pytest.raises(SchemaBehindError, match=r"read-model schema is behind the code: run `orders db upgrade`"):
        runner.run_until_caught_up(system_for(settings, orders), [OrderEvents])


def test_a_projection_whose_revision_is_not_applied_refuses_to_run(settings, orders):
    migrate(settings, [])  # the built-ins only: order_events' branch is not applied
    with pytest.raises(SchemaBehindError, match="run `orders db upgrade`"):
        runner.run_until_caught_up(system_for(settings, orders), [OrderEvents])


def test_upgrade_twice_changes_nothing(settings):
    first = migrate(settings, [OrderEvents])
    assert migrate(settings, [OrderEvents]) == first
    assert "order_events_0001" in first


def test_status_reports_offsets_end_and_lag_per_partition(migrated, orders):
    simulate(orders, n_orders=5)
    end = orders.recorder.max_notification_id() + 1
    [before] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert (before.state, before.version, [(p.offset, p.end, p.lag) for p in before.partitions]) == (
        "new", None, [(0, end, end)]
    )
    runner.run_until_caught_up(system_for(migrated, orders), [OrderEvents])
    [after] = runner.status(system_for(migrated, orders), [OrderEvents])
    assert (after.state, after.version, after.lag, after.partitions[0].offset) == ("running", 1, 0, end)


def test_cli_run_exits_2_on_a_schema_behind_the_code(cli_env, capsys):
    assert main(["projections", "run", "--until-caught-up"]) == 2
    assert "error: read-model schema is behind the code: run `orders db upgrade`" in capsys.readouterr().err


def test_cli_upgrade_run_and_status_json(cli_env, orders, capsys):
    simulate(orders, n_orders=5)
    assert main(["db", "upgrade"]) == 0
    assert main(["projections", "run", "order_events", "--until-caught-up"]) == 0
    capsys.readouterr()
    assert main(["projections", "status", "--json", "order_events"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert (status["name"], status["state"], status["lag"]) == ("order_events", "running", 0)


def test_cli_list_names_the_configured_plugin(cli_env, capsys):
    assert main(["projections", "list", "--json"]) == 0
    names = [p["name"] for p in json.loads(capsys.readouterr().out)]
    assert names[-1] == "order_events" and "order_summary" in names


def test_cli_run_of_an_unknown_projection_exits_2(cli_env, capsys):
    assert main(["projections", "run", "nope", "--until-caught-up"]) == 2
    assert "no projection named 'nope'" in capsys.readouterr().err


def test_cli_rebuild_needs_a_name_or_all(cli_env, capsys):
    assert main(["projections", "rebuild"]) == 2


def test_cli_halted_projection_exits_1_saying_how_to_resolve(cli_env, orders, capsys):
    simulate(orders, n_orders=3)
    failing = orders.order_history(next(iter(expected_counts(orders))))[0]
    OrderEvents.fail_on.add(failing.event_id)
    main(["db", "upgrade"])
    assert main(["projections", "run", "order_events", "--until-caught-up"]) == 1
    err = capsys.readouterr().err
    assert f"orders projections skip order_events --event {failing.event_id}" in err
    assert "Traceback" not in err


def test_cli_rebuild_all_rebuilds_every_projection(cli_env, orders, capsys):
    simulate(orders, n_orders=3)
    main(["db", "upgrade"])
    assert main(["projections", "rebuild", "--all"]) == 0
    out = capsys.readouterr().out
    names = ("order_summary", "customer_orders", "product_sales", "order_events")
    assert all(f"rebuilt {name}" in out for name in names)
