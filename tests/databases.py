"""A database shared by the tests of one module (read-only tests over data written once), on SQLite or PostgreSQL.

tests/conftest.py's `engine` gives each test a fresh database; seeding hundreds of requests or running the
migrations for every one of dozens of read-only tests costs more than the tests themselves."""
from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from sqlalchemy.schema import CreateIndex, CreateTable

from core.storage import migrations, models, partitions
from tests.conftest import _pg_url_with_schema


def initialised(url: str) -> sa.Engine:
    """An engine on the empty database at `url`, with the newest schema exactly as models.init_db leaves it,
    in a fraction of its time: init_db runs every migration (0.1 s on SQLite, 0.2 s on PostgreSQL), and
    thousands of tests start from an empty database. SQLite: a copy of a file migrated once per test process.
    PostgreSQL: the models' DDL in one round trip, stamped with the head revision, then partitioned as migration
    0008 does (test_migrations proves the migrations give exactly this schema). init_db then finds the head and only reads."""
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if parsed.database and not path.exists():
            shutil.copyfile(_sqlite_template(), path)
        engine = models.make_engine(url)
    else:
        engine = models.make_engine(url)
        with engine.begin() as conn:
            if not sa.inspect(conn).get_table_names():
                conn.exec_driver_sql(_postgresql_ddl(partitions.month_of(dt.datetime.now(dt.timezone.utc))))
    models.init_db(engine)
    return engine


def at_revision(url: str, revision: str) -> sa.Engine:
    """An engine on the empty database at `url`, migrated up to `revision` only (an older release's schema)."""
    engine = models.make_engine(url)
    with engine.connect() as conn:
        command.upgrade(migrations.alembic_config(conn), revision)
        conn.commit()
    return engine


@lru_cache(maxsize=1)
def _sqlite_template() -> Path:
    path = Path(tempfile.mkdtemp(prefix="clientele-schema-")) / "template.db"
    engine = models.make_engine(f"sqlite:///{path}")
    models.init_db(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@lru_cache(maxsize=1)
def _postgresql_ddl(month: dt.datetime) -> str:
    """The models' tables, partitioned as migration 0008 leaves them in `month`, and the head revision."""
    dialect = sa.create_engine("postgresql+psycopg://").dialect
    statements = []
    for table in models.Base.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    statements += partitions.adopt_sql(
        partitions.wanted(month), "requests_id_seq", [c.name for c in models.RequestDetail.__table__.columns],
        [(ix.name, [c.name for c in ix.columns], _text_or_none(ix.dialect_options["postgresql"]["where"]))
         for ix in models.Request.__table__.indexes])
    statements.append("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
                      "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))")
    statements.append(f"INSERT INTO alembic_version (version_num) VALUES ('{migrations.head()}')")
    return ";\n".join(statements)


def _text_or_none(clause) -> str | None:
    return None if clause is None else str(clause)


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
    engine = initialised(url)
    try:
        yield engine
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
            admin.dispose()
