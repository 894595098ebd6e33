"""A reactor's effects of a batch, ready to record with its rows: keyed, and pending or suppressed.

An effect of a message at or past the reactor's live-from offset (of its
partition) is pending: the dispatcher delivers it. One of an earlier message
(history the reactor replayed or started from) is recorded suppressed: it
keeps its key, so it is never delivered, now or by a later replay.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from adapters.sql.effects import RecordedEffect
from adapters.sql.schema import EffectStatus
from projections.apply import Message
from reactors.contract import Reactor, effect_json


class Reactions:
    """The effects ``reactor``'s handlers return, as :class:`RecordedEffect` values."""

    def __init__(self, reactor: Reactor, live_from: Mapping[int, int]) -> None:
        self.reactor = reactor
        self.live_from = dict(live_from)

    def discard(self) -> None:
        """Forget effects of an attempt that did not commit (a batch is about to be applied again)."""
        self.reactor.take_effects()

    def take(self, messages: Sequence[Message]) -> list[RecordedEffect]:
        """The effects returned since the last call, for ``messages`` (the batch they came from)."""
        reacted = self.reactor.take_effects()
        if not reacted:
            return []
        source = {
            (m.event.aggregate_id, m.event.aggregate_version): m for m in messages if m.event is not None
        }
        recorded = []
        for r in reacted:
            message = source[(r.event.aggregate_id, r.event.aggregate_version)]
            live = message.offset >= self.live_from.get(message.partition, 0)
            recorded.append(
                RecordedEffect(
                    key=r.key,
                    reactor=self.reactor.name,
                    kind=r.effect.kind,
                    payload=effect_json(r.effect),
                    status=EffectStatus.PENDING if live else EffectStatus.SUPPRESSED,
                    event_id=r.event.event_id,
                    aggregate_id=r.event.aggregate_id,
                    partition=message.partition,
                    offset=message.offset,
                )
            )
        return recorded
