"""Smoke tests for the PostgreSQL fixtures (pg_url, pg_database, make_pg_database)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent


def test_pg_database_is_fresh_and_accepts_a_write_and_a_read(pg_database, pg_url):
    assert pg_database.dbname.startswith("orderstream_t_")
    assert pg_database.url.endswith("/" + pg_database.dbname)
    with pg_database.connect() as conn:
        assert conn.execute("SELECT current_database(), current_user").fetchone() == (
            pg_database.dbname,
            pg_database.user,
        )
        tables = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()[0]
        assert tables == 0
        conn.execute("CREATE TABLE smoke (id int PRIMARY KEY, body jsonb NOT NULL)")
        conn.execute("INSERT INTO smoke VALUES (%s, %s)", (1, json.dumps({"order": "o-1"})))
        conn.commit()
    # A second, independent connection built from the parts sees the committed row.
    with psycopg.connect(
        host=pg_database.host,
        port=pg_database.port,
        user=pg_database.user,
        password=pg_database.password,
        dbname=pg_database.dbname,
    ) as conn:
        assert conn.execute("SELECT body->>'order' FROM smoke WHERE id = 1").fetchone() == ("o-1",)
    # The admin database did not get the table.
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('public.smoke')").fetchone() == (None,)


def test_two_modules_get_different_databases_dropped_at_module_end(tmp_path, pg_url):
    """Runs a tiny suite of two modules with this directory's conftest in a child pytest."""
    (tmp_path / "conftest.py").write_text((HERE / "conftest.py").read_text())
    module = textwrap.dedent(
        """
        import json, os

        def test_uses_its_database(pg_database):
            with pg_database.connect() as conn:
                conn.execute("CREATE TABLE mine (x int)")  # fails if the database were shared
                conn.commit()
            with open(os.environ["SEEN_FILE"], "a") as f:
                f.write(json.dumps([__name__, pg_database.dbname]) + "\\n")
        """
    )
    (tmp_path / "test_mod_a.py").write_text(module)
    (tmp_path / "test_mod_b.py").write_text(module)
    seen_file = tmp_path / "seen.jsonl"
    env = dict(os.environ, SEEN_FILE=str(seen_file), ORDERS_TEST_PG_URL=pg_url)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W",
         "ignore::pytest.PytestUnknownMarkWarning", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = dict(json.loads(line) for line in seen_file.read_text().splitlines())
    assert set(seen) == {"test_mod_a", "test_mod_b"}
    assert seen["test_mod_a"] != seen["test_mod_b"]
    with psycopg.connect(pg_url) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(seen.values()),)
        ).fetchall()
    assert left == [], f"databases not dropped at module end: {left}"
