"""core.present.fmt: how numbers, sizes, durations and times read."""
import datetime as dt

import pytest

from core.present import fmt

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_count_has_thousands_separators():
    assert fmt.count(12345) == "12,345"
    assert fmt.count(1_234_567) == "1,234,567"
    assert fmt.count(0) == "0"


def test_missing_values_read_as_a_dash():
    assert fmt.count(None) == "–"
    assert fmt.ms(float("nan")) == "–"
    assert fmt.size(None) == "–"
    assert fmt.pct(None) == "–"
    assert fmt.local_time(None, "UTC") == "–"


def test_ms_below_a_second_has_one_decimal():
    assert fmt.ms(123.45) == "123.5 ms"
    assert fmt.ms(0) == "0.0 ms"
    assert fmt.ms(999.9) == "999.9 ms"


def test_ms_from_a_second_on_reads_in_seconds():
    assert fmt.ms(1000) == "1.0 s"
    assert fmt.ms(1234) == "1.2 s"
    assert fmt.ms(61_500) == "61.5 s"


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [(0, "0 B"), (512, "512 B"), (1023, "1,023 B"), (1024, "1.0 KB"), (1536, "1.5 KB"),
     (3_565_158, "3.4 MB"), (1_048_575, "1.0 MB"), (5 * 1024**3, "5.0 GB")],
)
def test_size_uses_base_1024(n_bytes, text):
    assert fmt.size(n_bytes) == text


def test_pct_takes_a_percentage_and_keeps_one_decimal():
    assert fmt.pct(12.34) == "12.3%"
    assert fmt.pct(100) == "100.0%"
    assert fmt.pct(0.05) == "0.1%"


def test_delta_is_the_change_in_percent():
    assert fmt.delta(120, 100) == 20.0
    assert fmt.delta(50, 200) == -75.0


def test_delta_is_none_without_a_previous_value():
    assert fmt.delta(10, 0) is None
    assert fmt.delta(10, None) is None
    assert fmt.delta(None, 10) is None


def test_delta_text_has_a_sign():
    assert fmt.delta_text(120, 100) == "+20.0%"
    assert fmt.delta_text(95, 100) == "-5.0%"
    assert fmt.delta_text(5, 0) is None


@pytest.mark.parametrize(
    ("before", "text"),
    [(dt.timedelta(seconds=20), "just now"), (dt.timedelta(minutes=5, seconds=30), "5 min ago"),
     (dt.timedelta(hours=3, minutes=59), "3 h ago"), (dt.timedelta(days=2, hours=5), "2 d ago"),
     (dt.timedelta(days=1500), "1,500 d ago")],
)
def test_ago_reads_relative_to_now(before, text):
    assert fmt.ago(NOW - before, NOW) == text


def test_ago_of_nothing_is_never():
    assert fmt.ago(None, NOW) == "never"


def test_ago_treats_naive_times_as_utc():
    assert fmt.ago(dt.datetime(2026, 11, 25, 11, 0), NOW) == "1 h ago"


def test_local_time_converts_to_the_viewer_zone():
    ts = dt.datetime(2026, 11, 25, 12, 5, 59, tzinfo=UTC)
    assert fmt.local_time(ts, "Europe/Berlin") == "2026-11-25 13:05"
    assert fmt.local_time(ts, "America/New_York") == "2026-11-25 07:05"


def test_local_time_falls_back_to_utc_for_unknown_zones():
    ts = dt.datetime(2026, 11, 25, 12, 5, tzinfo=UTC)
    assert fmt.local_time(ts, "Mars/Olympus") == "2026-11-25 12:05"
    assert fmt.local_time(ts, None) == "2026-11-25 12:05"
    assert fmt.zone_name("Mars/Olympus") == "UTC"
    assert fmt.zone_name("Europe/Berlin") == "Europe/Berlin"
