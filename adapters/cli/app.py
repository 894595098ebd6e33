"""The root ``orders`` command group and the options every command shares."""

from __future__ import annotations

from dataclasses import dataclass

import click

from adapters.bootstrap import System
from adapters.config import Settings


@dataclass
class Context:
    settings: Settings
    system: System | None = None  # opened on first use, closed when the command ends


@click.group(name="orders", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--event-store", help="Event store URL (overrides ORDERS_EVENT_STORE_URL).")
@click.option("--read-models", help="Read-model database URL (overrides ORDERS_READ_MODEL_URL).")
@click.option("--kafka", help="Kafka bootstrap servers (overrides ORDERS_KAFKA_BOOTSTRAP).")
@click.option("--topic", help="Event topic (overrides ORDERS_TOPIC).")
@click.pass_context
def app(
    ctx: click.Context, event_store: str | None, read_models: str | None, kafka: str | None, topic: str | None
) -> None:
    """orderstream: event-sourced orders with Kafka-fed SQL read models."""
    ctx.obj = Context(
        Settings.from_env(
            event_store_url=event_store,
            read_model_url=read_models,
            kafka_bootstrap=kafka,
            topic=topic,
        )
    )


def settings_of(ctx: click.Context) -> Settings:
    context: Context = ctx.find_root().obj
    return context.settings


def system_of(ctx: click.Context) -> System:
    """The command's :class:`System` (the composition root's parts, each opened on first use)."""
    root = ctx.find_root()
    context: Context = root.obj
    if context.system is None:
        context.system = System(context.settings)
        root.call_on_close(context.system.close)
    return context.system


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
