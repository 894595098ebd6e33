"""How a command reports a broker, database or topic it cannot use: one line, exit 1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from aiokafka.errors import KafkaError
from sqlalchemy.exc import InterfaceError, OperationalError

from adapters.config import Settings, redact
from adapters.runner.worker_processes import ParallelReplayError
from adapters.source import SourceUnavailableError
from adapters.sql.checkpoints import FencedError

EXIT_UNAVAILABLE = 1


class UnavailableError(click.ClickException):
    exit_code = EXIT_UNAVAILABLE


@contextmanager
def reporting_unavailable(settings: Settings) -> Iterator[None]:
    """A broker, database or topic that cannot be used: one line, exit 1."""
    try:
        yield
    except KafkaError as e:
        raise UnavailableError(f"cannot use Kafka at {settings.kafka_bootstrap}: {e}") from None
    except (OperationalError, InterfaceError) as e:
        raise UnavailableError(
            f"cannot use the read-model database {redact(settings.read_model_url)}: {str(e.orig or e).strip()}"
        ) from None
    except SourceUnavailableError as e:
        raise UnavailableError(str(e)) from None
    except FencedError as e:
        raise UnavailableError(
            f"another process moved this projection's checkpoints ({e}); is a second rebuild running?"
        ) from None
    except ParallelReplayError as e:
        raise UnavailableError(str(e).splitlines()[0]) from None
