"""core.domain.timewindow: preset bounds from an injected now, previous periods, custom ranges, bucket sizes."""
from __future__ import annotations

import datetime as dt

import pytest

from core.domain.timewindow import WindowError, bucket_for, current_now, custom, parse_now, window

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_a_24h_window_ends_at_now_with_hourly_buckets():
    w = window("24h", NOW)
    assert (w.start, w.end, w.bucket, w.label) == (NOW - dt.timedelta(hours=24), NOW, "1h", "24H")


def test_a_30d_window_has_daily_buckets():
    w = window("30D", NOW)
    assert (w.start, w.bucket) == (NOW - dt.timedelta(days=30), "1d")


def test_the_window_contains_its_start_but_not_its_end():
    w = window("7d", NOW)
    assert (w.contains(w.start), w.contains(w.end)) == (True, False)


def test_the_previous_period_has_the_same_length_and_ends_at_the_start():
    w = window("7d", NOW)
    p = w.previous()
    assert (p.start, p.end, p.bucket) == (NOW - dt.timedelta(days=14), w.start, w.bucket)


def test_all_time_starts_at_the_first_request():
    first = NOW - dt.timedelta(days=90)
    w = window("all", NOW, data_start=first)
    assert (w.start, w.bucket) == (first, "6h")


def test_all_time_without_data_is_the_last_hour():
    assert window("all", NOW).start == NOW - dt.timedelta(hours=1)


def test_all_time_over_years_keeps_charts_under_400_points():
    w = window("all", NOW, data_start=NOW - dt.timedelta(days=3 * 365))
    assert (w.bucket, w.length / w.bucket_delta <= 400) == ("7d", True)


def test_an_unknown_preset_is_refused_with_the_choices():
    with pytest.raises(WindowError, match="choose one of 24H, 7D, 14D, 30D, All Time"):
        window("90d", NOW)


def test_a_custom_range_covers_whole_utc_days():
    w = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3))
    assert (w.start, w.end, w.bucket) == (dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 11, 4, tzinfo=UTC), "1h")


def test_a_custom_range_in_tokyo_is_whole_tokyo_days():
    # Nov 1 to Nov 3 in Tokyo (UTC+9) runs from Oct 31 15:00 UTC to Nov 3 15:00 UTC.
    w = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3), "Asia/Tokyo")
    assert (w.start, w.end) == (dt.datetime(2026, 10, 31, 15, tzinfo=UTC), dt.datetime(2026, 11, 3, 15, tzinfo=UTC))


def test_a_custom_range_in_new_york_over_the_end_of_summer_time_is_whole_new_york_days():
    # Oct 31 starts on EDT (UTC-4); Nov 1 is 25 hours long, Nov 2 starts on EST (UTC-5).
    w = custom(dt.date(2026, 10, 31), dt.date(2026, 11, 1), "America/New_York")
    assert (w.start, w.end, w.length) == (dt.datetime(2026, 10, 31, 4, tzinfo=UTC), dt.datetime(2026, 11, 2, 5, tzinfo=UTC),
                                          dt.timedelta(hours=49))


def test_a_custom_range_in_an_unknown_zone_is_whole_utc_days():
    w = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 1), "Nowhere/Land")
    assert (w.start, w.end) == (dt.datetime(2026, 11, 1, tzinfo=UTC), dt.datetime(2026, 11, 2, tzinfo=UTC))


def test_a_custom_range_ending_before_it_starts_is_refused():
    with pytest.raises(WindowError, match="before the start"):
        custom(dt.date(2026, 11, 3), dt.date(2026, 11, 1))


def test_buckets_are_hourly_up_to_72_hours_and_daily_beyond():
    assert (bucket_for(dt.timedelta(hours=72)), bucket_for(dt.timedelta(hours=73))) == ("1h", "1d")


def test_now_without_a_zone_is_taken_as_utc():
    assert parse_now("2026-11-25T12:00:00") == NOW


def test_now_in_another_zone_is_converted_to_utc():
    assert parse_now("2026-11-25T13:00:00+01:00") == NOW


def test_clientele_now_overrides_the_clock(monkeypatch):
    monkeypatch.setenv("CLIENTELE_NOW", "2026-11-25T12:00:00Z")
    assert current_now() == NOW


def test_a_bad_now_is_refused():
    with pytest.raises(WindowError, match="not an ISO time"):
        parse_now("noon")


def test_all_time_ends_just_after_a_request_dated_in_the_future():
    newest = NOW + dt.timedelta(days=2, microseconds=250_000)
    w = window("all", NOW, data_start=NOW - dt.timedelta(days=1), data_end=newest)
    assert (w.end, w.contains(newest)) == (NOW + dt.timedelta(days=2, seconds=1), True)


def test_all_time_ends_now_when_every_request_is_in_the_past():
    w = window("all", NOW, data_start=NOW - dt.timedelta(days=1), data_end=NOW - dt.timedelta(minutes=5))
    assert w.end == NOW


def test_all_time_counts_a_request_dated_exactly_now():
    w = window("all", NOW, data_start=NOW - dt.timedelta(days=1), data_end=NOW)
    assert w.contains(NOW)


def test_other_windows_end_now_whatever_the_newest_request():
    assert window("7d", NOW, data_end=NOW + dt.timedelta(days=2)).end == NOW
