"""Secrets never stored in clear (issue #10, part 3): each leak once observed, through normalize() and
through the real storage (whole rows searched for the secret), the masked rejected payloads, names that
only look sensitive, CLIENTELE_MASKED_FIELDS, and a property test over random nested JSON."""
from __future__ import annotations

import copy
import dataclasses
import json

import orjson
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.domain.masking import mask, mask_url, masked_raw
from core.ingest import enrich
from core.ingest.files import import_bytes
from core.ingest.normalize import normalize
from core.storage import store
from core.storage.models import Customer, RejectedPayload, Request
from tests.conftest import fixture_payload
from tests.factories import detail_rows

SECRET = "S3cr3tValue9"


def _payload(url: str = "https://api.example.com/v1/login", body=None, headers=None, query=None, **top) -> dict:
    """A valid payload of the project_id generation (api_key is the SDK token there)."""
    payload = {
        "api_key": "sdk-token-of-the-api",
        "project_id": "api-1",
        "version": 20,
        "sdk": "django",
        "data": {
            "server": {"timezone": "UTC"},
            "request": {
                "timestamp": "2026-11-25 10:00:00",
                "ip": "203.0.113.9",
                "url": url,
                "user_agent": "curl/8.0",
                "method": "POST",
                "headers": headers or {"content-type": "application/json"},
                "body": body if body is not None else {},
                "query": query if query is not None else {},
            },
            "response": {"headers": {}, "code": 200, "size": 2, "load_time": 1.0, "body": {}},
            "errors": [],
        },
    }
    payload.update(top)
    return payload


def _normalised_text(payload: dict) -> str:
    """Everything normalize() keeps of a payload, as one text."""
    return orjson.dumps(dataclasses.asdict(normalize(payload)), default=str).decode()


def _stored_text(engine) -> str:
    """Every stored row of requests, request_details and customers, as one text."""
    with engine.connect() as conn:
        rows = [list(r) for table in (Request, Customer) for r in conn.execute(sa.select(table.__table__))]
        rows += [list(d.items()) for d in detail_rows(conn)]  # the packed fields unpacked: compressed, a secret hides
    return json.dumps(rows, default=str)


def _rejected_text(engine) -> str:
    with engine.connect() as conn:
        rows = [list(r) for r in conn.execute(sa.select(RejectedPayload.__table__))]
    assert rows, "the payload should have been rejected and kept"
    return json.dumps(rows, default=str)


def _stored_raw(engine) -> str:
    with engine.connect() as conn:
        return conn.scalar(sa.select(RejectedPayload.raw))


def _ingest(engine, payload: dict) -> None:
    store.create_api(engine, "Login", api_key="api-1")
    report = import_bytes(engine, [("p.json", orjson.dumps(payload))])
    assert (report.accepted, report.rejected) == (1, [])


# ---------------------------------------------------------------- the leaks observed, through normalize()

LEAKS = {
    "key in the url's query string": _payload(url=f"https://api.example.com/v1/orders?page=2&api_key={SECRET}"),
    "password in a form-encoded body": _payload(
        body=f"username=ann&password={SECRET}", headers={"content-type": "application/x-www-form-urlencoded"}),
    "password object": _payload(body={"password": {"value": SECRET}}),
    "private_key": _payload(body={"user": "ann", "private_key": f"-----BEGIN KEY-----{SECRET}"}),
    "credit_card": _payload(body={"order": {"credit_card": SECRET, "amount": 10}}),
    "passphrase": _payload(body={"passphrase": SECRET}),
    "JSON body sent as a string": _payload(body=json.dumps({"login": "ann", "password": SECRET})),
    "query map subtree": _payload(query={"auth": {"token": {"value": SECRET}}}),
    "query sent as a string": _payload(query=f"page=1&access_token={SECRET}"),
    "camelCase name": _payload(body={"creditCard": SECRET}),
    "password in the url's userinfo": _payload(url=f"https://ann:{SECRET}@api.example.com/v1/x"),
    "token in a Referer header": _payload(headers={"Referer": f"https://app.example.com/cb?code=1&refresh_token={SECRET}"}),
    "cookie list": _payload(headers={"Set-Cookie": [f"sid={SECRET}", "theme=dark"]}),
    "secret in customer metadata": _payload(headers={"treblle-metadata": json.dumps({"user-id": "c1", "api_token": SECRET})}),
}


