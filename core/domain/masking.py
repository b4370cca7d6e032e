"""Secrets never stored in clear: what normalisation and rejected payloads mask before anything is
written (DESIGN.md "Treblle payloads": older SDKs send passwords, tokens and cookies unmasked).

A key is sensitive when its name, lower-cased with everything but letters and digits dropped (so
`creditCard`, `credit-card` and `CREDIT_CARD` are one name), is in SENSITIVE_NAMES or in
CLIENTELE_MASKED_FIELDS, or ends in one of _SENSITIVE_SUFFIXES. Its value is masked wherever it
appears: in headers and bodies, in the query map, in query strings inside a URL, in JSON and
form-encoded text sent as a string; an object or list under a sensitive key is masked whole.
"""
from __future__ import annotations

import base64
import binascii
import math
import re
from functools import lru_cache
from math import isfinite
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import orjson
import re2

from core.domain import config

MASK_CHAR = "*"
MAX_MASK_CHARS = 32  # a mask shows the length of short secrets only, never more than this
SUBTREE_MASK = MASK_CHAR * 8  # an object under a sensitive key: its keys and shape are hidden too
MAX_DEPTH = 32
MAX_LIST_ITEMS = 1000

SENSITIVE_NAMES = frozenset({
    "password", "pwd", "pass", "passwd", "passphrase", "passwordconfirmation", "secret", "clientsecret",
    "apisecret", "privatekey", "cc", "ccnumber", "creditcard", "creditcardnumber", "cardnumber", "cvv", "cvv2",
    "ccv", "cvc", "cvc2", "ssn", "iban", "creditscore", "authorization", "proxyauthorization", "cookie",
    "cookies", "setcookie", "xapikey", "apikey", "token", "accesstoken", "refreshtoken", "idtoken",
    "xauthtoken", "sdktoken", "sessionid", "jwt", "pin", "otp", "totp", "otpcode", "mfacode",
})
# api_secret, x-auth-token, ssh_private_key, x-goog-api-key, aws_secret_access_key, SECRET_KEY, id_jwt … ; not "pass"
# (bypass, compass) nor "cc" (ccy).
_SENSITIVE_SUFFIXES = ("token", "secret", "password", "passphrase", "privatekey", "apikey", "authorization", "secretkey",
                       "secretaccesskey", "signingkey", "encryptionkey", "jwt")

# The auth scheme word stays readable ("Bearer ****"): it tells an Admin how the caller authenticated.
# (re, not re2: anchored and linear, and re2's Python wrapper costs ~5 µs a call on this hot path.)
_SCHEME = re.compile(r"^(Bearer|Basic|Digest|Token|ApiKey|Negotiate|NTLM|AWS4-HMAC-SHA256)\s+(.+)$", re.I | re.S)
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_PAIR_SEPARATOR = re.compile(r"([&;])")


# ---------------------------------------------------------------- names


def _normal(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower())


@lru_cache(maxsize=1)
def _names() -> frozenset[str]:
    extra = {_normal(name) for name in config.masked_fields()}
    return SENSITIVE_NAMES | {name for name in extra if name}


def reload_masked_fields() -> None:
    """Read CLIENTELE_MASKED_FIELDS again (the app reads it once; tests change it)."""
    _names.cache_clear()
    is_sensitive.cache_clear()
    _KEYS.clear()
    _CLEAN_JSON.clear()


@lru_cache(maxsize=4096)
def is_sensitive(key: str) -> bool:
    name = _normal(key[:256])
    return name in _names() or name.endswith(_SENSITIVE_SUFFIXES)


# A key as sent → (the key as stored, is it sensitive): payloads repeat the same few hundred keys, and
# cleaning and classifying each one anew was a third of mask()'s time. Bounded: emptied when full.
_KEYS: dict[str, tuple[str, bool]] = {}
_MAX_KEYS = 8192


def _stored_key(key: Any) -> tuple[str, bool]:
    name = clean_text(str(key))[:256]
    known = (name, is_sensitive(name))
    if type(key) is str and len(key) <= 256:
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[key] = known
    return known


# ---------------------------------------------------------------- values


