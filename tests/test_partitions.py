"""PostgreSQL's monthly partitions of requests and request_details (core.storage.partitions): where rows land,
months made ahead (and rows moved out of the default partition when their month comes), prune dropping whole
months, and the upgrade of a database holding rows. On SQLite nothing of this applies."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from core.domain.scope import Scope
from core.storage import models, partitions, prune, request_log, store
from core.storage.models import Request, RequestDetail, RollupHour
from tests.conftest import PG_URL, throwaway_schema
from tests.databases import at_revision
from tests.factories import make_request

UTC = dt.timezone.utc


@pytest.fixture
def pg_url():
    if not PG_URL:
        pytest.skip("needs PostgreSQL (TEST_DATABASE_URL)")
    with throwaway_schema() as url:
        yield url


@pytest.fixture
def pg(pg_url):
    """A PostgreSQL database made by the migrations themselves (not the test suite's shortcut)."""
    engine = models.make_engine(pg_url)
    models.init_db(engine)
    yield engine
    engine.dispose()


def _months_after(month: dt.datetime, n: int) -> dt.datetime:
    for _ in range(n):
        month = partitions.next_month(month)
    return month


def _months_before(month: dt.datetime, n: int) -> dt.datetime:
    for _ in range(n):
        month = partitions.previous_month(month)
    return month


def _aware(naive: dt.datetime, days: int = 0) -> dt.datetime:
    return naive.replace(tzinfo=UTC) + dt.timedelta(days=days)


def _placed(engine) -> list[tuple[str, str, dt.datetime]]:
    """(request's partition, its detail's partition, the detail's timestamp) per request, by request time."""
    with engine.connect() as conn:
        return [tuple(r) for r in conn.exec_driver_sql(
            "SELECT r.tableoid::regclass::text, d.tableoid::regclass::text, d.timestamp FROM requests r "
            "JOIN request_details d ON d.request_id = r.id ORDER BY r.timestamp")]


def _write(engine, api_id: int, *times: dt.datetime) -> list[int]:
    return store.write_requests(engine, [(api_id, make_request(customer_id="cust_a", timestamp=t)) for t in times])


def test_sqlite_does_not_partition_and_leaves_the_detail_timestamp_empty(sqlite_engine):
    assert partitions.ensure(sqlite_engine) == []
    api = store.create_api(sqlite_engine, "Orders API")["api_id"]
    _write(sqlite_engine, api, dt.datetime(2026, 11, 30, 12, tzinfo=UTC))
    with sqlite_engine.connect() as conn:
        assert conn.execute(sa.select(RequestDetail.timestamp)).scalars().all() == [None]


def test_both_tables_are_partitioned_by_month_with_this_month_and_the_next_two_made(pg):
    with pg.connect() as conn:
        assert partitions.applies(conn)
        assert partitions.months(conn) == partitions.wanted(dt.datetime.now(UTC))
        inspector = sa.inspect(conn)
        keys = [inspector.get_pk_constraint(t)["constrained_columns"] for t in ("requests", "request_details")]
    assert keys == [["id", "timestamp"], ["request_id", "timestamp"]]


def test_a_request_and_its_details_land_in_its_months_partition_and_a_clock_years_off_in_the_default_one(pg):
    api = store.create_api(pg, "Orders API")["api_id"]
    now = dt.datetime.now(UTC).replace(microsecond=0)
    ids = _write(pg, api, now, dt.datetime(2019, 5, 1, 8, tzinfo=UTC))
    month = partitions.name_of("requests", partitions.month_of(now))[len("requests"):]
    assert _placed(pg) == [
        ("requests_pdefault", "request_details_pdefault", dt.datetime(2019, 5, 1, 8)),
        (f"requests{month}", f"request_details{month}", now.replace(tzinfo=None)),
    ]
    details = [request_log.request_detail(pg, Scope.workspace(), rid) for rid in ids]
    assert [d["request_headers"] for d in details] == [{"authorization": "Bearer ****"}] * 2


def test_a_batch_of_last_years_requests_gets_its_months_and_the_next_batch_of_them_costs_no_query(pg):
    api = store.create_api(pg, "Orders API")["api_id"]
    this_month = partitions.month_of(dt.datetime.now(UTC))
    last_year, too_old = _months_before(this_month, 11), _months_before(this_month, partitions.HISTORY_MONTHS + 1)
    _write(pg, api, _aware(last_year, days=3), _aware(too_old, days=3))
    statements = []
    sa.event.listen(pg, "before_cursor_execute", lambda conn, cursor, sql, *args: statements.append(sql))
    _write(pg, api, _aware(last_year, days=9), _aware(too_old, days=9))
    assert [p[0] for p in _placed(pg)] == ["requests_pdefault"] * 2 + [partitions.name_of("requests", last_year)] * 2
    assert not [sql for sql in statements if "pg_inherits" in sql or "pg_class" in sql]


def test_making_a_month_moves_its_rows_out_of_the_default_partition_and_loses_none(pg):
    api = store.create_api(pg, "Orders API")["api_id"]
    later = _months_after(partitions.month_of(dt.datetime.now(UTC)), 6)
    ids = _write(pg, api, _aware(later, days=3), _aware(later, days=40))  # month +6 and month +7: no partitions yet
    assert [p[0] for p in _placed(pg)] == ["requests_pdefault"] * 2

    made = partitions.ensure(pg, now=_aware(later))
    assert partitions.ensure(pg, now=_aware(later)) == []  # made once; the second call only reads

    assert sorted(made) == sorted(partitions.name_of(t, m) for t in partitions.TABLES for m in partitions.wanted(later))
    assert [p[:2] for p in _placed(pg)] == [
        (partitions.name_of("requests", m), partitions.name_of("request_details", m)) for m in (later, partitions.next_month(later))]
    details = [request_log.request_detail(pg, Scope.workspace(), rid) for rid in ids]
    assert [d["request_headers"] for d in details] == [{"authorization": "Bearer ****"}] * 2


def test_processes_making_the_same_months_at_once_make_each_once(pg):
    later = _aware(_months_after(partitions.month_of(dt.datetime.now(UTC)), 12))
    made, errors = [], []

    def run() -> None:
        try:
            made.extend(partitions.ensure(pg, now=later))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(made) == sorted(partitions.name_of(t, m) for t in partitions.TABLES for m in partitions.wanted(later))


def test_prune_drops_the_months_before_the_cutoff_whole_and_the_rest_row_by_row(pg):
    api = store.create_api(pg, "Orders API")["api_id"]
    first = _months_before(partitions.month_of(dt.datetime.now(UTC)), 8)
    partitions.ensure(pg, now=_aware(first))  # months first, +1, +2 (as a collector running then made them)
    third = _months_after(first, 2)
    _write(pg, api, _aware(first, days=1), _aware(first, days=20), _aware(first, days=35),  # first month: 2, second: 1
           _aware(third, days=4), _aware(third, days=20), dt.datetime.now(UTC))
    cutoff = _aware(third, days=15)

    result = prune.prune(pg, dt.timedelta(days=1), now=cutoff + dt.timedelta(days=1))

    with pg.connect() as conn:
        months = partitions.months(conn)
        kept = [t.replace(tzinfo=None) for t in conn.execute(sa.select(Request.timestamp).order_by(Request.timestamp)).scalars()]
        details = conn.scalar(sa.select(sa.func.count()).select_from(RequestDetail))
        counted = conn.scalar(sa.select(sa.func.sum(RollupHour.requests)))
    assert result.requests == 4  # 3 in two dropped months, 1 deleted from the third
    assert first not in months and partitions.next_month(first) not in months and third in months
    assert kept[0] == third + dt.timedelta(days=20) and len(kept) == details == 2
    assert counted == 6  # the rollups keep every request counted


def test_a_database_at_0007_is_partitioned_with_its_rows_ids_and_details(pg_url):
    engine = at_revision(pg_url, "0007")
    api = store.create_api(engine, "Orders API")["api_id"]
    this_month = partitions.month_of(dt.datetime.now(UTC))
    times = [dt.datetime(2019, 5, 1, 8), _months_before(this_month, 3) + dt.timedelta(days=2), this_month + dt.timedelta(hours=5)]
    with engine.begin() as conn:  # as the code of 0007 wrote them: no request_details.timestamp yet
        ids = conn.execute(sa.insert(Request).returning(Request.id), [
            {"api_id": api, "timestamp": t, "method": "GET", "endpoint": "/orders", "url": "https://x.test/orders", "status": 200,
             "load_time_ms": 12.5, "response_size": 10, "received_at": t} for t in times]).scalars().all()
        conn.execute(sa.text("INSERT INTO request_details (request_id, sdk, packed) VALUES (:rid, 'python', NULL)"),
                     [{"rid": rid} for rid in ids])

    models.init_db(engine)

    assert _placed(engine) == [
        ("requests_pdefault", "request_details_pdefault", times[0]),  # older than partitions.HISTORY_MONTHS
        (partitions.name_of("requests", times[1].replace(day=1)), partitions.name_of("request_details", times[1].replace(day=1)), times[1]),
        (partitions.name_of("requests", this_month), partitions.name_of("request_details", this_month), times[2]),
    ]
    with engine.connect() as conn:
        assert conn.execute(sa.select(Request.id).order_by(Request.timestamp)).scalars().all() == ids
    assert _write(engine, api, dt.datetime.now(UTC))[0] > max(ids)  # the id sequence goes on
    engine.dispose()
