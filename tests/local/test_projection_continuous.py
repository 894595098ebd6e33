"""`orders projections run` without --until-caught-up: follows new events, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from adapters import runner
from tests.local.projection_kit import (
    OrderEvents,
    expected_counts,
    simulate,
    table_rows,
)
from tests.systems import system_for

ROOT = Path(__file__).resolve().parents[2]


def wait_until_caught_up(settings, orders, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [status] = runner.status(system_for(settings, orders), [OrderEvents])
        if status.version is not None and status.lag == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"runner did not catch up: {status}")


def test_a_continuous_runner_follows_new_events_and_stops_on_sigterm(migrated, orders):
    simulate(orders, n_orders=5, seed=1)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "ORDERS_EVENT_STORE_URL": migrated.event_store_url,
        "ORDERS_READ_MODEL_URL": migrated.read_model_url,
        "ORDERS_PROJECTIONS": "tests.local.projection_kit:OrderEvents",
        "ORDERS_KAFKA_BOOTSTRAP": "",
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", "from adapters.cli import run; run()", "projections", "run", "order_events"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_caught_up(migrated, orders)
        simulate(orders, n_orders=5, seed=2)
        wait_until_caught_up(migrated, orders)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert {r["order_id"]: r["events"] for r in table_rows(migrated, OrderEvents.orders)} == expected_counts(orders)
