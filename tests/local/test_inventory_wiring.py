"""``open_inventory`` on the embedded store: the same SQLite file as the orders, a table of its own."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from adapters.config import Settings
from adapters.eventstore.wiring import open_inventory


def test_open_inventory_keeps_its_events_in_the_event_store_file_in_a_table_of_their_own(settings: Settings):
    inventory = open_inventory(settings)
    try:
        inventory.restock("BOOK-42", 1)
    finally:
        inventory.close()
    with closing(sqlite3.connect(settings.sqlite_path)) as db:
        rows = db.execute("SELECT topic FROM inventory_events ORDER BY rowid").fetchall()
    assert rows == [("Stock.Created",), ("Stock.Restocked",)]
