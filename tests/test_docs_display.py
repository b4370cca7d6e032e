"""core.api_docs.display: operations grouped by tag, parameter/response tables, auth text, source line."""
import datetime as dt

from core.api_docs import display as docs_display
from core.api_docs.operations import operations
from core.api_docs.spec import DocSpec

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "Shop", "version": "1.2"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                       "key": {"type": "apiKey", "in": "header", "name": "X-Key"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/orders": {
            "get": {"tags": ["Orders"], "summary": "List orders",
                    "parameters": [{"name": "limit", "in": "query", "required": True, "schema": {"type": "integer"},
                                    "example": 10}],
                    "responses": {"200": {"description": "OK"}, "default": {"description": "Error"},
                                  "404": {"description": "None"}}},
            "post": {"tags": ["Orders"], "security": [{"key": []}, {}], "responses": {"201": {"description": "Made"}}},
        },
        "/health": {"get": {"responses": {"200": {"description": "Up"}}}},
        "/users": {"get": {"tags": ["Users"], "responses": {"200": {"description": "OK"}}}},
    },
}


def _op(method, path):
    return next(o for o in operations(SPEC) if o["method"] == method and o["path"] == path)


def test_operations_are_grouped_by_first_tag_with_untagged_last():
    groups = docs_display.grouped_operations(SPEC)
    assert [(g, [f"{o['method']} {o['path']}" for o in ops]) for g, ops in groups] == [
        ("Orders", ["GET /orders", "POST /orders"]), ("Users", ["GET /users"]), ("Other", ["GET /health"])]
    assert docs_display.operation_count(groups) == 4


def test_search_keeps_matching_operations_only():
    groups = docs_display.grouped_operations(SPEC, "  LIST ")
    assert [(g, len(ops)) for g, ops in groups] == [("Orders", 1)]


def test_parameters_table_is_text():
    assert docs_display.parameters_table(_op("GET", "/orders")).rows() == [("limit", "query", "yes", "integer", "", "10")]


def test_responses_are_sorted_by_code_with_default_last():
    assert docs_display.responses_table(_op("GET", "/orders")).get_column("Status").to_list() == ["200", "404", "default"]


def test_auth_text_names_the_schemes():
    assert docs_display.auth_text(_op("GET", "/orders")) == "HTTP bearer token (Authorization: Bearer …)"
    assert docs_display.auth_text(_op("POST", "/orders")) == "API key in header X-Key (optional)"


def test_schemes_table_lists_each_used_scheme_once():
    assert docs_display.schemes_table(SPEC).rows() == [
        ("bearer", "HTTP bearer token (Authorization: Bearer …)"), ("key", "API key in header X-Key")]


def test_source_line_says_uploaded_or_inferred_in_the_viewer_zone():
    when = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.timezone.utc)
    uploaded = DocSpec(SPEC, "uploaded", when)
    inferred = DocSpec(SPEC, "inferred", when)
    assert docs_display.source_line(uploaded, "Europe/Berlin") == "Uploaded OpenAPI spec, uploaded 2026-11-25 13:00 (Europe/Berlin)."
    assert docs_display.source_line(inferred, "UTC") == "Inferred from recorded traffic, last inferred 2026-11-25 12:00 (UTC)."


def test_spec_title_and_version():
    assert docs_display.spec_title(SPEC) == ("Shop", "1.2")
