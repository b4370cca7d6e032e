"""What differs between the two databases, said once: the INSERT that can ON CONFLICT DO UPDATE/NOTHING."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(bind: sa.Engine | sa.Connection, table: sa.Table):
    """The dialect's INSERT for `table` (PostgreSQL or SQLite), which has on_conflict_do_update/nothing."""
    return (postgresql.insert if bind.dialect.name == "postgresql" else sqlite.insert)(table)
