"""Treblle SDK payload → one normalised request row, following DESIGN.md "Treblle payloads".

Anything that cannot be accepted raises PayloadError naming the field and the problem; every
other input (odd Unicode, hostile strings, deep bodies) is stored safely.
"""
from __future__ import annotations

import datetime as dt
import ipaddress
import math
import re
import zlib
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from core.domain.masking import clean_text as _clean_str
from core.domain.masking import is_sensitive as is_sensitive  # re-exported: core.ingest.enrich imports it from here
from core.domain.masking import mask as mask
from core.domain.masking import mask_body, mask_url
from core.domain.record import NormalizedRequest as NormalizedRequest  # re-exported: the record normalize() returns

MAX_METADATA_CHARS = 2000
MAX_CUSTOMER_ID_CHARS = 255
MAX_URL_CHARS = 4096
MAX_ENDPOINT_CHARS = 512
MAX_TEXT_CHARS = 2048
MAX_BODY_JSON_BYTES = 64 * 1024


class PayloadError(ValueError):
    """A payload we cannot accept. `field` is a dotted path into the payload."""

    def __init__(self, field: str, problem: str):
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}" if field else problem)


class PayloadTooLarge(PayloadError):
    """The payload (after decompression) is over the configured size limit."""


# ---------------------------------------------------------------- transport


