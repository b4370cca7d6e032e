"""What differs between the two databases, said once: the INSERT that can ON CONFLICT DO UPDATE/NOTHING."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(bind: sa.Engine | sa.Connection, table: sa.Table):
    """The dialect's INSERT for `table` (PostgreSQL or SQLite), which has on_conflict_do_update/nothing."""
    return insert_for(bind.dialect.name, table)


def insert_for(dialect: str, table: sa.Table):
    """insert() by the dialect's name ("postgresql" or "sqlite"): for statements built once per dialect."""
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
