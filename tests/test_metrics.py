"""core.analytics.metrics: overview totals, series with filled buckets, endpoint breakdown — on small hand-made frames."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from core.analytics import metrics
from core.domain import facts
from core.domain.facts import REQUEST_SCHEMA
from core.domain.scope import Scope, ScopeError
from core.domain.timewindow import Window, custom_range, window

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ADMIN = Scope.workspace()
W24 = window("24h", NOW)  # [11-24 12:00, 11-25 12:00), hourly
W7 = window("7d", NOW)  # [11-18 12:00, 11-25 12:00), daily


def at(hours_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours_ago)


def rows_frame(*rows: dict) -> pl.DataFrame:
    """Request rows in the cache's schema; unspecified fields get plain defaults."""
    defaults = dict(api_id=1, customer_id="cust_a", method="GET", endpoint="/orders", status=200,
                    load_time_ms=100.0, response_size=1000, device="desktop", ai_agent=None, country="US", threat_level="Low")
    full = [{**defaults, "id": i + 1, **r} for i, r in enumerate(rows)]
    return pl.DataFrame(full, schema=REQUEST_SCHEMA).sort("timestamp", maintain_order=True)


def test_a_request_exactly_at_the_window_start_is_in_and_one_at_the_end_is_out():
    frame = rows_frame({"timestamp": W24.start}, {"timestamp": W24.end}, {"timestamp": W24.start - dt.timedelta(microseconds=1)})
    assert metrics.in_window(frame, W24).get_column("id").to_list() == [1]


def test_window_edges_hold_on_an_unsorted_frame_too():
    frame = rows_frame({"timestamp": W24.end}, {"timestamp": W24.start}).sort("id")
    assert metrics.in_window(frame, W24).get_column("id").to_list() == [2]


def test_counts_in_several_windows_at_once_equal_each_windows_count_edges_included():
    # Rows at both edges of 24H and of the period before it, and one in neither; on an unsorted frame too.
    frame = facts.from_requests(rows_frame(*({"timestamp": t} for t in (
        W24.start, W24.end, W24.previous().start, W24.previous().end - dt.timedelta(microseconds=1), at(60)))))
    windows = [W24, W24.previous(), W7]
    for rows in (frame, frame.reverse(), frame.head(0)):
        assert metrics.counts_in(rows, windows) == [metrics.request_count(metrics.in_window(rows, w)) for w in windows]
    assert metrics.counts_in(frame, windows) == [1, 2, 4]


def test_failed_counts_in_several_windows_equal_the_totals_of_each_window():
    frame = facts.from_requests(rows_frame(*({"timestamp": t, "status": s} for t, s in (
        (W24.start, 500), (W24.end, 404), (W24.previous().start, 200), (W24.previous().end - dt.timedelta(microseconds=1), 400),
        (at(60), 503), (at(3), 399)))))
    windows = [W24, W24.previous(), W7]
    for rows in (frame, frame.reverse(), frame.head(0)):
        expected = [(t.total_requests, t.failed_requests) for t in (metrics.totals(metrics.in_window(rows, w)) for w in windows)]
        assert metrics.failed_counts_in(rows, windows) == expected
    assert metrics.failed_counts_in(frame, windows) == [(2, 1), (2, 1), (5, 3)]


def test_overview_counts_failed_requests_from_status_400():
    frame = rows_frame({"timestamp": at(1), "status": 399}, {"timestamp": at(2), "status": 400}, {"timestamp": at(3), "status": 503})
    assert metrics.overview(frame, W24, ADMIN).current.failed_requests == 2


def test_overview_averages_size_and_load_time():
    frame = rows_frame({"timestamp": at(1), "load_time_ms": 100.0, "response_size": 1000},
                       {"timestamp": at(2), "load_time_ms": 300.0, "response_size": 3000})
    cur = metrics.overview(frame, W24, ADMIN).current
    assert (cur.total_requests, cur.avg_load_time_ms, cur.avg_response_size_bytes) == (2, 200.0, 2000.0)


def test_overview_percentiles_interpolate_linearly_within_one_percent():
    # Exact linear interpolation of [100, 300]: p50 = 200, p95 = 100 + 0.95 × 200 = 290, p99 = 298; the
    # histograms (core.domain.histogram) promise every percentile within 1 % of it.
    frame = rows_frame({"timestamp": at(1), "load_time_ms": 100.0}, {"timestamp": at(2), "load_time_ms": 300.0})
    cur = metrics.overview(frame, W24, ADMIN).current
    assert (cur.p50_load_time_ms, cur.p95_load_time_ms, cur.p99_load_time_ms) == pytest.approx((200.0, 290.0, 298.0), rel=0.01)


