"""Settings from the environment, and the eventsourcing environment built from them.

Every test passes its own ``environ``: nothing reads the process environment.
"""

from __future__ import annotations

import pytest

from adapters.config import ConfigurationError, Settings, SmtpLocation, redact
from adapters.eventstore.wiring import eventsourcing_env

PG_URL = "postgresql://orders:s3cret@db.example:6543/orderstream"


@pytest.mark.parametrize("key", ["POSTGRES_ENABLE_DB_FUNCTIONS", "ORDERS_POSTGRES_ENABLE_DB_FUNCTIONS"])
@pytest.mark.parametrize("value", ["y", "yes", "1", "true", "anything"])
def test_settings_refuse_enabled_postgres_db_functions(key, value):
    with pytest.raises(ConfigurationError, match=f"{key} must not be enabled.*unset it"):
        Settings.from_env({key: value})


@pytest.mark.parametrize("value", ["", "n", "no", "0", "false", "off"])
def test_settings_accept_disabled_postgres_db_functions(value):
    Settings.from_env({"POSTGRES_ENABLE_DB_FUNCTIONS": value})


def test_settings_default_to_the_embedded_stores():
    settings = Settings.from_env({})
    assert (settings.event_store_kind, settings.uses_kafka, settings.topic_partitions) == ("sqlite", False, 6)


def test_settings_read_every_variable():
    settings = Settings.from_env(
        {
            "ORDERS_EVENT_STORE_URL": PG_URL,
            "ORDERS_READ_MODEL_URL": "sqlite:///rm.db",
            "ORDERS_KAFKA_BOOTSTRAP": " localhost:9092 ",
            "ORDERS_TOPIC": "t",
            "ORDERS_TOPIC_PARTITIONS": "3",
            "ORDERS_ALLOW_FINITE_RETENTION": "yes",
            "ORDERS_RELAY_POLL_INTERVAL": "0.5",
            "ORDERS_PROJECTIONS": "a:B, ,c:D",
            "ORDERS_REBUILD_PROCESSES": "2",
            "ORDERS_SMTP_URL": " smtp://mail.example:2525 ",
            "ORDERS_MAIL_FROM": "Shop <shop@example.com>",
            "ORDERS_MAIL_DIR": "/srv/mail",
            "ORDERS_PAYMENT_DECLINE_RATE": "0.25",
            "ORDERS_PAYMENT_SEED": "42",
            "ORDERS_PAYMENT_LATENCY_MS": "30",
        }
    )
    assert settings == Settings(
        event_store_url=PG_URL,
        read_model_url="sqlite:///rm.db",
        kafka_bootstrap="localhost:9092",
        topic="t",
        topic_partitions=3,
        allow_finite_retention=True,
        relay_poll_interval=0.5,
        extra_projections=("a:B", "c:D"),
        rebuild_processes=2,
        smtp_url="smtp://mail.example:2525",
        mail_from="Shop <shop@example.com>",
        mail_dir="/srv/mail",
        payment_decline_rate=0.25,
        payment_seed=42,
        payment_latency_ms=30,
    )


def test_overrides_win_over_the_environment():
    settings = Settings.from_env({"ORDERS_TOPIC": "from-env"}, topic="from-flag")
    assert settings.topic == "from-flag"


def test_overrides_of_none_leave_the_environment_value():
    settings = Settings.from_env({"ORDERS_TOPIC": "from-env"}, topic=None)
    assert settings.topic == "from-env"


@pytest.mark.parametrize("url", ["mysql://x", "http://host/db", "events.db"])
def test_an_unsupported_event_store_url_is_refused(url):
    with pytest.raises(ConfigurationError, match="ORDERS_EVENT_STORE_URL .* use sqlite:///PATH or postgresql://"):
        Settings.from_env({"ORDERS_EVENT_STORE_URL": url})


@pytest.mark.parametrize("value, message", [("six", "not a whole number"), ("0", "at least 1")])
def test_a_bad_partition_count_is_refused(value, message):
    with pytest.raises(ConfigurationError, match=f"ORDERS_TOPIC_PARTITIONS=.*{message}"):
        Settings.from_env({"ORDERS_TOPIC_PARTITIONS": value})


@pytest.mark.parametrize("value, message", [("two", "not a whole number"), ("-1", "at least 0")])
def test_a_bad_rebuild_process_count_is_refused(value, message):
    with pytest.raises(ConfigurationError, match=f"ORDERS_REBUILD_PROCESSES=.*{message}"):
        Settings.from_env({"ORDERS_REBUILD_PROCESSES": value})


@pytest.mark.parametrize(
    "value, message", [("soon", "not a number"), ("0", "greater than zero"), ("-1", "greater than zero")]
)
def test_a_bad_poll_interval_is_refused(value, message):
    with pytest.raises(ConfigurationError, match=f"ORDERS_RELAY_POLL_INTERVAL=.*{message}"):
        Settings.from_env({"ORDERS_RELAY_POLL_INTERVAL": value})


