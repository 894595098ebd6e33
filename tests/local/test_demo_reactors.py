"""``orders demo``: what the reactors did with the day, held up against the orders and the mail files."""

from __future__ import annotations

import io
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from adapters.cli import demo as demo_module
from adapters.cli import main
from adapters.cli.demo import DemoRun
from domain.order import OrderStatus

SMALL_DAY = ["--orders", "40", "--customers", "8", "--seed", "11"]


pytestmark = pytest.mark.usefixtures("no_orders_environment")


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


@pytest.fixture
def demo_with(tmp_path: Path, capsys, monkeypatch):
    """Run the small day with ``step`` inserted before ``before``; (exit code, stdout words, stderr)."""

    def run(step, before) -> tuple[int, str, str]:
        steps = list(demo_module.STEPS)
        steps.insert(steps.index(before), step)
        monkeypatch.setattr(demo_module, "STEPS", steps)
        code = main(["demo", *SMALL_DAY, "--dir", str(tmp_path / "demo")])
        out, err = capsys.readouterr()
        return code, " ".join(out.split()), err

    return run


def test_the_demo_shows_what_each_reactor_did(demo_day) -> None:
    code, out = demo_day
    assert code == 0
    assert "What the reactors did" in out
    for did in ("orders cancelled for lack of stock", "payments taken", "payments declined", "mails written"):
        assert did in out


def test_the_demo_checks_the_reactors_work_against_the_orders(demo_day) -> None:
    code, out = demo_day
    assert code == 0
    assert "every effect delivered: yes" in out
    assert "payments agree with the gateway's captures, no order charged twice: yes" in out
    assert "each mail has a Message-ID of its own: yes" in out
    assert "one mail per order placed, shipped and cancelled: yes" in out


def test_the_demo_shows_a_mail_read_back_from_its_file(demo_day) -> None:
    _, out = demo_day
    assert "read back from its .eml file: ╭─ Subject: Your order" in out
    assert "Hello," in out


def test_the_demo_shows_stock_per_sku_that_agrees_with_the_orders(demo_day) -> None:
    code, out = demo_day
    assert code == 0
    assert "Stock per SKU" in out
    assert "stock agrees with the orders on every SKU: yes" in out


def test_the_demo_exits_1_when_stock_disagrees_with_the_orders(demo_with) -> None:
    def release_an_open_order(run: DemoRun) -> None:
        """Tamper with the stock: give back what an open order holds, behind the reactors' back."""
        view = next(v for v in run.views() if v.status in (OrderStatus.PLACED, OrderStatus.PAID))
        run.system.inventory.release_order(view.order_id, [line.sku for line in view.lines])

    code, out, err = demo_with(release_an_open_order, before=demo_module.check_stock)
    assert code == 1
    assert "stock agrees with the orders on every SKU: NO" in out
    assert err.startswith("error: stock disagrees with the orders on ")
    assert len(err.splitlines()) == 1


def test_the_demo_exits_1_when_two_mails_share_a_message_id(demo_with) -> None:
    def copy_a_mail(run: DemoRun) -> None:
        mail = sorted(run.mail_dir.glob("*.eml"))[0]
        shutil.copy(mail, mail.with_name(f"copy-{mail.name}"))

    code, out, err = demo_with(copy_a_mail, before=demo_module.show_reactors)
    assert code == 1
    assert "each mail has a Message-ID of its own: NO" in out
    assert "mails sharing a Message-ID or without one: 1" in err
