"""API docs: uploaded specs (validated, kept on failure), specs inferred from traffic, caching and scope."""
from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from core.api_docs.access import docs_apis
from core.api_docs.cache import clear_cache, spec_for
from core.api_docs.download import to_json, to_yaml
from core.api_docs.infer import _Inference, infer_spec
from core.api_docs.operations import operations
from core.api_docs.paths import _summary, _tag
from core.api_docs.spec import HTTP_METHODS, SpecError
from core.api_docs.upload import parse_spec, remove_spec, upload_spec
from core.domain.scope import Scope, ScopeError
from core.storage import store
from core.storage.store import NotFound
from tests.factories import NOW, make_request, seed_small

WS = Scope.workspace()
UUID_1 = "3f2b8c1e-9a4d-4c2e-8f1a-2b3c4d5e6f70"
UUID_2 = "a1b2c3d4-e5f6-4789-8abc-def012345678"

VALID_JSON = json.dumps({
    "openapi": "3.0.3",
    "info": {"title": "Orders", "version": "2.1"},
    "paths": {"/orders": {"get": {"summary": "All orders", "responses": {"200": {"description": "The orders"}}}}},
})

VALID_YAML = """
openapi: 3.1.0
info:
  title: Orders
  version: "2.1"
components:
  parameters:
    Limit:
      name: limit
      in: query
      schema: {type: integer, example: 10}
  securitySchemes:
    token: {type: http, scheme: bearer}
paths:
  /orders/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}}
    get:
      summary: One order
      security: [{token: []}]
      parameters:
        - $ref: '#/components/parameters/Limit'
      responses:
        200:
          description: The order
          content:
            application/json:
              schema: {type: object}
              example: {id: 1, total: 9.5}
        404: {description: No such order}
"""


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _api(engine, name="Shop") -> int:
    return store.create_api(engine, name, api_key=f"{name}-key")["api_id"]


def _store(engine, api_id, *requests) -> None:
    store.write_requests(engine, [(api_id, r) for r in requests])


def _get(url, endpoint, **kw):
    return make_request(method="GET", url=url, endpoint=endpoint, **kw)


def _infer(engine, api_id, scope=WS, **kw) -> dict:
    return infer_spec(engine, scope, api_id, now=NOW, **kw)


# ---------------------------------------------------------------- inference from hand-made traffic


def test_path_parameter_is_integer_when_every_observed_value_is_digits(engine):
    api = _api(engine)
    _store(engine, api, _get("https://api.shop.test/orders/17", "/orders/{id}"), _get("https://api.shop.test/orders/4", "/orders/{id}"))
    params = _infer(engine, api)["paths"]["/orders/{id}"]["get"]["parameters"]
    assert params == [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}, "example": 4}]


def test_path_parameter_is_a_uuid_string_when_every_observed_value_is_a_uuid(engine):
    api = _api(engine)
    _store(engine, api, _get(f"https://a.test/users/{UUID_1}", "/users/{user_id}"), _get(f"https://a.test/users/{UUID_2}", "/users/{user_id}"))
    param = _infer(engine, api)["paths"]["/users/{user_id}"]["get"]["parameters"][0]
    assert param["schema"] == {"type": "string", "format": "uuid"}


def test_path_parameter_is_a_string_when_values_mix_digits_and_words(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/api/customers/7", "/api/customers/{customer_id}"),
           _get("https://a.test/api/customers/acme", "/api/customers/{customer_id}"))
    param = _infer(engine, api)["paths"]["/api/customers/{customer_id}"]["get"]["parameters"][0]
    assert (param["name"], param["schema"]) == ("customer_id", {"type": "string"})


