"""core.present.request_log: display rows, status choices, page labels, the bounded CSV export, a request as a
cURL command (masked values stay masked, hostile text stays one quoted argument) and its badge colours."""
import datetime as dt
import subprocess

import polars as pl
import pytest

from core.domain.scope import Scope
from core.ingest.normalize import normalize
from core.present import request_log as ht
from core.storage import request_log as history
from core.storage import store
from core.storage.request_log import HistoryPage, HistoryQuery
from tests.conftest import fixture_payload
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
                   "Load time (ms)": 123.5, "Size": "2.0 KB", "Threat": "Low", "Device": "Desktop", "AI agent": "–",
                   "Location": "Germany", "Customer": "Acme", "Customer ID": "c1", "API": "Orders API", "Request ID": 7}


def test_customer_without_display_name_shows_the_id_and_unattributed_shows_a_dash():
    rows = pl.concat([_rows(customer_name=None), _rows(id=8, customer_id=None, customer_name=None)])
    shown = ht.display_rows(rows, "UTC")
    assert shown.get_column("Customer").to_list() == ["c1", "–"]
    assert shown.get_column("Customer ID").to_list() == ["c1", "–"]


def test_missing_text_cells_read_a_dash_not_none():
    shown = ht.display_rows(_rows(threat_level=None, device=None, api_name=None), "UTC")
    assert shown.select("Threat", "Device", "API").row(0) == ("–", "–", "–")


@pytest.mark.parametrize(("stored", "shown"), [("bot", "Bot"), ("desktop", "Desktop"), ("unknown", "Unknown"),
                                               ("smart-tv", "smart-tv"), (None, "–")])
def test_device_classes_read_capitalised_everywhere_they_are_shown(stored, shown):
    assert ht.device_label(stored) == shown
    assert ht.display_rows(_rows(device=stored), "UTC").get_column("Device").to_list() == [shown]


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


def test_a_key_stored_in_a_url_path_by_an_older_release_is_masked_in_the_table_and_the_export(engine):
    # Shown in clear before: the path column was cut from the stored URL, which only the request dialog masked again.
    key = "sk_live_51HxYzAbCdEfGhIjKlMnOpQr"
    api = store.create_api(engine, "Hooks", api_key="hooks")["api_id"]
    store.write_requests(engine, [(api, make_request(url=f"https://api.example.com/v1/hooks/{key}/ping?page=2"))])
    shown = history.request_history(engine, Scope.workspace(), HistoryQuery(api_id=api)).rows.get_column("path").to_list()
    exported = ht.export_rows(engine, Scope.workspace(), HistoryQuery(api_id=api)).get_column("path").to_list()
    assert shown == exported == ["/v1/hooks/sk_live_" + "*" * (len(key) - len("sk_live_")) + "/ping"]


# ---------------------------------------------------------------- a request as cURL, its method and status colours

HOSTILE = ["it's", "a'b'c", "$(touch /tmp/pwned)", "`id`", "line one\nline two", "; rm -rf ~ #", "\\'", "\"q\"", "'", ""]


def _detail(method="POST", url="https://api.example.com/orders", headers=None, query=None, body=None) -> dict:
    return {"general": {"method": method, "url": url}, "request_headers": headers or {}, "query": query or {},
            "request_body": body}


def _shell_args(command: str) -> list[str]:
    """The arguments a real POSIX shell passes to `curl` for `command` (curl replaced by a function printing them)."""
    script = 'curl() { for a in "$@"; do printf "%s\\0" "$a"; done; }\n' + command
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True, timeout=10).stdout
    return out.decode().split("\0")[:-1]


def test_curl_sends_method_url_headers_and_body_as_stored():
    command = ht.curl_command(_detail(headers={"Content-Type": "application/json", "content-length": "17"},
                                      body={"sku": "A1", "qty": 2}))
    assert _shell_args(command) == ["https://api.example.com/orders", "-X", "POST", "-H", "Content-Type: application/json",
                                    "--data-raw", '{"sku":"A1","qty":2}']


def test_curl_of_a_get_without_body_is_just_the_url_and_headers():
    command = ht.curl_command(_detail(method="GET", headers={"accept": "*/*"}))
    assert command == "curl https://api.example.com/orders \\\n  -H 'accept: */*'"


