"""``orders demo`` on the embedded default: read models next to the domain, and a rebuild."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from adapters.cli import demo as demo_module
from adapters.cli import main
from adapters.cli.demo import DemoRun

SMALL_DAY = ["--orders", "40", "--customers", "8", "--seed", "11"]


pytestmark = pytest.mark.usefixtures("no_orders_environment")


@pytest.fixture
def run_demo(tmp_path: Path, capsys):
    """Run ``orders demo`` on a small day under tmp_path; (exit code, stdout words, stderr)."""

    def run() -> tuple[int, str, str]:
        code = main(["demo", *SMALL_DAY, "--dir", str(tmp_path / "demo")])
        out, err = capsys.readouterr()
        return code, " ".join(out.split()), err

    return run


def tamper_with(run: DemoRun, statement: str) -> None:
    """Change a live read-model table behind the projections' back."""
    engine = create_engine(run.settings.read_model_url)
    with engine.begin() as conn:
        assert conn.execute(text(statement)).rowcount > 0
    engine.dispose()


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory) -> tuple[int, str]:
    """One untampered demo run shared by the tests that only read its output."""
    out = io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("ORDERS_") or key.startswith("POSTGRES_"):
                mp.delenv(key)
        with redirect_stdout(out), redirect_stderr(io.StringIO()):
            code = main(["demo", *SMALL_DAY, "--dir", str(tmp_path_factory.mktemp("demo"))])
    return code, " ".join(out.getvalue().split())


def test_the_demo_shows_read_models_that_agree_with_the_domain(demo_day) -> None:
    code, out = demo_day
    assert code == 0
    assert "order_summary agrees with the domain on every status: yes" in out
    assert "all three read models agree with the domain on revenue: yes" in out


def test_the_demo_rebuilds_order_summary_identical_to_the_live_table(demo_day) -> None:
    code, out = demo_day
    assert code == 0
    assert "rebuilt order_summary from offset 0:" in out
    assert "identical to the live table: yes" in out


def test_the_demo_exits_1_when_the_rebuilt_table_differs_from_the_live_one(run_demo, monkeypatch) -> None:
    def drift(run: DemoRun) -> None:
        tamper_with(run, "UPDATE order_summary SET line_count = line_count + 1 "
                         "WHERE order_id = (SELECT min(order_id) FROM order_summary)")

    steps = list(demo_module.STEPS)
    steps.insert(steps.index(demo_module.rebuild_from_zero), drift)
    monkeypatch.setattr(demo_module, "STEPS", steps)
    code, out, err = run_demo()
    assert code == 1
    assert "identical to the live table: NO" in out
    assert err.startswith("error: rebuilt order_summary differs from the live tables")
    assert len(err.splitlines()) == 1


def test_the_demo_exits_1_when_a_read_model_disagrees_with_the_domain(run_demo, monkeypatch) -> None:
    def drift(run: DemoRun) -> None:
        tamper_with(run, "UPDATE order_summary SET status = 'placed' WHERE status = 'delivered'")

    steps = list(demo_module.STEPS)
    steps.insert(steps.index(demo_module.compare_with_domain), drift)
    monkeypatch.setattr(demo_module, "STEPS", steps)
    code, out, err = run_demo()
    assert code == 1
    assert "order_summary agrees with the domain on every status: NO" in out
    assert "status counts differ" in err
