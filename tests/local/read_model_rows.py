"""Fill read-model tables from order stories, through the projections' own handlers; read them back whole."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from adapters.config import Settings
from adapters.sql.engines import create_read_model_engine
from projections import BUILT_IN
from projections.testing import project
from tests.unit.projections.stories import OrderStory, at


def load(conn: Connection, *stories: OrderStory) -> None:
    """Project the stories' events with every built-in projection and store the rows."""
    events = [r for story in stories for r in story.records]
    for projection in BUILT_IN:
        rows = project(projection(), events)
        for table in projection.tables():
            if rows.all(table):
                conn.execute(table.insert(), rows.all(table))
    conn.commit()


def placed_at(story: OrderStory, when: str) -> OrderStory:
    """``story`` with its placement at ``when`` (ISO text)."""
    story.records[0] = at(story.records[0], when)
    return story


def snapshot(settings: Settings, projection: Any) -> dict[str, list]:
    """Every row of ``projection``'s live tables, by table name, in key order."""
    engine = create_read_model_engine(settings.read_model_url)
    with engine.connect() as conn:
        out = {t.name: conn.execute(select(t).order_by(*t.primary_key.columns)).all() for t in projection.tables()}
    engine.dispose()
    return out
