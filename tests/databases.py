"""A database shared by the tests of one module (read-only tests over data written once), on SQLite or PostgreSQL.

tests/conftest.py's `engine` gives each test a fresh database; seeding hundreds of requests or running the
migrations for every one of dozens of read-only tests costs more than the tests themselves."""
from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from core.storage import models
from tests.conftest import _pg_url_with_schema


@contextmanager
def shared_engine(backend: str, directory: Path) -> Iterator[sa.Engine]:
    """An empty, initialised database ("sqlite" in `directory`, or "postgresql": a throw-away schema), disposed after."""
    schema = admin = None
    if backend == "sqlite":
        url = f"sqlite:///{directory / 'shared.db'}"
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(_pg_url_with_schema("public"))
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        url = _pg_url_with_schema(schema)
    engine = models.make_engine(url)
    try:
        models.init_db(engine)
        yield engine
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
