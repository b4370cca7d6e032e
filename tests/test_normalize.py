"""Treblle payload normalisation: the captured SDK payloads row by row, the rules of DESIGN.md, and
property tests that no input makes normalisation fail with anything but a PayloadError."""
from __future__ import annotations

import copy
import datetime as dt
import gzip
import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain.record import NormalizedRequest
from core.ingest.customers import parse_metadata
from core.ingest.errors import PayloadError, PayloadTooLarge
from core.ingest.normalize import identify, normalize
from core.ingest.routes import endpoint_for, template_path
from core.ingest.transport import decode_body
from tests.conftest import fixture_payload

UTC = dt.timezone.utc


def _minimal(**overrides) -> dict:
    """A small valid payload of the project_id generation; keyword arguments replace parts of it."""
    payload = {
        "api_key": "tok",
        "project_id": "api-1",
        "version": 20,
        "sdk": "django",
        "data": {
            "server": {"timezone": "UTC"},
            "request": {
                "timestamp": "2026-11-25 08:50:42",
                "ip": "203.0.113.9",
                "url": "https://api.example.com/v1/orders",
                "user_agent": "curl/8.0",
                "method": "GET",
                "headers": {},
                "body": {},
                "query": {},
            },
            "response": {"headers": {}, "code": 200, "size": 10, "load_time": 1.5, "body": {}},
            "errors": [],
        },
    }
    for path, value in overrides.items():
        node = payload
        keys = path.split("__")
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return payload


# ---------------------------------------------------------------- the captured payloads


def test_django_get_with_treblle_user_id_header():
    r = normalize(fixture_payload("django-01-get-treblle-user-id.json"))
    assert (r.api_key, r.sdk_token) == ("test-api-key", "test-sdk-token")
    assert r.customer_id == "cust_42"
    assert r.display_name is None
    assert r.customer_attributes == {}
    assert (r.method, r.url) == ("GET", "http://127.0.0.1:8000/api/customers/42")
    assert r.endpoint == "/api/customers/{customer_id}"
    assert r.status == 200
    assert r.load_time_ms == 0.18
    assert r.response_size == 48
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 50, 42, tzinfo=UTC)
    assert r.ip == "127.0.0.1"
    assert r.response_body == {"id": 42, "plan": "Pro", "password": "*******"}
    assert (r.sdk, r.sdk_version) == ("django", "20")


def test_django_post_with_metadata_header_gives_attributes_and_masks_authorization():
    r = normalize(fixture_payload("django-02-post-json-user-id-and-metadata.json"))
    assert r.customer_id == "cust_42"
    assert r.customer_attributes == {"Plan": "Enterprise"}
    assert r.endpoint == "/api/orders"
    assert (r.method, r.status, r.load_time_ms, r.response_size) == ("POST", 201, 0.27, 125)
    assert r.request_headers["authorization"] == "Bearer *******"
    assert r.request_body == {"sku": "A1", "qty": 2, "password": "****", "card_number": "****************", "api_secret": "**"}
    assert r.metadata_error is None


def test_django_customer_only_in_metadata_header_and_password_query_masked():
    r = normalize(fixture_payload("django-03-get-metadata-only-query-masking.json"))
    assert r.customer_id == "cust_7"
    assert r.customer_attributes == {"Plan": "Free", "region": "eu"}
    assert r.query == {"expand": "plan", "password": "*******"}
    assert r.load_time_ms == 0.15
    assert r.response_size == 47


def test_django_500_keeps_its_errors():
    r = normalize(fixture_payload("django-04-500-unhandled-exception.json"))
    assert (r.status, r.load_time_ms, r.response_size) == (500, 17.01, 55841)
    assert r.customer_id == "cust_7"
    assert r.endpoint == "/api/boom"
    assert r.errors == [
        {"message": "probe failure", "file": "app/urls.py", "line": 15, "source": "onException", "type": "UNHANDLED_EXCEPTION"}
    ]


