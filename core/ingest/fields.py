"""Readers of single payload fields: each returns the value to store or raises PayloadError naming
the field (DESIGN.md "Treblle payloads"), and bounds what it keeps."""
from __future__ import annotations

import ipaddress
import math
import re
from functools import lru_cache
from typing import Any

import orjson

from core.domain.masking import clean_text as _clean_str
from core.ingest.errors import PayloadError

MAX_TEXT_CHARS = 2048
MAX_BODY_JSON_BYTES = 64 * 1024


def type_name(value: Any) -> str:
    """What a JSON value is, in words for an error message ("an object", "null", …)."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__
    )


def short(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def child_object(parent: dict, key: str, *, required: bool, where: str = "") -> dict:
    """parent[key], which must be an object; {} when absent and not required."""
    value = parent.get(key)
    if type(value) is dict:
        return value
    path = f"{where}.{key}" if where else key
    if value is None:
        if required:
            raise PayloadError(path, "missing; a Treblle payload has data.request and data.response")
        return {}
    if not isinstance(value, dict):
        raise PayloadError(path, f"must be an object, got {type_name(value)}")
    return value


def parse_headers(value: Any, path: str) -> dict[str, Any]:
    if value is None or value == []:  # PHP SDKs send [] for empty maps
        return {}
    if not isinstance(value, dict):
        raise PayloadError(path, f"must be an object of header names to values, got {type_name(value)}")
    out = {}
    for name, v in value.items() if len(value) <= 200 else list(value.items())[:200]:
        # Plain short ASCII is kept as it is (what cleaning and cutting would return), without the calls.
        if not (type(name) is str and len(name) <= 256 and name.isascii() and "\x00" not in name):
            name = _clean_str(str(name))[:256]
        if type(v) is str:
            if not (len(v) <= MAX_TEXT_CHARS and v.isascii() and "\x00" not in v):
                v = _clean_str(v)[:MAX_TEXT_CHARS]
        elif isinstance(v, list):
            v = [_clean_str(str(x))[:MAX_TEXT_CHARS] for x in v[:20]]
        elif v is not None:
            v = _clean_str(str(v))[:MAX_TEXT_CHARS]
        out[name] = v
    return out


def header_value(headers: dict[str, Any], name: str) -> str | None:
    """The first value of header `name` (lower case), whatever the case it was sent in."""
    for key, value in headers.items():
        if key.lower() == name:
            if isinstance(value, list):
                value = value[0] if value else None
            return value
    return None


def parse_status(code: Any) -> int:
    path = "data.response.code"
    if isinstance(code, bool) or code is None:
        raise PayloadError(path, "missing; the HTTP status code is required")
    if isinstance(code, str):
        try:
            code = int(code.strip())
        except ValueError:
            raise PayloadError(path, f"{short(code, 40)!r} is not an HTTP status code") from None
    if isinstance(code, float) and code.is_integer():
        code = int(code)
    if not isinstance(code, int) or not 100 <= code <= 599:
        raise PayloadError(path, f"{short(repr(code), 40)} is not an HTTP status code (100–599)")
    return code


def _number(value: Any, path: str) -> float | None:
    if type(value) is float and math.isfinite(value):
        return value  # what an SDK sends, checked without the rest
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PayloadError(path, "must be a number, got a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise PayloadError(path, f"{short(value, 40)!r} is not a number") from None
    if not isinstance(value, (int, float)):
        raise PayloadError(path, f"must be a number, got {type_name(value)}")
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


@lru_cache(maxsize=1024, typed=True)  # a handful of (SDK, version) pairs send nearly all payloads
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


def parse_load_time_ms(value: Any, sdk: str | None, version: Any) -> float:
    number = _number(value, "data.response.load_time")
    if number is None:
        return 0.0
    ms = number * _UNIT_TO_MS[load_time_unit(sdk, version)]
    return round(max(ms, 0.0), 4)  # one SDK emits small negatives under concurrency


def parse_size(value: Any) -> int:
    number = _number(value, "data.response.size")
    if number is None:
        return 0
    if number < 0:
        raise PayloadError("data.response.size", "must not be negative")
    return int(min(number, 2**62))


def parse_ip(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return _ip_address(value)


@lru_cache(maxsize=65536)
def _ip_address(value: str) -> str | None:
    text = value.split(",")[0].strip()[:64]  # X-Forwarded-For lists: the client is first
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def optional_str(value: Any, path: str, limit: int, strict: bool = True) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        if strict:
            raise PayloadError(path, f"must be a string, got {type_name(value)}")
        value = str(value)
    return _clean_str(value[:limit]) or None  # cut first: cleaning a 2 MiB user agent costs 100 ms


def bounded(value: Any) -> Any:
    """Bodies (already masked) are kept whole up to MAX_BODY_JSON_BYTES; larger ones keep a marked preview."""
    if value is None or (not value and type(value) in (dict, list)):  # nothing to measure
        return value
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
