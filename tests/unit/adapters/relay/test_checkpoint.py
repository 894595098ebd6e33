"""Acknowledged batch -> new checkpoint: the at-least-once arithmetic."""

from __future__ import annotations

import pytest

from adapters.relay.messages import checkpoint_after, lag


def test_a_fully_acknowledged_batch_moves_the_checkpoint_to_its_last_position():
    assert checkpoint_after(10, [(11, True), (12, True), (15, True)]) == 15


def test_gaps_in_notification_ids_do_not_hold_the_checkpoint_back():
    assert checkpoint_after(0, [(1, True), (4, True), (9, True)]) == 9


def test_a_failed_message_stops_the_checkpoint_before_it():
    assert checkpoint_after(10, [(11, True), (12, False), (13, True)]) == 11


def test_a_failed_first_message_keeps_the_checkpoint():
    assert checkpoint_after(10, [(11, False), (12, True)]) == 10


def test_an_empty_batch_keeps_the_checkpoint():
    assert checkpoint_after(7, []) == 7


def test_positions_at_or_before_the_checkpoint_are_refused():
    with pytest.raises(ValueError, match="increase"):
        checkpoint_after(10, [(10, True)])


def test_lag_counts_notification_ids_after_the_checkpoint():
    assert lag(checkpoint=40, newest=45) == 5


def test_lag_of_an_empty_store_is_zero():
    assert lag(checkpoint=0, newest=None) == 0
