"""When a request happened (DESIGN.md "Treblle payloads"): at the collector the receive time decides
which reading of the SDK's timestamp (UTC, or local in data.server.timezone) to believe; file imports
read it per SDK, or as --timestamps says."""
from __future__ import annotations

import datetime as dt

import pytest

from core.ingest.errors import PayloadError
from core.ingest.normalize import normalize

UTC = dt.timezone.utc
# 2026-11-25 is winter everywhere below: New York UTC-5, Tokyo UTC+9, Kolkata UTC+5:30, St John's UTC-3:30.
RECEIVED = dt.datetime(2026, 11, 25, 14, 0, 7, tzinfo=UTC)
HAPPENED = dt.datetime(2026, 11, 25, 14, 0, 5, tzinfo=UTC)


def _payload(timestamp: str, timezone: str | None = "America/New_York", sdk: str | None = "node") -> dict:
    server = {} if timezone is None else {"timezone": timezone}
    payload = {
        "api_key": "tok", "project_id": "api-1", "version": 1,
        "data": {
            "server": server,
            "request": {"timestamp": timestamp, "url": "https://api.example.com/v1/orders", "method": "GET"},
            "response": {"code": 200},
        },
    }
    if sdk is not None:
        payload["sdk"] = sdk
    return payload


def _received(timestamp: str, timezone: str | None = "America/New_York", received_at: dt.datetime = RECEIVED):
    return normalize(_payload(timestamp, timezone), received_at=received_at)


# ---------------------------------------------------------------- at the collector


@pytest.mark.parametrize("timezone, sent, skew_s, fault", [
    # npm treblle: toISOString(), labelled with the host's zone: believed as UTC, the label reported.
    ("America/New_York", "2026-11-25 14:00:05", 5 * 3600.0, "zone"),
    ("America/New_York", "2026-11-25 09:00:05", None, None),  # Django with the process zone set: local time
    ("Asia/Tokyo", "2026-11-25 14:00:05", -9 * 3600.0, "zone"),
    ("Asia/Tokyo", "2026-11-25 23:00:05", None, None),
])
def test_collector_stores_the_reading_that_matches_the_receive_time(timezone, sent, skew_s, fault):
    request = _received(sent, timezone)
    assert (request.timestamp, request.clock_skew_s, request.clock_fault) == (HAPPENED, skew_s, fault)


@pytest.mark.parametrize("timezone, sent, skew_s, fault", [
    ("Asia/Kolkata", "2026-11-25 19:30:05", None, None),
    ("Asia/Kolkata", "2026-11-25 14:00:05", -5.5 * 3600, "zone"),
    ("America/St_Johns", "2026-11-25 10:30:05", None, None),
    ("America/St_Johns", "2026-11-25 14:00:05", 3.5 * 3600, "zone"),
])
def test_half_hour_zones_are_read_both_ways_too(timezone, sent, skew_s, fault):
    request = _received(sent, timezone)
    assert (request.timestamp, request.clock_skew_s, request.clock_fault) == (HAPPENED, skew_s, fault)


def test_a_utc_timestamp_labelled_utc_is_not_a_mislabelled_zone():
    request = _received("2026-11-25 14:00:05", "UTC")
    assert (request.timestamp, request.clock_skew_s, request.clock_fault) == (HAPPENED, None, None)


def test_the_repeated_autumn_hour_is_read_on_the_side_the_receive_time_says():
    # 01:30 happens twice in New York on 2026-11-01: 05:30 UTC (EDT) and 06:30 UTC (EST).
    request = _received("2026-11-01 01:30:00", received_at=dt.datetime(2026, 11, 1, 6, 30, 2, tzinfo=UTC))
    assert request.timestamp == dt.datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


def test_a_wrong_clock_is_replaced_by_the_receive_time_and_its_skew_kept():
    # Read as UTC it is 3 h ahead, as New York time 8 h ahead: the closer one gives the skew.
    request = _received("2026-11-25 17:00:07")
    assert (request.timestamp, request.clock_skew_s) == (RECEIVED, 3 * 3600.0)