def test_path_values_are_found_when_the_app_is_mounted_under_a_prefix(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/shop/orders/12", "/orders/{id}"))
    param = _infer(engine, api)["paths"]["/orders/{id}"]["get"]["parameters"][0]
    assert (param["schema"], param["example"]) == ({"type": "integer"}, 12)


def test_repeated_template_names_become_distinct_path_parameters(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/orders/5/items/9", "/orders/{id}/items/{id}"))
    spec = _infer(engine, api)
    params = spec["paths"]["/orders/{id}/items/{item_id}"]["get"]["parameters"]
    assert [(p["name"], p["example"]) for p in params] == [("id", 5), ("item_id", 9)]
    validate(spec)


def test_query_parameters_get_types_from_values_and_required_when_always_present(engine):
    api = _api(engine)
    _store(
        engine, api,
        _get("https://a.test/orders?limit=10&paid=true&q=red", "/orders", query={"limit": "10", "paid": "true", "q": "red"}),
        _get("https://a.test/orders?limit=5&price=9.5", "/orders", query={"limit": "5", "price": "9.5"}),
        _get("https://a.test/orders?limit=20&paid=false&since=2026-11-01", "/orders", query={"limit": "20", "paid": "false", "since": "2026-11-01"}),
    )
    params = _infer(engine, api)["paths"]["/orders"]["get"]["parameters"]
    assert [(p["name"], p["required"], p["schema"]) for p in params] == [
        ("limit", True, {"type": "integer"}),
        ("paid", False, {"type": "boolean"}),
        ("price", False, {"type": "number"}),
        ("q", False, {"type": "string"}),
        ("since", False, {"type": "string", "format": "date"}),
    ]


def test_request_body_schema_is_inferred_from_observed_json_bodies(engine):
    api = _api(engine)
    post = lambda body: make_request(method="POST", url="https://a.test/orders", endpoint="/orders", status=201,  # noqa: E731
                                     request_headers={"content-type": "application/json"}, request_body=body, response_body={"id": 1})
    _store(engine, api, post({"sku": "A1", "qty": 2}), post({"sku": "B2", "qty": 1.5, "note": None}))
    body = _infer(engine, api)["paths"]["/orders"]["post"]["requestBody"]
    assert body["required"] is True
    assert body["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {"sku": {"type": "string"}, "qty": {"type": "number"}, "note": {"type": "null"}},
        "required": ["qty", "sku"],
    }


def test_a_get_without_bodies_has_no_request_body(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/orders", "/orders", request_body={}))
    assert "requestBody" not in _infer(engine, api)["paths"]["/orders"]["get"]


def test_masked_values_do_not_turn_a_numeric_field_into_a_string(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://a.test/me", "/me", response_body={"level": 1234, "secret": "****"}),
           _get("https://a.test/me", "/me", response_body={"level": "****", "secret": "*******"}))
    schema = _infer(engine, api)["paths"]["/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"] == {
        "level": {"type": "integer"},
        "secret": {"type": "string", "format": "password", "description": "Masked in stored traffic."},
    }


def test_an_example_from_a_request_stored_before_ingest_masked_its_credential_shows_it_masked(engine):
    # The docs' examples come from stored traffic: a token a release before left in a body's text stays hidden.
    api = _api(engine)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.S3cr3tSignature9"
    _store(engine, api, _get("https://a.test/me", "/me", response_body={"note": f"session Bearer {jwt}", "SECRET_KEY": "hunter2x"}))
    spec = str(_infer(engine, api))
    assert "S3cr3tSignature9" not in spec and "hunter2x" not in spec and "session Bearer ****" in spec


def test_responses_list_every_status_seen_with_its_reason_phrase_and_body_schema(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://a.test/orders/1", "/orders/{id}", response_body={"id": 1}),
           _get("https://a.test/orders/2", "/orders/{id}", status=404, response_body={"error": "not found"}),
           _get("https://a.test/orders/3", "/orders/{id}", status=503, response_body=None))
    responses = _infer(engine, api)["paths"]["/orders/{id}"]["get"]["responses"]
    assert responses["404"] == {
        "description": "Not Found",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}}},
    }
    assert responses["503"] == {"description": "Service Unavailable"}
    assert list(responses) == ["200", "404", "503"]


def test_security_schemes_come_from_header_names_and_scheme_words_never_values(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://a.test/a", "/a", request_headers={"authorization": "Bearer ****"}),
           _get("https://a.test/b", "/b", request_headers={"Authorization": "Basic ********"}),
           _get("https://a.test/c", "/c", request_headers={"X-API-Key": "****"}),
           _get("https://a.test/c", "/c", request_headers={}))
    spec = _infer(engine, api)
    assert spec["components"]["securitySchemes"] == {
        "basicAuth": {"type": "http", "scheme": "basic"},
        "bearerAuth": {"type": "http", "scheme": "bearer"},
        "xApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
    }
    assert spec["paths"]["/a"]["get"]["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/c"]["get"]["security"] == [{"xApiKey": []}, {}]  # {} : also seen without credentials


