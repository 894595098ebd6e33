"""The SQL that reads one share of the log on SQLite puts each order where ``order_share`` does."""

from __future__ import annotations

import sqlite3

from adapters.eventstore.log import (
    ORDER_SHARES,
    OrderShare,
    order_share,
    sqlite_share_condition,
)

ORDER_ID = "0b7e4f52-8a34-4c1e-9a57-3f6c2d1e9b80"
IDS = [ORDER_ID[:-1] + c for c in "0123456789abcdefABCDEFxZ-"] + ["", "order-9", ORDER_ID.replace("-", "")]


def test_every_share_count_puts_every_id_in_the_share_order_share_gives():
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE ids (id TEXT)")
    conn.executemany("INSERT INTO ids VALUES (?)", [(i,) for i in IDS])
    for n in range(1, ORDER_SHARES + 1):
        for k in range(n):
            condition = sqlite_share_condition(OrderShare(k, n), "id")
            found = {i for (i,) in conn.execute(f"SELECT id FROM ids WHERE {condition}")}
            assert found == {i for i in IDS if order_share(i, n) == k}, f"share {k} of {n}"