@pytest.mark.parametrize("payload", LEAKS.values(), ids=LEAKS.keys())
def test_a_secret_is_nowhere_in_the_normalised_request(payload):
    assert SECRET not in _normalised_text(payload)


@pytest.mark.parametrize("payload", LEAKS.values(), ids=LEAKS.keys())
def test_a_secret_is_nowhere_in_the_stored_rows(engine, payload):
    _ingest(engine, payload)
    assert SECRET not in _stored_text(engine)


def test_the_url_keeps_everything_but_the_masked_value():
    url = f"https://api.example.com/v1/orders/17?page=2&api_key={SECRET}&q=a%20b#top"
    request = normalize(_payload(url=url))
    assert request.url == "https://api.example.com/v1/orders/17?page=2&api_key=************&q=a%20b#top"
    assert request.endpoint == "/v1/orders/{id}"


def test_a_url_without_secrets_is_stored_byte_for_byte():
    url = "https://api.example.com/v1/search?q=a%20b&page=2&sort=-created;x=1#frag"
    assert normalize(_payload(url=url)).url == url


def test_a_form_body_keeps_its_other_fields_and_the_scheme_word():
    body = "username=ann&access_token=Bearer+abc123&remember=1"
    assert normalize(_payload(body=body)).request_body == "username=ann&access_token=Bearer+******&remember=1"


def test_a_json_string_body_is_reserialised_only_when_something_was_masked():
    untouched = '{ "login": "ann",  "remember": true }'
    assert normalize(_payload(body=untouched)).request_body == untouched
    masked = normalize(_payload(body='{"login": "ann", "password": "hunter2"}')).request_body
    assert json.loads(masked) == {"login": "ann", "password": "*******"}


def test_an_object_under_a_sensitive_key_is_masked_whole():
    request = normalize(_payload(body={"password": {"value": SECRET, "hint": "pet"}, "name": "ann"}))
    assert request.request_body == {"password": "********", "name": "ann"}


@pytest.mark.parametrize("name", ["creditCard", "credit-card", "CREDIT_CARD", "cardNumber", "cvc", "ssn", "iban", "pass", "pwd",
                                  "clientSecret", "privateKey", "refresh_token", "accessToken", "x-api-key", "X-Goog-Api-Key",
                                  "passphrase", "cc"])
def test_standard_sensitive_names_are_masked_in_every_spelling(name):
    assert mask({name: "4111111111111111"}) == {name: "****************"}


@pytest.mark.parametrize("name", ["passenger", "compass", "bypass_cache", "ccy", "access", "total_tokens", "max_tokens",
                                  "secretary_name", "password_policy_url", "cardinality", "ssn_last_updated_by",
                                  "../../../etc/passwd"])
def test_names_that_only_look_sensitive_are_kept(name):
    assert mask({name: "visible"}) == {name: "visible"}


def test_masked_fields_setting_adds_names(masked_fields):
    masked_fields("first-pet, Mothers-Maiden-Name")
    assert mask({"first_pet": "Rex", "mothersMaidenName": "Smith", "name": "ann"}) == {
        "first_pet": "***", "mothersMaidenName": "*****", "name": "ann"}


def test_without_the_setting_such_names_are_kept(masked_fields):
    masked_fields("")
    assert mask({"first_pet": "Rex"}) == {"first_pet": "Rex"}


def test_a_masked_query_name_still_counts_as_credentials_over_http():
    request = normalize(_payload(url=f"http://api.example.com/v1/orders?api_key={SECRET}"))
    assert "credentials_over_http" in enrich.threats(request)
    assert SECRET not in request.url


