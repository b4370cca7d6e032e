"""core.domain.timewindow: preset bounds from an injected now, previous periods, custom ranges, bucket sizes."""
from __future__ import annotations

import datetime as dt

import pytest

from core.domain.timewindow import WindowError, bucket_for, current_now, custom, parse_now, window

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
AT_1437 = dt.datetime(2026, 11, 25, 14, 37, tzinfo=UTC)


def utc(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, minute, tzinfo=UTC)


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


def test_all_time_starts_at_the_hour_of_the_first_request():
    w = window("all", AT_1437, data_start=utc(20, 9, 41))
    assert (w.start, w.end) == (utc(20, 9), AT_1437)


def test_all_time_without_data_starts_at_the_hour_before_now():
    assert window("all", AT_1437).start == utc(25, 13)


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


# ---------------------------------------------------------------- windows starting on a whole hour


def test_a_24h_window_at_1437_starts_at_1500_yesterday_and_ends_at_now():
    w = window("24h", AT_1437)
    assert (w.start, w.end, w.bucket, w.length) == (utc(24, 15), AT_1437, "1h", dt.timedelta(hours=23, minutes=37))


def test_a_7d_window_at_1437_starts_at_1500_seven_days_before_the_next_hour():
    w = window("7d", AT_1437)
    assert (w.start, w.end, w.bucket) == (utc(18, 15), AT_1437, "1d")


def test_a_presets_period_is_its_nominal_length_even_when_the_window_is_shorter():
    assert (window("24h", AT_1437).period, window("7d", AT_1437).period, window("30d", NOW).period) == (
        dt.timedelta(hours=24), dt.timedelta(days=7), dt.timedelta(days=30))


def test_all_time_and_custom_periods_are_their_length():
    all_time = window("all", AT_1437, data_start=utc(20, 9, 41))
    three_days = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3))
    assert (all_time.period, three_days.period) == (dt.timedelta(days=5, hours=5, minutes=37), dt.timedelta(days=3))


def test_the_previous_period_of_24h_at_1437_is_the_window_moved_back_a_day():
    # Ends at this time yesterday, so the two periods are compared over the same clock times.
    p = window("24h", AT_1437).previous()
    assert (p.start, p.end, p.bucket, p.preset) == (utc(23, 15), utc(24, 14, 37), "1h", "24h")


def test_the_previous_period_of_24h_on_the_hour_ends_where_the_window_starts():
    w = window("24h", NOW)
    assert (w.previous().start, w.previous().end) == (NOW - dt.timedelta(hours=48), w.start)


def test_the_previous_period_of_a_custom_range_is_as_many_days_just_before():
    p = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3)).previous()
    assert (p.start, p.end) == (utc(29, 0, month=10), utc(1, 0))


def test_bucket_edges_of_24h_at_1437_are_each_hour_from_1500_yesterday_then_now():
    edges = window("24h", AT_1437).bucket_edges()
    assert (len(edges), edges[0], edges[1], edges[-2], edges[-1]) == (25, utc(24, 15), utc(24, 16), utc(25, 14), AT_1437)


def test_bucket_edges_of_7d_on_the_hour_are_the_days_from_its_start_then_its_end():
    assert window("7d", NOW).bucket_edges() == [utc(d, 12) for d in range(18, 26)]


def test_24h_at_1437_cuts_the_hour_of_now_and_the_hour_of_this_time_yesterday():
    assert window("24h", AT_1437).cut_hours() == [utc(24, 14), utc(25, 14)]


def test_7d_at_1437_cuts_the_hour_of_now_and_the_hour_of_this_time_a_week_ago():
    assert window("7d", AT_1437).cut_hours() == [utc(18, 14), utc(25, 14)]


@pytest.mark.parametrize("preset", ["24h", "7d", "14d", "30d", "all"])
def test_a_window_ending_on_the_hour_cuts_no_hour(preset):
    assert window(preset, NOW, data_start=utc(1, 9, 41, month=10)).cut_hours() == []


def test_a_custom_week_in_kolkata_cuts_the_hour_of_each_of_its_day_edges():
    # Kolkata is UTC+05:30: its days start at 18:30 UTC. Nov 1-7 is [10-31 18:30, 11-07 18:30) with daily
    # buckets, the week before it [10-24 18:30, 10-31 18:30): every edge cuts the 18:00 UTC hour of its day.
    w = custom(dt.date(2026, 11, 1), dt.date(2026, 11, 7), "Asia/Kolkata")
    assert (w.start, w.end, w.bucket) == (utc(31, 18, 30, month=10), utc(7, 18, 30), "1d")
    assert w.cut_hours() == [utc(24, 18, month=10), utc(31, 18, month=10), *(utc(d, 18) for d in range(1, 8))]
