"""core.data_admin: API and rejected-payload tables, and multi-file imports with one report."""
import datetime as dt
import json

from core import data_admin, store
from core.ingest.files import ImportReport, Rejection
from tests.conftest import fixture_payload
from tests.factories import seed_small


def test_apis_table_lists_names_keys_and_docs_source(engine):
    seed_small(engine)
    table = data_admin.apis_table(engine, "UTC")
    assert table.columns == ["Name", "API ID", "API key", "Created", "Docs"]
    assert table.get_column("Name").to_list() == ["Billing API", "Orders API"]
    assert table.get_column("API key").to_list() == ["billing-key", "orders-key"]
    assert table.get_column("Docs").to_list() == ["inferred from traffic"] * 2


def test_rejected_table_shows_time_in_the_viewer_zone_and_humanised_size():
    rows = [{"id": 3, "received_at": dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc), "source": "collector",
             "reason": "api_key: missing", "raw_size": 2560, "raw": "{}", "api_id": None}]
    table = data_admin.rejected_table(rows, "Asia/Tokyo")
    assert table.rows() == [(3, "2026-11-25 21:00", "collector", "api_key: missing", "2.5 KB")]


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