def _mask_scalar(value: Any) -> Any:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if text and not text.strip(MASK_CHAR):
        return text  # already masked by the SDK
    match = _SCHEME.match(text)
    if match:
        return f"{match.group(1)} {MASK_CHAR * min(len(match.group(2)), MAX_MASK_CHARS)}"
    return MASK_CHAR * min(max(len(text), 1), MAX_MASK_CHARS)


def _mask_sensitive(value: Any) -> Any:
    """The value of a sensitive key: scalars masked one by one, objects whole."""
    if isinstance(value, dict):
        return SUBTREE_MASK if value else {}
    if isinstance(value, list):
        return [SUBTREE_MASK if isinstance(v, (dict, list)) else _mask_scalar(v) for v in value[:MAX_LIST_ITEMS]]
    return _mask_scalar(value)


def mask(value: Any, depth: int = 0) -> Any:
    """A headers map, body, query map … with every sensitive value masked, anywhere inside."""
    if depth > MAX_DEPTH:
        return "[truncated: nested too deeply]"
    if isinstance(value, dict):
        out = {}
        keys = _KEYS
        fast = depth < MAX_DEPTH  # one level deeper, every value is cut: no shortcuts
        for key, v in value.items():
            name, sensitive = (keys.get(key) if type(key) is str else None) or _stored_key(key)
            if sensitive:
                out[name] = _mask_sensitive(v)
            elif fast and type(v) is str and v.isascii() and (not v or (v[0] not in _MAYBE_JSON and "=" not in v and "@" not in v
                                                               and "\x00" not in v
                                                               and (len(v) < _SHORTEST_CREDENTIAL or not _maybe_credential(v)))):
                out[name] = v  # what mask_string(clean_text(v)) returns for plain text, without two calls
            elif fast and (v is None or type(v) is int or type(v) is bool or (type(v) is float and isfinite(v))):
                out[name] = v
            else:
                out[name] = mask(v, depth + 1)
        return out
    if isinstance(value, list):
        return [mask(v, depth + 1) for v in value[:MAX_LIST_ITEMS]]
    if isinstance(value, str):
        return mask_string(clean_text(value), depth)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def mask_body(value: Any) -> Any:
    """A request or response body: as mask(), and a text body (HTML, plain text, an HTTP dump) is
    also scrubbed of credentials in the text."""
    masked = mask(value)
    return scrub_text(masked) if isinstance(masked, str) and masked else masked


_NOT_JSON = object()
_MAYBE_JSON = "{[ \t\r\n"
# JSON texts found to hold nothing to mask → the deepest level they were found so at (nothing in them is cut at a
# shallower one either): an SDK sends the same treblle-metadata header again and again. Holds no secret, by definition.
_CLEAN_JSON: dict[str, int] = {}
_MAX_CLEAN_JSONS = 4096
_MAX_CLEAN_JSON_CHARS = 2048


def mask_string(text: str, depth: int = 0) -> str:
    """A string that holds JSON, a URL or form-encoded pairs, with sensitive values masked inside.
    Returned unchanged (the same bytes) when nothing in it is sensitive."""
    first = text[:1]
    if not first or (first not in _MAYBE_JSON and "=" not in text and "@" not in text):
        return scrub_credentials(text)  # the common case, decided without a copy
    if first.isspace():
        first = text.lstrip()[:1]
    if first == "{" or first == "[":
        if _CLEAN_JSON.get(text, -1) >= depth:
            return text
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = _NOT_JSON
        if parsed is not _NOT_JSON:
            masked = mask(parsed, depth + 1)
            if masked != parsed:
                return orjson.dumps(masked).decode()
            if len(text) <= _MAX_CLEAN_JSON_CHARS:
                if len(_CLEAN_JSON) >= _MAX_CLEAN_JSONS:
                    _CLEAN_JSON.clear()
                _CLEAN_JSON[text] = max(depth, _CLEAN_JSON.get(text, -1))
            return text
    if "://" in text[:32] or text.startswith("/"):
        return mask_url(text)
    if "=" in text:
        return scrub_credentials(_mask_pairs(text))
    return scrub_credentials(text)


# A credential written into free text ("token Bearer eyJhbGciOi… rejected", "retried with Basic dXNlcjpwYXNz"): an
# error message or a note in a body, under a key that is no secret's name. Bearer takes a token (8+ characters, with a
# digit or one of -._~+/=, so "bearer instrument" stays); Basic what base64 of "user:password" decodes to.
_TEXT_CREDENTIAL = re2.compile(r"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)")
_SHORTEST_CREDENTIAL = len("Basic ") + 8


