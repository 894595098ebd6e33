"""The raw log reader (``adapters.eventstore.log.StoredLog``) reads what the recorder reads.

A contract on every event store: run here on SQLite, and on PostgreSQL by
tests/integration/contract.
"""

from __future__ import annotations

from adapters.eventstore.log import OrderShare, StoredLog, order_share
from domain.application import Orders

LINE = [("BOOK-1", 1, "9.90")]
ADDRESS = {"name": "Ada", "street": "1 Main St", "city": "Berlin", "postal_code": "10115", "country": "DE"}


def _rows_of_recorder(orders: Orders, start: int, limit: int, inclusive: bool = True, stop: int | None = None):
    found = orders.recorder.select_notifications(start=start, limit=limit, stop=stop, inclusive_of_start=inclusive)
    return [(n.id, str(n.originator_id), n.originator_version, n.topic, bytes(n.state)) for n in found]


def _some_history(orders: Orders) -> None:
    for i in range(4):
        order = orders.place_order(f"customer-{i}", LINE, "EUR")
        orders.add_line(order, "PEN-3", 2, "1.20")
        orders.set_shipping_address(order, ADDRESS)


def test_rows_equal_the_recorders_notifications(orders_app: Orders):
    _some_history(orders_app)
    rows = StoredLog(orders_app).read(1, 100)
    assert len(rows) == 12
    assert [tuple(r[:4]) + (bytes(r[4]),) for r in rows] == _rows_of_recorder(orders_app, 1, 100)


def test_start_is_inclusive_unless_told_otherwise(orders_app: Orders):
    _some_history(orders_app)
    log = StoredLog(orders_app)
    assert [r[0] for r in log.read(5, 3)] == [5, 6, 7]
    assert [r[0] for r in log.read(5, 3, inclusive=False)] == [6, 7, 8]


def test_stop_bounds_the_ids_read(orders_app: Orders):
    _some_history(orders_app)
    assert [r[0] for r in StoredLog(orders_app).read(3, 100, stop=4)] == [3, 4]


def test_the_order_id_is_canonical_uuid_text(orders_app: Orders):
    order = orders_app.place_order("customer-1", LINE, "EUR")
    ((_, order_id, version, topic, _),) = StoredLog(orders_app).read(0, 10)
    assert (order_id, version, topic) == (str(order), 1, "Order.Placed")


def test_an_empty_log_reads_nothing(orders_app: Orders):
    assert StoredLog(orders_app).read(0, 10) == []


def _many_orders(orders: Orders, count: int = 48) -> None:
    for i in range(count):
        orders.add_line(orders.place_order(f"customer-{i}", LINE, "EUR"), "PEN-3", 2, "1.20")


def test_the_shares_of_the_log_hold_each_row_once_and_each_order_in_one_share(orders_app: Orders):
    _many_orders(orders_app)
    log = StoredLog(orders_app)
    everything = log.read(0, 1000)
    for n in (2, 3):
        shares = [log.read(0, 1000, share=OrderShare(k, n)) for k in range(n)]
        assert sorted(r[0] for share in shares for r in share) == [r[0] for r in everything]
        for k, share in enumerate(shares):
            assert share, f"share {k} of {n} is empty"
            assert {order_share(r[1], n) for r in share} == {k}
            assert [r[0] for r in share] == sorted(r[0] for r in share)


def test_a_share_read_counts_only_its_own_rows_against_the_limit(orders_app: Orders):
    _many_orders(orders_app)
    log = StoredLog(orders_app)
    own = log.read(0, 1000, share=OrderShare(1, 2))
    assert log.read(0, 5, share=OrderShare(1, 2)) == own[:5]
    assert log.read(own[4][0], 3, inclusive=False, share=OrderShare(1, 2)) == own[5:8]
