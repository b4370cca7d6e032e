"""Schema migrations: a database the first release wrote upgrades in place with its data and users; a new
database gets exactly the models' schema; starting again changes nothing."""
from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.auth import login
from core.domain.scope import Scope
from core.storage import migrations, models, partitions, request_log, store
from tests.conftest import FIXTURES
from tests.databases import at_revision

ROOT = Path(__file__).resolve().parent.parent
FIRST_RELEASE = "5cbaaae"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def first_release(tmp_path_factory) -> Path:
    """The first release's source tree, taken from this repository's history."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", FIRST_RELEASE], check=True, capture_output=True).stdout
    root = tmp_path_factory.mktemp("first-release")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root, filter="data")
    return root


def run_first_release(root: Path, url: str, *args: str, stdin: str | None = None, expect_rc: int = 0) -> str:
    """`python -m core ARGS` of the first release (its own tree as cwd, this interpreter's packages)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-m", "core", *args], cwd=root, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == expect_rc, done.stderr
    return done.stdout


@pytest.fixture
def models_engine(db_url, tmp_path):
    """A second empty database on the same backend, given the models' tables by create_all (partitioned on
    PostgreSQL)."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'create_all.db'}"
        schema = None
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        url = sa.engine.make_url(db_url).update_query_dict({"options": f"-csearch_path={schema}"})
        _execute(db_url, f'CREATE SCHEMA "{schema}"')
    engine = models.make_engine(url if isinstance(url, str) else url.render_as_string(hide_password=False))
    models.Base.metadata.create_all(engine)
    with engine.begin() as conn:
        partitions.adopt(conn)  # PostgreSQL: the two tables partitioned as migration 0008 leaves them
    yield engine
    engine.dispose()
    if schema:
        _execute(db_url, f'DROP SCHEMA "{schema}" CASCADE')


def _execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def schema_of(engine: sa.Engine) -> dict:
    """Every table's columns (type, nullability, default), key, foreign keys, indexes and unique constraints."""
    inspector = sa.inspect(engine)
    tables = {}
    # A month's partitions exist where the data has that month (test_partitions covers them): not compared here.
    months = {t for t in inspector.get_table_names() if re.fullmatch(r"(requests|request_details)_p\d{6}", t)}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"} - months):
        tables[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], c.get("default")) for c in inspector.get_columns(table)},
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted((fk["name"] or "", fk["constrained_columns"], fk["referred_table"], fk["referred_columns"],
                                    fk["options"].get("ondelete")) for fk in inspector.get_foreign_keys(table)),
            "indexes": sorted((ix["name"], ix["column_names"], bool(ix["unique"])) for ix in inspector.get_indexes(table)),
            "unique": sorted((uc["name"] or "", uc["column_names"]) for uc in inspector.get_unique_constraints(table)),
        }
    return tables


def _not_a_partition(name, type_, _parent_names) -> bool:
    return type_ != "table" or not partitions.is_partition(name)


def _described(difference) -> tuple[str, str, str]:
    """(operation, table, column or referred table) of one of compare_metadata's differences."""
    if isinstance(difference, list):  # column changes come as a list of one
        (op, _schema, table, column, *_), = difference
        return op, table, column
    op, item = difference[0], difference[1]
    return op, item.table.name, item.referred_table.name if op.endswith("_fk") else item.name


