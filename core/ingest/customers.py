"""Who a request is for: the customer ID, display name and attributes an SDK sends in the
treblle-user-id / treblle-metadata headers and data.metadata."""
from __future__ import annotations

import math
from typing import Any

import orjson

from core.domain.masking import clean_text as _clean_str
from core.ingest.fields import short, type_name

MAX_METADATA_CHARS = 2000
MAX_CUSTOMER_ID_CHARS = 255

_NAME_KEYS = ("user-name", "name", "display-name")
_NOT_ATTRIBUTES = frozenset({"user-id", *_NAME_KEYS})


def identify_customer(req_headers: dict, resp_headers: dict, data_metadata: Any):
    """(customer_id, display_name, attributes, metadata_error) from headers and data.metadata."""
    problems: list[str] = []
    meta: dict[str, Any] = {}
    req_meta, req_user_id = _treblle_headers(req_headers)
    resp_meta, resp_user_id = _treblle_headers(resp_headers)
    for where, raw in (("request", req_meta), ("response", resp_meta)):
        if raw is None:
            continue
        parsed, problem = parse_metadata(raw)
        if problem:
            problems.append(f"{where} treblle-metadata: {problem}")
        if not meta:
            meta = parsed  # a dict of its own: parse_metadata builds a new one each call
        else:
            for key, value in parsed.items():
                meta.setdefault(key, value)
    # Read before data.metadata is merged in: the treblle-user-id headers outrank data.metadata.
    header_user_id = meta.get("user-id")
    if isinstance(data_metadata, dict):
        for key, value in data_metadata.items():
            if _is_scalar(value):
                meta.setdefault(_clean_str(str(key))[:100], _scalar(value))

    candidates = [header_user_id, req_user_id, resp_user_id]
    if isinstance(data_metadata, dict):
        candidates.append(data_metadata.get("user-id"))
    customer_id = None
    for candidate in candidates:
        if candidate is None:
            continue
        cid = _customer_id(candidate)
        if cid is _TOO_LONG:
            problems.append(f"customer ID longer than {MAX_CUSTOMER_ID_CHARS} characters; request left unattributed")
            break
        if cid:
            customer_id = cid
            break

    if not meta:  # most requests: no metadata at all
        return customer_id, None, {}, "; ".join(problems) or None
    display_name = None
    for key in _NAME_KEYS:
        value = meta.get(key)
        if value not in (None, ""):
            display_name = short(str(value), 255)
            break
    attributes = {k: v for k, v in meta.items() if k not in _NOT_ATTRIBUTES}
    return customer_id, display_name, attributes, "; ".join(problems) or None


_TOO_LONG = object()


def _treblle_headers(headers: dict[str, Any]) -> tuple[Any, Any]:
    """(treblle-metadata, treblle-user-id) as header_value reads them, in one pass over the headers."""
    meta = user_id = _ABSENT
    for key, value in headers.items():
        if len(key) not in _TREBLLE_NAME_LENGTHS:
            continue  # most headers, told apart without lower-casing them
        name = key.lower()
        if name == "treblle-metadata":
            if meta is _ABSENT:
                meta = value
        elif name == "treblle-user-id" and user_id is _ABSENT:
            user_id = value
    return _first(meta), _first(user_id)


_ABSENT = object()
# A name that lower-cases to one of the two has their length: lower() lengthens only "İ", into an "i" and a
# combining dot, which neither holds.
_TREBLLE_NAME_LENGTHS = frozenset({len("treblle-metadata"), len("treblle-user-id")})


def _first(value: Any) -> Any:
    if value is _ABSENT:
        return None
    if isinstance(value, list):
        return value[0] if value else None
    return value


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
        return short(_clean_str(value), 500)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def parse_metadata(raw: Any) -> tuple[dict[str, Any], str | None]:
    """The treblle-metadata header → (flat dict of scalars, problem or None). Never raises."""
    # Not memoised: a header may carry a secret (masked only once parsed), and a cache would keep it in memory.
    if not isinstance(raw, str):
        return {}, "not a string"
    if len(raw) > MAX_METADATA_CHARS:
        return {}, f"longer than {MAX_METADATA_CHARS} characters; ignored"
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return {}, f"not valid JSON ({short(str(exc), 120)}); ignored"
    if not isinstance(parsed, dict):
        return {}, f"must be a JSON object, got {type_name(parsed)}; ignored"
    out, skipped = {}, []
    for key, value in parsed.items():  # JSON keys are strings
        # Plain short ASCII is kept as it is (what cleaning and cutting would return), without the calls.
        if not (len(key) <= 100 and key.isascii() and "\x00" not in key):
            key = _clean_str(key)[:100]
        if type(value) is str and len(value) <= 500 and value.isascii() and "\x00" not in value:
            out[key] = value
        elif _is_scalar(value):
            out[key] = _scalar(value)
        else:
            skipped.append(key)
    return out, (f"nested values ignored for {', '.join(skipped[:5])}" if skipped else None)
