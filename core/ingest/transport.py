"""An HTTP body's bytes → parsed JSON: gzip and deflate bounded against bombs, and how large a
compressed body is once inflated."""
from __future__ import annotations

import zlib
from typing import Any

import orjson

from core.ingest.errors import PayloadError, PayloadTooLarge
from core.ingest.fields import short


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
        raise PayloadError("body", f"not valid JSON ({short(str(exc), 160)})") from None


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


def inflated_over(raw: bytes, encoding: str | None, limit: int) -> bool:
    """True when the body, decompressed, is over `limit` bytes; inflates at most limit + 1 bytes to know."""
    encoding = (encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip") or (not encoding and raw[:2] == b"\x1f\x8b"):
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    elif encoding == "deflate":
        decompressor = zlib.decompressobj()
    else:
        return len(raw) > limit
    try:
        return len(decompressor.decompress(raw, limit + 1)) > limit
    except zlib.error:
        return False  # corrupt: decode_body says so, cheaply
