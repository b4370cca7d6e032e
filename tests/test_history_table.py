"""core.present.request_log: display rows, status choices, page labels and the bounded CSV export."""
import datetime as dt

import polars as pl

from core.domain.scope import Scope
from core.present import request_log as ht
from core.storage import request_log as history
from core.storage import store
from core.storage.request_log import HistoryPage, HistoryQuery
from tests.factories import NOW, make_request, seed_small

UTC = dt.timezone.utc


def _rows(**overrides) -> pl.DataFrame:
    row = {
        "id": 7, "timestamp": dt.datetime(2026, 11, 25, 12, 30, 5, tzinfo=UTC), "method": "GET", "status": 200,
        "endpoint": "/orders/{id}", "path": "/orders/1", "load_time_ms": 123.456, "response_size": 2048,
        "threat_level": "Low", "device": "desktop", "ai_agent": None, "country": "DE", "customer_id": "c1",
        "customer_name": "Acme", "api_id": 1, "api_name": "Orders API",
    }
    row.update(overrides)
    return pl.DataFrame([row], schema={**history.ROW_SCHEMA, "path": pl.String}).select(history.COLUMNS)


def test_display_rows_read_like_the_table():
    shown = ht.display_rows(_rows(), "Europe/Berlin")
    assert shown.columns == ["Time", "Customer", "Method", "Status", "Endpoint", "Load time (ms)", "Size", "Threat",
                             "Location", "Device", "AI agent", "API", "Customer ID", "Request ID"]
    row = shown.row(0, named=True)
    assert row == {"Time": "2026-11-25 13:30:05", "Method": "GET", "Status": 200, "Endpoint": "/orders/{id}",
                   "Load time (ms)": 123.5, "Size": "2.0 KB", "Threat": "Low", "Device": "desktop", "AI agent": "–",
                   "Location": "Germany", "Customer": "Acme", "Customer ID": "c1", "API": "Orders API", "Request ID": 7}


def test_customer_without_display_name_shows_the_id_and_unattributed_shows_a_dash():
    rows = pl.concat([_rows(customer_name=None), _rows(id=8, customer_id=None, customer_name=None)])
    shown = ht.display_rows(rows, "UTC")
    assert shown.get_column("Customer").to_list() == ["c1", "–"]
    assert shown.get_column("Customer ID").to_list() == ["c1", "–"]


def test_missing_text_cells_read_a_dash_not_none():
    shown = ht.display_rows(_rows(threat_level=None, device=None, api_name=None), "UTC")
    assert shown.select("Threat", "Device", "API").row(0) == ("–", "–", "–")


def test_sdk_caption_names_treblles_sdk_and_the_payload_version():
    assert ht.sdk_caption("django", "20") == "Sent by Treblle's Django SDK, payload version 20"


def test_sdk_caption_without_a_version_names_only_the_sdk():
    assert ht.sdk_caption("some-new-sdk", None) == "Sent by Treblle's some-new-sdk SDK"
    assert ht.sdk_caption(None, "20") is None


def test_unknown_location_reads_unknown():
    assert ht.display_rows(_rows(country=None), "UTC").get_column("Location").to_list() == ["Unknown"]


def test_customer_and_api_columns_can_be_left_out():
    shown = ht.display_rows(_rows(), "UTC", show_customer=False, show_api=False)
    assert shown.columns == ["Time", "Method", "Status", "Endpoint", "Load time (ms)", "Size", "Threat", "Location",
                             "Device", "AI agent", "Request ID"]


def test_statuses_split_into_classes_and_codes():
    assert ht.split_statuses(["4xx", "404", 500, "bogus"]) == (("4xx",), (404, 500))


def test_status_choices_list_classes_then_codes():
    options = {"status_classes": ["2xx", "5xx"], "statuses": [200, 503]}
    assert ht.status_choices(options) == ["2xx", "5xx", "200", "503"]


def test_country_labels_and_url_values():
    assert ht.country_label("DE") == "Germany (DE)"
    assert ht.country_label(None) == "Unknown"
    assert ht.countries_from_url(["DE", "unknown"]) == ("DE", None)
    assert ht.countries_to_url(["DE", None]) == ["DE", "unknown"]


def test_page_label_counts_pages_and_requests():
    empty = _rows().head(0)
    assert ht.page_label(HistoryPage(empty, 345, False, 2, 50)) == "Page 2 of 7 · 345 requests"
    assert ht.page_label(HistoryPage(empty, 1, False, 1, 50)) == "Page 1 of 1 · 1 request"
    assert ht.page_label(HistoryPage(empty, 0, False, 1, 50)) == "No matching requests"


def test_page_label_of_a_capped_count_has_a_plus():
    assert ht.page_label(HistoryPage(_rows().head(0), 10_000, True, 1, 50)) == "Page 1 of 200+ · 10,000+ requests"


def test_export_rows_returns_every_match_across_pages(engine):
    api = store.create_api(engine, "Big", api_key="big")["api_id"]
    store.write_requests(engine, [(api, make_request(timestamp=NOW - dt.timedelta(seconds=i))) for i in range(1203)])
    rows = ht.export_rows(engine, Scope.workspace(), HistoryQuery(api_id=api))
    assert rows.height == 1203
    assert rows.get_column("id").n_unique() == 1203
    assert rows.get_column("timestamp").is_sorted(descending=True)


def test_export_rows_stops_at_the_limit(engine):
    api = store.create_api(engine, "Big", api_key="big")["api_id"]
    store.write_requests(engine, [(api, make_request(timestamp=NOW - dt.timedelta(seconds=i))) for i in range(700)])
    assert ht.export_rows(engine, Scope.workspace(), HistoryQuery(api_id=api), limit=600).height == 600


def test_export_rows_of_a_customer_hold_only_their_requests(engine):
    seed_small(engine)
    rows = ht.export_rows(engine, Scope.customer("cust_a"), HistoryQuery())
    assert rows.get_column("customer_id").to_list() == ["cust_a"] * 4
