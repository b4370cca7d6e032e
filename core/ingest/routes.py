"""Which endpoint a request hit: the SDK's route template, or the URL's path with IDs templated."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from core.domain.masking import clean_text as _clean_str

MAX_ENDPOINT_CHARS = 512

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
