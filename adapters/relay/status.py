"""``orders relay status``: the relay's checkpoint, the newest notification id and the lag between them."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.config import Settings
from adapters.relay.messages import lag
from adapters.relay.positions import CheckpointStore
from domain.application import Orders


@dataclass(frozen=True)
class RelayStatus:
    """The relay's progress on ``topic`` (``lag``: notification ids after the checkpoint, gaps included)."""

    topic: str
    checkpoint: int
    newest: int
    lag: int


def relay_status(settings: Settings, orders: Orders, checkpoints: CheckpointStore) -> RelayStatus:
    checkpoint = checkpoints.load(settings.topic)
    newest = orders.recorder.max_notification_id() or 0
    return RelayStatus(topic=settings.topic, checkpoint=checkpoint, newest=newest, lag=lag(checkpoint, newest))
