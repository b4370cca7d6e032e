"""Shared fixtures: a fresh database per test on SQLite and, when TEST_DATABASE_URL is set, PostgreSQL."""
from __future__ import annotations

import contextlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.domain import masking
from core.storage import cache
from tests.apptest_helpers import seeded_app  # noqa: F401  (fixture: a seeded database behind the app, for AppTest)
from tests.page_checks import downloads  # noqa: F401  (fixture: every CSV a page offers, captured)

# Real payloads captured from Treblle SDKs: the project's own test data (tests/fixtures/treblle-payloads/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "treblle-payloads"

PG_URL = os.environ.get("TEST_DATABASE_URL")
# No cache snapshots on disk (core.storage.cache.snapshot) unless a test asks for them in a directory of its own:
# the tests' databases come and go at the same few addresses. Servers the tests start inherit it.
os.environ["CLIENTELE_CACHE_DIR"] = "off"
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def fixture_payload(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _pg_url_with_schema(schema: str) -> str:
    url = sa.engine.make_url(PG_URL)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A URL of an empty, initialised database; PostgreSQL gets a throw-away schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        yield url
        return
    with throwaway_schema() as url:
        yield url


@contextlib.contextmanager
def throwaway_schema() -> Iterator[str]:
    """The URL of a new, empty PostgreSQL schema in TEST_DATABASE_URL's database, dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_pg_url_with_schema("public"))
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield _pg_url_with_schema(schema)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def engine(db_url):
    from tests.databases import initialised  # (it imports this module)

    eng = initialised(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    from tests.databases import initialised

    eng = initialised(f"sqlite:///{tmp_path / 'only.db'}")
    yield eng
    eng.dispose()


# Modules of the full suite only (`-m "not slow"` is the fast loop, under 3 minutes): each starts real
# servers or subprocesses (collector, real SDKs, kill -9, the old release's CLI) or drives the whole app
# page by page under AppTest (the role x page and leak matrices, the page tests), or compare whole pages on demo
# data written to both backends (test_summed_facts). Browser tests too.
SLOW_MODULES = {
    "test_access_matrix", "test_leak_matrix", "test_collector", "test_collector_limits", "test_hostile_input",
    "test_treblle_sdk", "test_cli_ingest", "test_parity", "test_faults", "test_demo", "test_migrations",
    "test_pages_api_docs", "test_pages_customers", "test_pages_data", "test_pages_home", "test_pages_my_dashboard",
    "test_pages_profile", "test_pages_requests", "test_pages_people", "test_first_impression", "test_pages_usage", "test_pages_errors",
    "test_pages_audit_log", "test_pages_alerts", "test_rollups_concurrency", "test_alerts_cli", "test_history_table",
    "test_cache_snapshot", "test_summed_facts",
}


# Whole-app modules (AppTest page by page) whose storage is SQLite only: what they test is the pages, and
# every number and scope a page shows comes from core functions tested on both backends. test_leak_matrix
# stays on both: no leak, on any backend.
SQLITE_APP_MODULES = {
    "test_access_matrix", "test_first_impression", "test_pages_alerts", "test_pages_api_docs", "test_pages_audit_log", "test_pages_customers",
    "test_pages_data", "test_pages_errors", "test_pages_home", "test_pages_my_dashboard", "test_pages_people",
    "test_pages_profile", "test_pages_requests", "test_pages_usage",
}


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    if metafunc.module.__name__.rsplit(".", 1)[-1] in SQLITE_APP_MODULES and "db_url" in metafunc.fixturenames:
        metafunc.definition.add_marker(pytest.mark.parametrize("db_url", ["sqlite"], indirect=True))


def pytest_collection_modifyitems(items):
    for item in items:
        if item.get_closest_marker("browser") or item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _restore_main_module():
    """Streamlit's script runner (AppTest) installs the page it ran as sys.modules["__main__"] and leaves
    it there; a process started by multiprocessing's spawn (the collector's worker for large bodies)
    would then re-import app.py. Each test gets back the interpreter's own __main__."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture
def masked_fields(monkeypatch):
    """Set CLIENTELE_MASKED_FIELDS for one test; the names are read again before and after it."""
    def set_fields(value: str) -> None:
        monkeypatch.setenv("CLIENTELE_MASKED_FIELDS", value)
        masking.reload_masked_fields()
    yield set_fields
    monkeypatch.delenv("CLIENTELE_MASKED_FIELDS", raising=False)
    masking.reload_masked_fields()


@pytest.fixture
def fresh_cache():
    """An empty process-wide columnar cache before and after the test (its entries outlive a test's database)."""
    cache.invalidate()
    yield
    cache.invalidate()
