"""Over a thousand generated hostile payloads, interleaved with good ones, against a running collector over
real HTTP: bad ones get a 4xx with a JSON reason and are kept in rejected_payloads, good ones are stored
exactly as sent (hostile strings included), nothing gets a 5xx, and the collector stays healthy."""
from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import random
import re
import socket
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import SimpleNamespace

import httpx
import polars as pl
import pytest
import sqlalchemy as sa

from core.ingest.collector import create_app
from core.present import export
from core.storage import store
from core.storage.models import Customer, RejectedPayload, Request
from tests.conftest import fixture_payload
from tests.factories import detail_rows
from tests.test_collector import serving

TOKEN = "test-sdk-token"  # the captured payloads' SDK token and API key
API_KEY = "test-api-key"
MAX_BODY = 100_000
MAX_DECOMPRESSED = 1_000_000
TEMPLATES = [
    "django-01-get-treblle-user-id.json",
    "django-02-post-json-user-id-and-metadata.json",
    "django-04-500-unhandled-exception.json",
    "treblle-node-1.5.2-post-json-user-id-and-metadata.json",
]
# Strings an attacker would put anywhere: markup, SQL, spreadsheet formulas, header splitting, templates.
HOSTILE = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(document.cookie)>",
    "'; DROP TABLE requests; --",
    "1' OR '1'='1",
    "Robert'); DELETE FROM customers WHERE ('1'='1",
    "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1+cmd()",
    "-2+3",
    "@SUM(A1:A2)",
    "line1\r\nSet-Cookie: session=evil",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "\u202etxt.exe",
    "😀 ünïcödé 中文 \u200b",
    "%00%0d%0a%3Cscript%3E",
    "../../../../etc/passwd",
]
# Wrong types (kind, value) put at every field of the payload.
WRONG = [
    ("int", 12345), ("zero", 0), ("negative", -5), ("float", 1.5), ("huge number", 10**30), ("bool", True),
    ("null", None), ("list", [1, "a"]), ("object", {"x": 1}), ("string", "zz"),
]
ALL_KINDS = {k for k, _ in WRONG}
# Fields whose type the collector enforces, and the wrong kinds it must refuse there; every other
# field is free-form data (bodies, headers, server facts) where any JSON value is stored as sent.
STRICT = {
    ("project_id",): ALL_KINDS,
    ("api_key",): ALL_KINDS - {"null", "string"},
    ("sdk",): ALL_KINDS - {"null", "string"},
    ("version",): {"bool", "list", "object"},
    ("data",): ALL_KINDS,
    ("data", "request"): ALL_KINDS,
    ("data", "request", "method"): ALL_KINDS - {"string"},
    ("data", "request", "url"): ALL_KINDS - {"string"},
    ("data", "request", "timestamp"): ALL_KINDS,
    ("data", "request", "headers"): ALL_KINDS - {"null", "object"},
    ("data", "response"): ALL_KINDS,
    ("data", "response", "code"): ALL_KINDS,
    ("data", "response", "headers"): ALL_KINDS - {"null", "object"},
    ("data", "response", "load_time"): {"bool", "list", "object", "string"},
    ("data", "response", "size"): {"negative", "bool", "list", "object", "string"},
    ("data", "server"): ALL_KINDS - {"null", "object"},
    ("data", "errors"): ALL_KINDS - {"null", "list"},
}
# Fields with a format: a hostile string there is refused, not stored.
FORMATTED = [("project_id",), ("data", "request", "method"), ("data", "request", "timestamp"), ("data", "response", "code"),
             ("data", "response", "load_time"), ("data", "response", "size")]


@dataclass
class Case:
    n: int
    kind: str
    body: bytes
    headers: dict
    statuses: set[int]  # the acceptable answers
    row: dict = field(default_factory=dict)  # good cases: columns of `requests` stored exactly so
    detail: dict = field(default_factory=dict)  # good cases: request_details values stored exactly so
    display_name: str | None = None

    @property
    def good(self) -> bool:
        return self.statuses == {200}

    @property
    def path(self) -> str:
        return f"/case/{self.n}"


def _template(i: int) -> dict:
    return copy.deepcopy(fixture_payload(TEMPLATES[i % len(TEMPLATES)]))


def _set(payload: dict, path: tuple, value) -> None:
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _leaves(obj, path=()):
    if path:
        yield path
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _leaves(value, (*path, key))


