"""The real Treblle SDK (PyPI `treblle` 2.0.6 in a Django app, configured in this process) posting to the
running collector; the rows it leaves are checked field by field. Also serves as the app's URLconf.

When a request happened: the Django SDK in New York (tests/django_clock_app.py, its own process) and the
npm SDKs under Node in New York and Tokyo (tests/node) post to the collector; each request must be stored
at the time it was made."""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from zoneinfo import ZoneInfo

import django
import pytest
import sqlalchemy as sa
import treblle.middleware as treblle_middleware
from django.conf import settings
from django.http import JsonResponse
from django.urls import path

from core.analytics import stats
from core.domain.scope import Scope
from core.ingest.collector import create_app
from core.storage import cache, clock_skews, store
from core.storage.models import Customer, Request
from tests.factories import detail_rows
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
    with engine.connect() as conn:
        stored = {d["request_id"]: d for d in detail_rows(conn)}
        return {r.url.removeprefix("http://testserver"): {**dict(r._mapping), **stored[r.id]}
                for r in conn.execute(sa.select(Request.__table__))}


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


def test_bearer_requests_behind_a_tls_terminating_proxy_are_not_credentials_over_http(db_url, engine, monkeypatch):
    # Django without SECURE_PROXY_SSL_HEADER reports http:// URLs for requests its proxy received over https.
    store.create_api(engine, "Django shop", api_key=API_KEY, sdk_token=SDK_TOKEN)
    _configure_django()
    from django.test import Client

    with serving(create_app(db_url)) as base:
        monkeypatch.setattr(treblle_middleware, "random", types.SimpleNamespace(choice=lambda urls: base + "/"))
        client = Client(raise_request_exception=False)
        client.get("/api/customers/proxy", headers={"Authorization": "Bearer abc.def", "X-Forwarded-Proto": "https"})
        client.get("/api/customers/forwarded", headers={"Authorization": "Bearer abc.def", "Forwarded": "for=203.0.113.7;proto=https"})
        client.get("/api/customers/plain", headers={"Authorization": "Bearer abc.def"})
        treblle_middleware.TreblleMiddleware.cleanup_resources()
    with engine.connect() as conn:
        levels = dict(conn.execute(sa.select(Request.url, Request.threat_level)).all())
    assert levels == {"http://testserver/api/customers/proxy": "Low", "http://testserver/api/customers/forwarded": "Low",
                      "http://testserver/api/customers/plain": "High"}


# ---------------------------------------------------------------- when a request happened, real SDKs

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"
CLOCK_TOKEN = "clock-sdk-token"
CLOCK_API_KEY = "clock-api-key"


def _only_request_time(engine) -> dt.datetime:
    with engine.connect() as conn:
        [timestamp] = conn.execute(sa.select(Request.timestamp)).scalars().all()
    return timestamp


def _all_time_requests(engine) -> int:
    """What `python -m core stats --window all` counts, now."""
    cache.invalidate(engine)
    return stats.collect(engine, Scope.workspace(), preset="all")["overview"]["total_requests"]


@pytest.mark.slow
@pytest.mark.parametrize("how, host_zone, use_tz", [
    ("settings.configure", "UTC", "1"),  # the process zone stays UTC: UTC labelled New York
    ("settings.configure", "America/New_York", "0"),  # a host in New York: local time
    ("DJANGO_SETTINGS_MODULE", "UTC", "1"),  # Django sets the process zone: local time
])
def test_django_sdk_in_new_york_is_stored_at_the_time_of_the_request(db_url, engine, how, host_zone, use_tz):
    store.create_api(engine, "Django clock", api_key=CLOCK_API_KEY, sdk_token=CLOCK_TOKEN)
    env = {**os.environ, "TZ": host_zone, "CLOCK_APP_USE_TZ": use_tz, "CLOCK_APP_SDK_TOKEN": CLOCK_TOKEN,
           "CLOCK_APP_API_KEY": CLOCK_API_KEY}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if how == "DJANGO_SETTINGS_MODULE":
        env["DJANGO_SETTINGS_MODULE"] = "tests.django_clock_app"
    with serving(create_app(db_url)) as base:
        made_at = dt.datetime.now(dt.timezone.utc)
        result = subprocess.run([sys.executable, "-m", "tests.django_clock_app", base + "/"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert abs(_only_request_time(engine) - made_at) < dt.timedelta(minutes=1)
    assert _all_time_requests(engine) == 1


def _node_ready() -> bool:
    return shutil.which("node") is not None and (NODE_DIR / "node_modules" / "treblle").is_dir()


@pytest.mark.slow
@pytest.mark.skipif(not _node_ready(), reason="needs node and `npm ci --prefix tests/node` (tests/run.sh runs it)")
@pytest.mark.parametrize("host_zone", ["America/New_York", "Asia/Tokyo"])
@pytest.mark.parametrize("sdk", ["treblle", "@treblle/express"])
def test_npm_sdk_request_is_stored_at_the_time_it_was_made(db_url, engine, sdk, host_zone):
    store.create_api(engine, "Node clock", api_key=CLOCK_API_KEY, sdk_token=CLOCK_TOKEN)
    env = {**os.environ, "TZ": host_zone, "TREBLLE_SDK_TOKEN": CLOCK_TOKEN, "TREBLLE_API_KEY": CLOCK_API_KEY}
    with serving(create_app(db_url)) as base:
        env["CLIENTELE_COLLECTOR_URL"] = base + "/"
        made_at = dt.datetime.now(dt.timezone.utc)
        result = subprocess.run(["node", "-r", "./redirect-fetch.js", "sdk-app.js", sdk], cwd=NODE_DIR, env=env,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    [answer] = [json.loads(line.removeprefix("COLLECTOR ")) for line in result.stdout.splitlines() if line.startswith("COLLECTOR ")]
    assert answer["status"] == 200, answer
    assert abs(_only_request_time(engine) - made_at) < dt.timedelta(minutes=1)
    assert _all_time_requests(engine) == 1
    # The SDK sends UTC labelled with the host's zone: Admins are told, with the size of the label's error.
    [skew] = clock_skews.listed(engine)
    # Read as local time, a UTC wall clock is off by minus the zone's offset (New York in winter: 5 h ahead).
    expected_s = -ZoneInfo(host_zone).utcoffset(made_at.replace(tzinfo=None)).total_seconds()
    assert (skew["fault"], skew["last_skew_s"]) == ("zone", expected_s)
