"""The fast paths for time-sorted rows (cached API or customer slices) give the numbers worked out by hand."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.analytics import customers as mc
from core.analytics import metrics
from core.domain.scope import Scope
from core.domain.timewindow import Window
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
    return series.tail(2).drop("bucket").rows()


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


# GET /orders at 1h (100 ms) and 2h (300 ms); POST /orders at 3h (50 ms, 404). p95 of GET: 100 + 0.95 * 200 = 290.
ENDPOINT_ROWS = rows_frame(
    {"timestamp": at(1), "load_time_ms": 100.0},
    {"timestamp": at(2), "load_time_ms": 300.0},
    {"timestamp": at(3), "method": "POST", "load_time_ms": 50.0, "status": 404},
)
ENDPOINTS = [("GET", "/orders", 2, 0, 0.0, 200.0, pytest.approx(290.0)), ("POST", "/orders", 1, 1, 100.0, 50.0, 50.0)]


def test_endpoint_breakdown_groups_each_method_and_endpoint_pair():
    assert metrics.endpoint_breakdown(ENDPOINT_ROWS, W24, ADMIN).rows() == ENDPOINTS


def test_endpoint_breakdown_of_plain_text_columns_groups_the_same_pairs():
    text = ENDPOINT_ROWS.with_columns(pl.col("method").cast(pl.String), pl.col("endpoint").cast(pl.String))
    assert metrics.endpoint_breakdown(text, W24, ADMIN).rows() == ENDPOINTS


def test_a_profile_given_only_the_customers_own_rows_splits_them_by_period():
    # W7 holds 1h, 2h (load 300 ms) and 30h; 200h is in the previous period.
    own = rows_frame(
        {"timestamp": at(1)}, {"timestamp": at(2), "load_time_ms": 300.0}, {"timestamp": at(30)}, {"timestamp": at(200)},
    )
    profile = mc.customer_profile(own, W7, ADMIN, "cust_a", all_requests=mc.Delta(6, 4))
    assert (profile.current.total_requests, profile.previous.total_requests, profile.share_pct, profile.share_pct_prev,
            profile.current.p50_load_time_ms) == (3, 1, 50.0, 25.0, 100.0)


# ---------------------------------------------------------------- the customer-ordered copy in the cache


pytestmark = pytest.mark.usefixtures("fresh_cache")  # tests/conftest.py


def test_a_customers_metric_columns_come_back_in_time_order_across_apis(engine):
    # cust_a (seed_small): /boom at 30h and /orders/{id} at 2h and 1h on Orders, /invoices at 6h on Billing.
    seed_small(engine)
    frame = cache.requests_frame(engine, ADMIN, customer_id="cust_a", columns=cache.METRIC_COLUMNS)
    assert frame.get_column("endpoint").cast(pl.String).to_list() == ["/boom", "/invoices", "/orders/{id}", "/orders/{id}"]


def test_a_customers_metric_columns_in_a_window_hold_only_the_rows_inside_it(engine):
    seed_small(engine)
    h = lambda n: SEED_NOW - dt.timedelta(hours=n)  # noqa: E731
    window = Window(h(6), h(1), "1h", "custom")  # 6h is in, 1h is out
    frame = cache.requests_frame(engine, ADMIN, customer_id="cust_a", window=window, columns=cache.METRIC_COLUMNS)
    assert frame.get_column("timestamp").to_list() == [h(6), h(2)]


def test_a_customers_metric_columns_match_the_same_rows_read_with_every_column(engine):
    seed_small(engine)
    narrow = cache.requests_frame(engine, ADMIN, customer_id="cust_c", columns=cache.METRIC_COLUMNS)
    wide = cache.requests_frame(engine, ADMIN, customer_id="cust_c")
    assert narrow.equals(wide.select(narrow.columns))


def test_a_customer_without_requests_gets_no_metric_rows(engine):
    seed_small(engine)
    frame = cache.requests_frame(engine, ADMIN, customer_id="cust_nobody", columns=cache.METRIC_COLUMNS)
    assert (frame.height, frame.columns[:2]) == (0, ["customer_id", "timestamp"])


def test_a_customers_new_request_appears_after_their_cached_metric_rows(engine):
    api = seed_small(engine)["orders"]
    cache.requests_frame(engine, ADMIN)
    store.write_requests(engine, [(api, make_request(customer_id="cust_b", timestamp=SEED_NOW, endpoint="/new"))])
    cache.refresh(engine)
    frame = cache.requests_frame(engine, Scope.customer("cust_b"), columns=cache.METRIC_COLUMNS)
    assert frame.get_column("endpoint").cast(pl.String).to_list() == ["/missing", "/orders/{id}", "/new"]
