"""Data page (Admin) through AppTest: file import with accepted/rejected report, API creation and token
rotation (secrets shown once), OpenAPI spec upload/removal, SDK set-up values, rejected payloads."""
from __future__ import annotations

import datetime as dt
import gzip
import json

import sqlalchemy as sa

from core.storage import models, store
from core.storage.models import Api, Request
from tests.conftest import fixture_payload
from tests.factories import NOW, make_request
from tests.page_checks import errors, no_exception, open_page, successes, table, warnings

PAGE = "pages/data_sources.py"
GOOD_SPEC = {"openapi": "3.1.0", "info": {"title": "Orders", "version": "1.0"},
             "paths": {"/orders": {"get": {"summary": "List orders", "responses": {"200": {"description": "OK"}}}}}}


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _request_count(seeded) -> int:
    with _engine(seeded).connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(Request)).scalar_one()


def _uploader(at, label):
    return next(u for u in at.file_uploader if u.label == label)


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _import(at, name: str, data: bytes):
    _uploader(at, "Payload files").set_value((name, data, "application/octet-stream"))
    return _button(at, "Import").click().run()


def _treblle_api(seeded) -> None:
    store.create_api(_engine(seeded), "Treblle fixtures", api_key="test-api-key", sdk_token="test-sdk-token")


