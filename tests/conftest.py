"""Root test configuration: small on purpose.

Unit tests (tests/unit) need no services. The only thing done here is to make
the addresses written by `scripts/services up` (var/services.env) available as
environment defaults, so that integration fixtures and any test can read
ORDERS_TEST_KAFKA_BOOTSTRAP / ORDERS_TEST_PG_URL from os.environ. Variables
already set in the environment win over the file.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.systems import close_all

# The runner tests' projection and its fixtures (settings, orders, migrated);
# a real SMTP server that records what it accepts (smtp_server).
pytest_plugins = ["tests.local.projection_kit", "tests.smtp_server"]

SERVICES_ENV = Path(__file__).resolve().parent.parent / "var" / "services.env"


def load_services_env(path: Path = SERVICES_ENV) -> dict[str, str]:
    """Parse KEY=VALUE lines of var/services.env (missing file -> {})."""
    values: dict[str, str] = {}
    try:
        text = path.read_text()
    except FileNotFoundError:
        return values
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values


def pytest_configure(config):
    for key, value in load_services_env().items():
        if key.startswith("ORDERS_TEST_"):
            os.environ.setdefault(key, value)


@pytest.fixture(autouse=True)
def _close_systems():
    """Close every System a test opened through ``tests.systems.system_for``."""
    yield
    close_all()


@pytest.fixture(autouse=True)
def _logging_as_before():
    """A command run in-process configures logging for its process (adapters.cli.logs); undo it after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in ("adapters", "aiokafka")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in levels.items():
        logging.getLogger(name).setLevel(previous)
