"""core.storage.cache on SQLite and PostgreSQL: compact frames, scoping, incremental refresh, reloads, snapshots."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
import sqlalchemy as sa

from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window
from core.storage import cache, store
from core.storage.cache import entry as cache_entry
from core.storage.cache import reader as cache_reader
from core.storage.models import Request
from tests.factories import NOW, make_request, seed_small

ADMIN = Scope.workspace()


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


def ids(frame: pl.DataFrame) -> list[int]:
    return sorted(frame.get_column("id").to_list())


def customers_in(frame: pl.DataFrame) -> set:
    return set(frame.get_column("customer_id").cast(pl.String).to_list())


def test_requests_frame_has_the_compact_schema(engine):
    seed_small(engine)
    assert cache.requests_frame(engine, ADMIN).schema == pl.Schema(dict(cache.REQUEST_SCHEMA))


def test_workspace_sees_every_request_including_unattributed(engine):
    seed_small(engine)
    frame = cache.requests_frame(engine, ADMIN)
    assert (frame.height, frame.get_column("customer_id").null_count()) == (9, 1)


def test_timestamps_come_back_as_exact_utc(engine):
    api = seed_small(engine)["orders"]
    ts = dt.datetime(2026, 11, 25, 10, 30, 15, 123456, tzinfo=dt.timezone.utc)
    store.write_requests(engine, [(api, make_request(customer_id="cust_t", timestamp=ts))])
    frame = cache.requests_frame(engine, Scope.customer("cust_t"))
    assert frame.get_column("timestamp").to_list() == [ts]


def test_a_customer_scope_sees_only_its_own_rows(engine):
    seed_small(engine)
    a = cache.requests_frame(engine, Scope.customer("cust_a"))
    b = cache.requests_frame(engine, Scope.customer("cust_b"))
    assert (customers_in(a), a.height, customers_in(b), b.height) == ({"cust_a"}, 4, {"cust_b"}, 2)


def test_two_scopes_never_share_a_row(engine):
    seed_small(engine)
    a = set(ids(cache.requests_frame(engine, Scope.customer("cust_a"))))
    c = set(ids(cache.requests_frame(engine, Scope.customer("cust_c"))))
    assert a and c and not (a & c)


def test_an_unknown_customer_sees_nothing(engine):
    seed_small(engine)
    assert cache.requests_frame(engine, Scope.customer("nobody")).height == 0


def test_api_and_window_narrow_the_rows(engine):
    apis = seed_small(engine)
    # Orders rows at 1, 2, 3, 4, 5 and 30 hours before NOW; the window [NOW-5h, NOW-2h) holds 3h and 4h... and 5h.
    win = Window(NOW - dt.timedelta(hours=5), NOW - dt.timedelta(hours=2), "1h", "custom")
    frame = cache.requests_frame(engine, ADMIN, api_id=apis["orders"], window=win)
    assert sorted(frame.get_column("timestamp").to_list()) == [NOW - dt.timedelta(hours=h) for h in (5, 4, 3)]


def test_a_customer_window_is_cut_at_the_same_edges(engine):
    seed_small(engine)
    win = Window(NOW - dt.timedelta(hours=6), NOW - dt.timedelta(hours=1), "1h", "custom")
    frame = cache.requests_frame(engine, Scope.customer("cust_a"), window=win)
    assert sorted(frame.get_column("timestamp").to_list()) == [NOW - dt.timedelta(hours=h) for h in (6, 2)]


def test_incremental_refresh_picks_up_new_rows(engine):
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    store.write_requests(engine, [(api, make_request(customer_id="cust_new", timestamp=NOW - dt.timedelta(minutes=5)))])
    cache.refresh(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_new"))
    stats = cache.stats(engine)
    assert (frame.height, stats["rows"], stats["full_loads"], stats["incremental_loads"]) == (1, 10, 1, 1)


def test_new_rows_update_first_seen(engine):
    api = seed_small(engine)["billing"]
    cache.requests_frame(engine, ADMIN)
    early = NOW - dt.timedelta(days=3)
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=early))])
    cache.refresh(engine)
    first = cache.first_seen_frame(engine, Scope.customer("cust_a")).filter(pl.col("api_id") == api)
    assert first.get_column("first_seen").to_list() == [early]


def test_appended_rows_merged_into_the_sorted_frame_stay_scoped(engine, monkeypatch):
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    monkeypatch.setattr(cache_entry, "TAIL_MERGE_ROWS", 0)
    store.write_requests(engine, [(api, make_request(customer_id="cust_b", timestamp=NOW - dt.timedelta(hours=40)))])
    cache.refresh(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_b"))
    assert (frame.height, cache.stats(engine)["tail_rows"], frame.get_column("timestamp").is_sorted()) == (3, 0, True)


def test_deleting_the_oldest_rows_triggers_a_full_reload(engine):
    seed_small(engine)
    cache.requests_frame(engine, ADMIN)
    with engine.begin() as conn:
        first = conn.scalar(sa.select(sa.func.min(Request.id)))
        conn.execute(sa.delete(Request).where(Request.id == first))
    cache.refresh(engine)
    frame = cache.requests_frame(engine, ADMIN)
    assert (frame.height, first in ids(frame), cache.stats(engine)["full_loads"]) == (8, False, 2)


def test_deleting_rows_in_the_middle_is_found_by_the_count_check(engine):
    seed_small(engine)
    cache.requests_frame(engine, ADMIN)
    with engine.begin() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(Request.id), sa.func.max(Request.id))).one()
        conn.execute(sa.delete(Request).where(Request.id == lo + 3))
    cache.refresh(engine)
    assert ids(cache.requests_frame(engine, ADMIN)) == [i for i in range(lo, hi + 1) if i != lo + 3]


def test_the_cheap_check_waits_for_the_interval(engine):
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    store.write_requests(engine, [(api, make_request(customer_id="cust_later"))])
    # Within CHECK_INTERVAL_S the cached rows are served as they are.
    assert cache.requests_frame(engine, Scope.customer("cust_later")).height == 0


def test_a_replaced_database_is_reloaded(engine):
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    with engine.begin() as conn:
        conn.execute(sa.delete(Request))
    store.write_requests(engine, [(api, make_request(customer_id="cust_only"))])
    cache.refresh(engine)
    assert customers_in(cache.requests_frame(engine, ADMIN)) == {"cust_only"}


def test_an_empty_database_gives_an_empty_frame(engine):
    frame = cache.requests_frame(engine, ADMIN)
    assert (frame.height, cache.data_start(engine, ADMIN), cache.visible_apis(engine, ADMIN)) == (0, None, [])


def test_visible_apis_for_a_customer_are_those_their_id_appeared_on(engine):
    seed_small(engine)
    names = lambda scope: [a["name"] for a in cache.visible_apis(engine, scope)]  # noqa: E731
    assert (names(ADMIN), names(Scope.customer("cust_a")), names(Scope.customer("cust_b")), names(Scope.customer("cust_c")),
            names(Scope.customer("nobody"))) == (["Billing API", "Orders API"], ["Billing API", "Orders API"], ["Orders API"], ["Billing API"], [])


def test_a_new_api_appears_for_a_customer_after_their_first_request(engine):
    seed_small(engine)
    cache.visible_apis(engine, Scope.customer("cust_b"))
    extra = store.create_api(engine, "Extra API")["api_id"]
    store.write_requests(engine, [(extra, make_request(customer_id="cust_b"))])
    cache.refresh(engine)
    assert [a["name"] for a in cache.visible_apis(engine, Scope.customer("cust_b"))] == ["Extra API", "Orders API"]


def test_resolve_api_refuses_an_api_the_customer_never_used(engine):
    apis = seed_small(engine)
    with pytest.raises(LookupError, match="among the APIs of your account"):
        cache.resolve_api(engine, Scope.customer("cust_b"), apis["billing"])


def test_resolve_api_accepts_an_id_or_a_name(engine):
    apis = seed_small(engine)
    assert cache.resolve_api(engine, ADMIN, "Billing API")["api_id"] == cache.resolve_api(engine, ADMIN, str(apis["billing"]))["api_id"]


def test_customers_frame_is_scoped(engine):
    seed_small(engine)
    all_names = cache.customers_frame(engine, ADMIN).sort("customer_id").get_column("display_name").to_list()
    mine = cache.customers_frame(engine, Scope.customer("cust_c"))
    assert (all_names, mine.get_column("customer_id").to_list()) == (["Alpha Inc", "Beta LLC", "Carol Co"], ["cust_c"])


def test_data_start_is_the_first_request_the_scope_may_see(engine):
    apis = seed_small(engine)
    assert (cache.data_start(engine, ADMIN), cache.data_start(engine, ADMIN, apis["billing"]), cache.data_start(engine, Scope.customer("cust_b"))) == (
        NOW - dt.timedelta(hours=30), NOW - dt.timedelta(hours=8), NOW - dt.timedelta(hours=5))


def test_data_span_ends_at_the_newest_request_the_scope_may_see(engine):
    apis = seed_small(engine)
    assert (cache.data_span(engine, ADMIN), cache.data_span(engine, ADMIN, apis["billing"]), cache.data_span(engine, Scope.customer("cust_b"))) == (
        (NOW - dt.timedelta(hours=30), NOW - dt.timedelta(hours=1)), (NOW - dt.timedelta(hours=8), NOW - dt.timedelta(hours=6)),
        (NOW - dt.timedelta(hours=5), NOW - dt.timedelta(hours=3)))


def test_sqlalchemy_fallback_reads_the_same_rows(engine, monkeypatch):
    seed_small(engine)
    fast = cache.requests_frame(engine, ADMIN).sort("id")
    cache.invalidate()

    def broken(url):
        raise OSError("no driver here")

    monkeypatch.setattr(cache_reader, "_adbc_connect", broken)
    slow = cache.requests_frame(engine, ADMIN).sort("id")
    assert slow.equals(fast)


def test_a_snapshot_on_disk_is_reused_after_a_restart(engine, monkeypatch, tmp_path):
    monkeypatch.setattr(cache_entry, "SNAPSHOT_MIN_ROWS", 1)
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", str(tmp_path / "snap"))
    seed_small(engine)
    first = cache.requests_frame(engine, ADMIN).sort("id")
    cache.invalidate()
    again = cache.requests_frame(engine, ADMIN).sort("id")
    assert (again.equals(first), cache.stats(engine)["snapshot_loads"], cache.stats(engine)["full_loads"]) == (True, 1, 0)


def test_a_snapshot_that_no_longer_matches_the_database_is_ignored(engine, monkeypatch, tmp_path):
    monkeypatch.setattr(cache_entry, "SNAPSHOT_MIN_ROWS", 1)
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", str(tmp_path / "snap"))
    seed_small(engine)
    cache.requests_frame(engine, ADMIN)
    cache.invalidate()
    with engine.begin() as conn:
        first = conn.scalar(sa.select(sa.func.min(Request.id)))
        conn.execute(sa.update(Request).where(Request.id == first).values(status=299))
    frame = cache.requests_frame(engine, ADMIN)
    assert (frame.filter(pl.col("id") == first).get_column("status").to_list(), cache.stats(engine)["snapshot_loads"]) == ([299], 0)


def test_rows_added_after_a_snapshot_are_read_on_top_of_it(engine, monkeypatch, tmp_path):
    monkeypatch.setattr(cache_entry, "SNAPSHOT_MIN_ROWS", 1)
    monkeypatch.setenv("CLIENTELE_CACHE_DIR", str(tmp_path / "snap"))
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    cache.invalidate()
    store.write_requests(engine, [(api, make_request(customer_id="cust_after"))])
    frame = cache.requests_frame(engine, ADMIN)
    assert (frame.height, cache.stats(engine)["snapshot_loads"], "cust_after" in customers_in(frame)) == (10, 1, True)


def test_large_sqlite_reads_go_through_a_child_process_and_see_every_commit(sqlite_engine, monkeypatch):
    monkeypatch.setattr(cache_reader, "SUBPROCESS_MIN_IDS", 0)
    api = seed_small(sqlite_engine)["orders"]
    cache.requests_frame(sqlite_engine, ADMIN)
    store.write_requests(sqlite_engine, [(api, make_request(customer_id="cust_wal"))])
    cache.refresh(sqlite_engine)
    frame = cache.requests_frame(sqlite_engine, ADMIN)
    assert (frame.height, "cust_wal" in customers_in(frame), cache_entry.entry_for(sqlite_engine).reader.use_adbc) == (10, True, True)


def test_a_workspace_viewer_can_narrow_to_one_customer(engine):
    seed_small(engine)
    frame = cache.requests_frame(engine, ADMIN, customer_id="cust_c")
    assert (customers_in(frame), frame.height) == ({"cust_c"}, 2)


def test_a_customer_cannot_ask_for_another_customer(engine):
    seed_small(engine)
    with pytest.raises(ScopeError, match="outside your account"):
        cache.requests_frame(engine, Scope.customer("cust_a"), customer_id="cust_b")


def test_big_tables_are_counted_in_the_background_and_reloaded_on_the_next_read(sqlite_engine, monkeypatch):
    import threading

    seed_small(sqlite_engine)
    cache.requests_frame(sqlite_engine, ADMIN)
    monkeypatch.setattr(cache_entry, "BACKGROUND_COUNT_MIN_ROWS", 0)
    monkeypatch.setattr(cache_entry, "CHECK_INTERVAL_S", 0.0)
    monkeypatch.setattr(cache_entry, "COUNT_INTERVAL_S", 0.0)
    with sqlite_engine.begin() as conn:
        lo = conn.scalar(sa.select(sa.func.min(Request.id)))
        conn.execute(sa.delete(Request).where(Request.id == lo + 4))
    stale_read = cache.requests_frame(sqlite_engine, ADMIN).height
    for thread in threading.enumerate():
        if thread.name == "clientele-cache-count":
            thread.join()
    assert (stale_read, cache.requests_frame(sqlite_engine, ADMIN).height, cache.stats(sqlite_engine)["full_loads"]) == (9, 8, 2)


def test_asking_for_some_columns_keeps_the_customer_column_for_the_scope_check(engine):
    seed_small(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_a"), columns=["status"])
    assert (frame.columns, frame.height) == (["customer_id", "timestamp", "status"], 4)


def test_a_customers_new_rows_join_their_older_rows_in_time_order(engine):
    api = seed_small(engine)["billing"]
    cache.requests_frame(engine, ADMIN)
    store.write_requests(engine, [(api, make_request(customer_id="cust_c", timestamp=NOW - dt.timedelta(hours=50)))])
    cache.refresh(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_c"), columns=["status"])
    assert frame.get_column("timestamp").to_list() == [NOW - dt.timedelta(hours=h) for h in (50, 8, 7)]


def test_a_customers_rows_on_one_api_can_be_asked_for_without_the_api_column(engine):
    ids = seed_small(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_a"), api_id=ids["billing"], columns=["timestamp"])
    assert (frame.columns, frame.height) == (["customer_id", "timestamp"], 1)


def test_first_seen_comes_from_the_stored_dates_when_old_rows_are_gone(engine):
    ids = seed_small(engine)
    with engine.begin() as conn:  # what prune leaves behind: customer_apis keeps the first request's date
        conn.execute(sa.delete(Request).where(Request.customer_id == "cust_a", Request.api_id == ids["orders"],
                                              Request.timestamp < NOW - dt.timedelta(hours=10)))
    cache.refresh(engine)
    first = cache.first_seen_frame(engine, Scope.workspace()).filter(
        (pl.col("customer_id") == "cust_a") & (pl.col("api_id") == ids["orders"]))
    assert first.get_column("first_seen").to_list() == [NOW - dt.timedelta(hours=30)]