def test_admin_sees_the_apis_of_the_workspace(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    no_exception(at)
    apis = table(at)
    assert apis.get_column("Name").to_list() == ["Billing API", "Orders API"]
    assert apis.get_column("Docs").to_list() == ["inferred from traffic", "inferred from traffic"]


def test_ndjson_upload_reports_accepted_and_rejected_lines(seeded_app):
    _treblle_api(seeded_app)
    lines = [json.dumps(fixture_payload("django-01-get-treblle-user-id.json")), "{not json",
             json.dumps(fixture_payload("django-03-get-metadata-only-query-masking.json"))]
    at = _import(open_page(PAGE, seeded_app, "admin"), "batch.ndjson", "\n".join(lines).encode())
    no_exception(at)
    assert warnings(at) == ["2 payloads imported, 1 rejected"]
    rejected = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Where" in t.columns)
    assert rejected.get_column("Where").to_list() == ["batch.ndjson:2"]
    assert _request_count(seeded_app) == 9 + 2


def test_gzipped_json_list_is_imported(seeded_app):
    _treblle_api(seeded_app)
    payloads = [fixture_payload("django-01-get-treblle-user-id.json"), fixture_payload("django-04-500-unhandled-exception.json")]
    at = _import(open_page(PAGE, seeded_app, "admin"), "two.json.gz", gzip.compress(json.dumps(payloads).encode()))
    assert successes(at) == ["2 payloads imported"]
    assert _request_count(seeded_app) == 11


def test_payloads_for_an_unknown_api_key_are_rejected_with_the_reason(seeded_app):
    at = _import(open_page(PAGE, seeded_app, "admin"), "one.json",
                 json.dumps(fixture_payload("django-01-get-treblle-user-id.json")).encode())
    assert warnings(at) == ["0 payloads imported, 1 rejected"]
    assert _request_count(seeded_app) == 9


def test_creating_an_api_shows_its_key_and_token_once(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    next(t for t in at.text_input if t.label == "Name").input("Shipping API")
    at = _button(at, "Create API").click().run()
    with _engine(seeded_app).connect() as conn:
        api_id, api_key = conn.execute(sa.select(Api.id, Api.api_key).where(Api.name == "Shipping API")).one()
    codes = [c.value for c in at.code]
    assert api_key in codes
    valid = store.valid_token_hashes(_engine(seeded_app))
    (token,) = [c for c in codes if valid.get(store.token_hash(c)) == api_id]
    at.run()
    assert token not in [c.value for c in at.code]


def test_an_api_name_already_taken_is_refused_with_a_message(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    next(t for t in at.text_input if t.label == "Name").input("Orders API")
    at = _button(at, "Create API").click().run()
    assert errors(at) == ["An API named 'Orders API' already exists."]


def test_rotating_a_token_needs_confirmation(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    at = _button(at, "Rotate token").click().run()
    assert errors(at) == ["Tick the box to confirm: the current token stops working at once."]
    assert store.token_hash("billing-token") in store.valid_token_hashes(_engine(seeded_app))


def test_rotating_a_token_revokes_the_old_one_and_shows_the_new_one_once(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    at.selectbox(key="rotate_api").select(seeded_app.api_ids["orders"])
    next(c for c in at.checkbox if c.label.startswith("Revoke the current token")).check()
    at = _button(at, "Rotate token").click().run()
    valid = store.valid_token_hashes(_engine(seeded_app))
    assert store.token_hash("orders-token") not in valid
    shown = [c.value for c in at.code if store.token_hash(c.value) in valid and valid[store.token_hash(c.value)] == seeded_app.api_ids["orders"]]
    assert len(shown) == 1
    assert any("orders-key" in c.value for c in at.code)


def _upload_spec(at, api_id: int, name: str, data: bytes):
    at.selectbox(key="spec_api").select(api_id)
    _uploader(at, "Spec file").set_value((name, data, "application/octet-stream"))
    return _button(at, "Upload spec").click().run()


def test_an_invalid_spec_is_refused_with_the_validators_message(seeded_app):
    at = _upload_spec(open_page(PAGE, seeded_app, "admin"), seeded_app.api_ids["orders"], "spec.yaml", b"swagger: '2.0'\n")
    assert errors(at) == ["This is a Swagger 2.0 spec; upload OpenAPI 3.0 or 3.1 (convert it first, e.g. with swagger2openapi)."]


def test_a_spec_missing_required_fields_names_the_problem(seeded_app):
    at = _upload_spec(open_page(PAGE, seeded_app, "admin"), seeded_app.api_ids["orders"], "spec.json",
                      json.dumps({"openapi": "3.1.0", "paths": {}}).encode())
    (message,) = errors(at)
    assert message.startswith("The spec is not valid OpenAPI 3.1.0:")
    assert "info" in message


def test_a_valid_spec_is_stored_and_the_api_list_says_so(seeded_app):
    at = _upload_spec(open_page(PAGE, seeded_app, "admin"), seeded_app.api_ids["orders"], "spec.json",
                      json.dumps(GOOD_SPEC).encode())
    assert successes(at) == ["Spec uploaded for 'Orders API'; the API docs now show it."]
    at.run()
    docs = dict(zip(table(at).get_column("Name").to_list(), table(at).get_column("Docs").to_list()))
    assert docs["Orders API"].startswith("uploaded OpenAPI spec")
    assert docs["Billing API"] == "inferred from traffic"


def test_removing_a_spec_goes_back_to_inferred_docs(seeded_app):
    from core.api_docs.upload import upload_spec

    upload_spec(_engine(seeded_app), seeded_app.api_ids["billing"], json.dumps(GOOD_SPEC))
    at = open_page(PAGE, seeded_app, "admin")
    at.selectbox(key="spec_api").select(seeded_app.api_ids["billing"])
    at = _button(at, "Remove uploaded spec").click().run()
    assert successes(at) == ["Uploaded spec of 'Billing API' removed; its docs are inferred from traffic again."]
    with _engine(seeded_app).connect() as conn:
        assert conn.execute(sa.select(Api.openapi_uploaded_at).where(Api.id == seeded_app.api_ids["billing"])).scalar_one() is None


def test_sdk_instructions_carry_the_api_key_and_the_collector_url(seeded_app, monkeypatch):
    monkeypatch.setenv("CLIENTELE_COLLECTOR_URL", "http://collector.test:9000")
    at = open_page(PAGE, seeded_app, "admin")
    at.selectbox(key="sdk_api").select(seeded_app.api_ids["orders"])
    at.run()
    codes = "\n".join(c.value for c in at.code)
    assert '"API_KEY": "orders-key"' in codes
    assert 'choice=lambda urls: "http://collector.test:9000/"' in codes
    assert "TREBLLE_API_KEY=orders-key" in codes


def test_rejected_payloads_show_reason_and_raw_text(seeded_app):
    store.reject(_engine(seeded_app), "collector", "api_key: missing", '<script>alert("x")</script>')
    at = open_page(PAGE, seeded_app, "admin")
    rejected = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Reason" in t.columns and "Source" in t.columns)
    assert rejected.get_column("Reason").to_list() == ["api_key: missing"]
    assert '<script>alert("x")</script>' in [c.value for c in at.code]


def test_an_unauthenticated_rejection_shows_its_source_ip_and_no_body(seeded_app):
    store.reject(_engine(seeded_app), "collector 203.0.113.9 /", "x-api-key: SDK token is not valid (unknown or revoked)", None,
                 raw_size=812, source_ip="203.0.113.9")
    at = open_page(PAGE, seeded_app, "admin")
    rejected = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Source IP" in t.columns)
    assert rejected.select("Source IP", "Size").rows() == [("203.0.113.9", "812 B")]
    assert "(not kept: the sender did not authenticate)" in [c.value for c in at.code]


def test_clocks_tab_shows_skewed_sdks_and_requests_dated_in_the_future(seeded_app):
    orders = seeded_app.api_ids["orders"]
    store.write_requests(_engine(seeded_app), [(orders, make_request(sdk="express", clock_skew_s=-32400.0)),
                                              (orders, make_request(timestamp=NOW + dt.timedelta(hours=5)))])
    at = open_page(PAGE, seeded_app, "admin")
    no_exception(at)
    clocks = next(t for t in (table(at, i) for i in range(len(at.dataframe))) if "Typical skew" in t.columns)
    assert clocks.select("API", "SDK", "Requests", "Typical skew").rows() == [("Orders API", "express", 1, "9 h behind")]
    assert [w for w in warnings(at) if "dated in the future" in w] == [
        "1 request is dated in the future (the latest 2026-11-25 17:00 UTC), from a clock ahead of this server's. "
        "All Time includes it; the other time windows end now."]


def test_clocks_tab_says_every_clock_is_right_when_none_was_replaced(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    assert any(i.value.startswith("Every SDK clock is right") for i in at.info)


def test_import_can_read_every_timestamp_as_utc(seeded_app):
    _treblle_api(seeded_app)
    payload = fixture_payload("django-01-get-treblle-user-id.json")
    payload["data"]["server"]["timezone"] = "Asia/Tokyo"
    payload["data"]["request"]["timestamp"] = "2026-11-25 21:00:00"
    at = open_page(PAGE, seeded_app, "admin")
    next(s for s in at.selectbox if s.label == "Timestamps are in").set_value("utc")
    _import(at, "one.json", json.dumps(payload).encode())
    with _engine(seeded_app).connect() as conn:
        stored = conn.scalar(sa.select(Request.timestamp).where(Request.url.contains("127.0.0.1")).order_by(Request.id.desc()))
    assert stored.replace(tzinfo=None).isoformat() == "2026-11-25T21:00:00"