class Corpus:
    """Builds the cases; every good payload carries its case number in its URL."""

    def __init__(self):
        self.cases: list[Case] = []

    def _add(self, kind, body, statuses, headers=None, **expect) -> Case:
        case = Case(len(self.cases), kind, body, {"Content-Type": "application/json", "x-api-key": TOKEN, **(headers or {})},
                    set(statuses), **expect)
        self.cases.append(case)
        return case

    def good(self, kind: str, payload: dict, *, gzipped: bool = False, url_suffix: str = "", **expect) -> Case:
        n = len(self.cases)
        url = f"https://api.example.com/orders?case={n}{url_suffix}"
        payload["data"]["request"]["url"] = url
        body = json.dumps(payload).encode()
        headers = {}
        if gzipped:
            body, headers = gzip.compress(body), {"Content-Encoding": "gzip"}
        return self._add(kind, body, {200}, headers, row={"url": url, **expect.pop("row", {})}, **expect)

    def bad(self, kind: str, body: bytes, statuses, headers=None) -> Case:
        return self._add(kind, body, statuses, headers)


def build_corpus() -> list[Case]:
    rng = random.Random(20261125)
    c = Corpus()

    # ---------------- good payloads: plain, gzipped, and hostile strings as data
    for i in range(120):
        c.good("plain", _template(i), gzipped=i % 3 == 0)
    for i, text in enumerate(HOSTILE):
        p = _template(0)
        p["data"]["request"]["headers"]["treblle-user-id"] = text
        c.good("hostile customer id", p, row={"customer_id": text})

        p = _template(1)
        cid = f"cust_named_{i}"
        p["data"]["request"]["headers"]["treblle-metadata"] = json.dumps({"user-id": cid, "user-name": text})
        c.good("hostile display name", p, row={"customer_id": cid}, display_name=text)

        c.good("hostile url", _template(i), url_suffix="&q=" + text)

        p = _template(i)
        p["data"]["request"]["user_agent"] = text
        c.good("hostile user agent", p, row={"user_agent": text})

        p = _template(1)
        p["data"]["request"]["body"] = {"note": text, text: "key"}
        p["data"]["response"]["body"] = [text]
        p["data"]["request"]["headers"]["x-note"] = text
        c.good("hostile bodies and headers", p, detail={"request_body": {"note": text, text: "key"}, "response_body": [text],
                                                        "x-note": text})
    base = _template(1)
    for path in _leaves(base):
        if path in STRICT or path[-1] in ("treblle-user-id", "treblle-metadata"):
            continue
        for kind, value in WRONG:
            p = _template(1)
            _set(p, path, copy.deepcopy(value))
            c.good(f"free-form {'.'.join(map(str, path))} as {kind}", p)
    for path, refused in STRICT.items():
        for kind, value in WRONG:
            if kind not in refused and path[-1] not in ("url",):
                p = _template(1)
                _set(p, path, copy.deepcopy(value))
                c.good(f"tolerated {'.'.join(path)} as {kind}", p)
    p = _template(1)
    p["data"]["request"]["body"] = json.loads("[" * 200 + "]" * 200)
    c.good("nesting 200 deep in a body", p)

    # ---------------- bad payloads
    for i in range(560):
        raw = json.dumps(_template(i)).encode()
        c.bad("truncated JSON", raw[: rng.randrange(1, len(raw) - 1)], {400})
    for i in range(140):
        raw = gzip.compress(json.dumps(_template(i)).encode())
        c.bad("truncated gzip", raw[: rng.randrange(1, len(raw) - 8)], {400}, {"Content-Encoding": "gzip"})
    for depth in (1025, 2000, 5000, 15_000):  # all under the body limit
        c.bad("nested too deep (top level)", b"[" * depth + b"]" * depth, {400})
        for where in ("request", "response"):
            inner = '{"x":' * depth + "1" + "}" * depth
            p = _template(1)
            text = json.dumps(p)
            marker = '"' + where + '": {'
            raw = text.replace(marker, marker + '"deep": ' + inner + ", ", 1)
            c.bad(f"nested too deep in data.{where}", raw.encode(), {400})
    for size in (MAX_BODY + 1, MAX_BODY * 2, MAX_BODY * 10):
        p = _template(1)
        p["data"]["request"]["body"] = {"blob": "A" * size}
        c.bad("huge string over the body limit", json.dumps(p).encode(), {413})
        c.bad("huge body without Content-Length (chunked)", json.dumps(p).encode(), {413}, {"x-chunked": "1"})
    for size in (MAX_DECOMPRESSED + 1, MAX_DECOMPRESSED * 4):
        p = _template(1)
        p["data"]["response"]["body"] = "B" * size
        c.bad("huge string over the decompressed limit", gzip.compress(json.dumps(p).encode()), {413}, {"Content-Encoding": "gzip"})
    zeros = b"0" * 30_000_000
    bomb = gzip.compress(zeros, 9)
    c.bad("gzip bomb", bomb, {413}, {"Content-Encoding": "gzip"})
    c.bad("gzip bomb inside JSON", gzip.compress(b'{"data": "' + zeros[:5_000_000] + b'"}', 9), {413}, {"Content-Encoding": "gzip"})
    c.bad("gzip of a gzip bomb", gzip.compress(bomb), {400}, {"Content-Encoding": "gzip"})
    c.bad("deflate bomb", zlib.compress(zeros, 9), {413}, {"Content-Encoding": "deflate"})
    c.bad("gzip bomb declared as identity", bomb, {400, 413})  # sniffed as gzip or refused as not JSON
    for encoding in ("br", "compress", "zstd", "gzip, gzip", "x-evil\u00e9".encode("utf-8")):
        c.bad("unsupported Content-Encoding", json.dumps(_template(1)).encode(), {415}, {"Content-Encoding": encoding})
    for i, bad_bytes in enumerate([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\x80", b"\xc0\xaf"]):
        for path in (("data", "request", "url"), ("data", "request", "method"), ("sdk",), ("data", "request", "user_agent"),
                     ("data", "request", "headers", "treblle-user-id"), ("data", "response", "body")):
            p = _template(i)
            _set(p, path, "MARK")
            raw = json.dumps(p).encode().replace(b'"MARK"', b'"x' + bad_bytes + b'y"', 1)
            c.bad("invalid UTF-8", raw, {400})
    for literal in (b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e999", b"-1e999", b"1e400"):
        for field_name in (b"load_time", b"code", b"size", b"version"):
            p = json.dumps(_template(1)).encode()
            raw = re.sub(rb'"' + field_name + rb'": [^,}]+', b'"' + field_name + b'": ' + literal, p, count=1)
            c.bad("non-finite number", raw, {400})
    for path, refused in STRICT.items():
        for kind, value in WRONG:
            if kind in refused:
                p = _template(1)
                _set(p, path, copy.deepcopy(value))
                c.bad(f"wrong type at {'.'.join(path)}: {kind}", json.dumps(p).encode(), {401, 422})
        p = _template(1)
        parent = p
        for key in path[:-1]:
            parent = parent[key]
        if path not in (("api_key",), ("sdk",), ("version",), ("data", "request", "headers"), ("data", "response", "headers"),
                        ("data", "server"), ("data", "errors"), ("data", "response", "load_time"), ("data", "response", "size")):
            del parent[path[-1]]
            c.bad(f"missing {'.'.join(path)}", json.dumps(p).encode(), {401, 422})
    for path in FORMATTED:
        for text in HOSTILE:
            p = _template(2)
            _set(p, path, text)
            c.bad(f"hostile string in formatted {'.'.join(path)}", json.dumps(p).encode(), {401, 422})
    for text in HOSTILE:
        c.bad("hostile SDK token", json.dumps(_template(1)).encode(), {401}, {"x-api-key": text.encode("utf-8").replace(b"\r\n", b" ")})
    for value in (b"[]", b"[1, 2]", b'"a string"', b"42", b"null", b"true", b"", b"   ", b"\x00\x00", b"{", b"}", b"<html></html>"):
        c.bad("not a JSON object", value, {400, 422})
    return c.cases


def _send(client: httpx.Client, base: str, case: Case) -> tuple[Case, httpx.Response]:
    headers = dict(case.headers)
    content = case.body
    if headers.pop("x-chunked", None):
        content = iter([case.body[i : i + 16_384] for i in range(0, len(case.body), 16_384)])  # no Content-Length
    return case, client.post(base + case.path, content=content, headers=headers, timeout=60)


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv("CLIENTELE_MAX_BODY_BYTES", str(MAX_BODY))
    monkeypatch.setenv("CLIENTELE_MAX_DECOMPRESSED_BYTES", str(MAX_DECOMPRESSED))
    monkeypatch.setenv("CLIENTELE_REJECTED_PER_IP_PER_MINUTE", "100000")  # every bad payload is looked for below


@pytest.fixture(scope="module")
def corpus() -> list[Case]:
    cases = build_corpus()
    random.Random(7).shuffle(cases)  # bad and good interleaved
    return cases


@pytest.fixture
def run(db_url, engine, limits, corpus):
    """Every case sent by 8 concurrent senders to a fresh collector; (answers, health at the end)."""
    api_id = store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)["api_id"]
    with serving(create_app(db_url)) as base:
        clients = [httpx.Client() for _ in range(8)]
        try:
            with ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(lambda ic: _send(clients[ic[0] % 8], base, ic[1]), enumerate(corpus)))
            health = httpx.get(base + "/health", timeout=10)
            _wait_for_rejections(engine, sum(not c.good for c in corpus))
        finally:
            for client in clients:
                client.close()
    return {"answers": answers, "health": health, "api_id": api_id}


def _wait_for_rejections(engine, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.scalar(sa.select(sa.func.count()).select_from(RejectedPayload)) >= count:
                return
        time.sleep(0.1)


def test_the_corpus_has_over_a_thousand_bad_payloads_of_every_kind(corpus):
    bad = [c for c in corpus if not c.good]
    kinds = {c.kind.split(" at ")[0].split(" in ")[0] for c in bad}
    assert len(bad) >= 1000 and {"truncated JSON", "gzip bomb", "invalid UTF-8", "non-finite number", "wrong type",
                                 "huge string over the body limit", "hostile string", "not a JSON object"} <= kinds


def test_hostile_traffic_gets_the_right_answers_and_storage(run, engine, corpus):
    answers = run["answers"]
    # 1. Never a 5xx; every answer is the one expected, with a JSON body.
    wrong = [(c.n, c.kind, r.status_code, r.text[:120]) for c, r in answers if r.status_code not in c.statuses]
    assert wrong == []
    reasons = [r.json().get("error") for c, r in answers if not c.good]
    assert all(isinstance(reason, str) and reason for reason in reasons)

    # 2. Every bad payload is kept in rejected_payloads (found by the path it was sent to), no good one is.
    with engine.connect() as conn:
        sources = list(conn.scalars(sa.select(RejectedPayload.source)))
    rejected_cases = sorted(int(re.search(r"/case/(\d+)$", s).group(1)) for s in sources)
    assert rejected_cases == sorted(c.n for c in corpus if not c.good)

    # 3. Every good payload is stored once, under the id it was answered with, exactly as sent.
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(Request.id, Request.url, Request.customer_id, Request.user_agent, Request.api_id))}
        details = {d["request_id"]: SimpleNamespace(**d) for d in detail_rows(conn)}
        names = dict(conn.execute(sa.select(Customer.customer_id, Customer.display_name)).all())
    good = [(c, r.json()["id"]) for c, r in answers if c.good]
    assert len(rows) == len(good)
    mismatches = []
    for case, rid in good:
        row = rows[rid]
        stored = {k: getattr(row, k) for k in case.row}
        if stored != case.row or row.api_id != run["api_id"]:
            mismatches.append((case.n, case.kind, stored, case.row))
        if case.detail:
            d = details[rid]
            seen = {"request_body": d.request_body, "response_body": d.response_body, "x-note": d.request_headers.get("x-note")}
            if seen != case.detail:
                mismatches.append((case.n, case.kind, seen, case.detail))
        if case.display_name is not None and names[case.row["customer_id"]] != case.display_name:
            mismatches.append((case.n, case.kind, names[case.row["customer_id"]], case.display_name))
    assert mismatches == []

    # 4. Still healthy after all that.
    assert (run["health"].status_code, run["health"].json()) == (200, {"status": "ok"})


