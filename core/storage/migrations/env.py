"""Alembic's environment: migrations run on the connection core.storage.migrations hands over (no alembic.ini,
no URL here), so they reach the schema that connection's search_path names, on SQLite and PostgreSQL alike."""
from __future__ import annotations

from alembic import context

from core.storage import models


def _render_item(type_, obj, autogen_context):
    """Migrations write plain SQLAlchemy types: the models' UTCDateTime is stored as DateTime."""
    if type_ == "type" and isinstance(obj, models.UTCDateTime):
        return "sa.DateTime()"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("Run migrations through core.storage.migrations (python -m core init), not the alembic command.")
context.configure(connection=connection, target_metadata=models.Base.metadata, render_as_batch=True,
                  render_item=_render_item)
with context.begin_transaction():
    context.run_migrations()
