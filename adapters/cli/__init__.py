"""The ``orders`` command line.

Exit codes: 0 success, 1 a broken domain rule (or a runtime failure that the
message explains), 2 bad usage or configuration. Errors are one line on
stderr, never a traceback.
"""

from __future__ import annotations

import sys

import click
import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.cli import db as _db  # noqa: F401,E402
from adapters.cli import demo as _demo  # noqa: F401,E402

# Importing the command modules registers their commands on ``app``.
from adapters.cli import orders as _orders  # noqa: F401,E402
from adapters.cli import projections as _projections  # noqa: F401,E402
from adapters.cli import reactors as _reactors  # noqa: F401,E402
from adapters.cli import relay as _relay  # noqa: F401,E402
from adapters.cli import stock as _stock  # noqa: F401,E402
from adapters.cli import views as _views  # noqa: F401,E402
from adapters.cli.app import app
from adapters.config import ConfigurationError
from domain.errors import ConcurrencyError, OrderError

EXIT_RULE = 1
EXIT_USAGE = 2


def main(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="orders", standalone_mode=False)
    except click.UsageError as e:
        command = e.ctx.command_path if e.ctx is not None else "orders"
        _fail(f"{e.format_message()} (see `{command} --help`)")
        return EXIT_USAGE
    except ConfigurationError as e:
        _fail(str(e))
        return EXIT_USAGE
    except (OrderError, ConcurrencyError) as e:
        _fail(str(e))
        return EXIT_RULE
    except (PersistenceError, psycopg.OperationalError) as e:
        _fail(f"cannot use the event store: {e}; check ORDERS_EVENT_STORE_URL and that the database runs")
        return EXIT_RULE
    except OSError as e:
        _fail(f"{e.strerror or e}: {e.filename or ''}".rstrip(": "))
        return EXIT_RULE
    except click.exceptions.Abort:
        _fail("aborted")
        return 130
    except click.ClickException as e:
        _fail(e.format_message())
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    return result if isinstance(result, int) else 0


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)


def run() -> None:
    sys.exit(main())
