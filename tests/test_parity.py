"""SQLite and PostgreSQL give the same numbers: one demo data set (fixed seed and now) loaded into each, and
`python -m core stats --json` run as a separate process against each prints identical output."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import demo
from core.storage import models
from core.storage.models import Request
from tests.conftest import PG_URL, _pg_url_with_schema

ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
NOW_ISO = "2026-11-25T12:00:00Z"
REQUESTS = 3000
DAYS = 45
SEED = 11

pytestmark = pytest.mark.skipif(not PG_URL, reason="parity needs PostgreSQL: set TEST_DATABASE_URL")


def _load(url: str) -> None:
    engine = models.make_engine(url)
    try:
        models.init_db(engine)
        demo.generate(engine, requests=REQUESTS, days=DAYS, seed=SEED, now=NOW)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    """{"sqlite": url, "postgresql": url}, both holding the same demo traffic."""
    sqlite_url = f"sqlite:///{tmp_path_factory.mktemp('parity') / 'parity.db'}"
    schema = f"parity_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(_pg_url_with_schema("public"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        pg_url = _pg_url_with_schema(schema)
        _load(sqlite_url)
        _load(pg_url)
        yield {"sqlite": sqlite_url, "postgresql": pg_url}
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="module")
def busiest(databases) -> dict:
    """The busiest customer of the data set, the API it calls most, and the names of all APIs (read from SQLite)."""
    engine = models.make_engine(databases["sqlite"])
    try:
        with engine.connect() as conn:
            customer = conn.execute(
                sa.select(Request.customer_id).where(Request.customer_id.is_not(None))
                .group_by(Request.customer_id).order_by(sa.func.count().desc(), Request.customer_id).limit(1)
            ).scalar_one()
            apis = list(conn.scalars(sa.select(models.Api.name).order_by(models.Api.id)))
            customer_api = conn.execute(
                sa.select(models.Api.name).join(Request, Request.api_id == models.Api.id).where(Request.customer_id == customer)
                .group_by(models.Api.name).order_by(sa.func.count().desc(), models.Api.name).limit(1)
            ).scalar_one()
    finally:
        engine.dispose()
    return {"customer": customer, "apis": apis, "customer_api": customer_api}


def _stats_process(url: str, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "core", "stats", "--json", "--now", NOW_ISO, *args],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _compare(databases, args: list[str]) -> dict:
    """Both outputs (the two processes run side by side), after checking they are identical; returns the parsed output."""
    processes = [_stats_process(databases[name], args) for name in ("sqlite", "postgresql")]
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    return json.loads(outputs[0])


def test_both_databases_hold_the_same_demo_requests(databases):
    counts = {}
    for name, url in databases.items():
        engine = models.make_engine(url)
        with engine.connect() as conn:
            counts[name] = conn.scalar(sa.select(sa.func.count()).select_from(Request))
        engine.dispose()
    assert counts == {"sqlite": REQUESTS, "postgresql": REQUESTS}


@pytest.mark.parametrize("window", ["24h", "7d", "30d", "all"])
def test_workspace_stats_are_identical_for_every_window(databases, window):
    data = _compare(databases, ["--window", window])
    assert data["overview"]["total_requests"] > 0 and data["customers"]


@pytest.mark.parametrize("rank, window", [(0, "7d"), (1, "30d"), (2, "all")])
def test_stats_of_one_api_are_identical(databases, busiest, rank, window):
    data = _compare(databases, ["--api", busiest["apis"][rank], "--window", window])
    assert data["api"]["name"] == busiest["apis"][rank] and data["overview"]["total_requests"] > 0


@pytest.mark.parametrize("window", ["7d", "all"])
def test_a_customers_own_stats_are_identical(databases, busiest, window):
    data = _compare(databases, ["--as-customer", busiest["customer"], "--window", window])
    assert data["overview"]["total_requests"] > 0 and "customers" not in data


def test_a_customers_stats_on_one_api_are_identical(databases, busiest):
    data = _compare(databases, ["--as-customer", busiest["customer"], "--api", busiest["customer_api"], "--window", "30d"])
    assert data["api"]["name"] == busiest["customer_api"] and "widgets" not in data
