"""The fast paths for time-sorted rows give the numbers worked out by hand, and a customer's facts read from the cache
(one API or every API, whole hours from the rollups, cut hours from the raw rows) give that customer's numbers."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.analytics import customers as mc
from core.analytics import metrics
from core.domain.scope import Scope
from core.domain.timewindow import Window, window
from core.storage import cache, store
from tests.factories import NOW as SEED_NOW
from tests.factories import make_request, seed_small
from tests.test_metrics import W7, W24, at, rows_frame

ADMIN = Scope.workspace()

# W24 = [11-24 12:00, 11-25 12:00), hourly: bucket 0 starts 11-24 12:00, bucket 23 starts 11-25 11:00.
#   cust_a at 0.5h (bucket 23), 1.2h and 1.5h (bucket 22), 23.5h (bucket 0); cust_b at 0.2h (bucket 23)
SPARK_ROWS = rows_frame(
    {"timestamp": at(0.5), "customer_id": "cust_a"},
    {"timestamp": at(1.2), "customer_id": "cust_a"},
    {"timestamp": at(1.5), "customer_id": "cust_a"},
    {"timestamp": at(23.5), "customer_id": "cust_a"},
    {"timestamp": at(0.2), "customer_id": "cust_b"},
)
SPARK_A = [1] + [0] * 21 + [2, 1]
SPARK_B = [0] * 23 + [1]

# Bucket 23: 0.5h (100 ms, 1000 B, 200) and 0.25h (300 ms, 3000 B, 503) -> 2 requests, 200 ms, 2000 B, one 5xx.
# Bucket 22: 1.5h (50 ms, 1000 B, 404) -> 1 request, 50 ms, 1000 B, one 4xx. Every other bucket: zeros.
SERIES_ROWS = rows_frame(
    {"timestamp": at(0.5), "load_time_ms": 100.0, "response_size": 1000},
    {"timestamp": at(0.25), "load_time_ms": 300.0, "response_size": 3000, "status": 503},
    {"timestamp": at(1.5), "load_time_ms": 50.0, "response_size": 1000, "status": 404},
)


def sparklines(frame: pl.DataFrame) -> dict:
    listed = mc.customer_list(frame, W24, ADMIN)
    return dict(zip(listed.get_column("customer_id").to_list(), listed.get_column("sparkline").to_list()))


def last_two_buckets(frame: pl.DataFrame) -> list[tuple]:
    series = metrics.overview_series(frame, W24, ADMIN)
    assert series.head(22).select(pl.col("requests").sum()).item() == 0
    return series.tail(2).select("requests", "avg_load_time_ms", "avg_response_size_bytes", "status_4xx", "status_5xx").rows()


def test_overview_series_has_each_buckets_load_time_percentiles_and_none_where_empty():
    series = metrics.overview_series(SERIES_ROWS.reverse(), W24, ADMIN)
    p50, p95, p99 = (series.get_column(name).to_list() for name in ("p50_load_time_ms", "p95_load_time_ms", "p99_load_time_ms"))
    assert p50[:22] == p95[:22] == p99[:22] == [None] * 22
    assert [p50[22], p95[22], p99[22]] == [pytest.approx(50.0, rel=0.01)] * 3  # one request
    # Two requests (100 and 300 ms): ranks interpolate between them, each value within the histogram's 1 %.
    assert p50[23] == pytest.approx(200.0, rel=0.01)
    assert p95[23] == pytest.approx(100 + 0.95 * 200, rel=0.01)
    assert p99[23] == pytest.approx(100 + 0.99 * 200, rel=0.01)


def test_sparklines_of_time_sorted_rows_count_each_customers_requests_per_bucket():
    assert sparklines(SPARK_ROWS) == {"cust_a": SPARK_A, "cust_b": SPARK_B}


def test_sparklines_of_rows_out_of_time_order_count_the_same():
    assert sparklines(SPARK_ROWS.reverse()) == {"cust_a": SPARK_A, "cust_b": SPARK_B}


def test_overview_series_of_time_sorted_rows_sums_and_averages_each_bucket():
    assert last_two_buckets(SERIES_ROWS) == [(1, 50.0, 1000.0, 1, 0), (2, 200.0, 2000.0, 0, 1)]


def test_overview_series_of_rows_out_of_time_order_gives_the_same_buckets():
    assert last_two_buckets(SERIES_ROWS.reverse()) == [(1, 50.0, 1000.0, 1, 0), (2, 200.0, 2000.0, 0, 1)]


def test_request_series_of_time_sorted_rows_counts_each_bucket():
    series = metrics.request_series(SPARK_ROWS, W24, ADMIN)
    assert series.get_column("requests").to_list() == [1] + [0] * 21 + [2, 2]


# GET /orders at 1h (100 ms) and 2h (300 ms); POST /orders at 3h (50 ms, 404). p95 of GET: 100 + 0.95 * 200 = 290,
# of POST: 50; exact values, which the histograms give within 1 % (averages, counts and rates stay exact).
ENDPOINT_ROWS = rows_frame(
    {"timestamp": at(1), "load_time_ms": 100.0},
    {"timestamp": at(2), "load_time_ms": 300.0},
    {"timestamp": at(3), "method": "POST", "load_time_ms": 50.0, "status": 404},
)
ENDPOINTS = [("GET", "/orders", 2, 0, 0.0, 200.0, pytest.approx(290.0, rel=0.01)),
             ("POST", "/orders", 1, 1, 100.0, 50.0, pytest.approx(50.0, rel=0.01))]


def test_endpoint_breakdown_groups_each_method_and_endpoint_pair():
    assert metrics.endpoint_breakdown(ENDPOINT_ROWS, W24, ADMIN).rows() == ENDPOINTS


def test_endpoint_breakdown_of_plain_text_columns_groups_the_same_pairs():
    text = ENDPOINT_ROWS.with_columns(pl.col("method").cast(pl.String), pl.col("endpoint").cast(pl.String))
    assert metrics.endpoint_breakdown(text, W24, ADMIN).rows() == ENDPOINTS


def test_a_profile_given_only_the_customers_own_rows_splits_them_by_period():
    # W7 holds 1h, 2h (load 300 ms) and 30h; 200h is in the previous period. p50 of [100, 100, 300] = 100, within 1 %.
    own = rows_frame(
        {"timestamp": at(1)}, {"timestamp": at(2), "load_time_ms": 300.0}, {"timestamp": at(30)}, {"timestamp": at(200)},
    )
    profile = mc.customer_profile(own, W7, ADMIN, "cust_a", all_requests=mc.Delta(6, 4))
    assert (profile.current.total_requests, profile.previous.total_requests, profile.share_pct, profile.share_pct_prev,
            profile.current.p50_load_time_ms) == (3, 1, 50.0, 25.0, pytest.approx(100.0, rel=0.01))


# ---------------------------------------------------------------- a customer's facts from the cache


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


def h(hours: float) -> dt.datetime:
    return SEED_NOW - dt.timedelta(hours=hours)


def test_a_customers_facts_across_apis_give_their_numbers_on_every_api(engine):
    # cust_a (seed_small): /orders/{id} at 1h and 2h (300 ms), /boom at 30h (500) on Orders; /invoices at 6h on Billing.
    seed_small(engine)
    facts = cache.facts_frame(engine, ADMIN, W7, customer_id="cust_a")
    cur = metrics.overview(facts, W7, ADMIN).current
    assert (cur.total_requests, cur.failed_requests, cur.avg_load_time_ms) == (4, 1, 150.0)
    assert metrics.endpoint_breakdown(facts, W7, ADMIN).select("endpoint", "requests").rows() == [
        ("/orders/{id}", 2), ("/boom", 1), ("/invoices", 1)]


def test_a_customers_facts_on_each_api_add_up_to_their_facts_across_apis(engine):
    ids = seed_small(engine)

    def series(api_id):
        facts = cache.facts_frame(engine, ADMIN, W7, api_id=api_id, customer_id="cust_a")
        return metrics.request_series(facts, W7, ADMIN).get_column("requests").to_list()
    per_api = [series(ids["orders"]), series(ids["billing"])]
    # Orders: 30h (the day from 11-23 12:00), 1h and 2h (the last day); Billing: 6h (the last day).
    assert per_api == [[0, 0, 0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0, 1]]
    assert [a + b for a, b in zip(*per_api)] == series(None)


def test_a_customers_facts_in_a_window_count_only_the_requests_inside_it(engine):
    seed_small(engine)
    window = Window(h(6), h(1), "1h", "custom")  # 6h and 2h are in, 1h is out; 30h is before both periods
    facts = cache.facts_frame(engine, ADMIN, window, customer_id="cust_a")
    ov = metrics.overview(facts, window, ADMIN)
    assert (ov.current.total_requests, ov.previous.total_requests) == (2, 0)
    assert metrics.request_series(facts, window, ADMIN).get_column("requests").to_list() == [1, 0, 0, 0, 1]


def test_a_customers_24h_numbers_at_1130_count_only_the_part_of_the_cut_hours_inside_each_period(engine):
    # 24H at 11:30 is [11-24 12:00, 11-25 11:30): 1h (11:00, in the cut hour 11:00, read from the raw rows), 2h
    # and 6h, not 0.25h (11:45, later in that hour); its previous period [11-23 12:00, 11-24 11:30) holds 30h
    # (11-24 06:00), not 24.25h (11-24 11:45, after it and before the window: in neither).
    api = seed_small(engine)["orders"]
    store.write_requests(engine, [(api, make_request(customer_id="cust_a", timestamp=h(x))) for x in (0.25, 24.25)])
    cache.refresh(engine)
    w = window("24h", h(0.5))
    facts = cache.facts_frame(engine, Scope.customer("cust_a"), w)
    ov = metrics.overview(facts, w, Scope.customer("cust_a"))
    assert (ov.current.total_requests, ov.previous.total_requests, ov.previous.failed_requests) == (3, 1, 1)
    assert metrics.request_series(facts, w, Scope.customer("cust_a")).get_column("requests").to_list()[-6:] == [
        1, 0, 0, 0, 1, 1]


def test_a_customer_without_requests_gets_no_facts_and_empty_numbers(engine):
    seed_small(engine)
    facts = cache.facts_frame(engine, ADMIN, W7, customer_id="cust_nobody")
    cur = metrics.overview(facts, W7, ADMIN).current
    assert (facts.height, cur.total_requests, cur.avg_load_time_ms, cur.p95_load_time_ms) == (0, 0, None, None)


def test_a_customers_new_request_is_counted_after_a_refresh(engine):
    api = seed_small(engine)["orders"]
    cache.facts_frame(engine, ADMIN, W7)  # the cache holds the data before the new request
    store.write_requests(engine, [(api, make_request(customer_id="cust_b", timestamp=h(1 / 60), endpoint="/new"))])
    cache.refresh(engine)
    facts = cache.facts_frame(engine, Scope.customer("cust_b"), W7)
    assert metrics.endpoint_breakdown(facts, W7, Scope.customer("cust_b")).select("endpoint", "requests").rows() == [
        ("/missing", 1), ("/new", 1), ("/orders/{id}", 1)]


def test_rows_before_a_time_are_the_same_sliced_from_sorted_rows_or_filtered_from_unsorted_ones():
    sorted_rows = SPARK_ROWS.sort("timestamp").with_columns(pl.col("timestamp").set_sorted())
    for frame in (SPARK_ROWS, sorted_rows):
        assert sorted(metrics.before(frame, at(1.0)).get_column("timestamp").to_list()) == [at(23.5), at(1.5), at(1.2)]
        assert metrics.before(frame, at(30)).height == 0
