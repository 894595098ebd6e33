"""Plain-value helpers shared by the built-in projections.

Times are stored as fixed-width UTC ISO-8601 text
(``2026-01-01T09:30:00.000000+00:00``, 32 characters): the same bytes on
SQLite and PostgreSQL, and text order is time order, so ``ORDER BY`` and
``max`` work on the column directly. Query functions hand readers aware
``datetime`` values.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, overload

import orjson
from sqlalchemy import Table

from domain.money import to_money
from domain.records import EventRecord
from projections.contract import Rows

TIMESTAMP_LENGTH = 32
_UTC_SUFFIX = "+00:00"


def timestamp(occurred_at: str) -> str:
    """An event's ``occurred_at`` as fixed-width UTC text (sortable as text)."""
    if len(occurred_at) == TIMESTAMP_LENGTH and occurred_at[10] == "T" and occurred_at.endswith(_UTC_SUFFIX):
        return occurred_at  # already canonical: the usual case, kept fast for rebuilds
    moment = datetime.fromisoformat(occurred_at)
    if moment.tzinfo is None:
        raise ValueError(f"event time {occurred_at!r} has no time zone")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


@overload
def moment(stored: str) -> datetime: ...
@overload
def moment(stored: str | None) -> datetime | None: ...
def moment(stored: str | None) -> datetime | None:
    """A stored timestamp back as an aware ``datetime`` (None stays None)."""
    return None if stored is None else datetime.fromisoformat(stored)


def dump_json(value: Any) -> str:
    """Compact JSON text of handler state kept in a Text column.

    Handler state such as an order's lines is stored as text rather than a
    JSON column: events that do not touch it then neither parse nor copy it,
    which keeps rebuilds fast. orjson: the same compact text as
    ``json.dumps(value, separators=(",", ":"))`` for this ASCII state (SKUs
    are A-Z, 0-9 and '-'), several times faster.
    """
    return orjson.dumps(value).decode()


def load_json(text: str) -> Any:
    return orjson.loads(text)


def money(value: str) -> Decimal:
    """A money field of ``event.data`` (a decimal string) as an exact Decimal."""
    return Decimal(value)


@overload
def in_currency(amount: Decimal, currency: str) -> Decimal: ...
@overload
def in_currency(amount: Decimal | None, currency: str) -> Decimal | None: ...
def in_currency(amount: Decimal | None, currency: str) -> Decimal | None:
    """A stored amount at ``currency``'s minor unit (``20.500`` -> ``20.50`` EUR).

    Money columns keep thousandths; readers get the currency's own precision.
    An amount finer than that is an error, never rounded away.
    """
    return None if amount is None else to_money(amount, currency)


def pop_line(lines: dict[str, Any], event: EventRecord, error: type[Exception]) -> Any:
    """Remove and return the line ``event`` names; ``error`` if the order has no such line.

    A line the projection never saw means its state and the history disagree:
    an error, never a silent skip.
    """
    try:
        return lines.pop(event.data["sku"])
    except KeyError:
        raise error(
            f"{event.event_type} (version {event.aggregate_version}) for order "
            f"{event.aggregate_id} names SKU {event.data['sku']}, which is not on the order"
        ) from None


def row_of_placed_order(
    rows: Rows, table: Table, event: EventRecord, error: type[Exception], projection: str
) -> dict[str, Any]:
    """The row in ``table`` of ``event``'s order; ``error`` if ``projection`` never saw that order placed.

    An event of an order whose placement a projection never applied means its
    state is not what incremental processing would have built: an error,
    never skipped.
    """
    row = rows.get(table, event.aggregate_id)
    if row is None:
        raise error(
            f"{event.event_type} (version {event.aggregate_version}) for order "
            f"{event.aggregate_id}, which {projection} has never seen placed"
        )
    return row