def test_a_masked_userinfo_still_counts_as_credentials_over_http():
    request = normalize(_payload(url=f"http://ann:{SECRET}@api.example.com/v1/orders"))
    assert request.url == "http://ann:************@api.example.com/v1/orders"
    assert "credentials_over_http" in enrich.threats(request)


def test_the_real_django_sdk_payload_is_stored_with_its_authorization_masked(engine):
    payload = fixture_payload("django-02-post-json-user-id-and-metadata.json")
    store.create_api(engine, "Orders", api_key="test-api-key")
    assert import_bytes(engine, [("django.json", orjson.dumps(payload))]).accepted == 1
    text = _stored_text(engine)
    assert "abc.def" not in text
    assert "Bearer *******" in text
    assert "test-sdk-token" not in text


def test_mask_url_leaves_urls_without_pairs_alone():
    assert mask_url("https://api.example.com/v1/x") == "https://api.example.com/v1/x"


# ---------------------------------------------------------------- rejected payloads


def _reject_in_import(engine, payload: dict) -> str:
    """Import a payload the API knows but that is refused (no status code); the stored rejection as text."""
    store.create_api(engine, "Login", api_key="api-1")
    payload["data"]["response"]["code"] = None
    report = import_bytes(engine, [("p.json", orjson.dumps(payload))])
    assert report.accepted == 0
    return _rejected_text(engine)


def test_a_rejected_payload_of_the_older_generation_is_stored_without_its_sdk_token(engine):
    text = _reject_in_import(engine, _payload(api_key=SECRET, project_id="api-1"))
    assert SECRET not in text
    assert json.loads(_stored_raw(engine))["project_id"] == "api-1"


def test_a_rejected_payload_is_stored_without_its_sdk_token_field(engine):
    payload = _payload(sdk_token=SECRET, api_key="api-1")
    del payload["project_id"]
    text = _reject_in_import(engine, payload)
    assert SECRET not in text
    assert json.loads(_stored_raw(engine))["api_key"] == "api-1"  # here it names the API: Admins need to see which


def test_a_rejected_payload_keeps_end_users_credentials_masked(engine):
    text = _reject_in_import(engine, _payload(headers={"Authorization": f"Bearer {SECRET}"}, body=f"user=ann&password={SECRET}"))
    assert SECRET not in text
    assert "Bearer ************" in text


# ---------------------------------------------------------------- credentials written into free text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbm4ifQ.S3cr3tSignature9"


@pytest.mark.parametrize("where", ["response body message", "request body note", "SDK error", "query value", "server"])
def test_a_bearer_token_written_into_text_is_stored_masked(where):
    # Stored in clear before: only a value under a secret's name, or text with "=" or "@", was looked into, so
    # {"message": "token Bearer eyJ… rejected"} reached the request dialog and the Errors page as sent.
    text = f"The token Bearer {JWT} was rejected"
    payload = _payload(body={"note": text} if where == "request body note" else {},
                       query={"q": text} if where == "query value" else None)
    data = payload["data"]
    if where == "response body message":
        data["response"]["body"] = {"error": {"message": text}}
    elif where == "SDK error":
        data["errors"] = [{"source": "onError", "type": "AuthError", "message": text, "file": "app.py", "line": 3}]
    elif where == "server":
        data["server"]["signature"] = text
    kept = _normalised_text(payload)
    assert JWT not in kept and "S3cr3t" not in kept
    assert "The token Bearer *" in kept and " was rejected" in kept


def test_a_basic_credential_in_text_is_masked_and_ordinary_words_are_not():
    masked = mask({"note": "retried with Basic dXNlcjpodW50ZXIy at 10:00",  # base64 of user:hunter2
                   "plain": "a basic question about the bearer of bad news, Bearer credentials and BASIC PLANS"})
    assert masked == {"note": "retried with Basic **************** at 10:00",
                      "plain": "a basic question about the bearer of bad news, Bearer credentials and BASIC PLANS"}