def test_a_yes_no_setting_refuses_other_words():
    with pytest.raises(ConfigurationError, match="ORDERS_ALLOW_FINITE_RETENTION=.*must be yes or no"):
        Settings.from_env({"ORDERS_ALLOW_FINITE_RETENTION": "maybe"})


def test_a_sqlite_url_without_a_path_is_refused():
    with pytest.raises(ConfigurationError, match="needs a file path"):
        _ = Settings(event_store_url="sqlite:///").sqlite_path


def test_a_postgresql_url_gives_its_location():
    pg = Settings(event_store_url=PG_URL).postgres
    assert (pg.host, pg.port, pg.user, pg.password, pg.dbname) == (
        "db.example", 6543, "orders", "s3cret", "orderstream"
    )


def test_a_postgresql_url_without_a_database_is_refused_without_its_password():
    with pytest.raises(ConfigurationError, match=r"needs user, host and database") as raised:
        _ = Settings(event_store_url="postgresql://orders:s3cret@db.example:6543/").postgres
    assert "s3cret" not in str(raised.value)


def test_redact_hides_the_password():
    assert redact(PG_URL) == "postgresql://orders:***@db.example:6543/orderstream"


def test_the_postgres_event_store_env_always_disables_db_functions():
    env = eventsourcing_env(Settings(event_store_url=PG_URL))
    assert env["POSTGRES_ENABLE_DB_FUNCTIONS"] == env["ORDERS_POSTGRES_ENABLE_DB_FUNCTIONS"] == "n"


def test_the_postgres_event_store_env_points_eventsourcing_at_the_url():
    env = eventsourcing_env(Settings(event_store_url=PG_URL))
    keys = (
        "PERSISTENCE_MODULE", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DBNAME"
    )
    assert {k: env[f"ORDERS_{k}"] for k in keys} == {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": "db.example",
        "POSTGRES_PORT": "6543",
        "POSTGRES_USER": "orders",
        "POSTGRES_PASSWORD": "s3cret",
        "POSTGRES_DBNAME": "orderstream",
    }


def test_mail_defaults_to_files_under_var_mail_from_an_invalid_domain():
    settings = Settings.from_env({})
    assert (settings.smtp, settings.mail_dir, settings.mail_sender) == (
        None, "var/mail", "orders@orderstream.invalid"
    )


def test_the_payment_simulator_defaults():
    settings = Settings.from_env({})
    assert (settings.payment_decline_rate, settings.payment_seed, settings.payment_latency_ms) == (0.1, 7, 0)


@pytest.mark.parametrize(
    "url, location",
    [
        ("smtp://127.0.0.1:2525", SmtpLocation("plain", "127.0.0.1", 2525, "", "")),
        ("smtp://mail.example", SmtpLocation("plain", "mail.example", 25, "", "")),
        ("smtp+starttls://me:p%40ss@mail.example", SmtpLocation("starttls", "mail.example", 587, "me", "p@ss")),
        ("smtps://me:pw@mail.example:4650", SmtpLocation("tls", "mail.example", 4650, "me", "pw")),
    ],
)
def test_an_smtp_url_gives_its_location(url, location):
    assert Settings.from_env({"ORDERS_SMTP_URL": url}).smtp == location


@pytest.mark.parametrize("url", ["http://mail.example", "smtp://", "smtp://mail.example/path", "smtp://h:port"])
def test_an_unsupported_smtp_url_is_refused_in_one_line(url):
    with pytest.raises(ConfigurationError, match=r"^ORDERS_SMTP_URL .* use smtp://HOST:PORT[^\n]*$"):
        Settings.from_env({"ORDERS_SMTP_URL": url})


def test_an_smtp_password_in_clear_is_refused_without_showing_it():
    with pytest.raises(ConfigurationError, match="would send its password in clear") as raised:
        Settings.from_env({"ORDERS_SMTP_URL": "smtp://me:s3cret@mail.example"})
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("value", ["orders", "a@b, c@d", "Orders <orders@>", "orders at example.com"])
def test_a_mail_from_that_is_not_one_address_is_refused(value):
    with pytest.raises(ConfigurationError, match="ORDERS_MAIL_FROM=.* is not one mail address"):
        Settings.from_env({"ORDERS_MAIL_FROM": value})


@pytest.mark.parametrize(
    "value, message", [("often", "not a number"), ("1.5", "between 0 and 1"), ("-0.1", "between 0 and 1")]
)
def test_a_bad_decline_rate_is_refused(value, message):
    with pytest.raises(ConfigurationError, match=f"ORDERS_PAYMENT_DECLINE_RATE=.*{message}"):
        Settings.from_env({"ORDERS_PAYMENT_DECLINE_RATE": value})


@pytest.mark.parametrize("key", ["ORDERS_PAYMENT_SEED", "ORDERS_PAYMENT_LATENCY_MS"])
@pytest.mark.parametrize("value, message", [("1.5", "not a whole number"), ("-1", "at least 0")])
def test_a_bad_payment_seed_or_latency_is_refused(key, value, message):
    with pytest.raises(ConfigurationError, match=f"{key}=.*{message}"):
        Settings.from_env({key: value})
