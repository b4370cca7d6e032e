"""Treblle SDK payload → one normalised request row, following DESIGN.md "Treblle payloads".

Anything that cannot be accepted raises PayloadError naming the field and the problem; every
other input (odd Unicode, hostile strings, deep bodies) is stored safely. The fields are read by
core.ingest.fields, timestamps, customers and routes.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from core.domain.masking import clean_text as _clean_str
from core.domain.masking import mask, mask_body, mask_url
from core.domain.record import NormalizedRequest
from core.ingest.customers import identify_customer
from core.ingest.errors import PayloadError
from core.ingest.fields import (
    MAX_TEXT_CHARS,
    bounded,
    child_object,
    optional_str,
    parse_headers,
    parse_ip,
    parse_load_time_ms,
    parse_size,
    parse_status,
    short,
    type_name,
)
from core.ingest.routes import endpoint_for
from core.ingest.timestamps import resolve_timestamp

MAX_URL_CHARS = 4096

_METHOD = re.compile(r"[A-Za-z]{1,16}")


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
        raise PayloadError("", f"a payload must be a JSON object, got {type_name(payload)}")
    api_key, sdk_token = identify(payload)
    data = child_object(payload, "data", required=True)
    request = child_object(data, "request", required=True, where="data")
    response = child_object(data, "response", required=False, where="data")
    server = child_object(data, "server", required=False, where="data")

    sdk = optional_str(payload.get("sdk"), "sdk", 64)
    version = payload.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, (int, float, str))):
        raise PayloadError("version", f"must be a number or string, got {type_name(version)}")
    if isinstance(version, float) and not math.isfinite(version):
        raise PayloadError("version", "must be a finite number")

    req_headers = parse_headers(request.get("headers"), "data.request.headers")
    resp_headers = parse_headers(response.get("headers"), "data.response.headers")

    method = request.get("method")
    if isinstance(method, str) and method.strip() and not _METHOD.fullmatch(method.strip()):
        raise PayloadError("data.request.method", f"{short(method.strip(), 20)!r} is not an HTTP method (letters only, e.g. \"GET\")")
    if not isinstance(method, str) or not method.strip():
        raise PayloadError("data.request.method", "missing or not a string (e.g. \"GET\")")
    method = _clean_str(method.strip().upper())[:16]

    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise PayloadError("data.request.url", "missing or not a string")
    url = _clean_str(url.strip())[:MAX_URL_CHARS]

    status = parse_status(response.get("code"))
    timestamp, clock_skew_s, clock_fault = resolve_timestamp(request.get("timestamp"), server.get("timezone"), sdk, received_at, timestamps)
    load_time_ms = parse_load_time_ms(response.get("load_time"), sdk, version)
    size = parse_size(response.get("size"))

    customer_id, display_name, attributes, metadata_error = identify_customer(req_headers, resp_headers, data.get("metadata"))

    errors = data.get("errors")
    if errors is None or errors == {}:  # PHP SDKs send {} for an empty list
        errors = []
    if not isinstance(errors, list):
        raise PayloadError("data.errors", f"must be a list, got {type_name(errors)}")

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
        ip=parse_ip(request.get("ip")),
        # Free text outside any map: credentials and `key=value` secrets written into it are masked too.
        user_agent=mask(optional_str(request.get("user_agent"), "data.request.user_agent", MAX_TEXT_CHARS, strict=False)),
        customer_id=customer_id,
        display_name=display_name,
        customer_attributes=mask(attributes),
        metadata_error=metadata_error,
        request_headers=mask(req_headers),
        request_body=bounded(mask_body(request.get("body"))),
        query=bounded(mask(request.get("query"))),
        response_headers=mask(resp_headers),
        response_body=bounded(mask_body(response.get("body"))),
        errors=[bounded(mask(e)) if isinstance(e, dict) else {"message": mask(short(str(e), MAX_TEXT_CHARS))} for e in errors[:50]],
        server=bounded(mask(server)),
        sdk=sdk,
        sdk_version=None if version is None else short(str(version), 32),
        clock_skew_s=clock_skew_s,
        clock_fault=clock_fault,
    )
