"""core.domain.timewindow: preset bounds from an injected now, previous periods, custom ranges (whole days and
to the minute, as links carry them), bucket sizes."""
from __future__ import annotations

import datetime as dt

import pytest

from core.domain.timewindow import WindowError, bucket_for, current_now, custom, custom_range, parse_now, parse_range, range_text, whole_days, window

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


# ---------------------------------------------------------------- ranges to the minute (a brush, #14)

TOKYO, NEW_YORK = "Asia/Tokyo", "America/New_York"


def wall(day: int, hour: int, minute: int = 0, month: int = 11) -> dt.datetime:
    """A wall-clock time (no zone) in 2026."""
    return dt.datetime(2026, month, day, hour, minute)


def test_a_range_in_tokyo_is_those_wall_clock_minutes_nine_hours_earlier_in_utc():
    w = custom_range(wall(20, 13, 5), wall(21, 9, 40), TOKYO)
    assert (w.start, w.end, w.bucket, w.preset) == (utc(20, 4, 5), utc(21, 0, 40), "1h", "custom")


def test_a_range_in_new_york_in_november_is_those_wall_clock_minutes_five_hours_later_in_utc():
    w = custom_range(wall(20, 13, 5), wall(21, 9, 40), NEW_YORK)
    assert (w.start, w.end) == (utc(20, 18, 5), utc(21, 14, 40))


def test_a_range_longer_than_72_hours_has_daily_buckets():
    assert custom_range(wall(20, 13, 5), wall(23, 13, 6), TOKYO).bucket == "1d"


def test_a_repeated_new_york_time_is_its_first_occurrence_still_in_summer_time():
    # 2026-11-01 01:30 happens twice in New York: at 05:30 UTC (EDT) and at 06:30 UTC (EST); fold=0 picks the first.
    w = custom_range(wall(1, 1, 30), wall(1, 3, 0), NEW_YORK)
    assert (w.start, w.end, w.length) == (utc(1, 5, 30), utc(1, 8, 0), dt.timedelta(hours=2, minutes=30))


def test_a_new_york_time_skipped_when_summer_time_starts_is_refused():
    # On 2026-03-08 New York clocks jump from 02:00 to 03:00: 02:30 never happens.
    with pytest.raises(WindowError, match="2026-03-08 02:30 does not exist in America/New_York"):
        custom_range(wall(8, 2, 30, month=3), wall(8, 4, 0, month=3), NEW_YORK)


def test_a_range_ending_before_it_starts_is_refused():
    with pytest.raises(WindowError, match="end of the range is before its start"):
        custom_range(wall(21, 9, 40), wall(20, 13, 5), TOKYO)


@pytest.mark.parametrize("seconds", [0, 59])
def test_a_range_shorter_than_a_minute_is_refused(seconds):
    with pytest.raises(WindowError, match="at least one minute"):
        custom_range(wall(20, 13, 5), wall(20, 13, 5) + dt.timedelta(seconds=seconds), TOKYO)


def test_a_range_of_one_minute_is_allowed():
    assert custom_range(wall(20, 13, 5), wall(20, 13, 6), TOKYO).length == dt.timedelta(minutes=1)


def test_a_range_longer_than_ten_years_is_refused():
    with pytest.raises(WindowError, match="limited to ten years"):
        custom_range(dt.datetime(2016, 1, 1), dt.datetime(2026, 1, 21), TOKYO)


def test_a_link_with_two_dates_is_whole_days_as_before():
    assert parse_range("2026-11-01", "2026-11-03", TOKYO) == custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3), TOKYO)


def test_a_link_with_times_to_the_minute_in_tokyo_is_that_range_with_its_end_left_out():
    w = parse_range("2026-11-20T13:05", "2026-11-21T09:40", TOKYO)
    assert (w.start, w.end, w.contains(utc(21, 0, 39)), w.contains(utc(21, 0, 40))) == (utc(20, 4, 5), utc(21, 0, 40), True, False)


def test_a_link_with_times_to_the_minute_in_new_york_is_that_range():
    w = parse_range("2026-11-20T13:05", "2026-11-21T09:40", NEW_YORK)
    assert (w.start, w.end) == (utc(20, 18, 5), utc(21, 14, 40))


