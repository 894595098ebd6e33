"""The composition root opens nothing before it is used."""

from __future__ import annotations

from pathlib import Path

from adapters.bootstrap import System
from adapters.config import Settings
from adapters.mail import MailDirectory, SmtpMailer
from adapters.payments import SimulatedGateway

# Nothing listens on port 1: any connection attempt would fail.
NOWHERE = Settings(
    event_store_url="postgresql://user:secret@127.0.0.1:1/events",
    read_model_url="postgresql://user:secret@127.0.0.1:1/read_models",
    kafka_bootstrap="127.0.0.1:1",
    smtp_url="smtp://127.0.0.1:1",
)


def test_a_system_is_made_and_closed_without_connecting_to_anything():
    System(NOWHERE).close()


def test_the_read_model_engine_is_made_without_connecting():
    system = System(NOWHERE)
    assert system.read_models.dialect.name == "postgresql"
    system.close()


def test_the_kafka_source_is_made_without_connecting():
    system = System(NOWHERE)
    assert system.kafka_source.topic == NOWHERE.topic
    system.close()


def test_the_inventory_is_not_opened_before_it_is_used():
    system = System(NOWHERE)
    assert "inventory" not in system.__dict__
    system.close()


def test_the_mailer_is_made_without_connecting():
    system = System(NOWHERE)
    assert isinstance(system.mailer, SmtpMailer)
    system.close()


def test_without_an_smtp_url_the_mailer_writes_files_under_the_mail_dir():
    system = System(Settings(mail_dir="/nowhere/mail"))
    assert isinstance(system.mailer, MailDirectory) and system.mailer.directory == Path("/nowhere/mail")
    system.close()


def test_the_payment_gateway_is_the_simulator_the_settings_describe():
    system = System(Settings(payment_decline_rate=0.5, payment_seed=3, payment_latency_ms=20))
    gateway = system.payment_gateway
    assert isinstance(gateway, SimulatedGateway)
    assert (gateway.decline_rate, gateway.seed, gateway.latency_ms) == (0.5, 3, 20)
    system.close()