def revision_of(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return migrations.current(conn)


@pytest.mark.slow  # four runs of the first release's command line: ~2 s each
def test_a_database_of_the_first_release_upgrades_with_its_data_and_users(first_release, db_url, models_engine):
    shop = json.loads(run_first_release(first_release, db_url, "apis", "add", "Shop", "--json"))
    run_first_release(first_release, db_url, "users", "add", "admin@example.com", "--role", "admin", stdin=PASSWORD + "\n")
    run_first_release(first_release, db_url, "invite", "member@example.com", "--role", "member")
    payloads = [str(FIXTURES / name) for name in ("treblle-node-1.5.2-post-json-user-id-and-metadata.json",
                                                  "django-01-get-treblle-user-id.json", "django-04-500-unhandled-exception.json")]
    not_a_payload = first_release / "not-a-payload.json"
    not_a_payload.write_text('{"hello": "world"}')
    # "--api-key=KEY": a generated key may start with "-", which argparse would take for an option.
    run_first_release(first_release, db_url, "ingest", *payloads, str(not_a_payload), f"--api-key={shop['api_key']}",
                      expect_rc=1)  # the refused file fails the command, and is kept in rejected_payloads

    engine = models.make_engine(db_url)
    models.init_db(engine)

    assert revision_of(engine) == migrations.head()
    assert schema_of(engine) == schema_of(models_engine)
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM requests")) == 3
        assert conn.scalar(sa.text("SELECT count(*) FROM request_details")) == 3
        [(epoch,)] = conn.execute(sa.text("SELECT session_epoch FROM users")).all()
        assert conn.execute(sa.text("SELECT email, user_id FROM invitations")).all() == [("member@example.com", None)]
        assert conn.execute(sa.text("SELECT raw, source_ip FROM rejected_payloads")).all() == [('{"hello": "world"}', None)]
    assert len(epoch) == 32
    # The first release's details (JSON columns, nothing packed: 0007 rewrites nothing) read as they were stored.
    with engine.connect() as conn:
        ids = conn.scalars(sa.text("SELECT request_id FROM request_details WHERE packed IS NULL ORDER BY request_id")).all()
    shown = [request_log.request_detail(engine, Scope.workspace(), rid) for rid in ids]
    assert sorted(d["general"]["method"] for d in shown) == ["GET", "GET", "POST"]
    assert all(d["request_headers"] for d in shown)
    assert login.authenticate(engine, "admin@example.com", PASSWORD).email == "admin@example.com"
    assert [(a["name"], a["api_key"]) for a in store.list_apis(engine)] == [("Shop", shop["api_key"])]
    assert store.valid_token_hashes(engine) == {store.token_hash(shop["sdk_token"]): shop["api_id"]}
    engine.dispose()


def test_a_new_database_gets_the_models_schema_from_the_migrations(db_url, models_engine):
    engine = models.make_engine(db_url)
    models.init_db(engine)
    assert revision_of(engine) == migrations.head()
    assert schema_of(engine) == schema_of(models_engine)
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn, opts={"include_name": _not_a_partition}),
                                       models.Base.metadata)
    engine.dispose()
    # PostgreSQL partitions these two by month (core.storage.partitions): the key holds request_details.timestamp,
    # which is then NOT NULL, and nothing can refer to requests.id alone. Those two differences, and no other.
    expected = [] if db_url.startswith("sqlite") else [
        ("add_fk", "request_details", "requests"), ("modify_nullable", "request_details", "timestamp")]
    assert sorted(_described(d) for d in differences) == expected


def test_init_on_a_database_at_the_newest_revision_only_reads(db_url):
    engine = models.make_engine(db_url)
    models.init_db(engine)
    statements = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cursor, sql, *args: statements.append(sql))
    models.init_db(engine)
    engine.dispose()
    writes = ("CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE", "BEGIN")
    assert statements and [sql for sql in statements if sql.lstrip().upper().startswith(writes)] == []


def test_a_database_of_a_build_between_releases_is_adopted_without_losing_account_epochs(db_url):
    # Builds before migrations existed created today's tables with create_all and no alembic_version.
    engine = models.make_engine(db_url)
    models.Base.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(models.User), [
            {"email": "kept@example.com", "name": "Kept", "password_hash": "x", "role": "admin", "session_epoch": "a" * 32},
            {"email": "none@example.com", "name": "None", "password_hash": "x", "role": "admin", "session_epoch": None},
        ])
    models.init_db(engine)
    with engine.connect() as conn:
        epochs = dict(conn.execute(sa.select(models.User.email, models.User.session_epoch)).all())
    assert revision_of(engine) == migrations.head()
    engine.dispose()
    assert epochs["kept@example.com"] == "a" * 32
    assert len(epochs["none@example.com"]) == 32


def test_float_load_sums_of_a_database_at_0005_become_whole_microseconds(db_url):
    # 0006: rollup_hours.load_sum (float ms, order-dependent sums) → load_us (integer µs, exact sums).
    engine = at_revision(db_url, "0005")
    api_id = store.create_api(engine, "Orders API")["api_id"]
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO rollup_hours (api_id, hour, customer_id, method, endpoint, requests, failed, status_4xx,"
            " status_5xx, load_sum, size_sum, first_ts, last_ts) VALUES (:api, :hour, 'cust_1', 'GET', '/orders',"
            " 3, 0, 0, 0, 1193.1825, 30, :hour, :hour)"), {"api": api_id, "hour": "2026-11-01 10:00:00"})
    models.init_db(engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(models.RollupHour.requests, models.RollupHour.load_us)).all()
    assert revision_of(engine) == migrations.head()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(3, 1_193_183)]  # kept, not rebuilt from the (absent) raw rows


def test_the_test_suites_shortcut_schema_is_exactly_the_migrated_schema(db_url, tmp_path):
    # tests.databases.initialised (a copied SQLite file, the models' DDL on PostgreSQL) stands in for
    # init_db in thousands of tests: it must give the same database, revision included.
    from tests.databases import initialised

    migrated = models.make_engine(db_url)
    models.init_db(migrated)
    if db_url.startswith("sqlite"):
        other_url = f"sqlite:///{tmp_path / 'shortcut.db'}"
    else:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        _execute(db_url, f'CREATE SCHEMA "{schema}"')
        other_url = sa.engine.make_url(db_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    shortcut = initialised(other_url)
    try:
        assert revision_of(shortcut) == revision_of(migrated) == migrations.head()
        assert schema_of(shortcut) == schema_of(migrated)
    finally:
        shortcut.dispose()
        migrated.dispose()
        if not db_url.startswith("sqlite"):
            _execute(db_url, f'DROP SCHEMA "{schema}" CASCADE')
