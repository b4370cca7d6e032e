"""The HTTP collector over real HTTP on 127.0.0.1 (uvicorn in a thread): what it stores, what it refuses
and with which status, that bad input never gets a 5xx, and the 503 and recovery when the database is down."""
from __future__ import annotations

import copy
import datetime as dt
import gzip
import json
import logging
import select
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from core.ingest import collector as collector_module
from core.ingest.collector import create_app
from core.ingest.server import server_options
from core.storage import clock_skews, models, store
from core.storage.models import RejectedPayload, Request
from tests.conftest import fixture_payload

TOKEN = "test-sdk-token"  # the captured payloads' token and API key (project_id generation)
API_KEY = "test-api-key"
MAX_BODY = 100_000
MAX_DECOMPRESSED = 1_000_000


@contextmanager
def serving(app):
    """Run the ASGI app with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", **server_options()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the collector did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("CLIENTELE_MAX_BODY_BYTES", str(MAX_BODY))
    monkeypatch.setenv("CLIENTELE_MAX_DECOMPRESSED_BYTES", str(MAX_DECOMPRESSED))
    monkeypatch.setenv("CLIENTELE_REJECTED_PER_IP_PER_MINUTE", "100000")  # these tests count every rejection


@pytest.fixture
def apis(engine):
    shop = store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
    other = store.create_api(engine, "Other", api_key="other-api-key", sdk_token="other-token")
    return {"shop": shop["api_id"], "other": other["api_id"]}


@pytest.fixture
def url(db_url, engine, apis, limits):
    with serving(create_app(db_url)) as base:
        yield base


def _payload(name: str = "django-02-post-json-user-id-and-metadata.json") -> dict:
    return copy.deepcopy(fixture_payload(name))


def _post(url: str, body, *, token: str | None = TOKEN, headers: dict | None = None, path: str = "/") -> httpx.Response:
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **({"x-api-key": token} if token else {}), **(headers or {})}
    return httpx.post(url + path, content=body, headers=all_headers, timeout=30)


def _requests(engine) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(Request.id, Request.api_id, Request.customer_id, Request.status).order_by(Request.id))]


def _rejections(engine, count: int) -> list[dict]:
    """The stored rejections, once `count` of them are there (they are saved in batches, asynchronously)."""
    deadline = time.monotonic() + 10
    while True:
        with engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sa.select(RejectedPayload.__table__).order_by(RejectedPayload.id))]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


# ---------------------------------------------------------------- accepted


def test_plain_json_payload_is_stored_before_the_reply(url, engine, apis):
    response = _post(url, _payload())
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "stored"
    assert _requests(engine) == [(body["id"], apis["shop"], "cust_42", 201)]


def test_gzip_payload_is_stored(url, engine, apis):
    response = _post(url, gzip.compress(json.dumps(_payload()).encode()), headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert _requests(engine) == [(response.json()["id"], apis["shop"], "cust_42", 201)]


def test_token_header_name_is_case_insensitive(url, engine):
    response = _post(url, _payload(), token=None, headers={"X-API-KEY": TOKEN})
    assert response.status_code == 200


def test_token_in_the_payload_is_enough_without_the_header(url, engine):
    assert _post(url, _payload(), token=None).status_code == 200


def test_payload_posted_to_any_path_is_accepted(url, engine):
    assert _post(url, _payload(), path="/v1/log").status_code == 200


def test_sdk_token_generation_payload_is_accepted(url, engine, apis):
    payload = _payload()
    del payload["project_id"]
    payload["api_key"], payload["sdk_token"] = API_KEY, TOKEN
    response = _post(url, payload, token=None)
    assert response.status_code == 200
    assert _requests(engine)[0][1] == apis["shop"]


def test_many_concurrent_payloads_are_all_stored_with_distinct_ids(url, engine):
    results = []

    def send():
        with httpx.Client(timeout=30) as client:
            for _ in range(10):
                results.append(client.post(url + "/", content=json.dumps(_payload()).encode(), headers={"x-api-key": TOKEN}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 80
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 80
    assert {row[0] for row in _requests(engine)} == ids


def test_api_created_after_start_is_accepted_at_once(url, engine):
    created = store.create_api(engine, "Late")
    payload = _payload()
    payload["project_id"], payload["api_key"] = created["api_key"], created["sdk_token"]
    time.sleep(collector_module.CREDENTIALS_MIN_REFRESH_S)  # the refresh after start is rate-limited
    assert _post(url, payload, token=created["sdk_token"]).status_code == 200


# ---------------------------------------------------------------- refused, with the reason


def test_truncated_gzip_is_400(url, engine):
    data = gzip.compress(json.dumps(_payload()).encode())
    response = _post(url, data[: len(data) // 2], headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert response.json() == {"error": "body: gzip data is truncated"}


def test_gzip_bomb_is_413(url, engine):
    bomb = gzip.compress(b"[" + b" " * (MAX_DECOMPRESSED * 4) + b"]")
    assert len(bomb) < MAX_BODY
    response = _post(url, bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json() == {"error": f"body: decompressed payload exceeds {MAX_DECOMPRESSED} bytes"}


def test_body_over_the_declared_limit_is_413(url, engine):
    response = _post(url, b"{" + b" " * MAX_BODY + b"}")
    assert response.status_code == 413
    assert response.json() == {"error": f"body: {MAX_BODY + 2} bytes is over the limit of {MAX_BODY} bytes"}


def test_chunked_body_over_the_limit_is_413(url, engine):
    def chunks():
        for _ in range(15):
            yield b" " * 10_000

    response = httpx.post(url + "/", content=chunks(), headers={"x-api-key": TOKEN}, timeout=30)
    assert response.status_code == 413
    assert response.json() == {"error": f"body: over the limit of {MAX_BODY} bytes"}


def test_non_json_body_is_400(url, engine):
    response = _post(url, b"<xml>hello</xml>")
    assert response.status_code == 400
    assert response.json()["error"].startswith("body: not valid JSON")


def test_unsupported_content_encoding_is_415(url, engine):
    response = _post(url, b"{}", headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert response.json()["error"].startswith("Content-Encoding: unsupported encoding 'br'")


def test_json_that_is_not_an_object_is_422(url, engine):
    response = _post(url, [_payload()])
    assert response.status_code == 422
    assert response.json() == {"error": "body: a payload must be a JSON object, got a list"}


def test_wrong_type_is_422_naming_the_field(url, engine):
    payload = _payload()
    payload["data"]["response"]["code"] = [201]
    response = _post(url, payload)
    assert response.status_code == 422
    assert response.json() == {"error": "data.response.code: [201] is not an HTTP status code (100–599)"}


def test_payload_without_api_identifier_is_422(url, engine):
    payload = _payload()
    del payload["project_id"]
    del payload["api_key"]
    response = _post(url, payload)
    assert response.status_code == 422
    assert response.json()["error"].startswith("api_key: missing")


def test_missing_token_is_401(url, engine):
    payload = _payload()
    del payload["project_id"]
    payload["api_key"] = API_KEY  # oldest generation: api_key names the API and carries no token
    response = _post(url, payload, token=None)
    assert response.status_code == 401
    assert response.json()["error"].startswith("x-api-key: missing SDK token")


def test_wrong_token_is_401(url, engine):
    response = _post(url, _payload(), token="not-the-token")
    assert response.status_code == 401
    assert response.json() == {"error": "x-api-key: SDK token is not valid (unknown or revoked)"}


def test_token_of_another_api_is_401(url, engine):
    response = _post(url, _payload(), token="other-token")
    assert response.status_code == 401
    assert response.json() == {"error": "x-api-key: this SDK token belongs to another API"}


def test_unknown_api_is_401(url, engine):
    payload = _payload()
    payload["project_id"] = "no-such-api"
    response = _post(url, payload)
    assert response.status_code == 401
    assert response.json()["error"].startswith("api_key: no API with this key")


def test_revoked_token_is_refused_once_credentials_are_reloaded(url, engine, apis, monkeypatch):
    assert _post(url, _payload()).status_code == 200
    store.rotate_sdk_token(engine, apis["shop"])
    monkeypatch.setattr(collector_module, "CREDENTIALS_MAX_AGE_S", 0.0)
    monkeypatch.setattr(collector_module, "CREDENTIALS_MIN_REFRESH_S", 0.0)
    assert _post(url, _payload()).status_code == 401


def test_get_on_the_ingest_path_is_405(url):
    response = httpx.get(url + "/")
    assert response.status_code == 405
    assert response.json() == {"error": "send Treblle payloads with POST"}


def test_nothing_is_stored_for_refused_payloads(url, engine):
    _post(url, _payload(), token="not-the-token")
    _post(url, b"nope")
    assert _requests(engine) == []


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"0", b'"text"', b"{}", b'{"data": 5}', b'{"api_key": 5}', b"\xff\xfe\x00", b"[" * 5000, b'{"a":' * 2000],
)
def test_garbage_never_gets_a_5xx(url, body):
    assert 400 <= _post(url, body).status_code < 500


# ---------------------------------------------------------------- rejections are kept and logged


def _invalid_payload() -> dict:
    """Authenticated, but with a field the collector refuses (422)."""
    payload = _payload()
    payload["data"]["response"]["code"] = [201]
    return payload


def test_rejection_of_an_authenticated_payload_is_stored_with_reason_and_raw_payload(url, engine, apis):
    _post(url, _invalid_payload())
    [row] = _rejections(engine, 1)
    assert row["reason"] == "data.response.code: [201] is not an HTTP status code (100–599)"
    assert row["api_id"] == apis["shop"]
    assert row["source"].startswith("collector 127.0.0.1 /")
    assert row["source_ip"] == "127.0.0.1"
    assert json.loads(row["raw"])["data"]["request"]["url"] == "http://127.0.0.1:8000/api/orders"


def test_rejected_gzip_payload_is_stored_decompressed(url, engine):
    _post(url, gzip.compress(json.dumps(_invalid_payload()).encode()), headers={"Content-Encoding": "gzip"})
    [row] = _rejections(engine, 1)
    assert json.loads(row["raw"])["sdk"] == "django"


def test_oversize_rejection_is_stored_with_its_size(url, engine):
    _post(url, b"{" + b" " * MAX_BODY + b"}")
    [row] = _rejections(engine, 1)
    assert row["raw_size"] == MAX_BODY + 2
    assert row["reason"].startswith("body: ")


def test_every_rejection_of_a_burst_is_stored(url, engine):
    for i in range(30):
        _post(url, f"not json {i}".encode())
    assert len(_rejections(engine, 30)) == 30


def test_a_row_the_database_refuses_fails_alone_with_422(url, engine, monkeypatch):
    real_write = store.write_requests

    def refusing_write(engine_, items, *args, **kwargs):
        if any("poison" in r.url for _api, r in items):
            raise sa.exc.IntegrityError("INSERT", {}, Exception("value refused"))
        return real_write(engine_, items, *args, **kwargs)

    monkeypatch.setattr(store, "write_requests", refusing_write)
    poison = _payload()
    poison["data"]["request"]["url"] = "http://127.0.0.1:8000/api/poison"
    results: dict[str, int] = {}

    def send(name, payload):
        results[name] = _post(url, payload).status_code

    threads = [threading.Thread(target=send, args=(f"good{i}", _payload())) for i in range(5)]
    threads.append(threading.Thread(target=send, args=("poison", poison)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {"poison": 422, **{f"good{i}": 200 for i in range(5)}}
    assert len(_requests(engine)) == 5
    [row] = _rejections(engine, 1)
    assert row["reason"] == "data: the database refused this request (value refused)"


def test_a_flood_of_bad_payloads_does_not_stop_good_ones(url, engine):
    good, bad = [], []

    def flood():
        with httpx.Client(timeout=30) as client:
            for i in range(50):
                bad.append(client.post(url + "/", content=f"junk {i}".encode(), headers={"x-api-key": "wrong"}).status_code)

    def send_good():
        with httpx.Client(timeout=30) as client:
            for _ in range(10):
                good.append(client.post(url + "/", content=json.dumps(_payload()).encode(), headers={"x-api-key": TOKEN}).status_code)

    threads = [threading.Thread(target=flood) for _ in range(4)] + [threading.Thread(target=send_good)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (good, sorted(set(bad))) == ([200] * 10, [400])
    assert len(_requests(engine)) == 10
    assert len(_rejections(engine, 200)) == 200


def test_rejection_is_logged_at_info_without_payload_content(url, caplog):
    caplog.set_level(logging.INFO, logger="clientele.collector")
    payload = _payload()
    payload["data"]["request"]["body"]["note"] = "very-private-marker"
    _post(url, payload, token="not-the-token")
    records = [r for r in caplog.records if r.name == "clientele.collector" and r.levelno == logging.INFO]
    assert len(records) == 1
    assert "status 401" in records[0].getMessage()
    assert "very-private-marker" not in caplog.text


# ---------------------------------------------------------------- health


def test_health_is_ok_with_the_database_up(url):
    response = httpx.get(url + "/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


# ---------------------------------------------------------------- database down and back


class _TcpProxy:
    """A loopback TCP forwarder that can be cut and restored on the same port: a database that goes away."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the port listening.
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 1.0)
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except (OSError, ValueError):
            return