# A JSON Web Token anywhere in text, with or without a scheme word: its header and payload are base64 of JSON objects.
_JWT = re2.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*")


# An API key of a well-known service written into free text or a URL ("retry with sk_live_51H…", "?key=AIza…"): the
# formats secret scanners (GitHub secret scanning, gitleaks) look for, each told by its documented prefix — Stripe,
# GitHub, GitLab, Slack, npm, PyPI, Shopify, SendGrid, Google, AWS access key IDs, OpenAI and Anthropic. The prefix stays
# readable, as the scheme word of "Bearer ****" does: it tells an Admin which kind of key was sent.
_KNOWN_KEY = re2.compile(
    r"\b((?:sk|rk)_(?:live|test)_|whsec_|gh[pousr]_|github_pat_|glpat-|xox[abprs]-|xapp-|npm_|pypi-|shp(?:at|ca|pa|ss)_"
    r"|AIza|AKIA|ASIA|sk-|SG\.)([A-Za-z0-9_\-]{16,}(?:\.[A-Za-z0-9_\-]{16,})?)"
)
_SHORTEST_KEY = len("AKIA") + 16
# A PEM private key pasted into text: the lines between its BEGIN and END lines (or the text's end, when cut).
_PRIVATE_KEY = re2.compile(r"(-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----)([A-Za-z0-9+/=\s\\:,\-]*?)(-----END|$)")


def _maybe_credential(text: str) -> bool:
    """Whether free text may hold a Bearer or Basic credential, a JWT, a known service's key or a private key (cheap:
    substrings, no regular expression)."""
    if len(text) < _SHORTEST_CREDENTIAL:
        return False
    if "earer" in text or "asic" in text or "EARER" in text or "ASIC" in text or "eyJ" in text:
        return True
    return len(text) >= _SHORTEST_KEY and (
        ("_" in text and ("k_live_" in text or "k_test_" in text or "gh" in text or "whsec_" in text or "npm_" in text
                          or "shp" in text))
        or ("-" in text and ("sk-" in text or "glpat-" in text or "xox" in text or "xapp-" in text or "pypi-" in text
                             or "PRIVATE KEY" in text))
        or "AIza" in text or "AKIA" in text or "ASIA" in text or "SG." in text
    )


def _masked_credential(m) -> str:
    scheme, space, token = m.group(1), m.group(2), m.group(3)
    if scheme.lower() == "basic":
        try:
            is_credential = b":" in base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
        except (binascii.Error, ValueError):
            is_credential = False
    else:
        is_credential = any(c.isdigit() or c in "-._~+/=" for c in token)
    return f"{scheme}{space}{_mask_scalar(token)}" if is_credential else m.group(0)


def _masked_key(m) -> str:
    prefix, key = m.group(1), m.group(2)
    if prefix in ("AKIA", "ASIA") and not (len(key) == 16 and key.isalnum() and key.isupper()):
        return m.group(0)  # an AWS key ID is 16 upper-case letters and digits
    if prefix in ("sk-", "npm_") and not any(c.isdigit() for c in key):
        return m.group(0)  # words like "sk-learn-tutorials" or "npm_config_cache" are no keys
    return prefix + _mask_scalar(key)


def scrub_credentials(text: str) -> str:
    """Free text with the Bearer and Basic credentials, JWTs, known services' API keys and private keys written into
    it masked; the same string when there are none."""
    if not _maybe_credential(text):
        return text
    text = _TEXT_CREDENTIAL.sub(_masked_credential, text)
    if "eyJ" in text:
        text = _JWT.sub(lambda m: _mask_scalar(m.group(0)), text)
    if len(text) >= _SHORTEST_KEY:
        text = _KNOWN_KEY.sub(_masked_key, text)
        if "PRIVATE KEY" in text:
            text = _PRIVATE_KEY.sub(lambda m: m.group(1) + _mask_scalar(m.group(2)) + m.group(3), text)
    return text