def decode_body(raw: bytes, content_encoding: str | None = None, max_decompressed: int = 8 << 20) -> Any:
    """Bytes of an HTTP body (gzip or plain) → parsed JSON. Gzip bombs are cut at max_decompressed."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip") or (not encoding and raw[:2] == b"\x1f\x8b"):
        raw = _gunzip(raw, max_decompressed)
    elif encoding == "deflate":
        raw = _inflate(zlib.decompressobj(), raw, max_decompressed, "deflate")
    elif encoding not in ("", "identity"):
        raise PayloadError("Content-Encoding", f"unsupported encoding {encoding[:40]!r}; send gzip or plain JSON")
    if len(raw) > max_decompressed:
        raise PayloadTooLarge("body", f"payload is larger than {max_decompressed} bytes")
    if not raw.strip():
        raise PayloadError("body", "empty body; send the Treblle payload as JSON")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise PayloadError("body", f"not valid JSON ({_short(str(exc), 160)})") from None


def _gunzip(raw: bytes, limit: int) -> bytes:
    return _inflate(zlib.decompressobj(16 + zlib.MAX_WBITS), raw, limit, "gzip")


def _inflate(decomp, raw: bytes, limit: int, name: str) -> bytes:
    try:
        out = decomp.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise PayloadError("body", f"{name} data is corrupt ({exc})") from None
    if len(out) > limit or decomp.unconsumed_tail:
        raise PayloadTooLarge("body", f"decompressed payload exceeds {limit} bytes")
    if not decomp.eof:
        raise PayloadError("body", f"{name} data is truncated")
    return out


# ---------------------------------------------------------------- payload


def identify(payload: dict) -> tuple[str, str | None]:
    """(api identifier, sdk token from the payload) per the two payload generations."""
    sdk_token = payload.get("sdk_token")
    project_id = payload.get("project_id")
    api_key = payload.get("api_key")
    if sdk_token is not None:
        api, token, api_field = api_key, sdk_token, "api_key"
    elif project_id is not None:
        api, token, api_field = project_id, api_key, "project_id"
    else:
        api, token, api_field = api_key, None, "api_key"
    if not isinstance(api, str) or not api.strip():
        raise PayloadError(api_field, "missing or not a string; it must name the API (its API key)")
    if token is not None and not isinstance(token, str):
        raise PayloadError("sdk_token", "must be a string")
    return api.strip()[:100], token


def normalize(payload: Any, *, received_at: dt.datetime | None = None, timestamps: str = "auto") -> NormalizedRequest:
    """One Treblle payload (parsed JSON) → NormalizedRequest, or PayloadError.

    received_at (the collector's receive time) decides which reading of the SDK's timestamp is
    believed; without it (file import) `timestamps` does: "auto" (per SDK), "utc" or "local"."""
    if not isinstance(payload, dict):
        raise PayloadError("", f"a payload must be a JSON object, got {_type_name(payload)}")
    api_key, sdk_token = identify(payload)
    data = _obj(payload, "data", required=True)
    request = _obj(data, "request", required=True, where="data")
    response = _obj(data, "response", required=False, where="data")
    server = _obj(data, "server", required=False, where="data")

    sdk = _opt_str(payload.get("sdk"), "sdk", 64)
    version = payload.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, float, str))):
        raise PayloadError("version", f"must be a number or string, got {_type_name(version)}")
    if isinstance(version, float) and not math.isfinite(version):
        raise PayloadError("version", "must be a finite number")

    req_headers = _headers(request.get("headers"), "data.request.headers")
    resp_headers = _headers(response.get("headers"), "data.response.headers")

    method = request.get("method")
    if isinstance(method, str) and method.strip() and not _METHOD.fullmatch(method.strip()):
        raise PayloadError("data.request.method", f"{_short(method.strip(), 20)!r} is not an HTTP method (letters only, e.g. \"GET\")")
    if not isinstance(method, str) or not method.strip():
        raise PayloadError("data.request.method", "missing or not a string (e.g. \"GET\")")
    method = _clean_str(method.strip().upper())[:16]

    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise PayloadError("data.request.url", "missing or not a string")
    url = _clean_str(url.strip())[:MAX_URL_CHARS]

    status = _status(response.get("code"))
    timestamp, clock_skew_s, clock_fault = _timestamp(request.get("timestamp"), server.get("timezone"), sdk, received_at, timestamps)
    load_time_ms = _load_time_ms(response.get("load_time"), sdk, version)
    size = _size(response.get("size"))

    customer_id, display_name, attributes, metadata_error = _customer(req_headers, resp_headers, data.get("metadata"))

    errors = data.get("errors")
    if errors is None or errors == {}:  # PHP SDKs send {} for an empty list
        errors = []
    if not isinstance(errors, list):
        raise PayloadError("data.errors", f"must be a list, got {_type_name(errors)}")

    return NormalizedRequest(
        api_key=api_key,
        sdk_token=sdk_token,
        timestamp=timestamp,
        method=method,
        url=mask_url(url),
        endpoint=endpoint_for(url, request.get("route_path")),
        status=status,
        load_time_ms=load_time_ms,
        response_size=size,
        ip=_ip(request.get("ip")),
        user_agent=_opt_str(request.get("user_agent"), "data.request.user_agent", MAX_TEXT_CHARS, strict=False),
        customer_id=customer_id,
        display_name=display_name,
        customer_attributes=mask(attributes),
        metadata_error=metadata_error,
        request_headers=mask(req_headers),
        request_body=_bounded(mask_body(request.get("body"))),
        query=_bounded(mask(request.get("query"))),
        response_headers=mask(resp_headers),
        response_body=_bounded(mask_body(response.get("body"))),
        errors=[_bounded(mask(e)) if isinstance(e, dict) else {"message": _short(str(e), MAX_TEXT_CHARS)} for e in errors[:50]],
        server=_bounded(mask(server)),
        sdk=sdk,
        sdk_version=None if version is None else _short(str(version), 32),
        clock_skew_s=clock_skew_s,
        clock_fault=clock_fault,
    )


# ---------------------------------------------------------------- fields


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _obj(parent: dict, key: str, *, required: bool, where: str = "") -> dict:
    value = parent.get(key)
    path = f"{where}.{key}" if where else key
    if value is None:
        if required:
            raise PayloadError(path, "missing; a Treblle payload has data.request and data.response")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(path, f"must be an object, got {_type_name(value)}")
    return value


def _headers(value: Any, path: str) -> dict[str, Any]:
    if value is None or value == []:  # PHP SDKs send [] for empty maps
        return {}
    if not isinstance(value, dict):
        raise PayloadError(path, f"must be an object of header names to values, got {_type_name(value)}")
    out = {}
    for name, v in list(value.items())[:200]:
        name = _clean_str(str(name))[:256]
        if isinstance(v, list):
            v = [_clean_str(str(x))[:MAX_TEXT_CHARS] for x in v[:20]]
        elif v is not None:
            v = _clean_str(str(v))[:MAX_TEXT_CHARS]
        out[name] = v
    return out


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, list):
                value = value[0] if value else None
            return value
    return None


def _status(code: Any) -> int:
    path = "data.response.code"
    if isinstance(code, bool) or code is None:
        raise PayloadError(path, "missing; the HTTP status code is required")
    if isinstance(code, str):
        try:
            code = int(code.strip())
        except ValueError:
            raise PayloadError(path, f"{_short(code, 40)!r} is not an HTTP status code") from None
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if not isinstance(code, int) or not 100 <= code <= 599:
        raise PayloadError(path, f"{_short(repr(code), 40)} is not an HTTP status code (100–599)")
    return code


def _number(value: Any, path: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(path, "must be a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise PayloadError(path, f"{_short(value, 40)!r} is not a number") from None
    if not isinstance(value, (int, float)):
        raise PayloadError(path, f"must be a number, got {_type_name(value)}")
    if not math.isfinite(value):
        raise PayloadError(path, "must be a finite number")
    return float(value)


def _version_number(version: Any) -> float | None:
    if isinstance(version, (int, float)) and not isinstance(version, bool):
        return float(version)
    if isinstance(version, str):
        match = re.match(r"\s*v?(\d+(?:\.\d+)?)", version)
        return float(match.group(1)) if match else None
    return None


def load_time_unit(sdk: str | None, version: Any) -> str:
    """'s', 'us' or 'ms': the unit a given SDK and payload version use for response.load_time."""
    number = _version_number(version)
    name = (sdk or "").lower()
    if "express" in name:
        return "us"
    if name in ("node", "nodejs", "treblle", "js") and number is not None and 1 <= number < 2:
        return "us"
    if number is not None and number < 1:
        return "s"
    return "ms"


_UNIT_TO_MS = {"s": 1000.0, "ms": 1.0, "us": 0.001}


def _load_time_ms(value: Any, sdk: str | None, version: Any) -> float:
    number = _number(value, "data.response.load_time")
    if number is None:
        return 0.0
    ms = number * _UNIT_TO_MS[load_time_unit(sdk, version)]
    return round(max(ms, 0.0), 4)  # one SDK emits small negatives under concurrency


def _size(value: Any) -> int:
    number = _number(value, "data.response.size")
    if number is None:
        return 0
    if number < 0:
        raise PayloadError("data.response.size", "must not be negative")
    return int(min(number, 2**62))


@lru_cache(maxsize=256)
def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return dt.timezone.utc


_METHOD = re.compile(r"[A-Za-z]{1,16}")
_TS_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


def _strptime(text: str) -> dt.datetime | None:
    """The lenient reading (e.g. hours without a leading zero) that fromisoformat refuses."""
    for fmt in _TS_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


# At the collector an SDK timestamp is believed when one of its readings is this close to the receive time.
CLOCK_TOLERANCE = dt.timedelta(minutes=15)
TIMESTAMP_MODES = ("auto", "utc", "local")
# File imports have no receive time: the zone each SDK writes its timestamp in, measured with the real
# SDKs (npm `treblle`, `@treblle/express`: toISOString(); Django: datetime.now() in TIME_ZONE). Others: UTC.
SDK_TIMESTAMP_ZONES = {"node": "utc", "express": "utc", "js": "utc", "nestjs": "utc", "laravel": "utc", "php": "utc",
                       "django": "local"}


def timestamp_zone(sdk: str | None) -> str:
    """'utc' or 'local': how a file import reads the timestamp of this SDK's payloads."""
    return SDK_TIMESTAMP_ZONES.get((sdk or "").strip().lower(), "utc")


def _parse_timestamp(value: Any) -> dt.datetime:
    path = "data.request.timestamp"
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(path, "missing; expected \"YYYY-MM-DD HH:MM:SS\"")
    text = value.strip()
    try:
        # Reads the SDKs' "YYYY-MM-DD HH:MM:SS[.ffffff]" and ISO 8601, ~30x faster than strptime.
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        parsed = _strptime(text)
    if parsed is None:
        raise PayloadError(path, f"{_short(text, 40)!r} is not a time; expected \"YYYY-MM-DD HH:MM:SS\"")
    return parsed


def _readings(parsed: dt.datetime, timezone: Any) -> list[dt.datetime]:
    """The instants a timestamp can mean: itself when it carries an offset; else UTC first, then local
    time in `timezone` (both sides of a repeated autumn hour)."""
    if parsed.tzinfo is not None:
        return [parsed]
    readings = [parsed.replace(tzinfo=dt.timezone.utc)]
    if isinstance(timezone, str) and timezone:
        zone = _zone(timezone)
        if zone is not dt.timezone.utc:
            readings += [parsed.replace(tzinfo=zone), parsed.replace(tzinfo=zone, fold=1)]
    return readings


def _timestamp(value: Any, timezone: Any, sdk: str | None, received_at: dt.datetime | None,
               mode: str) -> tuple[dt.datetime, float | None, str | None]:
    """(when the request happened in UTC, the SDK clock's skew in seconds, its fault: see NormalizedRequest)."""
    parsed = _parse_timestamp(value)
    readings = _readings(parsed, timezone)
    if received_at is not None:
        return _at_receive(readings, received_at.astimezone(dt.timezone.utc))
    if mode not in TIMESTAMP_MODES:
        raise ValueError(f"timestamps must be one of {', '.join(TIMESTAMP_MODES)}, not {mode!r}")
    zone = timestamp_zone(sdk) if mode == "auto" else mode
    reading = readings[1] if zone == "local" and len(readings) > 1 else readings[0]
    if not 1990 <= parsed.year <= 2200:
        raise PayloadError("data.request.timestamp", f"year {parsed.year} is out of range")
    return reading.astimezone(dt.timezone.utc), None, None


def _at_receive(readings: list[dt.datetime], received_at: dt.datetime) -> tuple[dt.datetime, float | None, str | None]:
    """The reading closest to the receive time (the first on a tie) if within CLOCK_TOLERANCE; else
    the receive time and how far that closest reading was from it. A believed UTC reading of a
    timestamp labelled with a zone that reads differently is a mislabelled zone."""
    best, best_gap = readings[0], readings[0] - received_at
    for reading in readings[1:]:
        gap = reading - received_at
        if abs(gap) < abs(best_gap):
            best, best_gap = reading, gap
    if abs(best_gap) <= CLOCK_TOLERANCE:
        if best is readings[0] and len(readings) > 1 and abs(readings[1] - readings[0]) > CLOCK_TOLERANCE:
            return best.astimezone(dt.timezone.utc), (readings[1] - readings[0]).total_seconds(), "zone"
        return best.astimezone(dt.timezone.utc), None, None
    return received_at, best_gap.total_seconds(), "clock"


def _ip(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return _parse_ip(value)


@lru_cache(maxsize=65536)
def _parse_ip(value: str) -> str | None:
    text = value.split(",")[0].strip()[:64]  # X-Forwarded-For lists: the client is first
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _opt_str(value: Any, path: str, limit: int, strict: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        if strict:
            raise PayloadError(path, f"must be a string, got {_type_name(value)}")
        value = str(value)
    return _clean_str(value[:limit]) or None  # cut first: cleaning a 2 MiB user agent costs 100 ms


# ---------------------------------------------------------------- customers

_NAME_KEYS = ("user-name", "name", "display-name")


def _customer(req_headers: dict, resp_headers: dict, data_metadata: Any):
    """(customer_id, display_name, attributes, metadata_error) from headers and data.metadata."""
    problems: list[str] = []
    meta: dict[str, Any] = {}
    for where, headers in (("request", req_headers), ("response", resp_headers)):
        raw = _header(headers, "treblle-metadata")
        if raw is None:
            continue
        parsed, problem = parse_metadata(raw)
        if problem:
            problems.append(f"{where} treblle-metadata: {problem}")
        for key, value in parsed.items():
            meta.setdefault(key, value)
    # Read before data.metadata is merged in: the treblle-user-id headers outrank data.metadata.
    header_user_id = meta.get("user-id")
    if isinstance(data_metadata, dict):
        for key, value in data_metadata.items():
            if _is_scalar(value):
                meta.setdefault(_clean_str(str(key))[:100], _scalar(value))

    candidates = [header_user_id, _header(req_headers, "treblle-user-id"), _header(resp_headers, "treblle-user-id")]
    if isinstance(data_metadata, dict):
        candidates.append(data_metadata.get("user-id"))
    customer_id = None
    for candidate in candidates:
        cid = _customer_id(candidate)
        if cid is _TOO_LONG:
            problems.append(f"customer ID longer than {MAX_CUSTOMER_ID_CHARS} characters; request left unattributed")
            break
        if cid:
            customer_id = cid
            break

    display_name = None
    for key in _NAME_KEYS:
        value = meta.get(key)
        if value not in (None, ""):
            display_name = _short(str(value), 255)
            break
    attributes = {k: v for k, v in meta.items() if k not in ("user-id", *_NAME_KEYS)}
    return customer_id, display_name, attributes, "; ".join(problems) or None


_TOO_LONG = object()


def _customer_id(value: Any):
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, (str, int, float)):
        return None
    text = _clean_str(str(value)).strip()
    if len(text) > MAX_CUSTOMER_ID_CHARS:
        return _TOO_LONG
    return text or None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar(value: Any) -> Any:
    if isinstance(value, str):
        return _short(_clean_str(value), 500)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_metadata(raw: Any) -> tuple[dict[str, Any], str | None]:
    """The treblle-metadata header → (flat dict of scalars, problem or None). Never raises."""
    if not isinstance(raw, str):
        return {}, "not a string"
    if len(raw) > MAX_METADATA_CHARS:
        return {}, f"longer than {MAX_METADATA_CHARS} characters; ignored"
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return {}, f"not valid JSON ({_short(str(exc), 120)}); ignored"
    if not isinstance(parsed, dict):
        return {}, f"must be a JSON object, got {_type_name(parsed)}; ignored"
    out, skipped = {}, []
    for key, value in parsed.items():
        key = _clean_str(str(key))[:100]
        if _is_scalar(value):
            out[key] = _scalar(value)
        else:
            skipped.append(key)
    return out, (f"nested values ignored for {', '.join(skipped[:5])}" if skipped else None)


# ---------------------------------------------------------------- endpoints

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
_HEX = re.compile(r"^[0-9a-fA-F]{16,}$")
_NUMERIC = re.compile(r"^\d+$")
_TOKENLIKE = re.compile(r"^(?=.*\d)[A-Za-z0-9_\-]{20,}$")


def _is_id(segment: str) -> bool:
    return bool(
        _NUMERIC.match(segment) or _UUID.match(segment) or _HEX.match(segment) or _TOKENLIKE.match(segment)
    )


@lru_cache(maxsize=65536)
def template_path(path: str) -> str:
    """'/orders/123/items/9f8e…' → '/orders/{id}/items/{id}'."""
    segments = [("{id}" if _is_id(s) else s) for s in path.split("/")]
    out = "/".join(segments)
    if not out.startswith("/"):
        out = "/" + out
    if len(out) > 1:
        out = out.rstrip("/") or "/"
    return out[:MAX_ENDPOINT_CHARS]


def endpoint_for(url: str, route_path: Any) -> str:
    if isinstance(route_path, str) and route_path.strip():
        route = _clean_str(route_path.strip())
        route = "/" + route.lstrip("/")
        return route[:MAX_ENDPOINT_CHARS]
    try:
        path = urlsplit(url).path
    except ValueError:
        path = url.split("?")[0]
    return template_path(path or "/")


# ---------------------------------------------------------------- safety


def _bounded(value: Any) -> Any:
    """Bodies (already masked) are kept whole up to MAX_BODY_JSON_BYTES; larger ones keep a marked preview."""
    if value is None:
        return None
    try:
        encoded = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return {"_clientele_note": "body could not be stored as JSON"}
    if len(encoded) <= MAX_BODY_JSON_BYTES:
        return value
    return {
        "_clientele_note": f"body truncated: {len(encoded)} bytes stored as a preview",
        "preview": encoded[:4096].decode("utf-8", "ignore"),
    }
