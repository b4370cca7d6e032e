"""Example values: one observed exchange as stored (already masked), or a value generated from a schema
for a viewer with no request of their own to show."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from core.api_docs.exchange import _auth_schemes, _has_body
from core.api_docs.paths import _path_values
from core.api_docs.spec import MAX_SPEC_DEPTH

_EXAMPLE_HEADERS = ("content-type", "accept")

_PLACEHOLDER_STRINGS = {"uuid": "00000000-0000-0000-0000-000000000000", "date": "2026-01-31",
                        "date-time": "2026-01-31T12:00:00Z", "password": "****"}


def _placeholder(schema: Any, depth: int = 0) -> Any:
    """An example value made from a schema alone, for a viewer with no request of their own to show."""
    if not isinstance(schema, dict) or depth > MAX_SPEC_DEPTH:
        return None
    branches = schema.get("anyOf")
    if isinstance(branches, list) and branches:
        typed = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        return _placeholder((typed or branches)[0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        return {name: _placeholder(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        items = schema.get("items")
        return [_placeholder(items, depth + 1)] if isinstance(items, dict) and items else []
    if kind == "string":
        return _PLACEHOLDER_STRINGS.get(schema.get("format"), "string")
    return {"integer": 0, "number": 0.5, "boolean": True}.get(kind)


def _example(row, method: str, endpoint: str, parts) -> dict:
    """One observed exchange as stored (already masked); the URL is rebuilt from the masked query."""
    query = row.query if isinstance(row.query, dict) else {}
    request_headers = row.request_headers if isinstance(row.request_headers, dict) else {}
    path = parts.path if parts is not None and parts.path else "/"
    url = path + ("?" + urlencode(query, doseq=True) if query else "")
    headers = {k: v for k, v in request_headers.items() if isinstance(k, str) and (k.lower() in _EXAMPLE_HEADERS or _auth_schemes({k: v}))}
    response_headers = {k: v for k, v in (row.response_headers if isinstance(row.response_headers, dict) else {}).items()
                        if isinstance(k, str) and k.lower() == "content-type"}
    return {
        "path_values": _path_values(row.url, endpoint),
        "query": query,
        "body": row.request_body,
        "status": int(row.status),
        "response_body": row.response_body,
        "request": {"method": method.upper(), "url": url, "headers": headers, "body": row.request_body if _has_body(row.request_body) else None},
        "response": {"status": int(row.status), "headers": response_headers,
                     "body": row.response_body if _has_body(row.response_body) else None},
    }