def test_django_404_without_route_path_templates_the_url_and_has_no_customer():
    r = normalize(fixture_payload("django-05-404-unrouted-non-json.json"))
    assert (r.status, r.load_time_ms, r.response_size) == (404, 2.4, 2527)
    assert r.endpoint == "/api/nope"
    assert r.customer_id is None
    assert r.user_agent == "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"


def test_node_1_5_load_time_in_microseconds_becomes_milliseconds():
    r = normalize(fixture_payload("treblle-node-1.5.2-post-json-user-id-and-metadata.json"))
    assert r.load_time_ms == 2.655
    assert (r.sdk, r.sdk_version) == ("node", "1.5.2")
    assert r.endpoint == "/api/orders"
    assert r.url == "http://127.0.0.1:8001/api/orders?src=web"
    assert r.customer_id == "cust_42"
    assert r.customer_attributes == {"Plan": "Enterprise"}
    assert r.request_headers["authorization"] == "Bearer *******"
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 49, 39, tzinfo=UTC)


# ---------------------------------------------------------------- generations of top-level keys


def test_sdk_token_generation_api_key_names_the_api():
    assert identify({"api_key": "api-1", "sdk_token": "tok"}) == ("api-1", "tok")


def test_project_id_generation_api_key_is_the_token():
    assert identify({"api_key": "tok", "project_id": "api-1"}) == ("api-1", "tok")


def test_oldest_generation_api_key_names_the_api_and_no_token():
    assert identify({"api_key": "api-1"}) == ("api-1", None)


def test_missing_api_identifier_names_the_field():
    with pytest.raises(PayloadError) as err:
        identify({"sdk_token": "tok"})
    assert err.value.field == "api_key"


def test_non_string_sdk_token_is_refused():
    with pytest.raises(PayloadError) as err:
        identify({"api_key": "api-1", "sdk_token": 5})
    assert err.value.field == "sdk_token"


@pytest.mark.parametrize("version", [20, 2.5, "2.0.6"])
def test_version_may_be_int_float_or_string(version):
    r = normalize(_minimal(version=version))
    assert r.sdk_version == str(version)
    assert r.load_time_ms == 1.5


def test_version_as_object_is_refused():
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(version={"major": 2}))
    assert err.value.field == "version"


# ---------------------------------------------------------------- load time units


@pytest.mark.parametrize(
    ("sdk", "version", "load_time", "expected_ms"),
    [
        ("django", 20, 0.18, 0.18),  # Django 2.x: milliseconds
        ("node", "1.5.2", 2655, 2.655),  # npm treblle 1.x: microseconds
        ("node", 1.2, 1000, 1.0),
        ("express", "1.0.2", 12500, 12.5),  # @treblle/express: microseconds
        ("node", "3.0.1", 42, 42.0),  # node 3: milliseconds
        ("laravel", 0.9, 0.25, 250.0),  # payload version below 1: seconds
        ("php", "0.8", 1.5, 1500.0),
    ],
)
def test_load_time_unit_follows_sdk_and_version(sdk, version, load_time, expected_ms):
    r = normalize(_minimal(sdk=sdk, version=version, data__response__load_time=load_time))
    assert r.load_time_ms == pytest.approx(expected_ms)


def test_negative_load_time_is_clamped_to_zero():
    assert normalize(_minimal(data__response__load_time=-0.004)).load_time_ms == 0.0


def test_load_time_as_string_is_read():
    assert normalize(_minimal(data__response__load_time="3.25")).load_time_ms == 3.25


def test_load_time_that_is_not_a_number_names_the_field():
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(data__response__load_time="fast"))
    assert err.value.field == "data.response.load_time"


# ---------------------------------------------------------------- size, status, timestamp


def test_size_given_as_string_is_a_number():
    assert normalize(_minimal(data__response__size="125")).response_size == 125


def test_negative_size_is_refused():
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(data__response__size=-1))
    assert err.value.field == "data.response.size"


def test_status_as_string_is_read():
    assert normalize(_minimal(data__response__code="404")).status == 404


@pytest.mark.parametrize("code", [None, True, 99, 600, "teapot", [200]])
def test_impossible_status_names_the_field(code):
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(data__response__code=code))
    assert err.value.field == "data.response.code"