def test_a_bare_jwt_in_text_is_masked():
    assert mask({"note": f"could not verify {JWT}; try again"}) == {"note": "could not verify " + "*" * 32 + "; try again"}


# Format-valid fakes of well-known services' keys: (the prefix kept, the rest that must not be stored).
KNOWN_KEYS = {
    "Stripe secret": ("sk_live_", "51HxYzAbCdEfGhIjKlMnOpQr"),
    "Stripe restricted": ("rk_test_", "51HxYzAbCdEfGhIjKlMnOpQr"),
    "Stripe webhook": ("whsec_", "Z9abcdefghijklmnop12345678"),
    "GitHub": ("ghp_", "Z9a4567890abcdefghijABCDEFGHIJ123456"),
    "GitHub fine-grained": ("github_pat_", "11AZ9QWERTY0123456789_abcdefghijklmnopqrstuvwxyz"),
    "GitLab": ("glpat-", "Z9abcdefghij1234567890"),
    "Slack": ("xoxb-", "123456789012-1234567890123-Z9CdEfGhIjKlMnOpQrStUvWx"),
    "npm": ("npm_", "Z9abcdefghijklmnopqrstuvwxyz0123456789"),
    "Google": ("AIza", "SyZ91234567890abcdefghijklmnopqrstuv"),
    "AWS key ID": ("AKIA", "Z9OSFODNN7EXAMPL"),
    "OpenAI": ("sk-", "proj-Z9c123def456ghi789jkl012"),
    "SendGrid": ("SG.", "Z9cdefghijklmnop1234.ABCDEFGHIJKLMNOPQRSTUV-12345"),
}


@pytest.mark.parametrize("service", KNOWN_KEYS)
def test_a_known_services_key_written_into_text_is_stored_masked_keeping_its_prefix(engine, service):
    # Stored in clear before: only Bearer/Basic credentials and JWTs were looked for in free text.
    prefix, secret = KNOWN_KEYS[service]
    _ingest(engine, _payload(body={"note": f"configured with {prefix}{secret}, please rotate"}))
    stored = _stored_text(engine)
    assert secret not in stored and secret[:12] not in stored
    assert f"configured with {prefix}*" in stored and ", please rotate" in stored


@pytest.mark.parametrize("where", ["URL query under any name", "URL path", "SDK error", "response header", "query map"])
def test_a_known_services_key_is_masked_wherever_a_payload_carries_it(where):
    key = "sk_live_" + KNOWN_KEYS["Stripe secret"][1]
    payload = _payload(url=f"https://api.example.com/v1/maps?address=x&key={key}" if where == "URL query under any name" else
                       f"https://api.example.com/v1/hooks/{key}/ping" if where == "URL path" else "https://api.example.com/v1/login",
                       query={"q": key} if where == "query map" else None)
    data = payload["data"]
    if where == "SDK error":
        data["errors"] = [{"source": "onError", "type": "StripeError", "message": f"No such key: {key}", "file": "a.py", "line": 3}]
    elif where == "response header":
        data["response"]["headers"] = {"x-debug-config": f"stripe={key}"}
    kept = _normalised_text(payload)
    assert key not in kept and "sk_live_*" in kept


@pytest.mark.parametrize("where", ["user agent", "SDK error sent as a string"])
def test_a_credential_in_free_text_outside_any_map_is_masked(where):
    # Stored in clear before: the user agent was kept as sent, and an error sent as a string (not an object) too.
    key = "sk_live_" + KNOWN_KEYS["Stripe secret"][1]
    text = f"client/1.0 (Bearer {JWT}; {key}; password={SECRET})"
    payload = _payload()
    if where == "user agent":
        payload["data"]["request"]["user_agent"] = text
    else:
        payload["data"]["errors"] = [text]
    kept = _normalised_text(payload)
    assert JWT not in kept and key not in kept and "S3cr3t" not in kept
    assert "client/1.0 (Bearer *" in kept