def test_a_clock_behind_has_a_negative_skew():
    request = _received("2026-11-25 13:00:07", "UTC")
    assert (request.timestamp, request.clock_skew_s) == (RECEIVED, -3600.0)


def test_a_clock_that_was_never_set_is_stored_at_the_receive_time_not_refused():
    request = _received("1970-01-01 00:00:00", "UTC")
    assert request.timestamp == RECEIVED
    assert request.clock_skew_s == pytest.approx(-(RECEIVED - dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


@pytest.mark.parametrize("sent, stored, skew_s", [
    ("2026-11-25 14:15:07", dt.datetime(2026, 11, 25, 14, 15, 7, tzinfo=UTC), None),  # exactly 15 min ahead
    ("2026-11-25 13:45:07", dt.datetime(2026, 11, 25, 13, 45, 7, tzinfo=UTC), None),  # exactly 15 min behind
    ("2026-11-25 14:15:08", RECEIVED, 901.0),
    ("2026-11-25 13:45:06", RECEIVED, -901.0),
])
def test_fifteen_minutes_is_the_edge_of_belief(sent, stored, skew_s):
    request = _received(sent, "UTC")
    assert (request.timestamp, request.clock_skew_s) == (stored, skew_s)


def test_readings_that_are_the_same_instant_are_simply_believed():
    # London is UTC in winter: both readings agree.
    request = _received("2026-11-25 14:00:05", "Europe/London")
    assert (request.timestamp, request.clock_skew_s) == (HAPPENED, None)


def test_readings_equally_far_on_both_sides_give_the_utc_readings_skew():
    # Brisbane is UTC+10: read as UTC the clock is 5 h ahead, read as local 5 h behind.
    request = _received("2026-11-25 19:00:07", "Australia/Brisbane")
    assert (request.timestamp, request.clock_skew_s) == (RECEIVED, 5 * 3600.0)


def test_a_timestamp_with_its_own_offset_has_one_reading():
    request = _received("2026-11-25T09:00:05-05:00", "Asia/Tokyo")
    assert (request.timestamp, request.clock_skew_s) == (HAPPENED, None)


def test_an_unknown_zone_name_leaves_the_utc_reading():
    request = _received("2026-11-25 14:00:05", "Mars/Olympus")
    assert (request.timestamp, request.clock_skew_s) == (HAPPENED, None)


def test_a_timestamp_that_is_not_a_time_is_still_refused_at_the_collector():
    with pytest.raises(PayloadError) as err:
        _received("yesterday")
    assert err.value.field == "data.request.timestamp"


# ---------------------------------------------------------------- file import (no receive time)


@pytest.mark.parametrize("sdk", ["node", "express", "js", "nestjs", "laravel", "php", "Node"])
def test_file_import_reads_js_and_php_sdks_as_utc(sdk):
    request = normalize(_payload("2026-11-25 14:00:05", "America/New_York", sdk))
    assert request.timestamp == HAPPENED


def test_file_import_reads_django_as_local_time_in_the_server_zone():
    request = normalize(_payload("2026-11-25 09:00:05", "America/New_York", "django"))
    assert request.timestamp == HAPPENED


@pytest.mark.parametrize("sdk", ["ruby", None])
def test_file_import_reads_unknown_sdks_as_utc(sdk):
    request = normalize(_payload("2026-11-25 14:00:05", "Asia/Tokyo", sdk))
    assert request.timestamp == HAPPENED


def test_timestamps_utc_overrides_the_django_rule():
    request = normalize(_payload("2026-11-25 14:00:05", "America/New_York", "django"), timestamps="utc")
    assert request.timestamp == HAPPENED


def test_timestamps_local_overrides_the_node_rule():
    request = normalize(_payload("2026-11-25 23:00:05", "Asia/Tokyo", "node"), timestamps="local")
    assert request.timestamp == HAPPENED


def test_file_import_never_records_a_skew():
    assert normalize(_payload("2030-01-01 00:00:00")).clock_skew_s is None


def test_file_import_still_refuses_years_out_of_range():
    with pytest.raises(PayloadError) as err:
        normalize(_payload("1970-01-01 00:00:00"))
    assert "1970" in str(err.value)
