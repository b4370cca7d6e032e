"""What a failed response's body says went wrong. Treblle's SDKs report an error only when the API threw one; most
4xx responses are an API answering as designed ("No such order.", "Too many requests"), with the reason in the JSON
body it sent back. Error groups use that message when the SDK reported none."""
from __future__ import annotations

from typing import Any

from core.domain.masking import MASK_CHAR

MAX_CHARS = 300
# Where an error object keeps its text, most specific first.
_TEXT_KEYS = ("message", "detail", "description", "title")


def _text(value: Any) -> str | None:
    """A message as one line (at most MAX_CHARS), or None for anything that is not readable text: not a string,
    blank, or masked at ingest (a body field named like a secret)."""
    if not isinstance(value, str):
        return None
    text = " ".join(value[: MAX_CHARS * 4].split())[:MAX_CHARS]
    return text if text.strip(MASK_CHAR + " ") else None


def _first_text(obj: dict, keys: tuple[str, ...] = _TEXT_KEYS) -> str | None:
    for key in keys:
        found = _text(obj.get(key))
        if found:
            return found
    return None


def body_message(body: Any) -> str | None:
    """The error message of a JSON response body in the shapes APIs commonly send, else None:
    {"error": {"message": …}} (Stripe), {"error": "invalid_grant", "error_description": …} (OAuth 2),
    {"message": …} (Laravel, Express, GitHub), {"title": …, "detail": …} (RFC 9457 problem details; FastAPI and
    Django REST framework send "detail"), {"errors": [{"message" | "detail" | "title": …}]} (GraphQL, JSON:API).
    A body that is not a JSON object (HTML, plain text, a list) gives None: its text is no message."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        found = _first_text(error)
        if found:
            return found
    found = _first_text(body, ("error_description", "message", "detail", "title"))
    if found:
        return found
    if isinstance(error, str):
        return _text(error)
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return _first_text(errors[0])
    return None
