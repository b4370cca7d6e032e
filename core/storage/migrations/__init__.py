"""Schema migrations (Alembic): `upgrade` brings any database to the newest revision in versions/, and
`new_revision` writes the next one. init_db (every start, `python -m core init`) calls `upgrade`."""
from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent
# The schema of the first release (commit 5cbaaae). Databases written before migrations existed hold it
# (or a later development state of it, which 0002 allows for) and no alembic_version table.
FIRST_RELEASE = "0001"


def alembic_config(connection: sa.Connection) -> Config:
    """Alembic's configuration, built here rather than read from an alembic.ini: env.py runs on `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def head() -> str:
    """The newest revision in versions/."""
    return ScriptDirectory(str(HERE)).get_current_head()


def current(connection: sa.Connection) -> str | None:
    """The revision the database is at; None before its first migration."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine) -> None:
    """Create the schema on an empty database, or upgrade it to the newest revision with its data."""
    with engine.connect() as conn:
        if current(conn) == head():  # every start after the first: one query
            return
    with engine.connect() as conn, _exclusive(conn):
        at = current(conn)  # again: another process may have upgraded while we waited
        if at == head():
            return
        if at is None and sa.inspect(conn).has_table("apis"):
            command.stamp(alembic_config(conn), FIRST_RELEASE)
        command.upgrade(alembic_config(conn), "head")


@contextlib.contextmanager
def _exclusive(conn: sa.Connection) -> Iterator[None]:
    """One transaction holding the database's migration lock: concurrent starts (collector workers, app
    processes) upgrade once, and a failed migration leaves the database as it was."""
    if conn.dialect.name != "sqlite":
        with conn.begin():
            # Per schema: tests (and tenants) in other schemas of the same database need not wait.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('clientele-migrations:' || current_schema()))"))
            yield
        return
    # Batch mode copies a SQLite table to change it; with foreign keys on, dropping the old copy would
    # cascade into the tables that refer to it. The pragma only takes effect outside a transaction.
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    conn.commit()  # ends SQLAlchemy's autobegun transaction; SQLite had none open
    try:
        with conn.begin():
            # pysqlite runs DDL outside any transaction unless we begin one ourselves; IMMEDIATE takes the
            # write lock now, so a second process waits here instead of failing halfway.
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield
    finally:
        conn.rollback()
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")  # the connection goes back to the pool
        conn.commit()


def new_revision(message: str) -> Path:
    """Write versions/NNNN_<message>.py with the operations that bring the newest revision's schema to the
    models' (Alembic autogenerate, batch mode for SQLite), for a developer to review; returns its path."""
    numbers = [int(p.name[:4]) for p in (HERE / "versions").glob("[0-9][0-9][0-9][0-9]_*.py")]
    rev_id = f"{max(numbers, default=0) + 1:04d}"
    with tempfile.TemporaryDirectory() as tmp:
        # Compare against a scratch database at head, not whichever database DATABASE_URL names.
        engine = sa.create_engine(f"sqlite:///{Path(tmp) / 'head.db'}")
        try:
            upgrade(engine)
            with engine.begin() as conn:
                script = command.revision(alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id)
        finally:
            engine.dispose()
    return Path(script.path)
