"""In-memory ``Rows`` for unit tests of projection handlers (no database)."""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import Table

from domain.records import EventRecord
from projections.contract import Projection, Rows


class InMemoryRows(Rows):
    """Rows kept in dicts, keyed by table name and primary key."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}

    def get(self, table: Table, *key: Any) -> dict[str, Any] | None:
        row = self.tables.get(table.name, {}).get(tuple(key))
        return copy.deepcopy(row) if row is not None else None

    def put(self, table: Table, row: dict[str, Any]) -> None:
        key = tuple(row[c.name] for c in table.primary_key.columns)
        self.tables.setdefault(table.name, {})[key] = copy.deepcopy(row)

    def delete(self, table: Table, *key: Any) -> None:
        self.tables.get(table.name, {}).pop(tuple(key), None)

    def all(self, table: Table) -> list[dict[str, Any]]:
        """Every row of ``table``, ordered by primary key."""
        return [copy.deepcopy(r) for _, r in sorted(self.tables.get(table.name, {}).items())]


def project(projection: Projection, events: list[EventRecord]) -> InMemoryRows:
    """Apply ``events`` in order to a fresh in-memory store (handlers only)."""
    rows = InMemoryRows()
    for event in events:
        projection.apply(rows, event)
    return rows
