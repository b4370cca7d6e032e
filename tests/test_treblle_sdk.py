"""The real Treblle SDK (PyPI `treblle` 2.0.6 in a Django app, configured in this process) posting to the
running collector; the rows it leaves are checked field by field. Also serves as the app's URLconf."""
from __future__ import annotations

import types

import django
import pytest
import sqlalchemy as sa
import treblle.middleware as treblle_middleware
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from core import store
from core.ingest.collector import create_app
from core.models import Customer, Request, RequestDetail
from tests.test_collector import serving

SDK_TOKEN = "django-sdk-token"
API_KEY = "django-api-key"


# ---------------------------------------------------------------- the instrumented Django app


def customer_view(request, customer_id):
    return JsonResponse({"id": customer_id, "plan": "Pro", "password": "s3cret!"})


def order_view(request, order_id):
    # The app names the customer only in its response, as an API behind a gateway would.
    response = JsonResponse({"order": order_id, "status": "shipped"}, status=201)
    response["treblle-user-id"] = "cust_resp"
    return response


def things_view(request):
    return JsonResponse({"things": []})


def boom_view(request):
    raise RuntimeError("probe failure")


urlpatterns = [
    path("api/customers/<str:customer_id>", customer_view),
    path("api/orders/<int:order_id>", order_view),
    path("api/things", things_view),
    path("api/boom", boom_view),
]


def _configure_django() -> None:
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="test-only-not-secret",
            ALLOWED_HOSTS=["testserver"],
            ROOT_URLCONF=__name__,
            MIDDLEWARE=["treblle.middleware.TreblleMiddleware"],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
            TIME_ZONE="UTC",
            TREBLLE={"SDK_TOKEN": SDK_TOKEN, "API_KEY": API_KEY},
            LOGGING_CONFIG=None,
        )
        django.setup()


@pytest.fixture
def sdk_traffic(db_url, engine, monkeypatch):
    """Send the app's requests through the real SDK to a running collector; returns the API id."""
    api_id = store.create_api(engine, "Django shop", api_key=API_KEY, sdk_token=SDK_TOKEN)["api_id"]
    _configure_django()
    from django.test import Client

    with serving(create_app(db_url)) as base:
        # The SDK picks one of its hard-coded Treblle hosts at random: send it to the collector instead.
        monkeypatch.setattr(treblle_middleware, "random", types.SimpleNamespace(choice=lambda urls: base + "/"))
        client = Client(raise_request_exception=False)
        responses = [
            client.get("/api/customers/cust_hdr", headers={"treblle-user-id": "cust_hdr", "Authorization": "Bearer abc.def"}),
            client.post("/api/orders/1042", data={"sku": "A1", "card_number": "4111111111111111"}, content_type="application/json"),
            client.get("/api/things", headers={"treblle-metadata": '{"user-id": "cust_meta", "Plan": "Enterprise", "seats": 12}'}),
            client.get("/api/things"),
            client.get("/api/nope/123"),
            client.get("/api/boom", headers={"treblle-user-id": "cust_hdr"}),
        ]
        assert [r.status_code for r in responses] == [200, 201, 200, 200, 404, 500]
        # The SDK posts from a thread pool: wait until every POST has been answered (so committed).
        treblle_middleware.TreblleMiddleware.cleanup_resources()
    return api_id


def _rows(engine) -> dict[str, dict]:
    """Stored requests keyed by URL path, with their details."""
    query = sa.select(Request.__table__, RequestDetail.request_headers, RequestDetail.errors, RequestDetail.request_body, RequestDetail.sdk).join(
        RequestDetail.__table__, RequestDetail.request_id == Request.id
    )
    with engine.connect() as conn:
        return {r.url.removeprefix("http://testserver"): dict(r._mapping) for r in conn.execute(query)}


def test_every_sdk_request_is_stored_once(engine, sdk_traffic):
    assert sorted(_rows(engine)) == ["/api/boom", "/api/customers/cust_hdr", "/api/nope/123", "/api/orders/1042", "/api/things"]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Request)) == 6
        assert set(conn.execute(sa.select(Request.api_id)).scalars()) == {sdk_traffic}


def test_customer_from_request_header_response_header_and_metadata(engine, sdk_traffic):
    rows = _rows(engine)
    assert rows["/api/customers/cust_hdr"]["customer_id"] == "cust_hdr"
    assert rows["/api/orders/1042"]["customer_id"] == "cust_resp"
    assert rows["/api/nope/123"]["customer_id"] is None
    with engine.connect() as conn:
        things = sorted(conn.execute(sa.select(Request.customer_id).where(Request.endpoint == "/api/things")).scalars(), key=lambda c: c or "")
    assert things == [None, "cust_meta"]


def test_metadata_header_attributes_are_kept_on_the_customer(engine, sdk_traffic):
    with engine.connect() as conn:
        attributes = conn.scalar(sa.select(Customer.attributes).where(Customer.customer_id == "cust_meta"))
    assert attributes == {"Plan": "Enterprise", "seats": 12}


def test_endpoints_are_the_django_route_templates(engine, sdk_traffic):
    rows = _rows(engine)
    assert rows["/api/customers/cust_hdr"]["endpoint"] == "/api/customers/{customer_id}"
    assert rows["/api/orders/1042"]["endpoint"] == "/api/orders/{order_id}"
    assert rows["/api/boom"]["endpoint"] == "/api/boom"


def test_unrouted_404_gets_a_templated_endpoint(engine, sdk_traffic):
    row = _rows(engine)["/api/nope/123"]
    assert (row["status"], row["endpoint"]) == (404, "/api/nope/{id}")


def test_statuses_are_those_the_app_answered(engine, sdk_traffic):
    statuses = {url: row["status"] for url, row in _rows(engine).items() if url != "/api/things"}
    assert statuses == {"/api/customers/cust_hdr": 200, "/api/orders/1042": 201, "/api/nope/123": 404, "/api/boom": 500}


def test_unhandled_exception_is_recorded_as_an_error(engine, sdk_traffic):
    [error] = _rows(engine)["/api/boom"]["errors"]
    assert (error["type"], error["source"], error["message"]) == ("UNHANDLED_EXCEPTION", "onException", "probe failure")


def test_authorization_header_the_sdk_leaves_clear_is_masked(engine, sdk_traffic):
    headers = _rows(engine)["/api/customers/cust_hdr"]["request_headers"]
    assert headers["authorization"] == "Bearer *******"


def test_sensitive_body_fields_are_masked(engine, sdk_traffic):
    assert _rows(engine)["/api/orders/1042"]["request_body"] == {"sku": "A1", "card_number": "****************"}


def test_load_times_are_plausible_milliseconds(engine, sdk_traffic):
    for url, row in _rows(engine).items():
        assert 0 <= row["load_time_ms"] < 5_000, url
    assert all(row["sdk"] == "django" for row in _rows(engine).values())