def test_timestamp_in_server_timezone_becomes_utc_in_winter():
    r = normalize(_minimal(data__server={"timezone": "Europe/Zagreb"}, data__request__timestamp="2026-11-25 08:50:42"))
    assert r.timestamp == dt.datetime(2026, 11, 25, 7, 50, 42, tzinfo=UTC)


def test_timestamp_in_server_timezone_becomes_utc_in_summer():
    r = normalize(_minimal(data__server={"timezone": "Europe/Zagreb"}, data__request__timestamp="2026-07-01 12:00:00"))
    assert r.timestamp == dt.datetime(2026, 7, 1, 10, 0, 0, tzinfo=UTC)


def test_timestamp_without_server_timezone_is_utc():
    r = normalize(_minimal(data__server={}, data__request__timestamp="2026-11-25 08:50:42"))
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 50, 42, tzinfo=UTC)


def test_unknown_timezone_name_falls_back_to_utc():
    r = normalize(_minimal(data__server={"timezone": "Mars/Olympus"}, data__request__timestamp="2026-11-25 08:50:42"))
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 50, 42, tzinfo=UTC)


def test_timestamp_with_fractional_seconds_is_read():
    r = normalize(_minimal(data__request__timestamp="2026-11-25 08:50:42.250000"))
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 50, 42, 250000, tzinfo=UTC)


def test_timestamp_with_single_digit_hour_is_read():
    r = normalize(_minimal(data__request__timestamp="2026-11-25 8:05:42"))
    assert r.timestamp == dt.datetime(2026, 11, 25, 8, 5, 42, tzinfo=UTC)


def test_timestamp_that_is_not_a_time_names_the_field():
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(data__request__timestamp="yesterday"))
    assert err.value.field == "data.request.timestamp"


# ---------------------------------------------------------------- customer ID and metadata


def _with_customer_sources(req_meta=None, resp_meta=None, req_uid=None, resp_uid=None, data_meta=None) -> dict:
    p = _minimal()
    req, resp = p["data"]["request"]["headers"], p["data"]["response"]["headers"]
    if req_meta is not None:
        req["treblle-metadata"] = json.dumps({"user-id": req_meta})
    if resp_meta is not None:
        resp["treblle-metadata"] = json.dumps({"user-id": resp_meta})
    if req_uid is not None:
        req["treblle-user-id"] = req_uid
    if resp_uid is not None:
        resp["Treblle-User-Id"] = resp_uid
    if data_meta is not None:
        p["data"]["metadata"] = {"user-id": data_meta}
    return p


def test_customer_id_from_request_metadata_header_wins_over_all():
    p = _with_customer_sources(req_meta="a", resp_meta="b", req_uid="c", resp_uid="d", data_meta="e")
    assert normalize(p).customer_id == "a"


def test_customer_id_from_response_metadata_header_comes_second():
    p = _with_customer_sources(resp_meta="b", req_uid="c", resp_uid="d", data_meta="e")
    assert normalize(p).customer_id == "b"


def test_customer_id_from_request_user_id_header_comes_third():
    p = _with_customer_sources(req_uid="c", resp_uid="d", data_meta="e")
    assert normalize(p).customer_id == "c"


def test_customer_id_from_response_user_id_header_comes_fourth():
    p = _with_customer_sources(resp_uid="d", data_meta="e")
    assert normalize(p).customer_id == "d"


def test_customer_id_from_data_metadata_comes_last():
    assert normalize(_with_customer_sources(data_meta="e")).customer_id == "e"


def test_numeric_customer_id_becomes_text():
    assert normalize(_with_customer_sources(data_meta=1042)).customer_id == "1042"


def test_no_customer_source_leaves_request_unattributed():
    assert normalize(_minimal()).customer_id is None


def test_metadata_header_gives_display_name_and_attributes():
    p = _minimal()
    p["data"]["request"]["headers"]["treblle-metadata"] = '{"user-id": "c1", "user-name": "Acme Ltd", "Plan": "Pro", "seats": 12}'
    r = normalize(p)
    assert (r.customer_id, r.display_name) == ("c1", "Acme Ltd")
    assert r.customer_attributes == {"Plan": "Pro", "seats": 12}