@pytest.mark.parametrize(("method", "path", "summary"), [
    ("GET", "/orders", "List orders"),
    ("POST", "/orders", "Create order"),
    ("GET", "/orders/{id}", "Get order by ID"),
    ("GET", "/api/customers/{customer_id}", "Get customer by ID"),
    ("PATCH", "/orders/{id}", "Update order"),
    ("DELETE", "/categories/{id}", "Delete category"),
    ("GET", "/orders/{id}/items", "List items"),
    ("POST", "/auth/login", "Login"),
    ("GET", "/", "GET /"),
    # Acronyms read as acronyms ("List api keys", "Get jwks json" before).
    ("GET", "/api/v1/api-keys", "List API keys"),
    ("GET", "/.well-known/jwks.json", "Get JWKS JSON"),
])
def test_summary_names_the_action_and_the_resource(method, path, summary):
    assert _summary(method, path) == summary


def test_operations_get_unique_ids_and_tags_from_the_first_meaningful_path_segment(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://a.test/api/v1/orders", "/api/v1/orders"),
           make_request(method="POST", url="https://a.test/api/v1/orders", endpoint="/api/v1/orders"),
           _get("https://a.test/health", "/health"))
    spec = _infer(engine, api)
    orders = spec["paths"]["/api/v1/orders"]
    assert (orders["get"]["operationId"], orders["post"]["operationId"]) == ("getApiV1Orders", "postApiV1Orders")
    assert (orders["get"]["tags"], spec["paths"]["/health"]["get"]["tags"]) == (["Orders"], ["Health"])
    assert spec["tags"] == [{"name": "Health"}, {"name": "Orders"}]


@pytest.mark.parametrize("path, tag", [("/api/v1/api-keys", "API keys"), ("/.well-known/openid-configuration", "Well known"),
                                       ("/v2/user_ids/{id}", "User IDs"), ("/Orders", "Orders"), ("/{id}", None)])
def test_tags_read_as_headings(path, tag):
    # Section headings of inferred docs were lowercase path words ("api keys", "well known").
    assert _tag(path) == tag


def test_info_names_the_api_dates_the_version_and_counts_observed_requests(engine):
    api = _api(engine, "Billing")
    _store(engine, api, *[_get("https://a.test/invoices", "/invoices") for _ in range(3)])
    info = _infer(engine, api)["info"]
    assert (info["title"], info["version"]) == ("Billing", "inferred-2026-11-25")
    assert info["description"].startswith("Inferred from 3 observed requests on 2026-11-25.")


