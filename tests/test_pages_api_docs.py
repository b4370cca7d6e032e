"""API docs page through AppTest: every role, uploaded vs inferred specs, downloads equal the spec, and a
Customer only gets their APIs and examples built from their own requests."""
from __future__ import annotations

import json

import pytest

from core.api_docs.cache import clear_cache, spec_for
from core.api_docs.download import to_yaml
from core.api_docs.upload import upload_spec
from core.domain.scope import Scope
from core.storage import models, store
from tests.apptest_helpers import login_as
from tests.factories import make_request
from tests.page_checks import errors, no_exception, open_page, rendered_text

PAGE = "pages/api_docs.py"
SPEC = {"openapi": "3.1.0", "info": {"title": "Orders", "version": "2.0"},
        "paths": {"/orders": {"get": {"summary": "List orders", "tags": ["Orders"],
                                      "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                                      "responses": {"200": {"description": "The orders"}}}}}}


@pytest.fixture(autouse=True)
def _fresh_docs_cache():
    # Inferred specs are cached per database URL; each test's database is new.
    clear_cache()
    yield
    clear_cache()


def _engine(seeded):
    return models.engine_for(seeded.db_url)


def _labels(at) -> list[str]:
    return [e.label for e in at.expander]


@pytest.mark.parametrize("role", ["admin", "member", "customer"])
def test_every_role_can_read_the_docs(seeded_app, role):
    at = open_page(PAGE, seeded_app, role)
    no_exception(at)
    assert not errors(at)
    assert any("/invoices" in label for label in _labels(at))


def test_admin_sees_that_the_docs_are_inferred(seeded_app):
    at = open_page(PAGE, seeded_app, "admin")
    assert any(c.value.startswith("Inferred from recorded traffic, last inferred") for c in at.caption)


def test_member_is_not_told_where_the_spec_comes_from(seeded_app):
    at = open_page(PAGE, seeded_app, "member")
    assert not any(c.value.startswith(("Inferred from", "Uploaded OpenAPI")) for c in at.caption)


def test_uploaded_spec_is_shown_and_marked_as_uploaded(seeded_app):
    upload_spec(_engine(seeded_app), seeded_app.api_ids["orders"], json.dumps(SPEC))
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]))
    assert any(c.value.startswith("Uploaded OpenAPI spec, uploaded") for c in at.caption)
    assert _labels(at)[0] == ":blue-badge[GET] /orders — List orders"
    params = next(d.value for d in at.dataframe if "In" in d.value.columns)
    assert params.to_dict("records") == [{"Name": "limit", "In": "query", "Required": "no", "Type": "integer",
                                          "Description": "", "Example": ""}]


def test_downloads_are_the_spec_as_json_and_yaml(seeded_app, downloads):
    upload_spec(_engine(seeded_app), seeded_app.api_ids["orders"], json.dumps(SPEC))
    open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]))
    assert json.loads(downloads["orders-api-openapi.json"]) == SPEC
    assert downloads["orders-api-openapi.yaml"].decode() == to_yaml(SPEC)


def test_endpoint_search_narrows_the_operations(seeded_app):
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]))
    before = len(_labels(at))
    at.text_input(key="docs_search").input("boom").run()
    assert [label for label in _labels(at) if "badge" in label] == [":blue-badge[GET] /boom — Get boom"]
    assert before > 1


def test_customer_picker_lists_only_apis_their_id_appeared_on(seeded_app):
    engine = _engine(seeded_app)
    secret = store.create_api(engine, "Secret API", api_key="secret-key")
    store.write_requests(engine, [(secret["api_id"], make_request(customer_id="cust_b"))])
    at = open_page(PAGE, seeded_app, "customer")
    assert sorted(at.selectbox(key="api").options) == ["Billing API", "Orders API"]
    assert "Secret API" not in rendered_text(at)


def test_customer_docs_name_no_other_customer(seeded_app):
    at = open_page(PAGE, seeded_app, "customer", api=str(seeded_app.api_ids["orders"]))
    labels = _labels(at)
    assert any("/boom" in label for label in labels)
    text = rendered_text(at)
    assert [s for s in ("/missing", "cust_b", "Beta LLC", "Carol Co") if s in text] == []


def test_customer_docs_list_an_endpoint_only_another_customer_called_without_its_values(seeded_app, downloads):
    store.write_requests(_engine(seeded_app), [(seeded_app.api_ids["orders"], make_request(
        customer_id="cust_b", endpoint="/reports/{id}", url="https://beta.example.net/reports/9876543",
        response_body={"owner": "BETA-REPORT-OWNER"}))])
    at = open_page(PAGE, seeded_app, "customer", api=str(seeded_app.api_ids["orders"]))
    assert ":blue-badge[GET] /reports/\\{id\\} — Get report by ID" in _labels(at)
    shown = rendered_text(at) + downloads["orders-api-openapi.json"].decode() + downloads["orders-api-openapi.yaml"].decode()
    assert [s for s in ("BETA-REPORT-OWNER", "9876543", "beta.example.net", "cust_b") if s in shown] == []


def test_customer_docs_equal_the_spec_core_builds_for_their_scope(seeded_app, downloads):
    engine = _engine(seeded_app)
    open_page(PAGE, seeded_app, "customer", api=str(seeded_app.api_ids["orders"]))
    expected = spec_for(engine, Scope.customer("cust_a"), seeded_app.api_ids["orders"]).spec
    assert json.loads(downloads["orders-api-openapi.json"]) == expected


def test_customer_url_naming_an_api_they_never_used_is_refused(seeded_app):
    engine = _engine(seeded_app)
    secret = store.create_api(engine, "Secret API", api_key="secret-key")
    store.write_requests(engine, [(secret["api_id"], make_request(customer_id="cust_b", endpoint="/hidden"))])
    at = open_page(PAGE, seeded_app, "customer", api=str(secret["api_id"]))
    assert errors(at) == [f"No API '{secret['api_id']}' among the APIs of your account."]
    text = rendered_text(at)
    assert "/hidden" not in text and "Secret API" not in text


def test_markdown_in_observed_paths_renders_as_text(seeded_app):
    engine = _engine(seeded_app)
    store.write_requests(engine, [(seeded_app.api_ids["orders"],
                                   make_request(endpoint="/[click](http://evil.example)", url="https://api.example.com/x"))])
    at = open_page(PAGE, seeded_app, "admin", api=str(seeded_app.api_ids["orders"]))
    hostile = [label for label in _labels(at) if "evil" in label]
    assert hostile and all("\\[click\\]\\(http\\:" in label for label in hostile)


def test_all_apis_chosen_on_the_request_page_does_not_break_the_docs_page(seeded_app):
    # My requests offers "All APIs" (?api=all); the docs page shows one API and must fall back to one.
    at = login_as(seeded_app, "customer")
    at.query_params["api"] = "all"
    at.switch_page("pages/my_requests.py").run()
    no_exception(at)
    at.switch_page("pages/api_docs.py").run()
    no_exception(at)
    assert not errors(at)
    assert any("/invoices" in label or "/orders" in label for label in _labels(at))