def mask_url(url: str) -> str:
    """The URL with the values of sensitive query (and fragment) names, the userinfo password and credentials written
    into it (a known service's key under any name: `?key=AIza…`) masked; everything else byte for byte as it was."""
    if "=" not in url and "@" not in url:
        return scrub_credentials(url)
    rest, hash_mark, fragment = url.partition("#")
    base, question_mark, query = rest.partition("?")
    base = _mask_userinfo(base)
    if question_mark:
        query = _mask_pairs(query)
    if hash_mark and "=" in fragment:
        fragment = _mask_pairs(fragment)
    return scrub_credentials(base + question_mark + query + hash_mark + fragment)


def _mask_userinfo(base: str) -> str:
    scheme, sep, rest = base.partition("://")
    if not sep:
        return base
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return base
    user, _colon, password = userinfo.partition(":")
    if not password or not password.strip(MASK_CHAR):
        return base
    return f"{scheme}://{user}:{MASK_CHAR * min(len(password), MAX_MASK_CHARS)}@{host}{slash}{path}"


def _mask_pairs(text: str) -> str:
    """`a=1&password=x;token=y` (form-encoded body or query string) with sensitive values masked."""
    parts = _PAIR_SEPARATOR.split(text) if ";" in text else text.split("&")
    step = 2 if ";" in text else 1  # re.split keeps the separators at odd indexes
    changed = False
    for i in range(0, len(parts), step):
        key, eq, value = parts[i].partition("=")
        if eq and value and is_sensitive(unquote_plus(key[:256]) if "%" in key or "+" in key else key[:256]):
            masked = _mask_encoded(value)
            if masked != value:
                parts[i] = f"{key}={masked}"
                changed = True
    return ("" if step == 2 else "&").join(parts) if changed else text


def _mask_encoded(value: str) -> str:
    decoded = unquote_plus(value)
    masked = _mask_scalar(decoded)
    return value if masked == decoded else quote_plus(masked, safe=MASK_CHAR)


def clean_text(text: str) -> str:
    """Text safe for every backend: no NUL (PostgreSQL refuses it), no lone surrogates."""
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\ufffd")


# ---------------------------------------------------------------- text we cannot parse

# All re2 (linear time: this text is whatever a stranger sent). They work on UTF-8 bytes, so that a
# search from a position does not re-encode the text each time.
_QUOTED_KEY = re2.compile(rb"""\\?"([^"\\\r\n]{1,64})\\?"[ \t]*:[ \t]*|'([^'\\\r\n]{1,64})'[ \t]*:[ \t]*""")
_DOUBLE_QUOTED_REST = re2.compile(rb'(?:[^"\\]|\\.)*"?')
_SINGLE_QUOTED_REST = re2.compile(rb"(?:[^'\\]|\\.)*'?")
_SCALAR = re2.compile(rb"[^\s,}\]]*")
_CONTAINER_TOKEN = re2.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]')
_HEADER_LINE = re2.compile(rb"(?m)^([ \t]*([A-Za-z0-9_\-]{1,64})[ \t]*:[ \t]*)([^\r\n]*)")
_PAIR = re2.compile(rb"([A-Za-z0-9_.\-\[\]%+]{1,64})=([^&;\s\"'<>\\]+)")
_BEARER = re2.compile(rb"(?i)\b(bearer|basic)(\s+)([A-Za-z0-9\-._~+/]+=*)")
_MAX_CONTAINER_TOKENS = 4096  # past this many, the rest of the text counts as the masked value


def scrub_text(text: str) -> str:
    """Free text (truncated JSON, a form, an HTTP dump) with credentials masked: values of sensitive
    keys in "key": value, key=value and `Key: value` lines, and Bearer/Basic credentials anywhere."""
    data = text.encode("utf-8", "replace")
    data = _scrub_quoted_pairs(data)
    data = _HEADER_LINE.sub(_masked_header_line, data)
    data = _PAIR.sub(_masked_pair, data)
    data = _BEARER.sub(lambda m: m.group(1) + m.group(2) + _mask_bytes(m.group(3)), data)
    return scrub_credentials(data.decode("utf-8", "replace"))  # JWTs, known services' keys, private keys


def _mask_bytes(value: bytes) -> bytes:
    masked = _mask_scalar(value.decode("utf-8", "replace"))
    return masked.encode()


def _masked_header_line(m) -> bytes:
    if not is_sensitive(m.group(2).decode()):
        return m.group(0)
    value = m.group(3)
    return m.group(1) + (_mask_bytes(value) if value.strip() else value)