def test_server_is_the_most_common_scheme_and_host(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://api.shop.test/a", "/a"), _get("https://api.shop.test/b", "/b"), _get("http://localhost:8000/a", "/a"))
    assert _infer(engine, api)["servers"] == [{"url": "https://api.shop.test"}]


def test_operations_that_only_ever_answered_404_are_left_out(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/orders", "/orders"), _get("https://a.test/wp-admin", "/wp-admin", status=404))
    assert list(_infer(engine, api)["paths"]) == ["/orders"]


def test_bodies_are_read_from_the_most_recent_requests_of_each_operation_only(engine):
    api = _api(engine)
    _store(engine, api, *[_get("https://a.test/me", "/me", response_body={f"field{i}": i}) for i in range(4)])
    schema = _infer(engine, api, sample_per_operation=2)["paths"]["/me"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert sorted(schema["properties"]) == ["field2", "field3"]


def test_example_is_the_newest_successful_request_with_masked_values_still_masked(engine):
    api = _api(engine)
    _store(engine, api,
           make_request(method="POST", url="https://a.test/login", endpoint="/login", status=200,
                        request_headers={"authorization": "Bearer ****", "content-type": "application/json", "cookie": "****"},
                        request_body={"user": "ann", "password": "****"}, response_body={"token": "************"}),
           make_request(method="POST", url="https://a.test/login", endpoint="/login", status=401,
                        request_body={"user": "bob", "password": "****"}, response_body={"error": "bad"}))
    op = _infer(engine, api)["paths"]["/login"]["post"]
    assert op["x-clientele-example"] == {
        "request": {"method": "POST", "url": "/login", "headers": {"authorization": "Bearer ****", "content-type": "application/json"},
                    "body": {"user": "ann", "password": "****"}},
        "response": {"status": 200, "headers": {}, "body": {"token": "************"}},
    }
    assert op["requestBody"]["content"]["application/json"]["example"] == {"user": "ann", "password": "****"}


def test_example_url_is_rebuilt_from_the_masked_query_not_the_raw_url(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/export?token=s3cr3t-raw&format=csv", "/export", query={"token": "*****", "format": "csv"}))
    spec = _infer(engine, api)
    assert spec["paths"]["/export"]["get"]["x-clientele-example"]["request"]["url"] == "/export?token=%2A%2A%2A%2A%2A&format=csv"
    assert "s3cr3t-raw" not in to_json(spec)


def test_an_api_without_traffic_gets_an_empty_valid_spec(engine):
    api = _api(engine)
    spec = _infer(engine, api)
    assert spec["paths"] == {}
    validate(spec)


def test_inferred_spec_validates(engine):
    ids = seed_small(engine)
    _store(engine, ids["orders"],
           make_request(method="POST", url="https://api.example.com/orders?dry_run=true", endpoint="/orders", status=201,
                        query={"dry_run": "true"}, request_headers={"x-api-key": "****", "content-type": "application/json"},
                        request_body={"items": [{"sku": "A1", "qty": 2}], "card_number": "****"}, response_body={"id": 9}),
           _get(f"https://api.example.com/users/{UUID_1}/orders/3", "/users/{id}/orders/{id}", status=500, response_body="oops"))
    validate(_infer(engine, ids["orders"]))


def test_spec_inferred_from_demo_traffic_validates(engine):
    demo = pytest.importorskip("core.demo")
    demo.generate(engine, requests=3000, days=7, seed=7, now=NOW)
    apis = docs_apis(engine, WS)
    assert len(apis) >= 2
    for api in apis:
        spec = _infer(engine, api["api_id"])
        assert spec["paths"]
        validate(spec)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "PROPFIND"]),
    st.lists(st.sampled_from(["orders", "{id}", ":id", "<int:pk>", "{id}", "a b", "x{y", "", "v1"]), max_size=4),
    st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers(), st.lists(st.text(max_size=3), max_size=2)), max_size=3),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5) | st.just("****"),
                 lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8),
    st.integers(min_value=0, max_value=700),
    st.sampled_from([{}, {"authorization": "Bearer ****"}, {"Authorization": "Token ***"}, {"api-key": "***"}]),
), min_size=1, max_size=6))
def test_any_observed_traffic_gives_a_valid_spec(traffic):
    inference = _Inference(1, WS)
    for i, (method, segments, query, body, status, headers) in enumerate(traffic, start=1):
        endpoint = "/" + "/".join(segments)
        op = inference._op(endpoint, method.lower()) if method.lower() in HTTP_METHODS else None
        if op is None:
            continue
        op.requests += 1
        op.endpoints[endpoint] += 1
        op.statuses[status] += 1
        row = SimpleNamespace(id=i, url="https://a.test/" + "/".join(s.strip("{}:<>") or "x" for s in segments), status=status,
                              request_headers=headers, query=query, request_body=body, response_headers={}, response_body=body)
        inference._observe(op, endpoint, row)
    validate(inference.to_spec("Any", NOW))
    # As a customer who called none of it sees it: every example generated from the schema.
    validate(inference.to_spec("Any", NOW, own=_Inference(1, Scope.customer("cust_x"))))


# ---------------------------------------------------------------- uploaded specs


def test_uploading_a_valid_json_spec_stores_it_and_it_is_shown(engine):
    api = _api(engine)
    upload_spec(engine, api, VALID_JSON, "orders.json")
    doc = spec_for(engine, WS, api, now=NOW)
    assert (doc.source, doc.spec["info"]["title"], doc.spec["openapi"]) == ("uploaded", "Orders", "3.0.3")


def test_uploading_a_valid_yaml_spec_reads_unquoted_status_codes_as_strings(engine):
    api = _api(engine)
    spec = upload_spec(engine, api, VALID_YAML.encode(), "orders.yaml")
    assert list(spec["paths"]["/orders/{id}"]["get"]["responses"]) == ["200", "404"]


def test_an_invalid_spec_is_refused_with_the_validators_message_and_the_previous_one_kept(engine):
    api = _api(engine)
    upload_spec(engine, api, VALID_JSON)
    broken = json.dumps({"openapi": "3.1.0", "info": {"title": "No version"}, "paths": {}})
    with pytest.raises(SpecError, match=r"not valid OpenAPI 3\.1\.0: at info: 'version' is a required property"):
        upload_spec(engine, api, broken)
    assert spec_for(engine, WS, api).spec["info"]["title"] == "Orders"


def test_a_path_parameter_without_a_definition_is_refused(engine):
    api = _api(engine)
    spec = {"openapi": "3.0.3", "info": {"title": "x", "version": "1"},
            "paths": {"/a/{id}": {"get": {"responses": {"200": {"description": "ok"}}}}}}
    with pytest.raises(SpecError, match="Path parameter 'id' for 'get' operation in '/a/{id}' was not resolved"):
        upload_spec(engine, api, json.dumps(spec))


