"""core.present.data_sources: API and rejected-payload tables, and multi-file imports with one report."""
import datetime as dt
import json

import pytest

from core.ingest.files import ImportReport, Rejection
from core.present import data_sources as data_admin
from core.storage import store
from tests.conftest import fixture_payload
from tests.factories import make_request, seed_small


def test_apis_table_lists_names_keys_and_docs_source(engine):
    seed_small(engine)
    table = data_admin.apis_table(engine, "UTC")
    assert table.columns == ["Name", "API ID", "API key", "Created", "Docs"]
    assert table.get_column("Name").to_list() == ["Billing API", "Orders API"]
    assert table.get_column("API key").to_list() == ["billing-key", "orders-key"]
    assert table.get_column("Docs").to_list() == ["inferred from traffic"] * 2


def test_rejected_table_shows_time_in_the_viewer_zone_and_humanised_size():
    rows = [{"id": 3, "received_at": dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc), "source": "collector",
             "source_ip": "203.0.113.9", "reason": "api_key: missing", "raw_size": 2560, "raw": "{}", "api_id": None}]
    table = data_admin.rejected_table(rows, "Asia/Tokyo")
    assert table.rows() == [(3, "2026-11-25 21:00", "collector", "203.0.113.9", "api_key: missing", "2.5 KB")]


def test_import_files_adds_up_every_file_and_reports_progress(engine):
    store.create_api(engine, "Fixtures", api_key="test-api-key", sdk_token="test-sdk-token")
    good = json.dumps(fixture_payload("django-01-get-treblle-user-id.json")).encode()
    seen = []
    report = data_admin.import_files(engine, [("a.json", good), ("b.ndjson", good + b"\n{oops\n")],
                                     on_file=lambda done, name: seen.append((done, name)))
    assert report.accepted == 2
    assert [r.source for r in report.rejected] == ["b.ndjson:2"]
    assert seen == [(0, "a.json"), (1, "b.ndjson"), (2, "")]


def test_import_summary_in_words():
    assert data_admin.import_summary(ImportReport(accepted=1)) == "1 payload imported"
    assert data_admin.import_summary(ImportReport(accepted=1200, rejected=[Rejection("f:1", "bad")] * 2)) == (
        "1,200 payloads imported, 2 rejected")


def test_rejections_table_has_where_and_reason():
    report = ImportReport(accepted=0, rejected=[Rejection("f.ndjson:3", "not valid JSON")])
    assert data_admin.rejections_table(report).rows() == [("f.ndjson:3", "not valid JSON")]


# ---------------------------------------------------------------- clocks

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _requests(engine, *requests) -> None:
    api = store.create_api(engine, "Orders API")["api_id"]
    store.write_requests(engine, [(api, make_request(**r)) for r in requests])


@pytest.mark.parametrize("seconds, text", [(18000.0, "5 h ahead"), (-32400.0, "9 h behind"), (19800.0, "5 h 30 min ahead"),
                                           (-901.0, "15 min behind"), (3 * 86400.0 + 60, "3 d ahead"),
                                           (-56 * 365.25 * 86400, "56 years behind")])
def test_skew_text_says_how_far_and_which_way(seconds, text):
    assert data_admin.skew_text(seconds) == text


def test_clock_report_names_the_api_and_sdk_with_a_humanised_skew_in_the_viewer_zone(engine):
    _requests(engine, dict(sdk="node", clock_skew_s=18000.0, timestamp=NOW - dt.timedelta(hours=2)),
              dict(sdk="node", clock_skew_s=18060.0, timestamp=NOW - dt.timedelta(hours=1)),
              dict(sdk="django", clock_skew_s=None, timestamp=NOW))
    report = data_admin.clock_report(engine, NOW, "Asia/Tokyo")
    assert report.skews.columns == ["API", "SDK", "Problem", "Requests", "Typical skew", "Range", "Last seen"]
    assert report.skews.rows() == [("Orders API", "node", "Clock off: receive time stored", 2, "5 h ahead",
                                    "5 h ahead to 5 h 1 min ahead", "2026-11-25 20:00")]


def test_clock_report_names_an_sdk_that_labels_utc_timestamps_with_its_host_zone(engine):
    _requests(engine, dict(sdk="express", clock_skew_s=18000.0, clock_fault="zone", timestamp=NOW - dt.timedelta(hours=1)),
              dict(sdk="express", clock_skew_s=-600.0, clock_fault="clock", timestamp=NOW))
    report = data_admin.clock_report(engine, NOW, "UTC")
    assert report.skews.select("SDK", "Problem", "Requests", "Typical skew").sort("Problem").rows() == [
        ("express", "Clock off: receive time stored", 1, "10 min behind"),
        ("express", "Zone mislabelled: timestamps are UTC (corrected)", 1, "5 h ahead")]


def test_clock_report_counts_requests_dated_in_the_future(engine):
    _requests(engine, dict(timestamp=NOW - dt.timedelta(hours=1)), dict(timestamp=NOW + dt.timedelta(hours=3)),
              dict(timestamp=NOW + dt.timedelta(days=1)))
    report = data_admin.clock_report(engine, NOW, "UTC")
    assert (report.future_requests, report.future_latest, report.skews.height) == (2, NOW + dt.timedelta(days=1), 0)
    assert report.future_text("Asia/Tokyo") == (
        "2 requests are dated in the future (the latest 2026-11-26 21:00 Asia/Tokyo), from a clock ahead of this "
        "server's. All Time includes them; the other time windows end now.")


def test_clock_report_without_future_requests_has_nothing_to_say(engine):
    _requests(engine, dict(timestamp=NOW - dt.timedelta(hours=1)))
    assert data_admin.clock_report(engine, NOW, "UTC").future_text("UTC") is None


def test_import_files_passes_the_timestamps_choice_on(engine):
    store.create_api(engine, "Fixtures", api_key="test-api-key", sdk_token="test-sdk-token")
    payload = fixture_payload("django-01-get-treblle-user-id.json")
    payload["data"]["server"]["timezone"] = "Asia/Tokyo"
    payload["data"]["request"]["timestamp"] = "2026-11-25 21:00:00"
    data_admin.import_files(engine, [("a.json", json.dumps(payload).encode())], timestamps="utc")
    assert store.future_requests(engine, NOW) == (1, dt.datetime(2026, 11, 25, 21, 0, tzinfo=UTC))
