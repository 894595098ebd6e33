"""A reactor's effects are recorded pending from its live-from offsets, suppressed before (no I/O)."""

from __future__ import annotations

from adapters.runner.reactions import Reactions
from adapters.sql.schema import EffectStatus
from projections.apply import apply_batch
from tests.unit.projections.kit import ORDER_A, ORDER_B, DictRows, event, messages
from tests.unit.reactors.test_contract import Greeter


def no_sleep(_seconds: float) -> None:
    pass


def recorded(live_from: dict[int, int], start: int = 0):
    reactor = Greeter()
    batch = messages(event(ORDER_A, 1), event(ORDER_B, 1), start=start)
    apply_batch(reactor, DictRows(), batch, sleep=no_sleep)
    return Reactions(reactor, live_from).take(batch)


def test_effects_of_messages_past_the_live_from_offset_are_pending():
    assert {e.status for e in recorded({0: 10}, start=10)} == {EffectStatus.PENDING}


def test_effects_of_messages_before_the_live_from_offset_are_suppressed():
    assert [e.status for e in recorded({0: 11}, start=10)] == [EffectStatus.SUPPRESSED] * 2 + [EffectStatus.PENDING] * 2


def test_a_partition_without_a_live_from_offset_delivers_from_its_start():
    assert {e.status for e in recorded({1: 100})} == {EffectStatus.PENDING}


def test_an_effect_records_the_message_it_came_from():
    [first, *_] = recorded({}, start=40)
    assert (first.partition, first.offset, first.aggregate_id, first.reactor) == (0, 40, ORDER_A, "greeter")


def test_discarding_forgets_effects_of_an_attempt_that_did_not_commit():
    reactor = Greeter()
    batch = messages(event(ORDER_A, 1))
    apply_batch(reactor, DictRows(), batch, sleep=no_sleep)
    reactions = Reactions(reactor, {})
    reactions.discard()
    assert reactions.take(batch) == []