def test_a_reference_to_nothing_is_refused_with_the_reference_named(engine):
    api = _api(engine)
    spec = {"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {"responses": {
        "200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Nope"}}}}}}}}}
    with pytest.raises(SpecError, match="#/components/schemas/Nope points to nothing"):
        upload_spec(engine, api, json.dumps(spec))


@pytest.mark.parametrize(("text", "message"), [
    ("", "The file is empty"),
    ("openapi: [3.1", "neither valid JSON nor valid YAML"),
    ("- just\n- a list\n", "must be a JSON or YAML object"),
    ('swagger: "2.0"\ninfo: {title: x, version: "1"}\npaths: {}\n', "Swagger 2.0"),
    ('openapi: "3.2.0"\ninfo: {title: x, version: "1"}\npaths: {}\n', "only OpenAPI 3.0.x and 3.1.x"),
    ('openapi: 3.1.0\ninfo: {title: x, version: "1"}\npaths:\n  /a: {$ref: "file:///etc/passwd"}\n', "outside itself"),
])
def test_files_that_are_not_openapi_3_are_refused_with_a_reason(text, message):
    with pytest.raises(SpecError, match=message):
        parse_spec(text)


@pytest.mark.parametrize("filename", ["spec.json", "spec.yaml", ""])
@pytest.mark.parametrize("opening", ["[", '{"a": '])
def test_a_json_file_nested_100000_levels_deep_is_refused_as_not_a_valid_spec(opening, filename):
    with pytest.raises(SpecError, match="not a valid spec: it is nested more than 200 levels deep"):
        parse_spec(opening * 100_000, filename)


def test_a_spec_over_two_megabytes_is_refused_before_parsing():
    text = '{"openapi": "3.1.0", "x-pad": "' + "x" * (2 * 1024 * 1024) + '"}'
    with pytest.raises(SpecError, match="limited to 2.0 MB"):
        parse_spec(text)


def test_uploading_to_an_unknown_api_says_so(engine):
    with pytest.raises(NotFound, match="No API with id 999"):
        upload_spec(engine, 999, VALID_JSON)