def test_overview_previous_period_is_the_equal_length_just_before():
    frame = rows_frame({"timestamp": at(1)}, {"timestamp": at(25)}, {"timestamp": at(47)}, {"timestamp": at(49)})
    ov = metrics.overview(frame, W24, ADMIN)
    assert (ov.current.total_requests, ov.previous.total_requests) == (1, 2)


def test_overview_of_an_empty_window_is_zero_with_no_averages():
    frame = rows_frame({"timestamp": at(100)})
    cur = metrics.overview(frame, W24, ADMIN).current
    assert (cur.total_requests, cur.failed_requests, cur.avg_load_time_ms, cur.p95_load_time_ms) == (0, 0, None, None)


def test_overview_refuses_a_customer_frame_holding_someone_else():
    frame = rows_frame({"timestamp": at(1), "customer_id": "cust_a"}, {"timestamp": at(2), "customer_id": "cust_b"})
    with pytest.raises(ScopeError):
        metrics.overview(frame, W24, Scope.customer("cust_a"))


def test_daily_buckets_start_with_the_window_so_every_bucket_is_a_whole_day():
    # Buckets at UTC midnight made 8 of them, the first and last half a day long: both read as a drop.
    starts = metrics.bucket_starts(W7).get_column("bucket")
    assert (starts[0], starts[-1], starts.len()) == (
        dt.datetime(2026, 11, 18, 12, tzinfo=UTC), dt.datetime(2026, 11, 24, 12, tzinfo=UTC), 7)
    assert metrics.partial_buckets(W7) == []


def test_a_24h_window_at_1437_has_24_clock_hour_buckets_from_1500_yesterday_the_last_partial():
    # [11-24 15:00, 11-25 14:37): 23 whole hours, then 14:00 so far (the bucket a chart marks partial).
    w = window("24h", dt.datetime(2026, 11, 25, 14, 37, tzinfo=UTC))
    starts = metrics.bucket_starts(w).get_column("bucket")
    assert (starts[0], starts[-1], starts.len(), metrics.partial_buckets(w)) == (
        dt.datetime(2026, 11, 24, 15, tzinfo=UTC), dt.datetime(2026, 11, 25, 14, tzinfo=UTC), 24,
        [dt.datetime(2026, 11, 25, 14, tzinfo=UTC)])


def test_a_24h_window_at_1437_counts_a_request_of_1436_in_its_last_bucket_and_one_of_1459_yesterday_not_at_all():
    now = dt.datetime(2026, 11, 25, 14, 37, tzinfo=UTC)
    frame = rows_frame({"timestamp": now - dt.timedelta(minutes=1)}, {"timestamp": dt.datetime(2026, 11, 24, 14, 59, tzinfo=UTC)},
                       {"timestamp": dt.datetime(2026, 11, 24, 15, tzinfo=UTC)})
    counts = metrics.request_series(frame, window("24h", now), ADMIN).get_column("requests").to_list()
    assert (counts[0], counts[-1], sum(counts)) == (1, 1, 2)


def test_the_previous_period_of_a_24h_window_at_1437_ends_at_1437_yesterday():
    # Previous period [11-23 15:00, 11-24 14:37): 11-23 15:00 and 11-24 14:36 are in it, 11-23 14:59 is before it,
    # 11-24 14:37 falls between it and the window (counted in neither), 11-24 15:00 starts the window.
    now = dt.datetime(2026, 11, 25, 14, 37, tzinfo=UTC)
    frame = rows_frame(*({"timestamp": dt.datetime(2026, 11, d, h, m, tzinfo=UTC)} for d, h, m in
                         [(23, 14, 59), (23, 15, 0), (24, 14, 36), (24, 14, 37), (24, 15, 0)]))
    ov = metrics.overview(frame, window("24h", now), ADMIN)
    assert (ov.current.total_requests, ov.previous.total_requests) == (1, 2)


def test_a_window_of_no_whole_number_of_buckets_names_its_last_bucket_partial():
    w = Window(NOW - dt.timedelta(hours=30), NOW, "1d", "all")  # one whole day, then 6 hours
    assert (metrics.bucket_starts(w).height, metrics.partial_buckets(w)) == (2, [NOW - dt.timedelta(hours=6)])


def test_a_range_brushed_to_the_minute_names_its_first_and_last_hourly_buckets_partial():
    brushed = custom_range(dt.datetime(2026, 11, 25, 10, 20), dt.datetime(2026, 11, 25, 15, 40), "UTC")
    on_the_hour = custom_range(dt.datetime(2026, 11, 25, 10, 0), dt.datetime(2026, 11, 25, 16, 0), "UTC")
    assert metrics.partial_buckets(brushed) == [dt.datetime(2026, 11, 25, h, tzinfo=UTC) for h in (10, 15)]
    assert metrics.partial_buckets(on_the_hour) == []