def test_malformed_metadata_keeps_the_request_and_records_why():
    p = _minimal()
    p["data"]["request"]["headers"]["treblle-metadata"] = "{user-id: c1"
    p["data"]["request"]["headers"]["treblle-user-id"] = "c2"
    r = normalize(p)
    assert r.customer_id == "c2"
    assert r.metadata_error.startswith("request treblle-metadata: not valid JSON")


def test_metadata_that_is_not_an_object_is_recorded():
    p = _minimal()
    p["data"]["request"]["headers"]["treblle-metadata"] = '["c1"]'
    r = normalize(p)
    assert r.customer_id is None
    assert r.metadata_error == "request treblle-metadata: must be a JSON object, got a list; ignored"


def test_metadata_over_2000_characters_is_ignored():
    value, problem = parse_metadata(json.dumps({"user-id": "c1", "pad": "x" * 2000}))
    assert value == {}
    assert problem == "longer than 2000 characters; ignored"


def test_nested_metadata_values_are_dropped_and_named():
    value, problem = parse_metadata('{"user-id": "c1", "tags": ["a"], "Plan": "Pro"}')
    assert value == {"user-id": "c1", "Plan": "Pro"}
    assert problem == "nested values ignored for tags"


def test_customer_id_over_255_characters_leaves_request_unattributed():
    r = normalize(_with_customer_sources(req_uid="x" * 256))
    assert r.customer_id is None
    assert "longer than 255" in r.metadata_error


# ---------------------------------------------------------------- endpoints


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/orders/123", "/orders/{id}"),
        ("/orders/123/items/9", "/orders/{id}/items/{id}"),
        ("/users/3f2a8c1e-7b4d-4c2a-9e1f-0a1b2c3d4e5f", "/users/{id}"),
        ("/blobs/9f86d081884c7d659a2feaa0c55ad015", "/blobs/{id}"),
        ("/v1/orders", "/v1/orders"),
        ("/orders/", "/orders"),
        ("", "/"),
        ("/", "/"),
    ],
)
def test_path_segments_that_look_like_ids_are_templated(path, expected):
    assert template_path(path) == expected


def test_route_path_is_preferred_over_the_url():
    assert endpoint_for("http://h/api/customers/42", "api/customers/{customer_id}") == "/api/customers/{customer_id}"


def test_url_is_templated_when_route_path_is_null():
    assert endpoint_for("http://h/api/customers/42?x=1", None) == "/api/customers/{id}"


# ---------------------------------------------------------------- masking


def test_older_sdk_unmasked_secrets_are_masked_keeping_the_scheme_word():
    p = _minimal()
    p["data"]["request"]["headers"] = {"Authorization": "Basic dXNlcjpwYXNz", "Cookie": "sid=abc", "X-Api-Key": "k123", "Accept": "*/*"}
    p["data"]["request"]["body"] = {"user": {"password": "hunter2", "creditScore": 700, "name": "Ann"}}
    p["data"]["response"]["headers"] = {"Set-Cookie": "sid=abc"}
    r = normalize(p)
    assert r.request_headers == {"Authorization": "Basic ************", "Cookie": "*******", "X-Api-Key": "****", "Accept": "*/*"}
    assert r.request_body == {"user": {"password": "*******", "creditScore": "***", "name": "Ann"}}
    assert r.response_headers == {"Set-Cookie": "*******"}


def test_values_already_masked_by_the_sdk_stay_as_they_are():
    p = _minimal(data__request__body={"password": "****"})
    assert normalize(p).request_body == {"password": "****"}


# ---------------------------------------------------------------- refusals with the field named