def test_uploaded_spec_wins_over_inference_until_it_is_removed(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/things", "/things"))
    upload_spec(engine, api, VALID_JSON)
    assert list(spec_for(engine, WS, api, now=NOW).spec["paths"]) == ["/orders"]
    remove_spec(engine, api)
    doc = spec_for(engine, WS, api, now=NOW)
    assert (doc.source, list(doc.spec["paths"])) == ("inferred", ["/things"])


# ---------------------------------------------------------------- caching


def test_inferred_spec_is_served_from_cache_until_requests_grow_by_more_than_one_percent(engine):
    api = _api(engine)
    _store(engine, api, *[_get("https://a.test/a", "/a") for _ in range(100)])
    assert spec_for(engine, WS, api, now=NOW).spec["paths"]["/a"]["get"]["description"] == "Observed 100 times."
    _store(engine, api, _get("https://a.test/a", "/a"))
    assert spec_for(engine, WS, api, now=NOW).spec["paths"]["/a"]["get"]["description"] == "Observed 100 times."
    _store(engine, api, _get("https://a.test/a", "/a"))
    assert spec_for(engine, WS, api, now=NOW).spec["paths"]["/a"]["get"]["description"] == "Observed 102 times."


def test_inferred_spec_is_refreshed_after_ten_minutes(engine):
    api = _api(engine)
    _store(engine, api, *[_get("https://a.test/a", "/a") for _ in range(100)])
    spec_for(engine, WS, api, now=NOW)
    _store(engine, api, _get("https://a.test/b", "/b"))
    assert list(spec_for(engine, WS, api, now=NOW + dt.timedelta(minutes=9)).spec["paths"]) == ["/a"]
    assert list(spec_for(engine, WS, api, now=NOW + dt.timedelta(minutes=10)).spec["paths"]) == ["/a", "/b"]


def test_an_incremental_refresh_gives_the_same_spec_as_a_full_inference(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/a?x=1", "/a", query={"x": "1"}, response_body={"n": 1}))
    spec_for(engine, WS, api, now=NOW)
    _store(engine, api, _get("https://a.test/a", "/a", status=201, response_body={"n": "two"}),
           make_request(method="POST", url="https://a.test/b", endpoint="/b", request_body={"k": True}))
    refreshed = spec_for(engine, WS, api, now=NOW + dt.timedelta(minutes=10)).spec
    assert refreshed == _infer(engine, api)


# ---------------------------------------------------------------- scope


def test_a_customer_lists_docs_only_for_apis_where_their_id_appeared(engine):
    seed_small(engine)
    assert [a["name"] for a in docs_apis(engine, Scope.customer("cust_b"))] == ["Orders API"]
    assert [a["name"] for a in docs_apis(engine, Scope.customer("cust_c"))] == ["Billing API"]
    assert [a["name"] for a in docs_apis(engine, WS)] == ["Billing API", "Orders API"]


@pytest.mark.parametrize("call", ["spec_for", "infer_spec"])
def test_a_customer_is_refused_docs_of_an_api_where_their_id_never_appeared(engine, call):
    ids = seed_small(engine)
    with pytest.raises(ScopeError, match="not available to your account"):
        {"spec_for": spec_for, "infer_spec": infer_spec}[call](engine, Scope.customer("cust_c"), ids["orders"], now=NOW)


def test_a_customer_asking_for_an_unknown_api_learns_nothing_about_its_existence(engine):
    seed_small(engine)
    with pytest.raises(ScopeError, match="not available to your account"):
        spec_for(engine, Scope.customer("cust_a"), 999, now=NOW)
    with pytest.raises(NotFound, match="No API with id 999"):
        spec_for(engine, WS, 999, now=NOW)


def _two_customers(engine) -> int:
    """cust_a's own calls, and cust_b's: on the same operations with other values, and on operations only
    cust_b called (a 418 answer, an endpoint of its own)."""
    api = _api(engine)
    mine = dict(customer_id="cust_a", request_headers={"authorization": "Bearer ****", "content-type": "application/json"})
    theirs = dict(customer_id="cust_b", request_headers={"authorization": "Bearer ****", "x-beta-secret-header": "BETA-HEADER-VALUE"})
    _store(engine, api,
           make_request(method="POST", url="https://api.shop.test/orders", endpoint="/orders", request_body={"sku": "A1"},
                        response_body={"id": 1, "owner": "alpha"}, **mine),
           _get("https://api.shop.test/orders/1?view=full", "/orders/{id}", query={"view": "full"}, response_body={"id": 1}, **mine),
           make_request(method="POST", url="https://beta-private.example.net/orders?beta_flag=BETA-QUERY-VALUE", endpoint="/orders",
                        query={"beta_flag": "BETA-QUERY-VALUE"}, request_body={"sku": "BETA-SKU-VALUE", "beta_only_field": 1},
                        response_body={"id": 777001, "owner": "BETA-OWNER-VALUE"}, **theirs),
           _get("https://beta-private.example.net/orders/777001", "/orders/{id}", status=418, response_body={"beta_note": "BETA-NOTE"}, **theirs),
           _get("https://beta-private.example.net/reports/2025?year=2024", "/reports/{year}", query={"year": "2024"},
                response_body={"total": 123456, "owner": "BETA-REPORT-OWNER"}, **theirs))
    return api


def _customer_specs(engine, api, customer_id="cust_a") -> list[dict]:
    scope = Scope.customer(customer_id)
    return [spec_for(engine, scope, api, now=NOW).spec, _infer(engine, api, scope)]


def test_a_customers_docs_list_every_operation_of_the_api_with_schemas_from_all_traffic(engine):
    api = _two_customers(engine)
    for spec in _customer_specs(engine, api):
        assert list(spec["paths"]) == ["/orders", "/orders/{id}", "/reports/{year}"]
        post = spec["paths"]["/orders"]["post"]
        assert sorted(post["requestBody"]["content"]["application/json"]["schema"]["properties"]) == ["beta_only_field", "sku"]
        assert [p["name"] for p in post["parameters"]] == ["beta_flag"]
        assert list(spec["paths"]["/orders/{id}"]["get"]["responses"]) == ["200", "418"]


def test_a_customers_docs_hold_no_value_from_another_customers_requests(engine):
    api = _two_customers(engine)
    for spec in _customer_specs(engine, api):
        text = to_json(spec) + to_yaml(spec)
        leaks = ("BETA-", "777001", "123456", "2024", "2025", "beta-private.example.net", "cust_b")
        assert [leak for leak in leaks if leak in text] == []


def test_a_customers_examples_come_from_their_own_requests(engine):
    api = _two_customers(engine)
    for spec in _customer_specs(engine, api):
        post = spec["paths"]["/orders"]["post"]
        assert post["x-clientele-example"]["request"]["body"] == {"sku": "A1"}
        assert post["responses"]["200"]["content"]["application/json"]["example"] == {"id": 1, "owner": "alpha"}
        get = spec["paths"]["/orders/{id}"]["get"]
        assert [(p["name"], p["example"]) for p in get["parameters"]] == [("id", 1), ("view", "full")]
        assert spec["servers"] == [{"url": "https://api.shop.test"}]


def test_an_operation_only_another_customer_called_gets_examples_generated_from_its_schema(engine):
    api = _two_customers(engine)
    for spec in _customer_specs(engine, api):
        report = spec["paths"]["/reports/{year}"]["get"]
        assert [(p["name"], p["example"]) for p in report["parameters"]] == [("year", 0), ("year", 0)]
        assert report["responses"]["200"]["content"]["application/json"]["example"] == {"total": 0, "owner": "string"}
        assert "x-clientele-example" not in report
        assert report["description"] == "Not called from your account yet; its examples are generated from the schema."
        validate(spec)


def test_a_customer_sees_their_own_counts_never_the_workspaces(engine):
    api = _two_customers(engine)
    _store(engine, api, *[_get("https://api.shop.test/orders/2", "/orders/{id}", customer_id="cust_b") for _ in range(5)])
    for spec in _customer_specs(engine, api):
        assert spec["paths"]["/orders/{id}"]["get"]["description"] == "Called 1 time from your account."
        assert spec["info"]["description"].startswith("Inferred from the API's recorded traffic on 2026-11-25. "
                                                      "Examples come from your own 2 requests")
    assert _infer(engine, api)["paths"]["/orders/{id}"]["get"]["description"] == "Observed 7 times."


def test_a_customer_whose_id_is_a_star_never_gets_the_workspaces_cached_spec(engine):
    api = _api(engine)
    _store(engine, api,
           _get("https://api.shop.test/orders/1", "/orders/{id}", customer_id="*", response_body={"owner": "star"}),
           _get("https://beta-private.example.net/orders/777001", "/orders/{id}", customer_id="cust_b",
                response_body={"owner": "BETA-OWNER-VALUE"}))
    workspace = spec_for(engine, WS, api, now=NOW).spec  # cached first
    assert "BETA-OWNER-VALUE" in to_json(workspace)
    star = spec_for(engine, Scope.customer("*"), api, now=NOW).spec
    text = to_json(star)
    assert [leak for leak in ("BETA-OWNER-VALUE", "777001", "beta-private") if leak in text] == []
    assert star["paths"]["/orders/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["example"] == {"owner": "star"}


def test_the_workspace_never_gets_a_customers_cached_spec(engine):
    api = _api(engine)
    _store(engine, api, _get("https://api.shop.test/a", "/a", customer_id="*"), _get("https://api.shop.test/a", "/a", customer_id="cust_b"))
    spec_for(engine, Scope.customer("*"), api, now=NOW)  # cached first
    assert spec_for(engine, WS, api, now=NOW).spec["paths"]["/a"]["get"]["description"] == "Observed 2 times."


def test_a_customers_cached_spec_after_a_refresh_equals_a_full_inference(engine):
    api = _two_customers(engine)
    cust_a = Scope.customer("cust_a")
    spec_for(engine, cust_a, api, now=NOW)
    _store(engine, api, _get("https://api.shop.test/orders/5", "/orders/{id}", customer_id="cust_a", response_body={"id": 5}),
           _get("https://beta-private.example.net/things", "/things", customer_id="cust_b", response_body={"n": 1}))
    later = NOW + dt.timedelta(minutes=10)
    refreshed = spec_for(engine, cust_a, api, now=later).spec
    assert "/things" in refreshed["paths"]
    assert refreshed == infer_spec(engine, cust_a, api, now=later)


def test_a_customer_sees_the_uploaded_spec_of_their_api(engine):
    ids = seed_small(engine)
    upload_spec(engine, ids["orders"], VALID_JSON)
    assert spec_for(engine, Scope.customer("cust_b"), ids["orders"], now=NOW).source == "uploaded"


# ---------------------------------------------------------------- display and download


def test_operations_flatten_an_uploaded_spec_with_references_resolved():
    (op,) = operations(parse_spec(VALID_YAML))
    assert (op["method"], op["path"], op["summary"]) == ("GET", "/orders/{id}", "One order")
    assert [(p["name"], p["in"], p["required"], p["type"], p["example"]) for p in op["parameters"]] == [
        ("id", "path", True, "string (uuid)", None), ("limit", "query", False, "integer", 10)]
    assert op["responses"]["200"] == {"description": "The order", "content_type": "application/json", "schema": {"type": "object"},
                                      "example": {"id": 1, "total": 9.5}}
    assert op["security"] == [{"name": "token", "description": "HTTP bearer token (Authorization: Bearer …)"}]
    assert op["example_response"] == {"status": "200", "headers": {"content-type": "application/json"}, "body": {"id": 1, "total": 9.5}}


def test_operations_of_an_inferred_spec_carry_the_observed_example(engine):
    api = _api(engine)
    _store(engine, api, _get("https://a.test/orders/3", "/orders/{id}", response_body={"id": 3}, request_headers={"X-API-Key": "****"}))
    (op,) = operations(_infer(engine, api))
    assert op["example_request"] == {"method": "GET", "url": "/orders/3", "headers": {"X-API-Key": "****"}, "body": None}
    assert op["example_response"] == {"status": 200, "headers": {}, "body": {"id": 3}}
    assert (op["security"], op["auth_optional"]) == ([{"name": "xApiKey", "description": "API key in header X-API-Key"}], False)


def test_yaml_and_json_downloads_read_back_to_the_same_spec(engine):
    api = _api(engine)
    _store(engine, api, make_request(method="POST", url="https://a.test/o", endpoint="/o", request_body={"a": [1]}, response_body={"a": [1]}))
    spec = _infer(engine, api)
    assert yaml.safe_load(to_yaml(spec)) == spec
    assert json.loads(to_json(spec)) == spec
    assert "&id" not in to_yaml(spec)


# ---------------------------------------------------------------- query plans


def _plans(engine, call) -> list[tuple[str, list[str]]]:
    """The SQLite query plan of every statement on `requests` that `call` runs."""
    statements = []

    def record(_conn, _cursor, sql, params, _context, _many):
        statements.append((sql, params))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    with engine.connect() as conn:
        return [(sql, [row[3] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)])
                for sql, params in statements if sql.lstrip().upper().startswith("SELECT") and "FROM requests" in sql]


def test_docs_count_operations_from_an_index_alone_and_a_refresh_reads_only_the_new_ids(sqlite_engine):
    """At 4 million requests of an API, counting each operation's requests by status through an index without the
    status took 15-23 s (a table lookup per request), and a refresh walked every index entry of the API."""
    api = _api(sqlite_engine)
    _store(sqlite_engine, api, *[_get(f"https://a.test/a/{i}", "/a/{id}", status=(200, 404, 500)[i % 3]) for i in range(30)])
    first = _plans(sqlite_engine, lambda: spec_for(sqlite_engine, WS, api, now=NOW))
    _store(sqlite_engine, api, _get("https://a.test/b", "/b"))
    refresh = _plans(sqlite_engine, lambda: spec_for(sqlite_engine, WS, api, now=NOW + dt.timedelta(minutes=10)))

    def counts(plans):
        return [plan for sql, plan in plans if "GROUP BY" in sql]

    assert counts(first) and all(any("USING COVERING INDEX ix_requests_api_operation" in s for s in plan) for plan in counts(first))
    assert counts(refresh) and all(any("INTEGER PRIMARY KEY" in s for s in plan) for plan in counts(refresh))
    # Nothing else looks up every request of the API through the api_id prefix of an index; each is a seek or a key range.
    walks = [(sql, plan) for sql, plan in first + refresh for step in plan if step.startswith("SCAN requests")
             or (step.endswith("(api_id=?)") and "COVERING" not in step)]
    assert not walks


def test_a_customers_docs_read_their_sampled_requests_by_id_not_through_their_every_request(sqlite_engine):
    """The busiest customer of the 10M database (1.46M requests to one API) waited 2.2 s for the samples alone: SQLite
    walked every request of theirs through ix_requests_customer_ts, once per operation, to find the 50 ids it was given."""
    api = _api(sqlite_engine)
    _store(sqlite_engine, api, *[_get(f"https://a.test/a/{i}", "/a/{id}", customer_id=("cust_a", "cust_b")[i % 2]) for i in range(20)])
    plans = _plans(sqlite_engine, lambda: spec_for(sqlite_engine, Scope.customer("cust_a"), api, now=NOW))
    samples = [plan for sql, plan in plans if "request_details" in sql]
    assert samples and all(any(s.startswith("SEARCH requests USING INTEGER PRIMARY KEY") for s in plan) for plan in samples)
