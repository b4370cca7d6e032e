"""core.timewindow: preset bounds from an injected now, previous periods, custom ranges, bucket sizes."""
from __future__ import annotations

import datetime as dt

import pytest

from core.timewindow import WindowError, bucket_for, current_now, custom, parse_now, window

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