def _masked_pair(m) -> bytes:
    if not is_sensitive(unquote_plus(m.group(1).decode())):
        return m.group(0)
    return m.group(1) + b"=" + _mask_encoded(m.group(2).decode("utf-8", "replace")).encode()


def _scrub_quoted_pairs(data: bytes) -> bytes:
    out, done, pos = [], 0, 0
    while True:
        m = _QUOTED_KEY.search(data, pos)
        if m is None:
            break
        pos = m.end()
        key = (m.group(1) or m.group(2)).decode("utf-8", "replace")
        if not is_sensitive(key):
            continue
        end = _value_end(data, pos)
        out += [data[done:pos], _masked_region(data[pos:end])]
        done = pos = end
    return b"".join([*out, data[done:]]) if out else data


def _value_end(data: bytes, start: int) -> int:
    """Where the JSON-like value starting at `start` ends (the end of the text if it was cut off)."""
    first = data[start:start + 1]
    if first == b'"':
        return _DOUBLE_QUOTED_REST.match(data, start + 1).end()
    if first == b"'":
        return _SINGLE_QUOTED_REST.match(data, start + 1).end()
    if data.startswith(b'\\"', start):  # JSON inside a JSON string
        end = data.find(b'\\"', start + 2)
        return len(data) if end < 0 else end + 2
    if first in (b"{", b"["):
        return _container_end(data, start)
    return _SCALAR.match(data, start).end()


def _container_end(data: bytes, start: int) -> int:
    depth, pos = 0, start
    for _ in range(_MAX_CONTAINER_TOKENS):
        m = _CONTAINER_TOKEN.search(data, pos)
        if m is None:
            break
        token = data[m.start():m.start() + 1]
        if token in (b"{", b"["):
            depth += 1
        elif token in (b"}", b"]"):
            depth -= 1
            if depth == 0:
                return m.end()
        pos = m.end()
    return len(data)


def _masked_region(value: bytes) -> bytes:
    if not value:
        return value
    first, last = value[:1], value[-1:]
    if first in (b"{", b"["):
        return b'"' + SUBTREE_MASK.encode() + b'"'
    if value.startswith(b'\\"'):
        inner = value[2:-2] if value.endswith(b'\\"') and len(value) >= 4 else value[2:]
        return b'\\"' + _mask_bytes(inner) + (b'\\"' if value.endswith(b'\\"') and len(value) >= 4 else b"")
    if first in (b'"', b"'"):
        closed = len(value) >= 2 and last == first
        inner = value[1:-1] if closed else value[1:]
        return first + (_mask_bytes(inner) if inner else inner) + (last if closed else b"")
    if value in (b"null", b"true", b"false"):
        return value if value == b"null" else _mask_bytes(value)
    return _mask_bytes(value)


# ---------------------------------------------------------------- rejected payloads


def masked_raw(raw: bytes | str, limit: int | None = None) -> str:
    """What is kept of a rejected payload: masked like an accepted one and without its SDK token
    when it parses as JSON; otherwise its text, cut at `limit` characters, scrubbed of credentials."""
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = _NOT_JSON
    if isinstance(parsed, (dict, list)):
        masked = _without_sdk_token(parsed)
        if masked == parsed:
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        else:
            text = orjson.dumps(masked).decode()
        return clean_text(text)[:limit]  # masked whole, then cut
    if isinstance(raw, bytes):
        text = raw[:limit].decode("utf-8", "replace")
    else:
        text = raw[:limit]
    return scrub_text(clean_text(text))


def _without_sdk_token(value: Any) -> Any:
    """A payload (or a list of them) masked, without the field that holds the SDK token: `sdk_token`,
    or `api_key` when `project_id` names the API (the older generation; see normalize.identify)."""
    if isinstance(value, list):
        return [_without_sdk_token(v) if isinstance(v, dict) else mask(v, 1) for v in value[:MAX_LIST_ITEMS]]
    if not isinstance(value, dict):
        return mask(value)
    token_field = "sdk_token" if value.get("sdk_token") is not None else "api_key" if value.get("project_id") is not None else None
    out = {}
    for key, v in value.items():
        if key in ("sdk_token", token_field):
            continue
        if key == "api_key" and isinstance(v, str):
            out[key] = clean_text(v)[:256]  # here it names the API, as on the Data page
        else:
            out.update(mask({key: v}))
    return out
