"""``orders relay``: publish the event store's log to Kafka, and report progress."""

from __future__ import annotations

import asyncio
import signal

import click

from adapters.bootstrap import System
from adapters.cli.app import app, json_option, settings_of, system_of
from adapters.cli.logs import configure_logging
from adapters.cli.output import console, emit_json
from adapters.config import ConfigurationError
from adapters.kafka.topics import FiniteRetentionError, TopicProvisioningError
from adapters.relay.publisher import KafkaUnavailableError, Relay, RelayReport
from adapters.relay.status import relay_status


@app.group()
def relay() -> None:
    """Publish every stored event to Kafka (the relay) and report its progress."""


@relay.command("run")
@click.option("--once", is_flag=True, help="Publish the backlog present at start, then exit.")
@click.option("-v", "--verbose", is_flag=True, help="Also log the Kafka client's own messages.")
@click.pass_context
def run(ctx: click.Context, once: bool, verbose: bool) -> None:
    """Follow the event store's log and publish each event to the topic.

    Runs until SIGTERM/SIGINT (flushes in-flight messages and records the
    checkpoint, then exits 0), or with --once until the backlog is out.
    """
    settings = settings_of(ctx)
    if not settings.uses_kafka:
        raise ConfigurationError(
            "the relay needs Kafka: set ORDERS_KAFKA_BOOTSTRAP=host:port (or pass `orders --kafka host:port`)"
        )
    configure_logging(verbose)
    try:
        report = asyncio.run(_run(system_of(ctx), once))
    except (FiniteRetentionError, TopicProvisioningError, KafkaUnavailableError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"relay stopped: checkpoint {report.checkpoint}, {report.published} messages published", err=True)


async def _run(system: System, once: bool) -> RelayReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return await Relay(system.settings, system.orders, system.relay_checkpoints()).run(stop, once=once)


@relay.command("status")
@json_option
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show the relay's checkpoint, the newest notification id and the lag."""
    system = system_of(ctx)
    checkpoints = system.relay_checkpoints()
    try:
        state = relay_status(system.settings, system.orders, checkpoints)
    finally:
        checkpoints.close()
    if as_json:
        emit_json(state)
    else:
        console.print(
            f"topic {state.topic}: checkpoint {state.checkpoint}, newest notification "
            f"{state.newest}, lag {state.lag}"
        )