def test_the_previous_period_is_covered_only_when_the_data_starts_at_or_before_it():
    w30 = window("30d", NOW)
    assert metrics.covers_previous(w30, NOW - dt.timedelta(days=60)) is True
    assert metrics.covers_previous(w30, NOW - dt.timedelta(days=45)) is False
    assert metrics.covers_previous(w30, None) is False


def test_hourly_buckets_cover_24_hours_of_a_24h_window():
    starts = metrics.bucket_starts(W24).get_column("bucket")
    assert (starts[0], starts.len()) == (dt.datetime(2026, 11, 24, 12, tzinfo=UTC), 24)


def test_request_series_fills_empty_buckets_with_zeros():
    frame = rows_frame({"timestamp": at(0.5)}, {"timestamp": at(0.25)}, {"timestamp": at(3.5)})
    series = metrics.request_series(frame, W24, ADMIN)
    counts = series.get_column("requests").to_list()
    assert (len(counts), counts[-1], counts[-4], sum(counts)) == (24, 2, 1, 3)


def test_a_request_at_2330_utc_lands_in_the_day_bucket_that_started_at_noon():
    late = dt.datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    series = metrics.request_series(rows_frame({"timestamp": late}), W7, ADMIN)
    hit = series.filter(pl.col("requests") > 0).get_column("bucket").to_list()
    assert hit == [dt.datetime(2026, 11, 20, 12, tzinfo=UTC)]


def test_overview_series_counts_4xx_and_5xx_per_bucket():
    frame = rows_frame({"timestamp": at(0.5), "status": 404}, {"timestamp": at(0.4), "status": 500},
                       {"timestamp": at(0.3), "status": 502}, {"timestamp": at(0.2), "status": 200})
    last = metrics.overview_series(frame, W24, ADMIN).row(-1, named=True)
    assert (last["requests"], last["status_4xx"], last["status_5xx"]) == (4, 1, 2)


def test_overview_series_averages_per_bucket_and_zero_where_empty():
    frame = rows_frame({"timestamp": at(0.5), "load_time_ms": 10.0, "response_size": 100},
                       {"timestamp": at(0.4), "load_time_ms": 30.0, "response_size": 300})
    series = metrics.overview_series(frame, W24, ADMIN)
    last, first = series.row(-1, named=True), series.row(0, named=True)
    assert (last["avg_load_time_ms"], last["avg_response_size_bytes"], first["avg_load_time_ms"], first["status_4xx"]) == (20.0, 200.0, 0.0, 0)


def test_series_of_an_empty_frame_is_all_zero_buckets():
    series = metrics.overview_series(rows_frame(), W24, ADMIN)
    assert (series.height, series.get_column("requests").sum()) == (24, 0)


def test_endpoint_breakdown_gives_error_rate_and_p95_per_endpoint():
    frame = rows_frame(
        {"timestamp": at(1), "endpoint": "/a", "status": 500, "load_time_ms": 100.0},
        {"timestamp": at(2), "endpoint": "/a", "status": 200, "load_time_ms": 200.0},
        {"timestamp": at(3), "endpoint": "/a", "status": 200, "load_time_ms": 300.0},
        {"timestamp": at(4), "endpoint": "/b", "method": "POST", "status": 201, "load_time_ms": 50.0},
    )
    out = metrics.endpoint_breakdown(frame, W24, ADMIN)
    a = out.row(0, named=True)
    assert out.get_column("endpoint").to_list() == ["/a", "/b"]
    # /a's loads 100, 200, 300: exact p95 = 200 + 0.9 × 100 = 290, from the histograms within 1 %.
    assert (a["requests"], a["failed_requests"], a["error_rate_pct"], a["p95_load_time_ms"]) == (
        3, 1, pytest.approx(100 / 3), pytest.approx(290.0, rel=0.01))


def test_endpoint_breakdown_keeps_methods_apart():
    frame = rows_frame({"timestamp": at(1), "method": "GET"}, {"timestamp": at(2), "method": "POST"})
    out = metrics.endpoint_breakdown(frame, W24, ADMIN)
    assert sorted(out.get_column("method").to_list()) == ["GET", "POST"]


def test_span_covers_the_previous_period_and_the_window():
    s = metrics.span(W24)
    assert (s.start, s.end) == (NOW - dt.timedelta(hours=48), NOW)
