"""core.storage.prune on SQLite and PostgreSQL: what is deleted, what stays (the rollups: every dashboard
number), batching and the CLI."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from core.analytics import stats
from core.cli import main as cli
from core.domain.scope import Scope
from core.storage import cache, models, prune, store
from core.storage.models import Customer, CustomerApi, RejectedPayload, Request, RequestDetail
from tests.factories import NOW, make_request

DAY = dt.timedelta(days=1)


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


def _seed(engine, now: dt.datetime = NOW) -> int:
    """Orders API: 3 requests 40, 35 and 31 days old, then 2 requests 10 days and 1 hour old (ids in time order)."""
    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    ages = [40 * DAY, 35 * DAY, 31 * DAY, 10 * DAY, dt.timedelta(hours=1)]
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=now - age)) for age in ages])
    return api


def _reject_at(engine, received_at: dt.datetime, count: int) -> None:
    store.reject_many(engine, [{"source": "test", "reason": "bad", "raw": b"{}"} for _ in range(count)])
    with engine.begin() as conn:
        newest = list(conn.scalars(sa.select(RejectedPayload.id).order_by(RejectedPayload.id.desc()).limit(count)))
        conn.execute(sa.update(RejectedPayload).where(RejectedPayload.id.in_(newest)).values(received_at=received_at))


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table))


def test_requests_older_than_the_cutoff_are_deleted_and_newer_ones_kept(engine):
    _seed(engine)
    result = prune.prune(engine, 30 * DAY, now=NOW)
    with engine.connect() as conn:
        kept = sorted(conn.scalars(sa.select(Request.timestamp)))
    assert (result.requests, kept) == (3, [NOW - 10 * DAY, NOW - dt.timedelta(hours=1)])


def test_details_of_deleted_requests_are_deleted_with_them(engine):
    _seed(engine)
    prune.prune(engine, 30 * DAY, now=NOW)
    with engine.connect() as conn:
        orphans = conn.scalar(
            sa.select(sa.func.count()).select_from(RequestDetail).where(RequestDetail.request_id.not_in(sa.select(Request.id)))
        )
    assert (orphans, _count(engine, RequestDetail)) == (0, 2)


def test_rejected_payloads_older_than_the_cutoff_are_deleted(engine, monkeypatch):
    monkeypatch.setenv("CLIENTELE_REJECTED_MAX_DAYS", "3650")  # prune deletes here, not the age cap on write
    _reject_at(engine, NOW - 31 * DAY, 4)
    _reject_at(engine, NOW - 29 * DAY, 2)
    result = prune.prune(engine, 30 * DAY, now=NOW)
    assert (result.rejected, _count(engine, RejectedPayload)) == (4, 2)


def test_customers_keep_their_first_and_last_seen(engine):
    _seed(engine)
    prune.prune(engine, 30 * DAY, now=NOW)
    with engine.connect() as conn:
        customer = conn.execute(sa.select(Customer.first_seen, Customer.last_seen)).one()
        discovered = conn.execute(sa.select(CustomerApi.first_seen)).scalar_one()
    assert (customer.first_seen, customer.last_seen, discovered) == (NOW - 40 * DAY, NOW - dt.timedelta(hours=1), NOW - 40 * DAY)


def test_small_batches_delete_the_same_rows_as_one_big_one(engine):
    _seed(engine)
    result = prune.prune(engine, 30 * DAY, now=NOW, batch_rows=1)
    assert (result.requests, _count(engine, Request), _count(engine, RequestDetail)) == (3, 2, 2)


def test_nothing_old_means_nothing_deleted(engine):
    _seed(engine)
    result = prune.prune(engine, 60 * DAY, now=NOW)
    assert (result.requests, result.rejected, _count(engine, Request)) == (0, 0, 5)


def test_every_api_is_pruned(engine):
    _seed(engine)
    other = store.create_api(engine, "Billing API", api_key="billing-key", sdk_token="billing-token")["api_id"]
    store.write_requests(engine, [(other, make_request(customer_id="cust_b", timestamp=NOW - 50 * DAY))])
    assert prune.prune(engine, 30 * DAY, now=NOW).requests == 4


def _all_time(engine) -> dict:
    cache.refresh(engine)
    numbers = stats.collect(engine, Scope.workspace(), preset="all", now=NOW)
    return {"overview": numbers["overview"]["total_requests"], "customers": [(c["customer_id"], c["requests"]) for c in numbers["customers"]],
            "series": sum(b["requests"] for b in numbers["series"]), "window_start": numbers["window"]["start"]}


def test_the_dashboard_numbers_survive_prune_because_the_rollups_stay(engine):
    # Old behaviour: the cache dropped the pruned rows, so All Time fell from 5 requests to 2.
    _seed(engine)
    before = _all_time(engine)
    assert before["overview"] == 5
    prune.prune(engine, 30 * DAY, now=NOW)
    assert _count(engine, Request) == 2
    assert _all_time(engine) == before


def test_a_window_edge_inside_a_pruned_hour_counts_that_hour_from_the_rollups(engine):
    # A 30D window at NOW + 20 min cuts the hour 30 days ago; prune's cutoff (40 days) lies before it, so raw rows
    # there still exist and the cut is exact; a cutoff of 29 days removes them, and the hour then counts whole.
    api = store.create_api(engine, "Orders API", api_key="orders-key", sdk_token="orders-token")["api_id"]
    edge = NOW + dt.timedelta(minutes=20) - 30 * DAY  # the previous period's end
    stamps = [edge - dt.timedelta(minutes=10), edge + dt.timedelta(minutes=10)]
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=t)) for t in stamps])
    now = NOW + dt.timedelta(minutes=20)

    def previous_total() -> int:
        cache.refresh(engine)
        return stats.collect(engine, Scope.workspace(), preset="30d", now=now)["overview"]["previous"]["total_requests"]

    assert previous_total() == 1  # exact: only the request before the edge is in the previous period
    prune.prune(engine, 29 * DAY, now=NOW)
    assert _count(engine, Request) == 0
    # The raw rows of the cut hour are gone: the hour is counted whole, at its start (inside the previous period).
    assert previous_total() == 2


@pytest.mark.parametrize("text, expected", [("30d", dt.timedelta(days=30)), ("12h", dt.timedelta(hours=12)), (" 7D ", dt.timedelta(days=7))])
def test_ages_are_read_in_days_or_hours(text, expected):
    assert prune.parse_age(text) == expected


@pytest.mark.parametrize("text", ["30", "30m", "-3d", "d", "", "0h"])
def test_an_age_that_is_not_days_or_hours_is_refused_with_an_example(text):
    with pytest.raises(prune.PruneError, match="30d|at least 1h"):
        prune.parse_age(text)


@pytest.fixture
def command_db(db_url, monkeypatch):
    """DATABASE_URL set for the command line; its process-wide engine is closed afterwards."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    yield db_url
    models.engine_for(db_url).dispose()
    models.engine_for.cache_clear()


def test_the_command_prints_its_counts(command_db, engine, capsys):
    now = dt.datetime.now(dt.timezone.utc)
    _seed(engine, now=now)
    _reject_at(engine, now - 31 * DAY, 2)
    assert cli(["prune", "--older-than", "30d", "--batch-rows", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == ["deleted requests: 3", "deleted rejected payloads: 2"]


def test_the_command_refuses_a_bad_age_with_exit_2(command_db, capsys):
    assert cli(["prune", "--older-than", "a month"]) == 2
    assert "e.g. 30d or 12h" in capsys.readouterr().err
