"""The CPU work on one POSTed body, no I/O: decode, identify, normalise and enrich it. The collector
runs it inline for small bodies and in a worker process for large ones, so process_body is a
module-level function a spawned process can import."""
from __future__ import annotations

from dataclasses import dataclass

import orjson

from core.domain.record import NormalizedRequest
from core.ingest.errors import PayloadError, PayloadTooLarge, Rejected
from core.ingest.normalize import identify
from core.ingest.pipeline import prepare
from core.ingest.transport import decode_body


@dataclass
class Body:
    """One body decoded, identified, normalised and enriched: what the event loop needs of it."""

    api_key: str | None = None
    token: str | None = None
    request: NormalizedRequest | None = None
    # (status, reason, field) of the Rejected to raise: before authentication when api_key is None.
    error: tuple[int, str, str] | None = None
    # The JSON of a body refused here, for the record, when it arrived compressed.
    readable: bytes | None = None


def process_body(raw: bytes, encoding: str | None, max_decompressed: int, received_at) -> Body:
    """The CPU work on one body, no I/O: inline for small bodies, in the worker process for large ones
    (returns errors as values: a Rejected does not survive pickling)."""
    try:
        payload = _decode(raw, encoding, max_decompressed)
    except Rejected as exc:
        return Body(error=(exc.status, exc.reason, exc.field))
    if not isinstance(payload, dict):
        return Body(error=(422, f"body: a payload must be a JSON object, got {_kind(payload)}", "body"), readable=_readable(raw, payload))
    try:
        api_key, token = identify(payload)
    except PayloadError as exc:
        return Body(error=(422, str(exc), exc.field), readable=_readable(raw, payload))
    try:
        # The API is looked up by Collector.authenticate, afterwards: 0 stands for it here.
        _api, request = prepare(payload, {api_key: 0}, received_at=received_at)
    except PayloadError as exc:
        return Body(api_key, token, error=(422, str(exc), exc.field), readable=_readable(raw, payload))
    return Body(api_key, token, request)


def _readable(raw: bytes, payload) -> bytes | None:
    """What to keep of a refused body instead of raw: the JSON itself when it arrived compressed."""
    return orjson.dumps(payload) if raw[:2] == b"\x1f\x8b" else None


def _kind(value) -> str:
    return "a list" if isinstance(value, list) else "a string" if isinstance(value, str) else "null" if value is None else "a number or boolean"


def _decode(raw: bytes, content_encoding: str | None, max_decompressed: int):
    try:
        return decode_body(raw, content_encoding, max_decompressed)
    except PayloadTooLarge as exc:
        raise Rejected(413, str(exc), exc.field) from None
    except PayloadError as exc:
        raise Rejected(415 if exc.field == "Content-Encoding" else 400, str(exc), exc.field) from None
