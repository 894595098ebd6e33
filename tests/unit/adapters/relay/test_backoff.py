"""The retry schedule while Kafka is unreachable."""

from __future__ import annotations

from adapters.relay.messages import Backoff


def test_backoff_doubles_from_its_initial_delay():
    backoff = Backoff(initial=0.1, maximum=10, factor=2)
    assert [backoff.delay(n) for n in range(4)] == [0.1, 0.2, 0.4, 0.8]


def test_backoff_is_capped():
    assert Backoff(initial=0.2, maximum=5).delay(50) == 5