def test_a_link_time_in_the_repeated_new_york_hour_is_its_first_occurrence():
    # 01:30 EDT is 05:30 UTC; 02:30 (after the clocks went back) is EST, 07:30 UTC: two hours apart, not one.
    w = parse_range("2026-11-01T01:30", "2026-11-01T02:30", NEW_YORK)
    assert (w.start, w.end) == (utc(1, 5, 30), utc(1, 7, 30))


def test_a_link_time_skipped_in_new_york_in_spring_is_refused():
    with pytest.raises(WindowError, match="does not exist"):
        parse_range("2026-03-08T02:30", "2026-03-08T05:00", NEW_YORK)


def test_a_link_date_beside_a_time_counts_from_the_start_or_to_the_end_of_that_day():
    # Tokyo days start at 15:00 UTC the day before.
    assert parse_range("2026-11-20", "2026-11-21T09:40", TOKYO).start == utc(19, 15)
    assert parse_range("2026-11-20T13:05", "2026-11-21", TOKYO).end == utc(21, 15)


@pytest.mark.parametrize("text", ["2026-11-20T13", "2026-11-20 13:05", "2026-11-20T13:05:10", "2026-02-30",
                                  "2026-11-20T25:00", "", None])
def test_link_text_that_is_neither_a_date_nor_a_minute_is_refused(text):
    with pytest.raises(WindowError, match="from=.* is not a date .* or a time to the minute"):
        parse_range(text, "2026-11-21T09:40", TOKYO)


def test_a_range_goes_into_a_link_as_the_wall_clock_minutes_it_was_read_from():
    assert range_text(parse_range("2026-11-20T13:05", "2026-11-21T09:40", TOKYO), TOKYO) == ("2026-11-20T13:05",
                                                                                               "2026-11-21T09:40")


def test_whole_days_go_into_a_link_as_plain_dates_with_the_last_day_included():
    assert range_text(custom(dt.date(2026, 11, 1), dt.date(2026, 11, 3), TOKYO), TOKYO) == ("2026-11-01", "2026-11-03")


def test_an_edge_inside_a_minute_goes_into_a_link_widened_to_the_whole_minute():
    w = window("7d", NOW + dt.timedelta(seconds=30))  # 2026-11-18 13:00 UTC to 2026-11-25 12:00:30 UTC
    assert range_text(w, TOKYO) == ("2026-11-18T22:00", "2026-11-25T21:01")


def test_the_whole_days_of_a_range_are_the_first_and_last_day_it_touches():
    assert whole_days(parse_range("2026-11-20T13:05", "2026-11-21T09:40", TOKYO), TOKYO) == (dt.date(2026, 11, 20),
                                                                                             dt.date(2026, 11, 21))


def test_a_range_ending_at_midnight_does_not_touch_the_next_day():
    assert whole_days(parse_range("2026-11-20T13:05", "2026-11-22T00:00", TOKYO), TOKYO)[1] == dt.date(2026, 11, 21)


def test_a_range_to_the_minute_cuts_the_hours_of_its_edges_its_buckets_and_its_previous_period():
    # 3 days 20:35 long, so daily buckets from 13:05; the period before it starts at 11-16 16:30.
    w = custom_range(wall(20, 13, 5), wall(24, 9, 40), "UTC")
    assert (w.bucket, w.previous().start) == ("1d", utc(16, 16, 30))
    assert w.cut_hours() == [utc(16, 16), utc(20, 13), utc(21, 13), utc(22, 13), utc(23, 13), utc(24, 9)]


def test_a_range_starting_inside_an_hour_has_whole_hour_buckets_so_only_its_edge_hours_are_cut():
    utc = dt.timezone.utc
    start, end = dt.datetime(2026, 11, 20, 13, 5, tzinfo=utc), dt.datetime(2026, 11, 20, 19, 40, tzinfo=utc)
    w = custom_range(start, end, "UTC")
    assert (w.bucket, w.origin) == ("1h", dt.datetime(2026, 11, 20, 13, 0, tzinfo=utc))
    assert w.bucket_edges() == [start] + [dt.datetime(2026, 11, 20, h, tzinfo=utc) for h in range(14, 20)] + [end]
    # The edges of the window (13:05, 19:40) and of its previous period (06:30, 13:05): three hours read raw, not 14.
    assert w.cut_hours() == [dt.datetime(2026, 11, 20, h, tzinfo=utc) for h in (6, 13, 19)]