def test_masked_headers_query_and_body_stay_masked_in_curl():
    command = ht.curl_command(_detail(url="https://api.example.com/orders?api_key=****&page=2",
                                      headers={"Authorization": "Bearer ****", "Cookie": "********"},
                                      body={"password": "****"}))
    args = _shell_args(command)
    assert args[0] == "https://api.example.com/orders?api_key=****&page=2"
    assert ["Authorization: Bearer ****", "Cookie: ********"] == [a for a in args if a.startswith(("Auth", "Cookie"))]
    assert args[-1] == '{"password":"****"}'


def test_a_secret_stored_unmasked_is_masked_in_curl_all_the_same():
    # A field that became sensitive after the request was stored (or an older row) never leaves in clear.
    command = ht.curl_command(_detail(url="https://api.example.com/x?token=s3cret", headers={"x-api-key": "k3y"},
                                      query={"token": "s3cret"}, body={"password": "hunter2"}))
    assert [s for s in ("s3cret", "k3y", "hunter2") if s in command] == []


def test_query_parameters_stored_apart_from_the_url_are_added_to_it():
    command = ht.curl_command(_detail(method="GET", url="https://api.example.com/search",
                                      query={"q": "a b&c", "tag": ["x", "y"], "password": "pw"}))
    assert _shell_args(command) == ["https://api.example.com/search?q=a+b%26c&tag=x&tag=y&password=%2A%2A"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_stored_text_reaches_curl_as_one_literal_argument(text, tmp_path):
    command = ht.curl_command(_detail(method="PUT", url=f"https://api.example.com/{text}",
                                      headers={"x-note": text}, body=text))
    args = _shell_args(f"cd {tmp_path}\n{command}")
    assert args == [f"https://api.example.com/{text}", "-X", "PUT", "-H", f"x-note: {text}"] + (
        ["--data-raw", text] if text else [])
    assert list(tmp_path.iterdir()) == []  # nothing ran


def test_a_url_or_body_that_looks_like_an_option_or_a_file_stays_data():
    command = ht.curl_command(_detail(url="-o/tmp/stolen", body="@/etc/passwd"))
    assert _shell_args(command) == ["--url", "-o/tmp/stolen", "-X", "POST", "--data-raw", "@/etc/passwd"]


def test_method_injection_is_quoted_and_a_nul_byte_never_reaches_the_shell():
    # A shell argument cannot hold a NUL byte: the method's is dropped, a header's is replaced by the masking.
    command = ht.curl_command(_detail(method="get; i\x00d", headers={"x": "a\x00b"}))
    assert "\x00" not in command
    assert _shell_args(command) == ["https://api.example.com/orders", "-X", "GET; ID", "-H", "x: a\ufffdb"]


def test_curl_of_a_request_that_went_through_ingest_shows_no_secret(engine):
    payload = fixture_payload("django-02-post-json-user-id-and-metadata.json")
    payload["data"]["request"]["url"] = "http://127.0.0.1:8000/api/orders?access_token=s3cret&page=1"
    payload["data"]["request"]["body"]["password"] = "hunter2"
    api = store.create_api(engine, "Orders API", api_key="test-api-key")
    store.write_requests(engine, [(api["api_id"], normalize(payload))])
    request_id = history.request_history(engine, Scope.workspace(), HistoryQuery(window=None)).rows.get_column("id")[0]
    command = ht.curl_command(history.request_detail(engine, Scope.workspace(), request_id))
    assert [s for s in ("s3cret", "hunter2", "abc.def") if s in command] == []
    args = _shell_args(command)
    assert args[0].startswith("http://127.0.0.1:8000/api/orders?access_token=*") and args[0].endswith("&page=1")
    assert "authorization: Bearer *******" in args


@pytest.mark.parametrize("status, color", [(200, "green"), (304, "blue"), (404, "orange"), (500, "red"), (None, "gray")])
def test_status_colours_tell_client_from_server_errors(status, color):
    assert ht.status_color(status) == color


def test_method_colours_match_the_api_docs_and_unknown_methods_are_gray():
    assert [ht.method_color(m) for m in ("get", "POST", "DELETE", "TRACE", None)] == ["blue", "green", "red", "gray", "gray"]