@pytest.mark.parametrize("text", ["learn sk-learn-tutorials-for-beginners today", "AKIA is just four letters here",
                                  "the ghost_of_the_opera_house came through", "xoxo-hugs-and-kisses-for-everyone",
                                  "AKIAlowercase12345678 is not an AWS key ID", "SG.short.name", "see npm_config_cache_directory"])
def test_text_that_only_resembles_a_known_key_is_kept(text):
    assert mask({"note": text}) == {"note": text}


def test_a_private_key_pasted_into_a_body_is_masked_between_its_begin_and_end_lines():
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAZ9secretpart\nAbCd+/==\n-----END RSA PRIVATE KEY-----"
    masked = mask({"cert": "ok", "note": f"my key: {pem} thanks"})["note"]
    assert "Z9secretpart" not in masked and "AbCd" not in masked
    assert masked.startswith("my key: -----BEGIN RSA PRIVATE KEY-----*") and masked.endswith("-----END RSA PRIVATE KEY----- thanks")


def test_a_known_key_in_an_unparsable_rejected_payload_is_stored_masked(engine):
    key = "ghp_" + KNOWN_KEYS["GitHub"][1]
    store.reject(engine, "collector", "not valid JSON", f'{{"data": {{"note": "deploy with {key}", "a": [1,'.encode())
    text = _rejected_text(engine)
    assert key not in text and "deploy with ghp_*" in text


@pytest.mark.parametrize("name", ["jwt", "id_jwt", "SECRET_KEY", "secretKey", "aws_secret_access_key", "stripe-secret-key",
                                  "signing_key", "encryption_key", "pin", "otp", "totp", "mfa_code"])
def test_secret_names_that_were_missed_are_masked(name):
    # Stored in clear before: "secret" had to end the name (SECRET_KEY, aws_secret_access_key did not).
    assert mask({name: SECRET, "other": "kept"}) == {name: "*" * len(SECRET), "other": "kept"}


@pytest.mark.parametrize("name", ["spin", "pinned", "opinion", "shipping", "options", "keyboard", "hotpot"])
def test_names_that_only_contain_those_words_are_kept(name):
    assert mask({name: "kept"}) == {name: "kept"}


def test_hostile_text_with_credential_words_is_scrubbed_in_linear_time():
    hostile = ("Bearer " * 9_000) + ("<" * 65_536) + "bearer a1b2c3d4e5"
    masked = mask({"message": hostile})["message"]
    assert masked.endswith("bearer **********") and len(masked) == len(hostile)


@pytest.mark.parametrize("raw", [
    f'{{"api_key": "x", "data": {{"request": {{"headers": {{"Authorization": "Bearer {SECRET}"}}, "body": {{"pass',
    f"POST /login HTTP/1.1\r\nAuthorization: Basic {SECRET}\r\n\r\nuser=ann&password={SECRET}",
    f'{{"headers": {{"x": "y"}}, "note": "sent with bearer {SECRET}" ',
    f'{{"body": "{{\\"password\\": \\"{SECRET}\\", \\"a\\": 1',
    f'{{"password": {{"value": "{SECRET}", "more": [1, 2',
    f"token={SECRET}&page=2",
    f"passphrase: {SECRET}",
], ids=["truncated JSON", "HTTP dump", "bearer in text", "escaped JSON", "cut subtree", "query string", "yaml-like line"])
def test_an_unparsable_rejected_payload_is_stored_scrubbed(engine, raw):
    store.reject(engine, "collector", "not valid JSON", raw.encode())
    assert SECRET not in _rejected_text(engine)


def test_an_unparsable_raw_keeps_what_is_not_a_secret():
    raw = "POST /login HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nAccept: */*\r\n\r\nuser=ann&password=hunter2"
    assert masked_raw(raw) == "POST /login HTTP/1.1\r\nAuthorization: Basic ************\r\nAccept: */*\r\n\r\nuser=ann&password=*******"


