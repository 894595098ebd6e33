"""Alembic environment and revisions of the read-model database (see adapters.sql.migrations)."""
