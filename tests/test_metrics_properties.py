"""Property tests: a customer's numbers never depend on other customers; counts add up to API totals."""
from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.analytics import customers as mc
from core.analytics import metrics
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window, window
from core.storage import cache, models, store
from tests.factories import make_request
from tests.test_metrics import NOW, rows_frame

CUSTOMERS = ["c1", "c2", "c3"]
WINDOWS = [window(p, NOW) for p in ("24h", "7d", "14d")]

FIELDS = {
    "customer_id": st.sampled_from(CUSTOMERS + [None]),
    "api_id": st.sampled_from([1, 2]),
    "timestamp": st.integers(0, 400 * 60).map(lambda m: NOW - dt.timedelta(minutes=m)),
    "status": st.sampled_from([200, 201, 302, 404, 429, 500, 503]),
    "load_time_ms": st.floats(0, 5000, width=32),
    "response_size": st.integers(0, 100_000),
    "endpoint": st.sampled_from(["/a", "/b", "/c/{id}"]),
    "method": st.sampled_from(["GET", "POST"]),
}
row = st.fixed_dictionaries(FIELDS)
rows_st = st.lists(row, max_size=60)

# Functions a Customer scope may call, each with its output made comparable.
CUSTOMER_VISIBLE = {
    "overview": lambda f, w, s: metrics.overview(f, w, s).to_dict(),
    "overview_series": lambda f, w, s: metrics.overview_series(f, w, s).to_dicts(),
    "request_series": lambda f, w, s: metrics.request_series(f, w, s).to_dicts(),
    "endpoint_breakdown": lambda f, w, s: metrics.endpoint_breakdown(f, w, s).to_dicts(),
}


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, others=rows_st, who=st.sampled_from(CUSTOMERS), win=st.sampled_from(WINDOWS),
       name=st.sampled_from(sorted(CUSTOMER_VISIBLE)))
def test_a_customers_numbers_ignore_every_other_customers_rows(rows, others, who, win, name):
    mine = [r for r in rows if r["customer_id"] == who]
    foreign = [r for r in rows + others if r["customer_id"] != who]
    scope = Scope.customer(who)
    alone = CUSTOMER_VISIBLE[name](rows_frame(*mine), win, scope)
    mixed = CUSTOMER_VISIBLE[name](scope.filter(rows_frame(*(mine + foreign))), win, scope)
    assert mixed == alone


@settings(max_examples=40, deadline=None)
@given(rows=rows_st, who=st.sampled_from(CUSTOMERS), name=st.sampled_from(sorted(CUSTOMER_VISIBLE)))
def test_a_customer_scope_refuses_a_frame_holding_other_rows(rows, who, name):
    frame = rows_frame(*rows, {"timestamp": NOW, "customer_id": None})
    with pytest.raises(ScopeError):
        CUSTOMER_VISIBLE[name](frame, WINDOWS[0], Scope.customer(who))


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, win=st.sampled_from(WINDOWS), api=st.sampled_from([1, 2, None]))
def test_customer_requests_plus_unattributed_equal_the_api_total(rows, win, api):
    frame = rows_frame(*rows)
    if api is not None:
        frame = frame.filter(pl.col("api_id") == api)
    listed = mc.customer_list(frame, win, Scope.workspace()).get_column("requests").sum()
    unattributed = metrics.in_window(frame, win).get_column("customer_id").null_count()
    total = metrics.overview(frame, win, Scope.workspace()).current.total_requests
    assert listed + unattributed == total


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, win=st.sampled_from(WINDOWS))
def test_sparklines_add_up_to_each_customers_requests(rows, win):
    out = mc.customer_list(rows_frame(*rows), win, Scope.workspace())
    assert out.select(pl.col("sparkline").list.sum()).to_series().to_list() == out.get_column("requests").to_list()


@settings(max_examples=60, deadline=None)
@given(rows=rows_st, win=st.sampled_from(WINDOWS))
def test_series_buckets_add_up_to_the_window_total(rows, win):
    frame = rows_frame(*rows)
    series = metrics.overview_series(frame, win, Scope.workspace())
    assert series.get_column("requests").sum() == metrics.in_window(frame, win).height


# The windows the cache is read with: on the hour (whole rollup hours only); 24H and 7D at 11:37 and 24H at 08:37
# (the hours of now and of now a period ago are cut: read from the raw rows); a window of half-past edges
# (every hour of it cut). The rows' times are often a minute from one of those edges (minutes before NOW).
EDGE_MINUTES = sorted({m + d for m in (23, 30, 60, 203, 240, 330, 1463, 1500, 1643) for d in (-1, 0, 1)})
cache_row = st.fixed_dictionaries({**FIELDS, "timestamp": st.one_of(st.sampled_from(EDGE_MINUTES), st.integers(0, 28 * 60)).map(
    lambda m: NOW - dt.timedelta(minutes=m))})
CACHE_WINDOWS = [
    window("24h", NOW), window("7d", NOW),
    window("24h", NOW - dt.timedelta(minutes=23)), window("7d", NOW - dt.timedelta(minutes=23)),
    window("24h", NOW - dt.timedelta(hours=3, minutes=23)),
    Window(NOW - dt.timedelta(hours=5, minutes=30), NOW - dt.timedelta(minutes=30), "1h", "custom"),
]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(cache_row, min_size=1, max_size=25), who=st.sampled_from(CUSTOMERS), win=st.sampled_from(CACHE_WINDOWS))
def test_the_cache_gives_a_customer_the_numbers_of_exactly_their_stored_rows(rows, who, win):
    with tempfile.TemporaryDirectory() as tmp:
        engine = models.make_engine(f"sqlite:///{Path(tmp) / 'p.db'}")
        try:
            models.init_db(engine)
            apis = {n: store.create_api(engine, f"API {n}")["api_id"] for n in (1, 2)}
            store.write_requests(engine, [
                (apis[r["api_id"]], make_request(**{k: v for k, v in r.items() if k != "api_id"})) for r in rows
            ])
            scope = Scope.customer(who)
            mine = rows_frame(*({**r, "api_id": apis[r["api_id"]]} for r in rows if r["customer_id"] == who))
            own = cache.facts_frame(engine, scope, win)
            # A workspace viewer opening this customer's profile reads the same facts through customer_id.
            opened = cache.facts_frame(engine, Scope.workspace(), win, customer_id=who)
            for name, numbers in CUSTOMER_VISIBLE.items():
                expected = numbers(mine, win, scope)
                assert numbers(own, win, scope) == expected, name
                assert numbers(opened, win, scope) == expected, name
        finally:
            cache.invalidate(engine)
            engine.dispose()