def test_a_rejected_payload_without_secrets_is_kept_byte_for_byte():
    assert masked_raw(b'{"x": 1,  "y": [true]}') == '{"x": 1,  "y": [true]}'


def test_a_rejected_payload_stored_in_clear_by_an_older_release_is_shown_masked(engine):
    with engine.begin() as conn:
        conn.execute(sa.insert(RejectedPayload), [{"source": "collector", "reason": "old", "raw_size": 50,
                                                   "raw": f'{{"headers": {{"authorization": "Bearer {SECRET}"}}}}'}])
    [row] = store.rejected_payloads(engine)
    assert SECRET not in row["raw"]


# ---------------------------------------------------------------- properties

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
_scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | _words
_trees = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_words, inner, max_size=3), max_leaves=10)
_sensitive_names = st.sampled_from(["password", "Password", "passwd", "pass", "creditCard", "credit_card", "CARD-NUMBER", "cvv",
                                    "client_secret", "privateKey", "x-api-key", "Authorization", "refreshToken", "access_token",
                                    "ssn", "iban", "passphrase", "cookie", "my_api_secret"])
_secrets = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=3, max_size=20).map(lambda s: "Z9" + s)
_secret_values = st.one_of(
    _secrets,
    _secrets.map(lambda s: f"Bearer {s}"),
    _secrets.map(lambda s: {"value": s}),
    st.tuples(_trees, _secrets).map(lambda t: [t[0], {"deep": [t[1]]}]),
    st.tuples(_words, _secrets).map(lambda t: {t[0]: {"x": t[1]}}),
)


@st.composite
def _secret_somewhere(draw):
    """(a JSON value with a secret under a sensitive key at a random depth, the secret)."""
    name, value = draw(_sensitive_names), draw(_secret_values)
    secret = next(s for s in _strings(value) if s.startswith(("Z9", "Bearer Z9"))).removeprefix("Bearer ")
    tree = {name: value}
    for _ in range(draw(st.integers(0, 5))):
        siblings = draw(st.dictionaries(_words, _trees, max_size=3))
        tree = draw(st.sampled_from([{**siblings, draw(_words) + "x": tree}, [*siblings.values(), tree]]))
    return tree, secret


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_secret_somewhere(), st.sampled_from(["body", "json string body", "query", "response body", "server"]))
def test_a_secret_under_a_sensitive_key_never_comes_out(case, where):
    tree, secret = case
    payload = _payload()
    if where == "body":
        payload["data"]["request"]["body"] = tree
    elif where == "json string body":
        payload["data"]["request"]["body"] = json.dumps(tree)
    elif where == "query":
        payload["data"]["request"]["query"] = tree
    elif where == "response body":
        payload["data"]["response"]["body"] = tree
    else:
        payload["data"]["server"] = {"timezone": "UTC", "env": tree}
    assert secret not in _normalised_text(payload)


@settings(max_examples=200)
@given(st.lists(st.tuples(_words, _words), max_size=4), _sensitive_names, _secrets, st.integers(0, 4))
def test_a_secret_in_a_query_string_or_form_never_comes_out(pairs, name, secret, at):
    pairs = copy.copy(pairs)
    pairs.insert(min(at, len(pairs)), (name, secret))
    query = "&".join(f"{k}={v}" for k, v in pairs)
    text = _normalised_text(_payload(url=f"https://api.example.com/v1/x?{query}", body=query))
    assert secret not in text


@settings(max_examples=200)
@given(_secret_somewhere())
def test_a_rejected_payload_cut_anywhere_never_shows_the_secret(case):
    tree, secret = case
    raw = orjson.dumps({"project_id": "p", "api_key": "t", "data": tree})
    for cut in range(0, len(raw), 7):
        assert secret not in masked_raw(raw[:cut])
