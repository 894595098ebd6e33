"""The unit of work a batch runs on: reads see the batch's own writes; writes are collected."""

from __future__ import annotations

import pytest

from tests.unit.projections.kit import ORDER_A, ORDER_B, DictRows, EventCounts

TABLE = EventCounts.counts


def test_get_sees_a_put_made_earlier_in_the_batch():
    rows = DictRows()
    rows.put(TABLE, {"order_id": ORDER_A, "events": 3})
    assert rows.get(TABLE, ORDER_A) == {"order_id": ORDER_A, "events": 3}


def test_get_sees_a_delete_made_earlier_in_the_batch():
    rows = DictRows({("event_counts", (ORDER_A,)): {"order_id": ORDER_A, "events": 1}})
    rows.delete(TABLE, ORDER_A)
    assert rows.get(TABLE, ORDER_A) is None


def test_a_returned_row_is_a_copy():
    rows = DictRows()
    rows.put(TABLE, {"order_id": ORDER_A, "events": 3})
    rows.get(TABLE, ORDER_A)["events"] = 99
    assert rows.get(TABLE, ORDER_A)["events"] == 3


def test_changes_list_upserts_and_deletes_but_not_rows_only_read():
    rows = DictRows({("event_counts", (ORDER_B,)): {"order_id": ORDER_B, "events": 1}})
    rows.get(TABLE, ORDER_B)
    rows.put(TABLE, {"order_id": ORDER_A, "events": 1})
    rows.delete(TABLE, "gone")
    [(table, upserts, deletes)] = rows.changes()
    assert table is TABLE
    assert upserts == [{"order_id": ORDER_A, "events": 1}]
    assert deletes == [("gone",)]


def test_rollback_event_restores_the_rows_before_it():
    rows = DictRows({("event_counts", (ORDER_A,)): {"order_id": ORDER_A, "events": 1}})
    rows.begin_event()
    rows.put(TABLE, {"order_id": ORDER_A, "events": 2})
    rows.put(TABLE, {"order_id": ORDER_B, "events": 1})
    rows.rollback_event()
    assert rows.get(TABLE, ORDER_A)["events"] == 1
    assert rows.get(TABLE, ORDER_B) is None
    assert rows.changes() == []


def test_a_put_without_its_primary_key_is_refused():
    with pytest.raises(ValueError, match="lacks primary-key column 'order_id'"):
        DictRows().put(TABLE, {"events": 1})
