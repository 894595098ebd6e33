"""The composition root closes what it opened, and only that."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eventsourcing.persistence import ConnectionPoolClosedError

from adapters.bootstrap import open_system
from adapters.config import Settings
from adapters.eventstore.wiring import open_inventory, open_orders
from adapters.mail import Mail
from tests.smtp_server import RecordingSmtpServer

LINE = [("BOOK-42", 1, "9.90")]
MAIL = Mail(to="sam@example.com", subject="Placed", text="Thank you.\n", key="notification:e-1:0")


def test_the_domain_api_a_system_opened_is_closed_with_it(settings: Settings):
    with open_system(settings) as system:
        orders = system.orders
        orders.place_order("c-1", LINE)
    with pytest.raises(ConnectionPoolClosedError):
        orders.place_order("c-1", LINE)


def test_a_domain_api_given_to_a_system_stays_open_after_it(settings: Settings):
    orders = open_orders(settings)
    try:
        with open_system(settings, orders) as system:
            assert system.orders is orders
        orders.place_order("c-1", LINE)
    finally:
        orders.close()


def test_the_inventory_a_system_opened_is_closed_with_it(settings: Settings):
    with open_system(settings) as system:
        inventory = system.inventory
        inventory.restock("BOOK-42", 1)
    with pytest.raises(ConnectionPoolClosedError):
        inventory.restock("BOOK-42", 1)


def test_an_inventory_given_to_a_system_stays_open_after_it(settings: Settings):
    inventory = open_inventory(settings)
    try:
        with open_system(settings, inventory=inventory) as system:
            assert system.inventory is inventory
        inventory.restock("BOOK-42", 1)
    finally:
        inventory.close()


def test_the_inventory_of_a_system_is_on_the_configured_event_store(settings: Settings):
    with open_system(settings) as system:
        system.inventory.restock("BOOK-42", 2)
    with open_system(settings) as system:
        assert system.inventory.stock("BOOK-42").on_hand == 2


def test_the_read_model_engine_is_disposed_with_the_system(settings: Settings):
    with open_system(settings) as system:
        engine = system.read_models
        with engine.connect():
            pass
        assert engine.pool.checkedin() == 1
    assert engine.pool.checkedin() == 0


def test_the_mailer_a_system_opened_says_goodbye_to_the_smtp_server_with_it(
    settings: Settings, smtp_server: RecordingSmtpServer
):
    with open_system(replace(settings, smtp_url=smtp_server.url)) as system:
        system.mailer.send(MAIL)
    assert (len(smtp_server.received), smtp_server.quits) == (1, 1)


def test_without_an_smtp_url_a_system_writes_mail_under_the_mail_dir(settings: Settings, tmp_path):
    with open_system(replace(settings, mail_dir=str(tmp_path / "out"))) as system:
        system.mailer.send(MAIL)
    assert [p.suffix for p in (tmp_path / "out").iterdir()] == [".eml"]
