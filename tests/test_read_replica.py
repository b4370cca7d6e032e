"""CLIENTELE_READ_DATABASE_URL: the dashboards' reads go to the read replica, everything else to DATABASE_URL.

A real PostgreSQL streaming replica cannot be set up on the test machine, so the "replica" here is a copy of
the primary's SQLite file taken at one moment: the primary then moves on, and which numbers a page shows
tells where it read them from.
"""
from __future__ import annotations

import datetime as dt
import shutil

import pytest

from core.analytics import stats
from core.domain.scope import Scope
from core.storage import cache, models, request_log, store
from tests.factories import NOW, make_request, seed_small

pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


@pytest.fixture
def primary_and_replica(tmp_path, monkeypatch):
    primary_url, replica_url = f"sqlite:///{tmp_path / 'primary.db'}", f"sqlite:///{tmp_path / 'replica.db'}"
    primary = models.make_engine(primary_url)
    models.init_db(primary)
    ids = seed_small(primary)
    primary.dispose()
    shutil.copy(tmp_path / "primary.db", tmp_path / "replica.db")  # the replica, as of now: 9 requests
    primary = models.make_engine(primary_url)
    store.write_requests(primary, [(ids["orders"], make_request(customer_id="cust_b", timestamp=NOW - dt.timedelta(hours=2)))])
    monkeypatch.setenv("DATABASE_URL", primary_url)
    yield primary, replica_url
    primary.dispose()
    models.read_engine_for.cache_clear()


def _dashboard_total(engine) -> int:
    return stats.collect(engine, Scope.workspace(), preset="7d", now=NOW)["overview"]["total_requests"]


def test_without_a_replica_the_dashboards_read_the_primary(primary_and_replica):
    primary, _ = primary_and_replica
    assert _dashboard_total(primary) == 10


def test_with_a_replica_the_dashboards_read_it_and_the_request_history_reads_the_primary(primary_and_replica, monkeypatch):
    primary, replica_url = primary_and_replica
    monkeypatch.setenv("CLIENTELE_READ_DATABASE_URL", replica_url)
    assert _dashboard_total(primary) == 9  # the replica has not caught up with the 10th request yet
    history = request_log.request_history(primary, Scope.workspace(), request_log.HistoryQuery(page_size=50))
    assert history.total == 10


def test_a_replica_is_used_only_for_the_configured_database(primary_and_replica, monkeypatch, tmp_path):
    primary, replica_url = primary_and_replica
    monkeypatch.setenv("CLIENTELE_READ_DATABASE_URL", replica_url)
    other = models.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    models.init_db(other)
    seed_small(other)
    assert _dashboard_total(other) == 9  # its own 9 requests, not the replica's
    cache.invalidate()
    other.dispose()