@contextmanager
def _database_that_can_fail(db_url: str, tmp_path: Path):
    """(url for the collector, take_down(), bring_back()) for SQLite (directory moved away) or PostgreSQL (proxy cut)."""
    if db_url.startswith("sqlite"):
        folder = tmp_path / "dbdir"
        folder.mkdir()
        url = f"sqlite:///{folder / 'c.db'}"
        away = tmp_path / "dbdir-away"
        yield url, lambda: folder.rename(away), lambda: away.rename(folder)
        return
    parsed = sa.engine.make_url(db_url)
    proxy = _TcpProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    proxy.start()
    try:
        yield parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy.stop, proxy.start
    finally:
        proxy.stop()


def _until(predicate, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_database_down_answers_503_with_retry_after_and_recovers_by_itself(db_url, tmp_path, limits):
    with _database_that_can_fail(db_url, tmp_path) as (url, take_down, bring_back):
        engine = models.make_engine(url)
        models.init_db(engine)
        store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
        engine.dispose()
        with serving(create_app(url)) as base:
            first = _post(base, _payload())
            assert first.status_code == 200

            take_down()
            down = _post(base, _payload())
            assert down.status_code == 503
            assert down.headers["Retry-After"] == "5"
            assert down.json()["error"].startswith("database unavailable")
            health = httpx.get(base + "/health")
            assert (health.status_code, health.headers["Retry-After"]) == (503, "5")

            bring_back()
            assert _until(lambda: httpx.get(base + "/health").status_code == 200)
            again = _post(base, _payload())
            assert again.status_code == 200

        engine = models.make_engine(url)
        with engine.connect() as conn:
            stored = set(conn.execute(sa.select(Request.id)).scalars())
        engine.dispose()
        assert stored == {first.json()["id"], again.json()["id"]}


def test_collector_started_while_the_database_is_down_serves_once_it_is_up(db_url, tmp_path, limits):
    if db_url.startswith("sqlite"):
        pytest.skip("a missing SQLite file at start is a fresh install, not an outage")
    with _database_that_can_fail(db_url, tmp_path) as (url, take_down, bring_back):
        engine = models.make_engine(url)
        models.init_db(engine)
        store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
        engine.dispose()
        take_down()
        with serving(create_app(url)) as base:
            assert _post(base, _payload()).status_code == 503
            bring_back()
            assert _until(lambda: _post(base, _payload()).status_code == 200)


# ---------------------------------------------------------------- when a request happened


def _sent_at(clock: dt.datetime, timezone: str) -> dict:
    """A node SDK payload whose host says `timezone` and whose timestamp reads `clock` (no zone)."""
    payload = _payload("treblle-node-1.5.2-post-json-user-id-and-metadata.json")
    payload["data"]["server"]["timezone"] = timezone
    payload["data"]["request"]["timestamp"] = clock.strftime("%Y-%m-%d %H:%M:%S")
    return payload


def _stored_time(engine, request_id: int) -> dt.datetime:
    with engine.connect() as conn:
        return conn.scalar(sa.select(Request.timestamp).where(Request.id == request_id))


def test_a_utc_timestamp_labelled_new_york_is_stored_at_the_real_time(url, engine):
    now = dt.datetime.now(dt.timezone.utc)
    response = _post(url, _sent_at(now, "America/New_York"))
    assert abs(_stored_time(engine, response.json()["id"]) - now) < dt.timedelta(minutes=1)


def test_a_clock_hours_off_is_stored_at_the_receive_time_and_its_skew_shown_to_admins(url, engine, apis):
    before = dt.datetime.now(dt.timezone.utc)
    response = _post(url, _sent_at(before + dt.timedelta(hours=3), "UTC"))
    after = dt.datetime.now(dt.timezone.utc)
    assert before <= _stored_time(engine, response.json()["id"]) <= after
    [skew] = clock_skews.listed(engine)
    assert (skew["api_id"], skew["sdk"], skew["fallbacks"]) == (apis["shop"], "node", 1)
    assert 3 * 3600 - 60 < skew["last_skew_s"] <= 3 * 3600
