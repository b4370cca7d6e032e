"""What one stored exchange says beyond its values: whether a body is there, its content type, and the
security schemes its request headers evidence (names only, never values)."""
from __future__ import annotations

import re
from typing import Any


def _has_body(body: Any) -> bool:
    if body is None or body == "" or body == {} or body == []:
        return False
    return not (isinstance(body, dict) and "_clientele_note" in body)  # truncated preview, not the body


def _content_type(headers: Any, body: Any) -> str:
    raw = _header(headers, "content-type")
    ctype = raw.split(";", 1)[0].strip().lower() if isinstance(raw, str) else ""
    if not re.match(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$", ctype):
        ctype = ""
    if isinstance(body, (dict, list)):
        return ctype if ctype and ("json" in ctype or "form" in ctype) else "application/json"
    return ctype or ("text/plain" if isinstance(body, str) else "application/json")


def _header(headers: Any, name: str) -> Any:
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if isinstance(key, str) and key.lower() == name:
            return value
    return None


_API_KEY_HEADERS = re.compile(r"^(x-)?(api[-_]?key|api[-_]?token|auth[-_]?token|access[-_]?token)$", re.I)
_HTTP_SCHEMES = {"bearer": "bearerAuth", "basic": "basicAuth", "digest": "digestAuth"}


def _auth_schemes(headers: Any) -> dict[str, dict]:
    """Security schemes evidenced by a request's headers: names and header names only, never values."""
    found: dict[str, dict] = {}
    if not isinstance(headers, dict):
        return found
    for key, value in headers.items():
        if not isinstance(key, str):
            continue
        low = key.lower()
        if low == "authorization" and isinstance(value, str) and value.strip():
            word = value.strip().split(" ", 1)[0].lower() if " " in value.strip() else ""
            if word in _HTTP_SCHEMES:
                found[_HTTP_SCHEMES[word]] = {"type": "http", "scheme": word}
            else:
                found["authorizationHeader"] = {"type": "apiKey", "in": "header", "name": "Authorization"}
        elif _API_KEY_HEADERS.match(low):
            name = "".join(p.capitalize() for p in re.split(r"[-_]", low) if p)
            found[name[0].lower() + name[1:]] = {"type": "apiKey", "in": "header", "name": key}
    return found