@pytest.mark.parametrize(
    ("payload_change", "field"),
    [
        ({"data": None}, "data"),
        ({"data": []}, "data"),
        ({"data__request": "GET /"}, "data.request"),
        ({"data__request__method": 7}, "data.request.method"),
        ({"data__request__url": None}, "data.request.url"),
        ({"data__request__headers": ["a"]}, "data.request.headers"),
        ({"data__errors": "boom"}, "data.errors"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(payload_change, field):
    with pytest.raises(PayloadError) as err:
        normalize(_minimal(**payload_change))
    assert err.value.field == field


def test_a_list_is_not_a_payload():
    with pytest.raises(PayloadError, match="must be a JSON object, got a list"):
        normalize([_minimal()])


def test_php_empty_header_list_is_an_empty_map():
    assert normalize(_minimal(data__request__headers=[])).request_headers == {}


# ---------------------------------------------------------------- transport


def test_gzip_body_is_decoded():
    assert decode_body(gzip.compress(b'{"a": 1}'), "gzip") == {"a": 1}


def test_gzip_without_header_is_recognised_by_its_magic_bytes():
    assert decode_body(gzip.compress(b'{"a": 1}'), None) == {"a": 1}


def test_truncated_gzip_is_refused():
    data = gzip.compress(json.dumps(_minimal()).encode())
    with pytest.raises(PayloadError, match="truncated"):
        decode_body(data[: len(data) // 2], "gzip")


def test_gzip_bomb_is_cut_at_the_limit():
    bomb = gzip.compress(b" " * (20 << 20))
    with pytest.raises(PayloadTooLarge):
        decode_body(bomb, "gzip", max_decompressed=1 << 20)


def test_unsupported_encoding_is_named():
    with pytest.raises(PayloadError) as err:
        decode_body(b"{}", "br")
    assert err.value.field == "Content-Encoding"


def test_empty_body_is_refused():
    with pytest.raises(PayloadError, match="empty body"):
        decode_body(b"  ", None)


# ---------------------------------------------------------------- properties

_json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=30)
_json = st.recursive(_json_scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5), max_leaves=25)


def _outcome(payload) -> NormalizedRequest | PayloadError:
    try:
        return normalize(payload)
    except PayloadError as exc:
        return exc


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_any_json_normalises_or_is_refused_with_a_reason(payload):
    result = _outcome(payload)
    assert isinstance(result, (NormalizedRequest, PayloadError))
    if isinstance(result, PayloadError):
        assert str(result)


_PARTS = ["api_key", "project_id", "sdk_token", "version", "sdk", "data", "data.request", "data.response", "data.server",
          "data.metadata", "data.errors", "data.request.timestamp", "data.request.url", "data.request.method",
          "data.request.headers", "data.request.body", "data.request.ip", "data.request.route_path",
          "data.response.code", "data.response.size", "data.response.load_time", "data.response.headers",
          "data.response.body", "data.server.timezone"]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_PARTS), _json, max_size=4))
def test_payloads_with_any_part_replaced_normalise_or_are_refused(replacements):
    payload = copy.deepcopy(fixture_payload("django-02-post-json-user-id-and-metadata.json"))
    for path, value in replacements.items():
        node = payload
        *parents, last = path.split(".")
        for key in parents:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = value
    result = _outcome(payload)
    assert isinstance(result, (NormalizedRequest, PayloadError))
    if isinstance(result, NormalizedRequest):
        # What is accepted must be storable as JSON by every backend.
        orjson.dumps([result.request_headers, result.request_body, result.query, result.response_body, result.errors, result.server])
        assert result.load_time_ms >= 0


@settings(max_examples=300)
@given(st.binary(max_size=300), st.sampled_from([None, "gzip", "identity", "deflate", "br"]))
def test_any_bytes_decode_to_json_or_a_payload_error(raw, encoding):
    try:
        decode_body(raw, encoding)
    except PayloadError as exc:
        assert str(exc)


@settings(max_examples=300)
@given(st.text(max_size=300) | st.builds(lambda d: json.dumps(d), st.dictionaries(st.text(max_size=8), _json, max_size=5)))
def test_any_metadata_string_parses_without_raising(raw):
    value, problem = parse_metadata(raw)
    assert isinstance(value, dict)
    assert problem is None or isinstance(problem, str)
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in value.values())