def test_hostile_strings_stored_as_data_are_escaped_in_csv_downloads(db_url, engine, limits):
    store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
    named = [c for c in build_corpus() if c.kind == "hostile display name"]
    with serving(create_app(db_url)) as base, httpx.Client() as client:
        assert [_send(client, base, c)[1].status_code for c in named] == [200] * len(HOSTILE)
    with engine.connect() as conn:
        frame = pl.DataFrame(
            [dict(r._mapping) for r in conn.execute(sa.select(Customer.customer_id, Customer.display_name))],
            schema={"customer_id": pl.String, "display_name": pl.String},
        )
    cells = [cell for row in csv.reader(io.StringIO(export.to_csv(frame).decode("utf-8-sig"))) for cell in row]
    assert "'=cmd|' /C calc'!A0" in cells and "'@SUM(A1:A2)" in cells and "'-2+3" in cells
    assert [c for c in cells if c[:1] in ("=", "+", "-", "@")] == []


def test_a_header_split_by_a_bare_carriage_return_is_refused_by_the_http_layer(db_url, engine, limits):
    store.create_api(engine, "Shop", api_key=API_KEY, sdk_token=TOKEN)
    body = json.dumps(fixture_payload(TEMPLATES[1])).encode()
    with serving(create_app(db_url)) as base:
        port = int(base.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nx-api-key: " + TOKEN.encode() + b"\rSet-Cookie: a=b\r\n"
                         b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            status = int(sock.recv(4096)[9:12])
        health = httpx.get(base + "/health", timeout=10).status_code
    with engine.connect() as conn:
        stored = conn.scalar(sa.select(sa.func.count()).select_from(Request))
    assert (400 <= status < 500, stored, health) == (True, 0, 200)
